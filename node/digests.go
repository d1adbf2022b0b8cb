package node

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
)

// DigestsPath is where a central node serves the convergence digests of
// the partitions it holds, to the operator token: GET, optionally
// ?partition=P (one partition) and &recompute=1 (also compute each digest
// afresh from the records, a full scan). The chaos suite
// (internal/chaos) compares them across the central nodes and with the
// edges'.
const DigestsPath = "/internal/v1/digests"

// PartitionDigest is one partition's digest as a central node holds it.
type PartitionDigest struct {
	Partition string `json:"partition"`
	Seq       uint64 `json:"seq"`    // the partition's last sequence the digest covers
	Digest    string `json:"digest"` // hex
	// Recomputed is the digest computed from the records, when asked for
	// and when no change committed meanwhile (Seq unchanged); it equals
	// Digest unless the stored digest went wrong.
	Recomputed string `json:"recomputed,omitempty"`
}

// digestsHandler serves DigestsPath. It reads the node's own state (no
// forwarding to the leader): a follower answers what it applied.
func (c *Central) digestsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.cfg.OperatorToken == "" {
			writeDigestsError(w, http.StatusNotFound, "API d'exploitation désactivée sur ce nœud.")
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(c.cfg.OperatorToken)) != 1 {
			writeDigestsError(w, http.StatusUnauthorized, "Jeton d'exploitation manquant ou incorrect.")
			return
		}
		parts := []string{r.URL.Query().Get("partition")}
		if parts[0] == "" {
			var err error
			if parts, err = c.Node.Partitions(); err != nil {
				c.log.Error("list partitions for digests", "err", err)
				writeDigestsError(w, http.StatusInternalServerError, "Une erreur interne est survenue.")
				return
			}
		}
		recompute := r.URL.Query().Get("recompute") == "1"
		out := make([]PartitionDigest, 0, len(parts))
		for _, p := range parts {
			d, seq, err := c.Node.Digest(p)
			if err != nil {
				c.log.Error("read partition digest", "partition", p, "err", err)
				writeDigestsError(w, http.StatusInternalServerError, "Une erreur interne est survenue.")
				return
			}
			pd := PartitionDigest{Partition: p, Seq: seq, Digest: d.String()}
			if recompute {
				fresh, err := c.Node.RecomputeDigest(p)
				if err != nil {
					c.log.Error("recompute partition digest", "partition", p, "err", err)
					writeDigestsError(w, http.StatusInternalServerError, "Une erreur interne est survenue.")
					return
				}
				// Two transactions: keep the figure only if nothing
				// committed in between.
				if again, seq2, err := c.Node.Digest(p); err == nil && seq2 == seq && again == d {
					pd.Recomputed = fresh.String()
				}
			}
			out = append(out, pd)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	})
}

func writeDigestsError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
