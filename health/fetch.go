package health

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// FetchStatus reads a node's GET /api/v1/status at base (its HTTP URL), as
// operators' tools and the central nodes' edge list do: the status and the
// body as the node served it (at most 1 MiB). An answer other than 200 or
// a body that is not a Status is an error.
func FetchStatus(ctx context.Context, base string) (Status, []byte, error) {
	var st Status
	url := strings.TrimRight(base, "/") + "/api/v1/status"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return st, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return st, nil, fmt.Errorf("%s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return st, nil, fmt.Errorf("%s answered %s", url, resp.Status)
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, nil, fmt.Errorf("%s: %w", url, err)
	}
	return st, body, nil
}
