package directory_test

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"atrium/ent"
	"atrium/ent/aaf"
	"atrium/ent/directory"
	"atrium/ent/enttest"
	"atrium/record"

	"github.com/google/go-cmp/cmp"
)

var academies = []string{"AIX-MARSEILLE", "NICE"}

func generate(t *testing.T, cfg aaf.GenConfig) (string, aaf.GenSummary) {
	t.Helper()
	dir := t.TempDir()
	sum, err := aaf.Generate(dir, cfg)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return dir, sum
}

// load applies the académie's files of one set (kind "Complet" or
// "Delta", date AAAAMMJJ) to im, in category order.
func load(t *testing.T, im *directory.Import, dir, kind, date string) {
	t.Helper()
	for _, cat := range aaf.CategoryOrder() {
		name := "ENT_" + im.Academie() + "_" + kind + "_" + date + "_" + cat + "_0000.xml"
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		r := aaf.NewReader(f)
		r.SetFile(name)
		im.SetFile(name)
		for {
			op, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := im.Apply(op); err != nil {
				t.Fatalf("Apply: %v", err)
			}
		}
		f.Close()
	}
}

func newImport(t *testing.T, acad string) *directory.Import {
	t.Helper()
	im, err := directory.NewImport(acad)
	if err != nil {
		t.Fatal(err)
	}
	return im
}

// importRegion imports every académie's Complet, reserving the logins of
// earlier académies, and returns the imports and all users.
func importRegion(t *testing.T, dir string) ([]*directory.Import, []ent.User) {
	t.Helper()
	var ims []*directory.Import
	var all []ent.User
	for _, a := range academies {
		im := newImport(t, a)
		im.Reserve(all)
		load(t, im, dir, "Complet", "20250901")
		ims = append(ims, im)
		all = append(all, im.Users()...)
	}
	return ims, all
}

func count(us []ent.User, profile string) int {
	n := 0
	for _, u := range us {
		if u.Profile == profile {
			n++
		}
	}
	return n
}

func TestCompletMatchesGenerator(t *testing.T) {
	dir, sum := generate(t, aaf.GenConfig{Lycees: 4, StudentsPerLycee: 90, Seed: 7})
	ims, users := importRegion(t, dir)
	for _, c := range []struct {
		profile string
		want    int
	}{{ent.Student, sum.Students}, {ent.Relative, sum.Relatives}, {ent.Teacher, sum.Teachers}, {ent.Personnel, sum.Staff}} {
		if got := count(users, c.profile); got != c.want {
			t.Errorf("users of profile %s = %d, want %d (the generator's summary)", c.profile, got, c.want)
		}
	}
	ids, logins := map[string]bool{}, map[string]bool{}
	siblings := 0
	for _, u := range users {
		if ids[u.ID] || logins[u.Login] {
			t.Errorf("user %+v: id or login not unique", u)
		}
		ids[u.ID], logins[u.Login] = true, true
		if u.Active || u.PasswordHash != "" {
			t.Errorf("user %s: Active %v, hash %q, want an inactive account without password", u.Login, u.Active, u.PasswordHash)
		}
		if len(u.Children) >= 2 {
			siblings++
		}
	}
	if siblings == 0 {
		t.Error("no relative has two children: siblings do not share relatives")
	}
	for _, im := range ims {
		if r := im.Rejected(); len(r) != 0 {
			t.Errorf("%s: rejected %v, want none", im.Academie(), r)
		}
		for _, w := range im.Warnings() {
			// The generator may give siblings in two lycées; a User has one.
			if !strings.Contains(w.Reason, "in another lycée") {
				t.Errorf("%s: warning %v", im.Academie(), w)
			}
		}
	}
	// Teachers carry classes and subjects; students classes and relatives.
	for _, p := range ims[0].People() {
		switch p.Profile {
		case ent.Teacher:
			if len(p.Teachings) == 0 || p.Teachings[0].Subject == "" {
				t.Errorf("teacher %s: teachings %v, want classes with subjects", p.Key, p.Teachings)
			}
		case ent.Student:
			if len(p.Classes) != 1 || len(p.Links) == 0 || !strings.HasPrefix(p.Key, "AIX-MARSEILLE:") {
				t.Errorf("student %+v: want one class, relatives and an AIX-MARSEILLE: key", p)
			}
		}
	}
}

func put(t *testing.T, st *enttest.Store, u ent.User) error {
	t.Helper()
	args, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	return st.Submit(t.Context(), record.Command{Origin: record.OriginCentral, Op: ent.OpUserPut, Partition: u.Partition(), Args: args, Time: 1})
}

func TestUsersPassUserPut(t *testing.T) {
	dir, _ := generate(t, aaf.GenConfig{Lycees: 3, StudentsPerLycee: 60, Seed: 3})
	_, users := importRegion(t, dir)
	st := enttest.New(ent.Exec)
	for _, u := range users {
		if u.Profile == ent.Relative {
			continue
		}
		if err := put(t, st, u); err != nil {
			t.Fatalf("user.put %+v: %v", u, err)
		}
	}
	// ent's user.put wants a relative's children to be active accounts:
	// activate the students as the account service will, then put the
	// relatives as imported.
	for _, u := range users {
		if u.Profile == ent.Student {
			u.Active = true
			if err := put(t, st, u); err != nil {
				t.Fatalf("activate %s: %v", u.Login, err)
			}
		}
	}
	for _, u := range users {
		if u.Profile == ent.Relative {
			if err := put(t, st, u); err != nil {
				t.Fatalf("user.put %+v: %v", u, err)
			}
		}
	}
}

func TestSameCompletTwiceChangesNothing(t *testing.T) {
	dir, _ := generate(t, aaf.GenConfig{Lycees: 2, StudentsPerLycee: 60, Seed: 5})
	ims, all := importRegion(t, dir)
	old := ims[0].Users() // the users the first run imported from AIX-MARSEILLE
	im := newImport(t, "AIX-MARSEILLE")
	im.Reserve(all)
	load(t, im, dir, "Complet", "20250901")
	r := im.Report(old)
	if len(r.Created)+len(r.Updated)+len(r.Disappeared)+len(r.Rejected) != 0 || r.Unchanged != len(old) || r.Unchanged == 0 {
		t.Errorf("second import: %s want all %d unchanged", r, len(old))
	}
	// Without Reserve, the same Complet gives the same users too.
	again := newImport(t, "AIX-MARSEILLE")
	load(t, again, dir, "Complet", "20250901")
	if d := directory.Diff(old, again.Users()); d.Unchanged != len(old) || len(d.Created)+len(d.Updated)+len(d.Disappeared) != 0 {
		t.Errorf("fresh import: created %d updated %d disappeared %d, want all unchanged", len(d.Created), len(d.Updated), len(d.Disappeared))
	}
	for _, w := range []string{"created 0", "updated 0", "unchanged ", "disappeared 0", "rejected 0"} {
		if !strings.Contains(r.String(), w) {
			t.Errorf("Report.String() = %q, want it to contain %q", r.String(), w)
		}
	}
}

func TestDeltaDay(t *testing.T) {
	dir, sum := generate(t, aaf.GenConfig{Lycees: 3, StudentsPerLycee: 150, DeltaDays: 1, Seed: 11})
	var created, disappeared, classChanges, classUpdates, relUpdated int
	for _, a := range academies {
		im := newImport(t, a)
		load(t, im, dir, "Complet", "20250901")
		old := im.Users()
		before := map[string][]directory.Class{}
		for _, p := range im.People() {
			before[p.Key] = p.Classes
		}
		im.Reserve(old)
		load(t, im, dir, "Delta", "20250902")
		r := im.Report(old)
		created += count(r.Created, ent.Student)
		disappeared += count(r.Disappeared, ent.Student)
		relUpdated += count(r.Updated, ent.Relative) + count(r.Disappeared, ent.Relative)
		// A relative of a departed student loses them: gone if it was the
		// last child here, else updated without them.
		gone := map[string]bool{}
		for _, u := range r.Disappeared {
			gone[u.ID] = true
		}
		for _, o := range old {
			if o.Profile != ent.Relative || !slices.ContainsFunc(o.Children, func(c string) bool { return gone[c] }) {
				continue
			}
			i := slices.IndexFunc(r.Updated, func(u ent.User) bool { return u.ID == o.ID })
			if !gone[o.ID] && (i < 0 || slices.ContainsFunc(r.Updated[i].Children, func(c string) bool { return gone[c] })) {
				t.Errorf("%s: relative %s of a departed student neither disappeared nor updated without them", a, o.Login)
			}
		}
		// A student changing class is updated, with nothing else changed;
		// other non-relatives are not.
		oldByID := map[string]ent.User{}
		for _, o := range old {
			oldByID[o.ID] = o
		}
		for _, u := range r.Updated {
			if u.Profile == ent.Relative {
				continue
			}
			o := oldByID[u.ID]
			if u.Profile == ent.Student && !slices.Equal(o.Classes, u.Classes) {
				classUpdates++
				o.Classes = u.Classes
				if diff := cmp.Diff(o, u); diff == "" {
					continue
				}
			}
			t.Errorf("%s: %s %s updated (-old +new):\n%s", a, u.Profile, u.Login, cmp.Diff(o, u))
		}
		if len(r.Rejected) != 0 {
			t.Errorf("%s: rejected %v", a, r.Rejected)
		}
		for _, p := range im.People() {
			if c, ok := before[p.Key]; ok && p.Profile == ent.Student && !slices.Equal(c, p.Classes) {
				classChanges++
			}
		}
		for _, u := range r.Updated {
			for _, o := range old {
				if o.ID == u.ID && o.Login != u.Login {
					t.Errorf("login of %s changed: %s to %s", u.ID, o.Login, u.Login)
				}
			}
		}
	}
	if created != sum.Arrivals || disappeared != sum.Departures || classChanges != sum.Changes {
		t.Errorf("delta: students created %d, disappeared %d, class changes %d; want %d, %d, %d",
			created, disappeared, classChanges, sum.Arrivals, sum.Departures, sum.Changes)
	}
	if classUpdates != classChanges {
		t.Errorf("students updated for a class change: %d, want %d", classUpdates, classChanges)
	}
	if relUpdated == 0 {
		t.Error("no relative updated or disappeared after departures")
	}
}

func add(id, cat string, attrs map[string][]string) aaf.Op {
	return aaf.Op{Kind: aaf.Add, ID: id, Category: cat, Attrs: attrs}
}

func student(sn, given, uai, rel string) map[string][]string {
	return map[string][]string{"sn": {sn}, "givenName": {given}, "ENTPersonStructRattach": {uai},
		"ENTEleveClasses": {uai + "$2NDE1"}, "ENTElevePersRelEleve": {rel + "$10$1$1$1$1"}}
}

func TestMalformedRecordsAreRejected(t *testing.T) {
	im := newImport(t, "nice")
	im.SetFile("ENT_NICE_Complet_20250901_Eleve_0000.xml")
	ops := []aaf.Op{
		add("1", aaf.Eleve, student("Martin", "Léa", "0060001U", "10")),
		add("2", aaf.Eleve, student("", "", "0060001U", "10")),          // no name
		add("3", aaf.Eleve, student("Roux", "Hugo", "0060001A", "10")),  // bad check letter
		add("4", aaf.Eleve, student("Martin", "Léa", "0060001U", "99")), // relative missing
		add("10", aaf.PersRelEleve, map[string][]string{"sn": {"Martin"}, "givenName": {"Anne"}, "ENTAuxPersRelEleveEleve": {"1", "4", "5"}}),
	}
	for _, op := range ops {
		if err := im.Apply(op); err != nil {
			t.Fatalf("Apply(%s): %v", op.ID, err)
		}
	}
	rej := im.Rejected()
	if len(rej) != 2 || rej[0].Record != "2" || rej[1].Record != "3" || !strings.Contains(rej[1].Reason, "UAI") || rej[0].File == "" {
		t.Errorf("Rejected() = %v, want records 2 (no name) and 3 (UAI) with the file", rej)
	}
	var reasons []string
	for _, w := range im.Warnings() {
		reasons = append(reasons, w.Record+": "+w.Reason)
	}
	want := []string{"4: relative 99 missing from the set", "10: student 5 missing from the set"}
	if !slices.Equal(reasons, want) {
		t.Errorf("Warnings() = %q, want %q", reasons, want)
	}
	us := im.Users()
	var got []string
	for _, u := range us {
		got = append(got, u.Login+" "+u.Profile+" "+strings.Join(u.Children, ","))
	}
	wantUsers := []string{
		"lea.martin Student ",
		"lea.martin2 Student ",
		// Links come from the student's side (which carries the flags):
		// student 4 names relative 99, not 10.
		"anne.martin Relative " + directory.UserID("NICE:1"),
	}
	if !slices.Equal(got, wantUsers) {
		t.Errorf("Users() = %q, want %q", got, wantUsers)
	}
	// The importer's one walk gives both.
	bothUsers, bothWarnings := im.UsersAndWarnings()
	if diff := cmp.Diff(us, bothUsers); diff != "" {
		t.Errorf("UsersAndWarnings() users differ from Users() (-Users +UsersAndWarnings):\n%s", diff)
	}
	if diff := cmp.Diff(im.Warnings(), bothWarnings); diff != "" {
		t.Errorf("UsersAndWarnings() warnings differ from Warnings() (-Warnings +UsersAndWarnings):\n%s", diff)
	}
	// A category before one already applied is refused.
	err := im.Apply(add("20", aaf.Eleve, student("Blanc", "Zoé", "0060001U", "10")))
	if !errors.Is(err, directory.ErrOrder) || !strings.Contains(err.Error(), "Eleve after PersRelEleve") {
		t.Errorf("Apply(Eleve after PersRelEleve) = %v, want ErrOrder", err)
	}
	if err := im.Apply(add("21", "Bogus", nil)); !errors.Is(err, directory.ErrCategory) {
		t.Errorf("Apply(category Bogus) = %v, want ErrCategory", err)
	}
	if _, err := directory.NewImport(" "); !errors.Is(err, directory.ErrAcademie) {
		t.Errorf("NewImport(\" \") = %v, want ErrAcademie", err)
	}
}

func TestLogins(t *testing.T) {
	im := newImport(t, "AIX-MARSEILLE")
	people := [][2]string{{"Léa", "Martin"}, {"Jean Pierre", "D'Agostino"}, {"Noël", "Œillet-Cœurdevey"}, {"Léa", "Martin"}, {"", "Rey"}}
	for i, p := range people {
		attrs := map[string][]string{"sn": {p[1]}, "givenName": {p[0]}, "title": {"ENS"}, "ENTPersonStructRattach": {"0130040Y"}}
		if err := im.Apply(add(string(rune('1'+i)), aaf.PersEducNat, attrs)); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, u := range im.Users() {
		got = append(got, u.Login)
	}
	want := []string{"lea.martin", "jean-pierre.dagostino", "noel.oeillet-coeurdevey", "lea.martin2", "rey"}
	if !slices.Equal(got, want) {
		t.Errorf("logins = %q, want %q", got, want)
	}
	// A reserved login stays with its id and is given to nobody else.
	im.Reserve([]ent.User{{ID: directory.UserID("AIX-MARSEILLE:4"), Login: "lea.martin"}, {ID: "someone-else", Login: "rey"}})
	got = nil
	for _, u := range im.Users() {
		got = append(got, u.Login)
	}
	want = []string{"lea.martin2", "jean-pierre.dagostino", "noel.oeillet-coeurdevey", "lea.martin", "rey2"}
	if !slices.Equal(got, want) {
		t.Errorf("logins with reserved ones = %q, want %q", got, want)
	}
}

func TestUserIDIsStable(t *testing.T) {
	// Ids of imported users must never change: they key the records.
	const want = "b9a9e394-7d9a-57e2-80a5-617b42fb5433"
	if got := directory.UserID("AIX-MARSEILLE:1000001"); got != want {
		t.Errorf("UserID(AIX-MARSEILLE:1000001) = %s, want %s", got, want)
	}
}

func TestProfiles(t *testing.T) {
	im := newImport(t, "NICE")
	for _, c := range []struct {
		id    string
		attrs map[string][]string
		want  string
	}{
		{"1", map[string][]string{"title": {"ENS"}}, ent.Teacher},
		{"2", map[string][]string{"title": {"DOC"}, "ENTPersonFonctions": {"0060001U$ENS$ENSEIGNEMENT$L0100$PHILOSOPHIE"}}, ent.Teacher},
		{"3", map[string][]string{"title": {"DIR"}, "ENTPersonFonctions": {"0060001U$DIR$DIRECTION$-$-"}}, ent.Personnel},
		{"4", map[string][]string{}, ent.Personnel},
	} {
		c.attrs["sn"] = []string{"Rey"}
		c.attrs["ENTPersonStructRattach"] = []string{"0060001U"}
		if err := im.Apply(add(c.id, aaf.PersEducNat, c.attrs)); err != nil {
			t.Fatal(err)
		}
		ps := im.People()
		if p := ps[len(ps)-1]; p.Profile != c.want {
			t.Errorf("PersEducNat %v: profile %s, want %s", c.attrs, p.Profile, c.want)
		}
	}
}

func TestEntriesLoadRoundTrip(t *testing.T) {
	dir, sum := generate(t, aaf.GenConfig{Lycees: 4, StudentsPerLycee: 60, DeltaDays: 2, Seed: 13})
	if sum.Arrivals+sum.Departures+sum.Changes == 0 {
		t.Fatal("the generator wrote empty Delta sets")
	}
	for _, a := range academies {
		im := newImport(t, a)
		load(t, im, dir, "Complet", "20250901")
		seeded := newImport(t, a)
		n := 0
		if err := im.Entries(func(e directory.Entry) error { n++; return seeded.Load(e) }); err != nil {
			t.Fatalf("Entries: %v", err)
		}
		if n <= im.Len() || seeded.Len() != im.Len() || len(seeded.Rejected()) != 0 {
			t.Fatalf("%s: %d entries, Len %d after Load, want %d persons plus structures and no rejection (%v)",
				a, n, seeded.Len(), im.Len(), seeded.Rejected())
		}
		same := func(when string) {
			t.Helper()
			if diff := cmp.Diff(im.Users(), seeded.Users()); diff != "" {
				t.Errorf("%s %s: Users() of the loaded view differ (-original +loaded):\n%s", a, when, diff)
			}
			if diff := cmp.Diff(im.People(), seeded.People()); diff != "" {
				t.Errorf("%s %s: People() of the loaded view differ (-original +loaded):\n%s", a, when, diff)
			}
		}
		same("after Load")
		for _, day := range []string{"20250902", "20250903"} {
			before := im.Users()
			load(t, im, dir, "Delta", day)
			load(t, seeded, dir, "Delta", day)
			if d := directory.Diff(before, im.Users()); len(d.Created)+len(d.Updated)+len(d.Disappeared) == 0 {
				t.Errorf("%s: Delta %s changed nothing", a, day)
			}
			same("after Delta " + day)
		}
		// Entries gives the same entries again.
		var first, second []directory.Entry
		im.Entries(func(e directory.Entry) error { first = append(first, e); return nil })
		im.Entries(func(e directory.Entry) error { second = append(second, e); return nil })
		if diff := cmp.Diff(first, second); diff != "" {
			t.Errorf("Entries is not deterministic:\n%s", diff)
		}
	}
	im := newImport(t, "NICE")
	if err := im.Load(directory.Entry{Category: "Bogus", ID: "1"}); !errors.Is(err, directory.ErrCategory) {
		t.Errorf("Load(category Bogus) = %v, want ErrCategory", err)
	}
}

func TestDirectoryFields(t *testing.T) {
	im := newImport(t, "NICE")
	im.SetFile("ENT_NICE_Complet_20250901_Eleve_0000.xml")
	ops := []aaf.Op{
		add("1", aaf.Eleve, map[string][]string{"sn": {"Martin"}, "givenName": {"Léa"}, "ENTPersonStructRattach": {"0060001U"},
			"ENTPersonJointure": {"AC-NICE$1"}, "ENTPersonDateNaissance": {"25/06/2010"},
			"ENTEleveClasses": {"0060001U$2NDE1", "0060001U$G2", "0060001U$2NDE1", "0130040Y$OTHER"}}),
		add("2", aaf.Eleve, map[string][]string{"sn": {"Roux"}, "ENTPersonStructRattach": {"0060001U"}, "ENTPersonDateNaissance": {"31/02/2010"}}),
		add("3", aaf.PersEducNat, map[string][]string{"sn": {"Blanc"}, "givenName": {"Noé"}, "title": {"ENS"}, "ENTPersonStructRattach": {"0060001U"},
			"ENTPersonFonctions":          {"0060001U$ENS$ENSEIGNEMENT$L1300$MATHEMATIQUES"},
			"ENTAuxEnsClassesMatieres":    {"0060001U$TLE2$MATHS", "0060001U$2NDE1$MATHS"},
			"ENTAuxEnsClasses":            {"0060001U$2NDE1", "0060001U$1ERE4"},
			"ENTAuxEnsMatiereEnseignEtab": {"0060001U$061300", "0060001U$030201", "0060001U$061300"}}),
		add("4", aaf.PersEducNat, map[string][]string{"sn": {"Rey"}, "title": {"DIR"}, "ENTPersonStructRattach": {"0060001U"},
			"ENTPersonFonctions": {"0060001U$DIR$DIRECTION$-$-", "0060001U$EDU$EDUCATION$-$-", "0130040Y$AAA$AILLEURS$-$-"}}),
		add("5", aaf.PersEducNat, map[string][]string{"sn": {"Vidal"}, "title": {"EDU"}, "ENTPersonStructRattach": {"0060001U"},
			"ENTPersonFonctions": {"0060001U$EDU$EDUCATION$-$-"}, "ENTPersonDateNaissance": {"1980-01-02"}}),
	}
	for _, op := range ops {
		if err := im.Apply(op); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]ent.User{}
	for _, u := range im.Users() {
		u.ID, u.Login, u.Name = "", "", ""
		got[u.JoinKey] = u
	}
	want := map[string]ent.User{
		"NICE:1": {Profile: ent.Student, UAI: "0060001U", JoinKey: "NICE:1", Jointure: "AC-NICE$1", Surname: "Martin", GivenName: "Léa",
			BirthDate: "2010-06-25", Classes: []string{"2NDE1", "G2"}},
		"NICE:2": {Profile: ent.Student, UAI: "0060001U", JoinKey: "NICE:2", Surname: "Roux"},
		"NICE:3": {Profile: ent.Teacher, UAI: "0060001U", JoinKey: "NICE:3", Surname: "Blanc", GivenName: "Noé",
			Classes: []string{"1ERE4", "2NDE1", "TLE2"}, Subjects: []string{"030201", "061300"}, Functions: []string{"ENS"}},
		"NICE:4": {Profile: ent.Personnel, UAI: "0060001U", JoinKey: "NICE:4", Surname: "Rey", Functions: []string{"DIR", "EDU"}, Admin: true},
		"NICE:5": {Profile: ent.Personnel, UAI: "0060001U", JoinKey: "NICE:5", Surname: "Vidal", Functions: []string{"EDU"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Users() directory fields (-want +got):\n%s", diff)
	}
	var reasons []string
	for _, w := range im.Warnings() {
		reasons = append(reasons, w.Record+": "+w.Reason)
	}
	wantWarn := []string{
		`2: malformed ENTPersonDateNaissance "31/02/2010" (want JJ/MM/AAAA)`,
		`5: malformed ENTPersonDateNaissance "1980-01-02" (want JJ/MM/AAAA)`,
	}
	if !slices.Equal(reasons, wantWarn) {
		t.Errorf("Warnings() = %q, want %q", reasons, wantWarn)
	}
}

func TestDiffFields(t *testing.T) {
	base := ent.User{ID: "1", Login: "lea.martin", Name: "Léa Martin", Profile: ent.Student, UAI: "0060001U",
		JoinKey: "NICE:1", Jointure: "AC-NICE$1", Surname: "Martin", GivenName: "Léa", BirthDate: "2010-06-25",
		Classes: []string{"2NDE1", "G2"}, Subjects: []string{"A"}, Functions: []string{"F"}, Children: []string{"x", "y"}}
	for _, c := range []struct {
		name    string
		change  func(u *ent.User)
		updated bool
	}{
		{"nothing", func(u *ent.User) {}, false},
		{"children order", func(u *ent.User) { u.Children = []string{"y", "x"} }, false},
		{"classes order", func(u *ent.User) { u.Classes = []string{"G2", "2NDE1"} }, false},
		{"password", func(u *ent.User) { u.PasswordHash, u.Active = "$argon2id$x", true }, false},
		{"activation", func(u *ent.User) { u.ActivationHash, u.MissingSince = "ab", 5 }, false},
		{"admin", func(u *ent.User) { u.Admin = true }, false},
		{"name", func(u *ent.User) { u.Name = "Léa Martin-Roux" }, true},
		{"profile", func(u *ent.User) { u.Profile = ent.Teacher }, true},
		{"uai", func(u *ent.User) { u.UAI = "0130040Y" }, true},
		{"children", func(u *ent.User) { u.Children = []string{"x"} }, true},
		{"join key", func(u *ent.User) { u.JoinKey = "NICE:2" }, true},
		{"jointure", func(u *ent.User) { u.Jointure = "AC-NICE$2" }, true},
		{"surname", func(u *ent.User) { u.Surname = "Roux" }, true},
		{"given name", func(u *ent.User) { u.GivenName = "Zoé" }, true},
		{"birth date", func(u *ent.User) { u.BirthDate = "" }, true},
		{"classes", func(u *ent.User) { u.Classes = []string{"2NDE1", "G3"} }, true},
		{"subjects", func(u *ent.User) { u.Subjects = nil }, true},
		{"functions", func(u *ent.User) { u.Functions = []string{"F", "G"} }, true},
	} {
		u := base
		c.change(&u)
		d := directory.Diff([]ent.User{base}, []ent.User{u})
		if got := len(d.Updated) == 1; got != c.updated || d.Unchanged+len(d.Updated) != 1 {
			t.Errorf("Diff after a change of %s: updated %v, unchanged %d; want updated %v", c.name, got, d.Unchanged, c.updated)
		}
	}
}
