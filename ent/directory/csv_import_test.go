package directory_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"atrium/ent"
	"atrium/ent/aaf"
	"atrium/ent/directory"

	"github.com/google/go-cmp/cmp"
)

// The sample of docs/csv-import.md.
const csvSample = "ENT_AGRICULTURE_Complet_20250901_Agricole_0001.csv"

// loadCSV applies a CSV file of agricultural lycées to im, as the
// importer does: SetFile with its name, then every operation.
func loadCSV(t *testing.T, im *directory.Import, name string, data []byte) {
	t.Helper()
	r := aaf.NewCSVReader(bytes.NewReader(data))
	r.SetFile(name)
	im.SetFile(name)
	for {
		op, err := r.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := im.Apply(op); err != nil {
			t.Fatalf("Apply(%+v): %v", op, err)
		}
	}
}

// describe lists users as "login profile UAI children-logins", finding
// the children's logins in us and all.
func describe(us []ent.User, all ...ent.User) []string {
	login := map[string]string{}
	for _, u := range append(all, us...) {
		login[u.ID] = u.Login
	}
	var out []string
	for _, u := range us {
		var kids []string
		for _, c := range u.Children {
			kids = append(kids, login[c])
		}
		out = append(out, strings.TrimSpace(u.Login+" "+u.Profile+" "+u.UAI+" "+strings.Join(kids, ",")))
	}
	return out
}

func TestCSVImport(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "aaf", "testdata", csvSample))
	if err != nil {
		t.Fatal(err)
	}
	im := newImport(t, "AGRICULTURE")
	loadCSV(t, im, csvSample, data)

	const alp, com = "0130583N", "0840110N"
	want := []string{
		"lea.arnaud Student " + alp,
		"hugo.arnaud Student " + alp,
		"ines.benali Student " + alp,
		"noe.castel Student " + com,
		"claire.fabre Teacher " + alp,
		"jean-luc.meunier Teacher " + com,
		"sophie.rey Personnel " + alp,
		"paul.giraud Personnel " + com,
		"marie.arnaud Relative " + alp + " lea.arnaud,hugo.arnaud",
		"pierre.arnaud Relative " + alp + " lea.arnaud,hugo.arnaud",
		"karim.benali Relative " + alp + " ines.benali",
		"anne.castel Relative " + com + " noe.castel",
	}
	users := im.Users()
	if diff := cmp.Diff(want, describe(users)); diff != "" {
		t.Errorf("users of %s (-want +got):\n%s", csvSample, diff)
	}
	if id := directory.UserID("AGRICULTURE:E1001"); users[0].ID != id {
		t.Errorf("Léa's id = %s, want UserID(AGRICULTURE:E1001) = %s", users[0].ID, id)
	}
	if r := im.Rejected(); len(r) != 0 {
		t.Errorf("Rejected() = %v, want none", r)
	}
	// Samia Benali is not Inès's legal representative: no account, and
	// the report says why. No other warning: the lycées are known, every
	// responsable named is in the file.
	ws := im.Warnings()
	if len(ws) != 1 || ws[0].Record != "R2004" || !strings.Contains(ws[0].Reason, "no legal child") || ws[0].File != csvSample {
		t.Errorf("Warnings() = %v, want only R2004 without a legal child, in %s", ws, csvSample)
	}

	// What People carries beyond the accounts: classes, links, teachings.
	byID := map[string]directory.Person{}
	for _, p := range im.People() {
		byID[p.AAFID] = p
	}
	if got, want := byID["E1003"].Classes, []directory.Class{{UAI: alp, Name: "1ERE-STAV1"}}; !slices.Equal(got, want) {
		t.Errorf("E1003 classes = %v, want %v", got, want)
	}
	wantLinks := []directory.Link{{Relative: "R2003", Code: "20", Legal: true}, {Relative: "R2004", Code: "39"}}
	if got := byID["E1003"].Links; !slices.Equal(got, wantLinks) {
		t.Errorf("E1003 links = %+v, want %+v", got, wantLinks)
	}
	wantTeachings := []directory.Teaching{
		{Class: directory.Class{UAI: alp, Name: "2NDE-GT1"}, Subject: "AGRONOMIE"},
		{Class: directory.Class{UAI: alp, Name: "1ERE-STAV1"}, Subject: "BIOLOGIE-ECOLOGIE"},
		{Class: directory.Class{UAI: alp, Name: "TERM-STAV1"}},
	}
	if got := byID["P3001"].Teachings; !slices.Equal(got, wantTeachings) {
		t.Errorf("P3001 teachings = %+v, want %+v", got, wantTeachings)
	}
	if got, want := byID["P3001"].Subjects, []string{"AGRONOMIE", "BIOLOGIE-ECOLOGIE"}; !slices.Equal(got, want) {
		t.Errorf("P3001 subjects = %q, want %q", got, want)
	}
	if got, want := byID["P3004"].Functions, []string{com + "$CPE$EDUCATION$-$-", com + "$DOC$DOC$-$-"}; !slices.Equal(got, want) {
		t.Errorf("P3004 functions = %q, want %q", got, want)
	}

	// The next day's file is a new Complet: it replaces the view. Hugo
	// left, Jade arrived with her mother, Inès changed class.
	next := strings.NewReplacer(
		"eleve;E1002;Arnaud;Hugo;02/11/2007;0130583N;;TERM-STAV1;R2001:mere|R2002:pere;;\n",
		"eleve;E1005;Martin;Jade;05/05/2009;0840110N;;2NDE-PRO-CGEA;R2006:mere;;\n",
		"1ERE-STAV1;R2003", "TERM-STAV1;R2003",
		"responsable;R2005;Castel;Anne;;;;;;;\n",
		"responsable;R2005;Castel;Anne;;;;;;;\nresponsable;R2006;Martin;Sarah;;;;;;;\n",
	).Replace(string(data))
	name := strings.Replace(csvSample, "20250901", "20250902", 1)
	im.Reserve(users)
	loadCSV(t, im, name, []byte(next))
	r := im.Report(users)
	if got, want := describe(r.Created), []string{"jade.martin Student " + com, "sarah.martin Relative " + com + " jade.martin"}; !slices.Equal(got, want) {
		t.Errorf("created %q, want %q", got, want)
	}
	if got, want := describe(r.Disappeared), []string{"hugo.arnaud Student " + alp}; !slices.Equal(got, want) {
		t.Errorf("disappeared %q, want %q", got, want)
	}
	var relatives []ent.User
	for _, u := range r.Updated {
		if u.Profile == ent.Relative {
			relatives = append(relatives, u)
		}
	}
	if got, want := describe(relatives, users...), []string{"marie.arnaud Relative " + alp + " lea.arnaud", "pierre.arnaud Relative " + alp + " lea.arnaud"}; !slices.Equal(got, want) {
		t.Errorf("updated %q, want %q", got, want)
	}
	for _, p := range im.People() {
		if p.AAFID == "E1003" && (len(p.Classes) != 1 || p.Classes[0].Name != "TERM-STAV1") {
			t.Errorf("E1003 classes after the next file = %v, want TERM-STAV1", p.Classes)
		}
	}
}
