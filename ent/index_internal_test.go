package ent

import (
	"encoding/json"
	"slices"
	"testing"

	"atrium/record"
)

// scanFields must read what json.Unmarshal reads, or decline.
func FuzzScanFields(f *testing.F) {
	for _, s := range []string{
		`{"fromId":"a","fromLogin":"x","toId":"b","subject":"s\u00e9","body":"l\"x","sent":1767600000000}`,
		`{"fromId":"a","toId":"b","toId":"c"}`,
		`{"FROMID":"a","toId":"b"}`,
		`{"fromId":null,"toId":"b"}`,
		`{"fromId":"a\u0062","toId":"b"}`,
		`{"fromId":"a","n":-0.5e+3,"t":true,"f":false,"z":null}`,
		`{"fromId":"a","n":01}`,
		`{"fromId":"a","n":1.}`,
		`{"fromId":"a","nested":{"toId":"x"}}`,
		`{"fromId":"a","list":["x"]}`,
		`{"fromId":"a",}`,
		`{"fromId":"a"} x`,
		`{}`, ` { } `, `[]`, `"x"`, ``, `{"fromId":"\xff"}`, "{\"fromId\":\"a\tb\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var a, b string
		if !scanFields(body, &a, "fromId", &b, "toId") {
			return
		}
		var v struct {
			FromID string `json:"fromId"`
			ToID   string `json:"toId"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("scanFields(%q) = %q, %q; json.Unmarshal = %v", body, a, b, err)
		}
		if a != v.FromID || b != v.ToID {
			t.Fatalf("scanFields(%q) = %q, %q; json.Unmarshal = %q, %q", body, a, b, v.FromID, v.ToID)
		}
	})
}

func TestScanFieldsReadsMessages(t *testing.T) {
	body, err := json.Marshal(messageBody{FromID: "a", FromLogin: "l", ToID: "b", Subject: "Objet", Body: "Texte\n\"cité\"", Sent: 1767600000000})
	if err != nil {
		t.Fatal(err)
	}
	var a, b string
	if !scanFields(body, &a, "fromId", &b, "toId") || a != "a" || b != "b" {
		t.Errorf("scanFields(%s) = %q, %q, want a, b (read without json.Unmarshal)", body, a, b)
	}
}

// IndexTerms reads a body's members in place (decodeTerms): its terms
// must be those json.Unmarshal gives, in any order.
func FuzzIndexTermsMessage(f *testing.F) {
	for _, s := range []string{
		`{"fromId":"b","toId":"a","body":"x"}`, `{"fromId":"a","toId":"a"}`, `{"fromId":"a\u0062","toId":""}`,
		`{"toId":"b"}`, `{"fromId":1}`, `{`, `{"fromId":"ab","toId":"a"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got := IndexTerms(record.Record{Kind: KindMessage, Body: body})
		var v struct {
			FromID string `json:"fromId"`
			ToID   string `json:"toId"`
		}
		var want []string
		if json.Unmarshal(body, &v) == nil {
			want = appendTerms(nil, userTerm, v.FromID, v.ToID)
		}
		slices.Sort(want)
		if !slices.IsSorted(got) || !slices.Equal(got, want) {
			t.Fatalf("IndexTerms(%q) = %q, want %q (sorted)", body, got, want)
		}
	})
}
