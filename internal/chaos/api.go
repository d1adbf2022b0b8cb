package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"atrium/node"
)

// requestTimeout bounds one API call: past it the answer is lost, and a
// write counts as "maybe".
const requestTimeout = 10 * time.Second

// apiClient calls the nodes' HTTP APIs. Safe for concurrent use.
type apiClient struct {
	hc    *http.Client
	token string // operator token, for node.DigestsPath
}

func newAPIClient(token string) *apiClient {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}
	return &apiClient{hc: &http.Client{Transport: tr, Timeout: requestTimeout}, token: token}
}

func (a *apiClient) close() { a.hc.CloseIdleConnections() }

// outcome is what a write's answer says about it.
type outcome int

const (
	unsent  outcome = iota // never reached a node (connection refused): not a write
	acked                  // 2xx: the node took it
	refused                // 4xx, or a node still starting: the node did not take it
	maybe                  // no answer, or 5xx: it may or may not have been taken
)

func (o outcome) String() string {
	return [...]string{"unsent", "acknowledged", "refused", "maybe"}[o]
}

// response is an API answer.
type response struct {
	status int
	body   []byte
}

// call sends one request; in (if not nil) is sent as JSON. A transport
// error is returned as is (see classify).
func (a *apiClient) call(ctx context.Context, method, url, bearer string, in any) (response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return response{}, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return response{}, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{status: resp.StatusCode}, err
	}
	return response{status: resp.StatusCode, body: b}, nil
}

// classify turns a write's answer into its outcome.
func classify(resp response, err error) outcome {
	switch {
	case err != nil && notSent(err):
		return unsent
	case err != nil:
		return maybe
	case resp.status >= 200 && resp.status < 300:
		return acked
	case resp.status == http.StatusServiceUnavailable && bytes.Contains(resp.body, []byte("démarre")):
		return refused // node.starting: nothing behind it ran
	case resp.status == http.StatusServiceUnavailable && bytes.Contains(resp.body, []byte("Rien n")):
		return refused // record.ErrUnavailable: no leader, nothing written
	case resp.status >= 400 && resp.status < 500:
		return refused
	default:
		return maybe
	}
}

// notSent reports whether err shows the request never reached a node.
func notSent(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// getJSON GETs url and decodes a 200 answer into out.
func (a *apiClient) getJSON(ctx context.Context, url, bearer string, out any) error {
	resp, err := a.call(ctx, http.MethodGet, url, bearer, nil)
	if err != nil {
		return err
	}
	if resp.status != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", url, resp.status, strings.TrimSpace(string(resp.body)))
	}
	if err := json.Unmarshal(resp.body, out); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

// postJSON POSTs in to url and decodes a 2xx answer into out (if not nil).
func (a *apiClient) postJSON(ctx context.Context, url, bearer string, in, out any) error {
	resp, err := a.call(ctx, http.MethodPost, url, bearer, in)
	if err != nil {
		return err
	}
	if resp.status/100 != 2 {
		return fmt.Errorf("POST %s: %d %s", url, resp.status, strings.TrimSpace(string(resp.body)))
	}
	if out != nil {
		return json.Unmarshal(resp.body, out)
	}
	return nil
}

func (a *apiClient) ready(ctx context.Context, base string) error {
	resp, err := a.call(ctx, http.MethodGet, base+"/readyz", "", nil)
	if err != nil {
		return err
	}
	if resp.status != http.StatusOK {
		return fmt.Errorf("readyz: %d %s", resp.status, strings.TrimSpace(string(resp.body)))
	}
	return nil
}

// login opens a session at base and returns its bearer token.
func (a *apiClient) login(ctx context.Context, base, login, password string) (string, error) {
	var s struct {
		Token string `json:"token"`
	}
	err := a.postJSON(ctx, base+"/api/v1/session", "", map[string]string{"login": login, "password": password}, &s)
	return s.Token, err
}

// status is the part of GET /api/v1/status the suite reads.
type status struct {
	Node string `json:"node"`
	Raft *struct {
		State        string `json:"state"`
		AppliedIndex uint64 `json:"applied_index"`
	} `json:"raft"`
	Sync *struct {
		Connected   bool              `json:"connected"`
		Outbox      int               `json:"outbox"`
		Checkpoints map[string]uint64 `json:"checkpoints"`
		Digest      *struct {
			VerifiedSeq uint64 `json:"verified_seq"`
			Mismatches  uint64 `json:"mismatches"`
			Repairs     uint64 `json:"repairs"`
		} `json:"digest"`
	} `json:"sync"`
}

func (a *apiClient) status(ctx context.Context, base string) (status, error) {
	var st status
	err := a.getJSON(ctx, base+"/api/v1/status", "", &st)
	return st, err
}

// digests returns a central node's digests of every partition it holds,
// computed afresh too when recompute.
func (a *apiClient) digests(ctx context.Context, base string, recompute bool) (map[string]node.PartitionDigest, error) {
	url := base + node.DigestsPath
	if recompute {
		url += "?recompute=1"
	}
	var ds []node.PartitionDigest
	if err := a.getJSON(ctx, url, a.token, &ds); err != nil {
		return nil, err
	}
	out := make(map[string]node.PartitionDigest, len(ds))
	for _, d := range ds {
		out[d.Partition] = d
	}
	return out, nil
}
