package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-idp/gatehouse/storage"
)

var _ storage.Registrations = (*Store)(nil)

// CreateInitialAccessToken stores t with no use counted yet; ErrConflict
// when its id or hash is taken.
func (s *Store) CreateInitialAccessToken(ctx context.Context, t *storage.InitialAccessToken) error {
	const op = "create initial access token"
	if t.ExpiresAt.IsZero() {
		return fmt.Errorf("postgres: %s: no expiry", op)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO initial_access_tokens (id, token_hash, expires_at, max_uses, uses, created_at, created_by)
		VALUES ($1, $2, $3, $4, 0, $5, $6)`, t.ID, t.Hash, ts(t.ExpiresAt), t.MaxUses, ts(t.CreatedAt), t.CreatedBy)
	if err != nil {
		return wrap(op, err)
	}
	t.Uses = 0
	return nil
}

// InitialAccessTokens returns every stored token by creation time, then id.
func (s *Store) InitialAccessTokens(ctx context.Context) ([]storage.InitialAccessToken, error) {
	const op = "list initial access tokens"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT id, token_hash, expires_at, max_uses, uses, created_at, created_by
		FROM initial_access_tokens ORDER BY created_at NULLS FIRST, id`)
	if err != nil {
		return nil, wrap(op, err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.InitialAccessToken, error) {
		var (
			t                storage.InitialAccessToken
			expires, created pgtype.Timestamptz
		)
		err := row.Scan(&t.ID, &t.Hash, &expires, &t.MaxUses, &t.Uses, &created, &t.CreatedBy)
		t.ExpiresAt, t.CreatedAt = timeOf(expires), timeOf(created)
		return t, err
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	return list, nil
}

// RevokeInitialAccessToken deletes the token and reports whether there
// was one. The clients it registered stay.
func (s *Store) RevokeInitialAccessToken(ctx context.Context, id string) (bool, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `DELETE FROM initial_access_tokens WHERE id = $1`, id)
	if err != nil {
		return false, wrap("revoke initial access token", err)
	}
	return tag.RowsAffected() > 0, nil
}

// RegisterClient counts a use of the initial access token, creates the
// client and keeps its registration hash in one transaction: see
// storage.Registrations. The conditional UPDATE takes the token's row lock,
// and a concurrent one re-checks the condition on the row it waited for,
// so a token at its limit is never used again.
func (s *Store) RegisterClient(ctx context.Context, c *storage.Client, tokenHash, registrationHash string, now time.Time) (string, error) {
	op := "register client " + c.ID
	if c.Source != storage.ClientSourceRegistration {
		return "", fmt.Errorf("postgres: %s: source %q, want %q", op, c.Source, storage.ClientSourceRegistration)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n := ts(now)
	var tokenID string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE initial_access_tokens SET uses = uses + 1
			WHERE token_hash = $1 AND expires_at > $2 AND (max_uses = 0 OR uses < max_uses)
			RETURNING id`, tokenHash, n).Scan(&tokenID)
		if err != nil {
			return err // pgx.ErrNoRows: ErrNotFound
		}
		var batch pgx.Batch
		queueInsertClient(&batch, c, c.Source, n)
		batch.Queue(`INSERT INTO client_registrations (client_id, token_hash, initial_token_id, created_at)
			VALUES ($1, $2, $3, $4)`, c.ID, registrationHash, tokenID, n)
		return tx.SendBatch(ctx, &batch).Close()
	})
	if err != nil {
		return "", wrap(op, err)
	}
	c.Version, c.Disabled = 1, false
	c.CreatedAt = timeOf(n)
	c.UpdatedAt = c.CreatedAt
	return tokenID, nil
}

// RegistrationHash returns the registered client's registration access
// token hash, or ErrNotFound.
func (s *Store) RegistrationHash(ctx context.Context, clientID string) (string, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var h string
	err := s.pool.QueryRow(ctx, `SELECT r.token_hash FROM client_registrations r JOIN clients c ON c.id = r.client_id
		WHERE r.client_id = $1 AND c.source = $2`, clientID, storage.ClientSourceRegistration).Scan(&h)
	if err != nil {
		return "", wrap("registration hash of "+clientID, err)
	}
	return h, nil
}
