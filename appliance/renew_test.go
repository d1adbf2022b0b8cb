package appliance

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const renewUAI = "0130040Y"

// fakeAuthority is central as the renewal endpoint sees it: a CA and a
// set of revoked UAIs.
type fakeAuthority struct {
	ca      *CA
	mu      sync.Mutex
	revoked map[string]bool
	readErr error
}

func (f *fakeAuthority) CA(context.Context) (*CA, error) { return f.ca, nil }
func (f *fakeAuthority) CentralQUIC() []string           { return []string{"127.0.0.1:7001"} }
func (f *fakeAuthority) Revoked(_ context.Context, uai string, _ *x509.Certificate) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.revoked[uai], f.readErr
}

// logBuffer collects a handler's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// savedIdentity enrols lycée uai's appliance in a new directory with a
// certificate issued by ca at issued for ttl, and loads it back.
func savedIdentity(t *testing.T, ca *CA, uai string, issued time.Time, ttl time.Duration, centralURL string) (*Identity, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := ca.IssueEdge(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), uai, issued, ttl)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	meta, _ := json.Marshal(identityFile{UAI: uai, Central: []string{"127.0.0.1:7001"}, CentralURL: centralURL})
	dir := filepath.Join(t.TempDir(), "identity")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		KeyFile:      pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		CertFile:     certPEM,
		CAFile:       ca.CertPEM(),
		IdentityFile: meta,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	id, err := LoadIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	return id, dir
}

// renewServer serves RenewHandler for fa, with central's clock at now()
// and certificates issued for ttl.
func renewServer(t *testing.T, fa *fakeAuthority, ttl time.Duration, now func() time.Time) (string, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	mux := http.NewServeMux()
	mux.Handle("POST "+RenewPath, RenewHandler(fa, ttl, now, slog.New(slog.NewTextHandler(logs, nil))))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL, logs
}

// renewBody is a renewal request for id's certificate, asking for uai,
// signed by signer at signedAt.
func renewBody(t *testing.T, id *Identity, uai string, signer crypto.Signer, signedAt time.Time) RenewRequest {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: edgeCNPrefix + uai},
		URIs:    []*url.URL{edgeURI(uai)},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	certDER := id.Cert.Certificate[0]
	sig, err := signRenewal(signer, RenewSigned(signedAt.UnixMilli(), csrDER, certDER))
	if err != nil {
		t.Fatal(err)
	}
	return RenewRequest{
		Certificate: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})),
		CSR:         string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER})),
		Time:        signedAt.UnixMilli(),
		Signature:   base64.StdEncoding.EncodeToString(sig),
	}
}

func postRenewJSON(t *testing.T, base string, body any) (int, map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+RenewPath, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("answer %d is not JSON: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, out
}

func TestRenewEndToEnd(t *testing.T) {
	ca := newTestCA(t)
	now := time.Now()
	fa := &fakeAuthority{ca: ca}
	base, logs := renewServer(t, fa, 30*24*time.Hour, nil)
	old, dir := savedIdentity(t, ca, renewUAI, now.Add(-300*24*time.Hour), 400*24*time.Hour, base)

	next, err := Renew(t.Context(), base, dir, old, now)
	if err != nil {
		t.Fatalf("Renew: %v", err)
	}
	leaf := next.Cert.Leaf
	if uai, err := EdgeUAI(leaf); err != nil || uai != renewUAI {
		t.Errorf("EdgeUAI(renewed) = %q, %v, want %s", uai, err, renewUAI)
	}
	if got, want := leaf.NotAfter, now.Add(30*24*time.Hour); got.Before(want.Add(-time.Minute)) || got.After(want.Add(time.Minute)) {
		t.Errorf("renewed NotAfter = %v, want about %v (now + central's TTL)", got, want)
	}
	if leaf.SerialNumber.Cmp(old.Cert.Leaf.SerialNumber) == 0 {
		t.Error("renewed certificate has the old serial")
	}
	oldPub := old.Cert.Leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if oldPub.Equal(leaf.PublicKey) {
		t.Error("renewed certificate is for the old key, want a new key")
	}
	if next.CentralURL != base || next.UAI != renewUAI {
		t.Errorf("renewed identity = UAI %q URL %q, want %s %s", next.UAI, next.CentralURL, renewUAI, base)
	}
	if strings.Count(logs.String(), "edge certificate renewed") != 1 {
		t.Errorf("central's log = %q, want one issuance line", logs.String())
	}

	// What the disk holds is the new pair, and only it.
	loaded, err := LoadIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(loaded.Cert.Certificate[0], next.Cert.Certificate[0]) {
		t.Error("LoadIdentity after Renew: not the renewed certificate")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{CAFile, CertFile, KeyFile, IdentityFile}, names); diff != "" {
		t.Errorf("identity directory after renewal (-want +got):\n%s", diff)
	}
}

// Every refusal: the JSON says why, nothing is issued, the identity on
// disk is untouched.
func TestRenewRefusals(t *testing.T) {
	ca := newTestCA(t)
	now := time.Now()
	otherCA := newTestCA(t)
	other, _ := savedIdentity(t, otherCA, renewUAI, now, 0, "")
	expired, _ := savedIdentity(t, ca, renewUAI, now.Add(-48*time.Hour), 24*time.Hour, "")
	revokedID, _ := savedIdentity(t, ca, "0060001A", now, 0, "")
	good, _ := savedIdentity(t, ca, renewUAI, now, 0, "")
	goodKey := good.Cert.PrivateKey.(crypto.Signer)
	strangerKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	notEdge := &Identity{Cert: tls.Certificate{Certificate: [][]byte{clientCertWithoutEdgeName(t, ca, goodKey)}}}

	fa := &fakeAuthority{ca: ca, revoked: map[string]bool{"0060001A": true}}
	base, logs := renewServer(t, fa, 0, nil)
	replayed := renewBody(t, good, renewUAI, goodKey, now)
	if code, out := postRenewJSON(t, base, replayed); code != http.StatusOK {
		t.Fatalf("first renewal = %d %v, want 200", code, out)
	}

	tests := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"missing signature", RenewRequest{Certificate: "x", CSR: "y", Time: 1}, 400, RenewMalformed},
		{"unknown field", map[string]any{"certificate": "x", "uai": renewUAI}, 400, RenewMalformed},
		{"other CA", renewBody(t, other, renewUAI, other.Cert.PrivateKey.(crypto.Signer), now), 403, RenewUntrusted},
		{"expired", renewBody(t, expired, renewUAI, expired.Cert.PrivateKey.(crypto.Signer), now), 403, RenewExpired},
		{"not an edge", renewBody(t, notEdge, renewUAI, goodKey, now), 403, RenewNotEdge},
		{"another UAI", renewBody(t, good, "0060001A", goodKey, now), 403, RenewUAIMismatch},
		{"signed too long ago", renewBody(t, good, renewUAI, goodKey, now.Add(-RenewWindow-time.Minute)), 403, RenewStaleTime},
		{"signed in the future", renewBody(t, good, renewUAI, goodKey, now.Add(RenewWindow+time.Minute)), 403, RenewStaleTime},
		{"another key", renewBody(t, good, renewUAI, strangerKey, now), 403, RenewBadSig},
		{"replayed", replayed, 403, RenewReplayed},
		{"revoked", renewBody(t, revokedID, "0060001A", revokedID.Cert.PrivateKey.(crypto.Signer), now), 403, RenewRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := postRenewJSON(t, base, tt.body)
			if code != tt.status || out["code"] != tt.code {
				t.Errorf("renew = %d %v, want %d %q", code, out["code"], tt.status, tt.code)
			}
			if msg, _ := out["error"].(string); msg == "" {
				t.Errorf("refusal without a message: %v", out)
			}
			if _, ok := out["certificate"]; ok {
				t.Errorf("refusal carries a certificate")
			}
		})
	}
	if n := strings.Count(logs.String(), "edge certificate renewed"); n != 1 {
		t.Errorf("certificates issued = %d, want only the first renewal's", n)
	}
	if n := strings.Count(logs.String(), "edge certificate renewal refused"); n != len(tests) {
		t.Errorf("refusals logged = %d, want %d", n, len(tests))
	}

	// Revocations that cannot be read: 503, nothing issued.
	fa.mu.Lock()
	fa.readErr = errors.New("no leader")
	fa.mu.Unlock()
	if code, out := postRenewJSON(t, base, renewBody(t, good, renewUAI, goodKey, now)); code != http.StatusServiceUnavailable || out["code"] != RenewUnavailable {
		t.Errorf("renew without revocations = %d %v, want 503 %q", code, out, RenewUnavailable)
	}
}

// clientCertWithoutEdgeName is a client certificate ca signed for key
// that names no lycée.
func clientCertWithoutEdgeName(t *testing.T, ca *CA, key crypto.Signer) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: "someone"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestRenewRefusedLeavesIdentity(t *testing.T) {
	ca := newTestCA(t)
	fa := &fakeAuthority{ca: ca, revoked: map[string]bool{renewUAI: true}}
	base, _ := renewServer(t, fa, 0, nil)
	id, dir := savedIdentity(t, ca, renewUAI, time.Now(), 0, base)
	if _, err := Renew(t.Context(), base, dir, id, time.Now()); !errors.Is(err, ErrRenewRefused) || !strings.Contains(err.Error(), "révoqué") {
		t.Errorf("Renew of a revoked edge = %v, want ErrRenewRefused saying révoqué", err)
	}
	loaded, err := LoadIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(loaded.Cert.Certificate[0], id.Cert.Certificate[0]) {
		t.Error("identity on disk changed after a refused renewal")
	}
}

// A crash anywhere in savePair leaves a matching pair: the old one before
// the certificate's next file exists, the new one after.
func TestSavePairCrash(t *testing.T) {
	ca := newTestCA(t)
	_, dir := savedIdentity(t, ca, renewUAI, time.Now(), 0, "")
	_, newDir := savedIdentity(t, ca, renewUAI, time.Now(), 0, "")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(newDir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	newKey, newCert := read(KeyFile), read(CertFile)
	oldCert, err := os.ReadFile(filepath.Join(dir, CertFile))
	if err != nil {
		t.Fatal(err)
	}
	oldKey, err := os.ReadFile(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		files   map[string][]byte // the pair's files after the crash
		want    []byte            // the certificate LoadIdentity gives
		wantOld bool
	}{
		{"next key written", map[string][]byte{KeyFile: oldKey, CertFile: oldCert, nextKeyFile: newKey}, oldCert, true},
		{"both next written", map[string][]byte{KeyFile: oldKey, CertFile: oldCert, nextKeyFile: newKey, nextCertFile: newCert}, newCert, false},
		{"key renamed", map[string][]byte{KeyFile: newKey, CertFile: oldCert, nextCertFile: newCert}, newCert, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, name := range []string{KeyFile, CertFile, nextKeyFile, nextCertFile} {
				os.Remove(filepath.Join(dir, name))
			}
			for name, data := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			id, err := LoadIdentity(dir)
			if err != nil {
				t.Fatalf("LoadIdentity after a crash (%s) = %v, want a matching pair", tt.name, err)
			}
			if got := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: id.Cert.Certificate[0]}); !bytes.Equal(got, tt.want) {
				t.Errorf("LoadIdentity after a crash (%s): old certificate = %v, want %v", tt.name, !tt.wantOld, tt.wantOld)
			}
			for _, name := range []string{nextKeyFile, nextCertFile} {
				if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
					t.Errorf("%s left after LoadIdentity", name)
				}
			}
		})
	}
}

// The keeper renews when a third of the certificate's life is left, and
// the next TLS handshake presents the new certificate.
func TestKeeperRenewsAndHandshakesWithNewCert(t *testing.T) {
	ca := newTestCA(t)
	fa := &fakeAuthority{ca: ca}
	base, _ := renewServer(t, fa, time.Hour, nil)
	// Issued 30 s ago for 36 s: due for renewal since 6 s ago, still valid
	// for 6 s (a shorter life left expired it before the first handshake
	// on a busy machine: certificate times are whole seconds).
	id, dir := savedIdentity(t, ca, renewUAI, time.Now().Add(-30*time.Second), 36*time.Second, base)
	logs := &logBuffer{}
	k, err := NewKeeper(id, KeeperConfig{Dir: dir, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := k.RenewAt(), IssuedAt(id.Cert.Leaf).Add(36*time.Second*2/3); got.Sub(want).Abs() > time.Second {
		t.Errorf("RenewAt = %v, want %v (two thirds of its life)", got, want)
	}
	server := serverTLSSeeing(t, ca)
	if _, serverErr, clientErr := handshake(t, server.config, k.ClientTLS()); serverErr != nil || clientErr != nil {
		t.Fatalf("handshake before renewal: server %v, client %v", serverErr, clientErr)
	}
	if got := server.serial(); got.Cmp(id.Cert.Leaf.SerialNumber) != 0 {
		t.Errorf("serial seen before renewal = %v, want %v", got, id.Cert.Leaf.SerialNumber)
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- k.Serve(ctx) }()
	waitFor(t, 10*time.Second, func() bool { return k.NotAfter().After(id.Cert.Leaf.NotAfter) })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Serve after cancel = %v, want context.Canceled", err)
	}

	renewed := k.Identity().Cert.Leaf
	if _, serverErr, clientErr := handshake(t, server.config, k.ClientTLS()); serverErr != nil || clientErr != nil {
		t.Fatalf("handshake after renewal: server %v, client %v", serverErr, clientErr)
	}
	if got := server.serial(); got.Cmp(renewed.SerialNumber) != 0 {
		t.Errorf("serial seen after renewal = %v, want the renewed %v", got, renewed.SerialNumber)
	}
	if !strings.Contains(logs.String(), "certificat de l'équipement renouvelé") {
		t.Errorf("edge log = %q, want the renewal line", logs.String())
	}
	if loaded, err := LoadIdentity(dir); err != nil || loaded.Cert.Leaf.SerialNumber.Cmp(renewed.SerialNumber) != 0 {
		t.Errorf("LoadIdentity after the keeper renewed = %v, want the renewed certificate", err)
	}
}

// While central is unreachable the keeper keeps its certificate and tries
// again, backing off; once central answers it renews.
func TestKeeperRetriesWhileCentralUnreachable(t *testing.T) {
	ca := newTestCA(t)
	fa := &fakeAuthority{ca: ca}
	var (
		calls   atomic.Int32
		keeper  atomic.Pointer[Keeper]
		changed atomic.Bool // the identity changed while central was unreachable
		id      *Identity
		dir     string
	)
	inner := RenewHandler(fa, time.Hour, nil, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 3 { // the link is down: a proxy answers
			if k := keeper.Load(); k != nil && k.Identity() != id {
				changed.Store(true)
			}
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	id, dir = savedIdentity(t, ca, renewUAI, time.Now().Add(-100*time.Minute), 2*time.Hour, srv.URL) // due
	k, err := NewKeeper(id, KeeperConfig{Dir: dir, RetryMin: 10 * time.Millisecond, RetryMax: 40 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	keeper.Store(k)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go k.Serve(ctx)
	waitFor(t, 10*time.Second, func() bool { return k.NotAfter().After(id.Cert.Leaf.NotAfter) })
	if n := calls.Load(); n != 4 {
		t.Errorf("attempts = %d, want 3 failed then 1 good", n)
	}
	if changed.Load() {
		t.Error("identity changed while central was unreachable")
	}
}

func TestCheckEdgeTTL(t *testing.T) {
	horizon := 35 * 24 * time.Hour
	tests := []struct {
		ttl, horizon time.Duration
		ok           bool
	}{
		{0, horizon, true},                   // the 400-day default
		{horizon + time.Hour, horizon, true}, // longer
		{horizon, horizon, false},            // not longer
		{24 * time.Hour, horizon, false},
		{6 * time.Second, 2 * time.Second, true}, // a test region
		{time.Second, -1, true},                  // tombstones kept for ever
	}
	for _, tt := range tests {
		err := CheckEdgeTTL(tt.ttl, tt.horizon)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrBadTTL)) {
			t.Errorf("CheckEdgeTTL(%v, %v) = %v, want ok %v", tt.ttl, tt.horizon, err, tt.ok)
		}
	}
}

// seeingServer is central's replication TLS, remembering the serial of the
// last client certificate it saw.
type seeingServer struct {
	config *tls.Config
	mu     sync.Mutex
	last   *big.Int
}

func (s *seeingServer) serial() *big.Int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func serverTLSSeeing(t *testing.T, ca *CA) *seeingServer {
	t.Helper()
	cert, err := ca.IssueServer("central-1", []string{"127.0.0.1"}, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	s := &seeingServer{config: ServerTLS(cert, ca.Pool())}
	verify := s.config.VerifyConnection
	s.config.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) > 0 {
			s.mu.Lock()
			s.last = cs.PeerCertificates[0].SerialNumber
			s.mu.Unlock()
		}
		return verify(cs)
	}
	return s
}

func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func FuzzRenewRequest(f *testing.F) {
	ca := newTestCA(f)
	fa := &fakeAuthority{ca: ca}
	f.Add([]byte(`{"certificate":"x","csr":"y","time":1,"signature":"AAAA"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"certificate":"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n","csr":"y","time":1,"signature":"!"}`))
	h := RenewHandler(fa, 0, nil, slog.New(slog.DiscardHandler))
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, RenewPath, bytes.NewReader(body)))
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("answer %d is not JSON: %q", rec.Code, rec.Body.Bytes())
		}
		if rec.Code == http.StatusOK {
			t.Fatalf("renewal granted to a fuzzed request: %q", body)
		}
		if out["error"] == "" || out["code"] == "" {
			t.Fatalf("refusal %d without error message or code: %v", rec.Code, out)
		}
	})
}
