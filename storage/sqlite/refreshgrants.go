package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const refreshGrantColumns = `token_hash, family_id, client_id, user_id, scopes, audience,
	auth_time, amr, created_at, expires_at, used_at`

// insertRefreshGrant is the INSERT both CreateRefreshGrant and
// RotateRefreshGrant run.
const insertRefreshGrant = `INSERT INTO refresh_grants (` + refreshGrantColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func refreshGrantArgs(g *storage.RefreshGrant) ([]any, error) {
	var e encoder
	args := []any{g.TokenHash, g.FamilyID, g.ClientID, g.UserID, e.strings(g.Scopes), e.strings(g.Audience),
		e.time(g.AuthTime), e.strings(g.AMR), e.time(g.CreatedAt), e.time(g.ExpiresAt), e.timePtr(g.UsedAt)}
	return args, e.err
}

// CreateRefreshGrant inserts g; ErrConflict if the hash exists.
func (s *Store) CreateRefreshGrant(ctx context.Context, g *storage.RefreshGrant) error {
	args, err := refreshGrantArgs(g)
	if err != nil {
		return fmt.Errorf("sqlite: create refresh grant: %w", err)
	}
	if _, err := s.exec(ctx, insertRefreshGrant, args...); err != nil {
		return wrap("create refresh grant", err)
	}
	return nil
}

// RefreshGrant returns the grant with that token hash if it exists, is unused
// and has not expired at now; ErrNotFound otherwise.
func (s *Store) RefreshGrant(ctx context.Context, tokenHash string, now time.Time) (*storage.RefreshGrant, error) {
	var e encoder
	n := e.time(now)
	if e.err != nil {
		return nil, fmt.Errorf("sqlite: refresh grant: %w", e.err)
	}
	var (
		g                                storage.RefreshGrant
		scopes, audience, amr            string
		authTime, created, expires, used sql.NullInt64
	)
	err := s.queryRow(ctx, `SELECT `+refreshGrantColumns+` FROM refresh_grants
		WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?`, tokenHash, n).
		Scan(&g.TokenHash, &g.FamilyID, &g.ClientID, &g.UserID, &scopes, &audience,
			&authTime, &amr, &created, &expires, &used)
	if err != nil {
		return nil, wrap("refresh grant", err)
	}
	var d decoder
	g.Scopes = d.strings(scopes)
	g.Audience = d.strings(audience)
	g.AuthTime = d.time(authTime)
	g.AMR = d.strings(amr)
	g.CreatedAt = d.time(created)
	g.ExpiresAt = d.time(expires)
	g.UsedAt = d.timePtr(used)
	if d.err != nil {
		return nil, fmt.Errorf("sqlite: refresh grant: %w", d.err)
	}
	return &g, nil
}

// RotateRefreshGrant marks the grant oldHash used at now and inserts next, in
// one write transaction. It succeeds only if oldHash is live and unused at
// now; otherwise ErrNotFound, and nothing changes. If next's hash is taken it
// returns ErrConflict, and nothing changes. Of concurrent calls with one
// oldHash exactly one succeeds: the conditional update serialises them under
// SQLite's write lock.
func (s *Store) RotateRefreshGrant(ctx context.Context, oldHash string, next *storage.RefreshGrant, now time.Time) error {
	const op = "rotate refresh grant"
	if next == nil {
		return fmt.Errorf("sqlite: %s: nil next grant", op)
	}
	var e encoder
	n := e.time(now)
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	args, err := refreshGrantArgs(next)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}

	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrap(op, err)
	}
	defer tx.Rollback()
	in := runner{s: s, tx: tx}
	res, err := in.exec(ctx, `UPDATE refresh_grants SET used_at = ?
		WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?`, n, oldHash, n)
	if err != nil {
		return wrap(op, err)
	}
	if err := oneRow(res, op); err != nil {
		return err
	}
	if _, err := in.exec(ctx, insertRefreshGrant, args...); err != nil {
		return wrap(op+": insert next", err)
	}
	if err := tx.Commit(); err != nil {
		return wrap(op, err)
	}
	return nil
}
