package enttest

import (
	"context"
	"slices"
	"sort"
	"sync"

	"atrium/record"
)

// Store keeps records in maps and executes commands with Exec.
type Store struct {
	Exec record.Executor
	// Indexer gives the records' terms for ScanTerm, computed as it
	// scans; nil: ScanTerm returns record.ErrNoIndex (set it before use).
	Indexer record.Indexer

	mu       sync.Mutex
	st       state
	commands []record.Command
}

type state struct {
	recs map[string]map[string]record.Record // partition -> id -> record
	keys map[[2]string][2]string             // (kind, key) -> (partition, id)
}

// New returns an empty Store executing commands with exec.
func New(exec record.Executor) *Store {
	return &Store{Exec: exec, st: state{recs: map[string]map[string]record.Record{}, keys: map[[2]string][2]string{}}}
}

func (s state) clone() state {
	c := state{recs: make(map[string]map[string]record.Record, len(s.recs)), keys: make(map[[2]string][2]string, len(s.keys))}
	for p, m := range s.recs {
		cm := make(map[string]record.Record, len(m))
		for id, r := range m {
			cm[id] = r
		}
		c.recs[p] = cm
	}
	for k, v := range s.keys {
		c.keys[k] = v
	}
	return c
}

// View runs fn on the current state.
func (s *Store) View(fn func(record.Reader) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fn(&tx{st: s.st, idx: s.Indexer})
}

// Submit executes cmd on a copy of the state and keeps the copy only if
// the executor succeeded.
func (s *Store) Submit(ctx context.Context, cmd record.Command) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &tx{st: s.st.clone(), cmd: cmd, idx: s.Indexer}
	if err := s.Exec(t, cmd); err != nil {
		return err
	}
	s.st = t.st
	s.commands = append(s.commands, cmd)
	return nil
}

// Commands returns the commands accepted so far, in order.
func (s *Store) Commands() []record.Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]record.Command(nil), s.commands...)
}

// Records returns every record (tombstones included), by partition then id.
func (s *Store) Records() []record.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.records()
}

// NewTx returns a standalone transaction over an empty state, for testing
// an executor directly; Records lists what it wrote.
func NewTx() *Tx { return &Tx{tx{st: New(nil).st}} }

// Tx is a standalone record.Tx.
type Tx struct{ tx }

// Records returns the records of the transaction, by partition then id.
func (t *Tx) Records() []record.Record {
	return t.st.records()
}

// records lists every record of the state (tombstones included), by
// partition then id.
func (st state) records() []record.Record {
	var out []record.Record
	for _, m := range st.recs {
		for _, r := range m {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].ID < out[j].ID
	})
	return out
}

type tx struct {
	st  state
	cmd record.Command
	idx record.Indexer
}

var _ record.Tx = (*tx)(nil)

func (t *tx) Get(partition, id string) (record.Record, bool, error) {
	r, ok := t.st.recs[partition][id]
	return r, ok, nil
}

func (t *tx) ByKey(kind, key string) (record.Record, bool, error) {
	loc, ok := t.st.keys[[2]string{kind, key}]
	if !ok {
		return record.Record{}, false, nil
	}
	r, ok := t.st.recs[loc[0]][loc[1]]
	if !ok || r.Deleted {
		return record.Record{}, false, nil
	}
	return r, true, nil
}

func (t *tx) Scan(partition, kind string, fn func(record.Record) error) error {
	var ids []string
	for id, r := range t.st.recs[partition] {
		if r.Kind == kind && !r.Deleted {
			ids = append(ids, id)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(ids)))
	for _, id := range ids {
		if err := fn(t.st.recs[partition][id]); err != nil {
			if err == record.ErrStop {
				return nil
			}
			return err
		}
	}
	return nil
}

func (t *tx) ScanTerm(partition, kind, term string, fn func(record.Record) error) error {
	if t.idx == nil {
		return record.ErrNoIndex
	}
	return t.Scan(partition, kind, func(r record.Record) error {
		if slices.Contains(record.Terms(t.idx, r), term) {
			return fn(r)
		}
		return nil
	})
}

func (t *tx) Put(r record.Record) error {
	m := t.st.recs[r.Partition]
	if m == nil {
		m = map[string]record.Record{}
		t.st.recs[r.Partition] = m
	}
	prev, had := m[r.ID]
	if had && prev.Key != "" {
		delete(t.st.keys, [2]string{prev.Kind, prev.Key})
	}
	r.Version = record.Version{Central: prev.Version.Central + 1, Edge: prev.Version.Edge, HLC: record.Stamp(t.cmd.Time, 0)}
	m[r.ID] = r
	if r.Key != "" && !r.Deleted {
		t.st.keys[[2]string{r.Kind, r.Key}] = [2]string{r.Partition, r.ID}
	}
	return nil
}
