package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"atrium/internal/poll"
)

// Kinds of faults, as the report names them.
const (
	faultKillCentral = "kill -9 a central node"
	faultKillSecond  = "kill -9 a second central node (quorum lost)"
	faultKillLeader  = "kill -9 the raft leader"
	faultKillEdge    = "kill -9 an edge"
	faultWANCut      = "WAN cut"
	faultWANLoss     = "WAN loss 20 %"
	faultWANDelay    = "WAN delay 200 ms"
)

// faultKinds is the report's order.
var faultKinds = []string{faultKillCentral, faultKillLeader, faultKillSecond, faultKillEdge, faultWANCut, faultWANLoss, faultWANDelay}

// injector injects faults at random, from its seed, until its context
// ends; each fault is undone (process restarted, link healed) after a
// random delay, or at once when the injection stops.
type injector struct {
	r   *region
	api *apiClient
	rng *rand.Rand
	log func(format string, args ...any)

	mu       sync.Mutex
	counts   map[string]int
	timeline []string
	linkBusy map[string]bool // UAI -> a link fault is on
	last     time.Time       // when the last fault was undone
	errs     []string        // restarts that failed
	// readyAfter is, by role, how long restarted processes took to be
	// ready.
	readyAfter map[string][]time.Duration
	wg         sync.WaitGroup
	start      time.Time
}

func newInjector(r *region, api *apiClient, seed int64, log func(string, ...any)) *injector {
	return &injector{r: r, api: api, rng: rand.New(rand.NewPCG(uint64(seed), 0xc4a05)), log: log,
		counts: map[string]int{}, linkBusy: map[string]bool{}, readyAfter: map[string][]time.Duration{}}
}

// between returns a random duration in [lo, hi).
func (in *injector) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(in.rng.Int64N(int64(hi-lo)))
}

// run injects faults until ctx ends, then undoes those still on and
// returns once every process is up again and every link healed.
func (in *injector) run(ctx context.Context) {
	in.start = time.Now()
	for {
		select {
		case <-ctx.Done():
			in.wg.Wait()
			return
		case <-time.After(in.between(1500*time.Millisecond, 4*time.Second)):
		}
		in.inject(ctx)
	}
}

func (in *injector) note(kind, what string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.counts[kind]++
	line := fmt.Sprintf("%6.1fs  %s", time.Since(in.start).Seconds(), what)
	in.timeline = append(in.timeline, line)
	in.log("chaos: %s", line)
}

func (in *injector) inject(ctx context.Context) {
	var downCentrals, upCentrals []*proc
	for _, c := range in.r.centrals {
		if c.isUp() {
			upCentrals = append(upCentrals, c)
		} else {
			downCentrals = append(downCentrals, c)
		}
	}
	switch roll := in.rng.IntN(100); {
	case roll < 20:
		switch {
		case len(downCentrals) == 0:
			c := upCentrals[in.rng.IntN(len(upCentrals))]
			in.killAndRestart(ctx, c, faultKillCentral, in.between(time.Second, 8*time.Second))
		case len(downCentrals) == 1 && in.rng.IntN(100) < 60:
			// Quorum lost, briefly.
			c := upCentrals[in.rng.IntN(len(upCentrals))]
			in.killAndRestart(ctx, c, faultKillSecond, in.between(time.Second, 3*time.Second))
		}
	case roll < 40:
		if len(downCentrals) > 0 {
			return
		}
		if c := in.leader(ctx); c != nil {
			in.killAndRestart(ctx, c, faultKillLeader, in.between(time.Second, 8*time.Second))
		}
	case roll < 55:
		e := in.r.edges[in.rng.IntN(len(in.r.edges))]
		if e.isUp() {
			in.killAndRestart(ctx, e, faultKillEdge, in.between(500*time.Millisecond, 5*time.Second))
		}
	default:
		e := in.r.edges[in.rng.IntN(len(in.r.edges))]
		in.mu.Lock()
		busy := in.linkBusy[e.uai]
		if !busy {
			in.linkBusy[e.uai] = true
		}
		in.mu.Unlock()
		if busy {
			return
		}
		proxies := in.r.proxies[e.uai]
		var kind string
		var undo func()
		switch in.rng.IntN(3) {
		case 0:
			kind = faultWANCut
			for _, p := range proxies {
				p.Cut()
			}
			undo = func() {
				for _, p := range proxies {
					p.Restore()
				}
			}
		case 1:
			kind = faultWANLoss
			for _, p := range proxies {
				p.SetLoss(0.2)
			}
			undo = func() {
				for _, p := range proxies {
					p.SetLoss(0)
				}
			}
		default:
			kind = faultWANDelay
			for _, p := range proxies {
				p.SetDelay(200 * time.Millisecond)
			}
			undo = func() {
				for _, p := range proxies {
					p.SetDelay(0)
				}
			}
		}
		d := in.between(2*time.Second, 12*time.Second)
		in.note(kind, fmt.Sprintf("%s on %s's link for %s", kind, e.uai, d.Round(100*time.Millisecond)))
		in.after(ctx, d, func() {
			undo()
			in.mu.Lock()
			in.linkBusy[e.uai] = false
			in.mu.Unlock()
		})
	}
}

// leader returns the central node that says it leads, nil if none does.
func (in *injector) leader(ctx context.Context) *proc {
	for _, c := range in.r.centrals {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := in.api.status(cctx, c.url)
		cancel()
		if err == nil && st.Raft != nil && st.Raft.State == "Leader" {
			return c
		}
	}
	return nil
}

func (in *injector) killAndRestart(ctx context.Context, p *proc, kind string, down time.Duration) {
	if !in.r.kill(p) {
		return
	}
	in.note(kind, fmt.Sprintf("%s: %s, restarted after %s", kind, p.name, down.Round(100*time.Millisecond)))
	in.after(ctx, down, func() {
		if err := in.r.start(p); err != nil {
			in.mu.Lock()
			in.errs = append(in.errs, err.Error())
			in.mu.Unlock()
			return
		}
		in.measureReady(ctx, p)
	})
}

// measureReady times, in the background, how long p takes after its
// restart to answer /readyz (central: caught up with its raft log and
// serving; edge: its replica open), while the faults go on.
func (in *injector) measureReady(ctx context.Context, p *proc) {
	started := time.Now()
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		err := poll.Until(ctx, time.Minute, func() error {
			if !p.isUp() {
				return poll.Stop(fmt.Errorf("%s down again", p.name))
			}
			rctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			return in.api.ready(rctx, p.url)
		})
		if err != nil {
			return // killed again, or the run ended: not a measure
		}
		in.mu.Lock()
		in.readyAfter[p.role] = append(in.readyAfter[p.role], time.Since(started))
		in.mu.Unlock()
	}()
}

// after runs undo after d, or as soon as ctx ends.
func (in *injector) after(ctx context.Context, d time.Duration, undo func()) {
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
		undo()
		in.mu.Lock()
		in.last = time.Now()
		in.mu.Unlock()
	}()
}
