package node

import (
	"net/http"
	"sync/atomic"
)

// lateHandler serves a handler installed once its dependencies are ready
// (the portal needs the cluster's session key, known after an election).
type lateHandler struct{ h atomic.Pointer[http.Handler] }

func (l *lateHandler) set(h http.Handler) { l.h.Store(&h) }

func (l *lateHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*l.h.Load()).ServeHTTP(w, r)
}
