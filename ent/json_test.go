package ent

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var jsonArgsSeeds = []string{
	`{"id":"01890000-0000-7000-8000-0000000000aa","to":"x","subject":"Objet","body":"Bonjour"}`,
	`{"id":"a","title":"t","body":"b"}`,
	` { "id" : "a" , "to":"b"	}` + "\n",
	`{}`,
	`{"id":"a","id":"b"}`,
	`{"ID":"a"}`,
	`{"id":"a","other":1}`,
	`{"id":null}`,
	`{"id":1}`,
	`{"id":"a",}`,
	`{"id":"a"} x`,
	`{"id":"a\nb","body":"\u00e9\"\\\/\ud83d\ude00\ud800"}`,
	`{"id":"\x"}`,
	`{"body":"caf` + "\xe9" + `"}`,
	`{"body":"a` + "\x01" + `"}`,
	`{"bo\u0064y":"x"}`,
	`null`,
	`[]`,
	`"x"`,
	``,
	`{"id":"é<>&` + "\u2028" + `"}`,
}

// FuzzStringObject checks that the argument decoders give exactly what
// json.Unmarshal gives, and fail exactly when it fails.
func FuzzStringObject(f *testing.F) {
	for _, s := range jsonArgsSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var wantM MessageArgs
		wantErr := json.Unmarshal(b, &wantM)
		gotM, gotErr := decodeMessageArgs(b)
		if (gotErr != nil) != (wantErr != nil) {
			t.Fatalf("decodeMessageArgs(%q) error = %v, json.Unmarshal's = %v", b, gotErr, wantErr)
		}
		if wantErr == nil {
			if diff := cmp.Diff(wantM, gotM); diff != "" {
				t.Fatalf("decodeMessageArgs(%q) (-json.Unmarshal +got):\n%s", b, diff)
			}
		}
		var wantN NewsArgs
		wantErr = json.Unmarshal(b, &wantN)
		gotN, gotErr := decodeNewsArgs(b)
		if (gotErr != nil) != (wantErr != nil) {
			t.Fatalf("decodeNewsArgs(%q) error = %v, json.Unmarshal's = %v", b, gotErr, wantErr)
		}
		if wantErr == nil {
			if diff := cmp.Diff(wantN, gotN); diff != "" {
				t.Fatalf("decodeNewsArgs(%q) (-json.Unmarshal +got):\n%s", b, diff)
			}
		}
	})
}

func TestDecodeStringObjectFastPath(t *testing.T) {
	var id, to string
	b := []byte(`{"id":"a","to":"caf` + "é" + `"}`)
	if !decodeStringObject(b, []string{"id", "to"}, []*string{&id, &to}) || id != "a" || to != "café" {
		t.Errorf("decodeStringObject(%s) = %q, %q, want the fast path to read a, café", b, id, to)
	}
	if decodeStringObject([]byte(`{"id":"a","x":"b"}`), []string{"id"}, []*string{&id}) {
		t.Error("decodeStringObject accepted an unknown key")
	}
}

var jsonStringSeeds = []string{"", "Bonjour", "é", "a\"b\\c", "<script>&", "\b\f\n\r\t\x00\x1f\x7f", "\u2028\u2029", "\xff\xfe", "caf\xe9", "\xef\xbf\xbd", "😀", "\xed\xa0\x80"}

// FuzzJSONString checks appendJSONString against json.Marshal.
func FuzzJSONString(f *testing.F) {
	for _, s := range jsonStringSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Fatalf("appendJSONString(%q) = %s, json.Marshal gives %s", s, got, want)
		}
	})
}

func TestBodiesMarshalLikeJSON(t *testing.T) {
	for _, s := range jsonStringSeeds {
		m := messageBody{FromID: s, FromLogin: "l" + s, FromName: s + "n", ToID: s, ToLogin: s, ToName: s, Subject: s, Body: s, Sent: -1767600000000}
		want, _ := json.Marshal(m)
		if got := m.marshal(); string(got) != string(want) {
			t.Errorf("messageBody.marshal() = %s, json.Marshal gives %s", got, want)
		}
		n := newsBody{Title: s, Body: s, AuthorID: s, AuthorName: s, Published: 1767600000000}
		want, _ = json.Marshal(n)
		if got := n.marshal(); string(got) != string(want) {
			t.Errorf("newsBody.marshal() = %s, json.Marshal gives %s", got, want)
		}
	}
}
