package synth

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"

	"atrium/ent"
	"atrium/record"
)

// Demo turns a region imported from the académies' (generated) AAF files
// into a demo: in each lycée it picks a student with a legal relative, a
// teacher of the student's class and a member of the direction, gives
// them known passwords (demo-eleve-N, demo-parent-N, demo-prof-N,
// demo-perso-N for the N-th lycée by UAI), adds a Région agent
// (anne.lefebvre / demo-region), and writes news and messages between
// them. users are the imported accounts of every lycée (as the operator
// API lists them). The commands are operator commands, in order.
func Demo(seed int64, users []ent.User) ([]record.Command, []Account, error) {
	g := &gen{rng: rand.New(rand.NewPCG(uint64(seed), 0x61747269756d)), at: base}
	byUAI := map[string][]ent.User{}
	for _, u := range users {
		if u.UAI != "" && u.Profile != ent.Region {
			byUAI[u.UAI] = append(byUAI[u.UAI], u)
		}
	}
	uais := make([]string, 0, len(byUAI))
	for k := range byUAI {
		uais = append(uais, k)
	}
	sort.Strings(uais)
	agent := g.user("anne.lefebvre", "Anne Lefebvre", ent.Region, "", "demo-region")
	g.news(agent, record.Region, "Rentrée de janvier : le point sur les transports scolaires",
		"Les lignes de car régionales reprennent leurs horaires habituels dès lundi. Les abonnements Zou ! restent valables jusqu'en juin.")
	for i, uai := range uais {
		us := byUAI[uai]
		sort.Slice(us, func(a, b int) bool { return us[a].Login < us[b].Login })
		student, relative, ok := studentWithRelative(us)
		if !ok {
			return nil, nil, fmt.Errorf("synth: lycée %s has no student with a legal relative", uai)
		}
		teacher, ok := first(us, func(u ent.User) bool {
			return u.Profile == ent.Teacher && slices.ContainsFunc(u.Classes, func(c string) bool { return slices.Contains(student.Classes, c) })
		})
		if !ok {
			// The rules that protect minors let a student write only to
			// the teachers of their classes.
			return nil, nil, fmt.Errorf("synth: lycée %s has no teacher of %s's classes", uai, student.Login)
		}
		staff, ok := first(us, func(u ent.User) bool { return u.Profile == ent.Personnel && u.Admin })
		if !ok {
			if staff, ok = first(us, func(u ent.User) bool { return u.Profile == ent.Personnel }); !ok {
				return nil, nil, fmt.Errorf("synth: lycée %s has no staff", uai)
			}
		}
		n := i + 1
		student = g.activate(student, fmt.Sprintf("demo-eleve-%d", n))
		relative = g.activate(relative, fmt.Sprintf("demo-parent-%d", n))
		teacher = g.activate(teacher, fmt.Sprintf("demo-prof-%d", n))
		staff = g.activate(staff, fmt.Sprintf("demo-perso-%d", n))

		g.news(staff, uai, "Réunion parents-professeurs",
			"La réunion parents-professeurs aura lieu jeudi à 17 h 30 en salle polyvalente.")
		g.news(teacher, uai, "Sortie au musée",
			"Les élèves de "+classOf(student)+" visiteront le musée vendredi matin. Rendez-vous à 8 h 15 devant le lycée.")
		g.message(teacher, student, "Exposé d'histoire",
			"Bonjour "+student.GivenName+", pense à m'envoyer le plan de ton exposé avant vendredi. Bonne journée.")
		g.message(student, teacher, "Re: Exposé d'histoire", "Bonjour, je vous l'envoie jeudi soir. Merci.")
		g.message(relative, teacher, "Absence mardi",
			"Bonjour, "+student.GivenName+" aura un rendez-vous médical mardi matin. Cordialement.")
		g.message(relative, staff, "Certificat de scolarité",
			"Bonjour, pourriez-vous me transmettre un certificat de scolarité ? Merci.")
	}
	g.news(agent, record.Region, "Un ordinateur portable pour chaque élève de seconde",
		"La Région équipe les élèves entrant en seconde. La distribution se fait dans chaque lycée avant les vacances de février.")
	return g.cmds, g.accs, nil
}

// activate gives an imported account a known password, as if its owner
// had activated it.
func (g *gen) activate(u ent.User, password string) ent.User {
	hash, err := ent.HashPassword(password)
	if err != nil {
		panic(fmt.Sprintf("synth: hash password: %v", err))
	}
	u.PasswordHash, u.ActivationHash, u.Active = hash, "", true
	g.add("", ent.OpUserPut, u.Partition(), u)
	g.accs = append(g.accs, Account{Login: u.Login, Password: password, Name: u.Name, Profile: u.Profile, UAI: u.UAI})
	return u
}

func studentWithRelative(us []ent.User) (student, relative ent.User, ok bool) {
	byID := map[string]ent.User{}
	for _, u := range us {
		byID[u.ID] = u
	}
	for _, r := range us {
		if r.Profile != ent.Relative {
			continue
		}
		for _, c := range r.Children {
			if s, found := byID[c]; found && s.Profile == ent.Student && len(s.Classes) > 0 {
				return s, r, true
			}
		}
	}
	return ent.User{}, ent.User{}, false
}

func first(us []ent.User, ok func(ent.User) bool) (ent.User, bool) {
	for _, u := range us {
		if ok(u) {
			return u, true
		}
	}
	return ent.User{}, false
}

func classOf(u ent.User) string {
	if len(u.Classes) > 0 {
		return u.Classes[0]
	}
	return "la classe"
}
