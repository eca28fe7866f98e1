package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const refreshGrantColumns = `token_hash, family_id, client_id, user_id, scopes, audience,
	auth_time, amr, created_at, expires_at, used_at, revoked_at, replay, replay_until,
	absolute_expires_at, session_id, dpop_jkt`

// insertRefreshGrant is the INSERT both CreateRefreshGrant and
// RotateRefreshGrant run.
const insertRefreshGrant = `INSERT INTO refresh_grants (` + refreshGrantColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func refreshGrantArgs(g *storage.RefreshGrant) ([]any, error) {
	var e encoder
	args := []any{g.TokenHash, g.FamilyID, g.ClientID, g.UserID, e.strings(g.Scopes), e.strings(g.Audience),
		e.time(g.AuthTime), e.strings(g.AMR), e.time(g.CreatedAt), e.time(g.ExpiresAt), e.timePtr(g.UsedAt),
		e.timePtr(g.RevokedAt), nullBlob(g.Replay), e.time(g.ReplayUntil), e.time(g.AbsoluteExpiresAt), g.SessionID, g.DPoPJKT}
	return args, e.err
}

// scanRefreshGrant reads one row of refreshGrantColumns.
func scanRefreshGrant(row scanner) (*storage.RefreshGrant, error) {
	var (
		g                                storage.RefreshGrant
		scopes, audience, amr            string
		authTime, created, expires, used sql.NullInt64
		revoked, replayUntil, absolute   sql.NullInt64
	)
	err := row.Scan(&g.TokenHash, &g.FamilyID, &g.ClientID, &g.UserID, &scopes, &audience,
		&authTime, &amr, &created, &expires, &used, &revoked, &g.Replay, &replayUntil, &absolute, &g.SessionID, &g.DPoPJKT)
	if err != nil {
		return nil, err
	}
	var d decoder
	g.Scopes = d.strings(scopes)
	g.Audience = d.strings(audience)
	g.AuthTime = d.time(authTime)
	g.AMR = d.strings(amr)
	g.CreatedAt = d.time(created)
	g.ExpiresAt = d.time(expires)
	g.UsedAt = d.timePtr(used)
	g.RevokedAt = d.timePtr(revoked)
	g.ReplayUntil = d.time(replayUntil)
	g.AbsoluteExpiresAt = d.time(absolute)
	if d.err != nil {
		return nil, d.err
	}
	return &g, nil
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

// RefreshGrant returns the grant with that token hash if it exists, is
// unused, not revoked and has not expired at now; ErrNotFound otherwise.
func (s *Store) RefreshGrant(ctx context.Context, tokenHash string, now time.Time) (*storage.RefreshGrant, error) {
	var e encoder
	n := e.time(now)
	if e.err != nil {
		return nil, fmt.Errorf("sqlite: refresh grant: %w", e.err)
	}
	g, err := scanRefreshGrant(s.queryRow(ctx, `SELECT `+refreshGrantColumns+` FROM refresh_grants
		WHERE token_hash = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?`, tokenHash, n))
	if err != nil {
		return nil, wrap("refresh grant", err)
	}
	return g, nil
}

// RefreshGrantByHash returns the grant with that token hash whatever its
// state (used, revoked or expired, until Prune deletes it), or ErrNotFound.
func (s *Store) RefreshGrantByHash(ctx context.Context, tokenHash string) (*storage.RefreshGrant, error) {
	g, err := scanRefreshGrant(s.queryRow(ctx, `SELECT `+refreshGrantColumns+` FROM refresh_grants
		WHERE token_hash = ?`, tokenHash))
	if err != nil {
		return nil, wrap("refresh grant by hash", err)
	}
	return g, nil
}

// RotateRefreshGrant marks the grant oldHash used at now and inserts next, in
// one write transaction. It succeeds only if oldHash is live, unused and not
// revoked at now; otherwise ErrNotFound, and nothing changes. If next's hash
// is taken it returns ErrConflict, and nothing changes. Of concurrent calls
// with one oldHash exactly one succeeds: the conditional update serialises
// them under SQLite's write lock. The same lock orders it with RevokeFamily,
// which therefore either refuses the rotation (it committed first) or sees
// and revokes next (it committed after).
// The old grant keeps replay (nil: none) until until, written in the same
// transaction, for retries inside the client's grace window.
func (s *Store) RotateRefreshGrant(ctx context.Context, oldHash string, next *storage.RefreshGrant, replay []byte, until, now time.Time) error {
	const op = "rotate refresh grant"
	if next == nil {
		return fmt.Errorf("sqlite: %s: nil next grant", op)
	}
	var e encoder
	n := e.time(now)
	var u any
	if replay != nil {
		u = e.time(until)
	}
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	args, err := refreshGrantArgs(next)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}

	in, err := s.begin(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer in.end(ctx)
	res, err := in.exec(ctx, `UPDATE refresh_grants SET used_at = ?, replay = ?, replay_until = ?
		WHERE token_hash = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?`, n, nullBlob(replay), u, oldHash, n)
	if err != nil {
		return wrap(op, err)
	}
	if err := oneRow(res, op); err != nil {
		return err
	}
	if _, err := in.exec(ctx, insertRefreshGrant, args...); err != nil {
		return wrap(op+": insert next", err)
	}
	if err := in.tx.Commit(); err != nil {
		return wrap(op, err)
	}
	return nil
}

// ExtendRefreshGrant sets the live grant's expiry, in one statement.
func (s *Store) ExtendRefreshGrant(ctx context.Context, tokenHash string, expiresAt, now time.Time) error {
	const op = "extend refresh grant"
	var e encoder
	n, exp := e.time(now), e.time(expiresAt)
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	res, err := s.exec(ctx, `UPDATE refresh_grants SET expires_at = ?
		WHERE token_hash = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?`, exp, tokenHash, n)
	if err != nil {
		return wrap(op, err)
	}
	return oneRow(res, op)
}

// RevokeFamily sets RevokedAt = now on every grant of the family not revoked
// yet and remembers the family as revoked until keepUntil, in one write
// transaction. Revoking a remembered family again keeps its first
// revocation time and extends its memory to the later of the two keepUntil.
func (s *Store) RevokeFamily(ctx context.Context, familyID string, now, keepUntil time.Time) error {
	const op = "revoke family"
	var e encoder
	n, keep := e.time(now), e.time(keepUntil)
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	in, err := s.begin(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer in.end(ctx)
	if err := revokeFamily(ctx, in, familyID, n, keep); err != nil {
		return wrap(op, err)
	}
	if err := in.tx.Commit(); err != nil {
		return wrap(op, err)
	}
	return nil
}

// revokeFamily is RevokeFamily's work inside a transaction, with now and
// keepUntil encoded.
func revokeFamily(ctx context.Context, in runner, familyID string, now, keepUntil any) error {
	if _, err := in.exec(ctx, `UPDATE refresh_grants SET revoked_at = ?
		WHERE family_id = ? AND revoked_at IS NULL`, now, familyID); err != nil {
		return err
	}
	_, err := in.exec(ctx, `INSERT INTO revoked_families (id, revoked_at, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at
		WHERE revoked_families.expires_at IS NULL OR excluded.expires_at > revoked_families.expires_at`,
		familyID, now, keepUntil)
	return err
}

// RevokeUserFamilies revokes, as RevokeFamily does, every family with a
// live grant of the user (of clientID only, unless it is ""), in one write
// transaction, and returns how many families it revoked. The write lock
// orders it with rotations: none can add a grant to a family between the
// search and the revocation.
func (s *Store) RevokeUserFamilies(ctx context.Context, userID, clientID string, now, keepUntil time.Time) (int, error) {
	const op = "revoke user families"
	var e encoder
	n, keep := e.time(now), e.time(keepUntil)
	if e.err != nil {
		return 0, fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	in, err := s.begin(ctx)
	if err != nil {
		return 0, wrap(op, err)
	}
	defer in.end(ctx)
	rows, err := in.query(ctx, `SELECT DISTINCT family_id FROM refresh_grants
		WHERE user_id = ?1 AND (?2 = '' OR client_id = ?2)
		AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?3
		ORDER BY family_id`, userID, clientID, n)
	if err != nil {
		return 0, wrap(op, err)
	}
	var families []string
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			rows.Close()
			return 0, wrap(op, err)
		}
		families = append(families, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, wrap(op, err)
	}
	for _, f := range families {
		if err := revokeFamily(ctx, in, f, n, keep); err != nil {
			return 0, wrap(op+" "+f, err)
		}
	}
	if err := in.tx.Commit(); err != nil {
		return 0, wrap(op, err)
	}
	return len(families), nil
}

// FamilyRevoked reports whether the family is remembered as revoked: from
// RevokeFamily until Prune deletes the record after its keepUntil.
func (s *Store) FamilyRevoked(ctx context.Context, familyID string) (bool, error) {
	var one int
	err := s.queryRow(ctx, `SELECT 1 FROM revoked_families WHERE id = ?`, familyID).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, wrap("family revoked", err)
	}
	return true, nil
}
