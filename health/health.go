package health

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config says where the probes find their answers.
type Config struct {
	// Status describes the node for GET /api/v1/status. Nil serves an
	// empty Status.
	Status func() Status
	// Ready returns nil when the node can serve its users, or the reason it
	// cannot (no raft leader yet, store not open…). Nil means always ready.
	Ready func() error
	// Gatherer is what GET /metrics exposes. Nil exposes nothing (an empty
	// registry); nodes pass the registry their components register on.
	Gatherer prometheus.Gatherer
	// Logger reports failures to write a response. Nil means slog.Default().
	Logger *slog.Logger
}

// Mount registers GET /healthz, /readyz, /metrics and /api/v1/status on
// mux. Registering them twice on one mux panics, as ServeMux does.
func Mount(mux *http.ServeMux, cfg Config) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	gatherer := cfg.Gatherer
	if gatherer == nil {
		gatherer = prometheus.NewRegistry()
	}

	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeText(w, http.StatusOK, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if cfg.Ready != nil {
			if err := cfg.Ready(); err != nil {
				writeText(w, http.StatusServiceUnavailable, "not ready: "+err.Error()+"\n")
				return
			}
		}
		writeText(w, http.StatusOK, "ready\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}))
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, r *http.Request) {
		var st Status
		if cfg.Status != nil {
			st = cfg.Status()
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if err := json.NewEncoder(w).Encode(st); err != nil {
			log.Debug("write status", "err", err)
		}
	})
}

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}
