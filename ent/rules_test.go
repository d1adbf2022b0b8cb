package ent_test

import (
	"context"
	"testing"

	"atrium/ent"
	"atrium/ent/enttest"
	"atrium/record"

	"github.com/google/go-cmp/cmp"
)

// The people of the communication rules' tests: in lycée A, classes 1B and
// 2C; in lycée B, a class also named 1B.
var (
	rLea    = ent.User{ID: "01890000-0000-7000-8000-000000000101", Login: "lea", Name: "Léa Martin", Surname: "Martin", GivenName: "Léa", Profile: ent.Student, UAI: uaiA, Active: true, Classes: []string{"1B"}}
	rTom    = ent.User{ID: "01890000-0000-7000-8000-000000000102", Login: "tom", Name: "Tom Garcia", Surname: "Garcia", GivenName: "Tom", Profile: ent.Student, UAI: uaiA, Active: true, Classes: []string{"1B", "LATIN"}}
	rHugo   = ent.User{ID: "01890000-0000-7000-8000-000000000103", Login: "hugo", Name: "Hugo Bernard", Surname: "Bernard", GivenName: "Hugo", Profile: ent.Student, UAI: uaiA, Active: true, Classes: []string{"2C"}}
	rNoCls  = ent.User{ID: "01890000-0000-7000-8000-000000000104", Login: "nouveau", Name: "Zoé Nouvelle", Profile: ent.Student, UAI: uaiA, Active: true}
	rPaul   = ent.User{ID: "01890000-0000-7000-8000-000000000105", Login: "paul", Name: "Paul Durand", Surname: "Durand", GivenName: "Paul", Profile: ent.Teacher, UAI: uaiA, Active: true, Classes: []string{"1B", "TG2"}}
	rAnna   = ent.User{ID: "01890000-0000-7000-8000-000000000106", Login: "anna", Name: "Anna Petit", Surname: "Petit", GivenName: "Anna", Profile: ent.Teacher, UAI: uaiA, Active: true, Classes: []string{"2C"}}
	rNadia  = ent.User{ID: "01890000-0000-7000-8000-000000000107", Login: "nadia", Name: "Nadia Benali", Surname: "Benali", GivenName: "Nadia", Profile: ent.Personnel, UAI: uaiA, Active: true}
	rSophie = ent.User{ID: "01890000-0000-7000-8000-000000000108", Login: "sophie", Name: "Sophie Martin", Surname: "Martin", GivenName: "Sophie", Profile: ent.Relative, UAI: uaiA, Active: true, Children: []string{rLea.ID}}
	rKarim  = ent.User{ID: "01890000-0000-7000-8000-000000000109", Login: "karim", Name: "Karim Bernard", Surname: "Bernard", GivenName: "Karim", Profile: ent.Relative, UAI: uaiA, Active: true, Children: []string{rHugo.ID}}
	rGone   = ent.User{ID: "01890000-0000-7000-8000-00000000010a", Login: "parti", Name: "Jean Parti", Profile: ent.Student, UAI: uaiA, Active: false, Classes: []string{"1B"}}
	rAnne   = ent.User{ID: "01890000-0000-7000-8000-00000000010b", Login: "anne", Name: "Anne Lefebvre", Profile: ent.Region, Active: true}
	rInes   = ent.User{ID: "01890000-0000-7000-8000-00000000010c", Login: "ines", Name: "Inès Rossi", Profile: ent.Student, UAI: uaiB, Active: true, Classes: []string{"1B"}}
	rClaire = ent.User{ID: "01890000-0000-7000-8000-00000000010d", Login: "claire", Name: "Claire Giordano", Profile: ent.Teacher, UAI: uaiB, Active: true, Classes: []string{"1B"}}
)

var rulesUsers = []ent.User{rLea, rTom, rHugo, rNoCls, rPaul, rAnna, rNadia, rSophie, rKarim, rGone, rAnne, rInes, rClaire}

// children returns the users u lists as children, as a caller of CanReach
// looks them up.
func children(u ent.User) []ent.User {
	var out []ent.User
	for _, id := range u.Children {
		for _, c := range rulesUsers {
			if c.ID == id {
				out = append(out, c)
			}
		}
	}
	return out
}

func TestCanReach(t *testing.T) {
	tests := []struct {
		name     string
		from, to ent.User
		want     bool
	}{
		// A student.
		{"student to classmate", rLea, rTom, true},
		{"student to student of another class", rLea, rHugo, false},
		{"student to student of a class of the same name in another lycée", rLea, rInes, false},
		{"student without class to student", rNoCls, rLea, false},
		{"student to teacher of their class", rLea, rPaul, true},
		{"student to teacher of another class", rLea, rAnna, false},
		{"student to teacher of a class of the same name in another lycée", rLea, rClaire, false},
		{"student without class to teacher", rNoCls, rPaul, false},
		{"student to staff", rLea, rNadia, true},
		{"student without class to staff", rNoCls, rNadia, true},
		{"student to own relative", rLea, rSophie, true},
		{"student to a classmate's relative", rTom, rSophie, false},
		{"student to another family's relative", rLea, rKarim, false},
		{"student to Région staff", rLea, rAnne, false},
		{"student to themselves", rLea, rLea, false},
		// A relative.
		{"relative to own child", rSophie, rLea, true},
		{"relative to own child's classmate", rSophie, rTom, false},
		{"relative to another family's child", rSophie, rHugo, false},
		{"relative to teacher of their child's class", rSophie, rPaul, true},
		{"relative to teacher of another class", rSophie, rAnna, false},
		{"relative to teacher of another class (other family)", rKarim, rPaul, false},
		{"relative to teacher of their child's class (other family)", rKarim, rAnna, true},
		{"relative to staff", rSophie, rNadia, true},
		{"relative to another relative", rSophie, rKarim, false},
		{"relative to Région staff", rSophie, rAnne, false},
		// A teacher.
		{"teacher to student of their class", rPaul, rLea, true},
		{"teacher to student of another class", rPaul, rHugo, true},
		{"teacher to student without class", rPaul, rNoCls, true},
		{"teacher to relative of their class", rPaul, rSophie, true},
		{"teacher to relative of another class", rPaul, rKarim, true},
		{"teacher to teacher", rPaul, rAnna, true},
		{"teacher to staff", rPaul, rNadia, true},
		{"teacher to student of another lycée", rPaul, rInes, false},
		{"teacher to teacher of another lycée", rPaul, rClaire, false},
		{"teacher to Région staff", rPaul, rAnne, false},
		// Staff.
		{"staff to student", rNadia, rHugo, true},
		{"staff to relative", rNadia, rKarim, true},
		{"staff to teacher", rNadia, rAnna, true},
		{"staff to student of another lycée", rNadia, rInes, false},
		// Région staff have no messaging.
		{"Région staff to student", rAnne, rLea, false},
		{"Région staff to staff", rAnne, rNadia, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ent.CanReach(tt.from, tt.to, children(tt.from)); got != tt.want {
				t.Errorf("CanReach(%s, %s) = %v, want %v", tt.from.Login, tt.to.Login, got, tt.want)
			}
		})
	}
}

// A relative's children the relative does not list do not widen what the
// relative reaches: only from.Children counts.
func TestCanReachIgnoresUnlistedChildren(t *testing.T) {
	if ent.CanReach(rSophie, rAnna, []ent.User{rHugo}) {
		t.Errorf("CanReach(sophie, anna, [hugo]) = true, want false: hugo is not sophie's child")
	}
	if ent.CanReach(rSophie, rPaul, nil) {
		t.Errorf("CanReach(sophie, paul, nil) = true, want false: the children's classes decide")
	}
}

// rulesTx holds the people of the communication rules' tests.
func rulesTx(t *testing.T) *enttest.Tx {
	t.Helper()
	tx := enttest.NewTx()
	// Students first: a relative's children must exist.
	for _, u := range rulesUsers {
		if u.Profile != ent.Relative {
			if err := ent.Exec(tx, userPut(t, u)); err != nil {
				t.Fatalf("put %s: %v", u.Login, err)
			}
		}
	}
	for _, u := range rulesUsers {
		if u.Profile == ent.Relative {
			if err := ent.Exec(tx, userPut(t, u)); err != nil {
				t.Fatalf("put %s: %v", u.Login, err)
			}
		}
	}
	return tx
}

// Exec enforces the rules: what CanReach refuses is a "forbidden"
// rejection that writes nothing and says only the rule of the author's
// profile.
func TestExecMessageRules(t *testing.T) {
	id := "01890000-0000-7000-8000-0000000001aa"
	tests := []struct {
		name     string
		from, to ent.User
		want     string // rejection code
		msg      string // the refusal's message, if refused
	}{
		{"student to classmate", rLea, rTom, "", ""},
		{"student to student of another class", rLea, rHugo, "forbidden",
			"Vous ne pouvez pas écrire à ce destinataire : un élève écrit aux élèves et aux enseignants de ses classes, aux personnels du lycée et à ses responsables légaux."},
		{"student to teacher of their class", rLea, rPaul, "", ""},
		{"student to teacher of another class", rLea, rAnna, "forbidden",
			"Vous ne pouvez pas écrire à ce destinataire : un élève écrit aux élèves et aux enseignants de ses classes, aux personnels du lycée et à ses responsables légaux."},
		{"student to another family's relative", rLea, rKarim, "forbidden",
			"Vous ne pouvez pas écrire à ce destinataire : un élève écrit aux élèves et aux enseignants de ses classes, aux personnels du lycée et à ses responsables légaux."},
		{"student to own relative", rLea, rSophie, "", ""},
		{"relative to teacher of the child's class", rSophie, rPaul, "", ""},
		{"relative to another family's child", rSophie, rHugo, "forbidden",
			"Vous ne pouvez pas écrire à ce destinataire : un responsable légal écrit aux enseignants des classes de ses enfants, aux personnels du lycée et à ses enfants."},
		{"relative to another relative", rSophie, rKarim, "forbidden",
			"Vous ne pouvez pas écrire à ce destinataire : un responsable légal écrit aux enseignants des classes de ses enfants, aux personnels du lycée et à ses enfants."},
		{"relative to staff", rKarim, rNadia, "", ""},
		{"teacher to student of another class", rPaul, rHugo, "", ""},
		{"staff to relative", rNadia, rKarim, "", ""},
		{"to an inactive student", rPaul, rGone, "not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx := &countingTx{Tx: rulesTx(t)}
			err := ent.Exec(tx, msgCmd(t, tt.from, uaiA, tt.to, id))
			if code(err) != tt.want {
				t.Fatalf("Exec(message %s → %s) = %v, want code %q", tt.from.Login, tt.to.Login, err, tt.want)
			}
			if tt.want != "" && tx.puts != 0 {
				t.Errorf("refused message wrote %d records", tx.puts)
			}
			if tt.want == "" && tx.puts != 1 {
				t.Errorf("accepted message wrote %d records, want 1", tx.puts)
			}
			if rej, ok := record.AsRejection(err); ok && tt.msg != "" && rej.Message != tt.msg {
				t.Errorf("refusal reads %q, want %q", rej.Message, tt.msg)
			}
		})
	}
}

// A relative's reach follows the child: once the child changes class (a
// directory import), the former class's teacher is out of reach and the
// new one within it.
func TestExecMessageRulesFollowTheChild(t *testing.T) {
	tx := rulesTx(t)
	moved := rLea
	moved.Classes = []string{"2C"}
	if err := ent.Exec(tx, userPut(t, moved)); err != nil {
		t.Fatal(err)
	}
	if err := ent.Exec(tx, msgCmd(t, rSophie, uaiA, rPaul, "01890000-0000-7000-8000-0000000001ab")); code(err) != "forbidden" {
		t.Errorf("relative to the former class's teacher = %v, want forbidden", err)
	}
	if err := ent.Exec(tx, msgCmd(t, rSophie, uaiA, rAnna, "01890000-0000-7000-8000-0000000001ac")); err != nil {
		t.Errorf("relative to the new class's teacher = %v, want accepted", err)
	}
}

// Recipients lists exactly the active users CanReach allows, by profile
// then name; Région staff have none.
func TestRecipients(t *testing.T) {
	st := enttest.New(ent.Exec)
	for _, pass := range []bool{false, true} {
		for _, u := range rulesUsers {
			if (u.Profile == ent.Relative) == pass {
				if err := st.Submit(context.Background(), userPut(t, u)); err != nil {
					t.Fatalf("put %s: %v", u.Login, err)
				}
			}
		}
	}
	svc, err := ent.NewService(ent.ServiceConfig{Store: st, Origin: record.OriginCentral, SessionKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user ent.User
		want []string // logins
	}{
		{rLea, []string{"nadia", "paul", "tom", "sophie"}},
		{rHugo, []string{"nadia", "anna", "karim"}},
		{rNoCls, []string{"nadia"}},
		{rSophie, []string{"nadia", "paul", "lea"}},
		{rKarim, []string{"nadia", "anna", "hugo"}},
		{rPaul, []string{"nadia", "anna", "hugo", "tom", "lea", "nouveau", "karim", "sophie"}},
		{rNadia, []string{"paul", "anna", "hugo", "tom", "lea", "nouveau", "karim", "sophie"}},
		{rInes, []string{"claire"}},
		{rAnne, nil},
	}
	for _, tt := range tests {
		us, err := svc.Recipients(t.Context(), tt.user)
		if err != nil {
			t.Fatalf("Recipients(%s): %v", tt.user.Login, err)
		}
		var got []string
		for _, u := range us {
			got = append(got, u.Login)
			if u.PasswordHash != "" || u.ActivationHash != "" {
				t.Errorf("Recipients(%s) returns the hashes of %s", tt.user.Login, u.Login)
			}
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Recipients(%s) (-want +got):\n%s", tt.user.Login, diff)
		}
	}
}
