package ent

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"atrium/ent/enttest"
	"atrium/record"
)

var importArgsSeeds = []string{
	`{"user":{"id":"5b6f0c4e-3f1a-5b52-9c1e-0a4b0e5c8d11","login":"lea.martin","name":"Léa Martin","profile":"student","uai":"0130040Y","passwordHash":"","active":false,"joinKey":"AIX-MARSEILLE:1000001","jointure":"1000001","surname":"MARTIN","givenName":"Léa","birthDate":"2008-04-02","classes":["2NDE3"],"activationHash":"ab"}}`,
	`{"user":{"id":"a","login":"b","name":"c","profile":"relative","uai":"0130040Y","passwordHash":"","active":false,"children":["x","y"],"joinKey":"K:1","missingSince":1767600000000,"departed":true},"from":"0060030A"}`,
	`{"user":{"id":"a","profile":"teacher","subjects":[],"functions":["DIR","ENS"],"admin":true,"active":true}}`,
	` { "user" : { "id" : "a" , "classes" : [ "1" , "2" ] } , "from" : "" }` + "\n",
	`{}`, `{"user":{}}`, `{"user":null}`, `null`, `[]`, ``, `{"user":{"id":"a"}} x`,
	`{"user":{"id":"a","id":"b"}}`, `{"user":{"ID":"a"}}`, `{"User":{"id":"a"}}`, `{"user":{"other":1}}`,
	`{"user":{"active":"true"}}`, `{"user":{"active":null}}`, `{"user":{"active":truex}}`,
	`{"user":{"missingSince":-0}}`, `{"user":{"missingSince":01}}`, `{"user":{"missingSince":1.5}}`,
	`{"user":{"missingSince":1e3}}`, `{"user":{"missingSince":9223372036854775808}}`, `{"user":{"missingSince":-}}`,
	`{"user":{"missingSince":"1"}}`, `{"user":{"children":null}}`, `{"user":{"children":[null]}}`,
	`{"user":{"children":["a",]}}`, `{"user":{"children":["a"}}`, `{"user":{"name":"a\nb\u00e9\ud83d\ude00\ud800"}}`,
	`{"user":{"name":"\x"}}`, `{"user":{"name":"caf` + "\xe9" + `"}}`, `{"user":{"name":"a` + "\x01" + `"}}`,
	`{"user":{"na\u006de":"x"}}`, `{"from":"a","from":"b"}`, `{"user":{"id":"a"},}`,
}

// FuzzUserImportArgs checks that decodeUserImportArgs gives exactly what
// json.Unmarshal gives, and fails exactly when it fails.
func FuzzUserImportArgs(f *testing.F) {
	for _, s := range importArgsSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want UserImportArgs
		wantErr := json.Unmarshal(b, &want)
		got, gotErr := decodeUserImportArgs(b)
		if (gotErr != nil) != (wantErr != nil) {
			t.Fatalf("decodeUserImportArgs(%q) error = %v, json.Unmarshal's = %v", b, gotErr, wantErr)
		}
		if wantErr == nil {
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("decodeUserImportArgs(%q) (-json.Unmarshal +got):\n%s", b, diff)
			}
		}
	})
}

func TestUserImportArgsFastPath(t *testing.T) {
	for _, s := range importArgsSeeds[:4] {
		var a UserImportArgs
		if d := (jsonDecoder{b: []byte(s)}); !d.importArgs(&a) {
			t.Errorf("importArgs(%s) took the slow path, want the fast one", s)
		}
	}
}

// FuzzMarshalUser checks marshalUser against json.Marshal.
func FuzzMarshalUser(f *testing.F) {
	for _, s := range jsonStringSeeds {
		f.Add(s, s, int64(0), uint8(0))
	}
	f.Add("a", "", int64(-1767600000000), uint8(0xff))
	f.Fuzz(func(t *testing.T, s, list string, missing int64, flags uint8) {
		var l []string
		if list != "" {
			l = strings.Split(list, ",")
		}
		u := User{ID: s, Login: s + "l", Name: s, Profile: s, UAI: list, PasswordHash: s, Active: flags&1 != 0,
			Children: l, JoinKey: s, Jointure: list, Surname: s, GivenName: list, BirthDate: s, Classes: l,
			Subjects: l, Functions: l, MissingSince: missing, Departed: flags&2 != 0, Admin: flags&4 != 0, ActivationHash: list}
		if flags&8 != 0 {
			u.Children, u.Classes = nil, []string{}
		}
		want, _ := json.Marshal(u)
		if got := marshalUser(&u); string(got) != string(want) {
			t.Fatalf("marshalUser(%+v) = %s, json.Marshal gives %s", u, got, want)
		}
	})
}

// TestUserFieldsKnown fails when User gains or renames a field: the fast
// decoder and marshalUser must learn it.
func TestUserFieldsKnown(t *testing.T) {
	var names []string
	ty := reflect.TypeOf(User{})
	for i := range ty.NumField() {
		names = append(names, strings.Split(ty.Field(i).Tag.Get("json"), ",")[0])
	}
	if diff := cmp.Diff(userFields[:], names); diff != "" {
		t.Errorf("userFields differ from User's JSON names (-userFields +User):\n%s", diff)
	}
}

// TestUserImportWritesAsJSON: what user.import stores, on each of its
// paths, is the JSON encoding/json gives of the account it describes.
func TestUserImportWritesAsJSON(t *testing.T) {
	const uai, other = "0130040Y", "0060030A"
	const hash = "$argon2id$v=19$m=65536,t=1,p=2$c2FsdA$aGFzaA"
	student := User{ID: "5b6f0c4e-3f1a-5b52-9c1e-0a4b0e5c8d11", Login: "lea.martin", Name: "Léa <Martin> & fils", Profile: Student,
		UAI: uai, JoinKey: "AIX-MARSEILLE:1000001", Jointure: "1000001", Surname: "MARTIN", GivenName: "Léa", BirthDate: "2008-04-02",
		Classes: []string{"2NDE3"}, ActivationHash: "ab"}
	relative := User{ID: "6b6f0c4e-3f1a-5b52-9c1e-0a4b0e5c8d12", Login: "sophie.martin", Name: "Sophie Martin", Profile: Relative,
		UAI: uai, JoinKey: "AIX-MARSEILLE:2000001", Children: []string{student.ID}}
	moved := student
	moved.UAI, moved.Classes = other, []string{"1ERE2"}
	activated := student
	activated.PasswordHash, activated.ActivationHash, activated.Active = hash, "", true
	cmd := func(u User, from string) record.Command {
		return record.Command{Origin: record.OriginCentral, Op: OpUserImport, Partition: u.Partition(), Time: 1,
			Args: mustMarshal(t, UserImportArgs{User: u, From: from})}
	}
	put := func(u User) record.Command {
		return record.Command{Origin: record.OriginCentral, Op: OpUserPut, Partition: u.Partition(), Time: 1, Args: mustMarshal(t, u)}
	}
	lycee := func(u string) record.Command {
		return record.Command{Origin: record.OriginCentral, Op: OpLyceePut, Partition: u, Time: 1,
			Args: mustMarshal(t, LyceeArgs{ID: "7b6f0c4e-3f1a-5b52-9c1e-0a4b0e5c8d1" + u[:1], Lycee: Lycee{UAI: u, Name: "Lycée", City: "Ville"}})}
	}
	tests := []struct {
		name  string
		cmds  []record.Command
		id    string
		where string
		want  User
	}{
		{"new account", []record.Command{cmd(student, "")}, student.ID, uai, student},
		{"relative of a student", []record.Command{cmd(student, ""), cmd(relative, "")}, relative.ID, uai, relative},
		{"activated meanwhile keeps its password", []record.Command{put(activated), cmd(student, "")}, student.ID, uai,
			func() User { u := student; u.PasswordHash, u.ActivationHash, u.Active = hash, "", true; return u }()},
		{"moved to another lycée", []record.Command{cmd(student, ""), cmd(moved, uai)}, student.ID, other, moved},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx := enttest.NewTx()
			for _, c := range append([]record.Command{lycee(uai), lycee(other)}, tt.cmds...) {
				if err := Exec(tx, c); err != nil {
					t.Fatalf("Exec(%s %s) = %v", c.Op, c.Args, err)
				}
			}
			r, ok, err := tx.Get(tt.where, tt.id)
			if err != nil || !ok || r.Deleted {
				t.Fatalf("Get(%s, %s) = %v, %v, %v; want the account", tt.where, tt.id, r, ok, err)
			}
			if want := mustMarshal(t, tt.want); string(r.Body) != string(want) {
				t.Errorf("stored %s, want json.Marshal's %s", r.Body, want)
			}
		})
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzMarshalUserImportArgs checks MarshalUserImportArgs against
// json.Marshal.
func FuzzMarshalUserImportArgs(f *testing.F) {
	for _, s := range jsonStringSeeds {
		f.Add(s, s, uint8(0))
	}
	f.Add("a", "", uint8(0xff))
	f.Fuzz(func(t *testing.T, s, from string, flags uint8) {
		a := UserImportArgs{User: User{ID: s, Login: s, Name: s, Profile: Relative, UAI: "0130040Y",
			Children: []string{s, from}, Classes: []string{from}, Active: flags&1 != 0, Admin: flags&2 != 0}, From: from}
		want, _ := json.Marshal(a)
		if got := MarshalUserImportArgs(a); string(got) != string(want) {
			t.Fatalf("MarshalUserImportArgs(%+v) = %s, json.Marshal gives %s", a, got, want)
		}
	})
}

// FuzzAppendDirectoryEntry checks AppendDirectoryEntry against
// json.Marshal: the view's buckets are compared by the hash of these
// bytes, so a difference would rewrite every bucket of the next import.
func FuzzAppendDirectoryEntry(f *testing.F) {
	for _, s := range jsonStringSeeds {
		f.Add(s, s, s, uint8(0))
	}
	f.Add("Eleve", "1000001", "sn", uint8(0xff))
	f.Fuzz(func(t *testing.T, cat, id, attr string, flags uint8) {
		e := DirectoryEntry{Category: cat, ID: id}
		switch flags % 4 {
		case 1:
			e.Attrs = map[string][]string{}
		case 2:
			e.Attrs = map[string][]string{attr: {id, cat}, "sn": {attr}, "givenName": nil, attr + "x": {}}
		case 3:
			e.Attrs = map[string][]string{}
			for i := range 20 {
				e.Attrs[attr+strconv.Itoa(i)] = []string{cat}
			}
		}
		want, _ := json.Marshal(e)
		if got := AppendDirectoryEntry([]byte("prefix"), e); string(got) != "prefix"+string(want) {
			t.Fatalf("AppendDirectoryEntry(%+v) = %s, json.Marshal gives prefix%s", e, got, want)
		}
	})
}

// TestUserImportChildren: user.import refuses the children it cannot
// link, with checkUser's refusals, in its order.
func TestUserImportChildren(t *testing.T) {
	const uai = "0130040Y"
	student := User{ID: "5b6f0c4e-3f1a-5b52-9c1e-0a4b0e5c8d11", Login: "lea.martin", Name: "Léa Martin", Profile: Student,
		UAI: uai, JoinKey: "K:1"}
	teacher := User{ID: "5b6f0c4e-3f1a-5b52-9c1e-0a4b0e5c8d13", Login: "paul.durand", Name: "Paul Durand", Profile: Teacher,
		UAI: uai, JoinKey: "K:3"}
	relative := func(p string, kids ...string) User {
		return User{ID: "6b6f0c4e-3f1a-5b52-9c1e-0a4b0e5c8d12", Login: "sophie.martin", Name: "Sophie Martin", Profile: p,
			UAI: uai, JoinKey: "K:2", Children: kids}
	}
	tests := []struct {
		name string
		u    User
		want string // the refusal's message; "" accepted
	}{
		{"a student", relative(Relative, student.ID), ""},
		{"two children, one unknown", relative(Relative, student.ID, "7b6f0c4e-3f1a-5b52-9c1e-0a4b0e5c8d19"),
			"Enfant inconnu dans ce lycée : 7b6f0c4e-3f1a-5b52-9c1e-0a4b0e5c8d19."},
		{"a teacher is no child", relative(Relative, teacher.ID), "Enfant inconnu dans ce lycée : " + teacher.ID + "."},
		{"children of a teacher", relative(Teacher, student.ID), "Seul un responsable légal a des enfants rattachés."},
		{"invalid name first", func() User { u := relative(Teacher, "x"); u.Name = ""; return u }(), "Le nom est obligatoire."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx := enttest.NewTx()
			cmds := []record.Command{{Origin: record.OriginCentral, Op: OpLyceePut, Partition: uai, Time: 1,
				Args: mustMarshal(t, LyceeArgs{ID: "7b6f0c4e-3f1a-5b52-9c1e-0a4b0e5c8d10", Lycee: Lycee{UAI: uai, Name: "Lycée", City: "Ville"}})}}
			for _, u := range []User{student, teacher} {
				cmds = append(cmds, record.Command{Origin: record.OriginCentral, Op: OpUserImport, Partition: uai, Time: 1,
					Args: MarshalUserImportArgs(UserImportArgs{User: u})})
			}
			for _, c := range cmds {
				if err := Exec(tx, c); err != nil {
					t.Fatalf("Exec(%s %s) = %v", c.Op, c.Args, err)
				}
			}
			err := Exec(tx, record.Command{Origin: record.OriginCentral, Op: OpUserImport, Partition: uai, Time: 1,
				Args: MarshalUserImportArgs(UserImportArgs{User: tt.u})})
			got := ""
			if err != nil {
				var rej *record.Rejection
				if !errors.As(err, &rej) {
					t.Fatalf("user.import = %v, want a refusal or nothing", err)
				}
				got = rej.Message
			}
			if got != tt.want {
				t.Errorf("user.import(%s) refused with %q, want %q", tt.name, got, tt.want)
			}
		})
	}
}
