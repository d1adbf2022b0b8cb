package record

import (
	"bytes"
	"slices"
	"strings"
)

// Terms returns the index terms of r under idx as the stores keep them:
// none for a tombstone or a nil idx, otherwise idx's terms sorted, without
// duplicates, empty terms or terms holding a NUL byte.
func Terms(idx Indexer, r Record) []string {
	if idx == nil || r.Deleted {
		return nil
	}
	ts := idx(r)
	if clean(ts) {
		return ts // the common case: no copy (every write of a record asks)
	}
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		if t != "" && strings.IndexByte(t, 0) < 0 {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// clean reports whether ts is already as Terms returns it: sorted, without
// duplicates, empty terms or terms holding a NUL byte.
func clean(ts []string) bool {
	for i, t := range ts {
		if t == "" || strings.IndexByte(t, 0) >= 0 || i > 0 && ts[i-1] >= t {
			return false
		}
	}
	return true
}

// TermChanges returns, for a record going from old (had: it existed) to
// new, the index entries to remove and to add: for each, the kind and the
// terms. A kind change moves every term. The same kind, body and deleted
// flag have the same terms, without asking idx (an edge receives back from
// central the records its own commands wrote).
func TermChanges(idx Indexer, old Record, had bool, new Record) (delKind string, del []string, addKind string, add []string) {
	if idx == nil {
		return "", nil, "", nil
	}
	if had && old.Kind == new.Kind && old.Deleted == new.Deleted && bytes.Equal(old.Body, new.Body) {
		return old.Kind, nil, new.Kind, nil
	}
	var before []string
	if had {
		before = Terms(idx, old)
	}
	after := Terms(idx, new)
	if !had || old.Kind != new.Kind {
		return old.Kind, before, new.Kind, after
	}
	for _, t := range before {
		if _, found := slices.BinarySearch(after, t); !found {
			del = append(del, t)
		}
	}
	for _, t := range after {
		if _, found := slices.BinarySearch(before, t); !found {
			add = append(add, t)
		}
	}
	return old.Kind, del, new.Kind, add
}
