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
func userTerm(id string) string     { return "u:" + id }
func classTerm(class string) string { return "c:" + class }
func forumTerm(id string) string    { return "f:" + id }
func topicTerm(id string) string    { return "t:" + id }

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
	var terms []string
	switch r.Kind {
	case KindMessage:
		var b struct {
			FromID string `json:"fromId"`
			ToID   string `json:"toId"`
		}
		if decodeFields(r.Body, &b, &b.FromID, "fromId", &b.ToID, "toId") {
			terms = appendTerms(terms, userTerm, b.FromID, b.ToID)
		}
	case KindGrade:
		var b struct {
			Student string `json:"student"`
		}
		if decodeFields(r.Body, &b, &b.Student, "student", nil, "") {
			terms = appendTerms(terms, userTerm, b.Student)
		}
	case KindAbsence:
		var b struct {
			StudentID  string `json:"studentId"`
			RecorderID string `json:"recorderId"`
			Class      string `json:"class"`
		}
		if json.Unmarshal(r.Body, &b) == nil {
			terms = appendTerms(terms, userTerm, b.StudentID, b.RecorderID)
			terms = appendTerms(terms, classTerm, b.Class)
		}
	case KindHomework:
		var b struct {
			Class    string `json:"class"`
			AuthorID string `json:"authorId"`
		}
		if decodeFields(r.Body, &b, &b.Class, "class", &b.AuthorID, "authorId") {
			terms = appendTerms(terms, classTerm, b.Class)
			terms = appendTerms(terms, userTerm, b.AuthorID)
		}
	case KindEvaluation:
		var b struct {
			Class     string `json:"class"`
			TeacherID string `json:"teacherId"`
		}
		if decodeFields(r.Body, &b, &b.Class, "class", &b.TeacherID, "teacherId") {
			terms = appendTerms(terms, classTerm, b.Class)
			terms = appendTerms(terms, userTerm, b.TeacherID)
		}
	case KindForumTopic, KindForumPost:
		var b struct {
			ForumID string `json:"forumId"`
			TopicID string `json:"topicId"`
		}
		if decodeFields(r.Body, &b, &b.ForumID, "forumId", &b.TopicID, "topicId") {
			terms = appendTerms(terms, forumTerm, b.ForumID)
			terms = appendTerms(terms, topicTerm, b.TopicID)
		}
	}
	return terms
}

// decodeFields decodes body into v, a struct of the string fields *a and
// *b (nil for none) tagged aName and bName, as json.Unmarshal would, and
// reports whether body decodes. Every write of an indexed record reads its
// body, and json.Unmarshal of a message's was a sixth of an edge's
// catch-up: scanFields finds the members in one pass, and leaves anything
// unusual to json.Unmarshal.
func decodeFields(body []byte, v any, a *string, aName string, b *string, bName string) bool {
	if scanFields(body, a, aName, b, bName) {
		return true
	}
	return json.Unmarshal(body, v) == nil
}

// scanFields reads the members aName and bName of the JSON object body
// into *a and *b, reporting false (the caller then uses json.Unmarshal)
// for anything it does not read exactly as encoding/json would: a key that
// matches a name only case-insensitively, a wanted member that is not a
// plain string, a member that is an object or an array, malformed JSON.
// Other members may be strings, numbers, booleans or null.
func scanFields(body []byte, a *string, aName string, b *string, bName string) bool {
	var av, bv string
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
			var dst *string
			switch k := string(key); {
			case k == aName:
				dst = &av
			case b != nil && k == bName:
				dst = &bv
			case strings.EqualFold(k, aName) || (b != nil && strings.EqualFold(k, bName)):
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
					*dst = string(raw)
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
