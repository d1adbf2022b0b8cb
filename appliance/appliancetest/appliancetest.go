package appliancetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	"atrium/appliance"
)

// NewCA returns a fresh region CA.
func NewCA(t testing.TB) *appliance.CA {
	t.Helper()
	certPEM, keyPEM, err := appliance.NewCA("Atrium test CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ca, err := appliance.LoadCA(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// ServerTLS is the TLS configuration of a central replication listener on
// 127.0.0.1, as central builds it.
func ServerTLS(t testing.TB, ca *appliance.CA) *tls.Config {
	t.Helper()
	cert, err := ca.IssueServer("central-1", []string{"127.0.0.1"}, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return appliance.ServerTLS(cert, ca.Pool())
}

// Enrolled returns the identity of lycée uai's appliance as enrolment
// leaves it: a key made here, its certificate issued by ca from a
// certificate request.
func Enrolled(t testing.TB, ca *appliance.CA, uai string) *appliance.Identity {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := ca.IssueEdge(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}), uai, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return &appliance.Identity{
		UAI:       uai,
		Cert:      tls.Certificate{Certificate: [][]byte{block.Bytes}, PrivateKey: key, Leaf: leaf},
		CACertPEM: ca.CertPEM(),
		Pool:      ca.Pool(),
	}
}
