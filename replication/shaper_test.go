package replication

import (
	"net"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"", 0, false},
		{"0", 0, false},
		{"2MB", 2_000_000, false},
		{"2 MB/s", 2_000_000, false},
		{"16Mbit", 2_000_000, false},
		{"512KiB", 512 << 10, false},
		{"1.5MiB", 3 << 19, false},
		{"100kbit", 12_500, false},
		{"64000B", 64_000, false},
		{"2Mb", 0, true}, // bits or bytes? refused
		{"2", 0, true},   // no unit
		{"MB", 0, true},  // no number
		{"2 parsecs", 0, true},
		{"100B", 0, true}, // too slow to keep a QUIC link alive
		{"-2MB", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseRate(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseRate(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// loopbackPair returns a UDP socket and the address of another, both on
// loopback and closed at the end of the test.
func loopbackPair(t *testing.T) (a, b *net.UDPConn) {
	t.Helper()
	var conns [2]*net.UDPConn
	for i := range conns {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	return conns[0], conns[1]
}

const shaperTestCap = 1 << 20 // 1 MiB/s

// within20 reports whether got bytes over d are within 20 % of the cap.
func within20(t *testing.T, what string, got int64, d time.Duration) {
	t.Helper()
	rate := float64(got) / d.Seconds()
	if rate < 0.8*shaperTestCap || rate > 1.2*shaperTestCap {
		t.Errorf("%s: %.0f B/s over %v, want %d B/s ± 20 %%", what, rate, d, shaperTestCap)
	}
}

// Writes through a capped WAN leave at the cap, however fast they come.
func TestShaperWriteRate(t *testing.T) {
	a, b := loopbackPair(t)
	w := NewWAN(shaperTestCap)
	pc := w.shape(a)
	go func() { // drain, so that the receiver never pushes back
		buf := make([]byte, 2048)
		for {
			if _, _, err := b.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	pkt := make([]byte, 1200)
	start := time.Now()
	var sent int64
	for time.Since(start) < time.Second {
		n, err := pc.WriteTo(pkt, b.LocalAddr())
		if err != nil {
			t.Fatal(err)
		}
		sent += int64(n)
	}
	within20(t, "written", sent, time.Since(start))
}

// Reads through a capped WAN come at the cap while the peer sends faster:
// the rest is dropped by the socket, as at a slow link's bottleneck.
func TestShaperReadRate(t *testing.T) {
	a, b := loopbackPair(t)
	w := NewWAN(shaperTestCap)
	pc := w.shape(a)
	var stop atomic.Bool
	t.Cleanup(func() { stop.Store(true) })
	go func() { // the peer sends at loopback speed (several times the cap)
		pkt := make([]byte, 1200)
		for !stop.Load() {
			for range 10 {
				if _, err := b.WriteTo(pkt, a.LocalAddr()); err != nil {
					return
				}
			}
			time.Sleep(time.Millisecond) // at most 12 MB/s: leave the CPU to the reader
		}
	}()
	buf := make([]byte, 2048)
	start := time.Now()
	var got int64
	for time.Since(start) < time.Second {
		a.SetReadDeadline(time.Now().Add(time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		got += int64(n)
	}
	within20(t, "read", got, time.Since(start))
}

// An uncapped WAN does not wrap the socket.
func TestShaperUncapped(t *testing.T) {
	a, _ := loopbackPair(t)
	if pc := NewWAN(0).shape(a); pc != net.PacketConn(a) {
		t.Errorf("NewWAN(0).shape(conn) = %T, want the conn itself", pc)
	}
}
