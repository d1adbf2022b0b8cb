package node

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"atrium/health"
)

// process is what every running node owns: its HTTP listener and server
// (portal, API, health, metrics, instrumented) and the goroutines of its
// components, which stop when its context is cancelled.
type process struct {
	ln     net.Listener
	srv    *http.Server
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newProcess returns a process whose context outlives parent's
// cancellation: a node stops when Close says so, not when the context that
// started it ends.
func newProcess(parent context.Context, ln net.Listener) *process {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	return &process{ln: ln, ctx: ctx, cancel: cancel}
}

// serveHTTP serves mux, instrumented on reg, on the process's listener.
func (p *process) serveHTTP(mux *http.ServeMux, reg prometheus.Registerer, log *slog.Logger) {
	p.srv = &http.Server{Handler: health.Instrument(mux, reg), ReadHeaderTimeout: 10 * time.Second}
	p.run(func(context.Context) {
		if err := p.srv.Serve(p.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "err", err)
		}
	})
}

// run runs f in a goroutine owned by the process; f must return once its
// context is cancelled.
func (p *process) run(f func(ctx context.Context)) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f(p.ctx)
	}()
}

// url is the node's HTTP base URL.
func (p *process) url() string { return "http://" + p.ln.Addr().String() }

// close stops HTTP first (requests in flight get 5 s), then the components.
func (p *process) close() error {
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.srv.Shutdown(sctx)
	p.cancel()
	p.wg.Wait()
	return err
}
