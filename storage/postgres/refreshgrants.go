package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const refreshGrantColumns = `token_hash, family_id, client_id, user_id, scopes, audience,
	auth_time, amr, created_at, expires_at, used_at`

// insertRefreshGrant is the INSERT both CreateRefreshGrant and
// RotateRefreshGrant run, with the arguments of refreshGrantArgs.
const insertRefreshGrant = `INSERT INTO refresh_grants (` + refreshGrantColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`

func refreshGrantArgs(g *storage.RefreshGrant) []any {
	return []any{g.TokenHash, g.FamilyID, g.ClientID, g.UserID, list(g.Scopes), list(g.Audience),
		ts(g.AuthTime), list(g.AMR), ts(g.CreatedAt), ts(g.ExpiresAt), tsPtr(g.UsedAt)}
}

// CreateRefreshGrant inserts g; ErrConflict if the hash exists.
func (s *Store) CreateRefreshGrant(ctx context.Context, g *storage.RefreshGrant) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if _, err := s.pool.Exec(ctx, insertRefreshGrant, refreshGrantArgs(g)...); err != nil {
		return wrap("create refresh grant", err)
	}
	return nil
}

// RefreshGrant returns the grant with that token hash if it exists, is unused
// and has not expired at now; ErrNotFound otherwise.
func (s *Store) RefreshGrant(ctx context.Context, tokenHash string, now time.Time) (*storage.RefreshGrant, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var (
		g                                storage.RefreshGrant
		authTime, created, expires, used pgtype.Timestamptz
	)
	err := s.pool.QueryRow(ctx, `SELECT `+refreshGrantColumns+` FROM refresh_grants
		WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2`, tokenHash, ts(now)).
		Scan(&g.TokenHash, &g.FamilyID, &g.ClientID, &g.UserID, &g.Scopes, &g.Audience,
			&authTime, &g.AMR, &created, &expires, &used)
	if err != nil {
		return nil, wrap("refresh grant", err)
	}
	g.AuthTime = timeOf(authTime)
	g.CreatedAt = timeOf(created)
	g.ExpiresAt = timeOf(expires)
	g.UsedAt = timePtrOf(used)
	return &g, nil
}

// RotateRefreshGrant marks the grant oldHash used at now and inserts next, in
// one transaction. It succeeds only if oldHash is live and unused at now;
// otherwise ErrNotFound, and nothing changes. If next's hash is taken it
// returns ErrConflict, and nothing changes. Of concurrent calls with one
// oldHash exactly one succeeds: the conditional update takes the row's lock,
// and the others, once it is released, find the row used and change nothing.
func (s *Store) RotateRefreshGrant(ctx context.Context, oldHash string, next *storage.RefreshGrant, now time.Time) error {
	const op = "rotate refresh grant"
	if next == nil {
		return fmt.Errorf("postgres: %s: nil next grant", op)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n := ts(now)

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer tx.Rollback(ctx)
	tag, err := tx.Exec(ctx, `UPDATE refresh_grants SET used_at = $1
		WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1`, n, oldHash)
	if err != nil {
		return wrap(op, err)
	}
	if err := oneRow(tag, op); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, insertRefreshGrant, refreshGrantArgs(next)...); err != nil {
		return wrap(op+": insert next", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return wrap(op, err)
	}
	return nil
}
