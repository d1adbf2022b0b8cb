package ent

import (
	"encoding/json"
	"strconv"
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
