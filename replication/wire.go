package replication

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"atrium/internal/binenc"
	"atrium/record"
)

// ProtocolVersion is the version of the wire protocol this package speaks.
// The first field of Hello is the version, in every version, so that a
// peer can always read it and answer CodeVersion.
const ProtocolVersion = 1

// ALPN is the TLS application protocol of the sync link.
const ALPN = "atrium-sync/1"

// alpnStubs is version 1 with stub records (Pull.Stubs, Changes.Stubs):
// both ends offer it before ALPN, and a peer of an earlier release knows
// only ALPN, so the TLS handshake tells a client whether central
// understands Pull.Stubs (the strict decoder of an older central refuses
// an unknown Pull flag) before it ever sends one. A server sends stubs
// only to a Pull that asked for them, so an older client never gets one.
const alpnStubs = "atrium-sync/1.1"

// Limits enforced by the decoder. A frame beyond them is ErrMalformed.
const (
	MaxFrameSize = 16 << 20 // payload bytes of one frame
	maxString    = 1 << 10  // identifiers: partitions, ids, kinds, keys, ops, codes
	maxText      = 64 << 10 // Error.Message
	maxBlob      = 8 << 20  // one record body or command args
	maxItems     = 1 << 20  // records or commands in one frame
)

// softFrameSize is where a server stops adding records to a Changes frame
// (and sets More), leaving room for the one record that crossed it.
const softFrameSize = 4 << 20

// Frame types, written out and only ever appended.
const (
	typeHello   byte = 1
	typeHelloOK byte = 2
	typePull    byte = 3
	typeChanges byte = 4
	typePush    byte = 5
	typeAck     byte = 6
	typeError   byte = 7
)

// Message is one of the protocol's messages: *Hello, *HelloOK, *Pull,
// *Changes, *Push, *Ack or *Error.
type Message interface {
	frameType() byte
	appendPayload(b []byte) []byte
	// sizeHint is about the size of the payload, or a little more.
	sizeHint() int
}

// Hello opens a session: the edge names itself, its epoch and its outbox
// depth. The UAI must be the one its certificate names.
type Hello struct {
	ProtocolVersion uint64
	UAI             string
	Epoch           uint64
	OutboxDepth     uint64
}

// HelloOK accepts a session. HighWater is central's high-water mark of the
// edge's outbox for its epoch: commands up to it are already applied.
type HelloOK struct {
	Node      string
	HighWater uint64
}

// Pull asks for the changes of a partition after sequence Since, at most
// Limit records, waiting up to WaitMillis for some if there are none yet.
//
// WantDigest asks for the partition's convergence digest with an answer
// that reaches its head (digest.go). Snapshot marks a page of a snapshot
// (snapshot.go) begun when the partition's floor was SnapshotFloor: the
// server serves it as long as the floor has not moved past both
// SnapshotFloor and Since. Stubs says the edge takes stub records in the
// answer (Changes.Stubs): records it wrote itself and holds, sent without
// their body; a Pull without it gets every record whole, which is how an
// edge that lacks one of them pulls the page again. They ride in an
// optional trailing flags byte (1 WantDigest, 2 Snapshot, then
// SnapshotFloor as a uvarint, 4 Stubs), absent when none is set, so a Pull
// without them is encoded as before. A client sets Stubs only on a
// connection whose ALPN is alpnStubs.
type Pull struct {
	Partition     string
	Since         uint64
	Limit         uint64
	WaitMillis    uint64
	WantDigest    bool
	Snapshot      bool
	SnapshotFloor uint64
	Stubs         bool
}

// Flags of Pull's optional trailing byte.
const (
	pullWantDigest = 1 << 0
	pullSnapshot   = 1 << 1
	pullStubs      = 1 << 2
	pullFlagsAll   = pullWantDigest | pullSnapshot | pullStubs
)

// Changes answers a Pull. Last is the checkpoint to store with the records:
// the last sequence scanned, which may lie past the last record sent when
// records were filtered out. More says another Pull would return more now.
//
// Digest, when not nil, is central's convergence digest of the partition
// at sequence Last (its head then): sent only to a Pull that asked for it,
// as an optional trailing field, so an answer without it is encoded as
// before.
//
// Stubs, when not nil, has one entry per record: Stubs[i] says Records[i]
// is a stub, sent with its metadata and no body (its Body is nil) because
// the edge holds it already (ServerConfig.Stub); the edge takes the body
// from its own live record of the same partition, id and kind. Only a Pull
// with Stubs gets stubs; a record flag bit (recStub) marks them.
type Changes struct {
	Partition string
	Records   []record.Record
	Last      uint64
	More      bool
	Digest    []byte // record.DigestSize bytes, or nil
	Stubs     []bool // nil when no record is a stub
}

// stub reports whether the i-th record is a stub.
func (c *Changes) stub(i int) bool { return i < len(c.Stubs) && c.Stubs[i] }

// Push sends a batch of the edge's outbox, oldest first. Outbox is the
// edge's outbox depth when it sent the batch (batch included), for the
// operators' dashboard.
type Push struct {
	Epoch    uint64
	Outbox   uint64
	Commands []record.Command
}

// Ack acknowledges a Push: every command of the epoch up to HighWater is
// applied at central and may leave the outbox.
type Ack struct {
	HighWater uint64
}

// Error refuses a request. Code is one of the Code constants.
type Error struct {
	Code    string
	Message string
}

func (*Hello) frameType() byte   { return typeHello }
func (*HelloOK) frameType() byte { return typeHelloOK }
func (*Pull) frameType() byte    { return typePull }
func (*Changes) frameType() byte { return typeChanges }
func (*Push) frameType() byte    { return typePush }
func (*Ack) frameType() byte     { return typeAck }
func (*Error) frameType() byte   { return typeError }

// AppendFrame appends the frame of m (type byte, uvarint payload length,
// payload) to dst.
func AppendFrame(dst []byte, m Message) ([]byte, error) {
	// Encode the payload in place, after room for the longest length a
	// frame may have, then close the gap left by a shorter one: a frame
	// of hundreds of records is copied once rather than grown and copied.
	start := len(dst)
	dst = slices.Grow(dst, 1+maxLengthLen+m.sizeHint())
	dst = append(dst, m.frameType())
	dst = append(dst, make([]byte, maxLengthLen)...)
	dst = m.appendPayload(dst)
	body := start + 1 + maxLengthLen
	n := len(dst) - body
	if n > MaxFrameSize {
		return dst[:start], fmt.Errorf("encode frame type %d of %d bytes: %w", m.frameType(), n, ErrFrameTooLarge)
	}
	k := len(binary.AppendUvarint(dst[start+1:start+1], uint64(n)))
	if k < maxLengthLen {
		copy(dst[start+1+k:], dst[body:])
		dst = dst[:len(dst)-(maxLengthLen-k)]
	}
	return dst, nil
}

// maxLengthLen is the length of the uvarint of MaxFrameSize, the longest
// length field of a frame.
var maxLengthLen = binenc.UvarintLen(MaxFrameSize)

// WriteFrame writes the frame of m to w in one Write.
func WriteFrame(w io.Writer, m Message) error {
	// A page of central's feed is megabytes: its buffer is reused (a
	// Writer does not retain what it is given) rather than allocated,
	// cleared and collected at every page.
	bp := frameBuffers.Get().(*[]byte)
	defer frameBuffers.Put(bp)
	b, err := AppendFrame((*bp)[:0], m)
	*bp = b[:0]
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	return nil
}

// frameBuffers holds WriteFrame's buffers.
var frameBuffers = sync.Pool{New: func() any { return new([]byte) }}

// ReadFrame reads one frame from r and decodes it. A frame that is
// truncated, too large or malformed returns an error wrapping
// ErrMalformed; a clean end of stream before the first byte returns io.EOF.
func ReadFrame(r *bufio.Reader) (Message, error) {
	t, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	n, err := readUvarint(r)
	if err != nil {
		return nil, fmt.Errorf("read frame length: %w: %w", ErrMalformed, err)
	}
	if n > MaxFrameSize {
		return nil, fmt.Errorf("read frame of %d bytes: %w", n, ErrMalformed)
	}
	if t == 0 || t > typeError {
		return nil, fmt.Errorf("read frame of type %d: %w", t, ErrMalformed)
	}
	payload, err := readPayload(r, n)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("read frame payload: %w: truncated at %d of %d bytes", ErrMalformed, len(payload), n)
	}
	if err != nil {
		return nil, fmt.Errorf("read frame payload: %w: %w", ErrMalformed, err)
	}
	return decodePayload(t, payload, true)
}

// Steps of readPayload's buffer: its first size, and the factor by which
// it grows.
const (
	payloadFirst  = 64 << 10
	payloadGrowth = 8
)

// readPayload reads a frame's payload of n bytes. Its buffer grows as bytes
// arrive, so that a peer announcing a large frame and sending nothing
// costs little memory (payloadFirst), and at most payloadGrowth times what
// it sent; growing by 8 rather than 2 clears and copies a page of central's
// feed (megabytes) about once instead of three times. On an error it
// returns what it read.
func readPayload(r io.Reader, n uint64) ([]byte, error) {
	buf := make([]byte, 0, min(n, payloadFirst))
	for uint64(len(buf)) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, uint64(cap(buf))*payloadGrowth))
			copy(grown, buf)
			buf = grown
		}
		k, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// DecodeFrame decodes the first frame of b and returns it with the number
// of bytes it used.
func DecodeFrame(b []byte) (Message, int, error) {
	if len(b) == 0 {
		return nil, 0, fmt.Errorf("decode frame: %w: empty", ErrMalformed)
	}
	t := b[0]
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || k != binenc.UvarintLen(n) {
		return nil, 0, fmt.Errorf("decode frame length: %w", ErrMalformed)
	}
	if n > MaxFrameSize || n > uint64(len(b)-1-k) {
		return nil, 0, fmt.Errorf("decode frame of %d bytes: %w", n, ErrMalformed)
	}
	end := 1 + k + int(n)
	m, err := decodePayload(t, b[1+k:end], false)
	if err != nil {
		return nil, 0, err
	}
	return m, end, nil
}

// decodePayload decodes the payload p of a frame of type t. owned says p
// is the frame's own buffer, never reused (ReadFrame's): the bodies of the
// records of a Changes then point into it instead of being copied, a page
// of central's feed decoded with one allocation fewer per record. They
// keep the whole payload alive while any of them is: the edge applies a
// page and drops it.
func decodePayload(t byte, p []byte, owned bool) (Message, error) {
	d := binenc.NewDecoder(p)
	var m Message
	switch t {
	case typeHello:
		h := &Hello{ProtocolVersion: d.Uvarint()}
		if d.Err() == nil && h.ProtocolVersion != ProtocolVersion {
			// Another version's Hello: only its version is read, so
			// that the answer can name the mismatch.
			return h, nil
		}
		h.UAI = d.String(maxString)
		h.Epoch = d.Uvarint()
		h.OutboxDepth = d.Uvarint()
		m = h
	case typeHelloOK:
		m = &HelloOK{Node: d.String(maxString), HighWater: d.Uvarint()}
	case typePull:
		p := &Pull{Partition: d.String(maxString), Since: d.Uvarint(), Limit: d.Uvarint(), WaitMillis: d.Uvarint()}
		if d.Err() == nil && d.Len() > 0 {
			// The optional flags: present only when one is set.
			b := d.Byte()
			if b == 0 || b&^pullFlagsAll != 0 {
				d.Fail("bad pull flags %d", b)
			}
			p.WantDigest = b&pullWantDigest != 0
			p.Stubs = b&pullStubs != 0
			if b&pullSnapshot != 0 {
				p.Snapshot = true
				p.SnapshotFloor = d.Uvarint()
			}
		}
		m = p
	case typeChanges:
		c := &Changes{Partition: d.String(maxString), Last: d.Uvarint(), More: d.Bool()}
		n := d.Count(recordMinSize, maxItems)
		if n > 0 {
			c.Records = make([]record.Record, 0, n)
		}
		for i := 0; i < n && d.Err() == nil; i++ {
			r, stub := decodeRecord(&d, c.Partition, owned)
			if stub {
				if c.Stubs == nil {
					c.Stubs = make([]bool, n)
				}
				c.Stubs[i] = true
			}
			c.Records = append(c.Records, r)
		}
		if d.Err() == nil && d.Len() > 0 {
			// The optional Digest: present only when not nil.
			c.Digest = d.Bytes(maxString)
			if d.Err() == nil && len(c.Digest) != record.DigestSize {
				d.Fail("digest of %d bytes", len(c.Digest))
			}
		}
		m = c
	case typePush:
		p := &Push{Epoch: d.Uvarint(), Outbox: d.Uvarint()}
		n := d.Count(commandMinSize, maxItems)
		if n > 0 {
			p.Commands = make([]record.Command, 0, n)
		}
		for i := 0; i < n && d.Err() == nil; i++ {
			p.Commands = append(p.Commands, decodeCommand(&d))
		}
		m = p
	case typeAck:
		m = &Ack{HighWater: d.Uvarint()}
	case typeError:
		m = &Error{Code: d.String(maxString), Message: d.String(maxText)}
	default:
		return nil, fmt.Errorf("decode frame of type %d: %w", t, ErrMalformed)
	}
	if err := d.End(); err != nil {
		return nil, fmt.Errorf("decode frame of type %d: %w: %w", t, ErrMalformed, err)
	}
	return m, nil
}

// Record encoding: flags byte, [partition if it differs from the frame's],
// id, kind, key, version (3 uvarints), seq, body (absent in a stub). Flag
// bits:
const (
	recDeleted   = 1 << 0
	recPartition = 1 << 1 // the record's partition follows (differs from Changes.Partition)
	recStub      = 1 << 2 // no body follows: the edge holds it (never with recDeleted)
	recFlagsAll  = recDeleted | recPartition | recStub

	recordMinSize  = 1 + 3 + 3 + 1 // flags, 3 empty strings, version, seq (a stub: no body)
	commandMinSize = 5 + 2 + 3 + 1 // 5 strings/blobs, epoch, seq, base, time
)

// Size hints: identifiers and fixed fields fit in fixedHint bytes per
// message, record or command; bodies, args and texts are counted.
const fixedHint = 64

func (m *Hello) sizeHint() int   { return fixedHint }
func (m *HelloOK) sizeHint() int { return fixedHint }
func (m *Pull) sizeHint() int    { return fixedHint }
func (m *Ack) sizeHint() int     { return fixedHint }
func (m *Error) sizeHint() int   { return fixedHint + len(m.Message) }

func (m *Changes) sizeHint() int {
	n := fixedHint
	for i := range m.Records {
		r := &m.Records[i]
		n += fixedHint + len(r.ID) + len(r.Kind) + len(r.Key)
		if !m.stub(i) {
			n += len(r.Body)
		}
	}
	return n
}

func (m *Push) sizeHint() int {
	n := fixedHint
	for i := range m.Commands {
		c := &m.Commands[i]
		n += fixedHint + len(c.Origin) + len(c.User) + len(c.Op) + len(c.Partition) + len(c.Args)
	}
	return n
}

func (m *Hello) appendPayload(b []byte) []byte {
	b = binary.AppendUvarint(b, m.ProtocolVersion)
	b = binenc.AppendString(b, m.UAI)
	b = binary.AppendUvarint(b, m.Epoch)
	return binary.AppendUvarint(b, m.OutboxDepth)
}

func (m *HelloOK) appendPayload(b []byte) []byte {
	b = binenc.AppendString(b, m.Node)
	return binary.AppendUvarint(b, m.HighWater)
}

func (m *Pull) appendPayload(b []byte) []byte {
	b = binenc.AppendString(b, m.Partition)
	b = binary.AppendUvarint(b, m.Since)
	b = binary.AppendUvarint(b, m.Limit)
	b = binary.AppendUvarint(b, m.WaitMillis)
	var flags byte
	if m.WantDigest {
		flags |= pullWantDigest
	}
	if m.Snapshot {
		flags |= pullSnapshot
	}
	if m.Stubs {
		flags |= pullStubs
	}
	if flags != 0 {
		b = append(b, flags)
	}
	if m.Snapshot {
		b = binary.AppendUvarint(b, m.SnapshotFloor)
	}
	return b
}

func (m *Changes) appendPayload(b []byte) []byte {
	b = binenc.AppendString(b, m.Partition)
	b = binary.AppendUvarint(b, m.Last)
	b = binenc.AppendBool(b, m.More)
	b = binary.AppendUvarint(b, uint64(len(m.Records)))
	for i := range m.Records {
		b = appendRecord(b, m.Partition, &m.Records[i], m.stub(i))
	}
	if m.Digest != nil {
		b = binenc.AppendBytes(b, m.Digest)
	}
	return b
}

func (m *Push) appendPayload(b []byte) []byte {
	b = binary.AppendUvarint(b, m.Epoch)
	b = binary.AppendUvarint(b, m.Outbox)
	b = binary.AppendUvarint(b, uint64(len(m.Commands)))
	for i := range m.Commands {
		b = appendCommand(b, &m.Commands[i])
	}
	return b
}

func (m *Ack) appendPayload(b []byte) []byte { return binary.AppendUvarint(b, m.HighWater) }

func (m *Error) appendPayload(b []byte) []byte {
	b = binenc.AppendString(b, m.Code)
	return binenc.AppendString(b, m.Message)
}

// appendRecord appends r, without its body when stub (a tombstone is never
// a stub: it has no body to spare and the edge may not hold the record).
func appendRecord(b []byte, partition string, r *record.Record, stub bool) []byte {
	var flags byte
	if r.Deleted {
		flags |= recDeleted
	} else if stub {
		flags |= recStub
	}
	if r.Partition != partition {
		flags |= recPartition
	}
	b = append(b, flags)
	if flags&recPartition != 0 {
		b = binenc.AppendString(b, r.Partition)
	}
	b = binenc.AppendString(b, r.ID)
	b = binenc.AppendString(b, r.Kind)
	b = binenc.AppendString(b, r.Key)
	b = binary.AppendUvarint(b, r.Version.Central)
	b = binary.AppendUvarint(b, r.Version.Edge)
	b = binary.AppendUvarint(b, r.Version.HLC)
	b = binary.AppendUvarint(b, r.Seq)
	if flags&recStub != 0 {
		return b
	}
	return binenc.AppendBytes(b, r.Body)
}

func appendCommand(b []byte, c *record.Command) []byte {
	b = binenc.AppendString(b, c.Origin)
	b = binary.AppendUvarint(b, c.Epoch)
	b = binary.AppendUvarint(b, c.Seq)
	b = binenc.AppendString(b, c.User)
	b = binenc.AppendString(b, c.Op)
	b = binenc.AppendString(b, c.Partition)
	b = binenc.AppendBytes(b, c.Args)
	b = binary.AppendUvarint(b, c.Base.Central)
	b = binary.AppendUvarint(b, c.Base.Edge)
	b = binary.AppendUvarint(b, c.Base.HLC)
	return binary.AppendVarint(b, c.Time)
}

// decodeRecord decodes one record, and whether it is a stub (no body).
func decodeRecord(d *binenc.Decoder, partition string, alias bool) (record.Record, bool) {
	flags := d.Byte()
	if flags&^recFlagsAll != 0 || flags&recStub != 0 && flags&recDeleted != 0 {
		d.Fail("bad record flags %#x", flags)
	}
	r := record.Record{Partition: partition, Deleted: flags&recDeleted != 0}
	if flags&recPartition != 0 {
		r.Partition = d.String(maxString)
		if d.Err() == nil && r.Partition == partition {
			d.Fail("record partition repeats the frame's")
		}
	}
	r.ID = d.String(maxString)
	r.Kind = d.String(maxString)
	r.Key = d.String(maxString)
	r.Version.Central = d.Uvarint()
	r.Version.Edge = d.Uvarint()
	r.Version.HLC = d.Uvarint()
	r.Seq = d.Uvarint()
	if flags&recStub != 0 {
		return r, true
	}
	if !alias {
		r.Body = d.Bytes(maxBlob)
	} else if r.Body = d.Raw(maxBlob); len(r.Body) == 0 {
		r.Body = nil // as Bytes gives
	}
	return r, false
}

func decodeCommand(d *binenc.Decoder) record.Command {
	var c record.Command
	c.Origin = d.String(maxString)
	c.Epoch = d.Uvarint()
	c.Seq = d.Uvarint()
	c.User = d.String(maxString)
	c.Op = d.String(maxString)
	c.Partition = d.String(maxString)
	c.Args = d.Bytes(maxBlob)
	c.Base.Central = d.Uvarint()
	c.Base.Edge = d.Uvarint()
	c.Base.HLC = d.Uvarint()
	c.Time = d.Varint()
	return c
}

// readUvarint reads a minimally encoded uvarint.
func readUvarint(r io.ByteReader) (uint64, error) {
	var buf [binary.MaxVarintLen64]byte
	for i := range buf {
		c, err := r.ReadByte()
		if err == io.EOF {
			return 0, io.ErrUnexpectedEOF
		}
		if err != nil {
			return 0, err
		}
		buf[i] = c
		if c < 0x80 {
			v, n := binary.Uvarint(buf[:i+1])
			if n <= 0 || n != binenc.UvarintLen(v) {
				return 0, errors.New("bad uvarint")
			}
			return v, nil
		}
	}
	return 0, errors.New("uvarint too long")
}
