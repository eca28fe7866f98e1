package postgres

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
// decides, so concurrent uses on any number of instances cannot both
// succeed.
func (s *Store) UseDPoPProof(ctx context.Context, jkt, jti string, expiresAt, now time.Time) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `INSERT INTO dpop_proofs (jkt, jti, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (jkt, jti) DO UPDATE SET expires_at = EXCLUDED.expires_at
		WHERE dpop_proofs.expires_at <= $4`, jkt, jti, ts(expiresAt), ts(now))
	if err != nil {
		return wrap("use DPoP proof", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: DPoP proof already used: %w", storage.ErrConflict)
	}
	return nil
}
