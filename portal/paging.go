package portal

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"atrium/ent"
	"atrium/record"
)

// Paged lists. A list page shows ent.DefaultPageLimit items, the newest
// first, and links to the older ones with the cursor ?avant=<id> (the id of
// the page's last item); the JSON API takes ?limit= and ?before= and
// answers the next page's address in a Link header (rel="next").

// pager is what a list's template reads to link the pages: Next the
// address of the older items ("" on the last page), First that of the
// newest ("" on the first page).
type pager struct {
	Next, First string
}

// htmlPage reads the page a list page asks for: ?avant=.
func htmlPage(r *http.Request) ent.Page {
	return ent.Page{Before: r.URL.Query().Get("avant"), Limit: ent.DefaultPageLimit}
}

// newPager links the pages of the list at r, whose next page starts after
// the id next ("" for none); the other query parameters (filters) are kept.
func newPager(r *http.Request, next string) pager {
	var pg pager
	q := r.URL.Query()
	if next != "" {
		q.Set("avant", next)
		pg.Next = r.URL.Path + "?" + q.Encode()
	}
	if r.URL.Query().Get("avant") != "" {
		q.Del("avant")
		pg.First = r.URL.Path
		if len(q) > 0 {
			pg.First += "?" + q.Encode()
		}
	}
	return pg
}

// apiPage reads the page a JSON list asks for: ?limit= (1 to
// ent.MaxPageLimit) and ?before= (a cursor). paged is false when it names
// neither: the list then answers every item, as it always did.
func apiPage(r *http.Request) (p ent.Page, paged bool, err error) {
	q := r.URL.Query()
	l, b := q.Get("limit"), q.Get("before")
	if l == "" && b == "" {
		return ent.Page{}, false, nil
	}
	p = ent.Page{Before: b, Limit: ent.DefaultPageLimit}
	if l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > ent.MaxPageLimit {
			return ent.Page{}, false, record.Reject("invalid", fmt.Sprintf("Le paramètre limit doit être un nombre entre 1 et %d.", ent.MaxPageLimit))
		}
		p.Limit = n
	}
	return p, true, nil
}

// setNextLink answers the address of the next page of a JSON list in a
// Link header (RFC 8288), when there is one.
func setNextLink(w http.ResponseWriter, r *http.Request, p ent.Page, next string) {
	if next == "" {
		return
	}
	q := r.URL.Query()
	q.Set("before", next)
	q.Set("limit", strconv.Itoa(p.Limit))
	w.Header().Set("Link", "<"+(&url.URL{Path: r.URL.Path, RawQuery: q.Encode()}).String()+`>; rel="next"`)
}

// classCacheTTL is how long the classes of a lycée offered by the lists'
// filters may lag behind its directory.
const classCacheTTL = time.Minute

// classCache memoises, for a minute, the classes of each lycée that the
// lists' filters of its staff offer: finding them reads every account of
// the lycée (ent.Service.BlogClasses), too much for every page. A class
// missing from the list for that minute can still be asked for in the
// address. Safe for concurrent use.
type classCache struct {
	mu sync.Mutex
	m  map[string]cachedClasses // by UAI
}

type cachedClasses struct {
	classes []string
	at      time.Time
}

// lyceeClasses returns the classes staff member u may filter by: every
// class of their lycée.
func (p *Portal) lyceeClasses(ctx context.Context, u ent.User) ([]string, error) {
	c := &p.classes
	c.mu.Lock()
	e, ok := c.m[u.UAI]
	c.mu.Unlock()
	if ok && time.Since(e.at) < classCacheTTL {
		return slices.Clone(e.classes), nil
	}
	classes, err := p.cfg.Service.BlogClasses(ctx, u)
	if err != nil {
		return nil, err
	}
	if classes == nil {
		classes = []string{}
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]cachedClasses{}
	}
	c.m[u.UAI] = cachedClasses{classes, time.Now()}
	c.mu.Unlock()
	return slices.Clone(classes), nil
}
