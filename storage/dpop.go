package storage

import (
	"context"
	"time"
)

// DPoPProofs remembers the JWT IDs (jti) of the DPoP proofs Gatehouse
// accepted (RFC 9449 §11.1), so that a proof is accepted once only, on
// any instance. Records are per key: the same jti under two keys (jkt, the
// key's RFC 7638 thumbprint) are two records.
type DPoPProofs interface {
	// UseDPoPProof records the use of the proof jti signed by the key jkt,
	// remembered until expiresAt (the end of the proof's window). It
	// returns ErrConflict if that record exists and is live at now (now
	// strictly before its expiresAt); a record that has expired at now is
	// replaced. Of any number of concurrent calls with one jkt and jti,
	// exactly one succeeds. Prune deletes expired records (Redis lets
	// them expire).
	UseDPoPProof(ctx context.Context, jkt, jti string, expiresAt, now time.Time) error
}
