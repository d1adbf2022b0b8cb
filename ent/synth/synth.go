package synth

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"atrium/ent"
	"atrium/record"

	"github.com/google/uuid"
)

// Account is a demo login and its clear password.
type Account struct {
	Login    string
	Password string
	Name     string
	Profile  string
	UAI      string // "" for Région staff
}

// The lycées of the synthetic region.
var Lycees = []ent.Lycee{
	{UAI: "0130040Y", Name: "Lycée Thiers", City: "Marseille"},
	{UAI: "0060030A", Name: "Lycée Masséna", City: "Nice"},
}

// base is the time of the first synthetic command (a school morning).
var base = time.Date(2026, time.January, 5, 8, 0, 0, 0, time.UTC)

type gen struct {
	rng  *rand.Rand
	at   time.Time
	cmds []record.Command
	accs []Account
}

// id mints a UUIDv7 for the current time from the seeded generator.
func (g *gen) id() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[8:], g.rng.Uint64())
	binary.BigEndian.PutUint64(b[0:8], uint64(g.at.UnixMilli())<<16|uint64(g.rng.Uint32()&0xffff))
	b[6] = 0x70 | b[6]&0x0f // version 7
	b[8] = 0x80 | b[8]&0x3f // RFC 4122 variant
	return uuid.UUID(b).String()
}

func (g *gen) add(user, op, partition string, args any) {
	b, err := json.Marshal(args)
	if err != nil {
		panic(fmt.Sprintf("synth: encode %s: %v", op, err))
	}
	g.cmds = append(g.cmds, record.Command{
		Origin: record.OriginCentral, User: user, Op: op, Partition: partition, Args: b, Time: g.at.UnixMilli(),
	})
	g.at = g.at.Add(7 * time.Minute)
}

func (g *gen) user(login, name, profile, uai, password string, children ...string) ent.User {
	return g.userIn(login, name, profile, uai, password, nil, children...)
}

// userIn is user with the classes of a student or a teacher, which the
// communication rules (ent.CanReach) read.
func (g *gen) userIn(login, name, profile, uai, password string, classes []string, children ...string) ent.User {
	hash, err := ent.HashPassword(password)
	if err != nil {
		panic(fmt.Sprintf("synth: hash password: %v", err))
	}
	// The lycées' demo staff accounts are their administrators (the
	// direction): they reset accounts and read the audit trail.
	u := ent.User{ID: g.id(), Login: login, Name: name, Profile: profile, UAI: uai,
		PasswordHash: hash, Active: true, Children: children, Classes: classes, Admin: profile == ent.Personnel}
	g.add("", ent.OpUserPut, u.Partition(), u)
	g.accs = append(g.accs, Account{Login: login, Password: password, Name: name, Profile: profile, UAI: uai})
	return u
}

func (g *gen) news(author ent.User, partition, title, body string) {
	g.add(author.ID, ent.OpNewsPublish, partition, ent.NewsArgs{ID: g.id(), Title: title, Body: body})
}

func (g *gen) message(from, to ent.User, subject, body string) {
	g.add(from.ID, ent.OpMessageSend, from.UAI, ent.MessageArgs{ID: g.id(), To: to.ID, Subject: subject, Body: body})
}

// Region returns the commands that build the synthetic region, in the
// order they must be executed, and the demo accounts.
//
// Lycée Thiers: lea.martin (student, 1B), her relative sophie.martin,
// paul.durand (teacher of 1B and TG2), nadia.benali (staff); then
// tom.garcia (student, 1B), hugo.bernard (student, 2C) and his relative
// karim.bernard. Lycée Masséna: ines.rossi (student, 2NDE3), her relative
// marc.rossi, claire.giordano (teacher of 2NDE3), julien.faure (staff).
// Every message it writes passes the communication rules (ent.CanReach).
func Region(seed int64) ([]record.Command, []Account) {
	g := &gen{rng: rand.New(rand.NewPCG(uint64(seed), 0x61747269756d)), at: base}
	for _, l := range Lycees {
		g.add("", ent.OpLyceePut, l.UAI, ent.LyceeArgs{ID: g.id(), Lycee: l})
	}
	agent := g.user("anne.lefebvre", "Anne Lefebvre", ent.Region, "", "demo-region")

	// Lycée Thiers, Marseille.
	thiers := Lycees[0].UAI
	lea := g.userIn("lea.martin", "Léa Martin", ent.Student, thiers, "demo-eleve-1", []string{"1B"})
	sophie := g.user("sophie.martin", "Sophie Martin", ent.Relative, thiers, "demo-parent-1", lea.ID)
	paul := g.userIn("paul.durand", "Paul Durand", ent.Teacher, thiers, "demo-prof-1", []string{"1B", "TG2"})
	nadia := g.user("nadia.benali", "Nadia Benali", ent.Personnel, thiers, "demo-perso-1")

	// Lycée Masséna, Nice.
	massena := Lycees[1].UAI
	ines := g.userIn("ines.rossi", "Inès Rossi", ent.Student, massena, "demo-eleve-2", []string{"2NDE3"})
	marc := g.user("marc.rossi", "Marc Rossi", ent.Relative, massena, "demo-parent-2", ines.ID)
	claire := g.userIn("claire.giordano", "Claire Giordano", ent.Teacher, massena, "demo-prof-2", []string{"2NDE3"})
	julien := g.user("julien.faure", "Julien Faure", ent.Personnel, massena, "demo-perso-2")

	g.news(agent, record.Region, "Rentrée de janvier : le point sur les transports scolaires",
		"Les lignes de car régionales reprennent leurs horaires habituels dès lundi. Les abonnements Zou ! restent valables jusqu'en juin.")
	g.news(nadia, thiers, "Réunion parents-professeurs des secondes",
		"La réunion parents-professeurs des classes de seconde aura lieu jeudi à 17 h 30 en salle polyvalente.")
	g.news(paul, thiers, "Sortie au MuCEM",
		"Les élèves de 1re B visiteront le MuCEM vendredi matin. Rendez-vous à 8 h 15 devant le lycée.")
	g.news(julien, massena, "Fermeture du CDI mercredi",
		"Le CDI sera exceptionnellement fermé mercredi après-midi pour l'inventaire annuel.")
	g.news(claire, massena, "Concours de mathématiques",
		"Les inscriptions au concours Kangourou sont ouvertes jusqu'au 30 janvier auprès de Mme Giordano.")
	g.news(agent, record.Region, "Un ordinateur portable pour chaque élève de seconde",
		"La Région équipe les élèves entrant en seconde. La distribution se fait dans chaque lycée avant les vacances de février.")

	g.message(paul, lea, "Exposé d'histoire", "Bonjour Léa, pense à m'envoyer le plan de ton exposé avant vendredi. Bonne journée, P. Durand")
	g.message(lea, paul, "Re: Exposé d'histoire", "Bonjour Monsieur, je vous l'envoie jeudi soir. Merci, Léa")
	g.message(sophie, paul, "Absence de Léa mardi", "Bonjour, Léa aura un rendez-vous médical mardi matin. Cordialement, S. Martin")
	g.message(claire, ines, "Concours Kangourou", "Bonjour Inès, je t'ai inscrite au concours comme tu le souhaitais.")
	g.message(marc, julien, "Certificat de scolarité", "Bonjour, pourriez-vous me transmettre un certificat de scolarité pour Inès ? Merci, M. Rossi")

	// More of Lycée Thiers, for the tests of the communication rules: a
	// classmate of Léa, and a student of another class with his relative.
	// They come last so that the accounts and ids above keep their order.
	g.userIn("tom.garcia", "Tom Garcia", ent.Student, thiers, "demo-eleve-3", []string{"1B"})
	hugo := g.userIn("hugo.bernard", "Hugo Bernard", ent.Student, thiers, "demo-eleve-4", []string{"2C"})
	g.user("karim.bernard", "Karim Bernard", ent.Relative, thiers, "demo-parent-3", hugo.ID)
	g.message(paul, hugo, "Cours de soutien", "Bonjour Hugo, le cours de soutien de mathématiques a lieu mercredi à 14 h en salle B12.")
	return g.cmds, g.accs
}
