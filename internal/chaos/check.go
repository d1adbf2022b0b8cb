package chaos

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"atrium/edge"
	"atrium/ent"
	"atrium/internal/poll"
	"atrium/node"
)

// convergence is the region's state once converged.
type convergence struct {
	digests map[string]node.PartitionDigest // every partition, equal on every central node
}

// converge waits until every central node is ready and holds the same
// digest of every partition at the same sequence, and every edge is
// connected, has sent its outbox, applied its partition up to central's
// head and verified its digest there.
func converge(ctx context.Context, api *apiClient, r *region, lycees []*lycee, timeout time.Duration) (*convergence, error) {
	conv := &convergence{}
	err := poll.Until(ctx, timeout, func() error {
		var ref map[string]node.PartitionDigest
		for i, c := range r.centrals {
			if err := api.ready(ctx, c.url); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			ds, err := api.digests(ctx, c.url, false)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			if i == 0 {
				ref = ds
				continue
			}
			if d := diffDigests(ref, ds); d != "" {
				return fmt.Errorf("%s and %s differ: %s", r.centrals[0].name, c.name, d)
			}
		}
		for _, ly := range lycees {
			e := r.edge(ly.uai)
			st, err := api.status(ctx, e.url)
			if err != nil {
				return fmt.Errorf("%s: %w", e.name, err)
			}
			want := ref[ly.uai].Seq
			switch s := st.Sync; {
			case s == nil:
				return fmt.Errorf("%s: no sync status", e.name)
			case !s.Connected:
				return fmt.Errorf("%s: not connected", e.name)
			case s.Outbox != 0:
				return fmt.Errorf("%s: outbox holds %d commands", e.name, s.Outbox)
			case s.Checkpoints[ly.uai] != want:
				return fmt.Errorf("%s: applied %s up to %d, central's head is %d", e.name, ly.uai, s.Checkpoints[ly.uai], want)
			case s.Digest == nil || s.Digest.VerifiedSeq != want:
				return fmt.Errorf("%s: digest verified at %v, central's head is %d", e.name, s.Digest, want)
			}
		}
		conv.digests = ref
		return nil
	})
	if err != nil {
		return nil, err
	}
	return conv, nil
}

// diffDigests describes how b differs from a, "" when they are equal.
func diffDigests(a, b map[string]node.PartitionDigest) string {
	var diffs []string
	for p, da := range a {
		db, ok := b[p]
		switch {
		case !ok:
			diffs = append(diffs, p+" missing")
		case da.Seq != db.Seq || da.Digest != db.Digest:
			diffs = append(diffs, fmt.Sprintf("%s %d/%s against %d/%s", p, da.Seq, da.Digest, db.Seq, db.Digest))
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			diffs = append(diffs, p+" extra")
		}
	}
	sort.Strings(diffs)
	return strings.Join(diffs, "; ")
}

// checkRecomputed asks every central node for its digests computed afresh
// and compares them with the stored ones.
func checkRecomputed(ctx context.Context, api *apiClient, r *region, rep *Report) {
	bad, compared := 0, 0
	for _, c := range r.centrals {
		ds, err := api.digests(ctx, c.url, true)
		if err != nil {
			rep.fail("digests of %s: %v", c.name, err)
			bad++
			continue
		}
		for _, d := range ds {
			if d.Recomputed == "" {
				continue // changed meanwhile
			}
			compared++
			if d.Recomputed != d.Digest {
				bad++
				rep.fail("%s: stored digest of %s is %s, its records give %s", c.name, d.Partition, d.Digest, d.Recomputed)
			}
		}
	}
	rep.check("stored digests equal the digests of the records, at every central node", bad == 0,
		fmt.Sprintf("%d compared", compared))
}

// bookingView is a booking as a node's API shows it.
type bookingView struct {
	ID      string `json:"id"`
	Date    string `json:"date"`
	Start   string `json:"start"`
	End     string `json:"end"`
	Purpose string `json:"purpose"`
	State   string `json:"state"`
}

// view is what one node shows of one lycée's chaos writes.
type view struct {
	node     string
	messages map[int]int
	posts    map[int]int
	bookings map[int][]bookingView
	all      []bookingView
}

func readView(ctx context.Context, api *apiClient, name, base, token string, ly *lycee) (*view, error) {
	v := &view{node: name, messages: map[int]int{}, posts: map[int]int{}, bookings: map[int][]bookingView{}}
	var msgs []struct {
		Body string `json:"body"`
	}
	if err := api.getJSON(ctx, base+"/api/v1/messages", token, &msgs); err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if n := markerOf(m.Body); n >= 0 {
			v.messages[n]++
		}
	}
	var topic struct {
		Posts []struct {
			Body string `json:"body"`
		} `json:"posts"`
	}
	if err := api.getJSON(ctx, base+"/api/v1/forums/"+ly.forum+"/topics/"+ly.topic, token, &topic); err != nil {
		return nil, err
	}
	for _, p := range topic.Posts {
		if n := markerOf(p.Body); n >= 0 {
			v.posts[n]++
		}
	}
	q := url.Values{"from": {slotDates[0]}, "to": {slotDates[len(slotDates)-1]}}
	if err := api.getJSON(ctx, base+"/api/v1/resources/"+ly.resource+"/bookings?"+q.Encode(), token, &v.all); err != nil {
		return nil, err
	}
	for _, b := range v.all {
		if n := markerOf(b.Purpose); n >= 0 {
			v.bookings[n] = append(v.bookings[n], b)
		}
	}
	return v, nil
}

// Booking states (ent.Booking*), as the API writes them.
const (
	stateConfirmed = "confirmee"
	statePending   = "en-attente"
	stateCancelled = "annulee"
	stateRefused   = "refusee"
)

// checkContent reads each lycée's messages, forum posts and bookings at
// every central node and at the lycée's edge, and checks them against the
// ledger.
func checkContent(ctx context.Context, api *apiClient, r *region, lycees []*lycee, led *ledger, rep *Report) error {
	led.mu.Lock()
	defer led.mu.Unlock()
	var lost, dup, maybeBad, refusedThere, foreign, twice, bookingBad, noticeBad, centralRefused int
	var appendChecked, bookingChecked int
	for _, ly := range lycees {
		var views []*view
		for _, c := range r.centrals {
			v, err := readView(ctx, api, c.name, c.url, ly.teacher.central, ly)
			if err != nil {
				return fmt.Errorf("%s, lycée %s: %w", c.name, ly.uai, err)
			}
			views = append(views, v)
		}
		e := r.edge(ly.uai)
		ev, err := readView(ctx, api, e.name, e.url, ly.teacher.edge, ly)
		if err != nil {
			return fmt.Errorf("%s: %w", e.name, err)
		}
		views = append(views, ev)
		centralViews := views[:len(r.centrals)]

		// Markers a node shows that no client of this lycée wrote.
		for _, v := range views {
			for kind, m := range map[string]map[int]int{kindMessage: v.messages, kindPost: v.posts} {
				for n := range m {
					if w := led.byMarker[n]; w == nil || w.kind != kind || w.uai != ly.uai {
						foreign++
						rep.fail("%s shows %s %s that no client of %s wrote", v.node, kind, marker(n), ly.uai)
					}
				}
			}
			for n := range v.bookings {
				if w := led.byMarker[n]; w == nil || w.kind != kindBooking || w.uai != ly.uai {
					foreign++
					rep.fail("%s shows booking %s that no client of %s wrote", v.node, marker(n), ly.uai)
				}
			}
			// No slot booked twice.
			var live []bookingView
			for _, b := range v.all {
				if b.State == stateConfirmed || b.State == statePending {
					live = append(live, b)
				}
			}
			for i, a := range live {
				for _, b := range live[i+1:] {
					if a.Date == b.Date && a.Start < b.End && b.Start < a.End {
						twice++
						rep.fail("%s: slot booked twice in %s: %s %s-%s %q (%s) and %s-%s %q (%s)", v.node, ly.uai,
							a.Date, a.Start, a.End, a.Purpose, a.State, b.Start, b.End, b.Purpose, b.State)
					}
				}
			}
		}

		// Bookings central refused, by author: slots that must have a
		// notice, and how many more a "maybe" booking may explain.
		refusedSlots := map[string][]string{}
		maybeRefused := map[string]int{}
		for _, w := range led.writes {
			if w.uai != ly.uai {
				continue
			}
			switch w.kind {
			case kindMessage, kindPost:
				appendChecked++
				counts := make([]int, len(views))
				for i, v := range views {
					if w.kind == kindMessage {
						counts[i] = v.messages[w.n]
					} else {
						counts[i] = v.posts[w.n]
					}
				}
				for i, c := range counts {
					switch {
					case c > 1:
						dup++
						rep.fail("%s %s (%s at %s via %s) is there %d times at %s", w.kind, marker(w.n), w.outcome, w.end, w.node, c, views[i].node)
					case w.outcome == acked && c == 0:
						lost++
						rep.fail("%s %s acknowledged at %s via %s (id %s) is missing at %s", w.kind, marker(w.n), w.end, w.node, w.id, views[i].node)
					case w.outcome == refused && c != 0:
						refusedThere++
						rep.fail("%s %s refused at %s via %s (%s) is there at %s", w.kind, marker(w.n), w.end, w.node, w.detail, views[i].node)
					}
				}
				if w.outcome == maybe && slices.Min(counts) != slices.Max(counts) {
					maybeBad++
					rep.fail("%s %s (maybe, at %s via %s) is present at some nodes only: %v", w.kind, marker(w.n), w.end, w.node, counts)
				}
			case kindBooking:
				bookingChecked++
				msg, refusedByCentral := checkBooking(w, centralViews, ev, led)
				if msg != "" {
					bookingBad++
					rep.fail("booking %s (%s at %s via %s, %s %s-%s): %s", marker(w.n), w.outcome, w.end, w.node, w.date, w.start, w.stop, msg)
				}
				if refusedByCentral {
					centralRefused++
					refusedSlots[w.author] = append(refusedSlots[w.author], slotKey(w.date, w.start, w.stop))
				}
				if w.outcome == maybe && w.end == roleEdge && len(centralViews[0].bookings[w.n]) == 0 {
					maybeRefused[w.author]++
				}
			}
		}

		// Every booking central refused reached its author as a notice
		// naming its slot, at both ends.
		for _, a := range []*account{ly.teacher, ly.staff} {
			for _, end := range []struct{ name, base, token string }{
				{r.centrals[0].name, r.centrals[0].url, a.central}, {e.name, e.url, a.edge}} {
				var ns struct {
					Notices []struct {
						Op   string `json:"op"`
						Text string `json:"text"`
					} `json:"notices"`
				}
				if err := api.getJSON(ctx, end.base+"/api/v1/notices", end.token, &ns); err != nil {
					return fmt.Errorf("%s: notices of %s: %w", end.name, a.login, err)
				}
				have := map[string]int{}
				total := 0
				for _, n := range ns.Notices {
					if n.Op != ent.OpBookingMake {
						continue
					}
					total++
					if m := noticeSlotRE.FindStringSubmatch(n.Text); m != nil {
						have[slotKey(m[3]+"-"+m[2]+"-"+m[1], m[4], m[5])]++
					}
				}
				missing := 0
				for _, k := range refusedSlots[a.login] {
					if have[k] == 0 {
						missing++
						rep.fail("%s: %s has no refusal notice for their booking of %s, which central refused", end.name, a.login, k)
						continue
					}
					have[k]--
				}
				if extra := total - (len(refusedSlots[a.login]) - missing); missing > 0 || extra > maybeRefused[a.login] {
					noticeBad++
					if extra > maybeRefused[a.login] {
						rep.fail("%s: %s has %d booking refusal notices, %d more than the bookings central refused (%d maybe)", end.name, a.login, total, extra, maybeRefused[a.login])
					}
				}
			}
		}
	}
	rep.check("no acknowledged write lost (messages, forum posts) on any replica", lost == 0, fmt.Sprintf("%d writes checked on %d replicas each", appendChecked, len(r.centrals)+1))
	rep.check("no write applied twice", dup == 0, "")
	rep.check("a \"maybe\" write is everywhere or nowhere", maybeBad == 0, "")
	rep.check("no refused write applied", refusedThere == 0, "")
	rep.check("no write from nowhere", foreign == 0, "")
	rep.check("no slot booked twice, on any replica", twice == 0, "")
	rep.check("bookings agree across replicas and with their answers", bookingBad == 0, fmt.Sprintf("%d bookings", bookingChecked))
	rep.check("every booking central refused has its notice, at both ends", noticeBad == 0, fmt.Sprintf("%d refused", centralRefused))
	checkRecomputed(ctx, api, r, rep)
	return nil
}

// checkBooking checks one booking across the central nodes and the edge;
// it returns what is wrong ("" if nothing), and whether central refused
// it: made at the edge, it is nowhere once converged (the edge took its
// copy back when central's notice reached it, ent/reservation.go).
func checkBooking(w *write, centrals []*view, ev *view, led *ledger) (string, bool) {
	state := func(v *view) (string, string) {
		bs := v.bookings[w.n]
		switch len(bs) {
		case 0:
			return "", ""
		case 1:
			return bs[0].State, ""
		default:
			return "", fmt.Sprintf("there %d times at %s", len(bs), v.node)
		}
	}
	cs, msg := state(centrals[0])
	if msg != "" {
		return msg, false
	}
	for _, v := range centrals[1:] {
		s, msg := state(v)
		if msg != "" {
			return msg, false
		}
		if s != cs {
			return fmt.Sprintf("%s shows %q, %s %q", centrals[0].node, cs, v.node, s), false
		}
	}
	es, msg := state(ev)
	if msg != "" {
		return msg, false
	}
	if cs != es {
		return fmt.Sprintf("central shows %q, the edge %q", cs, es), false
	}
	switch {
	case cs == statePending || cs == stateRefused:
		return fmt.Sprintf("still %q once converged", cs), false
	case w.outcome == acked && cs == "" && w.end == roleCentral:
		return "acknowledged at central, missing there", false
	case w.outcome == acked && cs == "":
		return "", true // made at the edge, refused by central: its notice is checked
	case w.outcome == acked && w.id != "" && centrals[0].bookings[w.n][0].ID != w.id:
		return fmt.Sprintf("acknowledged as %s, held as %s", w.id, centrals[0].bookings[w.n][0].ID), false
	case w.outcome == refused && cs != "":
		return fmt.Sprintf("refused (%s), yet %q", w.detail, cs), false
	case led.cancelAcked[w] && cs != stateCancelled:
		return fmt.Sprintf("its cancellation was acknowledged, yet %q", cs), false
	case cs == stateCancelled && !led.cancelAcked[w] && !led.cancelMaybe[w]:
		return "cancelled, though nobody cancelled it", false
	}
	return "", false
}

// noticeSlotRE finds a booking's day and slot in a refusal notice's text.
var noticeSlotRE = regexp.MustCompile(`le (\d\d)/(\d\d)/(\d{4}) de (\d\d:\d\d) à (\d\d:\d\d)`)

// slotKey names a booking's day and slot.
func slotKey(date, start, end string) string { return date + " " + start + "-" + end }

// checkMismatchLogs counts, in the edges' logs, the digest mismatches the
// edges found while syncing (each one a divergence the edge then repaired
// by a full pull), and every node's panics.
func checkMismatchLogs(r *region, rep *Report) {
	mismatches, panics := 0, 0
	for _, p := range r.all() {
		f, err := os.Open(p.logPath)
		if err != nil {
			rep.fail("log of %s: %v", p.name, err)
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, "digest differs") {
				mismatches++
				rep.fail("%s: %s", p.name, line)
			}
			if strings.HasPrefix(line, "panic:") || strings.Contains(line, "fatal error:") {
				panics++
				rep.fail("%s: %s", p.name, line)
			}
		}
		f.Close()
	}
	rep.check("no digest mismatch found by an edge during the run (logs)", mismatches == 0, fmt.Sprintf("%d found", mismatches))
	rep.check("no panic in any node's log", panics == 0, "")
}

// checkStoppedEdges stops each edge and reads its replica file: its
// digest of its lycée's partition, stored and computed afresh from the
// records, must equal central's at the same checkpoint.
func checkStoppedEdges(ctx context.Context, api *apiClient, r *region, lycees []*lycee, rep *Report) {
	ok := true
	for _, ly := range lycees {
		e := r.edge(ly.uai)
		r.stop(e, 15*time.Second)
		cd, err := api.digests(ctx, r.centrals[0].url, false)
		if err != nil {
			rep.fail("digests of %s: %v", r.centrals[0].name, err)
			ok = false
			continue
		}
		want := cd[ly.uai]
		key, err := edge.ReadDataKey(edge.DefaultDataKeyPath(filepath.Join(r.dir, e.name))) // the replica is sealed
		if err != nil {
			rep.fail("read the data key of %s: %v", e.name, err)
			ok = false
			continue
		}
		st, err := edge.OpenWith(filepath.Join(r.dir, e.name, "edge.db"), ly.uai, ent.Exec,
			edge.Options{Indexer: ent.IndexTerms, IndexVersion: ent.IndexVersion, DataKey: key})
		if err != nil {
			rep.fail("open the replica of %s: %v", e.name, err)
			ok = false
			continue
		}
		d, cp, settled, err := st.Digest(ly.uai)
		fresh, ferr := st.RecomputeDigest(ly.uai)
		st.Close()
		switch {
		case err != nil || ferr != nil:
			rep.fail("digest of %s's replica: %v %v", e.name, err, ferr)
			ok = false
		case !settled:
			rep.fail("%s's replica still has local writes awaiting central's verdict", e.name)
			ok = false
		case cp != want.Seq || d.String() != want.Digest:
			rep.fail("%s's replica holds %s at %d/%s, central %d/%s", e.name, ly.uai, cp, d, want.Seq, want.Digest)
			ok = false
		case fresh != d:
			rep.fail("%s's stored digest of %s is %s, its records give %s", e.name, ly.uai, d, fresh)
			ok = false
		}
	}
	rep.check("each stopped edge's replica file: digest equal to central's, stored and recomputed", ok, "")
}
