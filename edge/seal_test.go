package edge

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"atrium/record"
)

// TestMain runs every test of the package on sealed stores, as on an
// appliance: a store opened without a key gets testDataKey.
func TestMain(m *testing.M) {
	testDataKey = bytes.Repeat([]byte{0x5a}, DataKeySize)
	os.Exit(m.Run())
}

// clearByDefault makes the stores the test opens without a key clear
// ones, as before encryption at rest.
func clearByDefault(t *testing.T) {
	t.Helper()
	saved := testDataKey
	testDataKey = nil
	t.Cleanup(func() { testDataKey = saved })
}

func newKey(b byte) []byte { return bytes.Repeat([]byte{b}, DataKeySize) }

func openKeyed(t *testing.T, path string, key []byte) *Store {
	t.Helper()
	s, err := OpenWith(path, testUAI, testExec, Options{DataKey: key})
	if err != nil {
		t.Fatalf("OpenWith(%s, key) = %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// What the tests write, and must not find in clear in the file.
const (
	secretMessage = "Rendez-vous chez la CPE pour ton absence de mardi"
	secretLogin   = "camille.martin42"
	secretCentral = "Note de mathematiques : 7,5 sur 20"
	secretStaged  = "Appreciation du conseil de classe"
	secretEdited  = "Bulletin corrige par le professeur principal"
)

// fillStore writes a value of every sealed bucket: records from a local
// command and from the feed, the outbox, an undo entry holding a record's
// previous bytes, and a staged record.
func fillStore(t *testing.T, s *Store) (msg, user, grade record.Record) {
	t.Helper()
	msg = record.Record{Partition: testUAI, ID: record.NewID(), Kind: "message", Body: []byte(`{"text":"` + secretMessage + `"}`)}
	user = record.Record{Partition: testUAI, ID: record.NewID(), Kind: "user", Key: secretLogin, Body: []byte(`{"login":"` + secretLogin + `"}`)}
	grade = record.Record{Partition: testUAI, ID: record.NewID(), Kind: "grade", Version: record.Version{Central: 3}, Seq: 3,
		Body: []byte(`{"text":"` + secretCentral + `"}`)}
	if err := s.ApplyChanges(testUAI, []record.Record{grade}, 3); err != nil {
		t.Fatalf("ApplyChanges = %v", err)
	}
	for _, r := range []record.Record{msg, user} {
		if err := s.Submit(t.Context(), putCmd(t, opPut, r)); err != nil {
			t.Fatalf("Submit(%s) = %v", r.Kind, err)
		}
	}
	edited := grade
	edited.Body = []byte(`{"text":"` + secretEdited + `"}`)
	if err := s.Submit(t.Context(), putCmd(t, opPut, edited)); err != nil { // its undo item keeps grade's bytes
		t.Fatalf("Submit(edited grade) = %v", err)
	}
	if err := s.BeginRepair(record.Region); err != nil {
		t.Fatal(err)
	}
	staged := record.Record{Partition: record.Region, ID: record.NewID(), Kind: "news", Seq: 1, Body: []byte(`{"text":"` + secretStaged + `"}`)}
	if err := s.StageChanges(record.Region, []record.Record{staged}); err != nil {
		t.Fatalf("StageChanges = %v", err)
	}
	return msg, user, edited
}

// clearTextIn returns the secrets found in clear in the file at path.
func clearTextIn(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, s := range []string{secretMessage, secretLogin, secretCentral, secretStaged, secretEdited} {
		if bytes.Contains(b, []byte(s)) {
			found = append(found, s)
		}
	}
	return found
}

// seenState is what a reader of the store sees of what fillStore wrote.
type seenState struct {
	Msg, Grade, User string // bodies; "" if missing
	ByLogin          string // the id ByKey finds for the login
	Outbox           []string
	Undo             []uint64
	Digest           record.Digest
}

func seeState(t *testing.T, s *Store, msg, user, grade record.Record) seenState {
	t.Helper()
	var st seenState
	err := s.View(func(rd record.Reader) error {
		for _, c := range []struct {
			r   record.Record
			out *string
		}{{msg, &st.Msg}, {grade, &st.Grade}, {user, &st.User}} {
			r, ok, err := rd.Get(c.r.Partition, c.r.ID)
			if err != nil {
				return err
			}
			if ok {
				*c.out = string(r.Body)
			}
		}
		r, ok, err := rd.ByKey("user", secretLogin)
		if ok {
			st.ByLogin = r.ID
		}
		return err
	})
	if err != nil {
		t.Fatalf("View = %v", err)
	}
	for _, c := range outbox(t, s) {
		st.Outbox = append(st.Outbox, string(c.Args))
	}
	if st.Undo, err = s.UndoPending(); err != nil {
		t.Fatal(err)
	}
	if st.Digest, _, _, err = s.Digest(testUAI); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestSealedStoreHoldsNoClearText(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	key := newKey(1)
	s := openKeyed(t, path, key)
	msg, user, grade := fillStore(t, s)
	want := seeState(t, s, msg, user, grade)
	if want.ByLogin != user.ID || want.Msg == "" || len(want.Outbox) != 3 || len(want.Undo) != 3 {
		t.Fatalf("state before close = %+v, want every value found", want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if found := clearTextIn(t, path); len(found) != 0 {
		t.Errorf("file holds in clear %q, want none", found)
	}

	s = openKeyed(t, path, key)
	if got := seeState(t, s, msg, user, grade); !cmp.Equal(got, want) {
		t.Errorf("reopened with the key: diff (-want +got):\n%s", cmp.Diff(want, got))
	}
	if d, err := s.RecomputeDigest(testUAI); err != nil || d != want.Digest {
		t.Errorf("RecomputeDigest = %x, %v, want %x", d, err, want.Digest)
	}
	// The staged record swaps in and reads back.
	if _, err := s.SwapStaged(record.Region, 1); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := s.View(func(rd record.Reader) error {
		return rd.Scan(record.Region, "news", func(record.Record) error { n++; return nil })
	}); err != nil || n != 1 {
		t.Errorf("Scan(region news) after SwapStaged = %d records, %v; want 1", n, err)
	}
}

func TestWrongDataKeyRefused(t *testing.T) {
	clearByDefault(t)
	path := filepath.Join(t.TempDir(), "edge.db")
	s := openKeyed(t, path, newKey(1))
	fillStore(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		key  []byte
		want error
	}{
		{"wrongKey", newKey(2), ErrWrongDataKey},
		{"noKey", nil, ErrDataKeyRequired},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := OpenWith(path, testUAI, testExec, Options{DataKey: c.key})
			if err == nil {
				s.Close()
			}
			if !errors.Is(err, c.want) {
				t.Errorf("OpenWith(%s) = %v, want %v", c.name, err, c.want)
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(after, before) {
				t.Errorf("OpenWith(%s) changed the file", c.name)
			}
		})
	}
	if _, err := OpenWith(path, testUAI, testExec, Options{DataKey: []byte("short")}); err == nil {
		t.Errorf("OpenWith(5-byte key) = nil error, want one")
	}
}

func TestClearStoreSealedAtOpen(t *testing.T) {
	clearByDefault(t)
	path := filepath.Join(t.TempDir(), "edge.db")
	s := openTest(t, path) // clear: written before encryption at rest
	msg, user, grade := fillStore(t, s)
	want := seeState(t, s, msg, user, grade)
	s.Close()
	if found := clearTextIn(t, path); len(found) != 5 {
		t.Fatalf("clear file holds %q in clear, want all 5 secrets (else the test proves nothing)", found)
	}

	key := newKey(7)
	s = openKeyed(t, path, key)
	if got := seeState(t, s, msg, user, grade); !cmp.Equal(got, want) {
		t.Errorf("sealed at open: diff (-want +got):\n%s", cmp.Diff(want, got))
	}
	if err := s.Submit(t.Context(), putCmd(t, opPut, record.Record{Partition: testUAI, ID: record.NewID(), Kind: "news"})); err != nil {
		t.Errorf("Submit after sealing = %v", err)
	}
	s.Close()
	if found := clearTextIn(t, path); len(found) != 0 {
		t.Errorf("file sealed at open holds in clear %q, want none", found)
	}
	if _, err := os.Stat(path + ".sealing"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("compaction left %s.sealing: %v", path, err)
	}
	s = openKeyed(t, path, key)
	if got := seeState(t, s, msg, user, grade); len(got.Outbox) != 4 || got.ByLogin != user.ID {
		t.Errorf("reopened = %+v, want 4 commands and the login found", got)
	}
	s.Close()
	if _, err := OpenWith(path, testUAI, testExec, Options{DataKey: newKey(8)}); !errors.Is(err, ErrWrongDataKey) {
		t.Errorf("OpenWith(other key) after sealing = %v, want ErrWrongDataKey", err)
	}
}

// A power cut in the middle of sealing in place: some records sealed,
// the marker names the last; the next open resumes and reads everything.
func TestSealingInPlaceResumes(t *testing.T) {
	clearByDefault(t)
	path := filepath.Join(t.TempDir(), "edge.db")
	s := openTest(t, path)
	msg, user, grade := fillStore(t, s)
	want := seeState(t, s, msg, user, grade)
	s.Close()

	key := newKey(9)
	sl, err := newSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRecords)
		k, v := b.Cursor().First()
		k, sealed := bytes.Clone(k), sl.seal(bucketRecords, k, v)
		if err := b.Put(k, sealed); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(metaSeal, sl.check()); err != nil {
			return err
		}
		return meta.Put(metaSealing, append([]byte{0}, k...))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	s = openKeyed(t, path, key)
	if got := seeState(t, s, msg, user, grade); !cmp.Equal(got, want) {
		t.Errorf("resumed sealing: diff (-want +got):\n%s", cmp.Diff(want, got))
	}
	s.Close()
	if found := clearTextIn(t, path); len(found) != 0 {
		t.Errorf("file holds in clear %q after the resumed sealing, want none", found)
	}
}

// A value moved to another key does not open: it is corrupt, not another
// record's body.
func TestSealedValueBoundToItsKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	s := openKeyed(t, path, newKey(1))
	msg, user, _ := fillStore(t, s)
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRecords)
		return b.Put(join(user.Partition, user.ID), bytes.Clone(b.Get(join(msg.Partition, msg.ID))))
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.View(func(rd record.Reader) error { _, _, err := rd.Get(user.Partition, user.ID); return err })
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("Get of a value moved from another key = %v, want ErrCorrupt", err)
	}
}

func TestLoadDataKey(t *testing.T) {
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	dir := t.TempDir()
	path := filepath.Join(dir, "identity", DataKeyFile)
	key, from, err := LoadDataKey(path)
	if err != nil || len(key) != DataKeySize {
		t.Fatalf("LoadDataKey(new) = %d bytes, %q, %v; want a 32-byte key", len(key), from, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file = %v, %v; want mode 0600", fi, err)
	}
	again, _, err := LoadDataKey(path)
	if err != nil || !bytes.Equal(again, key) {
		t.Errorf("LoadDataKey(again) = %x, %v; want the same key", again, err)
	}

	creds := t.TempDir()
	t.Setenv("CREDENTIALS_DIRECTORY", creds)
	cred := newKey(3)
	if err := os.WriteFile(filepath.Join(creds, DataKeyCredential), []byte(hex.EncodeToString(cred)+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	got, from, err := LoadDataKey(path)
	if err != nil || !bytes.Equal(got, cred) {
		t.Errorf("LoadDataKey with a credential = %x from %q, %v; want the credential %x", got, from, err, cred)
	}
	if err := os.WriteFile(filepath.Join(creds, DataKeyCredential), []byte("short"), 0o400); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadDataKey(path); err == nil {
		t.Errorf("LoadDataKey with a 5-byte credential = nil error, want one")
	}

	if err := ShredDataKey(path); err != nil {
		t.Fatalf("ShredDataKey = %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("key file after ShredDataKey: %v, want gone", err)
	}
	if err := ShredDataKey(path); err != nil {
		t.Errorf("ShredDataKey(missing) = %v, want nil", err)
	}
}

// BenchmarkStorePutGet measures what sealing costs the store, clear and
// sealed side by side: records of ~200-byte bodies applied from the feed
// in batches of 1000 (put), and read back by id, one View each (get).
func BenchmarkStorePutGet(b *testing.B) {
	body := []byte(`{"title":"` + string(bytes.Repeat([]byte("x"), 180)) + `"}`)
	newRecs := func(n int, seq uint64) []record.Record {
		recs := make([]record.Record, n)
		for i := range recs {
			seq++
			recs[i] = record.Record{Partition: testUAI, ID: record.NewID(), Kind: "message", Version: record.Version{Central: seq}, Seq: seq, Body: body}
		}
		return recs
	}
	for _, mode := range []struct {
		name string
		key  []byte
	}{{"clear", nil}, {"sealed", newKey(1)}} {
		open := func(b *testing.B) *Store {
			saved := testDataKey
			testDataKey = nil
			defer func() { testDataKey = saved }()
			s, err := OpenWith(filepath.Join(b.TempDir(), "edge.db"), testUAI, testExec, Options{DataKey: mode.key})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}
		b.Run("put/"+mode.name, func(b *testing.B) {
			s := open(b)
			seq := uint64(0)
			for i := 0; i < b.N; i += 1000 {
				recs := newRecs(min(1000, b.N-i), seq)
				seq += uint64(len(recs))
				if err := s.ApplyChanges(testUAI, recs, seq); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
		b.Run("get/"+mode.name, func(b *testing.B) {
			s := open(b)
			recs := newRecs(10_000, 0)
			if err := s.ApplyChanges(testUAI, recs, 10_000); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := range b.N {
				id := recs[i%len(recs)].ID
				err := s.View(func(rd record.Reader) error {
					_, ok, err := rd.Get(testUAI, id)
					if !ok && err == nil {
						b.Fatalf("Get(%s) not found", id)
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A revoked appliance destroys its data key before it purges its files.
func TestRetireShredsDataKey(t *testing.T) {
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	dir := t.TempDir()
	key, _, err := LoadDataKey(DefaultDataKeyPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	s := openKeyed(t, filepath.Join(dir, "edge.db"), key)
	fillStore(t, s)
	s.Close()
	if err := Retire(dir, Retirement{UAI: testUAI, Reason: "test"}); err != nil {
		t.Fatalf("Retire = %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !cmp.Equal(names, []string{RetiredFile}) {
		t.Errorf("data dir after Retire = %q, want only %s", names, RetiredFile)
	}
}
