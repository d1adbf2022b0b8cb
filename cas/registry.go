package cas

import (
	"context"
	"net/url"
	"regexp"
	"sort"
	"sync"

	"atrium/ent"
)

// maxPatterns bounds the cache of compiled patterns; it is emptied when
// full (the registry holds a few dozen services).
const maxPatterns = 1024

// registry matches service URLs against ent's registry of CAS services,
// read at each request (an edge's registry changes when central sends a
// new one), with the compiled patterns cached by pattern string.
type registry struct {
	svc *ent.Service

	mu       sync.Mutex
	compiled map[string]*regexp.Regexp // nil: the pattern does not compile
}

func newRegistry(svc *ent.Service) *registry {
	return &registry{svc: svc, compiled: map[string]*regexp.Regexp{}}
}

// match returns the registry entry service is allowed under: the first, by
// name, whose pattern matches the whole URL. A URL that is too long, not
// absolute or not http(s) matches nothing.
func (g *registry) match(ctx context.Context, service string) (ent.CASService, bool, error) {
	if !plausibleService(service) {
		return ent.CASService{}, false, nil
	}
	svcs, err := g.svc.CASServices(ctx)
	if err != nil {
		return ent.CASService{}, false, err
	}
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].Name < svcs[j].Name })
	for _, cs := range svcs {
		if re := g.regexp(cs.Pattern); re != nil && re.MatchString(service) {
			return cs, true, nil
		}
	}
	return ent.CASService{}, false, nil
}

// regexp returns the compiled, anchored pattern, or nil if it does not
// compile (Exec refuses such patterns, but the registry is data).
func (g *registry) regexp(pattern string) *regexp.Regexp {
	g.mu.Lock()
	defer g.mu.Unlock()
	re, ok := g.compiled[pattern]
	if ok {
		return re
	}
	if len(g.compiled) >= maxPatterns {
		clear(g.compiled)
	}
	re, err := regexp.Compile(`^(?:` + pattern + `)$`)
	if err != nil {
		re = nil
	}
	g.compiled[pattern] = re
	return re
}

// plausibleService reports whether s can be a service URL: at most
// maxServiceURL bytes, absolute, http or https, with a host.
func plausibleService(s string) bool {
	if s == "" || len(s) > maxServiceURL {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil {
		return false
	}
	return u.Scheme == "http" || u.Scheme == "https"
}
