package central

import (
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"

	"atrium/internal/logbridge"
)

// Serf tags a central node advertises to its peers.
const (
	tagRaft = "raft"
	tagHTTP = "http"
	tagQUIC = "quic"
)

// Member is one central node as the cluster sees it.
type Member struct {
	Name     string `json:"name"`
	Status   string `json:"status"` // "alive", "failed", "left" (serf), "unknown" (raft only)
	RaftAddr string `json:"raftAddr"`
	HTTPURL  string `json:"httpUrl"`
	QUICAddr string `json:"quicAddr"`
	Voter    bool   `json:"voter"`
	Leader   bool   `json:"leader"`
}

// peer is what serf knows of a node.
type peer struct {
	Name, Status, RaftAddr, HTTPURL, QUICAddr string
}

// membership wraps serf: gossip among central nodes, which tells the leader
// whom to add to raft and every node where the others' HTTP endpoints are.
type membership struct {
	serf   *serf.Serf
	events chan serf.Event
}

func startMembership(cfg Config, log *slog.Logger) (*membership, error) {
	host, portStr, err := net.SplitHostPort(cfg.SerfAddr)
	if err != nil {
		return nil, fmt.Errorf("serf address %q: %w", cfg.SerfAddr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("serf address %q: %w", cfg.SerfAddr, err)
	}
	events := make(chan serf.Event, 256)
	stdlog := logbridge.StdLog(log.With("component", "serf"), slog.LevelWarn)

	ml := memberlist.DefaultLANConfig()
	ml.BindAddr, ml.BindPort = host, port
	ml.AdvertiseAddr, ml.AdvertisePort = host, port
	ml.Logger = stdlog

	sc := serf.DefaultConfig()
	sc.Init()
	sc.NodeName = cfg.Name
	sc.Tags = map[string]string{tagRaft: cfg.RaftAddr, tagHTTP: cfg.HTTPURL, tagQUIC: cfg.QUICAddr}
	sc.MemberlistConfig = ml
	sc.EventCh = events
	sc.Logger = stdlog
	sc.SnapshotPath = filepath.Join(cfg.DataDir, "serf.snapshot")
	sc.RejoinAfterLeave = true
	s, err := serf.Create(sc)
	if err != nil {
		return nil, fmt.Errorf("start serf: %w", err)
	}
	return &membership{serf: s, events: events}, nil
}

// join contacts addrs and returns how many answered (serf's Join fails
// only when none did); a node that already knows its peers (from its
// snapshot) rejoins them by itself.
func (m *membership) join(addrs []string) (int, error) {
	if len(addrs) == 0 {
		return 0, nil
	}
	reached, err := m.serf.Join(addrs, true)
	if err != nil {
		return reached, fmt.Errorf("join %v: %w", addrs, err)
	}
	return reached, nil
}

func statusName(s serf.MemberStatus) string {
	switch s {
	case serf.StatusAlive:
		return "alive"
	case serf.StatusFailed:
		return "failed"
	case serf.StatusLeaving, serf.StatusLeft:
		return "left"
	}
	return "unknown"
}

func (m *membership) peers() []peer {
	var out []peer
	for _, mem := range m.serf.Members() {
		out = append(out, peer{
			Name:     mem.Name,
			Status:   statusName(mem.Status),
			RaftAddr: mem.Tags[tagRaft],
			HTTPURL:  mem.Tags[tagHTTP],
			QUICAddr: mem.Tags[tagQUIC],
		})
	}
	return out
}

// forceLeave removes a failed node from the gossip for good.
func (m *membership) forceLeave(name string) error {
	return m.serf.RemoveFailedNodePrune(name)
}

// changed returns a channel that receives when membership changes. Events
// are used only as a wake-up: the state is read from serf.
func (m *membership) drain(stop <-chan struct{}, wake func()) {
	for {
		select {
		case <-stop:
			return
		case <-m.events:
			wake()
		}
	}
}

func (m *membership) shutdown() error { return m.serf.Shutdown() }
