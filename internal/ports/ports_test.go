package ports

import (
	"net"
	"strconv"
	"testing"
)

func TestLoopbackPortsAreFreeAndDistinct(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		addr, err := Loopback()
		if err != nil {
			t.Fatal(err)
		}
		if seen[addr] {
			t.Fatalf("Loopback returned %s twice", addr)
		}
		seen[addr] = true
		_, port, _ := net.SplitHostPort(addr)
		if p, _ := strconv.Atoi(port); p < low || p >= high {
			t.Fatalf("port %d outside %d-%d", p, low, high)
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listen tcp %s: %v", addr, err)
		}
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			t.Fatalf("listen udp %s: %v", addr, err)
		}
		l.Close()
		c.Close()
	}
}
