package record

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestTermChanges(t *testing.T) {
	idx := func(r Record) []string {
		var out []string
		for _, b := range r.Body {
			out = append(out, string(rune(b)))
		}
		return append(out, "", "x\x00y")
	}
	rec := func(kind, body string, deleted bool) Record {
		return Record{Kind: kind, Body: []byte(body), Deleted: deleted}
	}
	tests := []struct {
		name    string
		old     Record
		had     bool
		new     Record
		delKind string
		del     []string
		addKind string
		add     []string
	}{
		{"new record", Record{}, false, rec("m", "bab", false), "", nil, "m", []string{"a", "b"}},
		{"unchanged", rec("m", "ab", false), true, rec("m", "ba", false), "m", nil, "m", nil},
		{"same body", rec("m", "ab", false), true, rec("m", "ab", false), "m", nil, "m", nil},
		{"same tombstone", rec("m", "ab", true), true, rec("m", "ab", true), "m", nil, "m", nil},
		{"terms change", rec("m", "ab", false), true, rec("m", "bc", false), "m", []string{"a"}, "m", []string{"c"}},
		{"tombstone", rec("m", "ab", false), true, rec("m", "ab", true), "m", []string{"a", "b"}, "m", nil},
		{"revived", rec("m", "ab", true), true, rec("m", "a", false), "m", nil, "m", []string{"a"}},
		{"kind change", rec("m", "ab", false), true, rec("n", "a", false), "m", []string{"a", "b"}, "n", []string{"a"}},
	}
	for _, tt := range tests {
		dk, del, ak, add := TermChanges(idx, tt.old, tt.had, tt.new)
		if tt.delKind != "" && dk != tt.delKind || ak != tt.addKind || !cmp.Equal(del, tt.del) || !cmp.Equal(add, tt.add) {
			t.Errorf("%s: TermChanges = %q %q, %q %q, want %q %q, %q %q", tt.name, dk, del, ak, add, tt.delKind, tt.del, tt.addKind, tt.add)
		}
	}
	if _, del, _, add := TermChanges(nil, rec("m", "a", false), true, rec("m", "b", false)); del != nil || add != nil {
		t.Errorf("TermChanges(nil indexer) = %q, %q, want none", del, add)
	}
}

func TestTerms(t *testing.T) {
	tests := []struct {
		terms []string
		want  []string
	}{
		{nil, nil},
		{[]string{"a", "b"}, []string{"a", "b"}},
		{[]string{"b", "a"}, []string{"a", "b"}},
		{[]string{"a", "a", "b"}, []string{"a", "b"}},
		{[]string{"a", "", "x\x00y", "b"}, []string{"a", "b"}},
		{[]string{""}, []string{}},
	}
	for _, tt := range tests {
		idx := func(Record) []string { return tt.terms }
		if got := Terms(idx, Record{Kind: "m"}); !cmp.Equal(got, tt.want, cmpopts.EquateEmpty()) {
			t.Errorf("Terms(%q) = %q, want %q", tt.terms, got, tt.want)
		}
	}
	if got := Terms(func(Record) []string { return []string{"a"} }, Record{Kind: "m", Deleted: true}); got != nil {
		t.Errorf("Terms(tombstone) = %q, want none", got)
	}
}
