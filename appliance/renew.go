package appliance

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// RenewPath is where central serves certificate renewal, next to
// enrolment.
const RenewPath = "/api/v1/edges/renew"

// RenewWindow is how far a renewal request's time may be from central's
// clock, either way. A request is accepted once at a node within it.
const RenewWindow = 5 * time.Minute

// renewDomain separates renewal signatures from anything else the edge's
// key signs (TLS handshakes sign their own, differently framed, data).
const renewDomain = "atrium-renew/1"

// Codes of a refused renewal, in the "code" field of the JSON error.
const (
	RenewMalformed   = "malformed"     // unreadable request, certificate or CSR
	RenewUntrusted   = "untrusted"     // the certificate does not chain to the region's CA
	RenewExpired     = "expired"       // the certificate's life is over: enrol again
	RenewNotEdge     = "not_edge"      // the certificate does not name an edge
	RenewUAIMismatch = "uai_mismatch"  // the CSR asks for another UAI than the certificate names
	RenewStaleTime   = "stale_time"    // the signed time is outside RenewWindow
	RenewBadSig      = "bad_signature" // not signed by the certificate's key
	RenewReplayed    = "replayed"      // the same signed request was already answered
	RenewRevoked     = "revoked"       // an operator revoked the lycée's appliance
	RenewUnavailable = "unavailable"   // try again later
	RenewIssueFailed = "issue_failed"  // the CA could not sign
	renewMethod      = "method_not_allowed"
)

// RenewAuthority is what the renewal endpoint needs from central.
type RenewAuthority interface {
	// CA returns the region's certificate authority.
	CA(ctx context.Context) (*CA, error)
	// Revoked reports whether an operator revoked cert, the certificate of
	// lycée uai's appliance. It must see every revocation committed
	// before the call (a renewal granted just after a revocation would
	// outlive it). An error means the answer is unknown: nothing is
	// issued and the edge tries again later.
	Revoked(ctx context.Context, uai string, cert *x509.Certificate) (bool, error)
	// CentralQUIC lists the UDP addresses of central's QUIC listeners.
	CentralQUIC() []string
}

// RenewRequest is the body of POST /api/v1/edges/renew. The edge proves
// it holds the key of Certificate by signing RenewSigned(Time, CSR,
// Certificate) with it; the CSR, for the appliance's new key, names the
// same UAI (CN "edge:UAI" and URI "atrium://edge/UAI").
type RenewRequest struct {
	Certificate string `json:"certificate"` // PEM, the certificate in use
	CSR         string `json:"csr"`         // PEM certificate request for the new key
	Time        int64  `json:"time"`        // unix milliseconds, when the edge signed
	Signature   string `json:"signature"`   // base64 (standard), by the current key
}

// RenewResponse is the answer to an accepted renewal.
type RenewResponse struct {
	UAI         string   `json:"uai"`
	Certificate string   `json:"certificate"` // PEM, naming UAI, from now for the edge TTL
	CA          string   `json:"ca"`          // PEM of the region's CA
	Central     []string `json:"central"`     // QUIC addresses of central
}

// renewError is the body of a refused renewal: a French message for the
// operator reading the edge's log and a code for the edge.
type renewError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// RenewSigned returns the bytes a renewal's signature covers: a domain
// label, the time, and the SHA-256 of the CSR's and of the current
// certificate's DER.
func RenewSigned(unixMilli int64, csrDER, certDER []byte) []byte {
	csrSum, certSum := sha256.Sum256(csrDER), sha256.Sum256(certDER)
	return []byte(renewDomain + "\n" + strconv.FormatInt(unixMilli, 10) + "\n" +
		hex.EncodeToString(csrSum[:]) + "\n" + hex.EncodeToString(certSum[:]) + "\n")
}

// signRenewal signs msg with key the way checkRenewSignature verifies it:
// ECDSA over SHA-256, Ed25519 over the message itself.
func signRenewal(key crypto.Signer, msg []byte) ([]byte, error) {
	switch key.Public().(type) {
	case *ecdsa.PublicKey:
		sum := sha256.Sum256(msg)
		return key.Sign(rand.Reader, sum[:], crypto.SHA256)
	case ed25519.PublicKey:
		return key.Sign(rand.Reader, msg, crypto.Hash(0))
	default:
		return nil, fmt.Errorf("sign renewal: key type %T", key.Public())
	}
}

func checkRenewSignature(cert *x509.Certificate, msg, sig []byte) error {
	var alg x509.SignatureAlgorithm
	switch cert.PublicKey.(type) {
	case *ecdsa.PublicKey:
		alg = x509.ECDSAWithSHA256
	case ed25519.PublicKey:
		alg = x509.PureEd25519
	default:
		return fmt.Errorf("key type %T", cert.PublicKey)
	}
	return cert.CheckSignature(alg, msg, sig)
}

// RenewHandler serves POST requests carrying a RenewRequest; mount it at
// RenewPath. It issues a certificate for the new key, naming the same UAI,
// valid from now for ttl (DefaultEdgeTTL if zero), once it checked, in
// this order: the request is well formed (400 "malformed"), the
// certificate chains to the region's CA (403 "untrusted") and is not
// expired (403 "expired"), names an edge (403 "not_edge") and the UAI the
// CSR asks for (403 "uai_mismatch"), the time is within RenewWindow of
// now (403 "stale_time"), the signature is the certificate key's (403
// "bad_signature"), the request was not seen before (403 "replayed") and
// the lycée's appliance is not revoked (403 "revoked"). When the CA or the
// revocations cannot be read it answers 503 "unavailable". Nothing is
// issued on a refusal; every refusal and issuance is logged. now stamps the
// certificate (nil means time.Now); log nil means slog.Default().
func RenewHandler(a RenewAuthority, ttl time.Duration, now func() time.Time, log *slog.Logger) http.Handler {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &renewHandler{a: a, ttl: ttl, now: now, log: log, seen: map[[32]byte]time.Time{}}
}

type renewHandler struct {
	a   RenewAuthority
	ttl time.Duration
	now func() time.Time
	log *slog.Logger

	mu   sync.Mutex
	seen map[[32]byte]time.Time // signatures answered, until they leave the window
}

// refusal is a renewal refused, with what the edge is told.
type refusal struct {
	status int
	code   string
	msg    string // French
	err    error  // for the log
}

func (h *renewHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, renewError{"méthode non autorisée : utiliser POST", renewMethod})
		return
	}
	now := h.now()
	resp, ref := h.renew(r.Context(), http.MaxBytesReader(w, r.Body, maxEnrolBody), now)
	if ref != nil {
		lvl := slog.LevelInfo
		if ref.status >= 500 {
			lvl = slog.LevelWarn
		}
		log := h.log
		if resp.UAI != "" {
			log = log.With("uai", resp.UAI)
		}
		log.Log(r.Context(), lvl, "edge certificate renewal refused", "code", ref.code, "remote", r.RemoteAddr, "err", ref.err)
		writeJSON(w, ref.status, renewError{ref.msg, ref.code})
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// renew checks the request and issues the certificate. On a refusal, the
// response's UAI is the one the certificate names, when known.
func (h *renewHandler) renew(ctx context.Context, body io.Reader, now time.Time) (RenewResponse, *refusal) {
	var out RenewResponse
	req, err := decodeRenewRequest(body)
	if err != nil {
		return out, &refusal{http.StatusBadRequest, RenewMalformed, "demande de renouvellement invalide : " + err.Error(), err}
	}
	cert, err := parseCertPEM([]byte(req.Certificate))
	if err != nil {
		return out, &refusal{http.StatusBadRequest, RenewMalformed, "certificat actuel illisible", err}
	}
	csr, err := ParseCSR([]byte(req.CSR))
	if err != nil {
		return out, &refusal{http.StatusBadRequest, RenewMalformed, "demande de certificat invalide : " + err.Error(), err}
	}
	sig, err := base64.StdEncoding.DecodeString(req.Signature)
	if err != nil {
		return out, &refusal{http.StatusBadRequest, RenewMalformed, "signature illisible (base64 attendu)", err}
	}
	ca, err := h.a.CA(ctx)
	if err != nil {
		return out, &refusal{http.StatusServiceUnavailable, RenewUnavailable, "autorité de certification indisponible, réessayer plus tard", err}
	}
	if uai, err := EdgeUAI(cert); err == nil {
		out.UAI = uai // for the log only, until verified
	}

	if now.After(cert.NotAfter) {
		return out, &refusal{http.StatusForbidden, RenewExpired,
			"certificat expiré le " + cert.NotAfter.UTC().Format(time.RFC3339) + " : réenrôler l'équipement avec un nouveau jeton",
			fmt.Errorf("certificate expired at %v", cert.NotAfter)}
	}
	if _, err := cert.Verify(x509.VerifyOptions{
		Roots:       ca.pool,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return out, &refusal{http.StatusForbidden, RenewUntrusted, "certificat non émis par l'autorité de la Région", err}
	}
	uai, err := EdgeUAI(cert)
	if err != nil {
		return out, &refusal{http.StatusForbidden, RenewNotEdge, "le certificat ne désigne pas un équipement de lycée", err}
	}
	asked, err := csrUAI(csr)
	if err != nil || asked != uai {
		if err == nil {
			err = fmt.Errorf("certificate names %s, CSR asks for %s", uai, asked)
		}
		return out, &refusal{http.StatusForbidden, RenewUAIMismatch,
			"la demande de certificat ne désigne pas le lycée " + uai + " du certificat actuel", err}
	}
	signedAt := time.UnixMilli(req.Time)
	if d := now.Sub(signedAt); d > RenewWindow || d < -RenewWindow {
		return out, &refusal{http.StatusForbidden, RenewStaleTime,
			"heure de la demande trop éloignée de celle du serveur central (écart de " + d.Round(time.Second).String() + ") : vérifier l'horloge de l'équipement",
			fmt.Errorf("signed at %v, %v from now", signedAt, d)}
	}
	if err := checkRenewSignature(cert, RenewSigned(req.Time, csr.Raw, cert.Raw), sig); err != nil {
		return out, &refusal{http.StatusForbidden, RenewBadSig, "signature invalide : la demande n'est pas signée par la clé du certificat actuel", err}
	}
	if !h.firstSeen(sig, now) {
		return out, &refusal{http.StatusForbidden, RenewReplayed, "demande déjà traitée : en préparer une nouvelle", errors.New("signature seen before")}
	}
	revoked, err := h.a.Revoked(ctx, uai, cert)
	if err != nil {
		return out, &refusal{http.StatusServiceUnavailable, RenewUnavailable, "révocations illisibles, réessayer plus tard", err}
	}
	if revoked {
		return out, &refusal{http.StatusForbidden, RenewRevoked, "l'équipement du lycée " + uai + " a été révoqué : aucun certificat ne lui est plus délivré",
			errors.New("edge revoked")}
	}
	certPEM, err := ca.IssueEdge([]byte(req.CSR), uai, now, h.ttl)
	if err != nil {
		return out, &refusal{http.StatusInternalServerError, RenewIssueFailed, "émission du certificat impossible, réessayer plus tard", err}
	}
	issued, err := parseCertPEM(certPEM)
	if err != nil {
		return out, &refusal{http.StatusInternalServerError, RenewIssueFailed, "émission du certificat impossible, réessayer plus tard", err}
	}
	h.log.Info("edge certificate renewed", "uai", uai, "serial", issued.SerialNumber.Text(16),
		"notAfter", issued.NotAfter, "previousSerial", cert.SerialNumber.Text(16))
	return RenewResponse{
		UAI:         uai,
		Certificate: string(certPEM),
		CA:          string(ca.CertPEM()),
		Central:     nonNil(h.a.CentralQUIC()),
	}, nil
}

// firstSeen records sig and reports whether it was new. Signatures are
// forgotten once their request could no longer pass the time check.
func (h *renewHandler) firstSeen(sig []byte, now time.Time) bool {
	sum := sha256.Sum256(sig)
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, until := range h.seen {
		if now.After(until) {
			delete(h.seen, k)
		}
	}
	if _, ok := h.seen[sum]; ok {
		return false
	}
	h.seen[sum] = now.Add(2 * RenewWindow)
	return true
}

// csrUAI returns the UAI a renewal's CSR asks for, by the rule EdgeUAI
// applies to certificates.
func csrUAI(csr *x509.CertificateRequest) (string, error) {
	return EdgeUAI(&x509.Certificate{Subject: csr.Subject, URIs: csr.URIs})
}

func decodeRenewRequest(body io.Reader) (RenewRequest, error) {
	var req RenewRequest
	if err := decodeStrict(body, &req); err != nil {
		return req, err
	}
	for _, f := range []struct{ name, v string }{
		{"certificate", req.Certificate}, {"csr", req.CSR}, {"signature", req.Signature},
	} {
		if f.v == "" {
			return req, fmt.Errorf("champ %q manquant", f.name)
		}
	}
	if req.Time == 0 {
		return req, fmt.Errorf("champ \"time\" manquant")
	}
	return req, nil
}

// CheckEdgeTTL refuses an edge certificate life (zero: DefaultEdgeTTL)
// that is not longer than central's tombstone horizon: a lycée cut off for
// as long as central keeps what it needs to catch it up must not come back
// with an expired certificate, locked out until someone enrols it again.
func CheckEdgeTTL(ttl, tombstoneHorizon time.Duration) error {
	if ttl == 0 {
		ttl = DefaultEdgeTTL
	}
	if ttl <= tombstoneHorizon {
		return fmt.Errorf("%w: edge certificate TTL %v is not longer than the tombstone horizon %v", ErrBadTTL, ttl, tombstoneHorizon)
	}
	return nil
}
