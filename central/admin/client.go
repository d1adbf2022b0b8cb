package admin

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"atrium/central"
	"atrium/ent"
	"atrium/ent/importer"
	"atrium/record"
	"atrium/replication"
)

// Client calls a central node's operator API, for `atrium ctl` and the
// demo. Safe for concurrent use.
type Client struct {
	Server string // base URL of any central node, e.g. http://127.0.0.1:8080
	Token  string // operator token
	HTTP   *http.Client
}

// AddEdge issues a one-time enrolment token for the lycée uai.
func (c *Client) AddEdge(ctx context.Context, uai string) (EdgeToken, error) {
	var t EdgeToken
	err := c.do(ctx, http.MethodPost, "/api/v1/admin/edges", map[string]string{"uai": uai}, &t)
	return t, err
}

// Edges lists the edges central has seen and their sync state.
func (c *Client) Edges(ctx context.Context) ([]replication.EdgeStatus, error) {
	var e []replication.EdgeStatus
	err := c.do(ctx, http.MethodGet, "/api/v1/admin/edges", nil, &e)
	return e, err
}

// Nodes lists the central cluster's members.
func (c *Client) Nodes(ctx context.Context) ([]central.Member, error) {
	var m []central.Member
	err := c.do(ctx, http.MethodGet, "/api/v1/admin/nodes", nil, &m)
	return m, err
}

// RemoveNode removes a central node from the cluster.
func (c *Client) RemoveNode(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/admin/nodes/"+url.PathEscape(name), nil, nil)
}

// Commands submits system commands.
func (c *Client) Commands(ctx context.Context, cmds []record.Command) (CommandsResult, error) {
	var res CommandsResult
	err := c.do(ctx, http.MethodPost, "/api/v1/admin/commands", cmds, &res)
	return res, err
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.Server, "/")+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 2 * time.Minute}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s %s: %s (%s)", method, path, e.Error, resp.Status)
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// ImportFiles sends the AAF files (and agricultural CSV files) of paths to
// the cluster as one set and returns the run's report; progress, when set,
// receives the run's progress lines. dryRun computes the report without
// writing anything.
func (c *Client) ImportFiles(ctx context.Context, paths []string, dryRun bool, progress func(importer.Progress)) (importer.Report, error) {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		for _, p := range paths {
			if err := addToTar(tw, p); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(tw.Close())
	}()
	path := "/api/v1/admin/directory/imports"
	if dryRun {
		path += "?dry_run=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.Server, "/")+path, pr)
	if err != nil {
		pr.Close()
		return importer.Report{}, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Content-Type", "application/x-tar")
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{} // an import of a region takes minutes: no overall timeout
	}
	resp, err := hc.Do(req)
	if err != nil {
		return importer.Report{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return importer.Report{}, fmt.Errorf("import: %s (%s)", e.Error, resp.Status)
		}
		return importer.Report{}, fmt.Errorf("import: %s", resp.Status)
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var l ImportLine
		if err := dec.Decode(&l); err != nil {
			if errors.Is(err, io.EOF) {
				return importer.Report{}, errors.New("import: the node closed the answer without a report")
			}
			return importer.Report{}, fmt.Errorf("import: read answer: %w", err)
		}
		switch {
		case l.Error != "":
			return importer.Report{}, errors.New(l.Error)
		case l.Report != nil:
			return *l.Report, nil
		case l.Progress != nil && progress != nil:
			progress(*l.Progress)
		}
	}
}

func addToTar(tw *tar.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: filepath.Base(path), Mode: 0o600, Size: st.Size(), ModTime: st.ModTime(), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

// Imports lists the stored reports of directory imports, newest first.
func (c *Client) Imports(ctx context.Context) ([]importer.Report, error) {
	var r []importer.Report
	err := c.do(ctx, http.MethodGet, "/api/v1/admin/directory/imports", nil, &r)
	return r, err
}

// CASServices lists the CAS registry.
func (c *Client) CASServices(ctx context.Context) ([]ent.CASService, error) {
	var s []ent.CASService
	err := c.do(ctx, http.MethodGet, "/api/v1/admin/cas/services", nil, &s)
	return s, err
}

// PutCASService adds a service to the CAS registry, or changes the one of
// that name.
func (c *Client) PutCASService(ctx context.Context, s ent.CASService) error {
	return c.do(ctx, http.MethodPost, "/api/v1/admin/cas/services", s, nil)
}

// RemoveCASService removes a service from the CAS registry.
func (c *Client) RemoveCASService(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/admin/cas/services/"+url.PathEscape(name), nil, nil)
}

// Users lists the accounts of a lycée (uai) or of the Région ("region"),
// without their hashes.
func (c *Client) Users(ctx context.Context, uai string) ([]ent.User, error) {
	var u []ent.User
	err := c.do(ctx, http.MethodGet, "/api/v1/admin/users?uai="+url.QueryEscape(uai), nil, &u)
	return u, err
}
