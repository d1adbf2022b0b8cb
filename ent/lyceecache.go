package ent

import (
	"encoding/json"
	"sync"
)

// lyceeCacheSize bounds the memo of decoded lycée records (a central
// node serves every lycée of the region).
const lyceeCacheSize = 1024

// lycees memoises decoded lycée records by their exact bytes: every page
// shows its lycée's name, and decoding the record was a visible part of a
// page's time. Keyed by content, like users, it cannot return a stale
// lycée.
var lycees struct {
	sync.Mutex
	m map[string]Lycee
}

// decodeLycee decodes a lycée record's body.
func decodeLycee(body []byte) (Lycee, error) {
	lycees.Lock()
	l, ok := lycees.m[string(body)]
	lycees.Unlock()
	if ok {
		return l, nil
	}
	if err := json.Unmarshal(body, &l); err != nil {
		return Lycee{}, err
	}
	lycees.Lock()
	if lycees.m == nil || len(lycees.m) >= lyceeCacheSize {
		lycees.m = make(map[string]Lycee, lyceeCacheSize)
	}
	lycees.m[string(body)] = l
	lycees.Unlock()
	return l, nil
}
