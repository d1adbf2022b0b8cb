package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"atrium/central"
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
