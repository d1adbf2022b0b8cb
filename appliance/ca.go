package appliance

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
)

const (
	// caValidity is how long the region's root lasts.
	caValidity = 10 * 365 * 24 * time.Hour
	// DefaultEdgeTTL is an edge certificate's life when none is asked for:
	// longer than any outage, school holidays included.
	DefaultEdgeTTL = 400 * 24 * time.Hour
	// DefaultServerTTL is a central listener certificate's life.
	DefaultServerTTL = 400 * 24 * time.Hour
	// clockSkew back-dates certificates so that a slightly late clock
	// accepts them at once.
	clockSkew = 5 * time.Minute

	edgeCNPrefix = "edge:"
	uriScheme    = "atrium"
	uriHost      = "edge"
)

// uaiShape is a UAI without its check letter verified: a department (three
// digits, or 2A/2B then a digit in Corsica), four digits, a letter.
var uaiShape = regexp.MustCompile(`^(\d{3}|2[AB]\d)\d{4}[A-Z]$`)

// ValidUAIShape reports whether s has the shape of a UAI.
func ValidUAIShape(s string) bool { return uaiShape.MatchString(s) }

// CA is the region's certificate authority for appliances and central's
// listeners.
type CA struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
	pool    *x509.CertPool
}

// NewCA creates a root CA (ECDSA P-256, valid ten years from now) and
// returns its certificate and PKCS#8 private key in PEM.
func NewCA(name string, now time.Time) (certPEM, keyPEM []byte, err error) {
	if name == "" {
		return nil, nil, fmt.Errorf("new CA: %w: empty name", ErrBadCA)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("new CA: generate key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, fmt.Errorf("new CA: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Atrium"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("new CA: sign: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("new CA: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// LoadCA parses a CA made by NewCA. It checks that the certificate is a CA
// and that the key is its own.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w: %v", ErrBadCA, err)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("load CA: %w: certificate is not a CA", ErrBadCA)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w: %v", ErrBadCA, err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("load CA: %w: key does not match certificate", ErrBadCA)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{
		cert:    cert,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		pool:    pool,
	}, nil
}

// Pool returns a new pool holding only this CA, for verifying peers.
func (ca *CA) Pool() *x509.CertPool { return ca.pool.Clone() }

// CertPEM returns the CA certificate in PEM.
func (ca *CA) CertPEM() []byte { return append([]byte(nil), ca.certPEM...) }

// Certificate returns the parsed CA certificate. Callers must not modify it.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// IssueEdge signs a client certificate for the appliance of lycée uai, for
// the key in csrPEM. The request's signature is checked; the names it asks
// for are ignored: the certificate names uai (Subject CN "edge:UAI", URI
// SAN "atrium://edge/UAI"). It is valid from now (less five minutes of
// clock skew) for ttl, DefaultEdgeTTL if ttl is zero, and never beyond the
// CA's own expiry.
func (ca *CA) IssueEdge(csrPEM []byte, uai string, now time.Time, ttl time.Duration) ([]byte, error) {
	if !ValidUAIShape(uai) {
		return nil, fmt.Errorf("issue edge certificate: %w: %q", ErrBadUAI, uai)
	}
	csr, err := ParseCSR(csrPEM)
	if err != nil {
		return nil, fmt.Errorf("issue edge certificate: %w", err)
	}
	if ttl < 0 {
		return nil, fmt.Errorf("issue edge certificate: negative ttl %v", ttl)
	}
	if ttl == 0 {
		ttl = DefaultEdgeTTL
	}
	serial, err := newSerial()
	if err != nil {
		return nil, fmt.Errorf("issue edge certificate: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: edgeCNPrefix + uai, Organization: []string{"Atrium"}},
		URIs:         []*url.URL{edgeURI(uai)},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     ca.clampExpiry(now.Add(ttl)),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, csr.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("issue edge certificate: sign: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// IssueServer makes a key and a server certificate for one of central's
// QUIC listeners, naming hosts (IP SANs for addresses, DNS names
// otherwise). ttl zero means DefaultServerTTL.
func (ca *CA) IssueServer(name string, hosts []string, now time.Time, ttl time.Duration) (tls.Certificate, error) {
	if len(hosts) == 0 {
		return tls.Certificate{}, fmt.Errorf("issue server certificate %q: no hosts", name)
	}
	if ttl < 0 {
		return tls.Certificate{}, fmt.Errorf("issue server certificate %q: negative ttl %v", name, ttl)
	}
	if ttl == 0 {
		ttl = DefaultServerTTL
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue server certificate %q: generate key: %w", name, err)
	}
	serial, err := newSerial()
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue server certificate %q: %w", name, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name, Organization: []string{"Atrium"}},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     ca.clampExpiry(now.Add(ttl)),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue server certificate %q: sign: %w", name, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue server certificate %q: %w", name, err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

func (ca *CA) clampExpiry(t time.Time) time.Time {
	if t.After(ca.cert.NotAfter) {
		return ca.cert.NotAfter
	}
	return t
}

// EdgeUAI returns the UAI an edge certificate names. It requires exactly
// one atrium://edge/ URI, a Subject CN that agrees with it and the shape
// of a UAI. It does not verify the chain: the TLS handshake has.
func EdgeUAI(cert *x509.Certificate) (string, error) {
	if cert == nil {
		return "", fmt.Errorf("%w: no certificate", ErrNotEdge)
	}
	var uai string
	found := 0
	for _, u := range cert.URIs {
		if u.Scheme != uriScheme || u.Host != uriHost {
			continue
		}
		found++
		uai = strings.TrimPrefix(u.Path, "/")
	}
	if found != 1 {
		return "", fmt.Errorf("%w: %d atrium://edge/ names, want 1", ErrNotEdge, found)
	}
	if cert.Subject.CommonName != edgeCNPrefix+uai {
		return "", fmt.Errorf("%w: subject %q does not match URI name %q", ErrNotEdge, cert.Subject.CommonName, uai)
	}
	if !ValidUAIShape(uai) {
		return "", fmt.Errorf("%w: %w: %q", ErrNotEdge, ErrBadUAI, uai)
	}
	return uai, nil
}

func edgeURI(uai string) *url.URL {
	return &url.URL{Scheme: uriScheme, Host: uriHost, Path: "/" + uai}
}

// ParseCSR decodes a PEM certificate request, checks its signature and
// that its key is one an edge may use (ECDSA P-256/P-384 or Ed25519).
func ParseCSR(csrPEM []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("%w: no PEM CERTIFICATE REQUEST", ErrBadCSR)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCSR, err)
	}
	switch k := csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return nil, fmt.Errorf("%w: ECDSA curve %s", ErrBadCSR, k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	default:
		return nil, fmt.Errorf("%w: key type %T", ErrBadCSR, csr.PublicKey)
	}
	return csr, nil
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("no PEM CERTIFICATE")
	}
	return x509.ParseCertificate(block.Bytes)
}

func parseKeyPEM(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("no PEM private key")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, err
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key type %T cannot sign", key)
	}
	return s, nil
}

func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	return serial.Add(serial, big.NewInt(1)), nil
}
