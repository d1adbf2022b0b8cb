package edge

import (
	"bytes"
	"slices"
	"sync"
	"sync/atomic"

	"atrium/record"
	"atrium/replication"
)

// Preparing the writes of records.
//
// Most of what writing a record costs follows from the record alone: its
// encoding and sealed value, its index terms (the Indexer decodes its
// body), its digest, the keys of its index entries. Only the rest needs
// the transaction: the record it replaces, the index entries and the
// digest contribution of that one, the bbolt writes. A page of central's
// feed is prepared on a goroutine of its own while the transaction's
// goroutine writes the records already prepared (applyChanges, sink.go;
// the writer prepares too when it would otherwise wait), so that the CPU
// work of the records overlaps with bbolt's writes. Preparing touches
// neither the transaction nor the store's state: the Indexer is a pure
// function (record.Indexer) and the sealer is safe for concurrent use
// (AES-GCM, and a fresh HMAC per key). Records are still written in the
// page's order: of an id twice in a page, the later wins.

// prepared is what writing one record needs that follows from the record
// alone (prepare).
type prepared struct {
	self   []byte        // join(partition, id): the record's key in bucketRecords
	value  []byte        // record.AppendRecord, sealed for self (seal.go)
	digest record.Digest // record.DigestOf: its part of the partition's digest

	// hasTerms is set when terms and termKeys hold the record's index
	// terms (record.Terms) and their keys in bucketTerms; otherwise they
	// are computed when a write needs them.
	hasTerms bool
	terms    []string
	termKeys [][]byte

	kindKey   []byte // join3(partition, kind, id); nil for a tombstone
	uniqueKey []byte // keyOf(kind, key); nil for a tombstone or a record without key
}

// prepare computes what writing rec needs that does not depend on what
// the store holds; with terms, its index terms under idx too.
func prepare(idx record.Indexer, sl *sealer, rec record.Record, terms bool) prepared {
	p := prepared{self: join(rec.Partition, rec.ID), digest: record.DigestOf(rec)}
	p.value = sl.sealRecord(p.self, rec)
	if !rec.Deleted {
		p.kindKey = join3(rec.Partition, rec.Kind, rec.ID)
		if rec.Key != "" {
			p.uniqueKey = keyOf(sl, rec.Kind, rec.Key)
		}
	}
	if terms {
		p.setTerms(idx, rec)
	}
	return p
}

// setTerms computes rec's index terms and their keys.
func (p *prepared) setTerms(idx record.Indexer, rec record.Record) {
	p.hasTerms = true
	p.terms = record.Terms(idx, rec)
	if len(p.terms) == 0 {
		return
	}
	p.termKeys = make([][]byte, len(p.terms))
	for j, t := range p.terms {
		p.termKeys[j] = termKey(rec.Partition, rec.Kind, t, rec.ID)
	}
}

// termChanges is record.TermChanges for a write of rec over old (had: it
// existed), rec's terms taken from p: the keys in bucketTerms to delete
// and to add. The same kind, body and deleted flag have the same terms,
// without asking idx.
func (p *prepared) termChanges(idx record.Indexer, old record.Record, had bool, rec record.Record) (del, add [][]byte) {
	if idx == nil {
		return nil, nil
	}
	if had && old.Kind == rec.Kind && old.Deleted == rec.Deleted && bytes.Equal(old.Body, rec.Body) {
		return nil, nil
	}
	if !p.hasTerms {
		p.setTerms(idx, rec)
	}
	var before []string
	if had {
		before = record.Terms(idx, old)
	}
	if !had || old.Kind != rec.Kind {
		for _, t := range before {
			del = append(del, termKey(rec.Partition, old.Kind, t, rec.ID))
		}
		return del, p.termKeys
	}
	for _, t := range before {
		if _, found := slices.BinarySearch(p.terms, t); !found {
			del = append(del, termKey(rec.Partition, old.Kind, t, rec.ID))
		}
	}
	for j, t := range p.terms {
		if _, found := slices.BinarySearch(before, t); !found {
			add = append(add, p.termKeys[j])
		}
	}
	return del, add
}

// prepChunk is how many records of a page are prepared at a time.
const prepChunk = 32

// pagePrep prepares the records of a page ahead of the transaction that
// writes them (applyChanges), a chunk of prepChunk records at a time, in
// order: a goroutine of its own claims chunk after chunk, and so does the
// writer when the chunk it needs is not ready yet, rather than wait.
type pagePrep struct {
	idx   record.Indexer
	sl    *sealer
	recs  []record.Record
	body  func(i int) ([]byte, bool)
	items []prepared

	claimed atomic.Int64    // chunks claimed so far (the next to claim)
	ready   []chan struct{} // per chunk: closed once its items are prepared
	quit    atomic.Bool     // set by stop: the page is abandoned
	done    chan struct{}   // closed when the goroutine returns
	next    int             // the item nextItem returns (the writer's only)
}

// startPrepare starts preparing recs with their index terms; body, when
// not nil, gives the body to write instead of a record's own (a stub's:
// stubBodies).
func startPrepare(idx record.Indexer, sl *sealer, recs []record.Record, body func(i int) ([]byte, bool)) *pagePrep {
	n := (len(recs) + prepChunk - 1) / prepChunk
	pp := &pagePrep{idx: idx, sl: sl, recs: recs, body: body,
		items: make([]prepared, len(recs)),
		ready: make([]chan struct{}, n),
		done:  make(chan struct{}),
	}
	for c := range pp.ready {
		pp.ready[c] = make(chan struct{})
	}
	go func() {
		defer close(pp.done)
		for !pp.quit.Load() && pp.claim() {
		}
	}()
	return pp
}

// claim prepares the next chunk nobody claimed; false if none is left.
func (pp *pagePrep) claim() bool {
	c := int(pp.claimed.Add(1) - 1)
	if c >= len(pp.ready) {
		return false
	}
	for i := c * prepChunk; i < min((c+1)*prepChunk, len(pp.recs)); i++ {
		r := pp.recs[i]
		if pp.body != nil {
			if b, ok := pp.body(i); ok {
				r.Body = b
			}
		}
		pp.items[i] = prepare(pp.idx, pp.sl, r, true)
	}
	close(pp.ready[c])
	return true
}

// nextItem returns the next record's preparation, helping to prepare
// until it is ready.
func (pp *pagePrep) nextItem() *prepared {
	ready := pp.ready[pp.next/prepChunk]
	for {
		select {
		case <-ready:
			p := &pp.items[pp.next]
			pp.next++
			return p
		default:
		}
		if !pp.claim() {
			<-ready // claimed by the goroutine, which is preparing it
		}
	}
}

// stop abandons what is left to prepare and waits for the goroutine.
func (pp *pagePrep) stop() {
	pp.quit.Store(true)
	<-pp.done
}

// Pages prepared ahead.
//
// While the sync client applies a page of a catch-up, the next page is
// already on its way (replication: the client asks for it first); it calls
// Prepare as soon as that page arrives, so that the page is prepared while
// the page before is written and committed (the commit's fsync leaves a
// core idle), and the transaction that writes it finds its records ready.

var _ replication.Preparer = (*Store)(nil)

// aheadPages is how many pages the store keeps prepared ahead: each pull
// loop (the lycée's partition, the region's) has one page waiting at most
// while it applies the one before, which it has taken out already.
const aheadPages = 2

// pagesAhead holds the pages prepared ahead of their transaction, newest
// last.
type pagesAhead struct {
	mu    sync.Mutex
	pages []*pagePrep
}

// Prepare starts preparing recs, a page of partition from central's feed,
// before ApplyChanges is called with the same slice. A page never applied
// is dropped when newer ones replace it, or when the store closes.
func (s *Store) Prepare(partition string, recs []record.Record) {
	if !s.holds(partition) || len(recs) == 0 {
		return
	}
	s.ahead.add(startPrepare(s.idx, s.sealer, recs, nil))
}

func (a *pagesAhead) add(pp *pagePrep) {
	a.mu.Lock()
	a.pages = append(a.pages, pp)
	var old *pagePrep
	if len(a.pages) > aheadPages {
		old = a.pages[0]
		a.pages = slices.Delete(a.pages, 0, 1)
	}
	a.mu.Unlock()
	if old != nil {
		old.stop()
	}
}

// take removes and returns the page prepared for recs (the same slice),
// or nil.
func (a *pagesAhead) take(recs []record.Record) *pagePrep {
	if len(recs) == 0 {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, pp := range a.pages {
		if len(pp.recs) == len(recs) && &pp.recs[0] == &recs[0] {
			a.pages = slices.Delete(a.pages, i, i+1)
			return pp
		}
	}
	return nil
}

// drop stops and forgets every page prepared ahead.
func (a *pagesAhead) drop() {
	a.mu.Lock()
	pages := a.pages
	a.pages = nil
	a.mu.Unlock()
	for _, pp := range pages {
		pp.stop()
	}
}
