package ent

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"atrium/record"

	"github.com/google/uuid"
)

// The commands of a directory import (package importer builds them). All
// are operator commands: only central's import writes the directory.

// UserImportArgs are the arguments of "user.import": a person as the
// académie's directory describes them. The directory owns the identity
// fields (name, profile, lycée, classes, children, …); the account's life
// (password, activation code, activity) belongs to the ENT and is kept from
// the stored account, so an import never undoes an activation that
// happened meanwhile. User.ActivationHash is used only when the account is
// new.
type UserImportArgs struct {
	User User `json:"user"`
	// From is the partition that held the account before, when the person
	// moves from one lycée to another; "" otherwise.
	From string `json:"from,omitempty"`
}

func execUserImport(tx record.Tx, cmd record.Command) error {
	if !byOperator(cmd) {
		return rejectForbidden("Seul l'import de l'annuaire écrit les comptes de l'annuaire.")
	}
	a, err := decodeUserImportArgs(cmd.Args)
	if err != nil {
		return rejectInvalid("Commande mal formée.")
	}
	u := a.User
	if u.PasswordHash != "" || u.Profile == Region || u.JoinKey == "" {
		return rejectInvalid("Un compte importé n'a ni mot de passe ni profil régional, et a une clé de jointure.")
	}
	if u.MissingSince != 0 {
		// The directory no longer lists them: their children may have
		// left or moved meanwhile (in this very import). Keep those who
		// are still students here.
		kept := u.Children[:0:0]
		for _, c := range u.Children {
			child, ok, err := liveImported(tx, cmd.Partition, c)
			if err != nil {
				return err
			}
			if ok && child.Profile == Student {
				kept = append(kept, c)
			}
		}
		u.Children = kept
	}
	if err := checkImported(tx, cmd, u); err != nil {
		return err
	}
	from := cmd.Partition
	if a.From != "" {
		from = a.From
	}
	cur, old, had, err := liveUserRecord(tx, from, u.ID)
	if err != nil {
		return err
	}
	if !had && from != cmd.Partition {
		// Replayed after the move: the account is already in its new lycée.
		from = cmd.Partition
		if cur, old, had, err = liveUserRecord(tx, from, u.ID); err != nil {
			return err
		}
	}
	// The login must be free or this account's. The key index names one
	// record per login: when the stored account holds it already, it is
	// this account's and need not be looked up.
	if !had || cur.Key != u.Login {
		prev, ok, err := tx.ByKey(KindUser, u.Login)
		if err != nil {
			return err
		}
		if ok && prev.ID != u.ID {
			return record.Reject("conflict", "L'identifiant de connexion "+u.Login+" est déjà utilisé.")
		}
	}
	if had {
		u.PasswordHash, u.ActivationHash = old.PasswordHash, old.ActivationHash
	}
	u.Active = u.PasswordHash != "" && u.ActivationHash == "" && !u.Departed
	body := marshalUser(&u)
	if had && from != cmd.Partition {
		cur.Deleted, cur.Body = true, nil
		if err := tx.Put(cur); err != nil {
			return err
		}
	} else if had && bytes.Equal(cur.Body, body) {
		return nil // unchanged: the same set twice changes nothing
	}
	return tx.Put(record.Record{Partition: cmd.Partition, ID: u.ID, Kind: KindUser, Key: u.Login, Body: body})
}

// checkImported is checkUser, with the children an account names read
// by liveImported: a region's import checks hundreds of thousands of
// them. The refusals and their order are checkUser's.
func checkImported(tx record.Tx, cmd record.Command, u User) error {
	kids := u.Children
	u.Children = nil
	if err := checkUser(tx, cmd, u); err != nil {
		return err
	}
	if len(kids) > 0 && u.Profile != Relative {
		return rejectInvalid("Seul un responsable légal a des enfants rattachés.")
	}
	for _, c := range kids {
		child, ok, err := liveImported(tx, cmd.Partition, c)
		if err != nil {
			return err
		}
		if !ok || child.Profile != Student {
			return rejectInvalid("Enfant inconnu dans ce lycée : " + c + ".")
		}
	}
	return nil
}

// liveImported is liveUser, decoding the account without reflection when
// it is in the form user.import writes.
func liveImported(tx record.Tx, partition, id string) (User, bool, error) {
	_, u, ok, err := liveUserRecord(tx, partition, id)
	return u, ok, err
}

// decodeStoredUser decodes an account as decodeUser does.
func decodeStoredUser(b []byte) (User, error) {
	var u User
	if d := (jsonDecoder{b: b}); d.user(&u) && d.end() {
		return u, nil
	}
	return decodeUser(b)
}

// liveUserRecord is liveUser with the stored record.
func liveUserRecord(tx record.Tx, partition, id string) (record.Record, User, bool, error) {
	r, ok, err := tx.Get(partition, id)
	if err != nil || !ok || r.Deleted || r.Kind != KindUser {
		return record.Record{}, User{}, false, err
	}
	u, err := decodeStoredUser(r.Body)
	if err != nil {
		return record.Record{}, User{}, false, nil
	}
	return r, u, true, nil
}

// DirectoryEntry is one entry of an académie's directory view as the
// import keeps it (see directory.Entry): a structure, subject, MEF or
// person and the attributes the view needs to apply later Delta sets.
type DirectoryEntry struct {
	Category string              `json:"category"`
	ID       string              `json:"id"`
	Attrs    map[string][]string `json:"attrs,omitempty"`
}

// DirectoryBuckets is how many records hold an académie's view: entries
// are spread over them by a hash of their category and id, and each
// record holds its entries compressed. A region's view (hundreds of
// thousands of people) then costs a few hundred records, not one raft
// write per person, and a bucket nothing changed in is not written again.
const DirectoryBuckets = 64

// DirectoryArgs are the arguments of "directory.entries": one bucket of
// an académie's view, stored as its record's body. Data is the gzip of
// the bucket's entries, one JSON object per line, in (category, id)
// order; Hash the hex SHA-256 of those lines, so that an import compares
// buckets without decompressing them. Count zero with no Data empties the
// bucket.
type DirectoryArgs struct {
	Academie string `json:"academie"`
	Bucket   int    `json:"bucket"`
	Count    int    `json:"count"`
	Hash     string `json:"hash"`
	Data     []byte `json:"data,omitempty"`
}

// AppendDirectoryEntry appends e's encoding as json.Marshal gives it to b,
// without reflection: an import packs one per entry of the académie's
// view, and the view's buckets are compared by the hash of these bytes.
func AppendDirectoryEntry(b []byte, e DirectoryEntry) []byte {
	b = append(b, `{"category":`...)
	b = appendJSONString(b, e.Category)
	b = append(b, `,"id":`...)
	b = appendJSONString(b, e.ID)
	if len(e.Attrs) > 0 {
		b = append(b, `,"attrs":{`...)
		var small [16]string
		keys := small[:0]
		for k := range e.Attrs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			vs := e.Attrs[k]
			if vs == nil {
				b = append(b, "null"...)
				continue
			}
			b = append(b, '[')
			for j, v := range vs {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, v)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// directoryNamespace names the ids of the view's buckets (UUIDv5).
var directoryNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://atrium.region/directory-bucket"))

// DirectoryBucketID is the record id of a bucket of the académie's view.
func DirectoryBucketID(academie string, bucket int) string {
	return uuid.NewSHA1(directoryNamespace, []byte(academie+"\x00"+strconv.Itoa(bucket))).String()
}

// maxDirectoryBucket bounds a bucket's compressed data (a region's
// largest académie needs about a megabyte per bucket).
const maxDirectoryBucket = 32 << 20

func execDirectoryEntries(tx record.Tx, cmd record.Command) error {
	if !byOperator(cmd) {
		return rejectForbidden("Seul l'import de l'annuaire écrit la vue de l'annuaire.")
	}
	var a DirectoryArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	switch {
	case a.Academie == "" || strings.ContainsAny(a.Academie, ": \t\r\n") || cmd.Partition != DirectoryPartition(a.Academie):
		return rejectInvalid("Académie invalide pour la vue de l'annuaire.")
	case a.Bucket < 0 || a.Bucket >= DirectoryBuckets || a.Count < 0 || len(a.Data) > maxDirectoryBucket:
		return rejectInvalid("Partie de la vue de l'annuaire invalide.")
	case len(a.Hash) != 64 || (a.Count == 0) != (len(a.Data) == 0):
		return rejectInvalid("Partie de la vue de l'annuaire invalide.")
	}
	id := DirectoryBucketID(a.Academie, a.Bucket)
	cur, ok, err := tx.Get(cmd.Partition, id)
	if err != nil {
		return err
	}
	if ok && !cur.Deleted && bytes.Equal(cur.Body, cmd.Args) {
		return nil
	}
	return tx.Put(record.Record{Partition: cmd.Partition, ID: id, Kind: KindDirectoryEntry, Body: cmd.Args})
}

// ImportReportArgs are the arguments of "import.report": the report of an
// import run, stored in CentralPartition under a UUIDv7 minted by the run.
type ImportReportArgs struct {
	ID     string          `json:"id"`
	Report json.RawMessage `json:"report"`
}

const maxReport = 8 << 20

func execImportReport(tx record.Tx, cmd record.Command) error {
	if !byOperator(cmd) {
		return rejectForbidden("Seul l'import de l'annuaire enregistre ses rapports.")
	}
	var a ImportReportArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.ID) || cmd.Partition != CentralPartition || len(a.Report) == 0 || len(a.Report) > maxReport || !json.Valid(a.Report) {
		return rejectInvalid("Rapport d'import invalide.")
	}
	if done, err := existing(tx, CentralPartition, a.ID, KindImportReport); done || err != nil {
		return err
	}
	return tx.Put(record.Record{Partition: CentralPartition, ID: a.ID, Kind: KindImportReport, Body: a.Report})
}

// Every central node decodes the arguments of every user.import of a
// region's import (hundreds of thousands) and encodes the account it
// writes, so both are done without reflection when they are in the form
// the importer writes, with the guarantees of json.go: the result is
// exactly encoding/json's, anything else goes to encoding/json.
// FuzzUserImportArgs and FuzzMarshalUser hold them to that.

// decodeUserImportArgs decodes the arguments of user.import as
// json.Unmarshal does.
func decodeUserImportArgs(b []byte) (UserImportArgs, error) {
	var a UserImportArgs
	if d := (jsonDecoder{b: b}); d.importArgs(&a) {
		return a, nil
	}
	a = UserImportArgs{}
	err := json.Unmarshal(b, &a)
	return a, err
}

// jsonDecoder reads the plainest form of a JSON object of known members,
// each at most once (encoding/json matches keys case-insensitively and
// lets the last of a repeated key win: those cases go to it). Its methods
// report false for anything else.
type jsonDecoder struct {
	b []byte
	i int
}

// object reads an object, calling member for each key; member reads the
// value and reports false for a key it does not know or a repeated one.
func (d *jsonDecoder) object(member func(key []byte) bool) bool {
	d.i = skipSpace(d.b, d.i)
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return false
	}
	d.i = skipSpace(d.b, d.i+1)
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return true
	}
	for {
		key, next, plain := scanString(d.b, d.i)
		if next < 0 || !plain {
			return false
		}
		d.i = skipSpace(d.b, next)
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return false
		}
		d.i = skipSpace(d.b, d.i+1)
		if !member(key) {
			return false
		}
		d.i = skipSpace(d.b, d.i)
		if d.i >= len(d.b) {
			return false
		}
		switch d.b[d.i] {
		case '}':
			d.i++
			return true
		case ',':
			d.i = skipSpace(d.b, d.i+1)
		default:
			return false
		}
	}
}

func (d *jsonDecoder) string(dst *string) bool {
	raw, next, plain := scanString(d.b, d.i)
	if next < 0 {
		return false
	}
	if plain {
		*dst = string(raw)
	} else if err := json.Unmarshal(d.b[d.i:next], dst); err != nil {
		return false
	}
	d.i = next
	return true
}

// strings reads an array of strings; [] gives an empty slice, not nil, as
// encoding/json does.
func (d *jsonDecoder) strings(dst *[]string) bool {
	if d.i >= len(d.b) || d.b[d.i] != '[' {
		return false
	}
	d.i = skipSpace(d.b, d.i+1)
	out := []string{}
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		*dst = out
		return true
	}
	for {
		var s string
		if !d.string(&s) {
			return false
		}
		out = append(out, s)
		d.i = skipSpace(d.b, d.i)
		if d.i >= len(d.b) {
			return false
		}
		switch d.b[d.i] {
		case ']':
			d.i++
			*dst = out
			return true
		case ',':
			d.i = skipSpace(d.b, d.i+1)
		default:
			return false
		}
	}
}

func (d *jsonDecoder) bool(dst *bool) bool {
	switch {
	case bytes.HasPrefix(d.b[d.i:], []byte("true")):
		*dst, d.i = true, d.i+4
	case bytes.HasPrefix(d.b[d.i:], []byte("false")):
		*dst, d.i = false, d.i+5
	default:
		return false
	}
	return true
}

// int reads an integer written as encoding/json writes one: no fraction,
// no exponent, no leading zero.
func (d *jsonDecoder) int(dst *int64) bool {
	j := d.i
	if j < len(d.b) && d.b[j] == '-' {
		j++
	}
	start := j
	for j < len(d.b) && d.b[j] >= '0' && d.b[j] <= '9' {
		j++
	}
	if j == start || (d.b[start] == '0' && j > start+1) {
		return false
	}
	v, err := strconv.ParseInt(string(d.b[d.i:j]), 10, 64)
	if err != nil {
		return false
	}
	*dst, d.i = v, j
	return true
}

// end reports whether only white space is left.
func (d *jsonDecoder) end() bool { return skipSpace(d.b, d.i) == len(d.b) }

func (d *jsonDecoder) importArgs(a *UserImportArgs) bool {
	var seen [2]bool
	once := func(k int) bool {
		if seen[k] {
			return false
		}
		seen[k] = true
		return true
	}
	return d.object(func(key []byte) bool {
		switch string(key) {
		case "user":
			return once(0) && d.user(&a.User)
		case "from":
			return once(1) && d.string(&a.From)
		}
		return false
	}) && d.end()
}

// userFields are User's JSON names, in its order.
var userFields = [...]string{"id", "login", "name", "profile", "uai", "passwordHash", "active", "children",
	"joinKey", "jointure", "surname", "givenName", "birthDate", "classes", "subjects", "functions",
	"missingSince", "departed", "admin", "activationHash"}

func (d *jsonDecoder) user(u *User) bool {
	var seen [len(userFields)]bool
	return d.object(func(key []byte) bool {
		k := -1
		for i, f := range userFields {
			if string(key) == f {
				k = i
				break
			}
		}
		if k < 0 || seen[k] {
			return false
		}
		seen[k] = true
		switch k {
		case 0:
			return d.string(&u.ID)
		case 1:
			return d.string(&u.Login)
		case 2:
			return d.string(&u.Name)
		case 3:
			return d.string(&u.Profile)
		case 4:
			return d.string(&u.UAI)
		case 5:
			return d.string(&u.PasswordHash)
		case 6:
			return d.bool(&u.Active)
		case 7:
			return d.strings(&u.Children)
		case 8:
			return d.string(&u.JoinKey)
		case 9:
			return d.string(&u.Jointure)
		case 10:
			return d.string(&u.Surname)
		case 11:
			return d.string(&u.GivenName)
		case 12:
			return d.string(&u.BirthDate)
		case 13:
			return d.strings(&u.Classes)
		case 14:
			return d.strings(&u.Subjects)
		case 15:
			return d.strings(&u.Functions)
		case 16:
			return d.int(&u.MissingSince)
		case 17:
			return d.bool(&u.Departed)
		case 18:
			return d.bool(&u.Admin)
		default:
			return d.string(&u.ActivationHash)
		}
	})
}

// MarshalUserImportArgs encodes a as json.Marshal does, without
// reflection: the importer encodes one per person of a region.
func MarshalUserImportArgs(a UserImportArgs) []byte {
	b := make([]byte, 0, 32+len(a.From)+userSize(&a.User))
	b = append(b, `{"user":`...)
	b = appendUser(b, &a.User)
	if a.From != "" {
		b = append(b, `,"from":`...)
		b = appendJSONString(b, a.From)
	}
	return append(b, '}')
}

// marshalUser encodes u as json.Marshal does.
func marshalUser(u *User) []byte { return appendUser(make([]byte, 0, userSize(u)), u) }

// userSize is about the size of u's encoding.
func userSize(u *User) int {
	n := 256 + len(u.ID) + len(u.Login) + len(u.Name) + len(u.JoinKey) + len(u.Jointure) + len(u.Surname) +
		len(u.GivenName) + len(u.PasswordHash) + len(u.ActivationHash) + 40*len(u.Children)
	for _, s := range [][]string{u.Classes, u.Subjects, u.Functions} {
		for _, v := range s {
			n += len(v) + 3
		}
	}
	return n
}

// appendUser appends u's encoding as json.Marshal gives it to b.
func appendUser(b []byte, u *User) []byte {
	str := func(name, v string) {
		b = append(b, name...)
		b = appendJSONString(b, v)
	}
	list := func(name string, vs []string) {
		if len(vs) == 0 {
			return
		}
		b = append(b, name...)
		for i, v := range vs {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, v)
		}
		b = append(b, ']')
	}
	str(`{"id":`, u.ID)
	str(`,"login":`, u.Login)
	str(`,"name":`, u.Name)
	str(`,"profile":`, u.Profile)
	if u.UAI != "" {
		str(`,"uai":`, u.UAI)
	}
	str(`,"passwordHash":`, u.PasswordHash)
	b = append(b, `,"active":`...)
	b = strconv.AppendBool(b, u.Active)
	list(`,"children":[`, u.Children)
	for _, f := range []struct{ name, v string }{
		{`,"joinKey":`, u.JoinKey}, {`,"jointure":`, u.Jointure}, {`,"surname":`, u.Surname},
		{`,"givenName":`, u.GivenName}, {`,"birthDate":`, u.BirthDate},
	} {
		if f.v != "" {
			str(f.name, f.v)
		}
	}
	list(`,"classes":[`, u.Classes)
	list(`,"subjects":[`, u.Subjects)
	list(`,"functions":[`, u.Functions)
	if u.MissingSince != 0 {
		b = append(b, `,"missingSince":`...)
		b = strconv.AppendInt(b, u.MissingSince, 10)
	}
	if u.Departed {
		b = append(b, `,"departed":true`...)
	}
	if u.Admin {
		b = append(b, `,"admin":true`...)
	}
	if u.ActivationHash != "" {
		str(`,"activationHash":`, u.ActivationHash)
	}
	return append(b, '}')
}
