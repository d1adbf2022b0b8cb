package main

import (
	"strings"
	"testing"
	"time"

	"atrium/ent/importer"
)

// TestImportProgressLines: the writes are printed at most once a second,
// with their rate and the time left, and always at their end; reads and
// stages are printed as they come.
func TestImportProgressLines(t *testing.T) {
	var out strings.Builder
	ip := newImportProgress(&out)
	clock := time.Date(2026, 9, 1, 22, 0, 0, 0, time.UTC)
	ip.now = func() time.Time { return clock }
	at := func(d time.Duration, p importer.Progress) {
		clock = clock.Add(d)
		ip.event(p)
	}
	w := func(done int) importer.Progress {
		return importer.Progress{Stage: "write", Academie: "NICE", Done: done, Total: 40000}
	}
	at(0, importer.Progress{Stage: "read", Academie: "NICE", File: "ENT_Complet_Eleve_0001.xml", Done: 10000})
	at(0, importer.Progress{Stage: "plan", Academie: "NICE", Done: 12000})
	at(0, w(250))                     // first write: printed, no rate yet
	at(500*time.Millisecond, w(5000)) // within the second: not printed
	at(500*time.Millisecond, w(10000))
	at(200*time.Millisecond, w(12000))
	at(1800*time.Millisecond, w(40000)) // the end: printed
	want := []string{
		"NICE: read 10000 persons and structures (ENT_Complet_Eleve_0001.xml)",
		"NICE: plan (12000 read)",
		"NICE: written 250/40000 commands",
		"NICE: written 10000/40000 commands, 10000/s, about 3s left",
		"NICE: written 40000/40000 commands, 13333/s",
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("progress lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
