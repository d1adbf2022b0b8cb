package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

const maxDatagram = 64 << 10

// Proxy forwards datagrams between its clients and one target.
type Proxy struct {
	ln     *net.UDPConn
	target *net.UDPAddr

	cut   atomic.Bool
	loss  atomic.Uint64 // math.Float64bits of the drop probability
	delay atomic.Int64  // time.Duration

	mu       sync.Mutex
	upstream map[string]*net.UDPConn // by client address
	closed   bool
	wg       sync.WaitGroup
}

// New binds listen (host:port; port 0 picks one) and resolves target.
func New(listen, target string) (*Proxy, error) {
	la, err := net.ResolveUDPAddr("udp", listen)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: resolve %s: %w", listen, err)
	}
	ta, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: resolve %s: %w", target, err)
	}
	ln, err := net.ListenUDP("udp", la)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen %s: %w", listen, err)
	}
	return &Proxy{ln: ln, target: ta, upstream: map[string]*net.UDPConn{}}, nil
}

// Addr is the address clients send to.
func (p *Proxy) Addr() string { return p.ln.LocalAddr().String() }

// Cut drops every datagram in both directions until Restore.
func (p *Proxy) Cut() { p.cut.Store(true) }

// Restore forwards datagrams again.
func (p *Proxy) Restore() { p.cut.Store(false) }

// SetLoss drops each datagram with probability prob (0 to 1).
func (p *Proxy) SetLoss(prob float64) {
	prob = min(max(prob, 0), 1)
	p.loss.Store(uint64(prob * (1 << 53)))
}

// SetDelay delays every datagram by d, in both directions.
func (p *Proxy) SetDelay(d time.Duration) { p.delay.Store(int64(max(d, 0))) }

// Serve forwards datagrams until ctx is cancelled, then closes every socket
// and returns nil once its goroutines have ended.
func (p *Proxy) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, p.close)
	defer stop()
	defer p.wg.Wait()
	defer p.close()
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := p.ln.ReadFromUDP(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("faultproxy: read: %w", err)
		}
		if p.drop() {
			continue
		}
		up, err := p.upstreamFor(from)
		if err != nil {
			return err
		}
		if up == nil {
			return nil // closing
		}
		p.send(append([]byte(nil), buf[:n]...), func(b []byte) { _, _ = up.Write(b) })
	}
}

func (p *Proxy) drop() bool {
	if p.cut.Load() {
		return true
	}
	loss := p.loss.Load()
	return loss > 0 && rand.Uint64N(1<<53) < loss
}

// send writes b now, or after the configured delay.
func (p *Proxy) send(b []byte, write func([]byte)) {
	d := time.Duration(p.delay.Load())
	if d <= 0 {
		write(b)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.wg.Add(1)
	time.AfterFunc(d, func() {
		defer p.wg.Done()
		write(b) // fails harmlessly once the sockets are closed
	})
}

// upstreamFor returns the socket that speaks to the target for client from,
// opening it and its return path on first use; nil once closed.
func (p *Proxy) upstreamFor(from *net.UDPAddr) (*net.UDPConn, error) {
	key := from.String()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, nil
	}
	if up := p.upstream[key]; up != nil {
		return up, nil
	}
	up, err := net.DialUDP("udp", nil, p.target)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: dial %s: %w", p.target, err)
	}
	p.upstream[key] = up
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.back(up, from)
	}()
	return up, nil
}

// back forwards the target's answers to the client.
func (p *Proxy) back(up *net.UDPConn, client *net.UDPAddr) {
	buf := make([]byte, maxDatagram)
	for {
		n, err := up.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. ICMP port unreachable while the target restarts
		}
		if p.drop() {
			continue
		}
		p.send(append([]byte(nil), buf[:n]...), func(b []byte) { _, _ = p.ln.WriteToUDP(b, client) })
	}
}

func (p *Proxy) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	_ = p.ln.Close()
	for _, up := range p.upstream {
		_ = up.Close()
	}
}
