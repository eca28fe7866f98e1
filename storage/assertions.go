package storage

import (
	"context"
	"time"
)

// ClientAssertions remembers the JWT IDs (jti) of the client assertions
// that authenticated clients (private_key_jwt: RFC 7523 §3, OpenID Connect
// Core §9), so that an assertion is accepted once only (CVE-2020-15222).
type ClientAssertions interface {
	// UseAssertionID records that the client used the assertion jti,
	// which stays remembered until expiresAt (at least the assertion's
	// exp, so that it cannot be accepted again while still valid). It
	// returns ErrConflict if the client already used jti and that record
	// is still live at now (now strictly before its expiresAt); a record
	// that has expired at now is replaced. Of any number of concurrent
	// calls with one client and jti, exactly one succeeds. The same jti
	// of two different clients are two records. Prune deletes records
	// that have expired.
	UseAssertionID(ctx context.Context, clientID, jti string, expiresAt, now time.Time) error
}
