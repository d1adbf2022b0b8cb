package ent

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"atrium/ent/uai"
	"atrium/record"
)

// Purging the audit trail: entries are kept AuditRetention (a year, as
// the law requires), then must go.
//
// At central, the raft leader submits "audit.purge" commands (PurgeAudit);
// each one tombstones, oldest first, at most Limit entries of one audit
// partition whose event time is before the command's Before. The body of a
// tombstone is empty: the login, address and user agent are gone, only the
// id and version remain. Audit partitions are never sent to edges, so the
// tombstones stay at central.
//
// Cost: record.Reader scans newest first, so reaching the oldest entries
// means walking every newer one; a command therefore reads the whole
// partition (skipping, by the time in their UUIDv7 ids, the bodies of
// entries too recent to expire) inside the state machine. An oldest-first
// scan would make a command read only the entries it removes (docs/api.md
// gives the figures).
//
// The usage statistics (usage.go) are purged by the same op: an
// audit.purge command may name a usage partition (record.UsagePartition),
// whose KindUsage and KindUsageSets records of days older than
// UsageRetention then go, oldest day first. Their ids carry their day
// (UsageID), so no body is read.
//
// At an edge, the entries it recorded itself are its own copy (central
// never sends them back): the edge deletes them for good, with no command,
// through edge.Store.PurgeLocal and AuditExpired.

// MaxAuditPurge is the most entries one audit.purge command removes, to
// bound the raft entry's work.
const MaxAuditPurge = 5000

// AuditPurgeArgs are the arguments of an audit.purge command.
type AuditPurgeArgs struct {
	Partition string `json:"partition"` // an audit or usage partition (record.AuditPartition, record.UsagePartition); the command's own
	Before    int64  `json:"before"`    // unix ms: entries whose event time is before it go
	Limit     int    `json:"limit"`     // at most this many, 1 to MaxAuditPurge, oldest first
}

// AuditCutoff returns the time before which audit entries have passed
// their retention at now.
func AuditCutoff(now time.Time) time.Time {
	return time.UnixMilli(now.UnixMilli()).Add(-AuditRetention)
}

// UsageRetention is how long usage statistics are kept: a year of
// MaxUsageDays days, the longest range Usage answers.
const UsageRetention = MaxUsageDays * 24 * time.Hour

// UsageCutoff returns the time before which usage statistics have passed
// their retention at now: a day goes once its Paris day is before the
// cutoff's.
func UsageCutoff(now time.Time) time.Time {
	return time.UnixMilli(now.UnixMilli()).Add(-UsageRetention)
}

// IsUsagePartition reports whether p is a lycée's usage partition:
// "usage:" followed by a valid UAI.
func IsUsagePartition(p string) bool {
	rest, ok := strings.CutPrefix(p, "usage:")
	return ok && uai.Valid(rest)
}

// purgeCutoff returns the cutoff of partition at now, ok=false if it is
// neither an audit nor a usage partition.
func purgeCutoff(partition string, now time.Time) (time.Time, bool) {
	switch {
	case IsAuditPartition(partition):
		return AuditCutoff(now), true
	case IsUsagePartition(partition):
		return UsageCutoff(now), true
	}
	return time.Time{}, false
}

// IsAuditPartition reports whether p is an audit partition: "audit:"
// followed by a valid UAI or record.Region.
func IsAuditPartition(p string) bool {
	rest, ok := strings.CutPrefix(p, "audit:")
	return ok && (rest == record.Region || uai.Valid(rest))
}

// execAuditPurge tombstones the oldest expired entries of an audit
// partition, or the oldest expired days of a usage partition. Only an operator at central purges: an edge's copy of its
// trail is its own business (edge.Store.PurgeLocal). Replaying the command
// removes at most Limit more expired entries, none if none is left: the
// same as the next command of the purge would.
func execAuditPurge(tx record.Tx, cmd record.Command) error {
	if !byOperator(cmd) {
		return rejectForbidden("Seul un opérateur purge le journal des connexions.")
	}
	var a AuditPurgeArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	switch {
	case !IsAuditPartition(a.Partition) && !IsUsagePartition(a.Partition):
		return rejectInvalid("Seuls un journal des connexions et des statistiques d'usage se purgent ainsi : " + a.Partition + ".")
	case cmd.Partition != a.Partition:
		return rejectInvalid("La commande doit viser le journal qu'elle purge.")
	case a.Limit <= 0 || a.Limit > MaxAuditPurge:
		return rejectInvalid(fmt.Sprintf("Une purge retire de 1 à %d entrées.", MaxAuditPurge))
	case a.Before <= 0:
		return rejectInvalid("Date de purge invalide.")
	case IsAuditPartition(a.Partition) && a.Before > cmd.Time-AuditRetention.Milliseconds():
		return rejectForbidden("Le journal des connexions est conservé un an : cette date est trop récente.")
	case IsUsagePartition(a.Partition) && a.Before > cmd.Time-UsageRetention.Milliseconds():
		return rejectForbidden(fmt.Sprintf("Les statistiques d'usage sont conservées %d jours : cette date est trop récente.", MaxUsageDays))
	}
	old, _, err := expired(tx, a.Partition, time.UnixMilli(a.Before), a.Limit)
	if err != nil {
		return err
	}
	for _, rec := range old {
		if err := tx.Put(record.Record{Partition: rec.Partition, ID: rec.ID, Kind: rec.Kind, Deleted: true}); err != nil {
			return err
		}
	}
	return nil
}

// expired returns the oldest at most limit expired records of an audit or
// usage partition, oldest first, and how many the partition holds in all.
func expired(r record.Reader, partition string, cutoff time.Time, limit int) ([]record.Record, int, error) {
	if IsUsagePartition(partition) {
		return expiredUsage(r, partition, cutoff, limit)
	}
	return expiredAudit(r, partition, cutoff, limit)
}

// expiredUsage returns the oldest (by day) at most limit live records of a
// usage partition whose Paris day is before cutoff's, oldest first, and
// how many such records the partition holds in all. A record's day is the
// time of its id (UsageID: the day's midnight, UTC); a record with another
// kind of id is kept.
func expiredUsage(r record.Reader, partition string, cutoff time.Time, limit int) ([]record.Record, int, error) {
	first, _ := time.Parse(time.DateOnly, UsageDayOf(cutoff)) // the first day kept
	var out []record.Record
	for _, kind := range []string{KindUsage, KindUsageSets} {
		err := r.Scan(partition, kind, func(rec record.Record) error {
			if t, ok := idTime(rec.ID); ok && t.Before(first) {
				rec.Body = nil // not needed to tombstone it
				out = append(out, rec)
			}
			return nil
		})
		if err != nil {
			return nil, 0, fmt.Errorf("scan usage partition %s: %w", partition, err)
		}
	}
	slices.SortFunc(out, func(a, b record.Record) int {
		return cmp.Or(strings.Compare(a.ID, b.ID), strings.Compare(a.Kind, b.Kind))
	})
	return out[:min(len(out), limit)], len(out), nil
}

// expiredAudit returns the oldest (by id, oldest first) at most limit live
// entries of partition whose event time is before cutoff, and how many
// such entries the partition holds in all.
//
// The scan runs newest first, so it keeps the last limit entries it finds.
// An entry whose id (UUIDv7) was minted at or after cutoff plus
// auditScanSlack is skipped without decoding its body: its event was
// recorded then, give or take the clock skew of its node. An entry with
// another kind of id, or whose body does not decode, is judged by its body
// or kept.
func expiredAudit(r record.Reader, partition string, cutoff time.Time, limit int) ([]record.Record, int, error) {
	ring := make([]record.Record, 0, min(limit, 256))
	next, total := 0, 0
	skipFrom := cutoff.Add(auditScanSlack)
	err := r.Scan(partition, KindAudit, func(rec record.Record) error {
		if t, ok := idTime(rec.ID); ok && !t.Before(skipFrom) {
			return nil
		}
		if !AuditExpired(rec, cutoff) {
			return nil
		}
		total++
		rec.Body = nil // not needed to tombstone it
		if len(ring) < limit {
			ring = append(ring, rec)
			return nil
		}
		ring[next] = rec
		next = (next + 1) % limit
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("scan audit partition %s: %w", partition, err)
	}
	// ring holds the oldest entries, newest first from next on: turn it
	// oldest first.
	out := make([]record.Record, 0, len(ring))
	for i := range ring {
		out = append(out, ring[(next+len(ring)-1-i)%len(ring)])
	}
	return out, total, nil
}

// AuditExpired reports whether rec is an audit entry whose event time is
// before cutoff. A record of another kind, a tombstone or an entry whose
// body does not decode is not expired (it is kept).
func AuditExpired(rec record.Record, cutoff time.Time) bool {
	if rec.Kind != KindAudit || rec.Deleted {
		return false
	}
	var ev struct {
		Time time.Time `json:"time"`
	}
	if err := json.Unmarshal(rec.Body, &ev); err != nil || ev.Time.IsZero() {
		return false
	}
	return ev.Time.Before(cutoff)
}

// idTime returns the creation time a UUIDv7 carries in its first 48 bits,
// or ok=false for another kind of id.
func idTime(id string) (time.Time, bool) {
	// xxxxxxxx-xxxx-7xxx-…: 12 hex digits of unix milliseconds, then the
	// version.
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[14] != '7' {
		return time.Time{}, false
	}
	var ms int64
	for i := 0; i < 13; i++ {
		if i == 8 {
			continue
		}
		c := id[i]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return time.Time{}, false
		}
		ms = ms<<4 | int64(d)
	}
	return time.UnixMilli(ms), true
}

// errNoProgress is returned by PurgeAudit when a command left as many
// expired entries as there were.
var errNoProgress = errors.New("audit purge made no progress")

// PurgeAudit removes from the audit partition every entry that passed its
// retention at now (AuditCutoff), or from the usage partition every day
// that passed its own (UsageCutoff): it submits audit.purge commands of at
// most MaxAuditPurge entries to st (central: the cluster) until none is
// left, and returns how many entries went. Each round counts what is left
// through st.View, which does not hold up the state machine. It stops at
// the first failure or when ctx ends, with what went so far.
func PurgeAudit(ctx context.Context, st Store, partition string, now time.Time) (int, error) {
	cutoff, ok := purgeCutoff(partition, now)
	if !ok {
		return 0, fmt.Errorf("purge audit: %q is not an audit or usage partition", partition)
	}
	count := func() (int, error) {
		var n int
		err := st.View(func(r record.Reader) error {
			var err error
			_, n, err = expired(r, partition, cutoff, 1)
			return err
		})
		return n, err
	}
	left, err := count()
	purged := 0
	for err == nil && left > 0 {
		if err = ctx.Err(); err != nil {
			break
		}
		args, _ := json.Marshal(AuditPurgeArgs{Partition: partition, Before: cutoff.UnixMilli(), Limit: min(left, MaxAuditPurge)})
		err = st.Submit(ctx, record.Command{
			Origin: record.OriginCentral, Op: OpAuditPurge, Partition: partition, Args: args, Time: now.UnixMilli(),
		})
		if err != nil {
			break
		}
		var after int
		if after, err = count(); err != nil {
			break
		}
		if after >= left {
			err = errNoProgress
			break
		}
		purged += left - after
		left = after
	}
	if err != nil {
		return purged, fmt.Errorf("purge audit %s: %w", partition, err)
	}
	return purged, nil
}
