package admin

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"atrium/ent"
	"atrium/ent/importer"
	"atrium/record"

	"github.com/google/uuid"
)

// Directory imports. `atrium ctl aaf import DIR` sends the set as a tar
// stream of its files to POST /api/v1/admin/directory/imports; the node
// keeps them in a temporary directory, runs the import (package importer)
// and answers with a stream of JSON lines: {"progress": …} as it goes, then
// {"report": …} or {"error": "…"}. One import runs at a time per node.

// maxImportBytes bounds an uploaded set (a region's Complet is ~400 MB).
const maxImportBytes = 8 << 30

// ImportLine is one line of an import's answer.
type ImportLine struct {
	Progress *importer.Progress `json:"progress,omitempty"`
	Report   *importer.Report   `json:"report,omitempty"`
	Error    string             `json:"error,omitempty"`
}

func (a *API) importSet(w http.ResponseWriter, r *http.Request) {
	if !a.importing.TryLock() {
		writeError(w, http.StatusConflict, "an import is already running on this node")
		return
	}
	locked := true
	unlock := func() {
		if locked {
			locked = false
			a.importing.Unlock()
		}
	}
	defer unlock()
	dir, err := os.MkdirTemp(a.cfg.TempDir, "atrium-import-")
	if err != nil {
		writeError(w, http.StatusInternalServerError, "make a directory for the set: "+err.Error())
		return
	}
	defer os.RemoveAll(dir)
	files, err := untar(http.MaxBytesReader(w, r.Body, maxImportBytes), dir)
	if err != nil {
		writeError(w, http.StatusBadRequest, "read the uploaded set: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	send := func(l ImportLine) {
		enc.Encode(l)
		if flusher != nil {
			flusher.Flush()
		}
	}
	opt := importer.Options{
		DryRun:   r.URL.Query().Get("dry_run") == "1",
		Now:      a.cfg.Now(),
		Code:     a.cfg.ActivationCode,
		Progress: func(p importer.Progress) { send(ImportLine{Progress: &p}) },
	}
	rep, err := importer.Run(r.Context(), a.cfg.Cluster, files, opt)
	os.RemoveAll(dir)
	// The next import may start as soon as the caller reads the outcome.
	unlock()
	if err != nil {
		a.cfg.Logger.Warn("directory import failed", "err", err)
		send(ImportLine{Error: err.Error()})
		return
	}
	a.cfg.Logger.Info("directory import done", "id", rep.ID, "dryRun", rep.DryRun, "created", rep.Created,
		"updated", rep.Updated, "disappeared", rep.Disappeared, "rejected", rep.Rejected)
	send(ImportLine{Report: &rep})
}

// untar writes the regular files of a tar stream into dir (base names
// only) and returns them.
func untar(r io.Reader, dir string) ([]importer.File, error) {
	tr := tar.NewReader(r)
	var files []importer.File
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := filepath.Base(filepath.Clean("/" + h.Name))
		if name == "/" || name == "." || strings.HasPrefix(name, ".") {
			return nil, fmt.Errorf("bad file name %q in the set", h.Name)
		}
		path := filepath.Join(dir, name)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("file %s: %w", name, err)
		}
		_, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("file %s: %w", name, err)
		}
		files = append(files, importer.File{Name: name, Open: func() (io.ReadCloser, error) { return os.Open(path) }})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, nil
}

func (a *API) listImports(w http.ResponseWriter, r *http.Request) {
	reps, err := importer.Reports(a.cfg.Cluster, 50)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	if reps == nil {
		reps = []importer.Report{}
	}
	writeJSON(w, http.StatusOK, reps)
}

// The CAS registry.

func (a *API) listCASServices(w http.ResponseWriter, r *http.Request) {
	out := []ent.CASService{}
	err := a.cfg.Cluster.View(func(rd record.Reader) error {
		return rd.Scan(record.Region, ent.KindCASService, func(rec record.Record) error {
			var s ent.CASService
			if err := json.Unmarshal(rec.Body, &s); err != nil {
				return err
			}
			s.ID = rec.ID
			out = append(out, s)
			return nil
		})
	})
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, http.StatusOK, out)
}

func (a *API) putCASService(w http.ResponseWriter, r *http.Request) {
	var s ent.CASService
	if !decode(w, r, &s) {
		return
	}
	id, err := uuid.NewV7()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.ID = id.String()
	a.submitRegistry(w, r.Context(), ent.OpCASServicePut, s)
}

func (a *API) removeCASService(w http.ResponseWriter, r *http.Request) {
	a.submitRegistry(w, r.Context(), ent.OpCASServiceDel, ent.CASService{Name: r.PathValue("name")})
}

func (a *API) submitRegistry(w http.ResponseWriter, ctx context.Context, op string, s ent.CASService) {
	args, err := json.Marshal(s)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	cmd := record.Command{Origin: record.OriginCentral, Op: op, Partition: record.Region, Args: args, Time: a.cfg.Now().UnixMilli()}
	if err := a.cfg.Cluster.Submit(ctx, cmd); err != nil {
		status := http.StatusServiceUnavailable
		if rej, ok := record.AsRejection(err); ok {
			status = http.StatusBadRequest
			if rej.Code == "not_found" {
				status = http.StatusNotFound
			}
		}
		writeError(w, status, err.Error())
		return
	}
	a.cfg.Logger.Info("CAS registry changed by operator", "op", op, "service", s.Name)
	writeJSON(w, http.StatusOK, s)
}

// listUsers lists a lycée's accounts (?uai=…; "region" for Région staff),
// without their password or activation hashes.
func (a *API) listUsers(w http.ResponseWriter, r *http.Request) {
	part := r.URL.Query().Get("uai")
	if part == "" {
		writeError(w, http.StatusBadRequest, "uai is required (a lycée's UAI, or region)")
		return
	}
	out := []ent.User{}
	err := a.cfg.Cluster.View(func(rd record.Reader) error {
		return rd.Scan(part, ent.KindUser, func(rec record.Record) error {
			var u ent.User
			if err := json.Unmarshal(rec.Body, &u); err != nil {
				return fmt.Errorf("decode user %s: %w", rec.ID, err)
			}
			u.PasswordHash, u.ActivationHash = "", ""
			out = append(out, u)
			return nil
		})
	})
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Login < out[j].Login })
	writeJSON(w, http.StatusOK, out)
}
