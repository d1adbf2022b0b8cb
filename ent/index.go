package ent

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"atrium/record"
)

// IndexVersion names the terms IndexTerms gives. Change it whenever
// IndexTerms changes: the stores then rebuild their index when they open.
const IndexVersion = "ent-2"

// Index terms: a user ("u:" and the user's id), a class ("c:" and its
// name), a forum ("f:" and its id) or a forum topic ("t:" and its id) that
// a record concerns.
const (
	userPrefix  = "u:"
	classPrefix = "c:"
	forumPrefix = "f:"
	topicPrefix = "t:"
)

func userTerm(id string) string     { return userPrefix + id }
func classTerm(class string) string { return classPrefix + class }
func forumTerm(id string) string    { return forumPrefix + id }
func topicTerm(id string) string    { return topicPrefix + id }

// IndexTerms is the ENT's record.Indexer: the terms by which the lists of
// the portal find a user's own records without reading the whole lycée.
//   - message: its sender and its recipient;
//   - grade: its student;
//   - absence: its student, its recorder and its class;
//   - homework: its class and its author;
//   - evaluation: its class and its teacher;
//   - forum topic: its forum; forum post: its forum and its topic.
//
// Other kinds have none. A body that does not decode has none either (the
// lists would not show it).
func IndexTerms(r record.Record) []string {
	switch r.Kind {
	case KindMessage:
		var b struct {
			FromID string `json:"fromId"`
			ToID   string `json:"toId"`
		}
		return decodeTerms(r.Body, &b, &b.FromID, "fromId", userPrefix, &b.ToID, "toId", userPrefix)
	case KindGrade:
		var b struct {
			Student string `json:"student"`
		}
		return decodeTerms(r.Body, &b, &b.Student, "student", userPrefix, nil, "", "")
	case KindAbsence:
		var b struct {
			StudentID  string `json:"studentId"`
			RecorderID string `json:"recorderId"`
			Class      string `json:"class"`
		}
		if json.Unmarshal(r.Body, &b) != nil {
			return nil
		}
		terms := appendTerms(nil, userTerm, b.StudentID, b.RecorderID)
		return appendTerms(terms, classTerm, b.Class)
	case KindHomework:
		var b struct {
			Class    string `json:"class"`
			AuthorID string `json:"authorId"`
		}
		return decodeTerms(r.Body, &b, &b.Class, "class", classPrefix, &b.AuthorID, "authorId", userPrefix)
	case KindEvaluation:
		var b struct {
			Class     string `json:"class"`
			TeacherID string `json:"teacherId"`
		}
		return decodeTerms(r.Body, &b, &b.Class, "class", classPrefix, &b.TeacherID, "teacherId", userPrefix)
	case KindForumTopic, KindForumPost:
		var b struct {
			ForumID string `json:"forumId"`
			TopicID string `json:"topicId"`
		}
		return decodeTerms(r.Body, &b, &b.ForumID, "forumId", forumPrefix, &b.TopicID, "topicId", topicPrefix)
	}
	return nil
}

// decodeTerms returns the terms aPrefix+a and bPrefix+b (those whose
// value is not empty) of the string members aName and bName of body,
// decoded as json.Unmarshal decodes them into v, a struct of the fields *a
// and *b (nil for none); none if body does not decode. Every write of an
// indexed record asks for its terms, at each of central's state machines
// and at the edge (json.Unmarshal of a message's body was a sixth of an
// edge's catch-up): scanRaw reads the members in place, in one pass, and
// leaves anything unusual to json.Unmarshal; the terms share one
// allocation.
func decodeTerms(body []byte, v any, a *string, aName, aPrefix string, b *string, bName, bPrefix string) []string {
	var ra, rb []byte
	pb := &rb
	if b == nil {
		pb = nil
	}
	if !scanRaw(body, &ra, aName, pb, bName) {
		if json.Unmarshal(body, v) != nil {
			return nil
		}
		ra = []byte(*a)
		if b != nil {
			rb = []byte(*b)
		}
	}
	return makeTerms(aPrefix, ra, bPrefix, rb)
}

// makeTerms returns aPrefix+a and bPrefix+b, leaving out those whose
// value is empty, in one string and one slice, sorted (as the stores keep
// them: record.Terms then need not copy them to sort them).
func makeTerms(aPrefix string, a []byte, bPrefix string, b []byte) []string {
	if len(a) > 0 && len(b) > 0 && lessJoined(bPrefix, b, aPrefix, a) {
		aPrefix, a, bPrefix, b = bPrefix, b, aPrefix, a
	}
	n := 0
	if len(a) > 0 {
		n += len(aPrefix) + len(a)
	}
	if len(b) > 0 {
		n += len(bPrefix) + len(b)
	}
	if n == 0 {
		return nil
	}
	var sb strings.Builder
	sb.Grow(n)
	if len(a) > 0 {
		sb.WriteString(aPrefix)
		sb.Write(a)
	}
	split := sb.Len()
	if len(b) > 0 {
		sb.WriteString(bPrefix)
		sb.Write(b)
	}
	s := sb.String()
	if split == 0 || split == len(s) {
		return []string{s}
	}
	return []string{s[:split], s[split:]}
}

// lessJoined reports whether xPrefix+x sorts before yPrefix+y, without
// joining them.
func lessJoined(xPrefix string, x []byte, yPrefix string, y []byte) bool {
	at := func(prefix string, v []byte, i int) byte {
		if i < len(prefix) {
			return prefix[i]
		}
		return v[i-len(prefix)]
	}
	nx, ny := len(xPrefix)+len(x), len(yPrefix)+len(y)
	for i := 0; i < nx && i < ny; i++ {
		if cx, cy := at(xPrefix, x, i), at(yPrefix, y, i); cx != cy {
			return cx < cy
		}
	}
	return nx < ny
}

// scanFields reads the members aName and bName of the JSON object body
// into *a and *b (nil for none) as scanRaw reads them.
func scanFields(body []byte, a *string, aName string, b *string, bName string) bool {
	var ra, rb []byte
	pb := &rb
	if b == nil {
		pb = nil
	}
	if !scanRaw(body, &ra, aName, pb, bName) {
		return false
	}
	*a = string(ra)
	if b != nil {
		*b = string(rb)
	}
	return true
}

// scanRaw reads the members aName and bName of the JSON object body,
// leaving *a and *b (nil for none) on their text in body, and reports
// false (the caller then uses json.Unmarshal) for anything it does not
// read exactly as encoding/json would: a key that matches a name only
// case-insensitively, a wanted member that is not a plain string (no
// escape, valid UTF-8: its text is its value), a member that is an object
// or an array, malformed JSON. Other members may be strings, numbers,
// booleans or null. Like json.Unmarshal it reads the whole object: a
// member repeated counts last, and malformed JSON anywhere fails.
func scanRaw(body []byte, a *[]byte, aName string, b *[]byte, bName string) bool {
	var av, bv []byte
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return false
	}
	i = skipSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		i++
	} else {
		for {
			key, next, plain := scanString(body, i)
			if next < 0 || !plain {
				return false
			}
			var dst *[]byte
			switch {
			case string(key) == aName:
				dst = &av
			case b != nil && string(key) == bName:
				dst = &bv
			case strings.EqualFold(string(key), aName) || (b != nil && strings.EqualFold(string(key), bName)):
				return false
			}
			i = skipSpace(body, next)
			if i >= len(body) || body[i] != ':' {
				return false
			}
			i = skipSpace(body, i+1)
			if i >= len(body) {
				return false
			}
			if body[i] == '"' {
				raw, next, plain := scanString(body, i)
				if next < 0 || (!plain && (dst != nil || !json.Valid(body[i:next]))) {
					return false
				}
				if dst != nil {
					*dst = raw
				}
				i = next
			} else {
				if dst != nil {
					return false
				}
				j := i
				for j < len(body) && strings.IndexByte("+-0123456789.eEtruefalsn", body[j]) >= 0 {
					j++
				}
				if j == i || !validScalar(body[i:j]) {
					return false
				}
				i = j
			}
			i = skipSpace(body, i)
			if i >= len(body) {
				return false
			}
			if body[i] == '}' {
				i++
				break
			}
			if body[i] != ',' {
				return false
			}
			i = skipSpace(body, i+1)
		}
	}
	if skipSpace(body, i) != len(body) {
		return false
	}
	*a = av
	if b != nil {
		*b = bv
	}
	return true
}

// validScalar reports whether s is a JSON number, true, false or null.
func validScalar(s []byte) bool {
	switch string(s) {
	case "true", "false", "null":
		return true
	}
	i := 0
	digits := func() bool {
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i > j
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if !digits() {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	return i == len(s)
}

func appendTerms(terms []string, term func(string) string, names ...string) []string {
	for _, n := range names {
		if n != "" {
			terms = append(terms, term(n))
		}
	}
	return terms
}

// scanTerms calls fn for the live records of kind in partition that carry
// any of terms, each once, newest id first as Scan does. It only narrows
// the scan: callers still check every record they get, so that a store
// without an index (record.ErrNoIndex), scanned whole, gives them the same
// results in the same order (and the tests of the lists, on such a store,
// check the rules themselves, not the index).
func scanTerms(r record.Reader, partition, kind string, terms []string, fn func(record.Record) error) error {
	terms = slices.Compact(slices.Sorted(slices.Values(terms)))
	if len(terms) == 0 {
		return nil
	}
	if len(terms) == 1 {
		err := r.ScanTerm(partition, kind, terms[0], fn)
		if !errors.Is(err, record.ErrNoIndex) {
			return err
		}
		return r.Scan(partition, kind, fn)
	}
	// Several terms: gather, then merge newest id first.
	var recs []record.Record
	seen := map[string]bool{}
	for _, t := range terms {
		err := r.ScanTerm(partition, kind, t, func(rec record.Record) error {
			if !seen[rec.ID] {
				seen[rec.ID] = true
				rec.Body = slices.Clone(rec.Body) // valid beyond the callback
				recs = append(recs, rec)
			}
			return nil
		})
		if errors.Is(err, record.ErrNoIndex) {
			return r.Scan(partition, kind, fn)
		}
		if err != nil {
			return err
		}
	}
	slices.SortFunc(recs, func(a, b record.Record) int {
		switch {
		case a.ID > b.ID:
			return -1
		case a.ID < b.ID:
			return 1
		}
		return 0
	})
	for _, rec := range recs {
		if err := fn(rec); err != nil {
			if err == record.ErrStop {
				return nil
			}
			return err
		}
	}
	return nil
}
