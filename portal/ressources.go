package portal

import (
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"atrium/ent"
	"atrium/record"
)

// Ressources: the region's catalogue and the lycée's own, pages under
// /ressources, JSON under /api/v1/catalogue (/api/v1/resources is the
// réservation's rooms). ent decides who reads, publishes, edits and
// retires what (catalogue.go); files are stored in the item's partition
// before the item names them, and downloads go through serveFile after
// GetCatalogueItem's rights check.

// ressource is an item as the pages show it.
type ressource struct {
	ent.CatalogueItem
	LevelLabel string
	TypeLabel  string // "PDF", "Image"…; "" for a link
}

// ressourcesPage is what the ressources' templates read.
type ressourcesPage struct {
	*view
	CanPublish bool
	// List.
	Region, Lycee []ressource
	Filtered      bool
	// Read.
	Res     ressource
	CanEdit bool
	// Form (new or edit; Res.ID set when editing).
	Levels      []levelChoice
	Disciplines []string
	Classes     []classChoice
	ForRegion   bool
}

type levelChoice struct{ Value, Label string }

type classChoice struct {
	Name    string
	Checked bool
}

func toRessource(it ent.CatalogueItem) ressource {
	r := ressource{CatalogueItem: it, LevelLabel: ent.LevelLabel(it.Level)}
	if it.File != nil {
		r.TypeLabel = fileTypeLabel(*it.File)
	}
	return r
}

// fileTypeLabel names a file's type as users say it.
func fileTypeLabel(f ent.FileRef) string {
	t, _, _ := mime.ParseMediaType(f.Type)
	switch {
	case t == "application/pdf":
		return "PDF"
	case strings.HasPrefix(t, "image/"):
		return "Image"
	case strings.HasPrefix(t, "audio/"):
		return "Audio"
	case strings.HasPrefix(t, "video/"):
		return "Vidéo"
	case t == "text/plain":
		return "Texte"
	}
	if ext := strings.TrimPrefix(path.Ext(f.Name), "."); ext != "" && len(ext) <= 5 {
		return strings.ToUpper(ext)
	}
	return "Fichier"
}

func (p *Portal) ressourcesPage(r *http.Request, title string, s *session) *ressourcesPage {
	return &ressourcesPage{view: p.newView(r, title, s), CanPublish: ent.CanPublishCatalogue(s.user)}
}

func (p *Portal) ressourcesList(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	f := ent.CatalogueFilter{Discipline: strings.TrimSpace(q.Get("discipline")), Level: q.Get("niveau")}
	region, lycee, err := p.cfg.Service.ListCatalogue(r.Context(), s.user, f)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	disciplines, err := p.cfg.Service.CatalogueDisciplines(r.Context(), s.user)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	pg := p.ressourcesPage(r, "Ressources", s)
	for _, it := range region {
		pg.Region = append(pg.Region, toRessource(it))
	}
	for _, it := range lycee {
		pg.Lycee = append(pg.Lycee, toRessource(it))
	}
	pg.Levels, pg.Disciplines, pg.Filtered = levelChoices(), disciplines, f != (ent.CatalogueFilter{})
	pg.Form["discipline"], pg.Form["niveau"] = f.Discipline, f.Level
	p.render(w, http.StatusOK, "ressources_list", pg)
}

func levelChoices() []levelChoice {
	out := make([]levelChoice, 0, len(ent.CatalogueLevels))
	for _, l := range ent.CatalogueLevels {
		out = append(out, levelChoice{l, ent.LevelLabel(l)})
	}
	return out
}

// ressourceShow renders item {id} for s's user.
func (p *Portal) ressourceRead(w http.ResponseWriter, r *http.Request, s *session) {
	it, err := p.cfg.Service.GetCatalogueItem(r.Context(), s.user, r.PathValue("id"))
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	pg := p.ressourcesPage(r, it.Title, s)
	pg.Res, pg.CanEdit = toRessource(it), ent.CanEditCatalogue(s.user, it)
	p.render(w, http.StatusOK, "ressources_read", pg)
}

// ressourceForm renders the form for a (a.ID set: editing it) with code
// and msg.
func (p *Portal) ressourceForm(w http.ResponseWriter, r *http.Request, s *session, code int, msg string, a ent.CatalogueArgs) {
	if !ent.CanPublishCatalogue(s.user) {
		p.fail(w, r, s, record.Reject("forbidden", "Seuls les enseignants et les personnels du lycée, et les agents de la Région pour le catalogue régional, publient des ressources."))
		return
	}
	classes, err := p.cfg.Service.CatalogueClasses(r.Context(), s.user)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	disciplines, err := p.cfg.Service.CatalogueDisciplines(r.Context(), s.user)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	title := "Nouvelle ressource"
	if a.ID != "" {
		title = "Modifier la ressource"
	}
	pg := p.ressourcesPage(r, title, s)
	pg.Res.ID, pg.Error = a.ID, msg
	pg.Levels, pg.Disciplines = levelChoices(), disciplines
	pg.ForRegion = ent.CataloguePartition(s.user) == record.Region
	for _, c := range classes {
		pg.Classes = append(pg.Classes, classChoice{Name: c, Checked: slices.Contains(a.Classes, c)})
	}
	f := pg.Form
	f["title"], f["description"], f["discipline"], f["level"], f["link"] = a.Title, a.Description, a.Discipline, a.Level, a.Link
	if a.File != nil {
		f["file"] = a.File.Name
	}
	p.render(w, code, "ressources_form", pg)
}

func (p *Portal) ressourceNew(w http.ResponseWriter, r *http.Request, s *session) {
	p.ressourceForm(w, r, s, http.StatusOK, "", ent.CatalogueArgs{Level: ent.LevelAll})
}

// ressourceArgs reads the form's fields (not its file).
func ressourceArgs(r *http.Request) ent.CatalogueArgs {
	f := r.PostForm
	return ent.CatalogueArgs{ID: r.PathValue("id"), Title: f.Get("title"), Description: f.Get("description"),
		Discipline: f.Get("discipline"), Level: f.Get("level"), Classes: f["classes"], Link: strings.TrimSpace(f.Get("link"))}
}

// ressourceSave publishes (no {id}) or edits the posted item, storing its
// file first when one is uploaded.
func (p *Portal) ressourceSave(w http.ResponseWriter, r *http.Request, s *session) {
	a := ressourceArgs(r)
	var err error
	if !ent.CanPublishCatalogue(s.user) {
		err = record.Reject("forbidden", "Seuls les enseignants et les personnels du lycée, et les agents de la Région pour le catalogue régional, publient des ressources.")
	}
	var old ent.CatalogueItem
	if err == nil && a.ID != "" {
		if old, err = p.cfg.Service.GetCatalogueItem(r.Context(), s.user, a.ID); err == nil && !ent.CanEditCatalogue(s.user, old) {
			err = record.Reject("forbidden", "Seuls l'auteur et les personnels du lycée modifient cette ressource.")
		}
	}
	if err == nil {
		var ref ent.FileRef
		var ok bool
		if ref, ok, err = p.storeUpload(r, s, "file", ent.CataloguePartition(s.user)); ok {
			a.File = &ref
			if a.ID != "" && a.Link == old.Link {
				a.Link = "" // a file replaces the link the edit form showed
			}
		}
	}
	var it ent.CatalogueItem
	if err == nil && a.ID == "" {
		it, err = p.cfg.Service.PublishCatalogue(r.Context(), s.user, a)
	} else if err == nil {
		it, err = p.cfg.Service.UpdateCatalogue(r.Context(), s.user, a)
	}
	if err != nil {
		code, msg := status(err)
		if code == http.StatusInternalServerError || code == http.StatusNotFound || code == http.StatusForbidden && !ent.CanPublishCatalogue(s.user) {
			p.fail(w, r, s, err)
			return
		}
		p.ressourceForm(w, r, s, code, msg, a)
		return
	}
	http.Redirect(w, r, "/ressources/"+url.PathEscape(it.ID), http.StatusSeeOther)
}

func (p *Portal) ressourceEdit(w http.ResponseWriter, r *http.Request, s *session) {
	it, err := p.cfg.Service.GetCatalogueItem(r.Context(), s.user, r.PathValue("id"))
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	if !ent.CanEditCatalogue(s.user, it) {
		p.fail(w, r, s, record.Reject("forbidden", "Seuls l'auteur et les personnels du lycée modifient cette ressource."))
		return
	}
	p.ressourceForm(w, r, s, http.StatusOK, "", ent.CatalogueArgs{ID: it.ID, Title: it.Title, Description: it.Description,
		Discipline: it.Discipline, Level: it.Level, Classes: it.Classes, File: it.File, Link: it.Link})
}

func (p *Portal) ressourceRetire(w http.ResponseWriter, r *http.Request, s *session) {
	if err := p.cfg.Service.RetireCatalogue(r.Context(), s.user, r.PathValue("id")); err != nil {
		p.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/ressources", http.StatusSeeOther)
}

// ressourceFile sends the item's file to whoever reads the item.
func (p *Portal) ressourceFile(w http.ResponseWriter, r *http.Request, s *session) {
	it, err := p.cfg.Service.GetCatalogueItem(r.Context(), s.user, r.PathValue("id"))
	if err == nil && it.File == nil {
		err = ent.ErrNotFound // a link, not a file
	}
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	p.serveFile(w, r, s, it.Partition, *it.File)
}

// JSON API.

// apiRessource is an item as the API shows it.
type apiRessource struct {
	ID          string       `json:"id"`
	Catalogue   string       `json:"catalogue"` // "region" or "lycee"
	Title       string       `json:"title"`
	Description string       `json:"description"`
	Discipline  string       `json:"discipline"`
	Level       string       `json:"level"`
	Classes     []string     `json:"classes,omitempty"`
	File        *apiFileInfo `json:"file,omitempty"`
	Link        string       `json:"link,omitempty"`
	Author      string       `json:"author"`
	AuthorID    string       `json:"authorId"`
	Published   string       `json:"published"`
	Updated     string       `json:"updated"`
}

type apiFileInfo struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	URL    string `json:"url"`
}

func toAPIRessource(it ent.CatalogueItem) apiRessource {
	out := apiRessource{ID: it.ID, Catalogue: "lycee", Title: it.Title, Description: it.Description, Discipline: it.Discipline,
		Level: it.Level, Classes: it.Classes, Link: it.Link, Author: it.Author, AuthorID: it.AuthorID,
		Published: it.Published.UTC().Format(time.RFC3339), Updated: it.Updated.UTC().Format(time.RFC3339)}
	if it.Region() {
		out.Catalogue = "region"
	}
	if f := it.File; f != nil {
		out.File = &apiFileInfo{Name: f.Name, Type: f.Type, Size: f.Size, SHA256: f.SHA256, URL: "/api/v1/catalogue/" + it.ID + "/file"}
	}
	return out
}

func toAPIRessources(its []ent.CatalogueItem) []apiRessource {
	out := make([]apiRessource, 0, len(its))
	for _, it := range its {
		out = append(out, toAPIRessource(it))
	}
	return out
}

func (p *Portal) apiCatalogueList(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	region, lycee, err := p.cfg.Service.ListCatalogue(r.Context(), s.user,
		ent.CatalogueFilter{Discipline: q.Get("discipline"), Level: q.Get("level")})
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]apiRessource{"region": toAPIRessources(region), "lycee": toAPIRessources(lycee)})
}

func (p *Portal) apiCatalogueGet(w http.ResponseWriter, r *http.Request, s *session) {
	it, err := p.cfg.Service.GetCatalogueItem(r.Context(), s.user, r.PathValue("id"))
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIRessource(it))
}

// apiRessourceIn is the metadata of a create or an update: the JSON body,
// or the "metadata" part of a multipart body whose "file" part is the
// file.
type apiRessourceIn struct {
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Discipline  string   `json:"discipline"`
	Level       string   `json:"level"`
	Classes     []string `json:"classes"`
	Link        string   `json:"link"`
}

// apiCatalogueArgs reads a create or update request; with a file, it is
// stored first in the partition where s's user publishes.
func (p *Portal) apiCatalogueArgs(w http.ResponseWriter, r *http.Request, s *session) (ent.CatalogueArgs, error) {
	var in apiRessourceIn
	var file *ent.FileRef
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		if !ent.CanPublishCatalogue(s.user) {
			return ent.CatalogueArgs{}, record.Reject("forbidden", "Votre profil ne permet pas de publier des ressources.")
		}
		if err := apiUploadForm(w, r); err != nil {
			return ent.CatalogueArgs{}, err
		}
		dec := json.NewDecoder(strings.NewReader(r.PostForm.Get("metadata")))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			return ent.CatalogueArgs{}, record.Reject("invalid", "Partie metadata : JSON invalide.")
		}
		ref, ok, err := p.storeUpload(r, s, "file", ent.CataloguePartition(s.user))
		if err != nil {
			return ent.CatalogueArgs{}, err
		}
		if ok {
			file = &ref
		}
	} else if err := decodeJSON(w, r, &in); err != nil {
		return ent.CatalogueArgs{}, err
	}
	return ent.CatalogueArgs{ID: r.PathValue("id"), Title: in.Title, Description: in.Description, Discipline: in.Discipline,
		Level: in.Level, Classes: in.Classes, Link: in.Link, File: file}, nil
}

func (p *Portal) apiCatalogueCreate(w http.ResponseWriter, r *http.Request, s *session) {
	a, err := p.apiCatalogueArgs(w, r, s)
	if err == nil {
		var it ent.CatalogueItem
		if it, err = p.cfg.Service.PublishCatalogue(r.Context(), s.user, a); err == nil {
			writeJSON(w, http.StatusCreated, toAPIRessource(it))
			return
		}
	}
	p.apiError(w, r, err)
}

func (p *Portal) apiCatalogueUpdate(w http.ResponseWriter, r *http.Request, s *session) {
	if it, err := p.cfg.Service.GetCatalogueItem(r.Context(), s.user, r.PathValue("id")); err != nil {
		p.apiError(w, r, err) // before storing any file
		return
	} else if !ent.CanEditCatalogue(s.user, it) {
		p.apiError(w, r, record.Reject("forbidden", "Seuls l'auteur et les personnels du lycée modifient cette ressource."))
		return
	}
	a, err := p.apiCatalogueArgs(w, r, s)
	if err == nil {
		var it ent.CatalogueItem
		if it, err = p.cfg.Service.UpdateCatalogue(r.Context(), s.user, a); err == nil {
			writeJSON(w, http.StatusOK, toAPIRessource(it))
			return
		}
	}
	p.apiError(w, r, err)
}

func (p *Portal) apiCatalogueDelete(w http.ResponseWriter, r *http.Request, s *session) {
	if err := p.cfg.Service.RetireCatalogue(r.Context(), s.user, r.PathValue("id")); err != nil {
		p.apiError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (p *Portal) apiCatalogueFile(w http.ResponseWriter, r *http.Request, s *session) {
	it, err := p.cfg.Service.GetCatalogueItem(r.Context(), s.user, r.PathValue("id"))
	if err == nil && it.File == nil {
		err = ent.ErrNotFound
	}
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	p.serveFile(w, r, s, it.Partition, *it.File)
}
