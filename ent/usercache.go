package ent

import (
	"encoding/json"
	"sync"
)

// userCacheSize bounds the memo of decoded user records.
const userCacheSize = 4096

// users memoises decoded user records by their exact bytes. Every command
// and every authenticated request reads its user's record, and decoding its
// JSON was the largest cost of applying an edge's outbox at central (two
// users per message, on each of the three nodes). Keyed by content, the
// memo cannot return a stale user and keeps Exec deterministic.
var users struct {
	sync.Mutex
	m map[string]User
}

// decodeUser decodes a user record's body. The returned User shares its
// Children slice with the memo: callers must not modify it.
func decodeUser(body []byte) (User, error) {
	users.Lock()
	u, ok := users.m[string(body)]
	users.Unlock()
	if ok {
		return u, nil
	}
	if err := json.Unmarshal(body, &u); err != nil {
		return User{}, err
	}
	users.Lock()
	if users.m == nil || len(users.m) >= userCacheSize {
		users.m = make(map[string]User, userCacheSize)
	}
	users.m[string(body)] = u
	users.Unlock()
	return u, nil
}
