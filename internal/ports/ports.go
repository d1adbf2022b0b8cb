package ports

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
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
		if handed[p] || !free(p) {
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
