package appliance

import "errors"

var (
	// ErrAlreadyEnrolled: the directory already holds an identity; enrolling
	// again would throw away the appliance's key and certificate.
	ErrAlreadyEnrolled = errors.New("appliance: already enrolled")
	// ErrNotEnrolled: the directory holds no identity.
	ErrNotEnrolled = errors.New("appliance: not enrolled")
	// ErrEnrolRefused: central refused the enrolment token (unknown, used
	// or expired).
	ErrEnrolRefused = errors.New("appliance: enrolment token refused")
	// ErrUnavailable: central cannot enrol right now; try again later. An
	// Enroller returns it (wrapped) when the token could not be checked.
	ErrUnavailable = errors.New("appliance: enrolment unavailable")
	// ErrBadCSR: the certificate request is malformed, badly signed or
	// uses an unsupported key.
	ErrBadCSR = errors.New("appliance: bad certificate request")
	// ErrBadUAI: not the shape of a UAI.
	ErrBadUAI = errors.New("appliance: malformed UAI")
	// ErrNotEdge: the certificate does not name an edge appliance.
	ErrNotEdge = errors.New("appliance: not an edge certificate")
	// ErrRenewRefused: central refused to renew the edge's certificate
	// (expired, revoked, not its key…); trying again will not help.
	ErrRenewRefused = errors.New("appliance: certificate renewal refused")
	// ErrBadTTL: an edge certificate life too short for the region.
	ErrBadTTL = errors.New("appliance: edge certificate TTL too short")
	// ErrBadCA: the CA certificate or key is unusable.
	ErrBadCA = errors.New("appliance: bad CA")
)
