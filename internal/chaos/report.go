package chaos

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// Report is what a chaos run did and found.
type Report struct {
	Seed     int64
	Duration time.Duration // faults and writers
	Dir      string        // data and logs
	UAIs     []string
	Started  time.Time
	Setup    time.Duration // bringing the region up
	Converge time.Duration // from the heal (last fault undone) to convergence
	Total    time.Duration

	Faults map[string]int // by kind (faultKinds)
	// ReadyAfter is, by role, how long each restarted process took to
	// answer /readyz.
	ReadyAfter map[string][]time.Duration
	Timeline   []string
	Writes     []WriteStats
	Reasons    []Reason // why writes were refused or left in doubt
	Checks     []Check
	Failures   []string // what the checks found, one line each
}

// WriteStats counts the writes of one kind made at one end.
type WriteStats struct {
	End, Kind                                string
	Attempted, Acked, Maybe, Refused, Unsent int
}

// Reason is one answer that refused a write or left it in doubt, and how
// often it came.
type Reason struct {
	End, Kind, Outcome, Answer string
	Count                      int
}

// Check is one check of the end state.
type Check struct {
	Name   string
	OK     bool
	Detail string
}

func (r *Report) fail(format string, args ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

func (r *Report) check(name string, ok bool, detail string) {
	r.Checks = append(r.Checks, Check{Name: name, OK: ok, Detail: detail})
}

// OK reports whether every check passed and nothing failed.
func (r *Report) OK() bool {
	if len(r.Failures) > 0 {
		return false
	}
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return len(r.Checks) > 0
}

var urlRE = regexp.MustCompile(`"http://[^"]*"`)

// reasons counts the answers that refused writes or left them in doubt,
// most frequent first, detailed down to the HTTP status and message.
func reasons(led *ledger) []Reason {
	led.mu.Lock()
	defer led.mu.Unlock()
	by := map[Reason]int{}
	for _, w := range led.writes {
		if w.outcome != refused && w.outcome != maybe {
			continue
		}
		answer := urlRE.ReplaceAllString(w.detail, "URL")
		if head, _, ok := strings.Cut(answer, " : "); ok && strings.HasPrefix(answer, "409 ") {
			answer = head // the slot and who holds it
		}
		if len(answer) > 160 {
			answer = answer[:160] + "…"
		}
		by[Reason{End: w.end, Kind: w.kind, Outcome: w.outcome.String(), Answer: answer}]++
	}
	var out []Reason
	for r, n := range by {
		r.Count = n
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return fmt.Sprint(out[i]) < fmt.Sprint(out[j])
	})
	return out
}

func tally(led *ledger) []WriteStats {
	led.mu.Lock()
	defer led.mu.Unlock()
	by := map[string]*WriteStats{}
	get := func(end, kind string) *WriteStats {
		k := end + "/" + kind
		if by[k] == nil {
			by[k] = &WriteStats{End: end, Kind: kind}
		}
		return by[k]
	}
	for _, w := range led.writes {
		s := get(w.end, w.kind)
		s.Attempted++
		switch w.outcome {
		case acked:
			s.Acked++
		case maybe:
			s.Maybe++
		case refused:
			s.Refused++
		}
	}
	for k, n := range led.unsent {
		end, kind, _ := strings.Cut(k, "/")
		s := get(end, kind)
		s.Attempted += n
		s.Unsent += n
	}
	var out []WriteStats
	for _, s := range by {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].End != out[j].End {
			return out[i].End < out[j].End
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

// Markdown is the report as chaos-report.md holds it.
func (r *Report) Markdown() string {
	var b strings.Builder
	verdict := "PASSED"
	if !r.OK() {
		verdict = "FAILED"
	}
	fmt.Fprintf(&b, "# Chaos run: %s\n\n", verdict)
	fmt.Fprintf(&b, "- seed: %d (again: `go test -run TestChaos ./internal/chaos/ -args -chaos.seed %d -chaos.duration %s`)\n", r.Seed, r.Seed, r.Duration)
	fmt.Fprintf(&b, "- started: %s\n", r.Started.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "- region: 3 central nodes, edges of %s, each behind a fault proxy; real processes\n", strings.Join(r.UAIs, ", "))
	fmt.Fprintf(&b, "- faults and writers: %s; setup %s; total %s\n", r.Duration, r.Setup.Round(time.Second), r.Total.Round(time.Second))
	fmt.Fprintf(&b, "- time to converge after the last fault: %s\n", r.Converge.Round(100*time.Millisecond))
	fmt.Fprintf(&b, "- data and logs: %s\n\n", r.Dir)

	b.WriteString("## Faults injected\n\n| fault | count |\n|---|---:|\n")
	total := 0
	for _, k := range faultKinds {
		fmt.Fprintf(&b, "| %s | %d |\n", k, r.Faults[k])
		total += r.Faults[k]
	}
	fmt.Fprintf(&b, "| **total** | **%d** |\n\n", total)
	for _, role := range []string{roleCentral, roleEdge} {
		ds := slices.Clone(r.ReadyAfter[role])
		if len(ds) == 0 {
			continue
		}
		slices.Sort(ds)
		fmt.Fprintf(&b, "A restarted %s node was ready (`/readyz`) after %s (median), %s (max), over %d restarts.\n",
			role, ds[len(ds)/2].Round(10*time.Millisecond), ds[len(ds)-1].Round(10*time.Millisecond), len(ds))
	}
	b.WriteString("\n")

	b.WriteString("## Writes\n\nAcknowledged: the API answered 2xx. Maybe: no answer (timeout, connection lost) or 5xx. ")
	b.WriteString("Refused: 4xx (a slot already booked: 409). Unsent: no node reached (connection refused), not a write.\n\n")
	b.WriteString("| end | kind | attempted | acknowledged | maybe | refused | unsent |\n|---|---|---:|---:|---:|---:|---:|\n")
	var sum WriteStats
	for _, s := range r.Writes {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %d |\n", s.End, s.Kind, s.Attempted, s.Acked, s.Maybe, s.Refused, s.Unsent)
		sum.Attempted += s.Attempted
		sum.Acked += s.Acked
		sum.Maybe += s.Maybe
		sum.Refused += s.Refused
		sum.Unsent += s.Unsent
	}
	fmt.Fprintf(&b, "| **all** | | **%d** | **%d** | **%d** | **%d** | **%d** |\n\n", sum.Attempted, sum.Acked, sum.Maybe, sum.Refused, sum.Unsent)

	if len(r.Reasons) > 0 {
		b.WriteString("Answers that refused a write or left it in doubt (a booking refused with 409 is the contention working):\n\n")
		b.WriteString("| end | kind | outcome | answer | count |\n|---|---|---|---|---:|\n")
		const most = 15
		for i, x := range r.Reasons {
			if i == most {
				fmt.Fprintf(&b, "| … | | | %d more answers | |\n", len(r.Reasons)-most)
				break
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %d |\n", x.End, x.Kind, x.Outcome, strings.ReplaceAll(x.Answer, "|", "\\|"), x.Count)
		}
		b.WriteString("\n")
	}
	b.WriteString("## Checks\n\n")
	for _, c := range r.Checks {
		mark := "x"
		if !c.OK {
			mark = " "
		}
		fmt.Fprintf(&b, "- [%s] %s", mark, c.Name)
		if c.Detail != "" {
			fmt.Fprintf(&b, " (%s)", c.Detail)
		}
		b.WriteString("\n")
	}
	if len(r.Failures) > 0 {
		b.WriteString("\n## Failures\n\n")
		const most = 50
		for i, f := range r.Failures {
			if i == most {
				fmt.Fprintf(&b, "- … and %d more\n", len(r.Failures)-most)
				break
			}
			fmt.Fprintf(&b, "- %s\n", f)
		}
	}
	b.WriteString("\n## Fault timeline\n\n```\n")
	for _, l := range r.Timeline {
		b.WriteString(l + "\n")
	}
	b.WriteString("```\n")
	return b.String()
}
