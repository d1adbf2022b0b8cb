package appliance

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2025, 9, 1, 8, 0, 0, 0, time.UTC)

func newTestCA(t testing.TB) *CA {
	t.Helper()
	certPEM, keyPEM, err := NewCA("Atrium test CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ca, err := LoadCA(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func newCSR(t testing.TB, cn string, uris ...string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}
	for _, u := range uris {
		tmpl.URIs = append(tmpl.URIs, edgeURI(u))
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// fakeEnroller keeps tokens in memory and spends each once, as central's
// raft state does.
type fakeEnroller struct {
	ca      *CA
	now     func() time.Time
	central []string

	mu     sync.Mutex
	tokens map[string]*fakeToken
}

type fakeToken struct {
	uai     string
	expires time.Time
	used    bool
}

func newFakeEnroller(t testing.TB, now func() time.Time) *fakeEnroller {
	return &fakeEnroller{ca: newTestCA(t), now: now, central: []string{"127.0.0.1:7001", "127.0.0.1:7002"}, tokens: map[string]*fakeToken{}}
}

func (f *fakeEnroller) addToken(uai string, expires time.Time) string {
	token, hash := NewToken()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens[hash] = &fakeToken{uai: uai, expires: expires}
	return token
}

func (f *fakeEnroller) ConsumeEnrolToken(ctx context.Context, hash string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tok, ok := f.tokens[hash]
	switch {
	case !ok:
		return "", errors.New("unknown token")
	case tok.used:
		return "", errors.New("token already used")
	case !f.now().Before(tok.expires):
		return "", errors.New("token expired")
	}
	tok.used = true
	return tok.uai, nil
}

func (f *fakeEnroller) CA(context.Context) (*CA, error) { return f.ca, nil }
func (f *fakeEnroller) CentralQUIC() []string           { return f.central }

func newEnrolServer(t *testing.T) (*fakeEnroller, string) {
	t.Helper()
	f := newFakeEnroller(t, time.Now)
	mux := http.NewServeMux()
	mux.Handle("POST "+EnrolPath, EnrolHandler(f, 0, nil, nil))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func TestEnrollEndToEnd(t *testing.T) {
	f, url := newEnrolServer(t)
	token := f.addToken("0130040Y", time.Now().Add(time.Hour))
	dir := filepath.Join(t.TempDir(), "identity")

	id, err := Enroll(t.Context(), url, token, dir)
	if err != nil {
		t.Fatalf("Enroll: %v", err)
	}
	if id.UAI != "0130040Y" {
		t.Errorf("UAI = %q, want 0130040Y", id.UAI)
	}
	if diff := cmp.Diff(f.central, id.Central); diff != "" {
		t.Errorf("Central (-want +got):\n%s", diff)
	}
	if _, err := id.Cert.Leaf.Verify(x509.VerifyOptions{Roots: f.ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("issued certificate does not verify against the CA: %v", err)
	}
	if uai, err := EdgeUAI(id.Cert.Leaf); err != nil || uai != "0130040Y" {
		t.Errorf("EdgeUAI = %q, %v; want 0130040Y", uai, err)
	}
	if !bytes.Equal(id.CACertPEM, f.ca.CertPEM()) {
		t.Errorf("CACertPEM is not the CA's certificate")
	}
	if got, want := time.Until(id.Cert.Leaf.NotAfter), DefaultEdgeTTL-time.Minute; got < want {
		t.Errorf("certificate lasts %v, want about %v", got, DefaultEdgeTTL)
	}

	st, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("%s mode = %v, want 0600", KeyFile, perm)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{CAFile, CertFile, KeyFile, IdentityFile}, names); diff != "" {
		t.Errorf("files in identity dir (-want +got):\n%s", diff)
	}

	loaded, err := LoadIdentity(dir)
	if err != nil {
		t.Fatalf("LoadIdentity: %v", err)
	}
	if loaded.UAI != id.UAI || !cmp.Equal(loaded.Central, id.Central) ||
		!bytes.Equal(loaded.Cert.Leaf.Raw, id.Cert.Leaf.Raw) || !bytes.Equal(loaded.CACertPEM, id.CACertPEM) {
		t.Errorf("LoadIdentity = %+v, want what Enroll returned %+v", loaded, id)
	}
	if !loaded.Cert.PrivateKey.(*ecdsa.PrivateKey).Equal(id.Cert.PrivateKey) {
		t.Errorf("LoadIdentity key differs from the enrolled key")
	}

	// A second enrolment in the same directory would lose the key.
	token2 := f.addToken("0130040Y", time.Now().Add(time.Hour))
	if _, err := Enroll(t.Context(), url, token2, dir); !errors.Is(err, ErrAlreadyEnrolled) {
		t.Errorf("Enroll twice in one dir = %v, want ErrAlreadyEnrolled", err)
	}
}

func TestEnrollTokenUsedOnce(t *testing.T) {
	f, url := newEnrolServer(t)
	token := f.addToken("0060001A", time.Now().Add(time.Hour))
	if _, err := Enroll(t.Context(), url, token, t.TempDir()); err != nil {
		t.Fatalf("first Enroll: %v", err)
	}
	dir := t.TempDir()
	_, err := Enroll(t.Context(), url, token, dir)
	if !errors.Is(err, ErrEnrolRefused) {
		t.Fatalf("second Enroll with the same token = %v, want ErrEnrolRefused", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("refused enrolment left %d files in the directory", len(entries))
	}
	if _, err := LoadIdentity(dir); !errors.Is(err, ErrNotEnrolled) {
		t.Errorf("LoadIdentity after refusal = %v, want ErrNotEnrolled", err)
	}
}

func TestEnrollRefusals(t *testing.T) {
	f, url := newEnrolServer(t)
	expired := f.addToken("0060001A", time.Now().Add(-time.Second))
	for name, token := range map[string]string{"expired": expired, "unknown": "not-a-token"} {
		t.Run(name, func(t *testing.T) {
			code, body := postJSON(t, url, map[string]string{"token": token, "csr": string(newCSR(t, "x"))})
			if code != http.StatusForbidden || body["error"] == "" {
				t.Errorf("enrol with %s token = %d %v, want 403 with an error", name, code, body)
			}
		})
	}
}

func postJSON(t *testing.T, url string, v any) (int, map[string]any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return postRaw(t, url, b)
}

func postRaw(t *testing.T, url string, b []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+EnrolPath, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("answer %d is not JSON: %q", resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

func TestEnrolBadRequestKeepsToken(t *testing.T) {
	f, url := newEnrolServer(t)
	token := f.addToken("0130040Y", time.Now().Add(time.Hour))
	block, _ := pem.Decode(newCSR(t, "x"))
	block.Bytes[len(block.Bytes)-1] ^= 1 // the signature's last byte
	tampered := pem.EncodeToMemory(block)
	if _, err := x509.ParseCertificateRequest(block.Bytes); err != nil {
		t.Fatalf("tampered CSR should still parse: %v", err)
	}

	cases := map[string][]byte{
		"not JSON":       []byte(`{"token":`),
		"trailing data":  []byte(`{"token":"` + token + `","csr":"x"} {}`),
		"unknown field":  []byte(`{"token":"` + token + `","csr":"x","uai":"0060001A"}`),
		"no csr":         []byte(`{"token":"` + token + `"}`),
		"garbage csr":    mustJSON(t, map[string]string{"token": token, "csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}),
		"tampered csr":   mustJSON(t, map[string]string{"token": token, "csr": string(tampered)}),
		"too large body": mustJSON(t, map[string]string{"token": token, "csr": strings.Repeat("x", maxEnrolBody)}),
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			code, out := postRaw(t, url, body)
			if code != http.StatusBadRequest || out["error"] == "" {
				t.Errorf("POST %s = %d %v, want 400 with an error", name, code, out)
			}
		})
	}
	// None of those spent the token.
	if _, err := Enroll(t.Context(), url, token, t.TempDir()); err != nil {
		t.Errorf("Enroll after bad requests = %v, want the token still usable", err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEnrolIgnoresRequestedNames(t *testing.T) {
	f, url := newEnrolServer(t)
	token := f.addToken("0130040Y", time.Now().Add(time.Hour))
	csr := newCSR(t, "edge:0060001A", "0060001A")
	code, out := postJSON(t, url, map[string]string{"token": token, "csr": string(csr)})
	if code != http.StatusOK {
		t.Fatalf("enrol = %d %v, want 200", code, out)
	}
	if out["uai"] != "0130040Y" {
		t.Errorf("answer uai = %v, want 0130040Y", out["uai"])
	}
	cert, err := parseCertPEM([]byte(out["certificate"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	if uai, err := EdgeUAI(cert); err != nil || uai != "0130040Y" {
		t.Errorf("EdgeUAI of a certificate asked for 0060001A = %q, %v; want the token's 0130040Y", uai, err)
	}
	if len(cert.URIs) != 1 || cert.Subject.CommonName != "edge:0130040Y" {
		t.Errorf("certificate names CN %q URIs %v, want only the token's UAI", cert.Subject.CommonName, cert.URIs)
	}
}

func TestEnrolMethod(t *testing.T) {
	f := newFakeEnroller(t, time.Now)
	rec := httptest.NewRecorder()
	EnrolHandler(f, 0, nil, nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, EnrolPath, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET %s = %d, want 405", EnrolPath, rec.Code)
	}
}

func TestIssueEdge(t *testing.T) {
	ca := newTestCA(t)
	certPEM, err := ca.IssueEdge(newCSR(t, "whatever"), "2A00123B", t0, 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cert.NotBefore, t0.Add(-5*time.Minute); !got.Equal(want) {
		t.Errorf("NotBefore = %v, want %v", got, want)
	}
	if got, want := cert.NotAfter, t0.Add(48*time.Hour); !got.Equal(want) {
		t.Errorf("NotAfter = %v, want %v", got, want)
	}
	if !cmp.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Errorf("ExtKeyUsage = %v, want client auth only", cert.ExtKeyUsage)
	}
	if got := cert.URIs[0].String(); got != "atrium://edge/2A00123B" {
		t.Errorf("URI SAN = %q, want atrium://edge/2A00123B", got)
	}

	for _, bad := range []string{"", "013004Y", "0130040y", "01300400", "3A00123B", "0130040Y/x", "../0130040Y"} {
		if _, err := ca.IssueEdge(newCSR(t, "x"), bad, t0, 0); !errors.Is(err, ErrBadUAI) {
			t.Errorf("IssueEdge(uai %q) = %v, want ErrBadUAI", bad, err)
		}
	}
}

func TestEdgeUAIRefusesOtherCertificates(t *testing.T) {
	ca := newTestCA(t)
	srv, err := ca.IssueServer("central-1", []string{"127.0.0.1"}, t0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := EdgeUAI(srv.Leaf); !errors.Is(err, ErrNotEdge) {
		t.Errorf("EdgeUAI(server certificate) = %v, want ErrNotEdge", err)
	}
	// A certificate whose CN and URI disagree.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "edge:0130040Y"},
		URIs:         []*url.URL{edgeURI("0060001A")},
		NotBefore:    t0, NotAfter: t0.Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	mixed, _ := x509.ParseCertificate(der)
	if _, err := EdgeUAI(mixed); !errors.Is(err, ErrNotEdge) {
		t.Errorf("EdgeUAI(CN and URI disagree) = %v, want ErrNotEdge", err)
	}
}

func TestLoadCARefusesMismatchedKey(t *testing.T) {
	certA, _, err := NewCA("A", t0)
	if err != nil {
		t.Fatal(err)
	}
	_, keyB, err := NewCA("B", t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(certA, keyB); !errors.Is(err, ErrBadCA) {
		t.Errorf("LoadCA(cert A, key B) = %v, want ErrBadCA", err)
	}
	if _, err := LoadCA([]byte("nope"), keyB); !errors.Is(err, ErrBadCA) {
		t.Errorf("LoadCA(garbage) = %v, want ErrBadCA", err)
	}
}

func TestToken(t *testing.T) {
	tok, hash := NewToken()
	if len(tok) != 43 {
		t.Errorf("token %q has %d characters, want 43 (32 bytes base64url)", tok, len(tok))
	}
	if HashToken(tok) != hash || len(hash) != 64 {
		t.Errorf("HashToken(token) = %q, want %q (64 hex)", HashToken(tok), hash)
	}
	if tok2, _ := NewToken(); tok2 == tok {
		t.Errorf("two tokens are equal")
	}
}

// enrolled builds an identity straight from a CA, without HTTP.
func enrolled(t *testing.T, ca *CA, uai string) *Identity {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := ca.IssueEdge(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), uai, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	id, err := buildIdentity(certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), ca.CertPEM(), identityFile{UAI: uai})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// handshake runs a TLS handshake over loopback TCP and returns each side's
// error and the UAI the server saw.
func handshake(t *testing.T, server, client *tls.Config) (uai string, serverErr, clientErr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		err error
		uai string
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		tc := tls.Server(c, server)
		if err := tc.Handshake(); err != nil {
			done <- result{err: err}
			return
		}
		// Read the client's byte so the client learns of failures the
		// server detects after the client's Finished (TLS 1.3).
		buf := make([]byte, 1)
		if _, err := io.ReadFull(tc, buf); err != nil {
			done <- result{err: err}
			return
		}
		u, err := EdgeUAI(tc.ConnectionState().PeerCertificates[0])
		tc.Write([]byte{1})
		done <- result{err: err, uai: u}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	client = client.Clone()
	client.ServerName = "127.0.0.1"
	tc := tls.Client(c, client)
	clientErr = tc.Handshake()
	if clientErr == nil {
		if _, err := tc.Write([]byte{1}); err != nil {
			clientErr = err
		} else if _, err := io.ReadFull(tc, make([]byte, 1)); err != nil {
			clientErr = err
		}
	}
	c.Close()
	r := <-done
	return r.uai, r.err, clientErr
}

func TestMutualTLS(t *testing.T) {
	ca := newTestCA(t)
	serverCert, err := ca.IssueServer("central-1", []string{"127.0.0.1", "localhost"}, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	server := ServerTLS(serverCert, ca.Pool())
	edge := enrolled(t, ca, "0130040Y")

	t.Run("same CA", func(t *testing.T) {
		uai, serr, cerr := handshake(t, server, edge.ClientTLS())
		if serr != nil || cerr != nil {
			t.Fatalf("handshake: server %v, client %v; want success", serr, cerr)
		}
		if uai != "0130040Y" {
			t.Errorf("server sees UAI %q, want 0130040Y", uai)
		}
	})
	t.Run("edge from another CA", func(t *testing.T) {
		intruder := enrolled(t, newTestCA(t), "0130040Y")
		cfg := intruder.ClientTLS()
		cfg.RootCAs = ca.Pool() // it trusts the real central
		_, serr, cerr := handshake(t, server, cfg)
		if serr == nil || cerr == nil {
			t.Errorf("handshake with a foreign edge certificate: server %v, client %v; want both to fail", serr, cerr)
		}
	})
	t.Run("central from another CA", func(t *testing.T) {
		fake, err := newTestCA(t).IssueServer("central-x", []string{"127.0.0.1"}, time.Now(), 0)
		if err != nil {
			t.Fatal(err)
		}
		_, _, cerr := handshake(t, ServerTLS(fake, ca.Pool()), edge.ClientTLS())
		if cerr == nil {
			t.Errorf("edge accepted a central certificate from another CA")
		}
	})
	t.Run("server certificate as client", func(t *testing.T) {
		cfg := edge.ClientTLS()
		cfg.Certificates = []tls.Certificate{serverCert}
		_, serr, _ := handshake(t, server, cfg)
		if serr == nil {
			t.Errorf("server accepted a server certificate as an edge's")
		}
	})
}

func TestLoadIdentityRefusesTampering(t *testing.T) {
	f, url := newEnrolServer(t)
	dir := t.TempDir()
	if _, err := Enroll(t.Context(), url, f.addToken("0130040Y", time.Now().Add(time.Hour)), dir); err != nil {
		t.Fatal(err)
	}
	meta := filepath.Join(dir, IdentityFile)
	if err := os.WriteFile(meta, []byte(`{"uai":"0060001A","central":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIdentity(dir); !errors.Is(err, ErrNotEdge) {
		t.Errorf("LoadIdentity with a UAI the certificate does not name = %v, want ErrNotEdge", err)
	}
}

func FuzzEnrolRequest(f *testing.F) {
	fe := newFakeEnroller(f, time.Now)
	token := fe.addToken("0130040Y", time.Now().Add(time.Hour))
	f.Add([]byte(`{"token":"` + token + `","csr":"x"}`))
	f.Add([]byte(`{"token":"","csr":""}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"token":"` + token + `","csr":` + fmt.Sprintf("%q", newCSR(f, "y")[:40]) + `}`))
	h := EnrolHandler(fe, 0, nil, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, EnrolPath, bytes.NewReader(body)))
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("answer %d is not JSON: %q", rec.Code, rec.Body.Bytes())
		}
		if rec.Code != http.StatusOK && out["error"] == "" {
			t.Fatalf("refusal %d without error message", rec.Code)
		}
	})
}

func FuzzEdgeUAI(f *testing.F) {
	for _, s := range []string{"0130040Y", "2A00123B", "", "0130040Y/../x", "%00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u := edgeURI(s)
		cert := &x509.Certificate{Subject: pkix.Name{CommonName: edgeCNPrefix + s}, URIs: []*url.URL{u}}
		uai, err := EdgeUAI(cert)
		if err == nil && (uai != s || !ValidUAIShape(uai)) {
			t.Fatalf("EdgeUAI accepted %q as %q", s, uai)
		}
	})
}
