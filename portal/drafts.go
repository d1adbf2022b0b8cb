package portal

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"atrium/ent"
)

// Propositions de modification: a lycée's teacher or staff member proposes
// a correction of a region catalogue item (/ressources/{id}/proposer) or
// of a region news item (/actualites/{id}/proposer), at their edge cut off
// or not, and follows their proposals at /propositions. Région staff
// examine the pending proposals of every lycée at /region/propositions,
// each beside the item as it is now, and apply or discard them. ent
// decides who may do what (drafts.go); the decision reaches the author as
// a notice at /avis.

// draftsPage is what the drafts_* templates read.
type draftsPage struct {
	*view
	// Form: the region record proposed from.
	Base     ent.DraftBase
	Action   string // the form's path
	Levels   []levelChoice
	FileName string // the item's file, kept as it is
	// The author's pages.
	Drafts []ent.Draft
	Draft  ent.Draft
	Sent   bool // just recorded: the confirmation
	// Région staff's pages.
	Pending []ent.DraftReview
	Review  ent.DraftReview
	// Rows are the proposal's fields beside the record's values now.
	Rows []draftRow
	Done string // the decision just taken, as a sentence
}

// draftRow is a field of a proposal beside the record's value now.
type draftRow struct {
	Label, Current, Proposed string
	Changed                  bool
}

func (p *Portal) draftsPage(r *http.Request, title string, s *session) *draftsPage {
	return &draftsPage{view: p.newView(r, title, s)}
}

// draftForm renders the proposal form for the record {id} of kind, with
// code and msg, prefilled from posted (nil: the record as it is).
func (p *Portal) draftForm(w http.ResponseWriter, r *http.Request, s *session, kind string, code int, msg string, posted *ent.DraftArgs) {
	base, err := p.cfg.Service.DraftBase(r.Context(), s.user, kind, r.PathValue("id"))
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	pg := p.draftsPage(r, "Proposer une modification", s)
	pg.Base, pg.Error = base, msg
	f := pg.Form
	f["seen"] = strconv.FormatUint(base.Version, 10)
	if posted != nil && posted.Seen != 0 {
		f["seen"] = strconv.FormatUint(posted.Seen, 10) // what the author saw first
	}
	if kind == ent.KindNews {
		pg.Action = "/actualites/" + url.PathEscape(base.ID) + "/proposer"
		n := ent.DraftNews{Title: base.News.Title, Body: base.News.Body}
		if posted != nil && posted.News != nil {
			n = *posted.News
		}
		f["title"], f["body"] = n.Title, n.Body
		p.render(w, code, "drafts_form", pg)
		return
	}
	it := base.Catalogue
	pg.Action = "/ressources/" + url.PathEscape(base.ID) + "/proposer"
	pg.Levels = levelChoices()
	if it.File != nil {
		pg.FileName = it.File.Name
	}
	c := ent.CatalogueArgs{Title: it.Title, Description: it.Description, Discipline: it.Discipline, Level: it.Level, Link: it.Link}
	if posted != nil && posted.Catalogue != nil {
		c = *posted.Catalogue
	}
	f["title"], f["description"], f["discipline"], f["level"], f["link"] = c.Title, c.Description, c.Discipline, c.Level, c.Link
	p.render(w, code, "drafts_form", pg)
}

func (p *Portal) draftCatalogueForm(w http.ResponseWriter, r *http.Request, s *session) {
	p.draftForm(w, r, s, ent.KindCatalogueItem, http.StatusOK, "", nil)
}

func (p *Portal) draftNewsForm(w http.ResponseWriter, r *http.Request, s *session) {
	p.draftForm(w, r, s, ent.KindNews, http.StatusOK, "", nil)
}

func (p *Portal) draftCataloguePost(w http.ResponseWriter, r *http.Request, s *session) {
	p.draftPost(w, r, s, ent.KindCatalogueItem)
}

func (p *Portal) draftNewsPost(w http.ResponseWriter, r *http.Request, s *session) {
	p.draftPost(w, r, s, ent.KindNews)
}

// draftArgs reads the posted proposal for the record {id} of kind.
func draftArgs(r *http.Request, kind string) ent.DraftArgs {
	f := r.PostForm
	seen, _ := strconv.ParseUint(f.Get("seen"), 10, 64)
	a := ent.DraftArgs{Target: r.PathValue("id"), Kind: kind, Seen: seen}
	if kind == ent.KindNews {
		a.News = &ent.DraftNews{Title: f.Get("title"), Body: f.Get("body")}
		return a
	}
	a.Catalogue = &ent.CatalogueArgs{Title: f.Get("title"), Description: f.Get("description"), Discipline: f.Get("discipline"),
		Level: f.Get("level"), Link: strings.TrimSpace(f.Get("link"))}
	return a
}

// draftPost records the posted proposal and shows it with the
// confirmation; a refused one shows the form again with the reason, but
// a user who may not propose gets the error page.
func (p *Portal) draftPost(w http.ResponseWriter, r *http.Request, s *session, kind string) {
	a := draftArgs(r, kind)
	d, err := p.cfg.Service.Propose(r.Context(), s.user, a)
	p.nav.forgetProposalCount()
	if err != nil {
		code, msg := status(err)
		if code == http.StatusInternalServerError || code == http.StatusNotFound || code == http.StatusForbidden ||
			code == http.StatusServiceUnavailable {
			p.fail(w, r, s, err)
			return
		}
		p.draftForm(w, r, s, kind, code, msg, &a)
		return
	}
	http.Redirect(w, r, "/propositions/"+url.PathEscape(d.ID)+"?envoyee=1", http.StatusSeeOther)
}

// draftMine lists the user's proposals.
func (p *Portal) draftMine(w http.ResponseWriter, r *http.Request, s *session) {
	ds, err := p.cfg.Service.MyDrafts(r.Context(), s.user)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	pg := p.draftsPage(r, "Mes propositions", s)
	pg.Drafts = ds
	p.render(w, http.StatusOK, "drafts_mine", pg)
}

// draftRead shows one of the user's proposals; ?envoyee=1 with the
// confirmation that it was recorded.
func (p *Portal) draftRead(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := p.cfg.Service.MyDraft(r.Context(), s.user, r.PathValue("id"))
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	pg := p.draftsPage(r, "Proposition de modification", s)
	pg.Draft, pg.Sent = d, r.URL.Query().Get("envoyee") == "1"
	pg.Rows = draftRows(ent.DraftBase{}, d)
	p.render(w, http.StatusOK, "drafts_read", pg)
}

// draftPending lists, for Région staff, the pending proposals of every
// lycée; ?fait= says which decision was just taken.
func (p *Portal) draftPending(w http.ResponseWriter, r *http.Request, s *session) {
	_, _, gen := p.nav.proposalCount()
	ds, err := p.cfg.Service.PendingDrafts(r.Context(), s.user)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	p.nav.setProposalCount(gen, len(ds)) // the navigation counts what the page lists
	pg := p.draftsPage(r, "Propositions des lycées", s)
	pg.Pending = ds
	switch r.URL.Query().Get("fait") {
	case "appliquee":
		pg.Done = "La proposition a été appliquée : le contenu de la Région est modifié, et son auteur en est averti."
	case "ecartee":
		pg.Done = "La proposition a été écartée, et son auteur en est averti."
	}
	p.render(w, http.StatusOK, "drafts_pending", pg)
}

// draftReview shows a proposal beside the record as it is now, with the
// forms to apply or discard it.
func (p *Portal) draftReview(w http.ResponseWriter, r *http.Request, s *session) {
	p.renderReview(w, r, s, http.StatusOK, "")
}

func (p *Portal) renderReview(w http.ResponseWriter, r *http.Request, s *session, code int, msg string) {
	rv, err := p.cfg.Service.ReviewDraft(r.Context(), s.user, r.PathValue("uai"), r.PathValue("id"))
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	pg := p.draftsPage(r, "Proposition de "+rv.Author, s)
	pg.Review, pg.Error = rv, msg
	pg.Rows = draftRows(rv.Current, rv.Draft)
	if msg != "" {
		pg.Form["reason"] = r.PostForm.Get("reason")
	}
	p.render(w, code, "drafts_review", pg)
}

func (p *Portal) draftApplyPost(w http.ResponseWriter, r *http.Request, s *session) {
	p.draftDecide(w, r, s, "appliquee", func() error {
		return p.cfg.Service.ApplyDraft(r.Context(), s.user, r.PathValue("uai"), r.PathValue("id"))
	})
}

func (p *Portal) draftDiscardPost(w http.ResponseWriter, r *http.Request, s *session) {
	p.draftDecide(w, r, s, "ecartee", func() error {
		return p.cfg.Service.DiscardDraft(r.Context(), s.user, r.PathValue("uai"), r.PathValue("id"), r.PostForm.Get("reason"))
	})
}

// draftDecide runs a decision and goes back to the list; a decision
// refused by the rules (taken meanwhile, the item retired) shows the
// proposal again with the reason.
func (p *Portal) draftDecide(w http.ResponseWriter, r *http.Request, s *session, done string, decide func() error) {
	err := decide()
	p.nav.forgetProposalCount()
	if err != nil {
		code, msg := status(err)
		if code == http.StatusBadRequest || code == http.StatusConflict || code == http.StatusNotFound && ent.CanReviewDrafts(s.user) {
			p.renderReview(w, r, s, code, msg)
			return
		}
		p.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/region/propositions?fait="+done, http.StatusSeeOther)
}

// draftRows lays the proposal d beside base, the record now (zero: the
// proposal alone).
func draftRows(base ent.DraftBase, d ent.Draft) []draftRow {
	var rows []draftRow
	add := func(label, current, proposed string) {
		rows = append(rows, draftRow{Label: label, Current: current, Proposed: proposed,
			Changed: (base.Catalogue != nil || base.News != nil) && current != proposed})
	}
	switch {
	case d.News != nil:
		var cur ent.News
		if base.News != nil {
			cur = *base.News
		}
		add("Titre", cur.Title, d.News.Title)
		add("Texte", cur.Body, d.News.Body)
	case d.Catalogue != nil:
		var cur ent.CatalogueItem
		if base.Catalogue != nil {
			cur = *base.Catalogue
		}
		c := d.Catalogue
		add("Titre", cur.Title, c.Title)
		add("Description", cur.Description, c.Description)
		add("Discipline", cur.Discipline, c.Discipline)
		add("Niveau", levelText(cur.Level), levelText(c.Level))
		curRes := cur.Link
		if cur.File != nil {
			curRes = "Fichier " + cur.File.Name
		}
		proposed := c.Link
		if proposed == "" {
			proposed = curRes // the item keeps its file or link
			if base.Catalogue == nil {
				proposed = "Inchangé"
			}
		}
		add("Fichier ou lien", curRes, proposed)
	}
	return rows
}

func levelText(l string) string {
	if l == "" {
		return ""
	}
	return ent.LevelLabel(l)
}
