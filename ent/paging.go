package ent

import (
	"errors"
	"slices"
	"strings"

	"atrium/record"
)

// DefaultPageLimit is how many items a page of a list shows when its
// caller names no limit.
const DefaultPageLimit = 30

// MaxPageLimit bounds the limit a caller may ask for.
const MaxPageLimit = 200

// Page asks a list for one page of it, newest record first: at most Limit
// items (0: every item, the whole list), older than the item whose id is
// Before ("": from the newest). Record ids are UUIDv7, time-ordered, so
// "newest" is "written last" and an id is a cursor that stays valid while
// the list changes: a page never repeats or skips an item because another
// was written since.
type Page struct {
	Before string
	Limit  int
}

// paged holds a decoded item with the id of its record, for the merge of
// several index terms.
type paged[T any] struct {
	id   string
	item T
}

// scanPage reads the page p of the live records of kind in partition,
// newest id first: of those carrying any of terms (through the index,
// scanTerms) or, with whole set, all of them. decode turns a record into
// its item and reports whether the user reads it; the items it refuses do
// not count. It stops reading once the page is full, and returns next,
// the cursor (the id of the page's last item) of the following page, ""
// when there is none.
//
// A page of several terms reads at most Limit+1 records of each term and
// merges them before decoding (mergeTerms); when decode refuses too many
// of those, it reads at most Limit+1 readable records of each term, then
// merges them: the page's items are among those.
func scanPage[T any](r record.Reader, partition, kind string, terms []string, whole bool, p Page, decode func(record.Record) (T, bool, error)) (items []T, next string, err error) {
	want := -1 // every item
	if p.Limit > 0 {
		want = p.Limit + 1 // one more tells whether a next page exists
	}
	collect := func(out *[]paged[T]) func(record.Record) error {
		n := 0
		return func(rec record.Record) error {
			if p.Before != "" && rec.ID >= p.Before {
				return nil
			}
			it, ok, err := decode(rec)
			if err != nil || !ok {
				return err
			}
			*out = append(*out, paged[T]{rec.ID, it})
			if n++; n == want {
				return record.ErrStop
			}
			return nil
		}
	}
	var got []paged[T]
	terms = slices.Compact(slices.Sorted(slices.Values(terms)))
	done := false
	if !whole && len(terms) > 1 && want > 0 {
		got, done, err = mergeTerms(r, partition, kind, terms, p.Before, want, decode)
		if errors.Is(err, record.ErrNoIndex) {
			// No index: the whole kind, each record checked by decode.
			got = nil
			err, done = r.Scan(partition, kind, collect(&got)), true
		}
		if !done {
			got = nil
		}
	}
	switch {
	case err != nil || done:
	case whole:
		err = r.Scan(partition, kind, collect(&got))
	case len(terms) == 0:
	default:
		for i, t := range terms {
			var one []paged[T]
			err = r.ScanTerm(partition, kind, t, collect(&one))
			if errors.Is(err, record.ErrNoIndex) {
				// No index: the whole kind, each record checked by decode.
				got = got[:0]
				err = r.Scan(partition, kind, collect(&got))
				break
			}
			if err != nil {
				break
			}
			got = append(got, one...)
			if i == len(terms)-1 {
				slices.SortFunc(got, func(a, b paged[T]) int { return strings.Compare(b.id, a.id) })
				got = slices.CompactFunc(got, func(a, b paged[T]) bool { return a.id == b.id })
			}
		}
	}
	if err != nil {
		return nil, "", err
	}
	if want > 0 && len(got) >= want {
		got = got[:p.Limit]
		next = got[len(got)-1].id
	}
	items = make([]T, len(got))
	for i, g := range got {
		items[i] = g.item
	}
	return items, next, nil
}

// mergeTerms is scanPage's usual way through several terms: it gathers
// the first want records of each term (older than before) without
// decoding them, merges them newest id first and decodes them in that
// order until want are readable. Below the last record gathered from a
// term cut at want, a term may hold records not gathered: the merge stops
// there, and done is false when it did not fill the page above it (decode
// refused too many), for scanPage to read the terms again.
func mergeTerms[T any](r record.Reader, partition, kind string, terms []string, before string, want int, decode func(record.Record) (T, bool, error)) (got []paged[T], done bool, err error) {
	var cands []record.Record
	cutoff := "" // the highest last id of a term cut at want
	for _, t := range terms {
		n, last := 0, ""
		err := r.ScanTerm(partition, kind, t, func(rec record.Record) error {
			if before != "" && rec.ID >= before {
				return nil
			}
			rec.Body = slices.Clone(rec.Body) // valid beyond the callback
			cands = append(cands, rec)
			if n++; n == want {
				last = rec.ID
				return record.ErrStop
			}
			return nil
		})
		if err != nil {
			return nil, false, err
		}
		cutoff = max(cutoff, last)
	}
	slices.SortFunc(cands, func(a, b record.Record) int { return strings.Compare(b.ID, a.ID) })
	cands = slices.CompactFunc(cands, func(a, b record.Record) bool { return a.ID == b.ID })
	for _, rec := range cands {
		if rec.ID < cutoff {
			return got, false, nil
		}
		it, ok, err := decode(rec)
		if err != nil {
			return nil, false, err
		}
		if ok {
			if got = append(got, paged[T]{rec.ID, it}); len(got) == want {
				return got, true, nil
			}
		}
	}
	return got, cutoff == "", nil // every term read to its end, or read again
}

// countChildren counts the live records of kind in partition by the
// parent key gives each (the comments of each blog post, the topics of
// each forum, the documents of each space).
func countChildren[T any](r record.Reader, partition, kind string, decode func(record.Record) (T, error), key func(T) string) (map[string]int, error) {
	count := map[string]int{}
	err := r.Scan(partition, kind, func(rec record.Record) error {
		v, err := decode(rec)
		if err != nil {
			return err
		}
		count[key(v)]++
		return nil
	})
	return count, err
}
