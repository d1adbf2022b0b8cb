package ent_test

import (
	"encoding/json"
	"testing"

	"atrium/ent"
	"atrium/ent/enttest"
	"atrium/record"
)

const (
	uaiA = "0130040Y"
	uaiB = "0060030A"
)

// fixture users, without passwords (Exec does not look at them).
var (
	teacherA   = ent.User{ID: "01890000-0000-7000-8000-000000000001", Login: "prof.a", Name: "Paul Durand", Profile: ent.Teacher, UAI: uaiA, Active: true, Classes: []string{"1B"}}
	staffA     = ent.User{ID: "01890000-0000-7000-8000-000000000002", Login: "perso.a", Name: "Nadia Benali", Profile: ent.Personnel, UAI: uaiA, Active: true}
	studentA   = ent.User{ID: "01890000-0000-7000-8000-000000000003", Login: "eleve.a", Name: "Léa Martin", Profile: ent.Student, UAI: uaiA, Active: true, Classes: []string{"1B"}}
	relativeA  = ent.User{ID: "01890000-0000-7000-8000-000000000004", Login: "parent.a", Name: "Sophie Martin", Profile: ent.Relative, UAI: uaiA, Active: true, Children: []string{studentA.ID}}
	formerA    = ent.User{ID: "01890000-0000-7000-8000-000000000005", Login: "ancien.a", Name: "Jean Ancien", Profile: ent.Teacher, UAI: uaiA, Active: false}
	teacherB   = ent.User{ID: "01890000-0000-7000-8000-000000000006", Login: "prof.b", Name: "Claire Giordano", Profile: ent.Teacher, UAI: uaiB, Active: true}
	studentB   = ent.User{ID: "01890000-0000-7000-8000-000000000007", Login: "eleve.b", Name: "Inès Rossi", Profile: ent.Student, UAI: uaiB, Active: true}
	regionUser = ent.User{ID: "01890000-0000-7000-8000-000000000008", Login: "agent", Name: "Anne Lefebvre", Profile: ent.Region, Active: true}
)

var fixtureUsers = []ent.User{teacherA, staffA, studentA, relativeA, formerA, teacherB, studentB, regionUser}

const t0 = int64(1767600000000) // 2026-01-05T08:00:00Z

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func userPut(t testing.TB, u ent.User) record.Command {
	return record.Command{Origin: record.OriginCentral, Op: ent.OpUserPut, Partition: u.Partition(), Args: mustJSON(t, u), Time: t0}
}

func newsCmd(t testing.TB, author ent.User, partition, id, title string) record.Command {
	return record.Command{Origin: record.OriginCentral, User: author.ID, Op: ent.OpNewsPublish, Partition: partition,
		Args: mustJSON(t, ent.NewsArgs{ID: id, Title: title, Body: "Texte."}), Time: t0 + 1000}
}

func msgCmd(t testing.TB, from ent.User, partition string, to ent.User, id string) record.Command {
	return record.Command{Origin: record.OriginCentral, User: from.ID, Op: ent.OpMessageSend, Partition: partition,
		Args: mustJSON(t, ent.MessageArgs{ID: id, To: to.ID, Subject: "Objet", Body: "Bonjour"}), Time: t0 + 2000}
}

// fixtureTx returns a transaction holding the fixture users.
func fixtureTx(t testing.TB) *enttest.Tx {
	t.Helper()
	tx := enttest.NewTx()
	for _, u := range fixtureUsers {
		if err := ent.Exec(tx, userPut(t, u)); err != nil {
			t.Fatalf("put %s: %v", u.Login, err)
		}
	}
	return tx
}

// countingTx counts writes, to prove a refused command writes nothing.
type countingTx struct {
	record.Tx
	puts int
}

func (c *countingTx) Put(r record.Record) error { c.puts++; return c.Tx.Put(r) }

func code(err error) string {
	if err == nil {
		return ""
	}
	if r, ok := record.AsRejection(err); ok {
		return r.Code
	}
	return "error: " + err.Error()
}

func TestExecRules(t *testing.T) {
	id := "01890000-0000-7000-8000-0000000000aa"
	tests := []struct {
		name string
		cmd  record.Command
		want string // rejection code, "" for accepted
	}{
		{"teacher publishes in own lycée", newsCmd(t, teacherA, uaiA, id, "Sortie"), ""},
		{"an edge cannot create or change an account", func() record.Command {
			c := userPut(t, ent.User{ID: id, Login: "intrus", Name: "Intrus", Profile: ent.Personnel, UAI: uaiA, Active: true})
			c.Origin = uaiA
			return c
		}(), "forbidden"},
		{"staff publishes in own lycée", newsCmd(t, staffA, uaiA, id, "Réunion"), ""},
		{"student cannot publish", newsCmd(t, studentA, uaiA, id, "Fête"), "forbidden"},
		{"relative cannot publish", newsCmd(t, relativeA, uaiA, id, "Fête"), "forbidden"},
		{"former teacher cannot publish", newsCmd(t, formerA, uaiA, id, "Fête"), "forbidden"},
		{"teacher of another lycée cannot publish", newsCmd(t, teacherB, uaiA, id, "Intrus"), "forbidden"},
		{"teacher cannot publish region-wide", newsCmd(t, teacherA, record.Region, id, "Région"), "forbidden"},
		{"region staff publishes region-wide", newsCmd(t, regionUser, record.Region, id, "Transports"), ""},
		{"region staff cannot publish in a lycée", newsCmd(t, regionUser, uaiA, id, "Transports"), "forbidden"},
		{"empty title", newsCmd(t, teacherA, uaiA, id, "  "), "invalid"},
		{"bad id", newsCmd(t, teacherA, uaiA, "x", "Sortie"), "invalid"},
		{"message within a lycée", msgCmd(t, studentA, uaiA, teacherA, id), ""},
		{"relative writes to a teacher", msgCmd(t, relativeA, uaiA, teacherA, id), ""},
		{"message to another lycée", msgCmd(t, studentA, uaiA, studentB, id), "not_found"},
		{"sender of another lycée", msgCmd(t, teacherB, uaiA, studentA, id), "forbidden"},
		{"message to oneself", msgCmd(t, studentA, uaiA, studentA, id), "invalid"},
		{"messages are not region-wide", msgCmd(t, regionUser, record.Region, studentA, id), "forbidden"},
		{"message to an inactive user", msgCmd(t, studentA, uaiA, formerA, id), "not_found"},
		{"users are put by operators only", func() record.Command {
			c := userPut(t, ent.User{ID: "01890000-0000-7000-8000-0000000000bb", Login: "pirate", Name: "P", Profile: ent.Teacher, UAI: uaiA, Active: true})
			c.User = studentA.ID
			return c
		}(), "forbidden"},
		{"login already taken", userPut(t, ent.User{ID: "01890000-0000-7000-8000-0000000000bb", Login: "eleve.a", Name: "Autre", Profile: ent.Student, UAI: uaiA, Active: true}), "conflict"},
		{"user in the wrong partition", func() record.Command {
			c := userPut(t, ent.User{ID: "01890000-0000-7000-8000-0000000000bb", Login: "x", Name: "X", Profile: ent.Student, UAI: uaiA, Active: true})
			c.Partition = uaiB
			return c
		}(), "invalid"},
		{"user with a bad UAI", userPut(t, ent.User{ID: "01890000-0000-7000-8000-0000000000bb", Login: "x", Name: "X", Profile: ent.Student, UAI: "0130040Z", Active: true}), "invalid"},
		{"lycée put by a user", record.Command{User: teacherA.ID, Op: ent.OpLyceePut, Partition: uaiA, Args: mustJSON(t, ent.LyceeArgs{ID: id, Lycee: ent.Lycee{UAI: uaiA, Name: "L", City: "C"}})}, "forbidden"},
		{"unknown op", record.Command{Op: "grades.put", Partition: uaiA}, "invalid"},
		{"malformed args", record.Command{User: teacherA.ID, Op: ent.OpNewsPublish, Partition: uaiA, Args: []byte("{"), Time: t0}, "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx := &countingTx{Tx: fixtureTx(t)}
			err := ent.Exec(tx, tt.cmd)
			if got := code(err); got != tt.want {
				t.Fatalf("Exec = %v (code %q), want code %q", err, got, tt.want)
			}
			if tt.want != "" {
				if tx.puts != 0 {
					t.Errorf("refused command wrote %d records", tx.puts)
				}
				if r, _ := record.AsRejection(err); r.Message == "" {
					t.Error("rejection without a message for its author")
				}
			} else if tx.puts != 1 {
				t.Errorf("accepted command wrote %d records, want 1", tx.puts)
			}
		})
	}
}

func TestExecIdempotent(t *testing.T) {
	id := "01890000-0000-7000-8000-0000000000cc"
	for _, cmd := range []record.Command{
		newsCmd(t, teacherA, uaiA, id, "Sortie"),
		msgCmd(t, studentA, uaiA, teacherA, id),
		userPut(t, studentA),
	} {
		tx := fixtureTx(t)
		if err := ent.Exec(tx, cmd); err != nil {
			t.Fatalf("%s: %v", cmd.Op, err)
		}
		before := tx.Records()
		c := &countingTx{Tx: tx}
		if err := ent.Exec(c, cmd); err != nil {
			t.Fatalf("%s again: %v", cmd.Op, err)
		}
		if c.puts != 0 {
			t.Errorf("%s retransmitted: wrote %d records, want 0", cmd.Op, c.puts)
		}
		if got := len(tx.Records()); got != len(before) {
			t.Errorf("%s retransmitted: %d records, want %d", cmd.Op, got, len(before))
		}
	}
}

func TestExecStoresAuthor(t *testing.T) {
	tx := fixtureTx(t)
	id := "01890000-0000-7000-8000-0000000000dd"
	if err := ent.Exec(tx, msgCmd(t, relativeA, uaiA, teacherA, id)); err != nil {
		t.Fatal(err)
	}
	r, ok, _ := tx.Get(uaiA, id)
	if !ok || r.Kind != ent.KindMessage {
		t.Fatalf("message %s not stored", id)
	}
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body["fromName"] != "Sophie Martin" || body["toLogin"] != "prof.a" || body["sent"] != float64(t0+2000) {
		t.Errorf("message body = %v", body)
	}
}

func TestPublishedToEdge(t *testing.T) {
	tests := []struct {
		r    record.Record
		want bool
	}{
		{record.Record{Partition: uaiA, Kind: ent.KindUser}, true},
		{record.Record{Partition: uaiA, Kind: ent.KindMessage}, true},
		{record.Record{Partition: record.Region, Kind: ent.KindNews}, true},
		{record.Record{Partition: record.Region, Kind: ent.KindUser}, false},
		{record.Record{Partition: uaiB, Kind: ent.KindNews}, false},
	}
	for _, tt := range tests {
		if got := ent.PublishedToEdge(uaiA, tt.r); got != tt.want {
			t.Errorf("PublishedToEdge(%s, %s/%s) = %v, want %v", uaiA, tt.r.Partition, tt.r.Kind, got, tt.want)
		}
	}
}

func FuzzExec(f *testing.F) {
	ops := []string{ent.OpUserPut, ent.OpLyceePut, ent.OpNewsPublish, ent.OpMessageSend}
	f.Add(uint8(2), uaiA, teacherA.ID, []byte(`{"id":"01890000-0000-7000-8000-0000000000aa","title":"t","body":"b"}`))
	f.Add(uint8(3), uaiA, studentA.ID, []byte(`{"id":"01890000-0000-7000-8000-0000000000aa","to":"`+teacherA.ID+`","subject":"s","body":"b"}`))
	f.Add(uint8(0), uaiA, "", []byte(`{"id":"x","login":"a"}`))
	f.Add(uint8(1), uaiA, "", []byte(`null`))
	tx := fixtureTx(f)
	f.Fuzz(func(t *testing.T, op uint8, partition, user string, args []byte) {
		dry := &dryTx{Tx: tx}
		cmd := record.Command{Op: ops[int(op)%len(ops)], Partition: partition, User: user, Args: args, Time: t0}
		err := ent.Exec(dry, cmd)
		if _, ok := record.AsRejection(err); ok && dry.puts != 0 {
			t.Fatalf("rejected %s wrote %d records", cmd.Op, dry.puts)
		}
	})
}

// dryTx reads the fixture but drops writes, so that every fuzz input runs
// against the same state.
type dryTx struct {
	record.Tx
	puts int
}

func (d *dryTx) Put(record.Record) error { d.puts++; return nil }
