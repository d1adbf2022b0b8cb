package health

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// NewRegistry returns a registry with the Go runtime and process collectors,
// for a node to register its components' metrics on and expose at /metrics.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// routeOther labels requests that matched no ServeMux pattern, or that
// were not served by a ServeMux at all.
const routeOther = "other"

// Instrument wraps next so that every request is observed in the histogram
// atrium_http_request_duration_seconds{route, method, code}. Labels are
// bounded whatever clients send: route is the ServeMux pattern that matched
// (or "other"), method one of the standard methods (or "OTHER"), code the
// status class ("2xx" … "5xx"). A nil reg returns next unchanged. Wrapping
// several handlers on one registry shares one histogram.
func Instrument(next http.Handler, reg prometheus.Registerer) http.Handler {
	if reg == nil {
		return next
	}
	hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "atrium_http_request_duration_seconds",
		Help:    "Time to serve HTTP requests, by route pattern, method and status class.",
		Buckets: prometheus.DefBuckets,
	}, []string{"route", "method", "code"})
	if err := reg.Register(hist); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			panic("health: register http histogram: " + err.Error())
		}
		existing, ok := are.ExistingCollector.(*prometheus.HistogramVec)
		if !ok {
			panic("health: atrium_http_request_duration_seconds registered with another type")
		}
		hist = existing
	}
	mux, _ := next.(*http.ServeMux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := routeOther
		// CONNECT redirects report the request's own path as their
		// pattern: unbounded, so they stay "other".
		if mux != nil && r.Method != http.MethodConnect {
			if _, pattern := mux.Handler(r); pattern != "" {
				route = pattern
			}
		}
		sw := &statusWriter{ResponseWriter: w}
		start := time.Now()
		defer func() {
			// A mux nested inside next (the portal's) records the pattern
			// it matched on the same request: the most precise route.
			if r.Pattern != "" && r.Method != http.MethodConnect {
				route = r.Pattern
			}
			hist.WithLabelValues(route, normMethod(r.Method), codeClass(sw.code)).
				Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(sw, r)
	})
}

func normMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

func codeClass(code int) string {
	if code == 0 {
		// The handler wrote nothing: net/http answers 200.
		code = http.StatusOK
	}
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code/100) + "xx"
}

// statusWriter remembers the status code a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	// Informational answers (103 Early Hints) precede the real one.
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets streaming handlers flush through the wrapper.
func (w *statusWriter) Flush() {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush() // best effort, as http.Flusher
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
