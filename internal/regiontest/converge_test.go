package regiontest_test

import (
	"fmt"
	"testing"
	"time"

	"atrium/internal/regiontest"
)

// edgeSettled waits until the edge of lycée uai keeps no undo entry
// (edge/undo.go): central's feed has settled every command made there,
// taking back the records of those central refused.
func edgeSettled(t *testing.T, r *regiontest.Region, uai string) {
	t.Helper()
	regiontest.Eventually(t, 20*time.Second, func() error {
		seqs, err := r.Edge(uai).Node.Store().UndoPending()
		if err != nil || len(seqs) != 0 {
			return fmt.Errorf("undo entries pending at the edge of %s = %v, %v; want none", uai, seqs, err)
		}
		return nil
	})
}
