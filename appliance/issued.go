package appliance

import (
	"crypto/x509"
	"time"
)

// IssuedAt is when a certificate this CA signed was issued: its NotBefore
// plus the clock skew allowance IssueEdge and IssueServer subtract, to the
// second (certificates carry whole seconds). Central compares it with an
// edge's revocation.
func IssuedAt(cert *x509.Certificate) time.Time {
	return cert.NotBefore.Add(clockSkew)
}
