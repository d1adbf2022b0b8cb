package appliance

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// NewToken mints a one-time enrolment token (32 random bytes, base64url)
// and the hash central stores in its place: the token itself is shown to
// the operator once and kept nowhere.
func NewToken() (token, hash string) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it panics instead)
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token)
}

// HashToken returns the hex SHA-256 of token, the form under which central
// stores and looks up enrolment tokens. The token carries 256 bits of
// randomness, so a fast hash suffices.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
