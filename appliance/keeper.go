package appliance

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultRenewBefore is the fraction of its life a certificate has left
// when the appliance renews it: a third, more than four months of a
// 400-day certificate.
const DefaultRenewBefore = 1.0 / 3

// Backoff between renewal attempts while central cannot renew.
const (
	defaultRetryMin = 10 * time.Second
	defaultRetryMax = 30 * time.Minute
)

// Renew asks central at centralURL (the base URL of its HTTP API) for a
// certificate for a new key, proving possession of id's key, and saves the
// new pair in dir, atomically as a pair. It returns the new identity; id
// stays what dir holds until the pair is saved. A refusal central says
// trying again will not cure (expired, revoked…) wraps ErrRenewRefused;
// central unable to renew now wraps ErrUnavailable.
func Renew(ctx context.Context, centralURL, dir string, id *Identity, now time.Time) (*Identity, error) {
	signer, ok := id.Cert.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("renew: key type %T cannot sign", id.Cert.PrivateKey)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("renew: generate key: %w", err)
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: edgeCNPrefix + id.UAI},
		URIs:    []*url.URL{edgeURI(id.UAI)},
	}, key)
	if err != nil {
		return nil, fmt.Errorf("renew: certificate request: %w", err)
	}
	ms := now.UnixMilli()
	sig, err := signRenewal(signer, RenewSigned(ms, csrDER, id.Cert.Certificate[0]))
	if err != nil {
		return nil, fmt.Errorf("renew: %w", err)
	}
	resp, err := postRenew(ctx, centralURL, RenewRequest{
		Certificate: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: id.Cert.Certificate[0]})),
		CSR:         string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER})),
		Time:        ms,
		Signature:   base64.StdEncoding.EncodeToString(sig),
	})
	if err != nil {
		return nil, err
	}

	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("renew: marshal key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	// The CA stays the one pinned at enrolment: a certificate from any
	// other is refused, whatever the answer's "ca" says.
	next, err := buildIdentity([]byte(resp.Certificate), keyPEM, id.CACertPEM,
		identityFile{UAI: id.UAI, Central: id.Central, CentralURL: id.CentralURL})
	if err != nil {
		return nil, fmt.Errorf("renew: central's answer: %w", err)
	}
	if _, err := next.Cert.Leaf.Verify(x509.VerifyOptions{
		Roots:       next.Pool,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return nil, fmt.Errorf("renew: central's certificate: %w", err)
	}
	if err := savePair(dir, keyPEM, []byte(resp.Certificate)); err != nil {
		return nil, fmt.Errorf("renew: save the new key and certificate: %w", err)
	}
	return next, nil
}

func postRenew(ctx context.Context, centralURL string, body RenewRequest) (*RenewResponse, error) {
	var resp RenewResponse
	status, msg, err := callCentral(ctx, strings.TrimRight(centralURL, "/")+RenewPath, body, &resp)
	switch {
	case err != nil:
		return nil, fmt.Errorf("renew: %w: %w", ErrUnavailable, err)
	case status == http.StatusBadRequest, status == http.StatusForbidden:
		return nil, fmt.Errorf("renew: %w: %s", ErrRenewRefused, msg)
	case status >= 500, status == http.StatusTooManyRequests:
		return nil, fmt.Errorf("renew: %w: %s", ErrUnavailable, msg)
	case status != http.StatusOK:
		return nil, fmt.Errorf("renew: central answered %d %s: %s", status, http.StatusText(status), msg)
	}
	return &resp, nil
}

// KeeperConfig configures a Keeper. Dir is required.
type KeeperConfig struct {
	Dir string // the identity directory
	// CentralURL is central's HTTP API; "" means the identity's
	// CentralURL. Without either the keeper cannot renew (Serve says so).
	CentralURL string
	// RenewBefore is the fraction of its life a certificate has left when
	// it is renewed, in (0, 1); zero means DefaultRenewBefore.
	RenewBefore float64
	// RetryMin and RetryMax bound the backoff between attempts while
	// central cannot renew; zero means 10 s and 30 min.
	RetryMin, RetryMax time.Duration
	Now                func() time.Time // nil: time.Now
	Logger             *slog.Logger     // nil: slog.Default()
}

// Keeper keeps an appliance's identity current: it renews the certificate
// before it expires and hands the current pair to every new TLS
// handshake. Its methods are safe for concurrent use; Serve runs once.
type Keeper struct {
	cfg KeeperConfig
	cur atomic.Pointer[Identity]

	mu sync.Mutex // one renewal at a time
}

// NewKeeper returns a keeper of id, the identity saved in cfg.Dir.
func NewKeeper(id *Identity, cfg KeeperConfig) (*Keeper, error) {
	switch {
	case id == nil:
		return nil, errors.New("appliance: new keeper: identity is required")
	case cfg.Dir == "":
		return nil, errors.New("appliance: new keeper: Dir is required")
	case cfg.RenewBefore < 0 || cfg.RenewBefore >= 1:
		return nil, fmt.Errorf("appliance: new keeper: RenewBefore %v not in [0, 1)", cfg.RenewBefore)
	}
	if cfg.CentralURL == "" {
		cfg.CentralURL = id.CentralURL
	}
	if cfg.RenewBefore == 0 {
		cfg.RenewBefore = DefaultRenewBefore
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = defaultRetryMin
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(defaultRetryMax, cfg.RetryMin)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	k := &Keeper{cfg: cfg}
	k.cur.Store(id)
	return k, nil
}

// Identity returns the current identity.
func (k *Keeper) Identity() *Identity { return k.cur.Load() }

// NotAfter is when the current certificate expires.
func (k *Keeper) NotAfter() time.Time { return k.Identity().Cert.Leaf.NotAfter }

// RenewAt is when the current certificate is due for renewal: when
// RenewBefore of its life is left.
func (k *Keeper) RenewAt() time.Time {
	leaf := k.Identity().Cert.Leaf
	life := leaf.NotAfter.Sub(IssuedAt(leaf))
	return leaf.NotAfter.Add(-time.Duration(float64(life) * k.cfg.RenewBefore))
}

// ClientTLS is the edge's side of the sync link, as Identity.ClientTLS,
// except that each handshake presents the certificate current at that
// time: a renewed one serves the next connection without a restart.
func (k *Keeper) ClientTLS() *tls.Config {
	return &tls.Config{
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			c := k.Identity().Cert
			return &c, nil
		},
		RootCAs:    k.Identity().Pool,
		MinVersion: tls.VersionTLS13,
		NextProtos: []string{ALPN},
	}
}

// Renew renews the certificate now, whatever its age, and makes the new
// one current.
func (k *Keeper) Renew(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cfg.CentralURL == "" {
		return errNoCentralURL
	}
	old := k.Identity()
	next, err := Renew(ctx, k.cfg.CentralURL, k.cfg.Dir, old, k.cfg.Now())
	if err != nil {
		return err
	}
	k.cur.Store(next)
	k.cfg.Logger.Info("edge certificate renewed; certificat de l'équipement renouvelé",
		"uai", next.UAI, "notAfter", next.Cert.Leaf.NotAfter, "previousNotAfter", old.Cert.Leaf.NotAfter)
	return nil
}

// errNoCentralURL: an appliance enrolled before renewal existed, started
// without a central URL.
var errNoCentralURL = errors.New("appliance: no central URL to renew the certificate at (start the edge with --central URL)")

// Serve renews the certificate whenever it is due, until ctx is done.
// While central cannot renew (link down, no leader, a refusal) it tries
// again with backoff; the appliance keeps working with the certificate it
// has. It returns ctx's error.
func (k *Keeper) Serve(ctx context.Context) error {
	if k.cfg.CentralURL == "" {
		k.cfg.Logger.Error("edge certificate will not be renewed; le certificat de l'équipement ne sera pas renouvelé",
			"uai", k.Identity().UAI, "notAfter", k.NotAfter(), "err", errNoCentralURL)
		<-ctx.Done()
		return ctx.Err()
	}
	backoff := k.cfg.RetryMin
	wait := k.RenewAt().Sub(k.cfg.Now())
	for {
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err := k.Renew(ctx)
		if err == nil {
			backoff = k.cfg.RetryMin
			wait = k.RenewAt().Sub(k.cfg.Now())
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		notAfter := k.NotAfter()
		switch left := notAfter.Sub(k.cfg.Now()); {
		case left <= 0:
			k.cfg.Logger.Error("edge certificate expired and not renewed: enrol the appliance again; certificat expiré, réenrôler l'équipement",
				"uai", k.Identity().UAI, "notAfter", notAfter, "err", err)
		default:
			k.cfg.Logger.Warn("edge certificate renewal failed, will retry; renouvellement du certificat en échec, nouvel essai prévu",
				"uai", k.Identity().UAI, "notAfter", notAfter, "retryIn", backoff, "err", err)
		}
		wait = backoff
		if errors.Is(err, ErrRenewRefused) {
			wait = k.cfg.RetryMax
		}
		backoff = min(2*backoff, k.cfg.RetryMax)
	}
}
