package health

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// newNode serves Mount and a sample page behind Instrument, as a node does.
func newNode(t *testing.T, cfg Config) (*httptest.Server, *prometheus.Registry) {
	t.Helper()
	reg := NewRegistry()
	cfg.Gatherer = reg
	mux := http.NewServeMux()
	Mount(mux, cfg)
	mux.HandleFunc("GET /actualites/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "actualité %s", r.PathValue("id"))
	})
	srv := httptest.NewServer(Instrument(mux, reg))
	t.Cleanup(srv.Close)
	return srv, reg
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	return do(t, http.MethodGet, url)
}

func do(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

func TestHealthz(t *testing.T) {
	srv, _ := newNode(t, Config{})
	code, body := get(t, srv.URL+"/healthz")
	if code != http.StatusOK || body != "ok\n" {
		t.Errorf("GET /healthz = %d %q, want 200 \"ok\\n\"", code, body)
	}
}

func TestReadyz(t *testing.T) {
	var ready atomic.Bool
	srv, _ := newNode(t, Config{Ready: func() error {
		if !ready.Load() {
			return errors.New("no raft leader")
		}
		return nil
	}})

	code, body := get(t, srv.URL+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "no raft leader") {
		t.Errorf("GET /readyz before ready = %d %q, want 503 with the reason", code, body)
	}
	ready.Store(true)
	code, body = get(t, srv.URL+"/readyz")
	if code != http.StatusOK || body != "ready\n" {
		t.Errorf("GET /readyz when ready = %d %q, want 200 \"ready\\n\"", code, body)
	}
}

func TestReadyzNilMeansReady(t *testing.T) {
	srv, _ := newNode(t, Config{})
	if code, body := get(t, srv.URL+"/readyz"); code != http.StatusOK {
		t.Errorf("GET /readyz with no Ready = %d %q, want 200", code, body)
	}
}

func parseMetrics(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("/metrics is not valid Prometheus text: %v\n%s", err, text)
	}
	return fams
}

func TestMetricsAfterRequest(t *testing.T) {
	srv, _ := newNode(t, Config{})
	if code, _ := get(t, srv.URL+"/actualites/42"); code != http.StatusOK {
		t.Fatalf("GET /actualites/42 = %d, want 200", code)
	}
	code, text := get(t, srv.URL+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics = %d, want 200", code)
	}
	fams := parseMetrics(t, text)
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	fam, ok := fams["atrium_http_request_duration_seconds"]
	if !ok {
		t.Fatalf("/metrics lacks atrium_http_request_duration_seconds:\n%s", text)
	}
	want := map[string]string{"route": "GET /actualites/{id}", "method": "GET", "code": "2xx"}
	found := false
	for _, m := range fam.GetMetric() {
		if cmp.Equal(labels(m), want) {
			found = true
			if n := m.GetHistogram().GetSampleCount(); n != 1 {
				t.Errorf("sample count for %v = %d, want 1", want, n)
			}
		}
	}
	if !found {
		t.Errorf("no series %v in atrium_http_request_duration_seconds", want)
	}
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func TestLabelsStayBounded(t *testing.T) {
	srv, reg := newNode(t, Config{})
	rng := rand.New(rand.NewPCG(1, 2))
	methods := []string{"GET", "POST", "PROPFIND", "BREW", "DELETE"}
	for i := range 1000 {
		path := fmt.Sprintf("/%x/%d", rng.Uint64(), i)
		if i%3 == 0 {
			path = fmt.Sprintf("/actualites/%x", rng.Uint64())
		}
		if i%7 == 0 {
			path += "/"
		}
		do(t, methods[i%len(methods)], srv.URL+path)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"other": true, "GET /actualites/{id}": true}
	for _, f := range fams {
		if f.GetName() != "atrium_http_request_duration_seconds" {
			continue
		}
		if n := len(f.GetMetric()); n > 20 {
			t.Errorf("%d series after 1000 random paths, want a handful", n)
		}
		for _, m := range f.GetMetric() {
			l := labels(m)
			if !allowed[l["route"]] {
				t.Errorf("route label %q: want a registered pattern or \"other\"", l["route"])
			}
			switch l["method"] {
			case "GET", "POST", "DELETE", "OTHER":
			default:
				t.Errorf("method label %q: want a standard method or OTHER", l["method"])
			}
			if len(l["code"]) != 3 || !strings.HasSuffix(l["code"], "xx") {
				t.Errorf("code label %q: want a class like 4xx", l["code"])
			}
		}
		return
	}
	t.Fatal("atrium_http_request_duration_seconds not gathered")
}

func TestInstrumentTwiceSharesHistogram(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	a, b := Instrument(h, reg), Instrument(h, reg)
	for _, hh := range []http.Handler{a, b} {
		hh.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil))
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(fams) != 1 || len(fams[0].GetMetric()) != 1 {
		t.Fatalf("gathered %v, want one series", fams)
	}
	m := fams[0].GetMetric()[0]
	if got, want := labels(m), map[string]string{"route": "other", "method": "GET", "code": "4xx"}; !cmp.Equal(got, want) {
		t.Errorf("labels = %v, want %v", got, want)
	}
	if n := m.GetHistogram().GetSampleCount(); n != 2 {
		t.Errorf("sample count = %d, want 2", n)
	}
}

func TestStatusJSON(t *testing.T) {
	last := time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC)
	st := Status{
		Node: "edge-0130040Y", Role: "edge", UAI: "0130040Y", Leader: "central-1",
		Sync:    &SyncStatus{Connected: true, Outbox: 3, Checkpoints: map[string]uint64{"0130040Y": 12}, LastSync: last},
		Raft:    &RaftStatus{State: "Leader", CommitIndex: 7, AppliedIndex: 6},
		Members: []MemberStatus{{Name: "central-1", Status: "alive", Leader: true}},
		Edges:   []EdgeStatus{{UAI: "0130040Y", Connected: true, Epoch: 5, Outbox: 1, Lag: 2, LastSeen: last}},
	}
	srv, _ := newNode(t, Config{Status: func() Status { return st }})
	code, body := get(t, srv.URL+"/api/v1/status")
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1/status = %d, want 200", code)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("status is not JSON: %v\n%s", err, body)
	}
	want := map[string]any{
		"node": "edge-0130040Y", "role": "edge", "uai": "0130040Y", "leader": "central-1",
		"sync": map[string]any{"connected": true, "outbox": 3.0,
			"checkpoints": map[string]any{"0130040Y": 12.0}, "last_sync": "2025-03-14T09:30:00Z"},
		"raft":    map[string]any{"state": "Leader", "commit_index": 7.0, "applied_index": 6.0},
		"members": []any{map[string]any{"name": "central-1", "status": "alive", "leader": true}},
		"edges": []any{map[string]any{"uai": "0130040Y", "connected": true, "epoch": 5.0,
			"outbox": 1.0, "lag": 2.0, "last_seen": "2025-03-14T09:30:00Z"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status JSON (-want +got):\n%s", diff)
	}
}

func TestStatusJSONOmitsEmpty(t *testing.T) {
	srv, _ := newNode(t, Config{Status: func() Status { return Status{Node: "central-2", Role: "central"} }})
	_, body := get(t, srv.URL+"/api/v1/status")
	if got, want := strings.TrimSpace(body), `{"node":"central-2","role":"central"}`; got != want {
		t.Errorf("status = %s, want %s", got, want)
	}
}

// The portal is a mux mounted at "/" of the node's mux: requests are
// labelled with the portal's own pattern, not "/".
func TestNestedMuxRoute(t *testing.T) {
	reg := prometheus.NewRegistry()
	inner := http.NewServeMux()
	inner.HandleFunc("GET /messagerie/{id}", func(w http.ResponseWriter, r *http.Request) {})
	outer := http.NewServeMux()
	outer.Handle("/", inner)
	h := Instrument(outer, reg)
	for _, p := range []string{"/messagerie/1", "/messagerie/2", "/nowhere"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, p, nil))
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			got[labels(m)["route"]] += m.GetHistogram().GetSampleCount()
		}
	}
	want := map[string]uint64{"GET /messagerie/{id}": 2, "/": 1}
	if !cmp.Equal(got, want) {
		t.Errorf("requests by route = %v, want %v", got, want)
	}
}

func TestFetchStatus(t *testing.T) {
	want := Status{Node: "edge-0130040Y", Role: "edge", UAI: "0130040Y",
		Sync: &SyncStatus{Connected: true, Outbox: 2, Checkpoints: map[string]uint64{"0130040Y": 9}}}
	srv, _ := newNode(t, Config{Status: func() Status { return want }})
	got, body, err := FetchStatus(t.Context(), srv.URL+"/")
	if err != nil {
		t.Fatalf("FetchStatus = %v, want nil", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FetchStatus (-want +got):\n%s", diff)
	}
	if _, served := get(t, srv.URL+"/api/v1/status"); string(body) != served {
		t.Errorf("FetchStatus body = %s, want the body served, %s", body, served)
	}

	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "démarrage", http.StatusServiceUnavailable)
	}))
	defer refusing.Close()
	if _, _, err := FetchStatus(t.Context(), refusing.URL); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("FetchStatus(a node answering 503) = %v, want an error naming 503", err)
	}
}
