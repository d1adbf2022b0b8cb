package regiontest_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"atrium/central"
	"atrium/internal/binenc"
	"atrium/record"
)

// BenchmarkRaftCeiling measures the raw ceiling under BenchmarkOutboxDrain:
// what hashicorp/raft with raft-boltdb and a bbolt state machine commit on
// this machine when Atrium's work is taken away. Three raft nodes in the
// process on loopback TCP, configured as central's (central/node.go), each
// with a fsync'd raft-boltdb log and a state machine that only writes the
// commands to bbolt; the drain's workload: 30k message.send commands in
// entries of 1000, proposed by two proposers that each wait for their
// entry's outcome before proposing the next, as an edge waits for its
// push's answer.
//
//	go test -run '^$' -bench BenchmarkRaftCeiling -benchtime 1x ./internal/regiontest/
//
// Variants: proposers=2 (the drain's two edges), proposers=8 (eight entries
// in flight), fsm=puts5 (two proposers; five bbolt Puts per command, what
// central's state machine writes for a message: the record under a random
// 16-byte id, its kind index entry, two term index entries and the changes
// feed), fsm=puts5-ordered (the same with time-ordered ids, as central's
// UUIDv7 ids are: each batch appends at the end of the B-trees instead of
// dirtying pages all over them).
//
// Metrics, besides commands/s and s (first proposal to last outcome):
//   - log-MB/s: entry bytes appended to one node's raft log per second
//     (each of the three writes as much);
//   - disk-MB/s: what the process sent to storage per second
//     (/proc/self/io write_bytes: three logs and three state files);
//   - fsync/s: fdatasyncs of the three raft logs per second (bbolt syncs
//     twice per commit: data pages, then meta page; the file's growth adds
//     an fsync now and then);
//   - ms/log-write: mean time of one raft log write (StoreLogs: encoding,
//     bbolt commit, fdatasyncs);
//   - leader-log-busy: the share of the time the busiest node (the leader)
//     spent writing its log, which its raft loop does before replicating;
//   - cpu-cores: the process's CPU time over the elapsed time (2: both
//     cores busy);
//   - retries: entries proposed again after a change of leader;
//   - cmd-bytes: one encoded command.
func BenchmarkRaftCeiling(b *testing.B) {
	for _, tc := range []struct {
		name      string
		proposers int
		fsm       ceilingWrites
	}{
		{"proposers=2", 2, putCommand},
		{"proposers=8", 8, putCommand},
		{"fsm=puts5", 2, putMessageRandom},
		{"fsm=puts5-ordered", 2, putMessageOrdered},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				runCeiling(b, tc.proposers, tc.fsm)
			}
		})
	}
}

const (
	ceilingCommands = 30_000
	ceilingBatch    = 1000 // commands per raft entry, as an edge's outbox push
)

// ceilingWrites is what the ceiling's state machine writes per command.
type ceilingWrites int

const (
	putCommand        ceilingWrites = iota // one Put: counter -> command
	putMessageRandom                       // five Puts, random record ids
	putMessageOrdered                      // five Puts, time-ordered record ids
)

func runCeiling(b *testing.B, proposers int, writes ceilingWrites) {
	entries, cmdSize := ceilingEntries(b)
	b.ReportMetric(float64(cmdSize), "cmd-bytes")
	c := startCeiling(b, writes)
	defer c.close(b)
	if _, err := c.waitLeader(); err != nil {
		b.Fatal(err)
	}

	var next, retries atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, proposers)
	before := c.written()
	cpu0, disk0 := processCPU(b), diskWritten()
	start := time.Now()
	for range proposers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(entries)) {
					return
				}
				if err := c.propose(entries[i], &retries); err != nil {
					errs <- fmt.Errorf("entry %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu, disk := processCPU(b)-cpu0, diskWritten()-disk0
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	// Every node must have written every command (the followers may
	// still be applying the last entries).
	deadline := time.Now().Add(time.Minute)
	for i, n := range c.nodes {
		for n.fsm.commands.Load() < ceilingCommands {
			if time.Now().After(deadline) {
				b.Fatalf("node c%d wrote %d commands, want %d", i, n.fsm.commands.Load(), ceilingCommands)
			}
			time.Sleep(5 * time.Millisecond) // polling, with a deadline
		}
	}
	after := c.written()
	var bytes, commits, busy, leaderBusy int64
	for i := range after.commits {
		bytes += after.bytes[i] - before.bytes[i]
		commits += after.commits[i] - before.commits[i]
		busy += after.busy[i] - before.busy[i]
		leaderBusy = max(leaderBusy, after.busy[i]-before.busy[i])
	}
	b.ReportMetric(float64(ceilingCommands)/elapsed.Seconds(), "commands/s")
	b.ReportMetric(float64(bytes)/float64(len(c.nodes))/1e6/elapsed.Seconds(), "log-MB/s")
	if disk0 >= 0 {
		b.ReportMetric(float64(disk)/1e6/elapsed.Seconds(), "disk-MB/s")
	}
	b.ReportMetric(float64(2*commits)/elapsed.Seconds(), "fsync/s")
	b.ReportMetric(float64(busy)/1e6/float64(max(commits, 1)), "ms/log-write")
	b.ReportMetric(float64(leaderBusy)/float64(elapsed), "leader-log-busy")
	b.ReportMetric(cpu.Seconds()/elapsed.Seconds(), "cpu-cores")
	b.ReportMetric(float64(retries.Load()), "retries")
	b.ReportMetric(elapsed.Seconds(), "s")
}

// propose applies entry through the leader and checks that the state
// machine wrote its commands. When leadership changes under it (a loaded
// machine can miss the 500 ms heartbeat timeout), it proposes the entry
// again to the new leader, as an edge pushes its batch again; the entry
// may then be applied twice, which the ceiling does not mind.
func (c *ceilingCluster) propose(entry []byte, retries *atomic.Int64) error {
	for attempt := 0; ; attempt++ {
		leader := c.leader.Load()
		if attempt > 0 {
			var err error
			if leader, err = c.waitLeader(); err != nil {
				return err
			}
		}
		f := leader.Apply(entry, 10*time.Second) // central's applyTimeout
		err := f.Error()
		switch {
		case err == nil:
			if got, ok := f.Response().(int); !ok || got != ceilingBatch {
				return fmt.Errorf("applied %v commands, want %d", f.Response(), ceilingBatch)
			}
			return nil
		case attempt < 5 && (errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrEnqueueTimeout)):
			retries.Add(1)
		default:
			return err
		}
	}
}

// diskWritten returns the bytes the process has sent to storage
// (/proc/self/io write_bytes: the three raft logs and the three state
// files), or -1 when the kernel does not say.
func diskWritten() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// processCPU returns the CPU time (user and system) the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ceilingEntries encodes the workload's raft entries as central encodes an
// edge's outbox push (central/codec.go encodeEntry: type, format, UAI,
// epoch, count, then each command length-prefixed), with the drain's
// commands (messageCmd) stamped as an edge's outbox stamps them. It returns
// the entries and the size of one encoded command: 339 bytes on
// 2026-11-29 (36-byte user ids, the drain's ~150-byte body; not the ~450
// the docs assumed), so an entry of 1000 is ~340 KB.
func ceilingEntries(b *testing.B) ([][]byte, int) {
	from, to := record.NewID(), record.NewID()
	var entries [][]byte
	var cmd []byte
	size := 0
	for seq := 0; seq < ceilingCommands; seq += ceilingBatch {
		e := []byte{2, 1} // central's entryEdgeOutbox, entryFormat
		e = binenc.AppendString(e, lyceeA)
		e = binenc.AppendUvarint(e, 1)
		e = binenc.AppendUvarint(e, ceilingBatch)
		for i := seq; i < seq+ceilingBatch; i++ {
			c := messageCmd(from, to, i)
			c.Origin, c.Epoch, c.Seq = lyceeA, 1, uint64(i+1)
			cmd = record.AppendCommand(cmd[:0], c)
			size = max(size, len(cmd))
			e = binenc.AppendBytes(e, cmd)
		}
		entries = append(entries, e)
	}
	if size < 300 || size > 700 {
		b.Fatalf("encoded message.send command = %d bytes, want about 340 (has messageCmd changed?)", size)
	}
	return entries, size
}

type ceilingCluster struct {
	nodes  []*ceilingNode
	leader atomic.Pointer[raft.Raft] // the one proposals go to
	logger hclog.Logger
	once   sync.Once
}

type ceilingNode struct {
	raft  *raft.Raft
	trans *raft.NetworkTransport
	store *raftboltdb.BoltStore
	log   *countingLogStore
	fsm   *ceilingFSM
}

// startCeiling starts three raft nodes on loopback, bootstrapped as one
// cluster. Close (also registered with b.Cleanup) stops them.
func startCeiling(b *testing.B, writes ceilingWrites) *ceilingCluster {
	logger := hclog.New(&hclog.LoggerOptions{Name: "ceiling", Level: hclog.Error, Output: os.Stderr})
	c := &ceilingCluster{logger: logger}
	b.Cleanup(func() { c.close(b) })
	var servers []raft.Server
	var dirs []string
	root := b.TempDir()
	for i := range 3 {
		dir := filepath.Join(root, fmt.Sprintf("c%d", i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			b.Fatal(err)
		}
		dirs = append(dirs, dir)
		n := &ceilingNode{}
		c.nodes = append(c.nodes, n)
		var err error
		if n.fsm, err = openCeilingFSM(filepath.Join(dirs[i], "state.db"), writes); err != nil {
			b.Fatal(err)
		}
		if n.store, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")}); err != nil {
			b.Fatal(err)
		}
		n.log = &countingLogStore{LogStore: n.store}
		if n.trans, err = raft.NewTCPTransportWithLogger("127.0.0.1:0", nil, 3, 10*time.Second, logger); err != nil {
			b.Fatal(err)
		}
		servers = append(servers, raft.Server{ID: raft.ServerID(fmt.Sprintf("c%d", i)), Address: n.trans.LocalAddr(), Suffrage: raft.Voter})
	}
	for i, n := range c.nodes {
		snaps, err := raft.NewFileSnapshotStoreWithLogger(dirs[i], 2, logger)
		if err != nil {
			b.Fatal(err)
		}
		cache, err := raft.NewLogCache(central.LogCacheEntries, n.log)
		if err != nil {
			b.Fatal(err)
		}
		rc := central.RaftConfig() // the ceiling runs central's raft
		rc.LocalID = servers[i].ID
		rc.Logger = logger
		if err := raft.BootstrapCluster(rc, cache, n.store, snaps, n.trans, raft.Configuration{Servers: servers}); err != nil {
			b.Fatal(err)
		}
		if n.raft, err = raft.NewRaft(rc, n.fsm, cache, n.store, snaps, n.trans); err != nil {
			b.Fatal(err)
		}
	}
	return c
}

// waitLeader returns the leader once one is elected and has committed
// an entry of its term, and makes it the one propose uses.
func (c *ceilingCluster) waitLeader() (*raft.Raft, error) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range c.nodes {
			if n.raft.State() == raft.Leader && n.raft.Barrier(10*time.Second).Error() == nil {
				c.leader.Store(n.raft)
				return n.raft, nil
			}
		}
		time.Sleep(10 * time.Millisecond) // polling, with a deadline
	}
	return nil, errors.New("no raft leader after 20 s")
}

type logWrites struct{ bytes, commits, busy []int64 }

// written returns, per node, the bytes of entries its raft log stored and
// the log's commits.
func (c *ceilingCluster) written() logWrites {
	var w logWrites
	for _, n := range c.nodes {
		w.bytes = append(w.bytes, n.log.bytes.Load())
		w.commits = append(w.commits, n.log.commits.Load())
		w.busy = append(w.busy, n.log.busy.Load())
	}
	return w
}

// close shuts the nodes down and closes their files; it reports the first
// failure.
func (c *ceilingCluster) close(b *testing.B) {
	c.once.Do(func() {
		c.logger.SetLevel(hclog.Off) // peers shutting down one by one log errors
		var errs []error
		for _, n := range c.nodes {
			if n.raft != nil {
				errs = append(errs, n.raft.Shutdown().Error())
			}
		}
		for _, n := range c.nodes {
			if n.trans != nil {
				errs = append(errs, n.trans.Close())
			}
			if n.store != nil {
				errs = append(errs, n.store.Close())
			}
			if n.fsm != nil {
				errs = append(errs, n.fsm.db.Close())
			}
		}
		if err := errors.Join(errs...); err != nil {
			b.Error(err)
		}
	})
}

// countingLogStore counts what a raft log store is asked to write: one
// bbolt commit (two fdatasyncs) per StoreLogs, the entries' bytes, and the
// time the writes take.
type countingLogStore struct {
	raft.LogStore
	bytes, commits atomic.Int64
	busy           atomic.Int64 // time spent in StoreLogs, ns
}

func (s *countingLogStore) StoreLog(l *raft.Log) error {
	return s.StoreLogs([]*raft.Log{l})
}

func (s *countingLogStore) StoreLogs(logs []*raft.Log) error {
	n := 0
	for _, l := range logs {
		n += len(l.Data)
	}
	s.bytes.Add(int64(n))
	s.commits.Add(1)
	start := time.Now()
	err := s.LogStore.StoreLogs(logs)
	s.busy.Add(int64(time.Since(start)))
	return err
}

// ceilingFSM is a minimal raft.BatchingFSM: each batch of entries is one
// bbolt Update, opened as central's state file (NoSync, NoFreelistSync).
// Each command of an entry is one Put (key: a big-endian counter, value:
// the command's bytes), or the five Puts central's state machine makes for
// a message (putMessage).
type ceilingFSM struct {
	db     *bbolt.DB
	writes ceilingWrites
	seq    uint64     // last key (counter, or feed sequence)
	rng    *rand.Rand // record ids; seeded alike on every node
	// commands counts the commands written, for the benchmark to read.
	commands atomic.Int64
}

var _ raft.BatchingFSM = (*ceilingFSM)(nil)

var ceilBuckets = [][]byte{[]byte("r"), []byte("k"), []byte("t"), []byte("s"), []byte("meta")}

func openCeilingFSM(path string, writes ceilingWrites) (*ceilingFSM, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{NoSync: true, NoFreelistSync: true, InitialMmapSize: 64 << 20})
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range ceilBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &ceilingFSM{db: db, writes: writes, rng: rand.New(rand.NewPCG(1, 2))}, nil
}

func (f *ceilingFSM) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch returns, for each command entry, the number of commands it
// wrote.
func (f *ceilingFSM) ApplyBatch(logs []*raft.Log) []any {
	resps := make([]any, len(logs))
	err := f.db.Update(func(tx *bbolt.Tx) error {
		r, k, t, s := tx.Bucket(ceilBuckets[0]), tx.Bucket(ceilBuckets[1]), tx.Bucket(ceilBuckets[2]), tx.Bucket(ceilBuckets[3])
		for i, l := range logs {
			if l.Type != raft.LogCommand {
				continue
			}
			d := binenc.NewDecoder(l.Data)
			d.Byte()
			d.Byte()
			partition := d.Raw(128)
			d.Uvarint()
			n := d.Count(1, ceilingBatch)
			for range n {
				cmd := d.Raw(1 << 20)
				if d.Err() != nil {
					break
				}
				f.seq++
				seq := binary.BigEndian.AppendUint64(nil, f.seq)
				if f.writes == putCommand {
					if err := r.Put(seq, cmd); err != nil {
						return err
					}
					continue
				}
				if err := f.putMessage(r, k, t, s, partition, seq, cmd); err != nil {
					return err
				}
			}
			if err := d.Err(); err != nil {
				resps[i] = err
				continue
			}
			resps[i] = n
			f.commands.Add(int64(n))
		}
		return tx.Bucket(ceilBuckets[4]).Put([]byte("applied"), binary.BigEndian.AppendUint64(nil, logs[len(logs)-1].Index))
	})
	if err != nil {
		panic(fmt.Sprintf("ceiling state machine: %v", err))
	}
	return resps
}

// putMessage writes what central writes for a new message: the record
// under a 16-byte id (random, or the feed sequence then 8 random bytes), its kind index entry (partition, kind, id),
// two term index entries (partition, kind, term, id: its sender and its
// recipient) and the changes feed (sequence -> id).
func (f *ceilingFSM) putMessage(r, k, t, s *bbolt.Bucket, partition, seq, cmd []byte) error {
	id := make([]byte, 16)
	binary.BigEndian.PutUint64(id, f.rng.Uint64())
	if f.writes == putMessageOrdered {
		copy(id, seq)
	}
	binary.BigEndian.PutUint64(id[8:], f.rng.Uint64())
	key := func(parts ...[]byte) []byte {
		var k []byte
		for _, p := range parts {
			k = append(append(k, p...), 0)
		}
		return append(k, id...)
	}
	kind := []byte("message")
	for _, p := range []struct {
		b    *bbolt.Bucket
		k, v []byte
	}{
		{r, id, cmd},
		{k, key(partition, kind), []byte{}},
		{t, key(partition, kind, []byte("from:0193a1b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b")), []byte{}},
		{t, key(partition, kind, []byte("to:0193a1b2-7c4d-7e8f-9a0b-6b5a4f3e2d1c")), []byte{}},
		{s, seq, id},
	} {
		if err := p.b.Put(p.k, p.v); err != nil {
			return err
		}
	}
	return nil
}

func (f *ceilingFSM) Snapshot() (raft.FSMSnapshot, error) { return ceilingSnapshot{f.seq}, nil }

// Restore keeps only the counter: the benchmark's runs never snapshot
// (SnapshotThreshold is above their entries).
func (f *ceilingFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var b [8]byte
	if _, err := io.ReadFull(rc, b[:]); err != nil {
		return err
	}
	f.seq = binary.BigEndian.Uint64(b[:])
	return nil
}

type ceilingSnapshot struct{ seq uint64 }

func (s ceilingSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(binary.BigEndian.AppendUint64(nil, s.seq)); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (ceilingSnapshot) Release() {}
