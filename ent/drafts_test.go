package ent_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"atrium/ent"
	"atrium/ent/enttest"
	"atrium/record"

	"github.com/google/go-cmp/cmp"
)

const (
	draft1   = "01890000-0000-7000-8000-0000000000e1"
	draft2   = "01890000-0000-7000-8000-0000000000e2"
	draft3   = "01890000-0000-7000-8000-0000000000e3"
	newsReg  = "01890000-0000-7000-8000-0000000000e4"
	unknownX = "01890000-0000-7000-8000-0000000000ef"
)

func draftCmd(t testing.TB, origin string, by ent.User, partition, op string, args any, at int64) record.Command {
	return record.Command{Origin: origin, User: by.ID, Op: op, Partition: partition, Args: mustJSON(t, args), Time: at}
}

// proposal is a correction of the region item cat3 (catLink's "Annales du
// bac"): a new title and level, its link kept.
func proposal(id string) ent.DraftArgs {
	c := catLink("", "Annales du bac (corrigées)")
	c.Level = ent.LevelTerminale
	return ent.DraftArgs{ID: id, Target: cat3, Kind: ent.KindCatalogueItem, Seen: 1, Catalogue: &c}
}

// TestDraftExecRules runs commands in order on one store: each is accepted
// or refused with its code, and a refusal writes nothing.
func TestDraftExecRules(t *testing.T) {
	tx := homeworkTx(t)
	if err := ent.Exec(tx, catCmd(t, regionUser, record.Region, ent.OpCataloguePublish, catLink(cat3, "Annales du bac"), t0)); err != nil {
		t.Fatal(err)
	}
	if err := ent.Exec(tx, newsCmd(t, regionUser, record.Region, newsReg, "Rentrée")); err != nil {
		t.Fatal(err)
	}
	withFile := proposal(draft1)
	withFile.Catalogue.Link, withFile.Catalogue.File = "", catFile()
	badLevel := proposal(draft1)
	badLevel.Catalogue.Level = "cm2"
	forClasses := proposal(draft1)
	forClasses.Catalogue.Classes = []string{"1B"}
	unknown := proposal(draft1)
	unknown.Target = unknownX
	keepLink := proposal(draft2)
	keepLink.Catalogue.Link = "" // neither file nor link: the item keeps its own
	news := ent.DraftArgs{ID: draft3, Target: newsReg, Kind: ent.KindNews, News: &ent.DraftNews{Title: "Rentrée 2026", Body: "Le 1er septembre."}}
	wrongKind := news
	wrongKind.Target = cat3
	const edge = uaiA
	central := record.OriginCentral
	tests := []struct {
		name string
		cmd  record.Command
		want string // rejection code; "" for accepted
	}{
		{"student proposes", draftCmd(t, edge, studentA, uaiA, ent.OpDraftPropose, proposal(draft1), t0+10), "forbidden"},
		{"relative proposes", draftCmd(t, edge, relativeA, uaiA, ent.OpDraftPropose, proposal(draft1), t0+10), "forbidden"},
		{"former teacher proposes", draftCmd(t, edge, formerA, uaiA, ent.OpDraftPropose, proposal(draft1), t0+10), "forbidden"},
		{"teacher of another lycée", draftCmd(t, edge, teacherB, uaiA, ent.OpDraftPropose, proposal(draft1), t0+10), "forbidden"},
		{"in the region's partition", draftCmd(t, central, teacherA, record.Region, ent.OpDraftPropose, proposal(draft1), t0+10), "forbidden"},
		{"Région agent proposes", draftCmd(t, central, regionUser, record.Region, ent.OpDraftPropose, proposal(draft1), t0+10), "forbidden"},
		{"with a file", draftCmd(t, edge, teacherA, uaiA, ent.OpDraftPropose, withFile, t0+10), "invalid"},
		{"unknown level", draftCmd(t, edge, teacherA, uaiA, ent.OpDraftPropose, badLevel, t0+10), "invalid"},
		{"region item for classes", draftCmd(t, edge, teacherA, uaiA, ent.OpDraftPropose, forClasses, t0+10), "invalid"},
		{"unknown item", draftCmd(t, edge, teacherA, uaiA, ent.OpDraftPropose, unknown, t0+10), "not_found"},
		{"news content for an item", draftCmd(t, edge, teacherA, uaiA, ent.OpDraftPropose, wrongKind, t0+10), "not_found"},
		{"teacher at the edge", draftCmd(t, edge, teacherA, uaiA, ent.OpDraftPropose, proposal(draft1), t0+10), ""},
		{"retransmitted", draftCmd(t, edge, teacherA, uaiA, ent.OpDraftPropose, proposal(draft1), t0+10), ""},
		{"staff, link kept", draftCmd(t, edge, staffA, uaiA, ent.OpDraftPropose, keepLink, t0+11), ""},
		{"teacher, news", draftCmd(t, edge, teacherA, uaiA, ent.OpDraftPropose, news, t0+12), ""},
		{"teacher applies", draftCmd(t, central, teacherA, uaiA, ent.OpDraftApply, ent.DraftDecisionArgs{ID: draft1}, t0+20), "forbidden"},
		{"agent's apply from an edge", draftCmd(t, edge, regionUser, uaiA, ent.OpDraftApply, ent.DraftDecisionArgs{ID: draft1}, t0+20), "forbidden"},
		{"apply, wrong lycée", draftCmd(t, central, regionUser, uaiB, ent.OpDraftApply, ent.DraftDecisionArgs{ID: draft1}, t0+20), "not_found"},
		{"discard, reason too long", draftCmd(t, central, regionUser, uaiA, ent.OpDraftDiscard, ent.DraftDecisionArgs{ID: draft2, Reason: strings.Repeat("x", 1001)}, t0+20), "invalid"},
		{"agent applies", draftCmd(t, central, regionUser, uaiA, ent.OpDraftApply, ent.DraftDecisionArgs{ID: draft1}, t0+20), ""},
		{"applied again", draftCmd(t, central, regionUser, uaiA, ent.OpDraftApply, ent.DraftDecisionArgs{ID: draft1}, t0+21), ""},
		{"discard an applied one", draftCmd(t, central, regionUser, uaiA, ent.OpDraftDiscard, ent.DraftDecisionArgs{ID: draft1}, t0+22), "conflict"},
		{"agent discards", draftCmd(t, central, regionUser, uaiA, ent.OpDraftDiscard, ent.DraftDecisionArgs{ID: draft2, Reason: "Le lien actuel est le bon."}, t0+23), ""},
		{"apply a discarded one", draftCmd(t, central, regionUser, uaiA, ent.OpDraftApply, ent.DraftDecisionArgs{ID: draft2}, t0+24), "conflict"},
		{"agent applies news", draftCmd(t, central, regionUser, uaiA, ent.OpDraftApply, ent.DraftDecisionArgs{ID: draft3}, t0+25), ""},
		{"news.update by a teacher", draftCmd(t, central, teacherA, record.Region, ent.OpNewsUpdate, ent.NewsArgs{ID: newsReg, Title: "T", Body: "B"}, t0+26), "forbidden"},
		{"news.update from an edge", draftCmd(t, edge, regionUser, record.Region, ent.OpNewsUpdate, ent.NewsArgs{ID: newsReg, Title: "T", Body: "B"}, t0+26), "forbidden"},
	}
	for _, tt := range tests {
		before := tx.puts
		err := ent.Exec(tx, tt.cmd)
		if got := code(err); got != tt.want {
			t.Errorf("%s: Exec = %v, want code %q", tt.name, err, tt.want)
		}
		if tt.want != "" && tx.puts != before {
			t.Errorf("%s: refused, but wrote %d records", tt.name, tx.puts-before)
		}
	}

	// The applied proposal is the item's content now; the link stayed.
	rec, _, _ := tx.Get(record.Region, cat3)
	if b := string(rec.Body); !strings.Contains(b, `"title":"Annales du bac (corrigées)"`) || !strings.Contains(b, `"level":"terminale"`) ||
		!strings.Contains(b, `"link":"https://example.org/suites"`) || !strings.Contains(b, `"updated":1767600000020`) {
		t.Errorf("region item after the applied proposal = %s, want the proposed title and level, its link, updated at the decision", b)
	}
	if rec, _, _ := tx.Get(record.Region, newsReg); !strings.Contains(string(rec.Body), `"title":"Rentrée 2026"`) {
		t.Errorf("region news after the applied proposal = %s, want its proposed title", rec.Body)
	}
	// The author got one notice per decision, listed in their index.
	var idx record.NoticeIndex
	ixRec, ok, _ := tx.Get(uaiA, record.NoticeIndexID(uaiA, teacherA.ID))
	if !ok || json.Unmarshal(ixRec.Body, &idx) != nil || len(idx.Notices) != 2 {
		t.Fatalf("notice index of the teacher = %s, want two notices (item and news applied)", ixRec.Body)
	}
	ixRec, _, _ = tx.Get(uaiA, record.NoticeIndexID(uaiA, staffA.ID))
	if json.Unmarshal(ixRec.Body, &idx) != nil || len(idx.Notices) != 1 {
		t.Fatalf("notice index of the staff member = %s, want one notice (discarded)", ixRec.Body)
	}
	n, _, _ := tx.Get(uaiA, idx.Notices[0])
	if ms, ok := record.NoticeTime(n.ID); n.Kind != record.KindNotice || !ok || ms != t0+23 || !strings.Contains(string(n.Body), `"message":"Le lien actuel est le bon."`) {
		t.Errorf("discard notice = %+v (time %d), want a notice at %d with the reason", n, ms, t0+23)
	}
}

// newDraftService returns a Service at central and one at lycée A's edge
// (origin uaiA) over one in-memory store.
func newDraftService(t *testing.T) (central, edge *ent.Service, st *enttest.Store, clk *clock) {
	t.Helper()
	_, st, clk = newService(t)
	parts := func() ([]string, error) { return []string{record.Region, uaiA, uaiB, "audit:" + uaiA}, nil }
	var err error
	central, err = ent.NewService(ent.ServiceConfig{Store: st, Origin: record.OriginCentral, SessionKey: []byte(strings.Repeat("k", 32)),
		Now: clk.now, Partitions: parts})
	if err != nil {
		t.Fatal(err)
	}
	edge, err = ent.NewService(ent.ServiceConfig{Store: st, Origin: uaiA, SessionKey: []byte(strings.Repeat("e", 32)), Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Submit(t.Context(), record.Command{Origin: record.OriginCentral, Op: ent.OpLyceePut, Partition: uaiA,
		Args: mustJSON(t, ent.LyceeArgs{ID: "01890000-0000-7000-8000-0000000000a9", Lycee: ent.Lycee{UAI: uaiA, Name: "Lycée Thiers", City: "Marseille"}}), Time: t0}); err != nil {
		t.Fatal(err)
	}
	return central, edge, st, clk
}

// The whole journey through the Service: a teacher proposes at the edge,
// the Région agent sees it pending with the item beside it, is warned once
// the item changed since, applies it; a second proposal is discarded with
// a reason; each author reads the decision on their notices.
func TestDraftServiceJourney(t *testing.T) {
	central, edge, _, clk := newDraftService(t)
	ctx := t.Context()
	it, err := central.PublishCatalogue(ctx, regionUser, catLink("", "Annales du bac"))
	if err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(time.Minute)

	if _, err := edge.DraftBase(ctx, studentA, ent.KindCatalogueItem, it.ID); code(err) != "forbidden" {
		t.Errorf("DraftBase(student) = %v, want forbidden", err)
	}
	base, err := edge.DraftBase(ctx, teacherA, ent.KindCatalogueItem, it.ID)
	if err != nil || base.Title != "Annales du bac" || base.Version == 0 {
		t.Fatalf("DraftBase(teacher) = %+v, %v; want the item and its version", base, err)
	}
	same := catLink("", "Annales du bac")
	if _, err := edge.Propose(ctx, teacherA, ent.DraftArgs{Target: it.ID, Kind: ent.KindCatalogueItem, Seen: base.Version, Catalogue: &same}); code(err) != "invalid" {
		t.Errorf("Propose(unchanged) = %v, want invalid", err)
	}
	fixed := catLink("", "Annales du bac 2025")
	fixed.Link = "https://example.org/annales-2025"
	d, err := edge.Propose(ctx, teacherA, ent.DraftArgs{Target: it.ID, Kind: ent.KindCatalogueItem, Seen: base.Version, Catalogue: &fixed})
	if err != nil {
		t.Fatalf("Propose(teacher) = %v", err)
	}
	other := catLink("", "Annales")
	d2, err := edge.Propose(ctx, staffA, ent.DraftArgs{Target: it.ID, Kind: ent.KindCatalogueItem, Seen: base.Version, Catalogue: &other})
	if err != nil {
		t.Fatalf("Propose(staff) = %v", err)
	}
	mine, err := edge.MyDrafts(ctx, teacherA)
	if err != nil || len(mine) != 1 || mine[0].ID != d.ID || mine[0].StateLabel() != "En attente d'examen par la Région" {
		t.Errorf("MyDrafts(teacher) = %+v, %v; want their one pending proposal", mine, err)
	}

	if _, err := central.PendingDrafts(ctx, teacherA); code(err) != "forbidden" {
		t.Errorf("PendingDrafts(teacher) = %v, want forbidden", err)
	}
	pending, err := central.PendingDrafts(ctx, regionUser)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pending {
		got = append(got, p.LyceeName+"|"+p.Author+"|"+p.Title+"|"+p.ProposedTitle())
	}
	want := []string{"Lycée Thiers|Paul Durand|Annales du bac|Annales du bac 2025", "Lycée Thiers|Nadia Benali|Annales du bac|Annales"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PendingDrafts (-want +got):\n%s", diff)
	}
	rv, err := central.ReviewDraft(ctx, regionUser, uaiA, d.ID)
	if err != nil || rv.Changed || rv.Retired || rv.Current.Catalogue.Title != "Annales du bac" {
		t.Errorf("ReviewDraft before any change = %+v, %v; want unchanged, the current item", rv, err)
	}
	// The Région edits the item meanwhile: the review says so.
	clk.t = clk.t.Add(time.Minute)
	edited := catLink(it.ID, "Annales du bac")
	edited.Description = "Sujets et corrigés."
	if _, err := central.UpdateCatalogue(ctx, regionUser, edited); err != nil {
		t.Fatal(err)
	}
	if rv, err = central.ReviewDraft(ctx, regionUser, uaiA, d.ID); err != nil || !rv.Changed {
		t.Errorf("ReviewDraft after the item changed = Changed %v, %v; want true", rv.Changed, err)
	}
	clk.t = clk.t.Add(time.Minute)
	if err := central.ApplyDraft(ctx, teacherA, uaiA, d.ID); code(err) != "forbidden" {
		t.Errorf("ApplyDraft(teacher) = %v, want forbidden", err)
	}
	if err := central.ApplyDraft(ctx, regionUser, uaiA, d.ID); err != nil {
		t.Fatalf("ApplyDraft = %v", err)
	}
	if err := central.DiscardDraft(ctx, regionUser, uaiA, d2.ID, "Le titre actuel est plus précis."); err != nil {
		t.Fatalf("DiscardDraft = %v", err)
	}
	now, err := edge.GetCatalogueItem(ctx, studentA, it.ID)
	if err != nil || now.Title != "Annales du bac 2025" || now.Link != "https://example.org/annales-2025" || now.Description != "Pour réviser." {
		t.Errorf("item after ApplyDraft = %+v, %v; want the proposal's content", now, err)
	}
	if pending, err := central.PendingDrafts(ctx, regionUser); err != nil || len(pending) != 0 {
		t.Errorf("PendingDrafts after the decisions = %d, %v; want none", len(pending), err)
	}

	for _, c := range []struct {
		u          ent.User
		text, link string
		state      string
	}{
		{teacherA, "Votre proposition de modification de « Annales du bac » a été appliquée par la Région.", "/ressources/" + it.ID, ent.DraftApplied},
		{staffA, "Votre proposition de modification de « Annales du bac » n'a pas été retenue : Le titre actuel est plus précis.", "/propositions/" + d2.ID, ent.DraftDiscarded},
	} {
		ns, err := edge.Notices(ctx, c.u)
		if err != nil || len(ns) != 1 || ns[0].Text != c.text || ns[0].Link != c.link || ns[0].Service != "Propositions de modification" || ns[0].Made.IsZero() {
			t.Errorf("Notices(%s) = %+v, %v; want one: %q, link %s", c.u.Login, ns, err, c.text, c.link)
		}
		if n, err := edge.UnreadNotices(ctx, c.u); n != 1 || err != nil {
			t.Errorf("UnreadNotices(%s) = %d, %v; want 1", c.u.Login, n, err)
		}
		mine, err := edge.MyDrafts(ctx, c.u)
		if err != nil || len(mine) != 1 || mine[0].State != c.state || mine[0].DecidedBy != "Anne Lefebvre" {
			t.Errorf("MyDrafts(%s) = %+v, %v; want one, %s by Anne Lefebvre", c.u.Login, mine, err, c.state)
		}
	}
	if _, err := edge.MyDraft(ctx, staffA, d.ID); err != ent.ErrNotFound {
		t.Errorf("MyDraft(another's proposal) = %v, want ErrNotFound", err)
	}
}

// A proposal of a region news item, applied, changes its title and text
// and keeps its author and date.
func TestDraftNews(t *testing.T) {
	central, edge, _, clk := newDraftService(t)
	ctx := t.Context()
	n, err := central.PublishNews(ctx, regionUser, "Rentrée", "Le 1er septembre.", true)
	if err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(time.Minute)
	d, err := edge.Propose(ctx, staffA, ent.DraftArgs{Target: n.ID, Kind: ent.KindNews, News: &ent.DraftNews{Title: "Rentrée 2026", Body: "Le mardi 1er septembre."}})
	if err != nil {
		t.Fatal(err)
	}
	if err := central.ApplyDraft(ctx, regionUser, uaiA, d.ID); err != nil {
		t.Fatal(err)
	}
	got, err := edge.GetNews(ctx, studentA, n.ID)
	if err != nil || got.Title != "Rentrée 2026" || got.Body != "Le mardi 1er septembre." || got.AuthorName != "Anne Lefebvre" || !got.Published.Equal(n.Published) {
		t.Errorf("news after the applied proposal = %+v, %v; want the new title and text, same author and date", got, err)
	}
	ns, _ := edge.Notices(ctx, staffA)
	if len(ns) != 1 || ns[0].Text != "Votre proposition de modification de « Rentrée » a été appliquée par la Région." || ns[0].Link != "/actualites/"+n.ID {
		t.Errorf("Notices(staff) = %+v, want the news proposal applied", ns)
	}
}

// A region item retired after a proposal: the review says so, applying is
// refused, discarding works. A proposal central refuses (the item retired
// while the edge was cut off) reaches its author as a refusal notice that
// names it.
func TestDraftOfRetiredItem(t *testing.T) {
	// The store also takes "test.put": a record as central's state
	// machine writes it (here a refusal notice and its index).
	st := enttest.New(func(tx record.Tx, cmd record.Command) error {
		if cmd.Op == "test.put" {
			var r record.Record
			if err := json.Unmarshal(cmd.Args, &r); err != nil {
				return err
			}
			return tx.Put(r)
		}
		return ent.Exec(tx, cmd)
	})
	for _, u := range fixtureUsers {
		if err := st.Submit(t.Context(), userPut(t, u)); err != nil {
			t.Fatal(err)
		}
	}
	clk := &clock{t: time.UnixMilli(t0).Add(time.Hour)}
	central, err := ent.NewService(ent.ServiceConfig{Store: st, Origin: record.OriginCentral, SessionKey: []byte(strings.Repeat("k", 32)), Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	it, err := central.PublishCatalogue(ctx, regionUser, catLink("", "Annales du bac"))
	if err != nil {
		t.Fatal(err)
	}
	a := proposal("")
	a.Target = it.ID
	d, err := central.Propose(ctx, teacherA, a)
	if err != nil {
		t.Fatal(err)
	}
	if err := central.RetireCatalogue(ctx, regionUser, it.ID); err != nil {
		t.Fatal(err)
	}
	rv, err := central.ReviewDraft(ctx, regionUser, uaiA, d.ID)
	if err != nil || !rv.Retired || rv.Changed {
		t.Errorf("ReviewDraft of a retired item = Retired %v, Changed %v, %v; want retired", rv.Retired, rv.Changed, err)
	}
	if err := central.ApplyDraft(ctx, regionUser, uaiA, d.ID); code(err) != "not_found" {
		t.Errorf("ApplyDraft of a retired item = %v, want not_found", err)
	}
	if err := central.DiscardDraft(ctx, regionUser, uaiA, d.ID, ""); err != nil {
		t.Errorf("DiscardDraft of a retired item = %v", err)
	}

	// Central's refusal of a proposal made at the edge meanwhile.
	a.ID = draft2
	notice := record.Record{Partition: uaiA, ID: "01890000-0000-7000-8000-0000000000f1", Kind: record.KindNotice,
		Body: mustJSON(t, record.Notice{User: teacherA.ID, Op: ent.OpDraftPropose, Code: "not_found",
			Message: "Ce contenu de la Région n'existe plus : il a été retiré.", Seq: 7, Args: mustJSON(t, a)})}
	ids := []string{notice.ID}
	if prev, err := central.Notices(ctx, teacherA); err == nil {
		for _, n := range prev {
			ids = append(ids, n.ID)
		}
	}
	index := record.Record{Partition: uaiA, ID: record.NoticeIndexID(uaiA, teacherA.ID), Kind: record.KindNoticeIndex,
		Body: mustJSON(t, record.NoticeIndex{Notices: ids})}
	for _, r := range []record.Record{notice, index} {
		if err := st.Submit(ctx, record.Command{Origin: record.OriginCentral, Op: "test.put", Partition: r.Partition, Args: mustJSON(t, r), Time: t0}); err != nil {
			t.Fatal(err)
		}
	}
	ns, err := central.Notices(ctx, teacherA)
	want := map[string]string{
		notice.ID: "Votre proposition de modification de « Annales du bac (corrigées) » n'a pas pu être enregistrée par le serveur régional : Ce contenu de la Région n'existe plus : il a été retiré.",
	}
	got := map[string]string{}
	for _, n := range ns {
		if n.ID == notice.ID {
			got[n.ID] = n.Text
		}
	}
	if diff := cmp.Diff(want, got); err != nil || diff != "" {
		t.Errorf("refusal notice of a proposal (-want +got), %v:\n%s", err, diff)
	}
	if len(ns) != 2 || !strings.Contains(ns[0].Text+ns[1].Text, "« Annales du bac » n'a pas été retenue par la Région.") {
		t.Errorf("Notices(teacher) = %+v, want the refusal and the discard without reason", ns)
	}
}
