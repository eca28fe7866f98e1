package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

var _ storage.DPoPProofs = (*Store)(nil)

// UseDPoPProof records the use of the DPoP proof jti of the key jkt until
// expiresAt: ErrConflict if it was used before and that record is live at
// now. One statement (an upsert that replaces only an expired record)
// decides, so concurrent uses cannot both succeed.
func (s *Store) UseDPoPProof(ctx context.Context, jkt, jti string, expiresAt, now time.Time) error {
	var e encoder
	exp, n := e.time(expiresAt), e.time(now)
	if e.err != nil {
		return fmt.Errorf("sqlite: use DPoP proof: %w", e.err)
	}
	res, err := s.exec(ctx, `INSERT INTO dpop_proofs (jkt, jti, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (jkt, jti) DO UPDATE SET expires_at = excluded.expires_at
		WHERE dpop_proofs.expires_at <= ?`, jkt, jti, exp, n)
	if err != nil {
		return wrap("use DPoP proof", err)
	}
	rows, err := res.RowsAffected()
	if err != nil {
		return wrap("use DPoP proof", err)
	}
	if rows == 0 {
		return fmt.Errorf("sqlite: DPoP proof already used: %w", storage.ErrConflict)
	}
	return nil
}
