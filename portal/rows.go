package portal

import (
	"html/template"
	"strconv"
	"sync"

	"atrium/ent"
)

// List rows built in Go. html/template escapes each action through
// reflection (~2 µs an action); a list of 30 lines with 6 texts each spent
// more time there than anywhere else. The lists' lines are therefore
// written here, each text escaped exactly as html/template escapes it in
// the same place (the pages are byte for byte what the templates gave;
// rows_test.go holds the escapers to html/template's), and handed to the
// template as one template.HTML.
//
// Everything that is not markup written in this file goes through text or
// path: markup is of type markup, which a string literal converts to and a
// string variable does not, so user content cannot reach the page
// unescaped by accident.

// markup is trusted HTML: string literals of this package only.
type markup string

// htmlBuf builds a fragment of a page.
type htmlBuf struct{ b []byte }

var htmlBufs = sync.Pool{New: func() any { return &htmlBuf{b: make([]byte, 0, 8<<10)} }}

func newHTMLBuf() *htmlBuf { return htmlBufs.Get().(*htmlBuf) }

// done returns the fragment and recycles the buffer.
func (h *htmlBuf) done() template.HTML {
	s := template.HTML(h.b)
	if cap(h.b) <= 64<<10 {
		h.b = h.b[:0]
		htmlBufs.Put(h)
	}
	return s
}

// classItem opens the line of a class's dated item: its link (href, then
// the id), "date · subject (class) : title", and the small print after it.
func (h *htmlBuf) classItem(href markup, id, date, subject, class, title string) {
	h.raw(`<li><a href="`)
	h.raw(href)
	h.path(id)
	h.raw(`">`)
	h.text(frDate(date))
	h.raw(" · ")
	h.text(subject)
	h.raw(" (")
	h.text(class)
	h.raw(") : ")
	h.text(title)
	h.raw("</a>\n<small>")
}

// raw writes trusted markup.
func (h *htmlBuf) raw(m markup) { h.b = append(h.b, m...) }

// count writes n in words: none when it is zero (or less), one when it is
// 1, else n followed by many ("3" + " sujets").
func (h *htmlBuf) count(n int, none, one, many markup) {
	switch {
	case n <= 0:
		h.raw(none)
	case n == 1:
		h.raw(one)
	default:
		h.b = strconv.AppendInt(h.b, int64(n), 10)
		h.raw(many)
	}
}

// text writes s escaped for HTML text or a quoted attribute value, as
// html/template's escaper does ({{.}} there): NUL becomes U+FFFD and
// " & ' + < > character references; every other byte, invalid UTF-8
// included, is kept.
func (h *htmlBuf) text(s string) {
	start := 0
	for i := 0; i < len(s); i++ {
		var rep string
		switch s[i] {
		case 0:
			rep = "\uFFFD"
		case '"':
			rep = "&#34;"
		case '&':
			rep = "&amp;"
		case '\'':
			rep = "&#39;"
		case '+':
			rep = "&#43;"
		case '<':
			rep = "&lt;"
		case '>':
			rep = "&gt;"
		default:
			continue
		}
		h.b = append(h.b, s[start:i]...)
		h.b = append(h.b, rep...)
		start = i + 1
	}
	h.b = append(h.b, s[start:]...)
}

// path writes s as html/template writes {{.}} after the fixed start of a
// quoted URL attribute (href="/x/{{.}}"): percent-encoded where a URL
// needs it (its normaliser: valid %XX escapes and RFC 3986's reserved
// characters kept), then escaped as an attribute value.
func (h *htmlBuf) path(s string) {
	const hex = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
			continue
		case c == '!', c == '#', c == '$', c == '*', c == ',', c == '/', c == ':', c == ';', c == '=', c == '?', c == '@', c == '[', c == ']':
			continue
		case c == '&':
			h.b = append(h.b, s[start:i]...)
			h.b = append(h.b, "&amp;"...)
		case c == '+':
			h.b = append(h.b, s[start:i]...)
			h.b = append(h.b, "&#43;"...)
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			continue
		default:
			h.b = append(h.b, s[start:i]...)
			h.b = append(h.b, '%', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	h.b = append(h.b, s[start:]...)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// newsRows are the lines of the actualités.
func (p *Portal) newsRows(news []ent.News) template.HTML {
	h := newHTMLBuf()
	for _, n := range news {
		h.raw(`<li><a href="/actualites/`)
		h.path(n.ID)
		h.raw(`">`)
		h.text(n.Title)
		h.raw("</a>\n<small>")
		if n.RegionWide() {
			h.raw("Région")
		} else {
			h.raw("Lycée")
		}
		h.raw(" · ")
		h.text(n.AuthorName)
		h.raw(" · ")
		h.text(p.dateText(n.Published))
		h.raw("</small></li>\n")
	}
	return h.done()
}

// messageRows are the lines of u's messagerie.
func (p *Portal) messageRows(msgs []ent.Message, u ent.User) template.HTML {
	h := newHTMLBuf()
	for _, m := range msgs {
		h.raw("<tr><td>")
		if m.FromID == u.ID {
			h.raw("À : ")
			h.text(m.ToName)
		} else {
			h.raw("De : ")
			h.text(m.FromName)
		}
		h.raw("</td>\n<td><a href=\"/messagerie/")
		h.path(m.ID)
		h.raw(`">`)
		h.text(m.Subject)
		h.raw("</a></td><td>")
		h.text(p.dateText(m.Sent))
		h.raw("</td></tr>\n")
	}
	return h.done()
}

// homeworkRows are the lines of the cahier de textes: the work to do, then
// the other sessions.
func homeworkRows(entries []ent.Homework) (toDo, sessions template.HTML) {
	h := newHTMLBuf()
	for _, e := range entries {
		if !e.ToDo {
			continue
		}
		h.raw(`<li><a href="/cahier-de-textes/`)
		h.path(e.ID)
		h.raw(`">Pour le `)
		h.text(frDate(e.Due))
		h.raw(" · ")
		h.text(e.Subject)
		h.raw(" (")
		h.text(e.Class)
		h.raw(")</a>\n<small>")
		h.text(e.Work)
		h.raw("</small></li>\n")
	}
	toDo = h.done()
	h = newHTMLBuf()
	for _, e := range entries {
		if e.ToDo {
			continue
		}
		h.classItem("/cahier-de-textes/", e.ID, e.Date, e.Subject, e.Class, e.Title)
		h.text(e.Author)
		if e.Work != "" {
			h.raw(" · travail pour le ")
			if e.Due != "" {
				h.text(frDate(e.Due))
			}
		}
		h.raw("</small></li>\n")
	}
	return toDo, h.done()
}

// evaluationRows are the lines of the evaluations on the notes' page.
func evaluationRows(evals []ent.Evaluation) template.HTML {
	h := newHTMLBuf()
	for _, e := range evals {
		h.classItem("/notes/", e.ID, e.Date, e.Subject, e.Class, e.Title)
		h.raw("sur ")
		h.text(ent.GradeLabel(e.OutOf))
		h.raw(" · coefficient ")
		h.text(ent.GradeLabel(e.Coefficient))
		h.raw(" · ")
		h.text(e.Teacher)
		h.raw("</small></li>\n")
	}
	return h.done()
}

// gradeRows are the lines of a student's grades (with the student's name
// for a relative).
func gradeRows(grades []ent.StudentGrade, relative bool) template.HTML {
	h := newHTMLBuf()
	for _, g := range grades {
		h.raw("<tr>")
		if relative {
			h.raw("<td>")
			h.text(g.StudentName)
			h.raw("</td>")
		}
		h.raw("<td>")
		h.text(frDate(g.Date))
		h.raw("</td><td>")
		h.text(g.Subject)
		h.raw(`</td><td><a href="/notes/`)
		h.path(g.ID)
		h.raw(`">`)
		h.text(g.Title)
		h.raw("</a></td><td>")
		h.text(g.ValueLabel())
		switch g.Value {
		case ent.GradeAbsent, ent.GradeExempt, ent.GradeNotGraded:
		default:
			h.raw(" / ")
			h.text(ent.GradeLabel(g.OutOf))
		}
		h.raw("</td><td>")
		h.text(ent.GradeLabel(g.Coefficient))
		h.raw("</td></tr>\n")
	}
	return h.done()
}

// absenceRows are the lines of the absences' table.
func absenceRows(list []ent.Absence) template.HTML {
	h := newHTMLBuf()
	for _, a := range list {
		h.raw(`<tr><td><a href="/absences/`)
		h.path(a.ID)
		h.raw(`">`)
		h.text(frDate(a.Date))
		h.raw("</a></td><td>")
		h.text(a.Slot())
		h.raw("</td><td>")
		h.text(a.StudentName)
		h.raw("</td><td>")
		h.text(a.Class)
		h.raw("</td><td>")
		h.text(a.KindLabel())
		h.raw("</td><td>")
		h.text(a.StatusLabel())
		h.raw("</td><td>")
		if a.Motif != "" {
			h.text(a.MotifLabel())
		} else {
			h.raw("Aucune")
		}
		h.raw("</td></tr>\n")
	}
	return h.done()
}

// blogRows are the lines of the blog.
func (p *Portal) blogRows(posts []ent.BlogPost) template.HTML {
	h := newHTMLBuf()
	for _, b := range posts {
		h.raw(`<li><a href="/blog/`)
		h.path(b.ID)
		h.raw(`">`)
		h.text(b.Title)
		h.raw("</a>\n<small>")
		if b.Class != "" {
			h.raw("Classe ")
			h.text(b.Class)
		} else {
			h.raw("Tout le lycée")
		}
		h.raw(" · ")
		h.text(b.Author)
		h.raw(" · ")
		h.text(p.dateText(b.Published))
		h.raw(" · ")
		h.count(b.CommentCount, "aucun commentaire", "1 commentaire", " commentaires")
		h.raw("</small></li>\n")
	}
	return h.done()
}

// forumRows are the lines of the forums' list.
func forumRows(forums []ent.Forum) template.HTML {
	h := newHTMLBuf()
	for _, f := range forums {
		h.raw(`<li><a href="/forum/`)
		h.path(f.ID)
		h.raw(`">`)
		h.text(f.Title)
		h.raw("</a>\n<small>")
		h.text(newForumRow(f).AudienceText)
		h.raw(" · ")
		h.count(f.Topics, "aucun sujet", "1 sujet", " sujets")
		h.raw("</small></li>\n")
	}
	return h.done()
}

// topicRows are the lines of a forum's topics.
func (p *Portal) topicRows(topics []ent.ForumTopic) template.HTML {
	h := newHTMLBuf()
	for _, t := range topics {
		h.raw(`<li><a href="/forum/`)
		h.path(t.ForumID)
		h.raw(`/sujets/`)
		h.path(t.ID)
		h.raw(`">`)
		h.text(t.Title)
		h.raw("</a>\n<small>")
		h.text(t.Author)
		h.raw(" · ")
		h.count(t.Replies, "aucune réponse", "1 réponse", " réponses")
		h.raw(" · dernière activité le ")
		h.text(p.dateText(t.LastPost))
		h.raw("</small></li>\n")
	}
	return h.done()
}

// paragraphsHTML writes the non-empty lines of s (paragraphs) as
// "<p>line</p>\n" each, escaped: the templates' paras, one action instead
// of a range of escaped lines.
func paragraphsHTML(s string) template.HTML {
	h := newHTMLBuf()
	for _, l := range paragraphs(s) {
		h.raw("<p>")
		h.text(l)
		h.raw("</p>\n")
	}
	return h.done()
}
