package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// EnrolPath is where central serves enrolment.
const EnrolPath = "/api/v1/enroll"

// maxEnrolBody bounds an enrolment request: a token and a CSR fit in a few
// kilobytes.
const maxEnrolBody = 64 << 10

// Enroller is what the enrolment endpoint needs from central.
type Enroller interface {
	// ConsumeEnrolToken marks the token with that hash used and returns the
	// UAI it was issued for. An unknown, used or expired token is an error;
	// an error matching ErrUnavailable (or a context error) means the token
	// could not be checked and is left as it was.
	ConsumeEnrolToken(ctx context.Context, hash string) (uai string, err error)
	// CA returns the region's certificate authority.
	CA(ctx context.Context) (*CA, error)
	// CentralQUIC lists the UDP addresses of central's QUIC listeners.
	CentralQUIC() []string
}

// EnrolRequest is the body of POST /api/v1/enroll.
type EnrolRequest struct {
	Token string `json:"token"`
	CSR   string `json:"csr"` // PEM certificate request
}

// EnrolResponse is the answer to an accepted enrolment.
type EnrolResponse struct {
	UAI         string   `json:"uai"`
	Certificate string   `json:"certificate"` // PEM, naming UAI
	CA          string   `json:"ca"`          // PEM of the region's CA
	Central     []string `json:"central"`     // QUIC addresses of central
}

type errorBody struct {
	Error string `json:"error"`
}

// EnrolHandler serves POST requests carrying an EnrolRequest; mount it at
// EnrolPath. A malformed request gets 400 and leaves the token unused; an
// unknown, used or expired token gets 403. The certificate is valid for ttl
// (zero: DefaultEdgeTTL); now stamps it (nil means time.Now); log records
// each enrolment (nil means slog.Default()).
func EnrolHandler(e Enroller, ttl time.Duration, now func() time.Time, log *slog.Logger) http.Handler {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeJSON(w, http.StatusMethodNotAllowed, errorBody{"méthode non autorisée : utiliser POST"})
			return
		}
		req, err := decodeEnrolRequest(http.MaxBytesReader(w, r.Body, maxEnrolBody))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, errorBody{"demande d'enrôlement invalide : " + err.Error()})
			return
		}
		// Everything that can be checked is checked before the token is
		// spent, so a technician's typo does not burn it.
		if _, err := ParseCSR([]byte(req.CSR)); err != nil {
			writeJSON(w, http.StatusBadRequest, errorBody{"demande de certificat invalide : " + err.Error()})
			return
		}
		ca, err := e.CA(r.Context())
		if err != nil {
			log.Warn("enrolment without CA", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, errorBody{"autorité de certification indisponible, réessayer plus tard"})
			return
		}
		uai, err := e.ConsumeEnrolToken(r.Context(), HashToken(req.Token))
		if err != nil {
			if errors.Is(err, ErrUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				log.Warn("enrolment token not checked", "err", err)
				writeJSON(w, http.StatusServiceUnavailable, errorBody{"enrôlement indisponible, réessayer plus tard"})
				return
			}
			log.Info("enrolment token refused", "remote", r.RemoteAddr, "err", err)
			writeJSON(w, http.StatusForbidden, errorBody{"jeton d'enrôlement inconnu, déjà utilisé ou expiré"})
			return
		}
		certPEM, err := ca.IssueEdge([]byte(req.CSR), uai, now(), ttl)
		if err != nil {
			// The token is spent: the operator must issue a new one.
			log.Error("issue edge certificate", "uai", uai, "err", err)
			writeJSON(w, http.StatusInternalServerError, errorBody{"émission du certificat impossible ; demander un nouveau jeton"})
			return
		}
		log.Info("edge enrolled", "uai", uai, "remote", r.RemoteAddr)
		writeJSON(w, http.StatusOK, EnrolResponse{
			UAI:         uai,
			Certificate: string(certPEM),
			CA:          string(ca.CertPEM()),
			Central:     nonNil(e.CentralQUIC()),
		})
	})
}

func decodeEnrolRequest(body io.Reader) (EnrolRequest, error) {
	var req EnrolRequest
	if err := decodeStrict(body, &req); err != nil {
		return req, err
	}
	if strings.TrimSpace(req.Token) == "" {
		return req, fmt.Errorf("champ \"token\" manquant")
	}
	if req.CSR == "" {
		return req, fmt.Errorf("champ \"csr\" manquant")
	}
	return req, nil
}

// decodeStrict decodes one JSON object of body into v: unknown fields,
// a body over its http.MaxBytesReader limit and data after the object are
// refused, with a French reason for the answer.
func decodeStrict(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fmt.Errorf("corps de plus de %d octets", tooBig.Limit)
		}
		return fmt.Errorf("JSON illisible : %v", err)
	}
	if dec.More() {
		return fmt.Errorf("données après l'objet JSON")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
