package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"atrium/health"
)

func TestFormatEdgeStatus(t *testing.T) {
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	st := health.Status{Node: "edge-0130040Y", Role: "edge", UAI: "0130040Y", Sync: &health.SyncStatus{
		Connected: true, Outbox: 640, LastSync: now.Add(-3 * time.Second),
		Pending: &health.PendingStatus{Commands: 640, Bytes: 160_700_000, Chunks: 612, ChunkBytes: 612 << 18},
		Files:   &health.FilesStatus{Incomplete: 2, MissingBytes: 48 << 20},
		WAN:     &health.WANStatus{Cap: 2 << 20, SentBytes: 3 << 29, ReceivedBytes: 300 << 20},
	}}
	want := "Lycée 0130040Y (edge-0130040Y) : connecté à central, dernier échange il y a 3s\n" +
		"Envoi en attente : 612 morceaux (153 Mo) — 640 modifications en tout (153 Mo)\n" +
		"Fichiers à recevoir : 2 fichiers incomplets ici (il manque 48,0 Mo)\n" +
		"Liaison WAN : plafond 2,0 Mo/s dans chaque sens ; envoyé 1,5 Go, reçu 300 Mo depuis le démarrage\n"
	if got := formatEdgeStatus(st, now); got != want {
		t.Errorf("formatEdgeStatus =\n%s\nwant\n%s", got, want)
	}

	st.Sync = &health.SyncStatus{Pending: &health.PendingStatus{}, Files: &health.FilesStatus{}}
	want = "Lycée 0130040Y (edge-0130040Y) : coupé de central\nEnvoi en attente : rien\nFichiers à recevoir : aucun\n"
	if got := formatEdgeStatus(st, now); got != want {
		t.Errorf("formatEdgeStatus(idle, cut off) =\n%s\nwant\n%s", got, want)
	}
}

func TestOctets(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0 o"}, {1023, "1023 o"}, {1536, "1,5 ko"}, {153 << 20, "153 Mo"}, {200 << 20, "200 Mo"}, {5 << 30, "5,0 Go"},
	}
	for _, tt := range tests {
		if got := octets(tt.in); got != tt.want {
			t.Errorf("octets(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// `atrium edge status --url` reads the edge's status API; a central node or
// a failing edge is a clear error.
func TestPrintEdgeStatus(t *testing.T) {
	var answer health.Status
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/status" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(answer)
	}))
	defer srv.Close()

	answer = health.Status{Node: "edge-0130040Y", Role: "edge", UAI: "0130040Y", Sync: &health.SyncStatus{
		Pending: &health.PendingStatus{Commands: 3, Bytes: 700_000, Chunks: 2, ChunkBytes: 699_000},
	}}
	var out strings.Builder
	if err := printEdgeStatus(t.Context(), &out, srv.URL+"/", false); err != nil {
		t.Fatal(err)
	}
	if want := "Envoi en attente : 2 morceaux (683 ko) — 3 modifications en tout (684 ko)\n"; !strings.Contains(out.String(), want) {
		t.Errorf("atrium edge status printed\n%s\nwant a line %q", out.String(), want)
	}

	answer = health.Status{Node: "central-1", Role: "central"}
	if err := printEdgeStatus(t.Context(), &out, srv.URL, false); err == nil || !strings.Contains(err.Error(), "not a running edge") {
		t.Errorf("atrium edge status on a central node: %v, want \"not a running edge\"", err)
	}
}

// A bad --wan-cap stops the edge before it starts, naming the flag.
func TestEdgeWANCapFlag(t *testing.T) {
	err := runEdge(t.Context(), []string{"--data", t.TempDir(), "--wan-cap", "16Mb"})
	if err == nil || !strings.Contains(err.Error(), "--wan-cap") || !strings.Contains(err.Error(), "unknown unit") {
		t.Errorf("atrium edge --wan-cap 16Mb: %v, want an error naming --wan-cap and the unit", err)
	}
}
