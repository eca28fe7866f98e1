package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// UseAssertionID records the client's use of the assertion jti until
// expiresAt: ErrConflict if the client used it before and that record is
// live at now. One statement (an upsert that replaces only an expired
// record) decides, so concurrent uses cannot both succeed.
func (s *Store) UseAssertionID(ctx context.Context, clientID, jti string, expiresAt, now time.Time) error {
	var e encoder
	exp, n := e.time(expiresAt), e.time(now)
	if e.err != nil {
		return fmt.Errorf("sqlite: use assertion id: %w", e.err)
	}
	res, err := s.exec(ctx, `INSERT INTO client_assertions (client_id, jti, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (client_id, jti) DO UPDATE SET expires_at = excluded.expires_at
		WHERE client_assertions.expires_at <= ?`, clientID, jti, exp, n)
	if err != nil {
		return wrap("use assertion id", err)
	}
	rows, err := res.RowsAffected()
	if err != nil {
		return wrap("use assertion id", err)
	}
	if rows == 0 {
		return fmt.Errorf("sqlite: assertion id of client %s already used: %w", clientID, storage.ErrConflict)
	}
	return nil
}
