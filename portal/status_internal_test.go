package portal

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"atrium/record"
)

// A write central could not take, or whose fate was lost with the leader,
// is told to its author as such (503), not as an internal error.
func TestStatusOfStoreFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		code int
		says string
	}{
		{"no leader", fmt.Errorf("central: no leader: %w", record.ErrUnavailable), http.StatusServiceUnavailable, "Rien n'a été enregistré"},
		{"leader lost", fmt.Errorf("central: forward to leader: %w (EOF)", record.ErrOutcomeUnknown), http.StatusServiceUnavailable, "vérifiez si votre envoi a bien été pris en compte"},
		{"anything else", errors.New("disk full"), http.StatusInternalServerError, "Une erreur interne"},
	} {
		code, msg := status(tc.err)
		if code != tc.code || !strings.Contains(msg, tc.says) {
			t.Errorf("%s: status(%v) = %d %q, want %d and a message with %q", tc.name, tc.err, code, msg, tc.code, tc.says)
		}
	}
}
