package ports

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
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

// TestPortClaimedByAnotherProcessIsSkipped holds the lock of a port's file
// as another process would (a lock of another open file): claim refuses
// that port until the lock is released.
func TestPortClaimedByAnotherProcessIsSkipped(t *testing.T) {
	p := 31999
	dir := filepath.Join(os.TempDir(), "atrium-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(p)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Skipf("port %d is held by another process: %v", p, err)
	}
	if claim(p) {
		t.Fatalf("claim(%d) while another open file holds its lock = true, want false", p)
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	if !claim(p) {
		t.Fatalf("claim(%d) once the lock is released = false, want true", p)
	}
}
