package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"atrium/appliance"
	"atrium/central"
	"atrium/ent/uai"
	"atrium/record"
	"atrium/replication"
)

// TokenTTL is how long an enrolment token stays usable.
const TokenTTL = 24 * time.Hour

// Config configures the operator API. Token empty disables the API (every
// request is refused).
type Config struct {
	Token   string
	Cluster *central.Node
	Edges   func(context.Context) []replication.EdgeStatus // the edges seen by the whole cluster
	Logger  *slog.Logger
	Now     func() time.Time // nil: time.Now
	// ActivationCode gives a new imported account its activation code
	// (ent.Service.ActivationCode of the node); nil: none.
	ActivationCode func(userID string) string
	// TempDir holds uploaded import sets while they are applied; "" means
	// the system's temporary directory.
	TempDir string
}

// API serves /api/v1/admin/.
type API struct {
	cfg       Config
	mux       *http.ServeMux
	importing sync.Mutex // one directory import at a time
}

// New returns the operator API.
func New(cfg Config) *API {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &API{cfg: cfg, mux: http.NewServeMux()}
	a.mux.HandleFunc("POST /api/v1/admin/edges", a.addEdge)
	a.mux.HandleFunc("GET /api/v1/admin/edges", a.listEdges)
	a.mux.HandleFunc("POST /api/v1/admin/edges/{uai}/revoke", a.revokeEdge) // revoke.go
	a.mux.HandleFunc("GET /api/v1/admin/nodes", a.listNodes)
	a.mux.HandleFunc("DELETE /api/v1/admin/nodes/{name}", a.removeNode)
	a.mux.HandleFunc("POST /api/v1/admin/commands", a.commands)
	a.mux.HandleFunc("POST /api/v1/admin/directory/imports", a.importSet)
	a.mux.HandleFunc("GET /api/v1/admin/directory/imports", a.listImports)
	a.mux.HandleFunc("GET /api/v1/admin/users", a.listUsers)
	a.mux.HandleFunc("GET /api/v1/admin/cas/services", a.listCASServices)
	a.mux.HandleFunc("POST /api/v1/admin/cas/services", a.putCASService)
	a.mux.HandleFunc("DELETE /api/v1/admin/cas/services/{name}", a.removeCASService)
	return a
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if a.cfg.Token == "" || !ok || subtle.ConstantTimeCompare([]byte(got), []byte(a.cfg.Token)) != 1 {
		writeError(w, http.StatusUnauthorized, "operator token missing or wrong")
		return
	}
	a.mux.ServeHTTP(w, r)
}

// EdgeToken is the answer to an edge enrolment request.
type EdgeToken struct {
	UAI     string    `json:"uai"`
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
}

func (a *API) addEdge(w http.ResponseWriter, r *http.Request) {
	var req struct {
		UAI string `json:"uai"`
	}
	if !decode(w, r, &req) {
		return
	}
	req.UAI = strings.ToUpper(strings.TrimSpace(req.UAI))
	if !uai.Valid(req.UAI) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%q is not a valid UAI (7 digits and the check letter)", req.UAI))
		return
	}
	token, hash := appliance.NewToken()
	expires := a.cfg.Now().Add(TokenTTL).UTC().Truncate(time.Second)
	if err := a.cfg.Cluster.AddEnrolToken(r.Context(), req.UAI, hash, expires); err != nil {
		writeError(w, http.StatusServiceUnavailable, "record enrolment token: "+err.Error())
		return
	}
	a.cfg.Logger.Info("enrolment token issued", "uai", req.UAI, "expires", expires)
	writeJSON(w, http.StatusOK, EdgeToken{UAI: req.UAI, Token: token, Expires: expires})
}

func (a *API) listEdges(w http.ResponseWriter, r *http.Request) {
	edges := []replication.EdgeStatus{}
	if a.cfg.Edges != nil {
		edges = append(edges, a.cfg.Edges(r.Context())...)
	}
	edges, err := a.withRevocations(edges)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "read revocations: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, edges)
}

func (a *API) listNodes(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.cfg.Cluster.Members())
}

func (a *API) removeNode(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := a.cfg.Cluster.RemoveNode(r.Context(), name); err != nil {
		status := http.StatusServiceUnavailable
		switch {
		case errors.Is(err, central.ErrUnknownNode):
			status = http.StatusNotFound
		case errors.Is(err, central.ErrNodeAlive):
			status = http.StatusConflict
		}
		writeError(w, status, err.Error())
		return
	}
	a.cfg.Logger.Info("central node removed by operator", "removed", name)
	writeJSON(w, http.StatusOK, map[string]string{"removed": name})
}

// CommandsResult reports a batch of system commands.
type CommandsResult struct {
	Applied  int               `json:"applied"`
	Rejected []RejectedCommand `json:"rejected"`
}

// RejectedCommand is one refused system command.
type RejectedCommand struct {
	Index int    `json:"index"`
	Op    string `json:"op"`
	Error string `json:"error"`
}

// commands submits commands made by an operator tool, such as the demo's
// synthetic region: system commands (no acting user) and commands made on a
// user's behalf, each checked by the ENT's rules like any other.
func (a *API) commands(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<20)
	var cmds []record.Command
	if !decode(w, r, &cmds) {
		return
	}
	res := CommandsResult{Rejected: []RejectedCommand{}}
	now := a.cfg.Now().UnixMilli()
	for i, cmd := range cmds {
		cmd.Origin, cmd.Epoch, cmd.Seq = record.OriginCentral, 0, 0
		if cmd.Time == 0 {
			cmd.Time = now
		}
		if err := a.cfg.Cluster.Submit(r.Context(), cmd); err != nil {
			if _, ok := record.AsRejection(err); !ok && r.Context().Err() == nil {
				writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("command %d (%s): %v", i, cmd.Op, err))
				return
			}
			res.Rejected = append(res.Rejected, RejectedCommand{Index: i, Op: cmd.Op, Error: err.Error()})
			continue
		}
		res.Applied++
	}
	writeJSON(w, http.StatusOK, res)
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "malformed request: "+err.Error())
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
