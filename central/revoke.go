package central

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"atrium/internal/binenc"
)

// entryRevokeEdge revokes the certificates issued for a lycée's edge
// appliance up to a time stamped by the proposer (a stolen or retired
// appliance). Its fields: uai, time (unix ms), reason.
const entryRevokeEdge byte = 6

// revocationFormat is the format byte of a stored revocation (revoked).
const revocationFormat = 1

// bucketRevoked holds one revocation per lycée (uai → revocation). It is
// created by the first revocation applied, so state files and snapshots
// made before it still open unchanged.
var bucketRevoked = []byte("revoked")

// maxRevokeReason bounds the reason an operator gives, in bytes.
const maxRevokeReason = 500

// ErrRevoked: the edge's certificate, or the outbox epoch it pushes in, was
// revoked by an operator; nothing it sends is applied.
var ErrRevoked = errors.New("central: edge revoked")

// Revocation is the revocation of a lycée's edge appliance: every
// certificate issued for the UAI at or before Time is refused (a
// replacement enrolled afterwards, with a new token, gets a newer one),
// and so are pushes in the outbox epochs the revoked appliance had used.
type Revocation struct {
	UAI    string    `json:"uai"`
	Time   time.Time `json:"time"`
	Reason string    `json:"reason,omitempty"`
	// Epochs are the outbox epochs of the UAI known when it was revoked:
	// a batch in one of them is refused by the state machine itself, so a
	// push that passed the server's check just before the revocation
	// committed is not applied either.
	Epochs []uint64 `json:"epochs,omitempty"`
}

// Covers reports whether a certificate issued at issued (the appliance's
// IssuedAt) is revoked. Certificates carry whole seconds: one issued in
// the same second as the revocation counts as revoked (the safe side).
func (r Revocation) Covers(issued time.Time) bool {
	return !issued.After(r.Time)
}

// RevokeEdge revokes the edge appliance of lycée uai: every certificate
// issued for it until now. Revoking again moves the cutoff to the new time
// (a replacement enrolled in between is revoked too); applying the same
// entry twice changes nothing.
func (n *Node) RevokeEdge(ctx context.Context, uai, reason string) (Revocation, error) {
	if uai == "" {
		return Revocation{}, fmt.Errorf("%w: uai is required", ErrInvalidRecord)
	}
	if len(reason) > maxRevokeReason {
		reason = reason[:maxRevokeReason]
	}
	res, err := n.propose(ctx, entry{Type: entryRevokeEdge, UAI: uai, Time: time.Now().UnixMilli(), Reason: reason}, true)
	if err != nil {
		return Revocation{}, err
	}
	if err := res.Err.err(); err != nil {
		return Revocation{}, err
	}
	r, _, err := n.Revocation(uai)
	return r, err
}

// Revocation returns the revocation of lycée uai's edge on this node, if
// any.
func (n *Node) Revocation(uai string) (Revocation, bool, error) {
	var r Revocation
	var ok bool
	err := n.fsm.view(func(rd reader) error {
		b := rd.tx.Bucket(bucketRevoked)
		if b == nil {
			return nil
		}
		v := b.Get([]byte(uai))
		if v == nil {
			return nil
		}
		var err error
		r, err = decodeRevocation(uai, v)
		ok = err == nil
		return err
	})
	return r, ok, err
}

// Revocations lists every revocation on this node, by UAI.
func (n *Node) Revocations() ([]Revocation, error) {
	var out []Revocation
	err := n.fsm.view(func(rd reader) error {
		b := rd.tx.Bucket(bucketRevoked)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			r, err := decodeRevocation(string(k), v)
			if err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// applyRevoke stores a revocation: the later cutoff wins, and the epochs
// the lycée's edges have pushed in so far join the refused ones.
func applyRevoke(tx *bbolt.Tx, en entry) (*result, error) {
	if en.UAI == "" {
		return &result{Err: toWire(fmt.Errorf("%w: uai is required", ErrInvalidRecord))}, nil
	}
	b, err := tx.CreateBucketIfNotExists(bucketRevoked)
	if err != nil {
		return nil, err
	}
	r := Revocation{UAI: en.UAI}
	if v := b.Get([]byte(en.UAI)); v != nil {
		if r, err = decodeRevocation(en.UAI, v); err != nil {
			return &result{Err: toWire(err)}, nil
		}
	}
	if ms := en.Time; ms > r.Time.UnixMilli() || r.Time.IsZero() {
		r.Time = time.UnixMilli(ms).UTC()
		r.Reason = en.Reason
	}
	prefix := join(en.UAI, "")
	c := tx.Bucket(bucketHWM).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if len(k) != len(prefix)+8 {
			continue
		}
		if e := binary.BigEndian.Uint64(k[len(prefix):]); !slices.Contains(r.Epochs, e) {
			r.Epochs = append(r.Epochs, e)
		}
	}
	slices.Sort(r.Epochs)
	return &result{}, b.Put([]byte(en.UAI), encodeRevocation(r))
}

// revokedEpoch reports whether pushes of (uai, epoch) are refused.
func revokedEpoch(tx *bbolt.Tx, uai string, epoch uint64) bool {
	b := tx.Bucket(bucketRevoked)
	if b == nil {
		return false
	}
	v := b.Get([]byte(uai))
	if v == nil {
		return false
	}
	r, err := decodeRevocation(uai, v)
	if err != nil {
		return true // unreadable: refuse rather than apply
	}
	_, found := slices.BinarySearch(r.Epochs, epoch)
	return found
}

func encodeRevocation(r Revocation) []byte {
	b := []byte{revocationFormat}
	b = binenc.AppendVarint(b, r.Time.UnixMilli())
	b = binenc.AppendString(b, r.Reason)
	b = binenc.AppendUvarint(b, uint64(len(r.Epochs)))
	for _, e := range r.Epochs {
		b = binenc.AppendUvarint(b, e)
	}
	return b
}

func decodeRevocation(uai string, b []byte) (Revocation, error) {
	d := binenc.NewDecoder(b)
	if v := d.Byte(); v != revocationFormat && d.Err() == nil {
		d.Fail("unknown revocation format %d", v)
	}
	r := Revocation{UAI: uai, Time: time.UnixMilli(d.Varint()).UTC(), Reason: d.String(binenc.NoLimit)}
	n := d.Count(1, binenc.NoLimit)
	for i := 0; i < n && d.Err() == nil; i++ {
		r.Epochs = append(r.Epochs, d.Uvarint())
	}
	if err := d.End(); err != nil {
		return Revocation{}, corrupt("revocation", err)
	}
	return r, nil
}
