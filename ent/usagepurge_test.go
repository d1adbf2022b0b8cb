package ent_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"atrium/ent"
	"atrium/record"
)

// usageDays lists the days of the live records of kind in uai's usage
// partition, newest first.
func usageDays(t *testing.T, r record.Reader, uai, kind string) []string {
	t.Helper()
	var days []string
	err := r.Scan(record.UsagePartition(uai), kind, func(rec record.Record) error {
		for _, d := range []string{"2024-12-01", "2025-01-03", "2025-01-04", "2026-01-05"} {
			if id, _ := ent.UsageID(uai, d, kind); id == rec.ID {
				days = append(days, d)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return days
}

// Usage statistics are kept 366 days: the audit trail's purge removes the
// older days of a usage partition, both records of each, and only those.
func TestPurgeUsage(t *testing.T) {
	_, _, st := usageNodes(t)
	// t0 is 2026-01-05 09:00 in Paris: the cutoff is 2025-01-04 09:00, and
	// 2025-01-04 is the first day kept.
	days := []string{"2024-12-01", "2025-01-03", "2025-01-04", "2026-01-05"}
	f := ent.UsageFlush{UAI: uaiA, Node: "central-1", Seq: 1}
	for _, d := range days {
		f.Days = append(f.Days, ent.UsageDay{Day: d, Cells: []ent.UsageCell{{Profile: ent.Student, Service: ent.UsageHome, Visits: 3}}})
	}
	if err := st.Submit(t.Context(), record.Command{Origin: record.OriginCentral, Op: ent.OpUsageRecord, Partition: uaiA,
		Args: mustJSON(t, f), Time: t0}); err != nil {
		t.Fatal(err)
	}
	partition := record.UsagePartition(uaiA)

	// A purge may not reach into the last 366 days, even the audit
	// trail's 365.
	for _, before := range []int64{t0 - ent.AuditRetention.Milliseconds(), t0 - ent.UsageRetention.Milliseconds() + 1} {
		err := st.Submit(t.Context(), purgeCmd(t, record.OriginCentral, partition, ent.AuditPurgeArgs{Partition: partition, Before: before, Limit: 10}))
		if code(err) != "forbidden" {
			t.Errorf("purge of %s before %s = %v, want forbidden", partition, time.UnixMilli(before).UTC(), err)
		}
	}
	if err := st.Submit(t.Context(), purgeCmd(t, uaiA, partition,
		ent.AuditPurgeArgs{Partition: partition, Before: t0 - ent.UsageRetention.Milliseconds(), Limit: 10})); code(err) != "forbidden" {
		t.Errorf("purge of %s by the lycée's edge = %v, want forbidden", partition, err)
	}

	got, err := ent.PurgeAudit(t.Context(), st, partition, time.UnixMilli(t0))
	if err != nil || got != 4 {
		t.Fatalf("PurgeAudit(%s) = %d, %v, want 4 (two days, two records each), nil", partition, got, err)
	}
	st.View(func(r record.Reader) error {
		for _, kind := range []string{ent.KindUsage, ent.KindUsageSets} {
			if diff := cmp.Diff([]string{"2026-01-05", "2025-01-04"}, usageDays(t, r, uaiA, kind)); diff != "" {
				t.Errorf("days of %s after the purge (-want +got):\n%s", kind, diff)
			}
			id, _ := ent.UsageID(uaiA, "2024-12-01", kind)
			if rec, ok, err := r.Get(partition, id); err != nil || !ok || !rec.Deleted || len(rec.Body) != 0 {
				t.Errorf("Get(%s of 2024-12-01) = %+v, %v, %v; want an empty tombstone", kind, rec, ok, err)
			}
		}
		return nil
	})
	if got, err := ent.PurgeAudit(t.Context(), st, partition, time.UnixMilli(t0)); err != nil || got != 0 {
		t.Errorf("PurgeAudit(%s) again = %d, %v, want 0, nil", partition, got, err)
	}
	if _, err := ent.PurgeAudit(t.Context(), st, "usage:nimporte", time.UnixMilli(t0)); err == nil {
		t.Error("PurgeAudit(usage:nimporte) = nil error, want a refusal")
	}
}
