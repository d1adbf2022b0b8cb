package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"atrium/ent"
	"atrium/record"
)

// Proposals of modification in the JSON API (docs/api.md, "Proposals of
// modification"): the author's side under /api/v1/proposals, Région
// staff's under /api/v1/region/proposals. The handlers call the Service
// methods the pages call (drafts.go); ent decides who may do what.

// Target kinds as the API names them.
const (
	apiKindCatalogue = "catalogue"
	apiKindNews      = "news"
)

// apiProposalTarget is the region record a proposal amends.
type apiProposalTarget struct {
	Kind  string `json:"kind"` // apiKindCatalogue or apiKindNews
	ID    string `json:"id"`
	Title string `json:"title"` // its title when the proposal was made
	// Version is the version of the record the author saw.
	Version uint64 `json:"version"`
}

// apiProposalCatalogue is the content of a catalogue item: proposed (Link
// "": the item keeps its own file or link) or current (File: its file's
// name).
type apiProposalCatalogue struct {
	Title       string `json:"title"`
	Description string `json:"description"`
	Discipline  string `json:"discipline"`
	Level       string `json:"level"`
	Link        string `json:"link,omitempty"`
	File        string `json:"file,omitempty"`
}

// apiProposalNews is the content of a news item.
type apiProposalNews struct {
	Title string `json:"title"`
	Body  string `json:"body"`
}

// apiProposal is a proposal as its author reads it.
type apiProposal struct {
	ID        string            `json:"id"`
	UAI       string            `json:"uai"`
	Target    apiProposalTarget `json:"target"`
	Proposed  any               `json:"proposed"` // *apiProposalCatalogue or *apiProposalNews
	Status    string            `json:"status"`   // ent.DraftPending, DraftApplied or DraftDiscarded
	Reason    string            `json:"reason,omitempty"`
	DecidedBy string            `json:"decidedBy,omitempty"`
	Decided   string            `json:"decided,omitempty"`
	Author    string            `json:"author"`
	AuthorID  string            `json:"authorId"`
	Made      string            `json:"made"`
}

// apiProposalReview is a proposal as Région staff examine it.
type apiProposalReview struct {
	apiProposal
	Lycee string `json:"lycee"` // the lycée's name
	// Current is the record's content now; null when it was retired.
	Current any  `json:"current"`
	Changed bool `json:"changed"` // pending, and the record changed since the author saw it
	Retired bool `json:"retired"` // the record is gone: discard only
}

func apiKind(kind string) string {
	if kind == ent.KindNews {
		return apiKindNews
	}
	return apiKindCatalogue
}

func toAPIProposal(d ent.Draft) apiProposal {
	a := apiProposal{ID: d.ID, UAI: d.Partition, Target: apiProposalTarget{Kind: apiKind(d.Kind), ID: d.Target, Title: d.Title, Version: d.Seen},
		Status: d.State, Reason: d.Reason, DecidedBy: d.DecidedBy, Author: d.Author, AuthorID: d.AuthorID, Made: rfc3339(d.Proposed)}
	switch {
	case d.News != nil:
		a.Proposed = &apiProposalNews{Title: d.News.Title, Body: d.News.Body}
	case d.Catalogue != nil:
		c := d.Catalogue
		a.Proposed = &apiProposalCatalogue{Title: c.Title, Description: c.Description, Discipline: c.Discipline, Level: c.Level, Link: c.Link}
	}
	if !d.Decided.IsZero() {
		a.Decided = rfc3339(d.Decided)
	}
	return a
}

func toAPIProposalReview(rv ent.DraftReview) apiProposalReview {
	a := apiProposalReview{apiProposal: toAPIProposal(rv.Draft), Lycee: rv.LyceeName,
		Changed: rv.Changed && rv.Pending(), Retired: rv.Retired}
	switch cur := rv.Current; {
	case rv.Retired:
	case cur.News != nil:
		a.Current = &apiProposalNews{Title: cur.News.Title, Body: cur.News.Body}
	case cur.Catalogue != nil:
		it := cur.Catalogue
		c := &apiProposalCatalogue{Title: it.Title, Description: it.Description, Discipline: it.Discipline, Level: it.Level, Link: it.Link}
		if it.File != nil {
			c.File = it.File.Name
		}
		a.Current = c
	}
	return a
}

// apiProposalIn is the body of POST /api/v1/proposals; Proposed is read
// by the target's kind (proposalArgs).
type apiProposalIn struct {
	Target struct {
		Kind string `json:"kind"`
		ID   string `json:"id"`
	} `json:"target"`
	Proposed json.RawMessage `json:"proposed"`
}

// proposalArgs turns a request body into the proposal's arguments, or
// refuses it ("invalid") naming what is wrong.
func proposalArgs(in apiProposalIn) (ent.DraftArgs, error) {
	a := ent.DraftArgs{Target: in.Target.ID}
	if in.Target.ID == "" {
		return a, record.Reject("invalid", "Indiquez le contenu de la Région à modifier (target.id).")
	}
	if len(bytes.TrimSpace(in.Proposed)) == 0 || bytes.Equal(bytes.TrimSpace(in.Proposed), []byte("null")) {
		return a, record.Reject("invalid", "Indiquez les champs proposés (proposed).")
	}
	dec := json.NewDecoder(bytes.NewReader(in.Proposed))
	dec.DisallowUnknownFields()
	switch in.Target.Kind {
	case apiKindCatalogue:
		var c apiProposalCatalogue
		if err := dec.Decode(&c); err != nil || c.File != "" {
			return a, record.Reject("invalid", "Champs proposés illisibles pour une ressource (title, description, discipline, level, link).")
		}
		a.Kind = ent.KindCatalogueItem
		a.Catalogue = &ent.CatalogueArgs{Title: c.Title, Description: c.Description, Discipline: c.Discipline, Level: c.Level, Link: c.Link}
	case apiKindNews:
		var n apiProposalNews
		if err := dec.Decode(&n); err != nil {
			return a, record.Reject("invalid", "Champs proposés illisibles pour une actualité (title, body).")
		}
		a.Kind = ent.KindNews
		a.News = &ent.DraftNews{Title: n.Title, Body: n.Body}
	default:
		return a, record.Reject("invalid", "Type de contenu inconnu (target.kind) : « catalogue » ou « news ».")
	}
	return a, nil
}

// apiProposalList: GET /api/v1/proposals, the caller's proposals.
func (p *Portal) apiProposalList(w http.ResponseWriter, r *http.Request, s *session) {
	ds, err := p.cfg.Service.MyDrafts(r.Context(), s.user)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	out := make([]apiProposal, 0, len(ds))
	for _, d := range ds {
		out = append(out, toAPIProposal(d))
	}
	writeJSON(w, http.StatusOK, out)
}

// apiProposalPost: POST /api/v1/proposals.
func (p *Portal) apiProposalPost(w http.ResponseWriter, r *http.Request, s *session) {
	var in apiProposalIn
	if err := decodeJSON(w, r, &in); err != nil {
		p.apiError(w, r, err)
		return
	}
	a, err := proposalArgs(in)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	d, err := p.cfg.Service.Propose(r.Context(), s.user, a)
	p.nav.forgetProposalCount()
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toAPIProposal(d))
}

// pendingReviews returns the pending proposals of every lycée, each
// beside the region record as it is now: what /region/propositions lists,
// with what its pages for each proposal show.
func (p *Portal) pendingReviews(ctx context.Context, u ent.User) ([]ent.DraftReview, error) {
	ds, err := p.cfg.Service.PendingDrafts(ctx, u)
	if err != nil {
		return nil, err
	}
	out := make([]ent.DraftReview, 0, len(ds))
	for _, d := range ds {
		rv, err := p.cfg.Service.ReviewDraft(ctx, u, d.Partition, d.ID)
		if errors.Is(err, ent.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if rv.Pending() { // not decided since the list was read
			out = append(out, rv)
		}
	}
	return out, nil
}

// apiRegionProposalList: GET /api/v1/region/proposals (Région staff).
func (p *Portal) apiRegionProposalList(w http.ResponseWriter, r *http.Request, s *session) {
	_, _, gen := p.nav.proposalCount()
	rvs, err := p.pendingReviews(r.Context(), s.user)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	p.nav.setProposalCount(gen, len(rvs))
	out := make([]apiProposalReview, 0, len(rvs))
	for _, rv := range rvs {
		out = append(out, toAPIProposalReview(rv))
	}
	writeJSON(w, http.StatusOK, out)
}

// apiProposalApply: POST /api/v1/region/proposals/{uai}/{id}/apply {}.
func (p *Portal) apiProposalApply(w http.ResponseWriter, r *http.Request, s *session) {
	var in struct{}
	p.apiDecide(w, r, s, &in, func() error {
		return p.cfg.Service.ApplyDraft(r.Context(), s.user, r.PathValue("uai"), r.PathValue("id"))
	})
}

// apiProposalDiscard: POST /api/v1/region/proposals/{uai}/{id}/discard
// {"reason": "…"} (reason optional, as on the page).
func (p *Portal) apiProposalDiscard(w http.ResponseWriter, r *http.Request, s *session) {
	var in struct {
		Reason string `json:"reason"`
	}
	p.apiDecide(w, r, s, &in, func() error {
		return p.cfg.Service.DiscardDraft(r.Context(), s.user, r.PathValue("uai"), r.PathValue("id"), in.Reason)
	})
}

// apiDecide reads the body into in, runs the decision and answers the
// proposal as it now is.
func (p *Portal) apiDecide(w http.ResponseWriter, r *http.Request, s *session, in any, decide func() error) {
	if err := decodeJSON(w, r, in); err != nil {
		p.apiError(w, r, err)
		return
	}
	err := decide()
	p.nav.forgetProposalCount()
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	rv, err := p.cfg.Service.ReviewDraft(r.Context(), s.user, r.PathValue("uai"), r.PathValue("id"))
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIProposalReview(rv))
}
