package portal_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"atrium/portal"
)

var (
	navBlock      = regexp.MustCompile(`(?s)<nav aria-label="Navigation principale">.*?</nav>`)
	servicesBlock = regexp.MustCompile(`(?s)<ul class="services">.*?</ul>`)
	linkTarget    = regexp.MustCompile(`<a href="([^"]+)"`)
)

func targets(block string) []string {
	var out []string
	for _, m := range linkTarget.FindAllStringSubmatch(block, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestNavigationListsHomeServices: the navigation of every page links to
// each service the home page offers the user, and to none it does not
// (the layout repeats home.html's conditions: this keeps them together).
func TestNavigationListsHomeServices(t *testing.T) {
	e := newEnv(t, portal.Config{})
	for _, login := range []string{"lea.martin", "sophie.martin", "paul.durand", "nadia.benali", "anne.lefebvre"} {
		b := e.browser(t)
		b.login(login)
		_, home := b.get("/")
		nav, services := targets(navBlock.FindString(home)), targets(servicesBlock.FindString(home))
		if len(services) == 0 {
			t.Fatalf("home of %s lists no service", login)
		}
		for _, s := range services {
			if !slices.Contains(nav, s) {
				t.Errorf("navigation of %s lacks %s, which their home page offers", login, s)
			}
		}
		for _, l := range nav {
			if !slices.Contains(services, l) && !slices.Contains([]string{"/", "/compte", "/avis", "/gestion/comptes", "/audit", "/statistiques"}, l) {
				t.Errorf("navigation of %s links to %s, which their home page does not offer", login, l)
			}
		}
		if _, page := b.get("/actualites"); !strings.Contains(page, `<ul aria-label="Services">`) {
			t.Errorf("/actualites of %s lacks the services in its navigation", login)
		}
		t.Logf("%s: home page %d bytes, services in the navigation %v", login, len(home), nav)
	}
}
