package portal

import (
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	"atrium/ent"
	"atrium/record"
)

// Files in pages: forms that upload a file (multipart) and downloads.

// maxUpload bounds a multipart form: one file of ent.MaxFileSize and its
// few fields. Parts above uploadMemory wait in temporary files.
const (
	maxUpload    = ent.MaxFileSize + 1<<20
	uploadMemory = 1 << 20
)

// parsePost reads a posted form, urlencoded (at most maxForm) or multipart
// (at most maxUpload), so that r.PostForm holds its fields either way.
func parsePost(w http.ResponseWriter, r *http.Request) error {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "multipart/form-data" {
		r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
		return r.ParseMultipartForm(uploadMemory)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	return r.ParseForm()
}

// apiUploadForm reads a multipart upload of the API. It needs the token
// in the Authorization header, which no cross-site form can send: a
// cookie alone does not upload (a cross-site form may post multipart
// without a preflight, so the JSON API's content-type check does not
// protect it).
func apiUploadForm(w http.ResponseWriter, r *http.Request) error {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		return record.Reject("forbidden", "Un dépôt par l'API exige le jeton de session (Authorization: Bearer).")
	}
	if err := parsePost(w, r); err != nil || r.MultipartForm == nil {
		return record.Reject("invalid", "Le corps de la requête doit être un formulaire multipart/form-data avec un champ file.")
	}
	return nil
}

// storeUpload stores the file posted in the form field into partition on
// behalf of s's user. ok=false when the form carries no file there.
func (p *Portal) storeUpload(r *http.Request, s *session, field, partition string) (ref ent.FileRef, ok bool, err error) {
	if r.MultipartForm == nil {
		return ent.FileRef{}, false, nil
	}
	f, h, err := r.FormFile(field)
	if errors.Is(err, http.ErrMissingFile) {
		return ent.FileRef{}, false, nil
	}
	if err != nil {
		return ent.FileRef{}, false, record.Reject("invalid", "Fichier illisible.")
	}
	defer f.Close()
	if h.Size == 0 {
		return ent.FileRef{}, false, nil
	}
	ref, err = p.cfg.Service.StoreFile(r.Context(), s.user, partition, h.Filename, uploadType(h), f)
	return ref, err == nil, err
}

// uploadType is the media type a browser declared for an upload, or
// application/octet-stream when it declared none or an invalid one.
func uploadType(h *multipart.FileHeader) string {
	t, params, err := mime.ParseMediaType(h.Header.Get("Content-Type"))
	if err != nil || t == "" {
		return "application/octet-stream"
	}
	return mime.FormatMediaType(t, params)
}

// inlineTypes are shown in the browser; everything else downloads, so that
// no uploaded document runs in the portal's origin.
var inlineTypes = map[string]bool{
	"application/pdf": true, "image/png": true, "image/jpeg": true, "image/gif": true,
	"image/webp": true, "text/plain": true, "audio/mpeg": true, "video/mp4": true,
}

// serveFile sends the file ref of partition (ranges included, so that a
// broken download resumes). The caller has checked that the user may read
// the record naming it. A file whose chunks have not all reached this
// node yet answers 503 with a French page saying so.
func (p *Portal) serveFile(w http.ResponseWriter, r *http.Request, s *session, partition string, ref ent.FileRef) {
	if have, err := p.cfg.Service.FileChunksHere(partition, ref); err != nil {
		p.fail(w, r, s, err)
		return
	} else if have < len(ref.Chunks) {
		w.Header().Set("Retry-After", "60")
		v := p.newView(r, "Fichier en cours de transfert", s)
		v.Error = fmt.Sprintf("Ce fichier arrive encore sur ce serveur (%d morceaux sur %d) : réessayez dans quelques minutes.", have, len(ref.Chunks))
		p.render(w, http.StatusServiceUnavailable, "error", v)
		return
	}
	t, _, _ := mime.ParseMediaType(ref.Type)
	disposition := "attachment"
	if inlineTypes[t] {
		disposition = "inline"
	} else {
		t = "application/octet-stream"
	}
	if strings.HasPrefix(t, "text/") {
		t += "; charset=utf-8"
	}
	h := w.Header()
	h.Set("Content-Type", t)
	h.Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": ref.Name}))
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, max-age=3600")
	h.Set("ETag", `"`+ref.SHA256+`"`)
	http.ServeContent(w, r, "", time.Time{}, p.cfg.Service.OpenFile(partition, ref))
}

// sizeText writes a file size the French way: "12,5 Mo", "830 Ko".
func sizeText(n int64) string {
	switch {
	case n >= 1<<20:
		return strings.Replace(fmt.Sprintf("%.1f Mo", float64(n)/(1<<20)), ".", ",", 1)
	case n >= 1<<10:
		return fmt.Sprintf("%d Ko", n>>10)
	}
	return fmt.Sprintf("%d octets", n)
}
