package ent_test

import (
	"errors"
	"strings"
	"testing"

	"atrium/ent"
	"atrium/record"

	"github.com/google/go-cmp/cmp"
)

const (
	assetID  = "01890000-0000-7000-8000-0000000000a1"
	assetID2 = "01890000-0000-7000-8000-0000000000a2"
	assetCh1 = "01890000-0000-7000-8000-0000000000a3"
	assetCh2 = "01890000-0000-7000-8000-0000000000a4"
)

// projector is a valid asset; fields change it.
func projector(fields ...func(*ent.AssetFields)) ent.AssetFields {
	f := ent.AssetFields{Number: "INV-2026-001", Kind: ent.AssetProjector, Model: "Epson EB-W49",
		Location: "B12", State: ent.AssetInService, Purchased: "2024-09-02"}
	for _, fn := range fields {
		fn(&f)
	}
	return f
}

func assetCreate(t testing.TB, by ent.User, partition, id string, f ent.AssetFields) record.Command {
	return record.Command{Origin: record.OriginCentral, User: by.ID, Op: ent.OpAssetCreate, Partition: partition,
		Args: mustJSON(t, ent.AssetCreateArgs{ID: id, AssetFields: f}), Time: t0 + 1000}
}

func assetUpdate(t testing.TB, by ent.User, partition, id, asset string, base int, f ent.AssetFields) record.Command {
	return record.Command{Origin: record.OriginCentral, User: by.ID, Op: ent.OpAssetUpdate, Partition: partition,
		Args: mustJSON(t, ent.AssetUpdateArgs{ID: id, Asset: asset, Base: base, AssetFields: f}), Time: t0 + 2000}
}

func broken(f *ent.AssetFields) { f.State = ent.AssetBroken }

// assetTx returns the fixture with a projector of uaiA (assetID), revision 1.
func assetTx(t *testing.T) *countingTx {
	t.Helper()
	tx := fixtureTx(t)
	if err := ent.Exec(tx, assetCreate(t, staffA, uaiA, assetID, projector())); err != nil {
		t.Fatalf("create asset: %v", err)
	}
	return &countingTx{Tx: tx}
}

func TestAssetRules(t *testing.T) {
	other := "01890000-0000-7000-8000-0000000000a9"
	num2 := func(f *ent.AssetFields) { f.Number = "INV-2026-002" }
	tests := []struct {
		name string
		cmd  record.Command
		want string // rejection code, "" for accepted
	}{
		{"staff creates", assetCreate(t, staffA, uaiA, other, projector(num2)), ""},
		{"no purchase date", assetCreate(t, staffA, uaiA, other, projector(num2, func(f *ent.AssetFields) { f.Purchased = "" })), ""},
		{"teacher creates", assetCreate(t, teacherA, uaiA, other, projector(num2)), "forbidden"},
		{"student creates", assetCreate(t, studentA, uaiA, other, projector(num2)), "forbidden"},
		{"relative creates", assetCreate(t, relativeA, uaiA, other, projector(num2)), "forbidden"},
		{"staff of another lycée", assetCreate(t, staffA, uaiB, other, projector(num2)), "forbidden"},
		{"region partition", assetCreate(t, regionUser, record.Region, other, projector(num2)), "invalid"},
		{"no user", assetCreate(t, ent.User{}, uaiA, other, projector(num2)), "forbidden"},
		{"number taken", assetCreate(t, staffA, uaiA, other, projector()), "conflict"},
		{"number taken, other case", assetCreate(t, staffA, uaiA, other, projector(func(f *ent.AssetFields) { f.Number = " inv-2026-001 " })), "conflict"},
		{"unknown kind", assetCreate(t, staffA, uaiA, other, projector(num2, func(f *ent.AssetFields) { f.Kind = "cafetiere" })), "invalid"},
		{"unknown state", assetCreate(t, staffA, uaiA, other, projector(num2, func(f *ent.AssetFields) { f.State = "perdu" })), "invalid"},
		{"no number", assetCreate(t, staffA, uaiA, other, projector(func(f *ent.AssetFields) { f.Number = " " })), "invalid"},
		{"number with a slash", assetCreate(t, staffA, uaiA, other, projector(func(f *ent.AssetFields) { f.Number = "A/B" })), "invalid"},
		{"no room", assetCreate(t, staffA, uaiA, other, projector(num2, func(f *ent.AssetFields) { f.Location = "" })), "invalid"},
		{"bad date", assetCreate(t, staffA, uaiA, other, projector(num2, func(f *ent.AssetFields) { f.Purchased = "02/09/2024" })), "invalid"},
		{"same id, another kind", assetCreate(t, staffA, uaiA, studentA.ID, projector(num2)), "invalid"},

		{"staff changes", assetUpdate(t, staffA, uaiA, other, assetID, 1, projector(broken)), ""},
		{"number kept empty", assetUpdate(t, staffA, uaiA, other, assetID, 1, projector(broken, func(f *ent.AssetFields) { f.Number = "" })), ""},
		{"teacher changes", assetUpdate(t, teacherA, uaiA, other, assetID, 1, projector(broken)), "forbidden"},
		{"student changes", assetUpdate(t, studentA, uaiA, other, assetID, 1, projector(broken)), "forbidden"},
		{"stale base", assetUpdate(t, staffA, uaiA, other, assetID, 0, projector(broken)), "conflict"},
		{"future base", assetUpdate(t, staffA, uaiA, other, assetID, 2, projector(broken)), "conflict"},
		{"nothing changes", assetUpdate(t, staffA, uaiA, other, assetID, 1, projector()), "invalid"},
		{"number changes", assetUpdate(t, staffA, uaiA, other, assetID, 1, projector(broken, num2)), "invalid"},
		{"no asset", assetUpdate(t, staffA, uaiA, other, other, 1, projector(broken)), "not_found"},
		{"other lycée's asset", assetUpdate(t, staffA, uaiB, other, assetID, 1, projector(broken)), "forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx := assetTx(t)
			err := ent.Exec(tx, tt.cmd)
			if got := code(err); got != tt.want {
				t.Fatalf("Exec(%s) = %v, want %q", tt.cmd.Op, err, tt.want)
			}
			if r, ok := record.AsRejection(err); ok && (r.Message == "" || tx.puts != 0) {
				t.Errorf("refusal %v: message %q, %d writes; want a French message and no write", err, r.Message, tx.puts)
			}
		})
	}
}

// Two changes from the same revision: the second is told who changed the
// asset, and nothing of it is written.
func TestAssetConflict(t *testing.T) {
	tx := assetTx(t)
	if err := ent.Exec(tx, assetUpdate(t, staffA, uaiA, assetCh1, assetID, 1, projector(broken))); err != nil {
		t.Fatal(err)
	}
	tx.puts = 0
	err := ent.Exec(tx, assetUpdate(t, staffA, uaiA, assetCh2, assetID, 1, projector(func(f *ent.AssetFields) { f.Location = "C04" })))
	r, ok := record.AsRejection(err)
	want := "Ce matériel a été modifié entre-temps par Nadia Benali : il en est à la version 2 (vous partiez de la version 1)."
	if !ok || r.Code != "conflict" || !strings.HasPrefix(r.Message, want) || tx.puts != 0 {
		t.Errorf("change from a stale revision = %v (%d writes), want a conflict starting %q and no write", err, tx.puts, want)
	}
}

// Retransmitted commands change nothing, even once the asset moved on.
func TestAssetIdempotent(t *testing.T) {
	tx := assetTx(t)
	cmds := []record.Command{
		assetCreate(t, staffA, uaiA, assetID, projector()),
		assetUpdate(t, staffA, uaiA, assetCh1, assetID, 1, projector(broken)),
	}
	if err := ent.Exec(tx, cmds[1]); err != nil {
		t.Fatal(err)
	}
	if err := ent.Exec(tx, assetUpdate(t, staffA, uaiA, assetCh2, assetID, 2, projector(func(f *ent.AssetFields) { f.State = ent.AssetRepair }))); err != nil {
		t.Fatal(err)
	}
	tx.puts = 0
	for _, c := range cmds {
		if err := ent.Exec(tx, c); err != nil {
			t.Errorf("retransmitted %s = %v, want nil", c.Op, err)
		}
	}
	if tx.puts != 0 {
		t.Errorf("retransmissions wrote %d records, want 0", tx.puts)
	}
}

func TestServiceAssets(t *testing.T) {
	svc, _, _ := newService(t)
	ctx := t.Context()
	a, err := svc.CreateAsset(ctx, staffA, projector(func(f *ent.AssetFields) { f.Number = " inv-2026-001 " }))
	if err != nil {
		t.Fatal(err)
	}
	if a.Number != "INV-2026-001" || a.Revision != 1 || a.KindLabel() != "Vidéoprojecteur" || a.StateLabel() != "En service" {
		t.Errorf("CreateAsset = %+v, want INV-2026-001, revision 1, Vidéoprojecteur en service", a)
	}
	if _, err := svc.CreateAsset(ctx, staffA, projector(func(f *ent.AssetFields) {
		f.Number, f.Kind, f.Model = "INV-2026-002", ent.AssetComputer, "Dell OptiPlex 7010"
	})); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateAsset(ctx, staffA, projector()); code(err) != "conflict" {
		t.Errorf("CreateAsset with a taken number = %v, want conflict", err)
	}
	for _, u := range []ent.User{teacherA, studentA, relativeA, regionUser} {
		if _, err := svc.CreateAsset(ctx, u, projector(func(f *ent.AssetFields) { f.Number = "X1" })); code(err) != "forbidden" {
			t.Errorf("CreateAsset by %s = %v, want forbidden", u.Login, err)
		}
	}

	// Who reads the inventory.
	for _, c := range []struct {
		u    ent.User
		want int
	}{{staffA, 2}, {teacherA, 2}, {studentA, 0}, {relativeA, 0}, {teacherB, 0}, {regionUser, 0}} {
		list, err := svc.ListAssets(ctx, c.u, "", "")
		if err != nil || len(list) != c.want {
			t.Errorf("ListAssets(%s) = %d assets, %v; want %d", c.u.Login, len(list), err, c.want)
		}
	}
	if list, _ := svc.ListAssets(ctx, teacherA, ent.AssetComputer, ""); len(list) != 1 || list[0].Number != "INV-2026-002" {
		t.Errorf("ListAssets(kind ordinateur) = %+v, want INV-2026-002 alone", list)
	}
	for _, u := range []ent.User{studentA, relativeA, teacherB, regionUser} {
		if _, err := svc.GetAsset(ctx, u, a.ID); !errors.Is(err, ent.ErrNotFound) {
			t.Errorf("GetAsset by %s = %v, want ErrNotFound", u.Login, err)
		}
	}

	if _, err := svc.UpdateAsset(ctx, teacherA, a.ID, 1, projector(broken)); code(err) != "forbidden" {
		t.Errorf("UpdateAsset by a teacher = %v, want forbidden", err)
	}
	got, err := svc.UpdateAsset(ctx, staffA, a.ID, 1, projector(broken, func(f *ent.AssetFields) { f.Location = "C04" }))
	if err != nil || got.Revision != 2 {
		t.Fatalf("UpdateAsset = %+v, %v; want revision 2", got, err)
	}
	if _, err := svc.UpdateAsset(ctx, staffA, a.ID, 1, projector(func(f *ent.AssetFields) { f.State = ent.AssetRetired })); code(err) != "conflict" {
		t.Errorf("UpdateAsset from a stale revision = %v, want conflict", err)
	}
	read, err := svc.GetAsset(ctx, teacherA, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var what [][]string
	for _, h := range read.History {
		what = append(what, h.What)
		if h.ByName != "Nadia Benali" {
			t.Errorf("history entry by %q, want Nadia Benali", h.ByName)
		}
	}
	want := [][]string{{"Création de la fiche"}, {"Salle : B12 → C04", "État : En service → En panne"}}
	if diff := cmp.Diff(want, what); diff != "" || read.Revision != 2 || read.State != ent.AssetBroken {
		t.Errorf("GetAsset: revision %d, state %s, history (-want +got):\n%s", read.Revision, read.State, diff)
	}
}
