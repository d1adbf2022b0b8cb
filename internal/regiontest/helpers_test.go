package regiontest_test

import (
	"context"
	"encoding/json"
	"testing"

	"atrium/central"
	"atrium/internal/regiontest"
	"atrium/record"
)

func ctxWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithCancel(t.Context())
}

func jsonUnmarshal(b []byte, v any) {
	if err := json.Unmarshal(b, v); err != nil {
		panic(err)
	}
}

// refusalNotices returns central's notices of the refused commands of op in lycée
// uai, each as "code message", or "user code message" when withUser: what
// the commands' authors are told.
func refusalNotices(r *regiontest.Region, uai, op string, withUser bool) ([]string, error) {
	var out []string
	err := r.AnyCentral().Node.View(func(rd record.Reader) error {
		return rd.Scan(uai, central.KindNotice, func(rec record.Record) error {
			var n struct{ User, Op, Code, Message string }
			if err := json.Unmarshal(rec.Body, &n); err != nil {
				return err
			}
			if n.Op != op {
				return nil
			}
			s := n.Code + " " + n.Message
			if withUser {
				s = n.User + " " + s
			}
			out = append(out, s)
			return nil
		})
	})
	return out, err
}
