package portal

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"atrium/ent"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// maxRecipientOptions bounds the recipients the new-message form lists at
// once, to keep the page light on a phone: a student's list (classmates,
// their teachers, the staff, their relatives) fits; a teacher's or a staff
// member's whole lycée does not, so they search by name or class, without
// JavaScript (a GET form).
const maxRecipientOptions = 200

// recipientChoice is the new-message form's list of allowed recipients.
type recipientChoice struct {
	Groups []recipientGroup
	Query  string // the search, as typed
	Search bool   // show the search form: the list is long or a search was made
	Shown  int    // options listed
	Total  int    // recipients the user may write to
	More   bool   // some matching recipients are not listed
}

type recipientGroup struct {
	Label   string // the profile, in French plural
	Options []recipientOption
}

type recipientOption struct {
	Login    string
	Label    string
	Selected bool
}

// groupLabels names the recipients' groups, in ent's order.
var groupLabels = map[string]string{
	ent.Personnel: "Personnels du lycée",
	ent.Teacher:   "Enseignants",
	ent.Student:   "Élèves",
	ent.Relative:  "Responsables légaux",
}

// newRecipientChoice lists us (sorted by profile then name, as
// Service.Recipients returns them) for the form: those matching query, the
// selected login always, at most maxRecipientOptions. Without a query and
// with too many recipients, whole groups are listed while they fit (the
// staff and the teachers come first) and the others are left to a search.
func newRecipientChoice(us []ent.User, query, selected string) *recipientChoice {
	c := &recipientChoice{Query: strings.TrimSpace(query), Total: len(us)}
	c.Search = c.Query != "" || len(us) > maxRecipientOptions
	names := make(map[string]string, len(us))
	for _, u := range us {
		names[u.ID] = u.Name
	}
	terms := strings.Fields(fold(c.Query))
	// Without a query, list whole groups while they fit.
	fits := map[string]bool{}
	if c.Query == "" {
		counts := map[string]int{}
		for _, u := range us {
			counts[u.Profile]++
		}
		n := 0
		for _, u := range us {
			if _, seen := fits[u.Profile]; seen {
				continue
			}
			fits[u.Profile] = n+counts[u.Profile] <= maxRecipientOptions
			if fits[u.Profile] {
				n += counts[u.Profile]
			}
		}
	}
	for _, u := range us {
		sel := u.Login == selected
		var show bool
		if c.Query == "" {
			show = fits[u.Profile]
		} else {
			show = matches(terms, u, names)
		}
		if !show && !sel {
			if c.Query == "" || matches(terms, u, names) {
				c.More = true
			}
			continue
		}
		if !sel && c.Shown >= maxRecipientOptions {
			c.More = true
			continue
		}
		if len(c.Groups) == 0 || c.Groups[len(c.Groups)-1].Label != groupLabels[u.Profile] {
			c.Groups = append(c.Groups, recipientGroup{Label: groupLabels[u.Profile]})
		}
		g := &c.Groups[len(c.Groups)-1]
		g.Options = append(g.Options, recipientOption{Login: u.Login, Label: recipientLabel(u, names), Selected: sel})
		c.Shown++
	}
	return c
}

// recipientLabel is how a recipient reads in the list: the name, and what
// tells two namesakes apart (a student's classes, a teacher's, a relative's
// children when the user may write to them too).
func recipientLabel(u ent.User, names map[string]string) string {
	switch u.Profile {
	case ent.Student, ent.Teacher:
		if len(u.Classes) > 0 {
			return fmt.Sprintf("%s (%s)", u.Name, strings.Join(u.Classes, ", "))
		}
	case ent.Relative:
		var kids []string
		for _, id := range u.Children {
			if n, ok := names[id]; ok {
				kids = append(kids, n)
			}
		}
		if len(kids) > 0 {
			return fmt.Sprintf("%s (responsable de %s)", u.Name, strings.Join(kids, ", "))
		}
	}
	return u.Name
}

// matches reports whether every search term is in u's name, login, classes
// or (a relative) their children's names, ignoring case and accents.
func matches(terms []string, u ent.User, names map[string]string) bool {
	if len(terms) == 0 {
		return true
	}
	hay := []string{u.Name, u.Login}
	hay = append(hay, u.Classes...)
	if u.Profile == ent.Relative {
		for _, id := range u.Children {
			hay = append(hay, names[id])
		}
	}
	h := fold(strings.Join(hay, " "))
	for _, t := range terms {
		if !strings.Contains(h, t) {
			return false
		}
	}
	return true
}

// fold lowercases s and strips its accents: "Léa" and "LEA" both read "lea".
func fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, s)
	if err != nil {
		out = s
	}
	return strings.ToLower(out)
}
