package ports

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
)

// The range ports are picked from.
const (
	low  = 20000
	high = 32000
)

var (
	mu     sync.Mutex
	handed = map[int]bool{}
)

// ErrNoPort means no free port was found after many tries.
var ErrNoPort = errors.New("ports: no free loopback port found")

// Loopback returns "127.0.0.1:PORT" for a port free on TCP and UDP.
func Loopback() (string, error) {
	mu.Lock()
	defer mu.Unlock()
	for range 200 {
		p := low + rand.IntN(high-low)
		if handed[p] || !free(p) || !claim(p) {
			continue
		}
		handed[p] = true
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), nil
	}
	return "", fmt.Errorf("%w in %d-%d", ErrNoPort, low, high)
}

func free(p int) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	defer l.Close()
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// held keeps the files whose locks claim took open, so that the locks last
// as long as the process.
var held []*os.File

// claim takes an advisory lock on a file named after port p in the
// machine's temporary directory, held until the process exits; false if
// another process holds it. Test processes run side by side (go test
// ./... runs packages in parallel), and a port handed out here may be free
// for a while (a node killed by the chaos suite, restarted seconds later
// on the same port): another process must not take it meanwhile. Where no
// lock file can be made, the bind check alone decides.
func claim(p int) bool {
	dir := filepath.Join(os.TempDir(), "atrium-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return true
	}
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(p)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return true
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return false
	}
	held = append(held, f)
	return true
}
