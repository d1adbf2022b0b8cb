package portal

import (
	"fmt"
	"testing"

	"atrium/ent"
)

// A large lycée: 30 staff, 120 teachers, 1,500 students, 2,000 relatives,
// sorted by profile as Service.Recipients returns them.
func largeLycee() []ent.User {
	var us []ent.User
	add := func(profile string, n int) {
		for i := range n {
			u := ent.User{ID: fmt.Sprintf("%s-%d", profile, i), Login: fmt.Sprintf("%s.%04d", profile, i),
				Name: fmt.Sprintf("%s %04d", profile, i), Profile: profile}
			if profile == ent.Student || profile == ent.Teacher {
				u.Classes = []string{fmt.Sprintf("C%d", i%40)}
			}
			us = append(us, u)
		}
	}
	add(ent.Personnel, 30)
	add(ent.Teacher, 120)
	add(ent.Student, 1500)
	add(ent.Relative, 2000)
	return us
}

func TestRecipientChoiceLargeLycee(t *testing.T) {
	us := largeLycee()
	tests := []struct {
		name, query, selected string
		groups                []string
		shown                 int
		more                  bool
	}{
		{"whole groups while they fit", "", "", []string{"Personnels du lycée", "Enseignants"}, 150, true},
		{"a reply's recipient is listed too", "", "Student.0042", []string{"Personnels du lycée", "Enseignants", "Élèves"}, 151, true},
		{"a class", "c7", "", []string{"Enseignants", "Élèves"}, 3 + 38, false},
		{"too many matches", "student", "", []string{"Élèves"}, maxRecipientOptions, true},
		{"no match", "zzz", "", nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newRecipientChoice(us, tt.query, tt.selected)
			var groups []string
			for _, g := range c.Groups {
				groups = append(groups, g.Label)
			}
			if fmt.Sprint(groups) != fmt.Sprint(tt.groups) || c.Shown != tt.shown || c.More != tt.more || !c.Search || c.Total != len(us) {
				t.Errorf("newRecipientChoice(%q, %q) = groups %v, %d shown, more %v, search %v, total %d; want %v, %d, %v, true, %d",
					tt.query, tt.selected, groups, c.Shown, c.More, c.Search, c.Total, tt.groups, tt.shown, tt.more, len(us))
			}
		})
	}
}

func TestRecipientChoiceSmall(t *testing.T) {
	us := []ent.User{
		{ID: "1", Login: "nadia", Name: "Nadia Benali", Profile: ent.Personnel},
		{ID: "2", Login: "paul", Name: "Paul Durand", Profile: ent.Teacher, Classes: []string{"1B"}},
		{ID: "3", Login: "lea", Name: "Léa Martin", Profile: ent.Student, Classes: []string{"1B"}},
		{ID: "4", Login: "sophie", Name: "Sophie Martin", Profile: ent.Relative, Children: []string{"3"}},
	}
	c := newRecipientChoice(us, "", "paul")
	if c.Search || c.More || c.Shown != 4 {
		t.Errorf("small list: search %v, more %v, %d shown; want false, false, 4", c.Search, c.More, c.Shown)
	}
	var labels []string
	for _, g := range c.Groups {
		for _, o := range g.Options {
			labels = append(labels, fmt.Sprintf("%s:%s:%v", g.Label, o.Label, o.Selected))
		}
	}
	want := "[Personnels du lycée:Nadia Benali:false Enseignants:Paul Durand (1B):true Élèves:Léa Martin (1B):false Responsables légaux:Sophie Martin (responsable de Léa Martin):false]"
	if fmt.Sprint(labels) != want {
		t.Errorf("options = %v, want %s", labels, want)
	}
	if c := newRecipientChoice(us, "LÉA", ""); c.Shown != 2 {
		t.Errorf("search LÉA lists %d, want 2 (Léa and her mother)", c.Shown)
	}
}
