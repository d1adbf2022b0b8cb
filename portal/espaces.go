package portal

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"atrium/ent"
	"atrium/record"
)

// The espaces collaboratifs: pages under /espaces, JSON under
// /api/v1/spaces. A class space is addressed like any other by its id,
// ent.ClassSpaceID(uai, class), a UUID derived from the lycée and the
// class: stable at central and at every edge without any record. ent
// decides who is a member and who deletes (espaces.go); every page and
// download checks membership through it before it shows anything.

// spacePage is what the espaces' templates read.
type spacePage struct {
	*view
	HasSpaces bool
	CanCreate bool
	// List.
	Spaces []spaceRow
	// Space and document.
	Space     spaceRow
	Folders   []spaceFolder
	Document  ent.SpaceDocument
	CanDelete bool
	// Creation form.
	Candidates []spaceCandidate
}

// spaceRow is a space with its kind in French.
type spaceRow struct {
	ent.Space
	KindText string
}

// spaceFolder is a folder of a space and its documents.
type spaceFolder struct {
	Name      string
	Documents []ent.SpaceDocument
}

// spaceCandidate is a user the group form offers, checked or not.
type spaceCandidate struct {
	ID, Label string
	Checked   bool
}

func newSpaceRow(sp ent.Space) spaceRow {
	return spaceRow{Space: sp, KindText: ent.SpaceKindLabel(sp.Kind)}
}

func (p *Portal) spacePage(r *http.Request, title string, s *session) *spacePage {
	return &spacePage{view: p.newView(r, title, s), HasSpaces: ent.HasSpaces(s.user), CanCreate: ent.CanCreateSpace(s.user)}
}

func spacePath(id string) string { return "/espaces/" + url.PathEscape(id) }

func documentPath(spaceID, docID string) string {
	return spacePath(spaceID) + "/documents/" + url.PathEscape(docID)
}

func (p *Portal) spaceList(w http.ResponseWriter, r *http.Request, s *session) {
	spaces, err := p.cfg.Service.ListSpaces(r.Context(), s.user)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	pg := p.spacePage(r, "Espaces collaboratifs", s)
	for _, sp := range spaces {
		pg.Spaces = append(pg.Spaces, newSpaceRow(sp))
	}
	p.render(w, http.StatusOK, "espaces_list", pg)
}

// spaceNewPage is the creation form for s's user; checked are the members
// already chosen.
func (p *Portal) spaceNewPage(r *http.Request, s *session, checked []string) (*spacePage, error) {
	users, err := p.cfg.Service.SpaceCandidates(r.Context(), s.user)
	if err != nil {
		return nil, err
	}
	pg := p.spacePage(r, "Nouvel espace", s)
	for _, u := range users {
		label := u.Name + " (" + ent.ProfileLabel(u.Profile)
		if u.Profile == ent.Student && len(u.Classes) > 0 {
			label += ", " + strings.Join(u.Classes, ", ")
		}
		pg.Candidates = append(pg.Candidates, spaceCandidate{ID: u.ID, Label: label + ")", Checked: slices.Contains(checked, u.ID)})
	}
	return pg, nil
}

func (p *Portal) spaceNew(w http.ResponseWriter, r *http.Request, s *session) {
	if !ent.CanCreateSpace(s.user) {
		p.fail(w, r, s, record.Reject("forbidden", "Seuls les enseignants et les personnels du lycée créent des espaces."))
		return
	}
	pg, err := p.spaceNewPage(r, s, nil)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	pg.Form["kind"] = ent.SpaceGroup
	p.render(w, http.StatusOK, "espaces_form", pg)
}

func (p *Portal) spaceCreate(w http.ResponseWriter, r *http.Request, s *session) {
	f := r.PostForm
	a := ent.SpaceArgs{Kind: f.Get("kind"), Name: f.Get("name"), Members: f["members"]}
	sp, err := p.cfg.Service.CreateSpace(r.Context(), s.user, a)
	if err != nil {
		code, msg := status(err)
		if code == http.StatusInternalServerError || !ent.CanCreateSpace(s.user) {
			p.fail(w, r, s, err)
			return
		}
		pg, perr := p.spaceNewPage(r, s, a.Members)
		if perr != nil {
			p.fail(w, r, s, perr)
			return
		}
		pg.Error = msg
		pg.Form["kind"], pg.Form["name"] = a.Kind, a.Name
		p.render(w, code, "espaces_form", pg)
		return
	}
	http.Redirect(w, r, spacePath(sp.ID), http.StatusSeeOther)
}

// folders groups documents (sorted by folder) by folder.
func folders(docs []ent.SpaceDocument) []spaceFolder {
	var out []spaceFolder
	for _, d := range docs {
		if len(out) == 0 || out[len(out)-1].Name != d.Folder {
			out = append(out, spaceFolder{Name: d.Folder})
		}
		out[len(out)-1].Documents = append(out[len(out)-1].Documents, d)
	}
	return out
}

// renderSpace renders space {id}'s page with code; msg is the deposit
// form's error and form what it shows.
func (p *Portal) renderSpace(w http.ResponseWriter, r *http.Request, s *session, code int, msg string, form map[string]string) {
	sp, docs, err := p.cfg.Service.GetSpace(r.Context(), s.user, r.PathValue("id"))
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	pg := p.spacePage(r, sp.Name, s)
	pg.Space, pg.Folders, pg.Error = newSpaceRow(sp), folders(docs), msg
	for k, v := range form {
		pg.Form[k] = v
	}
	p.render(w, code, "espaces_read", pg)
}

func (p *Portal) spaceRead(w http.ResponseWriter, r *http.Request, s *session) {
	p.renderSpace(w, r, s, http.StatusOK, "", nil)
}

// upload stores the form's "file" into s's lycée; a form without a file
// is an "invalid" refusal.
func (p *Portal) upload(r *http.Request, s *session) (ent.FileRef, error) {
	ref, ok, err := p.storeUpload(r, s, "file", s.user.UAI)
	if err == nil && !ok {
		err = record.Reject("invalid", "Choisissez le fichier à déposer.")
	}
	return ref, err
}

func (p *Portal) spaceDeposit(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if _, err := p.cfg.Service.MemberSpace(r.Context(), s.user, id); err != nil {
		p.fail(w, r, s, err) // a non-member stores nothing
		return
	}
	f := r.PostForm
	ref, err := p.upload(r, s)
	var d ent.SpaceDocument
	if err == nil {
		d, err = p.cfg.Service.DepositSpaceDocument(r.Context(), s.user, id, f.Get("folder"), f.Get("description"), ref)
	}
	if err != nil {
		code, msg := status(err)
		if code != http.StatusBadRequest {
			p.fail(w, r, s, err)
			return
		}
		p.renderSpace(w, r, s, code, msg, map[string]string{"folder": f.Get("folder"), "description": f.Get("description")})
		return
	}
	http.Redirect(w, r, documentPath(id, d.ID), http.StatusSeeOther)
}

func (p *Portal) renderDocument(w http.ResponseWriter, r *http.Request, s *session, code int, msg string) {
	sp, d, err := p.cfg.Service.GetSpaceDocument(r.Context(), s.user, r.PathValue("id"), r.PathValue("doc"))
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	pg := p.spacePage(r, d.Name(), s)
	pg.Space, pg.Document, pg.Error = newSpaceRow(sp), d, msg
	pg.CanDelete = ent.CanDeleteSpaceDocument(s.user, sp, d)
	p.render(w, code, "espaces_document", pg)
}

func (p *Portal) spaceDocument(w http.ResponseWriter, r *http.Request, s *session) {
	p.renderDocument(w, r, s, http.StatusOK, "")
}

func (p *Portal) spaceVersionPost(w http.ResponseWriter, r *http.Request, s *session) {
	id, doc := r.PathValue("id"), r.PathValue("doc")
	if _, _, err := p.cfg.Service.GetSpaceDocument(r.Context(), s.user, id, doc); err != nil {
		p.fail(w, r, s, err)
		return
	}
	ref, err := p.upload(r, s)
	if err == nil {
		_, err = p.cfg.Service.AddSpaceVersion(r.Context(), s.user, id, doc, ref)
	}
	if err != nil {
		code, msg := status(err)
		if code != http.StatusBadRequest {
			p.fail(w, r, s, err)
			return
		}
		p.renderDocument(w, r, s, code, msg)
		return
	}
	http.Redirect(w, r, documentPath(id, doc), http.StatusSeeOther)
}

func (p *Portal) spaceDelete(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if err := p.cfg.Service.DeleteSpaceDocument(r.Context(), s.user, id, r.PathValue("doc")); err != nil {
		p.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, spacePath(id), http.StatusSeeOther)
}

// spaceVersion returns the version {v} of document {doc} of space {id}
// after the membership check.
func (p *Portal) spaceVersion(r *http.Request, s *session) (ent.SpaceVersion, error) {
	_, d, err := p.cfg.Service.GetSpaceDocument(r.Context(), s.user, r.PathValue("id"), r.PathValue("doc"))
	if err != nil {
		return ent.SpaceVersion{}, err
	}
	for _, v := range d.Versions {
		if v.ID == r.PathValue("v") {
			return v, nil
		}
	}
	return ent.SpaceVersion{}, ent.ErrNotFound
}

func (p *Portal) spaceDownload(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := p.spaceVersion(r, s)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	p.serveFile(w, r, s, s.user.UAI, v.File)
}

// The API's shapes.
type apiSpace struct {
	ID        string   `json:"id"`
	Kind      string   `json:"kind"`
	Name      string   `json:"name"`
	Class     string   `json:"class,omitempty"`
	CreatorID string   `json:"creatorId,omitempty"`
	Creator   string   `json:"creator,omitempty"`
	Members   []string `json:"members,omitempty"`
	Documents int      `json:"documents"`
}

type apiSpaceVersion struct {
	ID       string `json:"id"`
	Number   int    `json:"number"`
	Name     string `json:"name"`
	Type     string `json:"type"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
	Author   string `json:"author"`
	AuthorID string `json:"authorId"`
	Created  string `json:"created"`
	URL      string `json:"url"`
}

type apiSpaceDocument struct {
	ID          string            `json:"id"`
	Folder      string            `json:"folder"`
	Description string            `json:"description"`
	Depositor   string            `json:"depositor"`
	DepositorID string            `json:"depositorId"`
	Created     string            `json:"created"`
	Versions    []apiSpaceVersion `json:"versions"` // the latest first
}

func toAPISpace(sp ent.Space) apiSpace {
	return apiSpace{ID: sp.ID, Kind: sp.Kind, Name: sp.Name, Class: sp.Class, CreatorID: sp.CreatorID,
		Creator: sp.Creator, Members: sp.Members, Documents: sp.Documents}
}

func toAPISpaceVersion(spaceID string, v ent.SpaceVersion) apiSpaceVersion {
	return apiSpaceVersion{ID: v.ID, Number: v.Number, Name: v.File.Name, Type: v.File.Type, Size: v.File.Size,
		SHA256: v.File.SHA256, Author: v.Author, AuthorID: v.AuthorID, Created: rfc3339(v.Created),
		URL: "/api/v1/spaces/" + url.PathEscape(spaceID) + "/documents/" + url.PathEscape(v.DocumentID) + "/versions/" + url.PathEscape(v.ID)}
}

func toAPISpaceDocument(d ent.SpaceDocument) apiSpaceDocument {
	out := apiSpaceDocument{ID: d.ID, Folder: d.Folder, Description: d.Description, Depositor: d.Depositor,
		DepositorID: d.DepositorID, Created: rfc3339(d.Created), Versions: make([]apiSpaceVersion, 0, len(d.Versions))}
	for _, v := range d.Versions {
		out.Versions = append(out.Versions, toAPISpaceVersion(d.SpaceID, v))
	}
	return out
}

func (p *Portal) apiSpaceList(w http.ResponseWriter, r *http.Request, s *session) {
	spaces, err := p.cfg.Service.ListSpaces(r.Context(), s.user)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	out := make([]apiSpace, 0, len(spaces))
	for _, sp := range spaces {
		out = append(out, toAPISpace(sp))
	}
	writeJSON(w, http.StatusOK, out)
}

func (p *Portal) apiSpaceCreate(w http.ResponseWriter, r *http.Request, s *session) {
	var in struct {
		Kind    string   `json:"kind"`
		Name    string   `json:"name"`
		Members []string `json:"members"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		p.apiError(w, r, err)
		return
	}
	sp, err := p.cfg.Service.CreateSpace(r.Context(), s.user, ent.SpaceArgs{Kind: in.Kind, Name: in.Name, Members: in.Members})
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toAPISpace(sp))
}

func (p *Portal) apiSpaceGet(w http.ResponseWriter, r *http.Request, s *session) {
	sp, docs, err := p.cfg.Service.GetSpace(r.Context(), s.user, r.PathValue("id"))
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	out := struct {
		Space     apiSpace           `json:"space"`
		Documents []apiSpaceDocument `json:"documents"`
	}{Space: toAPISpace(sp), Documents: make([]apiSpaceDocument, 0, len(docs))}
	for _, d := range docs {
		out.Documents = append(out.Documents, toAPISpaceDocument(d))
	}
	writeJSON(w, http.StatusOK, out)
}

func (p *Portal) apiSpaceDocumentGet(w http.ResponseWriter, r *http.Request, s *session) {
	_, d, err := p.cfg.Service.GetSpaceDocument(r.Context(), s.user, r.PathValue("id"), r.PathValue("doc"))
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPISpaceDocument(d))
}

func (p *Portal) apiSpaceDeposit(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if _, err := p.cfg.Service.MemberSpace(r.Context(), s.user, id); err != nil {
		p.apiError(w, r, err)
		return
	}
	if err := apiUploadForm(w, r); err != nil {
		p.apiError(w, r, err)
		return
	}
	ref, err := p.upload(r, s)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	d, err := p.cfg.Service.DepositSpaceDocument(r.Context(), s.user, id, r.PostForm.Get("folder"), r.PostForm.Get("description"), ref)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toAPISpaceDocument(d))
}

func (p *Portal) apiSpaceVersion(w http.ResponseWriter, r *http.Request, s *session) {
	id, doc := r.PathValue("id"), r.PathValue("doc")
	if _, _, err := p.cfg.Service.GetSpaceDocument(r.Context(), s.user, id, doc); err != nil {
		p.apiError(w, r, err)
		return
	}
	if err := apiUploadForm(w, r); err != nil {
		p.apiError(w, r, err)
		return
	}
	ref, err := p.upload(r, s)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	v, err := p.cfg.Service.AddSpaceVersion(r.Context(), s.user, id, doc, ref)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toAPISpaceVersion(id, v))
}

func (p *Portal) apiSpaceDelete(w http.ResponseWriter, r *http.Request, s *session) {
	if err := p.cfg.Service.DeleteSpaceDocument(r.Context(), s.user, r.PathValue("id"), r.PathValue("doc")); err != nil {
		p.apiError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (p *Portal) apiSpaceDownload(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := p.spaceVersion(r, s)
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	p.serveFile(w, r, s, s.user.UAI, v.File)
}
