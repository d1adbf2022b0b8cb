package regiontest_test

import (
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"atrium/ent"
	"atrium/internal/regiontest"
	"atrium/record"
)

// visitPage GETs a page of a node as u and fails the test unless it succeeds
// (a visit counts only then).
func visitPage(t *testing.T, base string, u *regiontest.User, path string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+path, nil)
	req.Header.Set("Authorization", "Bearer "+u.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s%s as %s = %d, want 200", base, path, u.Login, resp.StatusCode)
	}
}

// usageCSV fetches a node's /statistiques.csv as u and returns its body.
func usageCSV(t *testing.T, base string, u *regiontest.User, query string) (string, error) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/statistiques.csv?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+u.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /statistiques.csv?%s = %d %s", query, resp.StatusCode, b)
	}
	return string(b), nil
}

// csvLines returns the lines of a usage export after its header, as
// "jour;uai;profil;service;visites;visiteurs".
func csvLines(body string) ([]string, error) {
	r := csv.NewReader(strings.NewReader(body))
	r.Comma = ';'
	rows, err := r.ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 || strings.Join(rows[0], ";") != "jour;uai;profil;service;visites;visiteurs" {
		return nil, fmt.Errorf("export header = %q, want jour;uai;profil;service;visites;visiteurs", rows)
	}
	var out []string
	for _, row := range rows[1:] {
		out = append(out, strings.Join(row, ";"))
	}
	return out, nil
}

// Visits made at an edge cut off from the region are counted there, wait
// in its outbox with the rest, and reach central's statistics when the
// link returns, added to the visits made at central: a person who visited
// at home and at school counts once, and no identity is stored.
func TestUsageCountsEdgeVisitsAfterAnOutage(t *testing.T) {
	r := regiontest.Start(t, regiontest.Options{UsageFlush: 100 * time.Millisecond})
	edge := r.Edge(lyceeA)
	base := r.AnyCentral().URL()
	teacher, student, relative := account(r, lyceeA, ent.Teacher), account(r, lyceeA, ent.Student), account(r, lyceeA, ent.Relative)

	// The edge counts visitors only once it holds the region's key.
	regiontest.Eventually(t, 20*time.Second, func() error {
		found := false
		err := edge.Node.Store().View(func(rd record.Reader) error {
			return rd.Scan(record.Region, ent.KindUsageKey, func(record.Record) error { found = true; return record.ErrStop })
		})
		if err == nil && !found {
			err = fmt.Errorf("edge %s has no usage key yet", lyceeA)
		}
		return err
	})

	day := ent.UsageDayOf(time.Now())
	query := "from=" + day + "&to=" + day + "&uai=" + lyceeA

	// At home, the teacher prepares the homework and the student looks at
	// the home page.
	atHome := login(t, base, teacher)
	visitPage(t, base, atHome, "/")
	visitPage(t, base, atHome, "/cahier-de-textes")
	studentAtHome := login(t, base, student)
	visitPage(t, base, studentAtHome, "/")

	r.CutWAN(lyceeA)
	r.WaitOffline(lyceeA)
	// At school, the student and a parent visit their services.
	for _, a := range []acct{student, relative} {
		u := login(t, edge.URL(), a)
		for _, path := range []string{"/", "/cahier-de-textes", "/notes", "/messagerie"} {
			visitPage(t, edge.URL(), u, path)
		}
	}
	// The edge's flush waits in its outbox.
	regiontest.Eventually(t, 20*time.Second, func() error {
		st := edge.Node.Store()
		cmds, err := st.Outbox(0, st.OutboxLen())
		if err != nil {
			return err
		}
		for _, c := range cmds {
			if c.Op == ent.OpUsageRecord && c.Partition == lyceeA {
				return nil
			}
		}
		return fmt.Errorf("edge outbox holds %d commands, none %s", len(cmds), ent.OpUsageRecord)
	})

	agent := r.Account("", ent.Region)
	region := login(t, base, acct{agent.Login, agent.Password})
	homeOnly := []string{
		day + ";" + lyceeA + ";Student;Accueil;1;1",
		day + ";" + lyceeA + ";Teacher;Accueil;1;1",
		day + ";" + lyceeA + ";Teacher;Cahier_Textes;1;1",
	}
	regiontest.Eventually(t, 20*time.Second, func() error {
		body, err := usageCSV(t, base, region, query)
		if err != nil {
			return err
		}
		lines, err := csvLines(body)
		if err != nil {
			return err
		}
		if !slices.Equal(lines, homeOnly) {
			return fmt.Errorf("central's statistics while the edge is cut off = %q, want %q", lines, homeOnly)
		}
		return nil
	})

	r.RestoreWAN(lyceeA)
	r.WaitSynced(lyceeA)
	want := []string{
		day + ";" + lyceeA + ";Relative;Accueil;1;1",
		day + ";" + lyceeA + ";Relative;Cahier_Textes;1;1",
		day + ";" + lyceeA + ";Relative;Courrier_Electronique;1;1",
		day + ";" + lyceeA + ";Relative;Notes;1;1",
		day + ";" + lyceeA + ";Student;Accueil;2;1", // at home and at school: one visitor
		day + ";" + lyceeA + ";Student;Cahier_Textes;1;1",
		day + ";" + lyceeA + ";Student;Courrier_Electronique;1;1",
		day + ";" + lyceeA + ";Student;Notes;1;1",
		day + ";" + lyceeA + ";Teacher;Accueil;1;1",
		day + ";" + lyceeA + ";Teacher;Cahier_Textes;1;1",
	}
	var body string
	regiontest.Eventually(t, 20*time.Second, func() error {
		var err error
		if body, err = usageCSV(t, base, region, query); err != nil {
			return err
		}
		lines, err := csvLines(body)
		if err != nil {
			return err
		}
		if !slices.Equal(lines, want) {
			return fmt.Errorf("central's statistics after the outage = %q, want %q", lines, want)
		}
		return nil
	})
	if day2 := ent.UsageDayOf(time.Now()); day2 != day {
		t.Skipf("the test ran across midnight (%s, %s)", day, day2)
	}

	// No login, id or name of those users is in the export nor in any
	// record of the usage partitions.
	var secrets []string
	err := r.AnyCentral().Node.View(func(rd record.Reader) error {
		for _, a := range []acct{teacher, student, relative} {
			rec, ok, err := rd.ByKey(ent.KindUser, a.login)
			if err != nil || !ok {
				return fmt.Errorf("user %s: %v, found %v", a.login, err, ok)
			}
			var u ent.User
			if err := json.Unmarshal(rec.Body, &u); err != nil {
				return err
			}
			secrets = append(secrets, a.login, u.ID, u.Name)
			if u.Surname != "" {
				secrets = append(secrets, u.Surname)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if strings.Contains(body, s) {
			t.Errorf("central's export holds %q:\n%s", s, body)
		}
	}
	parts, err := r.AnyCentral().Node.Partitions()
	if err != nil {
		t.Fatal(err)
	}
	records := 0
	err = r.AnyCentral().Node.View(func(rd record.Reader) error {
		for _, p := range parts {
			if !strings.HasPrefix(p, "usage:") {
				continue
			}
			for _, kind := range []string{ent.KindUsage, ent.KindUsageSets} {
				err := rd.Scan(p, kind, func(rec record.Record) error {
					records++
					text := string(rec.Body)
					var fields map[string]any
					if err := json.Unmarshal(rec.Body, &fields); err != nil {
						return err
					}
					if cells, ok := fields["cells"].(string); ok { // base64 of the cells' binary form
						raw, err := base64.StdEncoding.DecodeString(cells)
						if err != nil {
							return err
						}
						text += string(raw)
					}
					for _, s := range secrets {
						if strings.Contains(text, s) {
							t.Errorf("usage record %s/%s holds %q", p, rec.ID, s)
						}
					}
					return nil
				})
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if records != 2 {
		t.Errorf("central holds %d usage records, want 2 (the counts and the visitors' sets of %s's day)", records, lyceeA)
	}
}
