package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

var _ storage.Registrations = (*Store)(nil)

// CreateInitialAccessToken stores t with no use counted yet; ErrConflict
// when its id or hash is taken.
func (s *Store) CreateInitialAccessToken(ctx context.Context, t *storage.InitialAccessToken) error {
	const op = "create initial access token"
	var e encoder
	expires, created := e.time(t.ExpiresAt), e.time(t.CreatedAt)
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	if expires == nil {
		return fmt.Errorf("sqlite: %s: no expiry", op)
	}
	_, err := s.exec(ctx, `INSERT INTO initial_access_tokens (id, token_hash, expires_at, max_uses, uses, created_at, created_by)
		VALUES (?, ?, ?, ?, 0, ?, ?)`, t.ID, t.Hash, expires, t.MaxUses, created, t.CreatedBy)
	if err != nil {
		return wrap(op, err)
	}
	t.Uses = 0
	return nil
}

// InitialAccessTokens returns every stored token by creation time, then id.
func (s *Store) InitialAccessTokens(ctx context.Context) ([]storage.InitialAccessToken, error) {
	const op = "list initial access tokens"
	rows, err := s.query(ctx, `SELECT id, token_hash, expires_at, max_uses, uses, created_at, created_by
		FROM initial_access_tokens ORDER BY coalesce(created_at, 0), id`)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var list []storage.InitialAccessToken
	for rows.Next() {
		var (
			t                storage.InitialAccessToken
			expires, created sql.NullInt64
		)
		if err := rows.Scan(&t.ID, &t.Hash, &expires, &t.MaxUses, &t.Uses, &created, &t.CreatedBy); err != nil {
			return nil, wrap(op, err)
		}
		var d decoder
		t.ExpiresAt, t.CreatedAt = d.time(expires), d.time(created)
		list = append(list, t)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return list, nil
}

// RevokeInitialAccessToken deletes the token and reports whether there
// was one. The clients it registered stay.
func (s *Store) RevokeInitialAccessToken(ctx context.Context, id string) (bool, error) {
	const op = "revoke initial access token"
	res, err := s.exec(ctx, `DELETE FROM initial_access_tokens WHERE id = ?`, id)
	if err != nil {
		return false, wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, wrap(op, err)
	}
	return n > 0, nil
}

// RegisterClient counts a use of the initial access token, creates the
// client and keeps its registration hash in one write transaction (SQLite
// runs one at a time, so the count's condition holds when it commits):
// see storage.Registrations.
func (s *Store) RegisterClient(ctx context.Context, c *storage.Client, tokenHash, registrationHash string, now time.Time) (string, error) {
	op := "register client " + c.ID
	if c.Source != storage.ClientSourceRegistration {
		return "", fmt.Errorf("sqlite: %s: source %q, want %q", op, c.Source, storage.ClientSourceRegistration)
	}
	var e encoder
	n := e.time(now)
	if e.err != nil {
		return "", fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	in, err := s.begin(ctx)
	if err != nil {
		return "", wrap(op, err)
	}
	defer in.end(ctx)
	var tokenID string
	err = in.queryRow(ctx, `UPDATE initial_access_tokens SET uses = uses + 1
		WHERE token_hash = ? AND expires_at > ? AND (max_uses = 0 OR uses < max_uses)
		RETURNING id`, tokenHash, n).Scan(&tokenID)
	if err != nil {
		return "", wrap(op+": initial access token", err) // sql.ErrNoRows: ErrNotFound
	}
	if err := insertClient(ctx, in, c, c.Source, n); err != nil {
		return "", wrap(op, err)
	}
	if _, err := in.exec(ctx, `INSERT INTO client_registrations (client_id, token_hash, initial_token_id, created_at)
		VALUES (?, ?, ?, ?)`, c.ID, registrationHash, tokenID, n); err != nil {
		return "", wrap(op, err)
	}
	if err := in.tx.Commit(); err != nil {
		return "", wrap(op, err)
	}
	c.Version, c.Disabled = 1, false
	c.CreatedAt = now.UTC().Round(0)
	c.UpdatedAt = c.CreatedAt
	return tokenID, nil
}

// RegistrationHash returns the registered client's registration access
// token hash, or ErrNotFound.
func (s *Store) RegistrationHash(ctx context.Context, clientID string) (string, error) {
	var h string
	err := s.queryRow(ctx, `SELECT r.token_hash FROM client_registrations r JOIN clients c ON c.id = r.client_id
		WHERE r.client_id = ? AND c.source = ?`, clientID, storage.ClientSourceRegistration).Scan(&h)
	if err != nil {
		return "", wrap("registration hash of "+clientID, err)
	}
	return h, nil
}
