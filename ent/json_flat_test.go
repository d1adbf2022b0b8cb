package ent

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var flatSeeds = []string{
	`{"id":"019bb000-0000-7000-8000-000000000001","class":"1B","subject":"Maths","date":"2026-01-12","title":"Suites","content":"Ligne 1\nLigne 2 \u003cb\u003e","work":"Ex. 4","due":"2026-01-13","authorId":"a","author":"Paul","created":1768208400000,"updated":1768208400000}`,
	`{"title":"t","body":"b","authorId":"a","authorName":"n","published":-12}`,
	`{"fromId":"a","subject":"\u00e9\"\\\/\ud83d\ude00\ud800","sent":0}`,
	`{"studentId":"s","status":"nouvelle","statusAt":0,"extra":[1],"motif":null}`,
	`{"title":"x","other":{"a":1}}`,
	`{"evaluation":"e","student":"s","studentName":"n","value":"12.5","updated":3,"changes":["a","b"]}`,
	`{"value":"1","changes":[]}`,
	`{"value":"1","changes":[ "a" , [1, -2.5e3, null, true], "\n" ]}`,
	`{"value":"1","changes":[1,]}`,
	`{"value":"1","changes":[1 2]}`,
	`{"value":"1","changes":[`,
	`{"value":"1","changes":[{"a":1}]}`,
	`{"title":"x","other":true,"more":false,"none":null,"n":-1.5e+3,"s":"a\tb\u0041"}`,
	`{"Title":"x"}`,
	`{"TITLE":"x","title":"y"}`,
	`{"tıtle":"x"}`,
	`{"created":1.0}`,
	`{"created":1e3}`,
	`{"created":01}`,
	`{"created":-0}`,
	`{"created":9223372036854775808}`,
	`{"created":"1"}`,
	`{"title":1}`,
	`{"title":"a","title":"b"}`,
	`{"x":"\q"}`,
	`{"x":"\u12"}`,
	`{"x":"\u12G4"}`,
	`{"x":-}`,
	`{"x":1.}`,
	`{"x":1e}`,
	`{"x":tru}`,
	`{"x":truex}`,
	` { "title" : "a" , "body":"b"	}` + "\n",
	`{"title":"a",}`,
	`{"title":"a"} x`,
	`{}`,
	`{} `,
	`{`,
	`null`,
	`[]`,
	``,
	`{"body":"caf` + "\xe9" + `"}`,
	`{"body":"a` + "\x01" + `"}`,
	`{"bo\u0064y":"x"}`,
	`{"title":"x` + "\u2028" + `"}`,
}

// FuzzFlatObject checks that the bodies' decoders (decodeBody) give
// exactly what json.Unmarshal gives, and fail exactly when it fails.
func FuzzFlatObject(f *testing.F) {
	for _, s := range flatSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkFlat(t, b, func(v *homeworkBody) error { return v.unmarshal(b) })
		checkFlat(t, b, func(v *newsBody) error { return v.unmarshal(b) })
		checkFlat(t, b, func(v *messageBody) error { return v.unmarshal(b) })
		checkFlat(t, b, func(v *evaluationBody) error { return v.unmarshal(b) })
		checkFlat(t, b, func(v *blogPostBody) error { return v.unmarshal(b) })
		checkFlat(t, b, func(v *forumBody) error { return v.unmarshal(b) })
		checkFlat(t, b, func(v *forumTopicBody) error { return v.unmarshal(b) })
		checkFlat(t, b, func(v *forumPostBody) error { return v.unmarshal(b) })
		checkFlat(t, b, func(v *absenceBody) error { return v.unmarshal(b) })
		checkFlat(t, b, func(v *gradeSummary) error { return v.unmarshal(b) })
	})
}

func checkFlat[T any](t *testing.T, b []byte, decode func(*T) error) {
	t.Helper()
	var want, got T
	wantErr := json.Unmarshal(b, &want)
	gotErr := decode(&got)
	if (gotErr != nil) != (wantErr != nil) {
		t.Fatalf("%T.unmarshal(%q) error = %v, json.Unmarshal's = %v", got, b, gotErr, wantErr)
	}
	if wantErr == nil {
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("%T.unmarshal(%q) (-json.Unmarshal +got):\n%s", got, b, diff)
		}
	}
}

// TestFlatObjectFastPath checks that the bodies as the ENT writes them
// take the fast path, not encoding/json's.
func TestFlatObjectFastPath(t *testing.T) {
	var h homeworkBody
	if !decodeFlatObject([]byte(flatSeeds[0]), []jsonMember{{"id", &h.ID, nil}, {"content", &h.Content, nil}, {"created", nil, &h.Created}}) {
		t.Fatalf("decodeFlatObject(%s) = false, want true", flatSeeds[0])
	}
	if h.Content != "Ligne 1\nLigne 2 <b>" || h.Created != 1768208400000 {
		t.Errorf("decodeFlatObject: content %q created %d", h.Content, h.Created)
	}
	if !decodeFlatObject([]byte(flatSeeds[5]), []jsonMember{{"title", &h.Title, nil}}) {
		t.Errorf("decodeFlatObject(%s) = false, want true (other members skipped)", flatSeeds[5])
	}
}
