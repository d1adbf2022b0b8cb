package ent

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Every central node executes every command again, so the JSON of the
// commonest commands (message.send, news.publish) is read and written
// without reflection here. The results are exactly encoding/json's:
// decodeStringObject reads only the plainest form of an object of string
// fields and leaves everything else (escapes aside, which it hands to
// encoding/json one string at a time) to json.Unmarshal; appendJSONString
// writes a string as json.Marshal does. FuzzStringObject and
// FuzzJSONString hold them to that.

// decodeStringObject decodes b, a JSON object whose members are the string
// fields names (matched exactly), into dst (dst[i] receives names[i]). It
// reports false, having written nothing, for anything else: another key
// (encoding/json would match keys case-insensitively or ignore them), a
// value that is not a string, malformed JSON. The caller then uses
// json.Unmarshal.
func decodeStringObject(b []byte, names []string, dst []*string) bool {
	var vals [8]string
	var set [8]bool
	if len(names) > len(vals) {
		return false
	}
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			key, next, plain := scanString(b, i)
			if next < 0 || !plain {
				return false
			}
			f := -1
			for j, n := range names {
				if string(key) == n {
					f = j
					break
				}
			}
			if f < 0 {
				return false
			}
			i = skipSpace(b, next)
			if i >= len(b) || b[i] != ':' {
				return false
			}
			i = skipSpace(b, i+1)
			raw, next, plain := scanString(b, i)
			if next < 0 {
				return false
			}
			if plain {
				vals[f] = string(raw)
			} else {
				var v string
				if err := json.Unmarshal(b[i:next], &v); err != nil {
					return false
				}
				vals[f] = v
			}
			set[f] = true // a repeated key: the last one wins, as in encoding/json
			i = skipSpace(b, next)
			if i >= len(b) {
				return false
			}
			if b[i] == '}' {
				i++
				break
			}
			if b[i] != ',' {
				return false
			}
			i = skipSpace(b, i+1)
		}
	}
	if skipSpace(b, i) != len(b) {
		return false
	}
	for j := range names {
		if set[j] {
			*dst[j] = vals[j]
		}
	}
	return true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString reads the JSON string token starting at b[i]. It returns its
// contents between the quotes and the index after it, or next < 0 when
// there is no well-formed token there. plain reports contents that stand
// for themselves: no escape, no control character, valid UTF-8. A token
// that is not plain may still be malformed (a bad escape): its caller
// decodes it with encoding/json.
func scanString(b []byte, i int) (raw []byte, next int, plain bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, -1, false
	}
	plain = true
	ascii := true
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			raw = b[i+1 : j]
			if !ascii && plain && !utf8.Valid(raw) {
				plain = false
			}
			return raw, j + 1, plain
		case c == '\\':
			plain = false
			j++ // skip the escaped byte: it may be a quote
		case c < 0x20:
			return nil, -1, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, -1, false
}

// appendJSONString appends s as a JSON string exactly as json.Marshal
// encodes it (HTML characters, U+2028 and U+2029 escaped, invalid UTF-8
// replaced by U+FFFD).
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// decodeMessageArgs decodes the arguments of message.send as
// json.Unmarshal does.
func decodeMessageArgs(b []byte) (MessageArgs, error) {
	var a MessageArgs
	if decodeStringObject(b, []string{"id", "to", "subject", "body"}, []*string{&a.ID, &a.To, &a.Subject, &a.Body}) {
		return a, nil
	}
	err := json.Unmarshal(b, &a)
	return a, err
}

// decodeNewsArgs decodes the arguments of news.publish as json.Unmarshal
// does.
func decodeNewsArgs(b []byte) (NewsArgs, error) {
	var a NewsArgs
	if decodeStringObject(b, []string{"id", "title", "body"}, []*string{&a.ID, &a.Title, &a.Body}) {
		return a, nil
	}
	err := json.Unmarshal(b, &a)
	return a, err
}

// marshal encodes a stored message as json.Marshal does.
func (m *messageBody) marshal() []byte {
	b := make([]byte, 0, 128+len(m.FromID)+len(m.FromLogin)+len(m.FromName)+len(m.ToID)+len(m.ToLogin)+len(m.ToName)+len(m.Subject)+len(m.Body))
	b = append(b, `{"fromId":`...)
	b = appendJSONString(b, m.FromID)
	b = append(b, `,"fromLogin":`...)
	b = appendJSONString(b, m.FromLogin)
	b = append(b, `,"fromName":`...)
	b = appendJSONString(b, m.FromName)
	b = append(b, `,"toId":`...)
	b = appendJSONString(b, m.ToID)
	b = append(b, `,"toLogin":`...)
	b = appendJSONString(b, m.ToLogin)
	b = append(b, `,"toName":`...)
	b = appendJSONString(b, m.ToName)
	b = append(b, `,"subject":`...)
	b = appendJSONString(b, m.Subject)
	b = append(b, `,"body":`...)
	b = appendJSONString(b, m.Body)
	b = append(b, `,"sent":`...)
	b = strconv.AppendInt(b, m.Sent, 10)
	return append(b, '}')
}

// marshal encodes a stored news item as json.Marshal does.
func (n *newsBody) marshal() []byte {
	b := make([]byte, 0, 96+len(n.Title)+len(n.Body)+len(n.AuthorID)+len(n.AuthorName))
	b = append(b, `{"title":`...)
	b = appendJSONString(b, n.Title)
	b = append(b, `,"body":`...)
	b = appendJSONString(b, n.Body)
	b = append(b, `,"authorId":`...)
	b = appendJSONString(b, n.AuthorID)
	b = append(b, `,"authorName":`...)
	b = appendJSONString(b, n.AuthorName)
	b = append(b, `,"published":`...)
	b = strconv.AppendInt(b, n.Published, 10)
	return append(b, '}')
}

// jsonMember is a member of a flat JSON object that decodeFlatObject
// reads: its key and where its value goes, a string (s) or an integer (n).
type jsonMember struct {
	key string
	s   *string
	n   *int64
}

// decodeFlatObject decodes b, a JSON object of strings and integers (the
// stored bodies the lists read), into members, as json.Unmarshal would
// into a struct of those fields: members of other keys are skipped (once
// checked well-formed), the last of repeated keys wins, a string with
// escapes is decoded by encoding/json. It reports false for whatever it
// does not read exactly as encoding/json would — a key matching a member
// only case-insensitively, a key that is not plain ASCII, null for a
// member, an object inside it, a number that is not an integer,
// malformed JSON — having perhaps written some members: the caller then
// decodes b again with json.Unmarshal into a zero value.
func decodeFlatObject(b []byte, members []jsonMember) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipSpace(b, i+1) == len(b)
	}
	for {
		key, next, plain := scanString(b, i)
		if next < 0 || !plain {
			return false
		}
		var m *jsonMember
		for j := range members {
			if string(key) == members[j].key {
				m = &members[j]
				break
			}
		}
		if m == nil {
			for _, c := range key {
				if c >= utf8.RuneSelf {
					return false
				}
			}
			for j := range members {
				if strings.EqualFold(string(key), members[j].key) {
					return false
				}
			}
		}
		i = skipSpace(b, next)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		if i >= len(b) {
			return false
		}
		switch {
		case m != nil && m.s != nil:
			raw, next, plain := scanString(b, i)
			if next < 0 {
				return false
			}
			if plain {
				*m.s = string(raw)
			} else if err := json.Unmarshal(b[i:next], m.s); err != nil {
				return false
			}
			i = next
		case m != nil && m.n != nil:
			end := scanInteger(b, i)
			if end < 0 {
				return false
			}
			v, err := strconv.ParseInt(string(b[i:end]), 10, 64)
			if err != nil {
				return false
			}
			*m.n, i = v, end
		default:
			if i = skipValue(b, i); i < 0 {
				return false
			}
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return false
		}
		if b[i] == '}' {
			return skipSpace(b, i+1) == len(b)
		}
		if b[i] != ',' {
			return false
		}
		i = skipSpace(b, i+1)
	}
}

// scanInteger returns the index after the JSON integer at b[i]
// (-?(0|[1-9][0-9]*), not followed by a fraction or an exponent), or -1.
func scanInteger(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return -1
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		return -1
	}
	if i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E') {
		return -1
	}
	return i
}

// skipValue returns the index after the JSON string, number, true, false,
// null or array of those at b[i], or -1 when it is none of those (an
// object) or malformed.
func skipValue(b []byte, i int) int {
	switch c := b[i]; {
	case c == '[':
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1
		}
		for i < len(b) {
			if i = skipValue(b, i); i < 0 {
				return -1
			}
			if i = skipSpace(b, i); i >= len(b) {
				return -1
			}
			switch b[i] {
			case ']':
				return i + 1
			case ',':
				i = skipSpace(b, i+1)
			default:
				return -1
			}
		}
		return -1
	case c == '"':
		raw, next, plain := scanString(b, i)
		if next < 0 || plain {
			return next
		}
		for j := 0; j < len(raw); j++ {
			if raw[j] != '\\' {
				continue
			}
			j++
			switch raw[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(raw) {
					return -1
				}
				for k := j + 1; k <= j+4; k++ {
					if !isHexDigit(raw[k]) {
						return -1
					}
				}
				j += 4
			default:
				return -1
			}
		}
		return next
	case c == '-' || '0' <= c && c <= '9':
		if c == '-' {
			i++
		}
		switch {
		case i >= len(b):
			return -1
		case b[i] == '0':
			i++
		case '1' <= b[i] && b[i] <= '9':
			i = skipDigits(b, i)
		default:
			return -1
		}
		if i < len(b) && b[i] == '.' {
			if j := skipDigits(b, i+1); j > i+1 {
				i = j
			} else {
				return -1
			}
		}
		if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
			i++
			if i < len(b) && (b[i] == '+' || b[i] == '-') {
				i++
			}
			if j := skipDigits(b, i); j > i {
				i = j
			} else {
				return -1
			}
		}
		return i
	}
	for _, lit := range [...]string{"true", "false", "null"} {
		if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
			return i + len(lit)
		}
	}
	return -1
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// decodeBody decodes data into *v as json.Unmarshal does: through
// decodeFlatObject with v's members, or json.Unmarshal when it declines.
func decodeBody[T any](data []byte, v *T, members []jsonMember) error {
	if decodeFlatObject(data, members) {
		return nil
	}
	var zero T
	*v = zero
	return json.Unmarshal(data, v)
}

// The stored bodies the lists decode, without reflection (decodeBody).

func (b *homeworkBody) unmarshal(data []byte) error {
	return decodeBody(data, b, []jsonMember{{"id", &b.ID, nil}, {"class", &b.Class, nil}, {"subject", &b.Subject, nil},
		{"date", &b.Date, nil}, {"title", &b.Title, nil}, {"content", &b.Content, nil}, {"work", &b.Work, nil}, {"due", &b.Due, nil},
		{"authorId", &b.AuthorID, nil}, {"author", &b.Author, nil}, {"created", nil, &b.Created}, {"updated", nil, &b.Updated}})
}

func (b *newsBody) unmarshal(data []byte) error {
	return decodeBody(data, b, []jsonMember{{"title", &b.Title, nil}, {"body", &b.Body, nil}, {"authorId", &b.AuthorID, nil},
		{"authorName", &b.AuthorName, nil}, {"published", nil, &b.Published}})
}

func (b *messageBody) unmarshal(data []byte) error {
	return decodeBody(data, b, []jsonMember{{"fromId", &b.FromID, nil}, {"fromLogin", &b.FromLogin, nil}, {"fromName", &b.FromName, nil},
		{"toId", &b.ToID, nil}, {"toLogin", &b.ToLogin, nil}, {"toName", &b.ToName, nil}, {"subject", &b.Subject, nil},
		{"body", &b.Body, nil}, {"sent", nil, &b.Sent}})
}

func (b *evaluationBody) unmarshal(data []byte) error {
	return decodeBody(data, b, []jsonMember{{"class", &b.Class, nil}, {"subject", &b.Subject, nil}, {"title", &b.Title, nil},
		{"date", &b.Date, nil}, {"outOf", &b.OutOf, nil}, {"coefficient", &b.Coefficient, nil}, {"teacherId", &b.TeacherID, nil},
		{"teacher", &b.Teacher, nil}, {"created", nil, &b.Created}})
}

func (b *blogPostBody) unmarshal(data []byte) error {
	return decodeBody(data, b, []jsonMember{{"class", &b.Class, nil}, {"title", &b.Title, nil}, {"body", &b.Body, nil},
		{"authorId", &b.AuthorID, nil}, {"author", &b.Author, nil}, {"published", nil, &b.Published}})
}

func (b *forumBody) unmarshal(data []byte) error {
	return decodeBody(data, b, []jsonMember{{"title", &b.Title, nil}, {"audience", &b.Audience, nil}, {"class", &b.Class, nil},
		{"authorId", &b.AuthorID, nil}, {"author", &b.Author, nil}, {"created", nil, &b.Created}})
}

func (b *forumTopicBody) unmarshal(data []byte) error {
	return decodeBody(data, b, []jsonMember{{"forumId", &b.ForumID, nil}, {"title", &b.Title, nil}, {"body", &b.Body, nil},
		{"authorId", &b.AuthorID, nil}, {"author", &b.Author, nil}, {"created", nil, &b.Created}})
}

func (b *forumPostBody) unmarshal(data []byte) error {
	return decodeBody(data, b, []jsonMember{{"topicId", &b.TopicID, nil}, {"forumId", &b.ForumID, nil}, {"body", &b.Body, nil},
		{"authorId", &b.AuthorID, nil}, {"author", &b.Author, nil}, {"created", nil, &b.Created},
		{"hiddenBy", &b.HiddenBy, nil}, {"hiddenAt", nil, &b.HiddenAt}})
}

func (b *absenceBody) unmarshal(data []byte) error {
	return decodeBody(data, b, []jsonMember{{"studentId", &b.StudentID, nil}, {"studentName", &b.StudentName, nil},
		{"class", &b.Class, nil}, {"date", &b.Date, nil}, {"start", &b.Start, nil}, {"end", &b.End, nil}, {"kind", &b.Kind, nil},
		{"recorderId", &b.RecorderID, nil}, {"recorderName", &b.RecorderName, nil}, {"recorded", nil, &b.Recorded},
		{"status", &b.Status, nil}, {"statusById", &b.StatusByID, nil}, {"statusByName", &b.StatusByName, nil},
		{"statusAt", nil, &b.StatusAt}, {"motif", &b.Motif, nil}, {"comment", &b.Comment, nil},
		{"justifiedById", &b.JustifiedByID, nil}, {"justifiedBy", &b.JustifiedBy, nil}, {"justifiedAt", nil, &b.JustifiedAt}})
}

// gradeSummary is what the notes' page reads of a stored grade (gradeBody
// without its changes).
type gradeSummary struct {
	Evaluation  string `json:"evaluation"`
	Student     string `json:"student"`
	StudentName string `json:"studentName"`
	Value       string `json:"value"`
	Updated     int64  `json:"updated"`
}

func (b *gradeSummary) unmarshal(data []byte) error {
	return decodeBody(data, b, []jsonMember{{"evaluation", &b.Evaluation, nil}, {"student", &b.Student, nil},
		{"studentName", &b.StudentName, nil}, {"value", &b.Value, nil}, {"updated", nil, &b.Updated}})
}
