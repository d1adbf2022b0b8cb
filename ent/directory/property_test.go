package directory_test

import (
	"fmt"
	"testing"

	"atrium/ent"
	"atrium/ent/aaf"
	"atrium/ent/directory"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestDeltasThenNextComplet is the import's property test: for generated
// regions of several seeds and sizes, importing the Complet, every Delta
// and then the next Complet (the state the Deltas produced, exported the
// day after) gives the same People and Users as importing that next
// Complet alone.
//
// Logins: an importer reserves every known user's login before each run
// (Reserve), so the chain reserves its users after each set, and the
// fresh import reserves the users the chain had before the next Complet
// (what the store would hold). With that, Users must be equal, logins
// included. Without Reserve, a fresh import may give other suffixes (a
// login freed by a departure goes to whoever comes first), so that case
// compares everything but Login.
func TestDeltasThenNextComplet(t *testing.T) {
	sizes := []struct{ lycees, students, days int }{
		{2, 30, 1},
		{3, 120, 3},
	}
	for seed := uint64(1); seed <= 5; seed++ {
		for _, size := range sizes {
			cfg := aaf.GenConfig{Lycees: size.lycees, StudentsPerLycee: size.students, DeltaDays: size.days, Seed: seed, NextComplet: true}
			t.Run(fmt.Sprintf("seed%d/%dx%d/%ddays", seed, size.lycees, size.students, size.days), func(t *testing.T) {
				dir, sum := generate(t, cfg)
				if sum.Arrivals == 0 || sum.Departures == 0 || sum.Changes == 0 {
					t.Fatalf("summary %+v: want arrivals, departures and class changes", sum)
				}
				day := func(d int) string { return sum.NextComplet.AddDate(0, 0, d-size.days-1).Format("20060102") }
				for _, a := range academies {
					chain := newImport(t, a)
					load(t, chain, dir, "Complet", day(0))
					chain.Reserve(chain.Users())
					for d := 1; d <= size.days; d++ {
						load(t, chain, dir, "Delta", day(d))
						chain.Reserve(chain.Users())
					}
					deltaUsers, deltaPeople := chain.Users(), chain.People()
					load(t, chain, dir, "Complet", day(size.days+1))
					users, people := chain.Users(), chain.People()

					// The next Complet changes nothing the Deltas built.
					if r := directory.Diff(deltaUsers, users); len(r.Created)+len(r.Updated)+len(r.Disappeared) != 0 || r.Unchanged != len(users) {
						t.Errorf("%s: next Complet after the Deltas: %s want all %d unchanged", a, r, len(users))
					}
					if diff := cmp.Diff(deltaPeople, people); diff != "" {
						t.Errorf("%s: People after the Deltas (-) and after the next Complet (+):\n%s", a, diff)
					}

					fresh := newImport(t, a)
					fresh.Reserve(deltaUsers)
					load(t, fresh, dir, "Complet", day(size.days+1))
					if diff := cmp.Diff(users, fresh.Users()); diff != "" {
						t.Errorf("%s: Users of the chain (-) and of the next Complet alone (+):\n%s", a, diff)
					}
					if diff := cmp.Diff(people, fresh.People()); diff != "" {
						t.Errorf("%s: People of the chain (-) and of the next Complet alone (+):\n%s", a, diff)
					}
					if r := fresh.Rejected(); len(r) != 0 {
						t.Errorf("%s: next Complet alone rejected %v", a, r)
					}

					noReserve := newImport(t, a)
					load(t, noReserve, dir, "Complet", day(size.days+1))
					if diff := cmp.Diff(users, noReserve.Users(), cmpopts.IgnoreFields(ent.User{}, "Login")); diff != "" {
						t.Errorf("%s: Users of the chain (-) and of the next Complet without Reserve (+), logins aside:\n%s", a, diff)
					}

					// The same Complet applied again changes nothing.
					again := newImport(t, a)
					again.Reserve(users)
					load(t, again, dir, "Complet", day(size.days+1))
					if r := again.Report(users); len(r.Created)+len(r.Updated)+len(r.Disappeared)+len(r.Rejected) != 0 || r.Unchanged != len(users) {
						t.Errorf("%s: next Complet applied again: %s want all %d unchanged", a, r, len(users))
					}
				}
			})
		}
	}
}
