package central

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"atrium/record"
)

// Calls between central nodes: a follower forwards a proposal to the
// leader, which applies it and answers with the raft index and the state
// machine's result. The body of /internal/v1/apply is the raft entry
// itself. Every call carries the cluster key as a bearer token.

const (
	pathApply  = "/internal/v1/apply"
	pathRemove = "/internal/v1/remove"
	maxBody    = 64 << 20
)

type applyReply struct {
	Index  uint64     `json:"index"`
	Result *result    `json:"result,omitempty"`
	Error  *wireError `json:"error,omitempty"`
}

// InternalHandler serves the calls other central nodes make to this one;
// mount it at /internal/v1/.
func (n *Node) InternalHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+pathApply, n.authorised(n.handleApply))
	mux.HandleFunc("POST "+pathRemove, n.authorised(n.handleRemove))
	return mux
}

func writeReply(w http.ResponseWriter, code int, r applyReply) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(r)
}

func (n *Node) authorised(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok, err := n.secrets()
		if err != nil || !ok {
			writeReply(w, http.StatusServiceUnavailable, applyReply{Error: toWire(ErrNoSecrets)})
			return
		}
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		want := hex.EncodeToString(s.ClusterKey)
		if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			writeReply(w, http.StatusUnauthorized, applyReply{Error: toWire(ErrUnauthorized)})
			return
		}
		h(w, r)
	}
}

func (n *Node) handleApply(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(data) > maxBody {
		writeReply(w, http.StatusBadRequest, applyReply{Error: toWire(fmt.Errorf("%w: body unreadable or too large", ErrCorrupt))})
		return
	}
	en, err := decodeEntry(data)
	if err != nil || en.Type == entrySetSecrets {
		writeReply(w, http.StatusBadRequest, applyReply{Error: toWire(fmt.Errorf("%w: entry not accepted: %v", ErrCorrupt, err))})
		return
	}
	res, index, err := n.applyLocal(data)
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, ErrNotLeader) {
			code = http.StatusMisdirectedRequest
		}
		writeReply(w, code, applyReply{Error: toWire(err)})
		return
	}
	writeReply(w, http.StatusOK, applyReply{Index: index, Result: res})
}

func (n *Node) handleRemove(w http.ResponseWriter, r *http.Request) {
	if err := n.removeLocal(r.URL.Query().Get("name")); err != nil {
		code := http.StatusInternalServerError
		switch {
		case errors.Is(err, ErrUnknownNode):
			code = http.StatusNotFound
		case errors.Is(err, ErrNodeAlive):
			code = http.StatusConflict
		case errors.Is(err, ErrNotLeader):
			code = http.StatusMisdirectedRequest
		}
		writeReply(w, code, applyReply{Error: toWire(err)})
		return
	}
	writeReply(w, http.StatusOK, applyReply{})
}

// call posts body to a peer and decodes its reply. sent reports whether
// the request may have reached the peer.
func (n *Node) call(ctx context.Context, target string, body []byte) (reply applyReply, sent bool, err error) {
	s, ok, err := n.secrets()
	if err != nil {
		return reply, false, err
	}
	if !ok {
		return reply, false, ErrNoSecrets
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return reply, false, fmt.Errorf("central: forward: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+hex.EncodeToString(s.ClusterKey))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := n.client.Do(req)
	if err != nil {
		if isDialError(err) {
			return reply, false, fmt.Errorf("central: forward to leader: %w", err)
		}
		return reply, true, fmt.Errorf("central: forward to leader: %w (%w)", record.ErrOutcomeUnknown, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&reply); err != nil {
		return reply, true, fmt.Errorf("central: forward to leader: status %d, bad reply: %w (%w)", resp.StatusCode, record.ErrOutcomeUnknown, err)
	}
	if reply.Error != nil {
		return reply, true, reply.Error.err()
	}
	if resp.StatusCode != http.StatusOK {
		return reply, true, fmt.Errorf("central: forward to leader: status %d", resp.StatusCode)
	}
	return reply, true, nil
}

// isDialError reports whether the request failed before reaching the peer.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// forward sends a proposal to the leader at url. retry reports whether the
// caller may try again: the entry surely was not applied, or applying it
// twice is harmless.
func (n *Node) forward(ctx context.Context, base string, data []byte, idempotent bool) (*result, uint64, error, bool) {
	reply, sent, err := n.call(ctx, strings.TrimRight(base, "/")+pathApply, data)
	if err != nil {
		if errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNoSecrets) || !sent {
			return nil, 0, err, true
		}
		if ctx.Err() != nil {
			return nil, 0, err, false
		}
		return nil, 0, err, idempotent && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnauthorized)
	}
	if reply.Result == nil {
		return nil, 0, errors.New("central: forward to leader: reply without result"), false
	}
	return reply.Result, reply.Index, nil, false
}

// forwardRemove asks the leader at base to remove name. sent reports
// whether the request may have reached it.
func (n *Node) forwardRemove(ctx context.Context, base, name string) (sent bool, err error) {
	_, sent, err = n.call(ctx, strings.TrimRight(base, "/")+pathRemove+"?name="+url.QueryEscape(name), nil)
	return sent, err
}
