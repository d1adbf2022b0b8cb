package portal

import (
	"net/http"
	"net/url"
	"strconv"

	"atrium/ent"
	"atrium/record"
)

// Gestion de parc (the lycée's inventory): pages under /parc, JSON under
// /api/v1/assets. The lycée's staff record and change assets; its
// teachers read the inventory; nobody else sees it.

// assetView is what the inventory's templates read: the common view and
// the assets.
type assetView struct {
	*view
	Assets    []ent.Asset
	Asset     ent.Asset
	Current   *ent.Asset // the asset as it is now, when a change was refused
	Kinds     []ent.Choice
	States    []ent.Choice
	Kind      string // the list's filters, "" for all
	State     string
	Editing   bool // the form changes Asset (else it records a new one)
	CanManage bool // the lycée's staff: create and change
}

func (p *Portal) assetView(r *http.Request, title string, s *session) *assetView {
	return &assetView{view: p.newView(r, title, s), Kinds: ent.AssetKinds(), States: ent.AssetStates(),
		CanManage: ent.CanManageAssets(s.user)}
}

// errNoParc refuses the inventory to those who do not read it.
func errNoParc() error {
	return record.Reject("forbidden", "Le parc informatique est réservé aux personnels et aux enseignants du lycée.")
}

// assetForm reads the fields of the asset form.
func assetForm(f url.Values) ent.AssetFields {
	return ent.AssetFields{Number: f.Get("number"), Kind: f.Get("kind"), Model: f.Get("model"),
		Location: f.Get("location"), State: f.Get("state"), Purchased: f.Get("purchased")}
}

func fillAssetForm(form map[string]string, a ent.AssetFields) {
	form["number"], form["kind"], form["model"] = a.Number, a.Kind, a.Model
	form["location"], form["state"], form["purchased"] = a.Location, a.State, a.Purchased
}

func (p *Portal) assetList(w http.ResponseWriter, r *http.Request, s *session) {
	if !ent.CanSeeAssets(s.user) {
		p.fail(w, r, s, errNoParc())
		return
	}
	kind, state := r.URL.Query().Get("type"), r.URL.Query().Get("etat")
	if ent.AssetKindLabel(kind) == kind {
		kind = "" // unknown: every kind
	}
	if ent.AssetStateLabel(state) == state {
		state = ""
	}
	as, err := p.cfg.Service.ListAssets(r.Context(), s.user, kind, state)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	v := p.assetView(r, "Parc informatique", s)
	v.Assets, v.Kind, v.State = as, kind, state
	p.render(w, http.StatusOK, "parc_list", v)
}

func (p *Portal) assetNew(w http.ResponseWriter, r *http.Request, s *session) {
	if !ent.CanManageAssets(s.user) {
		p.fail(w, r, s, record.Reject("forbidden", "Seuls les personnels du lycée enregistrent le matériel du parc."))
		return
	}
	v := p.assetView(r, "Enregistrer un matériel", s)
	v.Form["state"] = ent.AssetInService
	p.render(w, http.StatusOK, "parc_form", v)
}

func (p *Portal) assetCreatePost(w http.ResponseWriter, r *http.Request, s *session) {
	in := assetForm(r.PostForm)
	a, err := p.cfg.Service.CreateAsset(r.Context(), s.user, in)
	if err != nil {
		code, msg := status(err)
		if code == http.StatusInternalServerError || code == http.StatusForbidden {
			p.fail(w, r, s, err)
			return
		}
		v := p.assetView(r, "Enregistrer un matériel", s)
		v.Error = msg
		fillAssetForm(v.Form, in)
		p.render(w, code, "parc_form", v)
		return
	}
	http.Redirect(w, r, "/parc/"+url.PathEscape(a.ID), http.StatusSeeOther)
}

func (p *Portal) assetRead(w http.ResponseWriter, r *http.Request, s *session) {
	a, err := p.cfg.Service.GetAsset(r.Context(), s.user, r.PathValue("id"))
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	v := p.assetView(r, a.Number+" · "+a.Model, s)
	v.Asset = a
	p.render(w, http.StatusOK, "parc_read", v)
}

func (p *Portal) assetEdit(w http.ResponseWriter, r *http.Request, s *session) {
	if !ent.CanManageAssets(s.user) {
		p.fail(w, r, s, record.Reject("forbidden", "Seuls les personnels du lycée modifient le matériel du parc."))
		return
	}
	a, err := p.cfg.Service.GetAsset(r.Context(), s.user, r.PathValue("id"))
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	v := p.assetView(r, "Modifier "+a.Number, s)
	v.Asset, v.Editing = a, true
	fillAssetForm(v.Form, a.AssetFields)
	p.render(w, http.StatusOK, "parc_form", v)
}

// assetUpdatePost changes an asset from the revision the form was read
// at. A refusal shows the form again with what the user typed; a conflict
// also shows the asset as it is now, and the next post starts from it.
func (p *Portal) assetUpdatePost(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	in := assetForm(r.PostForm)
	base, err := strconv.Atoi(r.PostForm.Get("base"))
	if err != nil {
		base = -1 // refused below as a conflict
	}
	a, err := p.cfg.Service.UpdateAsset(r.Context(), s.user, id, base, in)
	if err == nil {
		http.Redirect(w, r, "/parc/"+url.PathEscape(a.ID), http.StatusSeeOther)
		return
	}
	code, msg := status(err)
	if code == http.StatusInternalServerError || code == http.StatusForbidden || code == http.StatusNotFound {
		p.fail(w, r, s, err)
		return
	}
	cur, gerr := p.cfg.Service.GetAsset(r.Context(), s.user, id)
	if gerr != nil {
		p.fail(w, r, s, gerr)
		return
	}
	v := p.assetView(r, "Modifier "+cur.Number, s)
	v.Asset, v.Editing, v.Error = cur, true, msg
	if code == http.StatusConflict {
		v.Current = &cur
	} else {
		v.Asset.Revision = base
	}
	fillAssetForm(v.Form, in)
	v.Form["number"] = cur.Number
	p.render(w, code, "parc_form", v)
}

// JSON API.

type apiAssetChange struct {
	Revision int      `json:"revision"`
	By       string   `json:"by"`
	At       string   `json:"at"`
	What     []string `json:"what"`
}

type apiAsset struct {
	ID        string           `json:"id"`
	Number    string           `json:"number"`
	Kind      string           `json:"kind"`
	Model     string           `json:"model"`
	Location  string           `json:"location"`
	State     string           `json:"state"`
	Purchased string           `json:"purchased,omitempty"`
	Revision  int              `json:"revision"`
	Updated   string           `json:"updated"`
	History   []apiAssetChange `json:"history,omitempty"`
}

func toAPIAsset(a ent.Asset, history bool) apiAsset {
	out := apiAsset{ID: a.ID, Number: a.Number, Kind: a.Kind, Model: a.Model, Location: a.Location, State: a.State,
		Purchased: a.Purchased, Revision: a.Revision, Updated: rfc3339(a.Updated())}
	if history {
		out.History = []apiAssetChange{}
		for _, c := range a.History {
			out.History = append(out.History, apiAssetChange{Revision: c.Revision, By: c.ByName, At: rfc3339(c.At), What: c.What})
		}
	}
	return out
}

func (p *Portal) apiAssetList(w http.ResponseWriter, r *http.Request, s *session) {
	if !ent.CanSeeAssets(s.user) {
		p.apiError(w, r, errNoParc())
		return
	}
	q := r.URL.Query()
	as, err := p.cfg.Service.ListAssets(r.Context(), s.user, q.Get("kind"), q.Get("state"))
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	out := make([]apiAsset, 0, len(as))
	for _, a := range as {
		out = append(out, toAPIAsset(a, false))
	}
	writeJSON(w, http.StatusOK, out)
}

func (p *Portal) apiAssetCreate(w http.ResponseWriter, r *http.Request, s *session) {
	var in ent.AssetFields
	if err := decodeJSON(w, r, &in); err != nil {
		p.apiError(w, r, err)
		return
	}
	a, err := p.cfg.Service.CreateAsset(r.Context(), s.user, in)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toAPIAsset(a, true))
}

func (p *Portal) apiAssetGet(w http.ResponseWriter, r *http.Request, s *session) {
	a, err := p.cfg.Service.GetAsset(r.Context(), s.user, r.PathValue("id"))
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIAsset(a, true))
}

func (p *Portal) apiAssetUpdate(w http.ResponseWriter, r *http.Request, s *session) {
	var in struct {
		Base *int `json:"base"`
		ent.AssetFields
	}
	if err := decodeJSON(w, r, &in); err != nil {
		p.apiError(w, r, err)
		return
	}
	if in.Base == nil {
		p.apiError(w, r, record.Reject("invalid", "Indiquez « base » : la révision de la fiche que vous modifiez."))
		return
	}
	a, err := p.cfg.Service.UpdateAsset(r.Context(), s.user, r.PathValue("id"), *in.Base, in.AssetFields)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIAsset(a, true))
}
