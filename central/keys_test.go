package central

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"go.etcd.io/bbolt"

	"atrium/record"
)

// TestKeyIndexAgainstAModel drives the key index through the state
// machine with random puts of new keys, renames, deletes and attempts to
// take a key held by another record, over enough new keys that pieces of
// keysnew are merged into keys, and across a snapshot restored on another
// state machine (which rebuilds its map of keysnew from the file). After
// every batch each command's outcome is the model's, and every key the
// model holds or freed is found, or not, by a reader's ByKey.
func TestKeyIndexAgainstAModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 8))
	f := newTestFSM(t)
	holder := map[string]string{} // key -> id of the live record holding it
	keyOf := map[string]string{}  // id -> its key
	var ids, freed []string
	fresh := 0
	newKey := func() string {
		fresh++
		// Mostly one piece of keysnew (a…), so that it fills up and is
		// merged, the others beside it.
		return fmt.Sprintf("%c%06d-%d", "aaaaaaaabc"[rng.IntN(10)], rng.IntN(1_000_000), fresh)
	}
	partitionOf := func(id string) string { return "P" + id[len(id)-1:] }
	type step struct {
		cmd    record.Command
		refuse bool
		apply  func()
	}
	put := func(id, key string, deleted bool) record.Command {
		args, _ := json.Marshal(map[string]any{"ID": id, "Key": key, "Value": "v", "Deleted": deleted})
		return record.Command{Origin: record.OriginCentral, Op: "test.put", Partition: partitionOf(id), Args: args, Time: 1000}
	}
	next := func() step {
		switch n := rng.IntN(100); {
		case n < 70 || len(ids) < 10: // a new record with a new key
			id, key := fmt.Sprint("r", len(ids), len(freed)), newKey()
			return step{cmd: put(id, key, false), apply: func() {
				ids = append(ids, id)
				holder[key], keyOf[id] = id, key
			}}
		case n < 80: // a rename
			id := ids[rng.IntN(len(ids))]
			if keyOf[id] == "" {
				return step{cmd: put(id, "", false), apply: func() {}}
			}
			old, key := keyOf[id], newKey()
			return step{cmd: put(id, key, false), apply: func() {
				delete(holder, old)
				freed = append(freed, old)
				holder[key], keyOf[id] = id, key
			}}
		case n < 88: // a delete
			id := ids[rng.IntN(len(ids))]
			old := keyOf[id]
			return step{cmd: put(id, old, true), apply: func() {
				if old != "" {
					delete(holder, old)
					freed = append(freed, old)
				}
				keyOf[id] = ""
			}}
		case n < 94 && len(freed) > 0: // a freed key taken again
			id, key := fmt.Sprint("r", len(ids), len(freed)), freed[rng.IntN(len(freed))]
			if holder[key] != "" {
				return step{cmd: put(id, key, false), refuse: true}
			}
			return step{cmd: put(id, key, false), apply: func() {
				ids = append(ids, id)
				holder[key], keyOf[id] = id, key
			}}
		default: // a key another record holds
			id := ids[rng.IntN(len(ids))]
			if keyOf[id] == "" {
				return step{cmd: put(id, "", true), apply: func() {}}
			}
			return step{cmd: put(fmt.Sprint("x", fresh), keyOf[id], false), refuse: true}
		}
	}
	check := func(f *fsm) {
		t.Helper()
		err := f.view(func(r reader) error {
			for key, id := range holder {
				rec, ok, err := r.ByKey("item", key)
				if err != nil || !ok || rec.ID != id {
					return fmt.Errorf("ByKey(%s) = %s, %v, %v; want %s", key, rec.ID, ok, err, id)
				}
			}
			for _, key := range freed {
				if rec, ok, err := r.ByKey("item", key); err != nil || (ok != (holder[key] != "")) || (ok && rec.ID != holder[key]) {
					return fmt.Errorf("ByKey(%s) of a freed key = %s, %v, %v; want holder %q", key, rec.ID, ok, err, holder[key])
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	run := func(f *fsm, batches int) {
		t.Helper()
		for b := 0; b < batches; b++ {
			// The outcome of a command depends on those before it: the
			// model moves one command at a time, the state machine by
			// entries of 100 commands, one to three entries a batch.
			ens := make([]entry, 1+rng.IntN(3))
			var steps []step
			for e := range ens {
				var cmds []record.Command
				for range 100 {
					s := next()
					if s.apply != nil {
						s.apply()
					}
					steps = append(steps, s)
					cmds = append(cmds, s.cmd)
				}
				ens[e] = exec(cmds...)
			}
			k := 0
			for e, res := range applyAll(t, f, ens...) {
				for c := range ens[e].Commands {
					var got error
					if res.Errs != nil && res.Errs[c] != nil {
						got = res.Errs[c].err()
					}
					if (got != nil) != steps[k].refuse {
						t.Fatalf("batch %d entry %d command %d (%s): outcome %v, want refused %v", b, e, c, ens[e].Commands[c].Args, got, steps[k].refuse)
					}
					k++
				}
			}
			if b%20 == 19 {
				check(f)
			}
		}
		check(f)
	}
	run(f, 40)
	merged, waiting := keyIndexSizes(t, f)
	if merged == 0 || waiting >= 2*keysPieceMax {
		t.Fatalf("after %d new keys: %d keys merged, %d waiting; want pieces merged", fresh, merged, waiting)
	}

	// Another node restores a snapshot and goes on from it.
	g := newTestFSM(t)
	if err := g.Restore(snapshotOf(t, f)); err != nil {
		t.Fatal(err)
	}
	check(g)
	run(g, 40)
	if m, _ := keyIndexSizes(t, g); m <= merged {
		t.Fatalf("keys merged after the restore: %d, before %d; want more", m, merged)
	}
}

// keyIndexSizes counts the entries of keys and of keysnew.
func keyIndexSizes(t testing.TB, f *fsm) (merged, waiting int) {
	t.Helper()
	err := f.view(func(r reader) error {
		merged = r.tx.Bucket(bucketKeys).Stats().KeyN
		return r.tx.Bucket(bucketKeysNew).ForEachBucket(func(piece []byte) error {
			waiting += r.tx.Bucket(bucketKeysNew).Bucket(piece).Stats().KeyN
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return merged, waiting
}

// TestKeyIndexRefusesABadEntry checks that a keysnew entry that does not
// decode, or sits in another key's piece, makes reading keysnew fail with
// ErrCorrupt (the state machine stops rather than take it for a key),
// while a sound entry is read back.
func TestKeyIndexRefusesABadEntry(t *testing.T) {
	for name, c := range map[string]struct {
		val  []byte
		want error
	}{
		"sound":          {encodePending([]byte("item\x00apple"), []byte("P\x00r1")), nil},
		"undecodable":    {[]byte{0xff}, ErrCorrupt},
		"another piece":  {encodePending([]byte("item\x00zebra"), []byte("P\x00r1")), ErrCorrupt},
		"length too big": {[]byte{40, 'i'}, ErrCorrupt},
	} {
		t.Run(name, func(t *testing.T) {
			f := newTestFSM(t)
			err := f.db.Update(func(tx *bbolt.Tx) error {
				b, err := tx.Bucket(bucketKeysNew).CreateBucket([]byte("item\x00a"))
				if err != nil {
					return err
				}
				if err := b.Put(be(3), c.val); err != nil {
					return err
				}
				p, err := loadPendingKeys(tx)
				if !errors.Is(err, c.want) {
					t.Fatalf("loadPendingKeys = %v, want %v", err, c.want)
				}
				if err == nil && (p.pieces["item\x00a"].seq["item\x00apple"] != 3 || p.pieces["item\x00a"].next != 4) {
					t.Fatalf("loadPendingKeys read %+v, want item\\x00apple at 3, next 4", p.pieces["item\x00a"])
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// BenchmarkReaderKeyLookup measures a reader's ByKey of a key that is not
// in keys, the worst case: its piece of keysnew holds keysPieceMax-1
// entries, all scanned.
//
//	go test -run XXX -bench BenchmarkReaderKeyLookup ./central/
func BenchmarkReaderKeyLookup(b *testing.B) {
	f, err := openFSM(b.TempDir()+"/state.db", testExec, termIndex{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer f.close()
	for i := 0; i < keysPieceMax-1; i += 500 {
		var cmds []record.Command
		for j := i; j < min(i+500, keysPieceMax-1); j++ {
			cmds = append(cmds, putCmd("central", "P", fmt.Sprint("r", j), fmt.Sprintf("a%07d", j), "v", 1000))
		}
		applyBench(b, f, exec(cmds...))
	}
	if _, waiting := keyIndexSizes(b, f); waiting != keysPieceMax-1 {
		b.Fatalf("%d keys waiting, want %d", waiting, keysPieceMax-1)
	}
	for b.Loop() {
		err := f.view(func(r reader) error {
			_, ok, err := r.ByKey("item", "a-missing")
			if ok {
				return fmt.Errorf("a-missing found")
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
