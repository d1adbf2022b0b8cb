package main

import (
	"fmt"
	"io"
	"time"

	"atrium/ent/importer"
)

// importProgress prints where `atrium ctl aaf import` stands: each file
// read, each stage, and the writes at most once a second (and at their
// end) with their rate and the time left at that rate.
type importProgress struct {
	w   io.Writer
	now func() time.Time

	acad    string    // académie of the writes being timed
	started time.Time // first write event of acad
	printed time.Time // last write line printed
}

func newImportProgress(w io.Writer) *importProgress {
	return &importProgress{w: w, now: time.Now}
}

// progressEvery is the least time between two lines about the writes.
const progressEvery = time.Second

func (ip *importProgress) event(p importer.Progress) {
	switch p.Stage {
	case "write":
		now := ip.now()
		if p.Academie != ip.acad || ip.started.IsZero() {
			ip.acad, ip.started, ip.printed = p.Academie, now, time.Time{}
		}
		last := p.Total > 0 && p.Done >= p.Total
		if !last && !ip.printed.IsZero() && now.Sub(ip.printed) < progressEvery {
			return
		}
		ip.printed = now
		fmt.Fprintf(ip.w, "%s: written %d/%d commands%s\n", p.Academie, p.Done, p.Total, rateLeft(p.Done, p.Total, now.Sub(ip.started)))
	case "read":
		fmt.Fprintf(ip.w, "%s: read %d persons and structures (%s)\n", p.Academie, p.Done, p.File)
	default:
		fmt.Fprintf(ip.w, "%s: %s (%d read)\n", p.Academie, p.Stage, p.Done)
	}
}

// rateLeft is ", N/s, about T left" for done of total in elapsed, or ""
// while too little time has passed to tell.
func rateLeft(done, total int, elapsed time.Duration) string {
	if elapsed < 100*time.Millisecond || done <= 0 {
		return ""
	}
	rate := float64(done) / elapsed.Seconds()
	s := fmt.Sprintf(", %.0f/s", rate)
	if total > done {
		left := time.Duration(float64(total-done) / rate * float64(time.Second))
		s += fmt.Sprintf(", about %s left", left.Round(time.Second))
	}
	return s
}
