package node

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"time"

	"atrium/appliance"
	"atrium/edge"
	"atrium/health"
)

// retiredPage is what a revoked appliance answers to every page, API and
// CAS request: it holds no data any more.
var retiredPage = template.Must(template.New("retired").Parse(`<!DOCTYPE html>
<html lang="fr">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Équipement retiré du service — Atrium</title></head>
<body>
<main>
<h1>Cet équipement a été retiré du service</h1>
<p>Cet équipement a été retiré du service par la Région{{if .}} le {{.}}{{end}} : il ne contient plus
aucune donnée et ne peut plus être utilisé.</p>
<p>Votre espace numérique reste accessible depuis l'adresse habituelle de l'ENT, au lycée comme à
la maison. Pour toute question, adressez-vous à la direction de votre lycée.</p>
</main>
</body>
</html>
`))

// errRetired is the /readyz reason of a retired appliance.
var errRetired = errors.New("appliance retired from service: central revoked its certificate and its data was purged")

// retiredHandler answers every request of a retired appliance with the
// French page (410 Gone), or next while the appliance is in service.
func (e *Edge) retiredHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ret := e.retired.Load()
		if ret == nil {
			next.ServeHTTP(w, r)
			return
		}
		writeRetired(w, *ret)
	})
}

func writeRetired(w http.ResponseWriter, ret edge.Retirement) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusGone)
	when := ""
	if !ret.Time.IsZero() {
		when = ret.Time.Local().Format("02/01/2006 à 15:04")
	}
	_ = retiredPage.Execute(w, when)
}

// retire purges the appliance once central answered that its certificate
// is revoked: from now on it serves the French page only, and stays so
// across restarts (edge.RetiredFile).
func (e *Edge) retire(cause error, log *slog.Logger) {
	ret := edge.Retirement{UAI: e.UAI, Time: time.Now().UTC(), Reason: cause.Error()}
	e.retired.Store(&ret)
	// The key first: without it, what the purge leaves of the replica on
	// the disk is unreadable (crypto-shredding).
	if err := edge.ShredDataKey(dataKeyPath(e.cfg)); err != nil {
		log.Error("edge revoked by central: destroying the data key failed", "uai", e.UAI, "err", err)
	}
	if err := edge.Retire(e.cfg.DataDir, ret); err != nil {
		log.Error("edge revoked by central: purge failed", "uai", e.UAI, "err", err)
		return
	}
	log.Error("edge revoked by central: its certificate is refused, its data purged; the appliance is retired from service",
		"uai", e.UAI, "dir", e.cfg.DataDir)
}

// startRetired serves a retired appliance: the French page, and health
// endpoints that say why it is not ready. It needs no identity.
func startRetired(ctx context.Context, cfg EdgeConfig, ret edge.Retirement, log *slog.Logger) (*Edge, error) {
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("listen http: %w", err)
	}
	if cfg.Name == "" {
		cfg.Name = "edge-" + ret.UAI
	}
	reg := cfg.Registry
	if reg == nil {
		reg = health.NewRegistry()
	}
	e := &Edge{cfg: cfg, UAI: ret.UAI, proc: newProcess(ctx, ln)}
	e.retired.Store(&ret)
	mux := http.NewServeMux()
	health.Mount(mux, health.Config{Status: e.status, Ready: e.ready, Gatherer: reg})
	mux.Handle("/", e.retiredHandler(http.NotFoundHandler()))
	e.proc.serveHTTP(mux, reg, log)
	log.Warn("edge retired from service: serving the notice page only (enrol it again with a new token to reuse it)", "uai", ret.UAI)
	return e, nil
}

// edgeRevoked is central's replication.ServerConfig.Revoked: a
// certificate of uai issued at or before the lycée's revocation is
// refused.
func (c *Central) edgeRevoked(uai string, cert *x509.Certificate) (bool, error) {
	r, ok, err := c.Node.Revocation(uai)
	if err != nil || !ok {
		return false, err
	}
	return r.Covers(appliance.IssuedAt(cert)), nil
}
