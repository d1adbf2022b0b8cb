package central

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"atrium/internal/binenc"
	"atrium/record"
)

// Raft entries and the state machine's own stored values (enrolment
// tokens, cluster secrets) use a small binary encoding (internal/binenc);
// records and commands use record's (record/codec.go). Each value starts
// with a format version byte (a raft entry with its type byte, then the
// entry's format byte); fields are uvarints, varints, single bytes and
// uvarint-length-prefixed bytes, in a fixed order; the commands of an entry
// are each record.AppendCommand's bytes behind their length. A decoder
// refuses a format it does not know, and any malformed or trailing byte,
// with ErrCorrupt. Appending or changing fields needs a new format version,
// and old versions must keep decoding (testdata/ pins them).
const (
	entryFormat   = 1 // every raft entry type, after its type byte
	tokenFormat   = 1 // stored enrolment token (tokens)
	secretsFormat = 1 // stored cluster secrets (meta/secrets)
)

// minCommandLen is the fewest bytes a command of an entry takes: its
// length and record.AppendCommand of the zero Command.
const minCommandLen = 1 + 12

// corrupt marks a decoding failure as ErrCorrupt, keeping what it wraps.
func corrupt(what string, err error) error {
	return fmt.Errorf("decode %s: %w: %w", what, ErrCorrupt, err)
}

// decodeRecord decodes a stored record (record.DecodeRecord); a failure is
// ErrCorrupt.
func decodeRecord(b []byte) (record.Record, error) {
	r, err := record.DecodeRecord(b)
	if err != nil {
		return r, corrupt("stored record", err)
	}
	return r, nil
}

// decodeRecordHead is decodeRecord without the body
// (record.DecodeRecordHead).
func decodeRecordHead(b []byte) (record.Record, error) {
	r, err := record.DecodeRecordHead(b)
	if err != nil {
		return r, corrupt("stored record", err)
	}
	return r, nil
}

// encodeEntry encodes a raft entry: its type byte, its format byte
// (entryFormat), then its fields.
func encodeEntry(en entry) []byte {
	b := []byte{en.Type, entryFormat}
	switch en.Type {
	case entryExecCommands, entryEdgeOutbox:
		if en.Type == entryEdgeOutbox {
			b = binenc.AppendString(b, en.UAI)
			b = binenc.AppendUvarint(b, en.Epoch)
		}
		// An outbox or import entry is hundreds of kilobytes: sized once,
		// not grown by doubling (779 MB of a directory import's 8.7 GB of
		// allocations were this buffer's copies).
		size := 0
		for _, c := range en.Commands {
			size += record.CommandSizeBound(c) + binary.MaxVarintLen64
		}
		b = slices.Grow(b, size+binary.MaxVarintLen64)
		b = binenc.AppendUvarint(b, uint64(len(en.Commands)))
		var cmd []byte
		for _, c := range en.Commands {
			cmd = record.AppendCommand(cmd[:0], c)
			b = binenc.AppendBytes(b, cmd)
		}
	case entrySetSecrets:
		b = appendSecrets(b, en.Secrets)
	case entryAddEnrolToken:
		b = binenc.AppendString(b, en.TokenHash)
		b = binenc.AppendString(b, en.UAI)
		b = binenc.AppendVarint(b, en.Time)
	case entryConsumeEnrolToken:
		b = binenc.AppendString(b, en.TokenHash)
		b = binenc.AppendVarint(b, en.Time)
	case entryRevokeEdge:
		b = binenc.AppendString(b, en.UAI)
		b = binenc.AppendVarint(b, en.Time)
		b = binenc.AppendString(b, en.Reason)
	case entryPurgeTombstones:
		b = binenc.AppendVarint(b, en.Time)
		b = binenc.AppendUvarint(b, en.Limit)
	}
	return b
}

// errUnknownEntry marks an entry type this version does not know.
var errUnknownEntry = errors.New("unknown entry type")

func decodeEntry(b []byte) (entry, error) {
	d := binenc.NewDecoder(b)
	en := entry{Type: d.Byte()}
	if err := d.Err(); err != nil {
		return en, corrupt("entry", err)
	}
	switch en.Type {
	case entryExecCommands, entryEdgeOutbox, entrySetSecrets, entryAddEnrolToken, entryConsumeEnrolToken, entryRevokeEdge,
		entryPurgeTombstones:
	default:
		return en, fmt.Errorf("%w %d", errUnknownEntry, en.Type)
	}
	if v := d.Byte(); v != entryFormat && d.Err() == nil {
		d.Fail("unknown format %d of entry type %d", v, en.Type)
	}
	switch en.Type {
	case entryExecCommands, entryEdgeOutbox:
		if en.Type == entryEdgeOutbox {
			en.UAI = d.String(binenc.NoLimit)
			en.Epoch = d.Uvarint()
		}
		n := d.Count(minCommandLen, binenc.NoLimit)
		if d.Err() == nil {
			en.Commands = make([]record.Command, 0, n)
		}
		for i := 0; i < n && d.Err() == nil; i++ {
			p := d.Raw(binenc.NoLimit)
			if d.Err() != nil {
				break
			}
			c, err := record.DecodeCommand(p)
			if err != nil {
				return entry{Type: en.Type}, corrupt("entry", err)
			}
			en.Commands = append(en.Commands, c)
		}
	case entrySetSecrets:
		en.Secrets = decodeSecretsFields(&d)
	case entryAddEnrolToken:
		en.TokenHash = d.String(binenc.NoLimit)
		en.UAI = d.String(binenc.NoLimit)
		en.Time = d.Varint()
	case entryConsumeEnrolToken:
		en.TokenHash = d.String(binenc.NoLimit)
		en.Time = d.Varint()
	case entryRevokeEdge:
		en.UAI = d.String(binenc.NoLimit)
		en.Time = d.Varint()
		en.Reason = d.String(binenc.NoLimit)
	case entryPurgeTombstones:
		en.Time = d.Varint()
		en.Limit = d.Uvarint()
	}
	if err := d.End(); err != nil {
		return entry{Type: en.Type}, corrupt("entry", err)
	}
	return en, nil
}

func encodeToken(t enrolToken) []byte {
	b := []byte{tokenFormat}
	b = binenc.AppendString(b, t.UAI)
	b = binenc.AppendVarint(b, t.Expires)
	return binenc.AppendBool(b, t.Used)
}

func decodeToken(b []byte) (enrolToken, error) {
	d := binenc.NewDecoder(b)
	if v := d.Byte(); v != tokenFormat && d.Err() == nil {
		d.Fail("unknown token format %d", v)
	}
	t := enrolToken{UAI: d.String(binenc.NoLimit), Expires: d.Varint(), Used: d.Bool()}
	if err := d.End(); err != nil {
		return enrolToken{}, corrupt("token", err)
	}
	return t, nil
}

// appendSecrets appends the fields of Secrets, as stored and in a
// SetSecrets entry (each behind its own format byte).
func appendSecrets(b []byte, s Secrets) []byte {
	b = binenc.AppendBytes(b, s.CACertPEM)
	b = binenc.AppendBytes(b, s.CAKeyPEM)
	b = binenc.AppendBytes(b, s.SessionKey)
	return binenc.AppendBytes(b, s.ClusterKey)
}

func decodeSecretsFields(d *binenc.Decoder) Secrets {
	return Secrets{
		CACertPEM:  d.Bytes(binenc.NoLimit),
		CAKeyPEM:   d.Bytes(binenc.NoLimit),
		SessionKey: d.Bytes(binenc.NoLimit),
		ClusterKey: d.Bytes(binenc.NoLimit),
	}
}

func encodeSecrets(s Secrets) []byte { return appendSecrets([]byte{secretsFormat}, s) }

func decodeSecrets(b []byte) (Secrets, error) {
	d := binenc.NewDecoder(b)
	if v := d.Byte(); v != secretsFormat && d.Err() == nil {
		d.Fail("unknown secrets format %d", v)
	}
	s := decodeSecretsFields(&d)
	if err := d.End(); err != nil {
		return Secrets{}, corrupt("secrets", err)
	}
	return s, nil
}
