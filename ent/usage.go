package ent

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // Paris days, even where the system lacks a zoneinfo database

	"atrium/ent/uai"
	"atrium/record"
)

// Usage statistics: visits per lycée × profile × service × day, as the
// académies count them (a visit is a page view or an API read by a signed-in
// user), with the number of distinct visitors, pseudonymised.
//
// Counting. Each node (every central node, every edge) has a UsageCounter
// that counts in memory (Count) and flushes periodically (Serve, default
// every minute, and once more when it stops) one "usage.record" command
// per lycée. A visitor is counted by a pseudonym: the first 8 bytes of
// HMAC-SHA256(region key, day ‖ user id). The region key (KindUsageKey,
// one record of record.Region written once by central, EnsureUsageKey) is
// published to every edge, so a user who visits at home (central) and at
// school (the edge) on the same day is one visitor; the day in the MAC
// keeps two days' pseudonyms unlinkable. Ids and logins are never stored.
// Région staff are not counted (they belong to no lycée, and the académies
// count their lycées' users).
//
// Records. Two records per lycée × day, every node together, in the
// central-only partition record.UsagePartition(uai): KindUsageSets holds
// every profile × service cell with its visits and the sorted set of its
// visitors' pseudonyms, and the last flush applied of each node;
// KindUsage holds the same cells with counts only, which is all Usage
// reads (a month of 200 lycées is 6,000 small records; reading the
// pseudonyms to union them at read time took seconds). Their ids derive
// from the day (the UUIDv7 time is the day's midnight), so a read scans a
// lycée's newest records and stops at the first day before the range. Like the
// audit trail, an edge writes its own lycée's records locally and sends the
// commands in its outbox; central never sends them back.
//
// Idempotence. A flush carries its node and a flush sequence that grows
// with every flush of the node (the flush time in unix ms, or one more
// than the last). Exec ignores a day whose KindUsageSets record already
// applied a sequence of that node at least as large: a retransmitted or retried command never
// counts twice.
//
// Days are in Paris time. Retention: UsageRetention (366 days); central's
// audit purge removes older days too (auditpurge.go); an edge deletes its
// local copies with its audit entries (docs/usage.md).

// National service labels, as the académies' usage reports name them.
const (
	UsageNews          = "Actualites"
	UsageMail          = "Courrier_Electronique"
	UsageHomework      = "Cahier_Textes"
	UsageGrades        = "Notes"
	UsageAbsences      = "Absences"
	UsageBooking       = "Reservation_Ressources"
	UsageResources     = "Ressources_En_Ligne"
	UsageCollaborative = "Travail_Collaboratif"
	UsageForum         = "Forum"
	UsageBlog          = "Blog"
	UsageAssistance    = "Assistance"
	UsageAssets        = "Gestion_Parc"
	UsageAccount       = "Compte"
	UsageHome          = "Accueil"
)

// UsageServices lists the service labels, in the order the statistics
// show them.
var UsageServices = []string{
	UsageHome, UsageNews, UsageMail, UsageHomework, UsageGrades, UsageAbsences, UsageBooking,
	UsageResources, UsageCollaborative, UsageForum, UsageBlog, UsageAssistance, UsageAssets, UsageAccount,
}

// ValidUsageService reports whether s is one of the Usage… labels.
func ValidUsageService(s string) bool { return slices.Contains(UsageServices, s) }

// UsageServiceLabel returns the French name of a service label.
func UsageServiceLabel(s string) string {
	switch s {
	case UsageNews:
		return "Actualités"
	case UsageMail:
		return "Messagerie"
	case UsageHomework:
		return "Cahier de textes"
	case UsageGrades:
		return "Notes"
	case UsageAbsences:
		return "Absences"
	case UsageBooking:
		return "Réservation de ressources"
	case UsageResources:
		return "Ressources en ligne"
	case UsageCollaborative:
		return "Espaces collaboratifs"
	case UsageForum:
		return "Forum"
	case UsageBlog:
		return "Blog"
	case UsageAssistance:
		return "Assistance"
	case UsageAssets:
		return "Gestion du parc"
	case UsageAccount:
		return "Compte"
	case UsageHome:
		return "Accueil"
	}
	return s
}

// Kinds and ops of the usage statistics.
const (
	KindUsage     = "usage"        // a lycée × day's counts, in record.UsagePartition
	KindUsageSets = "usage.sets"   // a lycée × day's visitors' pseudonyms and flushes applied, same partition
	KindUsageKey  = "usage.key"    // the region's pseudonymisation key, in record.Region
	OpUsageRecord = "usage.record" // a node flushes its counts of one lycée
	OpUsageKey    = "usage.key"    // operator: write the region's pseudonymisation key, once
)

// usageKeyID is the id of the one KindUsageKey record.
const usageKeyID = "00000000-0000-7000-8000-00000000a5e1"

// pseudonymLen is the length of a visitor's pseudonym, in bytes.
const pseudonymLen = 8

// Bounds of a flush.
const (
	maxUsageNode  = 128
	maxUsageDays  = 31  // days one command carries
	maxUsageCells = 512 // cells of one day
	// MaxUsageDays is the longest range Service.Usage answers, in days.
	MaxUsageDays = 366
)

// DefaultUsageFlush is how often a UsageCounter flushes when its config
// says zero.
const DefaultUsageFlush = time.Minute

// UsageCell is one profile × service of a day: its visits and its
// visitors' pseudonyms (sorted, distinct, 8 bytes each; base64 in JSON).
type UsageCell struct {
	Profile  string `json:"profile"`
	Service  string `json:"service"`
	Visits   int    `json:"visits"`
	Visitors []byte `json:"visitors,omitempty"`
	count    int    // distinct visitors, in a KindUsage record
}

// UsageDay is one day's cells of a lycée.
type UsageDay struct {
	Day   string      `json:"day"` // AAAA-MM-JJ, Paris time
	Cells []UsageCell `json:"cells"`
}

// UsageFlush are the arguments of a usage.record command: what a node
// counted for one lycée since its last flush.
type UsageFlush struct {
	UAI  string     `json:"uai"`
	Node string     `json:"node"` // the node that counted, unique in the region
	Seq  uint64     `json:"seq"`  // grows with every flush of Node
	Days []UsageDay `json:"days"`
}

// usageSets is the body of a KindUsageSets record: a lycée's day, every
// node together, with the visitors' pseudonyms (needed to count a visitor
// once across nodes) and the last flush applied of each node.
type usageSets struct {
	UAI   string            `json:"uai"`
	Day   string            `json:"day"`
	Seqs  map[string]uint64 `json:"seqs"` // origin "/" node → last flush applied
	Cells usageCells        `json:"cells"`
}

// usageCounts is the body of a KindUsage record: what Usage reads, the
// counts of usageSets without the pseudonyms.
type usageCounts struct {
	UAI   string     `json:"uai"`
	Day   string     `json:"day"`
	Cells usageCells `json:"cells"` // Visitors empty, Count set
}

// usageCells are stored compactly: a month of 200 lycées is about 12,000
// records of dozens of cells, and decoding them as JSON objects took
// seconds. The JSON value is the base64 of, for each cell: the profile and
// the service (uvarint length, bytes), the visits (uvarint), the visitors'
// pseudonyms (uvarint length in bytes, bytes).
type usageCells []UsageCell

func (cs usageCells) MarshalJSON() ([]byte, error) {
	var b []byte
	for _, c := range cs {
		b = binary.AppendUvarint(b, uint64(len(c.Profile)))
		b = append(b, c.Profile...)
		b = binary.AppendUvarint(b, uint64(len(c.Service)))
		b = append(b, c.Service...)
		b = binary.AppendUvarint(b, uint64(c.Visits))
		b = binary.AppendUvarint(b, uint64(c.count))
		b = binary.AppendUvarint(b, uint64(len(c.Visitors)))
		b = append(b, c.Visitors...)
	}
	return json.Marshal(b)
}

var errUsageCells = errors.New("malformed usage cells")

func (cs *usageCells) UnmarshalJSON(data []byte) error {
	var b []byte
	if err := json.Unmarshal(data, &b); err != nil {
		return err
	}
	var out usageCells
	field := func() ([]byte, error) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, errUsageCells
		}
		f := b[k : k+int(n)]
		b = b[k+int(n):]
		return f, nil
	}
	for len(b) > 0 {
		var c UsageCell
		p, err := field()
		if err != nil {
			return err
		}
		s, err := field()
		if err != nil {
			return err
		}
		v, k := binary.Uvarint(b)
		if k <= 0 || v > 1<<40 {
			return errUsageCells
		}
		b = b[k:]
		n, k := binary.Uvarint(b)
		if k <= 0 || n > 1<<40 {
			return errUsageCells
		}
		b = b[k:]
		c.count = int(n)
		vis, err := field()
		if err != nil {
			return err
		}
		c.Profile, c.Service, c.Visits = string(p), string(s), int(v)
		if len(vis) > 0 {
			c.Visitors = vis
		}
		out = append(out, c)
	}
	*cs = out
	return nil
}

// UsageID returns the id of the record of kind (KindUsage or
// KindUsageSets) of a lycée's day: a UUIDv7 whose time is the day's
// midnight (UTC) and whose other bits come from a hash of the rest.
func UsageID(uaiCode, day, kind string) (string, bool) {
	d, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return "", false
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(d.UnixMilli())<<16)
	h := sha256.Sum256([]byte(uaiCode + "\x00" + day + "\x00" + kind))
	copy(b[6:], h[:10])
	b[6] = 0x70 | b[6]&0x0f
	b[8] = 0x80 | b[8]&0x3f
	x := hex.EncodeToString(b[:])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:], true
}

func validDay(day string) bool {
	d, err := time.Parse(time.DateOnly, day)
	return err == nil && d.Format(time.DateOnly) == day
}

// checkVisitors reports whether v is a sorted set of distinct pseudonyms.
func checkVisitors(v []byte) bool {
	if len(v)%pseudonymLen != 0 {
		return false
	}
	for i := pseudonymLen; i < len(v); i += pseudonymLen {
		if bytes.Compare(v[i-pseudonymLen:i], v[i:i+pseudonymLen]) >= 0 {
			return false
		}
	}
	return true
}

// unionVisitors merges sorted pseudonym sets.
func unionVisitors(a, b []byte) []byte {
	out := make([]byte, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		switch c := bytes.Compare(a[:pseudonymLen], b[:pseudonymLen]); {
		case c < 0:
			out, a = append(out, a[:pseudonymLen]...), a[pseudonymLen:]
		case c > 0:
			out, b = append(out, b[:pseudonymLen]...), b[pseudonymLen:]
		default:
			out, a, b = append(out, a[:pseudonymLen]...), a[pseudonymLen:], b[pseudonymLen:]
		}
	}
	return append(append(out, a...), b...)
}

// checkUsageFlush validates a flush before it is applied.
func checkUsageFlush(f UsageFlush) error {
	switch {
	case !uai.Valid(f.UAI):
		return rejectInvalid("UAI invalide : " + f.UAI + ".")
	case f.Node == "" || !bounded(f.Node, maxUsageNode):
		return rejectInvalid("Nom de serveur invalide.")
	case f.Seq == 0:
		return rejectInvalid("Numéro d'envoi invalide.")
	case len(f.Days) == 0 || len(f.Days) > maxUsageDays:
		return rejectInvalid("Un envoi de statistiques couvre de 1 à 31 jours.")
	}
	for _, d := range f.Days {
		if !validDay(d.Day) {
			return rejectInvalid("Jour invalide : " + d.Day + ".")
		}
		if len(d.Cells) == 0 || len(d.Cells) > maxUsageCells {
			return rejectInvalid("Statistiques d'un jour mal formées.")
		}
		for _, c := range d.Cells {
			switch {
			case !ValidProfile(c.Profile) || c.Profile == Region:
				return rejectInvalid("Profil inconnu : " + c.Profile + ".")
			case !ValidUsageService(c.Service):
				return rejectInvalid("Service inconnu : " + c.Service + ".")
			case c.Visits <= 0, !checkVisitors(c.Visitors), len(c.Visitors)/pseudonymLen > c.Visits:
				return rejectInvalid("Statistiques d'un jour mal formées.")
			}
		}
	}
	return nil
}

// execUsageRecord adds a node's counts to its records of the lycée's days.
// It is made by a node, never by a user: by central itself, or by an edge
// for its own lycée only.
func execUsageRecord(tx record.Tx, cmd record.Command) error {
	if cmd.User != "" {
		return rejectForbidden("Les statistiques d'usage sont écrites par les serveurs, pas par les utilisateurs.")
	}
	var f UsageFlush
	if err := decodeArgs(cmd, &f); err != nil {
		return err
	}
	if err := checkUsageFlush(f); err != nil {
		return err
	}
	if cmd.Partition != f.UAI {
		return rejectInvalid("Des statistiques sont écrites pour le lycée qu'elles concernent.")
	}
	if !byOperator(cmd) && cmd.Origin != f.UAI {
		return rejectForbidden("Un établissement n'écrit que ses propres statistiques.")
	}
	partition := record.UsagePartition(f.UAI)
	node := cmd.Origin + "/" + f.Node
	for _, d := range f.Days {
		setsID, _ := UsageID(f.UAI, d.Day, KindUsageSets)
		rec, ok, err := tx.Get(partition, setsID)
		if err != nil {
			return err
		}
		cur := usageSets{UAI: f.UAI, Day: d.Day}
		if ok {
			if rec.Kind != KindUsageSets {
				return rejectInvalid("Identifiant déjà utilisé.")
			}
			if !rec.Deleted {
				if err := json.Unmarshal(rec.Body, &cur); err != nil {
					return fmt.Errorf("decode usage %s: %w", setsID, err)
				}
			}
		}
		if f.Seq <= cur.Seqs[node] {
			continue // already applied: a retransmission
		}
		if cur.Seqs == nil {
			cur.Seqs = map[string]uint64{}
		}
		cur.Seqs[node] = f.Seq
		cur.Cells = mergeCells(cur.Cells, d.Cells)
		counts := usageCounts{UAI: f.UAI, Day: d.Day}
		for _, c := range cur.Cells {
			counts.Cells = append(counts.Cells, UsageCell{Profile: c.Profile, Service: c.Service, Visits: c.Visits,
				count: len(c.Visitors) / pseudonymLen})
		}
		countsID, _ := UsageID(f.UAI, d.Day, KindUsage)
		for _, r := range []struct {
			id, kind string
			body     any
		}{{setsID, KindUsageSets, cur}, {countsID, KindUsage, counts}} {
			body, err := json.Marshal(r.body)
			if err != nil {
				return err
			}
			if err := tx.Put(record.Record{Partition: partition, ID: r.id, Kind: r.kind, Body: body}); err != nil {
				return err
			}
		}
	}
	return nil
}

// mergeCells adds add's cells to cur's, sorted by profile and service.
func mergeCells(cur, add []UsageCell) []UsageCell {
	idx := make(map[[2]string]int, len(cur))
	for i, c := range cur {
		idx[[2]string{c.Profile, c.Service}] = i
	}
	for _, c := range add {
		k := [2]string{c.Profile, c.Service}
		if i, ok := idx[k]; ok {
			cur[i].Visits += c.Visits
			cur[i].Visitors = unionVisitors(cur[i].Visitors, c.Visitors)
			continue
		}
		idx[k] = len(cur)
		cur = append(cur, c)
	}
	sort.Slice(cur, func(i, j int) bool {
		if cur[i].Profile != cur[j].Profile {
			return cur[i].Profile < cur[j].Profile
		}
		return cur[i].Service < cur[j].Service
	})
	return cur
}

// usageKeyBody is the body of the KindUsageKey record.
type usageKeyBody struct {
	Key []byte `json:"key"` // 32 bytes
}

// execUsageKey writes the region's pseudonymisation key, once: a second
// command (another central node's, a retry) is a no-op, so every node ends
// up with the first key.
func execUsageKey(tx record.Tx, cmd record.Command) error {
	if !byOperator(cmd) {
		return rejectForbidden("Seul un opérateur écrit la clé des statistiques.")
	}
	var k usageKeyBody
	if err := decodeArgs(cmd, &k); err != nil {
		return err
	}
	if cmd.Partition != record.Region || len(k.Key) != 32 {
		return rejectInvalid("Clé des statistiques invalide.")
	}
	if done, err := existing(tx, record.Region, usageKeyID, KindUsageKey); done || err != nil {
		return err
	}
	body, _ := json.Marshal(k)
	return tx.Put(record.Record{Partition: record.Region, ID: usageKeyID, Kind: KindUsageKey, Body: body})
}

// EnsureUsageKey makes sure the region's pseudonymisation key exists,
// writing a random one if not. Central calls it once it serves; any node
// may, the first key written stays.
func (s *Service) EnsureUsageKey(ctx context.Context) error {
	if k, err := s.usageKey(); err != nil || k != nil {
		return err
	}
	k := make([]byte, 32)
	rand.Read(k)
	args, _ := json.Marshal(usageKeyBody{Key: k})
	err := s.store.Submit(ctx, record.Command{Origin: record.OriginCentral, Op: OpUsageKey, Partition: record.Region,
		Args: args, Time: s.now().UnixMilli()})
	if err != nil {
		return fmt.Errorf("write usage key: %w", err)
	}
	return nil
}

// usageKey returns the region's pseudonymisation key, nil if this store
// has none yet.
func (s *Service) usageKey() ([]byte, error) {
	var key []byte
	err := s.store.View(func(r record.Reader) error {
		rec, ok, err := r.Get(record.Region, usageKeyID)
		if err != nil || !ok || rec.Deleted || rec.Kind != KindUsageKey {
			return err
		}
		var k usageKeyBody
		if err := json.Unmarshal(rec.Body, &k); err != nil {
			return fmt.Errorf("decode usage key: %w", err)
		}
		key = k.Key
		return nil
	})
	return key, err
}

// UsageDayOf returns the day of t in Paris time, AAAA-MM-JJ.
func UsageDayOf(t time.Time) string { return t.In(paris()).Format(time.DateOnly) }

// Pseudonym returns the pseudonym of user id on day under key.
func Pseudonym(key []byte, day, id string) [pseudonymLen]byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(day))
	m.Write([]byte{0})
	m.Write([]byte(id))
	var p [pseudonymLen]byte
	copy(p[:], m.Sum(nil))
	return p
}

// UsageCounterConfig configures a UsageCounter.
type UsageCounterConfig struct {
	Service *Service // where flushes are submitted and the key is read; required
	// Node names this node, unique in the region (a central node's name,
	// an edge's); "" means the Service's Node.
	Node string
	// Every is how often counts are flushed; zero means DefaultUsageFlush.
	Every  time.Duration
	Now    func() time.Time // nil means time.Now; stamps the flushes
	Logger *slog.Logger     // nil means the Service's
}

// UsageCounter counts a node's visits in memory and flushes them as
// usage.record commands. A nil *UsageCounter counts nothing. Safe for
// concurrent use.
type UsageCounter struct {
	svc   *Service
	node  string
	every time.Duration
	now   func() time.Time
	log   *slog.Logger

	mu      sync.Mutex
	cells   map[usageCellKey]*usageAgg
	key     []byte    // the region's key, once read
	keyTry  time.Time // when it was last looked for
	flushMu sync.Mutex
	seq     uint64           // the last flush sequence used
	pending []record.Command // flushes not yet accepted by the store, oldest first
}

type usageCellKey struct{ uai, day, profile, service string }

type usageAgg struct {
	visits   int
	visitors map[[pseudonymLen]byte]struct{}
}

// maxUsagePending bounds the flushes kept for a retry while the store
// refuses them (a central node without a leader): the oldest go first.
const maxUsagePending = 1000

// usageKeyRetry is how often a counter without the region's key looks
// for it again.
const usageKeyRetry = 10 * time.Second

// NewUsageCounter validates cfg and returns a counter; Serve flushes it.
func NewUsageCounter(cfg UsageCounterConfig) (*UsageCounter, error) {
	if cfg.Service == nil {
		return nil, errors.New("ent: UsageCounterConfig.Service is required")
	}
	c := &UsageCounter{svc: cfg.Service, node: cfg.Node, every: cfg.Every, now: cfg.Now, log: cfg.Logger,
		cells: map[usageCellKey]*usageAgg{}}
	if c.node == "" {
		c.node = cfg.Service.node
	}
	if c.node == "" {
		return nil, errors.New("ent: UsageCounterConfig.Node is required when the Service has none")
	}
	if c.every <= 0 {
		c.every = DefaultUsageFlush
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = cfg.Service.log
	}
	return c, nil
}

// Count counts a visit of u to service at time at. Région staff, users
// without a lycée and unknown services are not counted. Until the node
// holds the region's key, the visit counts but not its visitor.
func (c *UsageCounter) Count(u User, service string, at time.Time) {
	if c == nil || u.Profile == Region || !uai.Valid(u.UAI) || !ValidProfile(u.Profile) || !ValidUsageService(service) {
		return
	}
	day := UsageDayOf(at)
	key := c.regionKey(at)
	c.mu.Lock()
	defer c.mu.Unlock()
	k := usageCellKey{u.UAI, day, u.Profile, service}
	a := c.cells[k]
	if a == nil {
		a = &usageAgg{visitors: map[[pseudonymLen]byte]struct{}{}}
		c.cells[k] = a
	}
	a.visits++
	if key != nil && u.ID != "" {
		a.visitors[Pseudonym(key, day, u.ID)] = struct{}{}
	}
}

// regionKey returns the region's key, looking for it at most every
// usageKeyRetry while the node has none.
func (c *UsageCounter) regionKey(now time.Time) []byte {
	c.mu.Lock()
	if c.key != nil || now.Sub(c.keyTry) < usageKeyRetry && !c.keyTry.IsZero() {
		defer c.mu.Unlock()
		return c.key
	}
	c.keyTry = now
	c.mu.Unlock()
	k, err := c.svc.usageKey()
	if err != nil {
		c.log.Error("read usage key", "err", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if k != nil {
		c.key = k
	}
	return c.key
}

// Flush submits what was counted since the last flush, one command per
// lycée, after the flushes still waiting from earlier failures. A flush
// the store fails to take is kept and sent again, unchanged (same
// sequence: if it was applied after all, it is ignored); one it rejects is
// logged and dropped.
func (c *UsageCounter) Flush(ctx context.Context) error {
	if c == nil {
		return nil
	}
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	c.mu.Lock()
	cells := c.cells
	c.cells = map[usageCellKey]*usageAgg{}
	c.mu.Unlock()
	c.pending = append(c.pending, c.commands(cells)...)
	if n := len(c.pending) - maxUsagePending; n > 0 {
		c.log.Error("usage flushes dropped", "dropped", n)
		c.pending = slices.Delete(c.pending, 0, n)
	}
	for len(c.pending) > 0 {
		cmd := c.pending[0]
		err := c.svc.store.Submit(ctx, cmd)
		var rej *record.Rejection
		if errors.As(err, &rej) {
			c.log.Error("usage flush rejected", "uai", cmd.Partition, "err", err)
		} else if err != nil {
			return fmt.Errorf("flush usage of %s: %w", cmd.Partition, err)
		}
		c.pending = c.pending[1:]
	}
	return nil
}

// commands turns counts into usage.record commands, one per lycée.
func (c *UsageCounter) commands(cells map[usageCellKey]*usageAgg) []record.Command {
	byUAI := map[string]map[string][]UsageCell{}
	for k, a := range cells {
		if byUAI[k.uai] == nil {
			byUAI[k.uai] = map[string][]UsageCell{}
		}
		v := make([][pseudonymLen]byte, 0, len(a.visitors))
		for p := range a.visitors {
			v = append(v, p)
		}
		slices.SortFunc(v, func(x, y [pseudonymLen]byte) int { return bytes.Compare(x[:], y[:]) })
		vb := make([]byte, 0, len(v)*pseudonymLen)
		for _, p := range v {
			vb = append(vb, p[:]...)
		}
		byUAI[k.uai][k.day] = append(byUAI[k.uai][k.day], UsageCell{Profile: k.profile, Service: k.service, Visits: a.visits, Visitors: vb})
	}
	uais := make([]string, 0, len(byUAI))
	for u := range byUAI {
		uais = append(uais, u)
	}
	sort.Strings(uais)
	now := c.now()
	var out []record.Command
	for _, u := range uais {
		days := make([]string, 0, len(byUAI[u]))
		for d := range byUAI[u] {
			days = append(days, d)
		}
		sort.Strings(days)
		for len(days) > 0 { // at most maxUsageDays a command
			n := min(len(days), maxUsageDays)
			f := UsageFlush{UAI: u, Node: c.node, Seq: c.nextSeq(now)}
			for _, d := range days[:n] {
				f.Days = append(f.Days, UsageDay{Day: d, Cells: mergeCells(nil, byUAI[u][d])})
			}
			days = days[n:]
			args, _ := json.Marshal(f)
			out = append(out, record.Command{Origin: c.svc.origin, Op: OpUsageRecord, Partition: u, Args: args, Time: now.UnixMilli()})
		}
	}
	return out
}

// nextSeq returns the next flush sequence: the time in unix ms, or one
// more than the last if the clock did not move on. It outlives a restart
// as long as the clock does not go back.
func (c *UsageCounter) nextSeq(now time.Time) uint64 {
	c.seq = max(c.seq+1, uint64(now.UnixMilli()))
	return c.seq
}

// Serve flushes every Every until ctx ends, then flushes once more (for at
// most a few seconds) and returns nil.
func (c *UsageCounter) Serve(ctx context.Context) error {
	tick := time.NewTicker(c.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := c.Flush(fctx); err != nil {
				c.log.Error("flush usage at stop", "err", err)
			}
			return nil
		case <-tick.C:
			if err := c.Flush(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("flush usage", "err", err)
			}
		}
	}
}

// UsageRow is one line of the statistics: a lycée's day for a profile and
// a service, all nodes together.
type UsageRow struct {
	Day      string `json:"day"` // AAAA-MM-JJ, Paris time
	UAI      string `json:"uai"`
	Profile  string `json:"profile"`
	Service  string `json:"service"` // a national label (Usage…)
	Visits   int    `json:"visits"`
	Visitors int    `json:"visitors"` // distinct users, counted once across nodes
}

// CanReadUsage reports whether u may read usage statistics: Région staff
// (every lycée) or a lycée's direction (its administrators: their lycée).
func CanReadUsage(u User) bool { return CanReadAudit(u) }

// Usage returns the statistics of days from to to (AAAA-MM-JJ, both
// included) for lycée uaiCode, or for every lycée when uaiCode is "" and u
// is Région staff, sorted by day, lycée, profile and service. A lycée's
// administrator reads their lycée's only. Refusals are *record.Rejection.
// At an edge, only the visits counted there are known.
func (s *Service) Usage(ctx context.Context, u User, from, to, uaiCode string) ([]UsageRow, error) {
	if !CanReadUsage(u) {
		return nil, rejectForbidden("Les statistiques d'usage sont réservées à la Région et à la direction des lycées.")
	}
	if u.Profile != Region {
		if uaiCode != "" && uaiCode != u.UAI {
			return nil, rejectForbidden("Vous ne consultez que les statistiques de votre lycée.")
		}
		uaiCode = u.UAI
	} else if uaiCode != "" && !uai.Valid(uaiCode) {
		return nil, rejectInvalid("UAI invalide : " + uaiCode + ".")
	}
	if !validDay(from) || !validDay(to) {
		return nil, rejectInvalid("Dates invalides (attendu : AAAA-MM-JJ).")
	}
	f, _ := time.Parse(time.DateOnly, from)
	t, _ := time.Parse(time.DateOnly, to)
	if t.Before(f) {
		return nil, rejectInvalid("La date de fin précède la date de début.")
	}
	if t.Sub(f) >= MaxUsageDays*24*time.Hour {
		return nil, rejectInvalid(fmt.Sprintf("Choisissez une période d'au plus %d jours.", MaxUsageDays))
	}
	lycees := []string{uaiCode}
	if uaiCode == "" {
		var err error
		if lycees, err = s.usageLycees(); err != nil {
			return nil, err
		}
	}
	var parts [][]UsageRow
	n := 0
	err := s.store.View(func(r record.Reader) error {
		for _, l := range lycees {
			rows, err := usageOf(r, l, from, to)
			if err != nil {
				return err
			}
			parts, n = append(parts, rows), n+len(rows)
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	out := make([]UsageRow, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	slices.SortFunc(out, func(a, b UsageRow) int {
		return cmp.Or(strings.Compare(a.Day, b.Day), strings.Compare(a.UAI, b.UAI),
			strings.Compare(a.Profile, b.Profile), strings.Compare(a.Service, b.Service))
	})
	return out, nil
}

// usageLycees lists the lycées whose statistics the store holds.
func (s *Service) usageLycees() ([]string, error) {
	if s.partitions == nil {
		if s.origin != record.OriginCentral {
			return []string{s.origin}, nil
		}
		return nil, nil
	}
	parts, err := s.partitions()
	if err != nil {
		return nil, fmt.Errorf("usage: list partitions: %w", err)
	}
	var out []string
	for _, p := range parts {
		if rest, ok := strings.CutPrefix(p, "usage:"); ok && uai.Valid(rest) {
			out = append(out, rest)
		}
	}
	return out, nil
}

// usageOf returns the rows of one lycée's days from to to.
func usageOf(r record.Reader, uaiCode, from, to string) ([]UsageRow, error) {
	start, _ := time.Parse(time.DateOnly, from)
	var out []UsageRow
	err := r.Scan(record.UsagePartition(uaiCode), KindUsage, func(rec record.Record) error {
		if t, ok := idTime(rec.ID); ok && t.Before(start) {
			return record.ErrStop // newest first: older days follow
		}
		if rec.Deleted {
			return nil
		}
		var uc usageCounts
		if err := json.Unmarshal(rec.Body, &uc); err != nil {
			return fmt.Errorf("decode usage %s: %w", rec.ID, err)
		}
		if uc.Day < from || uc.Day > to {
			return nil
		}
		for _, c := range uc.Cells {
			out = append(out, UsageRow{Day: uc.Day, UAI: uaiCode, Profile: c.Profile, Service: c.Service,
				Visits: c.Visits, Visitors: c.count})
		}
		return nil
	})
	return out, err
}
