package admin

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"atrium/central"
	"atrium/ent/uai"
	"atrium/replication"
)

// RevokeRequest is the body of an edge revocation.
type RevokeRequest struct {
	Reason string `json:"reason,omitempty"`
}

// revokeEdge revokes every certificate issued so far for the lycée's edge
// appliance (stolen, broken, replaced). A replacement is enrolled with a new
// token (`atrium ctl edge add`) and gets a newer certificate.
func (a *API) revokeEdge(w http.ResponseWriter, r *http.Request) {
	var req RevokeRequest
	if !decode(w, r, &req) {
		return
	}
	u := strings.ToUpper(strings.TrimSpace(r.PathValue("uai")))
	if !uai.Valid(u) {
		writeError(w, http.StatusBadRequest, "not a valid UAI (7 digits and the check letter): "+u)
		return
	}
	rev, err := a.cfg.Cluster.RevokeEdge(r.Context(), u, strings.TrimSpace(req.Reason))
	if err != nil {
		status := http.StatusServiceUnavailable
		if errors.Is(err, central.ErrInvalidRecord) {
			status = http.StatusBadRequest
		}
		writeError(w, status, "revoke edge: "+err.Error())
		return
	}
	a.cfg.Logger.Warn("edge revoked by operator", "uai", u, "at", rev.Time, "reason", rev.Reason)
	writeJSON(w, http.StatusOK, rev)
}

// withRevocations marks the revoked edges of the list, adding those
// central has not seen since it started.
func (a *API) withRevocations(edges []replication.EdgeStatus) ([]replication.EdgeStatus, error) {
	revs, err := a.cfg.Cluster.Revocations()
	if err != nil {
		return nil, err
	}
	sort.Slice(edges, func(i, j int) bool { return edges[i].UAI < edges[j].UAI })
	for _, rv := range revs {
		at := rv.Time
		i := sort.Search(len(edges), func(i int) bool { return edges[i].UAI >= rv.UAI })
		if i == len(edges) || edges[i].UAI != rv.UAI {
			edges = append(edges, replication.EdgeStatus{UAI: rv.UAI})
			sort.Slice(edges, func(i, j int) bool { return edges[i].UAI < edges[j].UAI })
			i = sort.Search(len(edges), func(i int) bool { return edges[i].UAI >= rv.UAI })
		}
		edges[i].Revoked, edges[i].RevokedReason = &at, rv.Reason
	}
	return edges, nil
}

// RevokeEdge revokes the certificates of the lycée's edge appliance issued
// until now.
func (c *Client) RevokeEdge(ctx context.Context, uai, reason string) (central.Revocation, error) {
	var rv central.Revocation
	err := c.do(ctx, http.MethodPost, "/api/v1/admin/edges/"+url.PathEscape(uai)+"/revoke", RevokeRequest{Reason: reason}, &rv)
	return rv, err
}
