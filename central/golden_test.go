package central

import (
	"errors"
	"flag"
	"path/filepath"
	"testing"
	"time"

	"atrium/internal/goldenhex"

	"atrium/record"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from the current encoders")

// golden is one pinned encoding: the bytes in testdata/file mean value.
//
// Raft logs and snapshots outlive the binary that wrote them, so a golden
// file is never rewritten to follow a change of encoding. To change one,
// bump its format version (codec.go) or append a new entry type, add a
// case with a new file, and keep the old case with enc set to nil: its
// value then says what the new decoder must read from the old bytes.
type golden struct {
	file   string
	about  string // the file's header comment
	value  any
	enc    []byte // the current encoder's output for value; nil for an old format, decoded only
	decode func([]byte) (any, error)
}

func entryGolden(file, about string, en entry) golden {
	return golden{file, about, en, encodeEntry(en), func(b []byte) (any, error) { return decodeEntry(b) }}
}

// goldenCommand is a command as an edge makes it, with every field set and
// multi-byte varints, so that the golden bytes pin each field's place.
func goldenCommand(seq uint64) record.Command {
	return record.Command{
		Origin: "0130040Y", Epoch: 3, Seq: seq, User: "0190f5a2-0000-7000-8000-00000000e1e5",
		Op: "news.publish", Partition: "0130040Y",
		Args: []byte(`{"id":"0190f5a2-7c1e-7b3a-9d4e-2f6a8b0c1d3e","title":"Réunion parents-professeurs"}`),
		Base: record.Version{Central: 300, Edge: 2, HLC: record.Stamp(1735689600000, 7)},
		Time: 1735689600123,
	}
}

// goldens are central's own encodings; records and commands are record's,
// pinned in record/testdata.
func goldens() []golden {
	central := goldenCommand(0)
	central.Origin, central.Epoch, central.User = record.OriginCentral, 0, "0190f5a2-0000-7000-8000-0000000000ad"
	return []golden{
		entryGolden("entry-1-exec-commands.v1.golden", "raft entry 1 ExecCommands, entry format 1, command format 1",
			entry{Type: entryExecCommands, Commands: []record.Command{central}}),
		entryGolden("entry-2-edge-outbox.v1.golden", "raft entry 2 EdgeOutbox, entry format 1, command format 1",
			entry{Type: entryEdgeOutbox, UAI: "0130040Y", Epoch: 3, Commands: []record.Command{goldenCommand(41), goldenCommand(300)}}),
		entryGolden("entry-3-set-secrets.v1.golden", "raft entry 3 SetSecrets, entry format 1",
			entry{Type: entrySetSecrets, Secrets: goldenSecrets()}),
		entryGolden("entry-4-add-enrol-token.v1.golden", "raft entry 4 AddEnrolToken, entry format 1 (Time: expiry, unix ms)",
			entry{Type: entryAddEnrolToken, TokenHash: "9f86d081884c7d659a2feaa0c55ad015", UAI: "0130040Y", Time: 1736294400000}),
		entryGolden("entry-5-consume-enrol-token.v1.golden", "raft entry 5 ConsumeEnrolToken, entry format 1 (Time: now at the proposer, unix ms)",
			entry{Type: entryConsumeEnrolToken, TokenHash: "9f86d081884c7d659a2feaa0c55ad015", Time: 1735700000000}),
		entryGolden("entry-6-revoke-edge.v1.golden", "raft entry 6 RevokeEdge, entry format 1 (Time: now at the proposer, unix ms; Reason)",
			entry{Type: entryRevokeEdge, UAI: "0130040Y", Time: 1735700000000, Reason: "vol signalé"}),
		entryGolden("entry-7-purge-tombstones.v1.golden", "raft entry 7 PurgeTombstones, entry format 1 (Time: cutoff stamped by the proposer, unix ms; Limit)",
			entry{Type: entryPurgeTombstones, Time: 1732665600000, Limit: 10000}),
		{"revocation.v1.golden", "stored edge revocation (bucket revoked, key UAI), revocation format 1", goldenRevocation,
			encodeRevocation(goldenRevocation), func(b []byte) (any, error) { return decodeRevocation(goldenRevocation.UAI, b) }},
		{"token.v1.golden", "stored enrolment token (bucket tokens), token format 1", goldenToken,
			encodeToken(goldenToken), func(b []byte) (any, error) { return decodeToken(b) }},
		{"secrets.v1.golden", "stored cluster secrets (meta/secrets), secrets format 1", goldenSecrets(),
			encodeSecrets(goldenSecrets()), func(b []byte) (any, error) { return decodeSecrets(b) }},
	}
}

var goldenRevocation = Revocation{UAI: "0130040Y", Time: time.UnixMilli(1735700000000).UTC(), Reason: "vol signalé", Epochs: []uint64{1735600000000, 1735650000000}}

var goldenToken = enrolToken{UAI: "0130040Y", Expires: 1736294400000, Used: true}

func goldenSecrets() Secrets {
	s := Secrets{
		CACertPEM: []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
		CAKeyPEM:  []byte("-----BEGIN PRIVATE KEY-----\nMC4C\n-----END PRIVATE KEY-----\n"),
	}
	for i := range 32 {
		s.SessionKey = append(s.SessionKey, byte(i))
		s.ClusterKey = append(s.ClusterKey, byte(0xe0+i))
	}
	return s
}

func TestGolden(t *testing.T) {
	for _, g := range goldens() {
		t.Run(g.file, func(t *testing.T) {
			goldenhex.Check(t, goldenhex.Case{
				Path: filepath.Join("testdata", g.file), About: g.about, Stores: "Raft logs and snapshots",
				Value: g.value, Enc: g.enc, Decode: g.decode, Corrupt: ErrCorrupt,
			}, *update)
		})
	}
}

// TestGoldenEveryEntryType fails when an entry type is added without a
// golden file pinning its encoding.
func TestGoldenEveryEntryType(t *testing.T) {
	pinned := map[byte]bool{}
	for _, g := range goldens() {
		if en, ok := g.value.(entry); ok {
			pinned[en.Type] = true
		}
	}
	for typ := range 256 {
		_, err := decodeEntry([]byte{byte(typ)})
		if errors.Is(err, errUnknownEntry) {
			continue
		}
		if !pinned[byte(typ)] {
			t.Errorf("entry type %d decodes (%v) but has no golden file", typ, err)
		}
	}
	for typ := range pinned {
		if _, err := decodeEntry([]byte{typ}); errors.Is(err, errUnknownEntry) {
			t.Errorf("decodeEntry(type %d) = %v, want a known type", typ, err)
		}
	}
}
