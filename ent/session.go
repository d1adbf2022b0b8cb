package ent

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// A session token is base64url(partition "\n" userID "\n" expiry) "."
// base64url(HMAC-SHA256(key, that payload)), safe in a cookie and in an
// Authorization header. Nothing secret is in the payload; the MAC makes it
// unforgeable without the node's session key. The central nodes share one
// (kept in raft state); each edge has its own, so that a stolen appliance
// cannot forge sessions that central would accept: a session opened at home
// does not carry over to the school's edge, and the reverse.

var b64url = base64.RawURLEncoding

func (s *Service) mac(purpose string, data []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(data)
	return m.Sum(nil)
}

// newToken signs a session for u valid until exp.
func (s *Service) newToken(u User, exp time.Time) string {
	payload := []byte(u.Partition() + "\n" + u.ID + "\n" + strconv.FormatInt(exp.Unix(), 10))
	return b64url.EncodeToString(payload) + "." + b64url.EncodeToString(s.mac("session", payload))
}

// parseToken checks the token's signature and expiry and returns the
// user's partition and id.
func (s *Service) parseToken(token string) (partition, id string, err error) {
	p64, m64, ok := strings.Cut(token, ".")
	if !ok || len(token) > 512 {
		return "", "", ErrBadSession
	}
	payload, err1 := b64url.DecodeString(p64)
	mac, err2 := b64url.DecodeString(m64)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.mac("session", payload)) {
		return "", "", ErrBadSession
	}
	f := strings.Split(string(payload), "\n")
	if len(f) != 3 {
		return "", "", ErrBadSession
	}
	exp, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || !s.now().Before(time.Unix(exp, 0)) {
		return "", "", ErrBadSession
	}
	return f[0], f[1], nil
}

// CSRFToken returns the anti-forgery token of a session, to be echoed in a
// hidden field of every form the session posts.
func (s *Service) CSRFToken(session string) string {
	return b64url.EncodeToString(s.mac("csrf", []byte(session)))
}

// CheckCSRF reports whether token is the anti-forgery token of session.
func (s *Service) CheckCSRF(session, token string) bool {
	got, err := b64url.DecodeString(token)
	if err != nil || session == "" {
		return false
	}
	return hmac.Equal(got, s.mac("csrf", []byte(session)))
}
