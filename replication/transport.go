package replication

// This is the only file that imports quic-go: the rest of the package sees
// listeners, connections and streams through the small types below, and
// quic-go's errors do not leave it.
//
// An edge dials through its WAN (shaper.go): the streams count their bytes
// there, and under a cap the connection runs on a UDP socket of its own
// wrapped by the WAN's token buckets.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/quic-go/quic-go"
)

// QUIC timing: keep-alives every second and a four-second idle timeout,
// so that a cut WAN link is noticed in seconds on both sides.
const (
	keepAlivePeriod = 1 * time.Second
	maxIdleTimeout  = 4 * time.Second
)

func quicConfig() *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout:       maxIdleTimeout,
		MaxIdleTimeout:             maxIdleTimeout,
		KeepAlivePeriod:            keepAlivePeriod,
		MaxIncomingStreams:         256,
		MaxIncomingUniStreams:      -1,
		InitialStreamReceiveWindow: 1 << 20,
		MaxStreamReceiveWindow:     16 << 20,
		MaxConnectionReceiveWindow: 32 << 20,
	}
}

// protocols are the application protocols this release speaks, preferred
// first: version 1 with stub records, then version 1 as first published
// (wire.go, alpnStubs).
var protocols = []string{alpnStubs, ALPN}

// withALPN returns a copy of c speaking the sync protocol over TLS 1.3,
// offering protos (nil: protocols; tests play an earlier release with
// ALPN alone).
func withALPN(c *tls.Config, protos []string) *tls.Config {
	if protos == nil {
		protos = protocols
	}
	c = c.Clone()
	c.NextProtos = protos
	c.MinVersion = tls.VersionTLS13
	return c
}

// listener accepts QUIC connections on one UDP socket.
type listener struct {
	ln *quic.Listener
}

func listen(addr string, tlsConf *tls.Config) (*listener, error) {
	return listenALPN(addr, tlsConf, nil)
}

// listenALPN is listen offering protos (nil: protocols).
func listenALPN(addr string, tlsConf *tls.Config, protos []string) (*listener, error) {
	ln, err := quic.ListenAddr(addr, withALPN(tlsConf, protos), quicConfig())
	if err != nil {
		return nil, fmt.Errorf("listen quic on %s: %w", addr, err)
	}
	return &listener{ln: ln}, nil
}

func (l *listener) accept(ctx context.Context) (*conn, error) {
	qc, err := l.ln.Accept(ctx)
	if err != nil {
		return nil, fmt.Errorf("accept quic: %w", flatten(err))
	}
	return &conn{qc: qc}, nil
}

func (l *listener) addr() net.Addr { return l.ln.Addr() }

func (l *listener) close() error { return l.ln.Close() }

// conn is one QUIC connection with a verified peer.
type conn struct {
	qc  *quic.Conn
	wan *WAN // the edge's WAN, counting its streams' bytes; nil at central
}

func dial(ctx context.Context, addr string, tlsConf *tls.Config) (*conn, error) {
	return dialWAN(ctx, addr, tlsConf, nil, nil)
}

// dialWAN dials addr offering protos (nil: protocols) from a UDP socket of
// its own, shaped to wan's cap and counted in wan (nil: neither). The
// socket is closed with the connection.
func dialWAN(ctx context.Context, addr string, tlsConf *tls.Config, wan *WAN, protos []string) (*conn, error) {
	if wan == nil || wan.cap <= 0 {
		// quic-go's own socket keeps its batching (GSO) and ECN.
		qc, err := quic.DialAddr(ctx, addr, withALPN(tlsConf, protos), quicConfig())
		if err != nil {
			return nil, fmt.Errorf("dial quic %s: %w", addr, flatten(err))
		}
		return &conn{qc: qc, wan: wan}, nil
	}
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial quic %s: %w", addr, err)
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		return nil, fmt.Errorf("dial quic %s: %w", addr, err)
	}
	tr := &quic.Transport{Conn: wan.shape(udp)}
	tc := withALPN(tlsConf, protos)
	if tc.ServerName == "" {
		// As quic.DialAddr does: the name central's certificate is checked
		// against is the host dialled.
		if h, _, err := net.SplitHostPort(addr); err == nil {
			tc.ServerName = h
		}
	}
	qc, err := tr.Dial(ctx, raddr, tc, quicConfig())
	if err != nil {
		tr.Close()
		return nil, fmt.Errorf("dial quic %s: %w", addr, flatten(err))
	}
	// The transport (and its socket) is the connection's: it goes with it.
	go func() {
		<-qc.Context().Done()
		tr.Close()
	}()
	return &conn{qc: qc, wan: wan}, nil
}

func (c *conn) openStream(ctx context.Context) (*stream, error) {
	s, err := c.qc.OpenStreamSync(ctx)
	if err != nil {
		return nil, fmt.Errorf("open stream: %w", flatten(err))
	}
	return &stream{s: s, wan: c.wan}, nil
}

func (c *conn) acceptStream(ctx context.Context) (*stream, error) {
	s, err := c.qc.AcceptStream(ctx)
	if err != nil {
		return nil, fmt.Errorf("accept stream: %w", flatten(err))
	}
	return &stream{s: s, wan: c.wan}, nil
}

// peerCertificates returns the peer's verified chain, leaf first.
func (c *conn) peerCertificates() []*x509.Certificate {
	return c.qc.ConnectionState().TLS.PeerCertificates
}

func (c *conn) remoteAddr() net.Addr { return c.qc.RemoteAddr() }

// protocol is the application protocol both ends agreed on (ALPN).
func (c *conn) protocol() string { return c.qc.ConnectionState().TLS.NegotiatedProtocol }

// done is closed when the connection ends, for any reason.
func (c *conn) done() <-chan struct{} { return c.qc.Context().Done() }

// close ends the connection with a reason the peer can log.
func (c *conn) close(reason string) { _ = c.qc.CloseWithError(0, reason) }

// stream is one request/response exchange.
type stream struct {
	s   *quic.Stream
	wan *WAN // nil: not counted
}

func (s *stream) Read(p []byte) (int, error) {
	n, err := s.s.Read(p)
	if s.wan != nil {
		s.wan.receivd.Add(uint64(n))
	}
	return n, flatten(err)
}

func (s *stream) Write(p []byte) (int, error) {
	n, err := s.s.Write(p)
	if s.wan != nil {
		s.wan.sent.Add(uint64(n))
	}
	return n, flatten(err)
}

func (s *stream) setDeadline(t time.Time) { _ = s.s.SetDeadline(t) }

// done is closed when the peer has gone away from the stream or the
// connection has ended.
func (s *stream) done() <-chan struct{} { return s.s.Context().Done() }

// context is cancelled when done is closed.
func (s *stream) context() context.Context { return s.s.Context() }

// finish ends both directions once the exchange is over: our side sends
// its end of stream, and whatever the peer still sends is discarded.
func (s *stream) finish() {
	_ = s.s.Close()
	s.s.CancelRead(0)
}

// closeWrite sends our end of stream and keeps reading.
func (s *stream) closeWrite() { _ = s.s.Close() }

// abort resets both directions.
func (s *stream) abort() {
	s.s.CancelWrite(0)
	s.s.CancelRead(0)
}

// flatten turns quic-go's error types into plain errors, so that callers
// never depend on them; the text is kept for logs.
func flatten(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: %s", ErrLinkClosed, err.Error())
}
