package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// UseAssertionID records the client's use of the assertion jti until
// expiresAt: ErrConflict if the client used it before and that record is
// live at now. One statement (an upsert that replaces only an expired
// record) decides, so concurrent uses on any number of instances cannot
// both succeed.
func (s *Store) UseAssertionID(ctx context.Context, clientID, jti string, expiresAt, now time.Time) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `INSERT INTO client_assertions (client_id, jti, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (client_id, jti) DO UPDATE SET expires_at = EXCLUDED.expires_at
		WHERE client_assertions.expires_at <= $4`, clientID, jti, ts(expiresAt), ts(now))
	if err != nil {
		return wrap("use assertion id", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: assertion id of client %s already used: %w", clientID, storage.ErrConflict)
	}
	return nil
}
