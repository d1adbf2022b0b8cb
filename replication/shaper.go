package replication

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// WAN is an edge's link with central as its sync sees it: the cap it keeps
// its QUIC traffic under, so that the school's link stays usable during a
// catch-up, and the bytes its streams carried. One WAN serves every
// connection the edge dials (ClientConfig.WAN); it is safe for concurrent
// use.
//
// The cap applies to each direction separately, on the UDP datagrams
// (QUIC's headers, acknowledgements and retransmissions included): a
// datagram written waits for its tokens; a datagram read is handed to QUIC
// only once its tokens are there, so that the acknowledgements come late
// and central's congestion control slows down, as behind a slow link.
type WAN struct {
	cap           int64
	out, in       *bucket // nil when uncapped
	sent, receivd atomic.Uint64
}

// NewWAN returns a WAN capped at capBytes bytes per second in each
// direction; 0 or less means no cap.
func NewWAN(capBytes int64) *WAN {
	w := &WAN{cap: max(capBytes, 0)}
	if w.cap > 0 {
		w.out, w.in = newBucket(w.cap), newBucket(w.cap)
	}
	return w
}

// Cap is the cap in bytes per second in each direction; 0: none.
func (w *WAN) Cap() int64 { return w.cap }

// Sent is how many bytes the edge's sync streams wrote (pushes, pulls'
// requests), since the WAN was made: the payload, without QUIC's framing.
func (w *WAN) Sent() uint64 { return w.sent.Load() }

// Received is how many bytes the edge's sync streams read.
func (w *WAN) Received() uint64 { return w.receivd.Load() }

// Collectors are the WAN's metrics, for the edge's registry.
func (w *WAN) Collectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "atrium_edge_wan_sent_bytes_total", Help: "Bytes the edge's sync streams sent to central.",
		}, func() float64 { return float64(w.Sent()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "atrium_edge_wan_received_bytes_total", Help: "Bytes the edge's sync streams received from central.",
		}, func() float64 { return float64(w.Received()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "atrium_edge_wan_cap_bytes", Help: "The edge's WAN cap in bytes per second in each direction; 0: none.",
		}, func() float64 { return float64(w.cap) }),
	}
}

// shape wraps pc so that its datagrams keep under the cap; pc itself when
// there is none.
func (w *WAN) shape(pc net.PacketConn) net.PacketConn {
	if w == nil || w.cap <= 0 {
		return pc
	}
	return &shapedConn{PacketConn: pc, out: w.out, in: w.in}
}

// shapedConn is a PacketConn under a token bucket in each direction.
type shapedConn struct {
	net.PacketConn
	out, in *bucket
}

func (c *shapedConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	c.out.wait(len(p))
	return c.PacketConn.WriteTo(p, addr)
}

// SetReadBuffer, SetWriteBuffer and SyscallConn let quic-go size the
// socket's buffers as it does its own (a capped link still takes bursts).
func (c *shapedConn) SetReadBuffer(n int) error {
	if u, ok := c.PacketConn.(*net.UDPConn); ok {
		return u.SetReadBuffer(n)
	}
	return errors.ErrUnsupported
}

func (c *shapedConn) SetWriteBuffer(n int) error {
	if u, ok := c.PacketConn.(*net.UDPConn); ok {
		return u.SetWriteBuffer(n)
	}
	return errors.ErrUnsupported
}

func (c *shapedConn) SyscallConn() (syscall.RawConn, error) {
	if u, ok := c.PacketConn.(*net.UDPConn); ok {
		return u.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

func (c *shapedConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(p)
	if n > 0 {
		c.in.wait(n)
	}
	return n, addr, err
}

// bucket is a token bucket of rate bytes per second. Callers reserve
// tokens in turn and the bucket may go into debt: each waits until its
// reservation is paid, so concurrent writers share the rate fairly.
type bucket struct {
	rate  float64 // bytes per second
	burst float64 // most tokens saved up while idle

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newBucket(rate int64) *bucket {
	// A twentieth of a second of traffic, at least a few datagrams: the
	// rate holds within 5 % over a second and a datagram never waits for
	// more tokens than the bucket can hold.
	burst := max(float64(rate)/20, 16<<10)
	return &bucket{rate: float64(rate), burst: burst, tokens: burst, last: time.Now()}
}

// reserve takes n tokens and returns how long the caller must wait for
// them.
func (b *bucket) reserve(n int, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	b.tokens -= float64(n)
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

func (b *bucket) wait(n int) {
	if d := b.reserve(n, time.Now()); d > 0 {
		time.Sleep(d)
	}
}

// ParseRate parses a WAN cap as an operator writes it: a number followed by
// a unit, bytes ("B", "kB", "MB", "GB", decimal; "KiB", "MiB", "GiB",
// binary) or bits ("kbit", "Mbit", "Gbit", decimal), per second, with an
// optional "/s"; units are case-sensitive ("Mb" is refused as ambiguous). "0" or ""
// means no cap. It returns bytes per second.
func ParseRate(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, nil
	}
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i <= 0 {
		return 0, fmt.Errorf("rate %q: want a number and a unit, e.g. 2MB or 16Mbit", s)
	}
	num, unit := s[:i], strings.TrimSpace(strings.TrimSuffix(s[i:], "/s"))
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("rate %q: bad number %q", s, num)
	}
	mult, ok := rateUnits[unit]
	if !ok {
		return 0, fmt.Errorf("rate %q: unknown unit %q (bytes: B, kB, MB, GB, KiB, MiB, GiB; bits: kbit, Mbit, Gbit)", s, unit)
	}
	bytes := v * mult
	if bytes > 0 && bytes < 1024 {
		return 0, fmt.Errorf("rate %q: below 1 KiB/s, the sync could not keep its link alive", s)
	}
	return int64(bytes), nil
}

// rateUnits are case-sensitive: "Mb" could mean either, so it is refused.
var rateUnits = map[string]float64{
	"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30,
	"bit": 1.0 / 8, "kbit": 1e3 / 8, "Kbit": 1e3 / 8, "Mbit": 1e6 / 8, "Gbit": 1e9 / 8,
}
