package regiontest_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"atrium/ent"
	"atrium/internal/regiontest"
	"atrium/record"
)

// catchUpRecords is how many changed records each side catches up in
// BenchmarkCatchUpVsJetStream.
const catchUpRecords = 100_000

// catchUpCPUProfile, when set, is where BenchmarkCatchUpVsJetStream writes a
// CPU profile of Atrium's first catch-up window alone (edge restart to head).
var catchUpCPUProfile = flag.String("catchup.cpuprofile", "", "BenchmarkCatchUpVsJetStream: write a CPU profile of Atrium's first catch-up window to this file")

// catchUpRounds is how many times BenchmarkCatchUpVsJetStream catches up
// each side, in turn.
var catchUpRounds = flag.Int("catchup.rounds", 3, "BenchmarkCatchUpVsJetStream: catch-ups of each side, in turn")

// catchUpAlways runs the JetStream side once more with sync_interval:
// always (about a minute for 100k messages).
var catchUpAlways = flag.Bool("catchup.always", true, "BenchmarkCatchUpVsJetStream: also catch up a mirror that fsyncs every message")

// catchUpPoll is how often both sides are polled for the end of a catch-up.
const catchUpPoll = 10 * time.Millisecond

// BenchmarkCatchUpVsJetStream measures, in one run, records/s caught up
// after a disconnect by (a) an Atrium edge from a three-node central over
// QUIC and (b) a NATS JetStream mirror on a leaf node from a stream on its
// hub, with the same number of records of the same size. Each side is set
// up once, then caught up -catchup.rounds times, Atrium and JetStream in
// turn, each round from the same state (the edge's data directory, the
// leaf's store, as they were at the cut), so that a moment when the shared
// machine is slower weighs on both sides rather than on one catch-up of a
// second. It reports each side's median records/s, the ratio of the
// medians and the worst round's ratio. The JetStream side also runs once
// with sync_interval: always (an fsync after every write) besides its
// default (an fsync every 2 minutes), unless -catchup.always=false.
//
// The nats-server binary comes from `make bench-tools` (bin/tools), or from
// $NATS_SERVER; the benchmark is skipped without it.
//
//	make bench-tools
//	go test -run '^$' -bench BenchmarkCatchUpVsJetStream -benchtime 1x ./internal/regiontest/
func BenchmarkCatchUpVsJetStream(b *testing.B) {
	server := natsServerBinary(b)
	if *catchUpRounds < 1 {
		b.Fatalf("-catchup.rounds %d: at least one round", *catchUpRounds)
	}
	for b.Loop() {
		at := newAtriumCatchUp(b, catchUpRecords)
		js := newJetStreamCatchUp(b, server, "", catchUpRecords, bytes.Repeat([]byte("x"), at.size))
		var atrium, jsDefault, ratios, cpu, jsConnect []float64
		for i := range *catchUpRounds {
			rate, used := at.round(b, i == 0)
			atrium, cpu = append(atrium, rate), append(cpu, used.Seconds())
			rate, connect := js.round(b)
			jsDefault = append(jsDefault, rate)
			ratios = append(ratios, atrium[i]/rate)
			jsConnect = append(jsConnect, connect.Seconds())
			b.Logf("round %d: Atrium %.0f records/s (%.2f s of CPU), JetStream %.0f records/s: ratio %.2f", i+1, atrium[i], cpu[i], rate, ratios[i])
		}
		js.stop(b)
		if *catchUpAlways {
			jsAlways := newJetStreamCatchUp(b, server, "always", catchUpRecords, bytes.Repeat([]byte("x"), at.size))
			always, _ := jsAlways.round(b)
			jsAlways.stop(b)
			b.ReportMetric(always, "js-always-records/s")
			b.ReportMetric(median(atrium)/always, "ratio-always")
		}
		b.ReportMetric(median(jsConnect), "js-connect-s")
		b.ReportMetric(median(atrium), "atrium-records/s")
		b.ReportMetric(median(cpu), "atrium-cpu-s")
		b.ReportMetric(median(jsDefault), "js-records/s")
		b.ReportMetric(median(atrium)/median(jsDefault), "ratio")
		b.ReportMetric(slices.Min(ratios), "ratio-worst-round")
		b.ReportMetric(float64(at.size), "record-bytes")
	}
}

// median returns the middle value of xs (the mean of the two middle ones
// for an even count).
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// saveDir copies dir to saved (which must not exist), for restoreDir.
func saveDir(b *testing.B, dir, saved string) {
	b.Helper()
	if err := os.CopyFS(saved, os.DirFS(dir)); err != nil {
		b.Fatalf("save %s: %v", dir, err)
	}
}

// restoreDir replaces dir with a copy of saved.
func restoreDir(b *testing.B, saved, dir string) {
	b.Helper()
	if err := os.RemoveAll(dir); err != nil {
		b.Fatal(err)
	}
	if err := os.CopyFS(dir, os.DirFS(saved)); err != nil {
		b.Fatalf("restore %s: %v", dir, err)
	}
}

// natsServerBinary returns the path of nats-server, or skips the benchmark.
func natsServerBinary(b *testing.B) string {
	b.Helper()
	if p := os.Getenv("NATS_SERVER"); p != "" {
		return p
	}
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", "bin", "tools", "nats-server")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	b.Skip("nats-server not found: run `make bench-tools` (installs bin/tools/nats-server) or set NATS_SERVER")
	return ""
}

// atriumCatchUp is a region with one edge stopped at its checkpoint
// before n message.send committed at central since.
type atriumCatchUp struct {
	r            *regiontest.Region
	before, last uint64 // the edge's checkpoint at the cut; the partition's head
	saved        string // a copy of the edge's data directory at the cut
	size         int    // mean size in bytes of the encoded message records
	rounds       int
}

// newAtriumCatchUp starts a region with one edge, stops the edge once it
// is synced, keeps a copy of its data directory and commits n message.send
// at central.
func newAtriumCatchUp(b *testing.B, n int) *atriumCatchUp {
	b.Helper()
	r := regiontest.Start(b, regiontest.Options{NoEdges: true, DirectWAN: true})
	ctx := b.Context()
	from := userID(b, r, r.Account(lyceeA, ent.Student).Login)
	to := userID(b, r, r.Account(lyceeA, ent.Teacher).Login)
	r.AddEdge(lyceeA)
	r.WaitSynced(lyceeA)
	a := &atriumCatchUp{r: r, before: r.Edge(lyceeA).Node.Status().Checkpoints[lyceeA], saved: filepath.Join(b.TempDir(), "edge-at-cut")}
	r.StopEdge(lyceeA)
	saveDir(b, r.EdgeDataDir(lyceeA), a.saved)
	for seq := 0; seq < n; seq += 1000 {
		batch := make([]record.Command, 0, 1000)
		for i := seq; i < min(seq+1000, n); i++ {
			c := messageCmd(from, to, i)
			c.Origin, c.Epoch, c.Seq = lyceeA, 1, uint64(i+1)
			batch = append(batch, c)
		}
		if _, err := r.AnyCentral().Node.ApplyOutbox(ctx, lyceeA, 1, batch); err != nil {
			b.Fatal(err)
		}
	}
	var err error
	if a.last, err = r.AnyCentral().Node.LastSeq(lyceeA); err != nil {
		b.Fatal(err)
	}
	if a.last-a.before < uint64(n) {
		b.Fatalf("partition head %d after %d commands from checkpoint %d, want at least %d changes", a.last, n, a.before, n)
	}
	a.size = messageRecordSize(b, r, 1000)
	return a
}

// round puts the edge's data directory back as it was at the cut, restarts
// the edge and times until its checkpoint reaches the partition's head
// (profiled with -catchup.cpuprofile when profile is set). It returns
// records/s and the test process's CPU time meanwhile.
func (a *atriumCatchUp) round(b *testing.B, profile bool) (float64, time.Duration) {
	b.Helper()
	if a.rounds > 0 {
		a.r.StopEdge(lyceeA)
		restoreDir(b, a.saved, a.r.EdgeDataDir(lyceeA))
	}
	a.rounds++
	stopProfile := func() {}
	if profile {
		stopProfile = startCPUProfile(b, *catchUpCPUProfile)
	}
	// The setup's garbage (100k commits at central, in this process) is
	// collected before the clock starts, as testing.B does before a run:
	// the catch-up pays for its own.
	runtime.GC()
	cpu0 := cpuTime()
	start := time.Now()
	e := a.r.RestartEdge(lyceeA)
	var connected time.Duration
	poll(b, 5*time.Minute, func() error {
		st := e.Node.Status()
		if connected == 0 && (st.Connected || st.Checkpoints[lyceeA] > a.before) {
			connected = time.Since(start)
		}
		if got := st.Checkpoints[lyceeA]; got < a.last {
			return fmt.Errorf("edge checkpoint %d of %d", got, a.last)
		}
		return nil
	})
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	stopProfile()
	b.Logf("Atrium round %d: connected after %.3f s, caught up in %.3f s", a.rounds, connected.Seconds(), elapsed.Seconds())
	return float64(a.last-a.before) / elapsed.Seconds(), cpu
}

// messageRecordSize is the mean size of the encoded form of the newest
// count message records of lyceeA at central.
func messageRecordSize(b *testing.B, r *regiontest.Region, count int) int {
	b.Helper()
	errEnough := errors.New("enough")
	total, seen := 0, 0
	err := r.AnyCentral().Node.View(func(rd record.Reader) error {
		return rd.Scan(lyceeA, ent.KindMessage, func(rec record.Record) error {
			total += len(record.AppendRecord(nil, rec))
			if seen++; seen == count {
				return errEnough
			}
			return nil
		})
	})
	if err != nil && !errors.Is(err, errEnough) {
		b.Fatal(err)
	}
	if seen == 0 {
		b.Fatal("no message record at central")
	}
	return total / seen
}

// jetStreamCatchUp is a hub nats-server with a file stream holding n
// messages that a leaf nats-server's file mirror (its own JetStream
// domain) has not seen: the leaf was stopped after the first message.
type jetStreamCatchUp struct {
	server, dir, leafConf, leafMon string
	hub, leaf                      *natsProcess
	saved                          string // a copy of the leaf's store at the cut
	n                              int
	rounds                         int
}

// newJetStreamCatchUp starts the hub and the leaf with its mirror, sends
// one message through it, stops the leaf, keeps a copy of its store and
// publishes n messages of payload to the hub's stream. sync is the leaf's
// jetstream sync_interval ("" for the default, 2 min); the hub keeps the
// default, as its writes are not timed.
func newJetStreamCatchUp(b *testing.B, server, sync string, n int, payload []byte) *jetStreamCatchUp {
	b.Helper()
	dir := b.TempDir()
	syncLine := ""
	if sync != "" {
		syncLine = "sync_interval: " + sync
	}
	port := func() string {
		_, p, _ := net.SplitHostPort(regiontest.FreeAddr(b))
		return p
	}
	hubClient, hubMon, hubLeaf := port(), port(), port()
	leafClient, leafMon := port(), port()
	const accounts = `accounts { APP { jetstream: enabled, users: [ {user: app, password: app} ] } }`
	j := &jetStreamCatchUp{server: server, dir: dir, leafMon: leafMon, n: n, saved: filepath.Join(dir, "leaf-js-at-cut")}
	j.hub = startNATS(b, server, dir, "hub", fmt.Sprintf(`server_name: hub
listen: 127.0.0.1:%s
http: 127.0.0.1:%s
jetstream { store_dir: %q, domain: hub }
%s
leafnodes { listen: 127.0.0.1:%s, authorization { user: leaf, password: leaf, account: APP } }
`, hubClient, hubMon, filepath.Join(dir, "hub-js"), accounts, hubLeaf))
	j.leafConf = fmt.Sprintf(`server_name: leaf
listen: 127.0.0.1:%s
http: 127.0.0.1:%s
jetstream { store_dir: %q, domain: leaf, %s }
%s
leafnodes { remotes: [ { url: "nats-leaf://leaf:leaf@127.0.0.1:%s", account: APP } ] }
`, leafClient, leafMon, filepath.Join(dir, "leaf-js"), syncLine, accounts, hubLeaf)
	j.leaf = startNATS(b, server, dir, "leaf", j.leafConf)

	hc := dialNATS(b, "127.0.0.1:"+hubClient)
	hc.jsRequest(b, "$JS.API.STREAM.CREATE.CHANGES", `{"name":"CHANGES","subjects":["lycee.changes"],"storage":"file"}`)
	// The leaf connects to the hub in the background: create the mirror once
	// the hub's domain answers through it (a new connection for each try, as
	// a request that timed out leaves its connection mid-line).
	var lc *natsConn
	poll(b, 30*time.Second, func() error {
		lc = dialNATS(b, "127.0.0.1:"+leafClient)
		_, err := lc.request("$JS.hub.API.STREAM.INFO.CHANGES", nil)
		if err != nil {
			lc.close()
		}
		return err
	})
	lc.jsRequest(b, "$JS.API.STREAM.CREATE.MIRROR",
		`{"name":"MIRROR","storage":"file","mirror":{"name":"CHANGES","external":{"api":"$JS.hub.API"}}}`)
	lc.close()
	// One message through the mirror proves it works before the cut.
	hc.publish(b, "lycee.changes", payload, 1)
	waitMirror(b, leafMon, 0, 1, time.Now())
	j.leaf.stop(b)
	saveDir(b, filepath.Join(dir, "leaf-js"), j.saved)
	hc.publish(b, "lycee.changes", payload, n)
	hc.close()
	return j
}

// round puts the leaf's store back as it was at the cut, starts the leaf
// and times until the mirror's last sequence reaches the stream's, then
// stops the leaf. It returns messages/s and the time from the leaf's start
// to the first message mirrored.
func (j *jetStreamCatchUp) round(b *testing.B) (float64, time.Duration) {
	b.Helper()
	if j.rounds > 0 {
		restoreDir(b, j.saved, filepath.Join(j.dir, "leaf-js"))
	}
	j.rounds++
	start := time.Now()
	j.leaf = startNATS(b, j.server, j.dir, "leaf", j.leafConf)
	connect := waitMirror(b, j.leafMon, 1, uint64(j.n+1), start)
	elapsed := time.Since(start)
	j.leaf.stop(b)
	return float64(j.n) / elapsed.Seconds(), connect
}

// stop stops the hub.
func (j *jetStreamCatchUp) stop(b *testing.B) { j.hub.stop(b) }

// waitMirror polls the leaf's monitoring endpoint until the mirror's last
// sequence reaches last. It returns the time from start until the sequence
// first passed from.
func waitMirror(b *testing.B, mon string, from, last uint64, start time.Time) time.Duration {
	b.Helper()
	url := "http://127.0.0.1:" + mon + "/jsz?accounts=true&streams=true"
	var got uint64
	var moved time.Duration
	poll(b, 10*time.Minute, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var jsz struct {
			Accounts []struct {
				Streams []struct {
					Name  string `json:"name"`
					State struct {
						LastSeq uint64 `json:"last_seq"`
					} `json:"state"`
				} `json:"stream_detail"`
			} `json:"account_details"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&jsz); err != nil {
			return fmt.Errorf("%s: %w", url, err)
		}
		for _, a := range jsz.Accounts {
			for _, s := range a.Streams {
				if s.Name == "MIRROR" {
					got = s.State.LastSeq
				}
			}
		}
		if got > from && moved == 0 {
			moved = time.Since(start)
		}
		if got < last {
			return fmt.Errorf("mirror last sequence %d of %d", got, last)
		}
		return nil
	})
	return moved
}

// natsProcess is a running nats-server.
type natsProcess struct {
	cmd  *exec.Cmd
	done chan error
	log  string
}

// startNATS writes conf to dir/name.conf and starts server on it; the
// process is stopped when the benchmark ends, if not before.
func startNATS(b *testing.B, server, dir, name, conf string) *natsProcess {
	b.Helper()
	path := filepath.Join(dir, name+".conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		b.Fatal(err)
	}
	p := &natsProcess{log: filepath.Join(dir, name+".log"), done: make(chan error, 1)}
	p.cmd = exec.Command(server, "-c", path, "-l", p.log)
	if err := p.cmd.Start(); err != nil {
		b.Fatalf("start %s: %v", server, err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	b.Cleanup(func() { p.stop(b) })
	return p
}

// stop interrupts the server and waits for it to exit (killing it after
// 10 s); it may be called more than once.
func (p *natsProcess) stop(b *testing.B) {
	if p.done == nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		b.Logf("nats-server killed after 10 s; its log: %s", p.log)
	}
	p.done = nil
}

// natsConn is a minimal client of the NATS text protocol: enough to call
// the JetStream API and publish with acknowledgements, without adding a
// NATS client to the module.
type natsConn struct {
	c     net.Conn
	r     *bufio.Reader
	w     *bufio.Writer
	inbox string // unique to the connection: servers linked by a leafnode share the account's subscriptions
	reqs  int    // requests sent, to tell a late reply from the awaited one
}

func dialNATS(b *testing.B, addr string) *natsConn {
	b.Helper()
	var c net.Conn
	poll(b, 30*time.Second, func() error {
		var err error
		c, err = net.Dial("tcp", addr)
		return err
	})
	n := &natsConn{c: c, r: bufio.NewReader(c), w: bufio.NewWriter(c), inbox: "_INBOX." + record.NewID()}
	b.Cleanup(n.close)
	n.c.SetDeadline(time.Now().Add(30 * time.Second))
	if line, err := n.r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "INFO ") {
		b.Fatalf("%s: first line %q, %v; want INFO", addr, line, err)
	}
	fmt.Fprintf(n.w, "CONNECT {\"verbose\":false,\"pedantic\":false,\"user\":\"app\",\"pass\":\"app\"}\r\nSUB %s.> 1\r\nPING\r\n", n.inbox)
	if err := n.w.Flush(); err != nil {
		b.Fatal(err)
	}
	for {
		line, err := n.r.ReadString('\n')
		if err != nil {
			b.Fatalf("%s: connect: %v", addr, err)
		}
		if strings.HasPrefix(line, "PONG") {
			return n
		}
		if strings.HasPrefix(line, "-ERR") {
			b.Fatalf("%s: connect: %s", addr, strings.TrimSpace(line))
		}
	}
}

func (n *natsConn) close() { n.c.Close() }

// next returns the subject and payload of the next message to the
// connection's inbox, answering the server's pings.
func (n *natsConn) next() (string, []byte, error) {
	for {
		line, err := n.r.ReadString('\n')
		if err != nil {
			return "", nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "PING":
			n.w.WriteString("PONG\r\n")
			if err := n.w.Flush(); err != nil {
				return "", nil, err
			}
		case strings.HasPrefix(line, "-ERR"):
			return "", nil, errors.New(line)
		case strings.HasPrefix(line, "MSG "):
			f := strings.Fields(line)
			size, err := strconv.Atoi(f[len(f)-1])
			if err != nil || len(f) < 4 {
				return "", nil, fmt.Errorf("bad MSG line %q", line)
			}
			buf := make([]byte, size+2)
			if _, err := io.ReadFull(n.r, buf); err != nil {
				return "", nil, err
			}
			return f[1], buf[:size], nil
		}
	}
}

// request sends data to subject and returns the reply, or an error if the
// reply is a JetStream error or no responder.
func (n *natsConn) request(subject string, data []byte) ([]byte, error) {
	n.reqs++
	inbox := fmt.Sprintf("%s.req%d", n.inbox, n.reqs)
	n.c.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(n.w, "PUB %s %s %d\r\n%s\r\n", subject, inbox, len(data), data)
	if err := n.w.Flush(); err != nil {
		return nil, err
	}
	var reply []byte
	for {
		to, msg, err := n.next()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", subject, err)
		}
		if to == inbox {
			reply = msg
			break
		}
	}
	if len(reply) == 0 {
		return nil, fmt.Errorf("%s: no responders", subject)
	}
	var e struct {
		Error *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if json.Unmarshal(reply, &e) == nil && e.Error != nil {
		return nil, fmt.Errorf("%s: %s", subject, e.Error.Description)
	}
	return reply, nil
}

func (n *natsConn) jsRequest(b *testing.B, subject, body string) {
	b.Helper()
	if _, err := n.request(subject, []byte(body)); err != nil {
		b.Fatal(err)
	}
}

// publish sends count messages of payload to subject in windows of 1000,
// waiting for the stream's acknowledgement of each.
func (n *natsConn) publish(b *testing.B, subject string, payload []byte, count int) {
	b.Helper()
	for sent := 0; sent < count; {
		w := min(1000, count-sent)
		n.c.SetDeadline(time.Now().Add(30 * time.Second))
		for range w {
			fmt.Fprintf(n.w, "PUB %s %s.ack %d\r\n", subject, n.inbox, len(payload))
			n.w.Write(payload)
			n.w.WriteString("\r\n")
		}
		if err := n.w.Flush(); err != nil {
			b.Fatal(err)
		}
		for acked := 0; acked < w; {
			to, ack, err := n.next()
			if err != nil {
				b.Fatalf("publish: %v", err)
			}
			if to != n.inbox+".ack" {
				continue // a late reply to a request
			}
			if !bytes.Contains(ack, []byte(`"seq"`)) {
				b.Fatalf("publish: acknowledgement %s", ack)
			}
			acked++
		}
		sent += w
	}
}

// poll calls f every catchUpPoll until it returns nil, failing the
// benchmark with f's last error after timeout.
func poll(b *testing.B, timeout time.Duration, f func() error) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(catchUpPoll)
	}
}
