package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const totpColumns = `user_id, sealed_secret, kek_id, last_step, created_at, last_used_at`

// TOTP returns the user's generator; ErrNotFound when there is none.
func (s *Store) TOTP(ctx context.Context, userID string) (*storage.TOTPCredential, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var (
		c                 storage.TOTPCredential
		created, lastUsed pgtype.Timestamptz
	)
	err := s.pool.QueryRow(ctx, `SELECT `+totpColumns+` FROM totp_credentials WHERE user_id = $1`, userID).
		Scan(&c.UserID, &c.SealedSecret, &c.KEKID, &c.LastStep, &created, &lastUsed)
	if err != nil {
		return nil, wrap("totp", err)
	}
	c.CreatedAt, c.LastUsedAt = timeOf(created), timeOf(lastUsed)
	return &c, nil
}

// TOTPCredentials returns every user's generator, ordered by user id.
func (s *Store) TOTPCredentials(ctx context.Context) ([]storage.TOTPCredential, error) {
	const op = "totp credentials"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+totpColumns+` FROM totp_credentials ORDER BY user_id`)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []storage.TOTPCredential
	for rows.Next() {
		var (
			c                 storage.TOTPCredential
			created, lastUsed pgtype.Timestamptz
		)
		if err := rows.Scan(&c.UserID, &c.SealedSecret, &c.KEKID, &c.LastStep, &created, &lastUsed); err != nil {
			return nil, wrap(op, err)
		}
		c.CreatedAt, c.LastUsedAt = timeOf(created), timeOf(lastUsed)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// SetTOTP stores c as the user's generator, replacing any previous one, in
// one upsert. ErrNotFound when the user does not exist (the foreign key).
func (s *Store) SetTOTP(ctx context.Context, c *storage.TOTPCredential) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO totp_credentials (`+totpColumns+`) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (user_id) DO UPDATE SET sealed_secret = excluded.sealed_secret, kek_id = excluded.kek_id,
			last_step = excluded.last_step, created_at = excluded.created_at, last_used_at = excluded.last_used_at`,
		c.UserID, blob(c.SealedSecret), c.KEKID, c.LastStep, ts(c.CreatedAt), ts(c.LastUsedAt))
	if err != nil {
		return wrap("set totp", err)
	}
	return nil
}

// UseTOTPStep records the acceptance of the user's code of step at now if
// step is later than the stored LastStep, in one statement: the UPDATE
// decides (a concurrent one waits for the row lock, then finds last_step
// no longer earlier), and the same statement looks whether the user has a
// generator at all, to tell a replay (ErrConflict) from a missing
// generator (ErrNotFound). A generator deleted while the statement runs
// may be reported as ErrConflict.
func (s *Store) UseTOTPStep(ctx context.Context, userID string, step int64, now time.Time) error {
	const op = "use totp step"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var updated, exists bool
	err := s.pool.QueryRow(ctx, `WITH used AS (
			UPDATE totp_credentials SET last_step = $2, last_used_at = $3
			WHERE user_id = $1 AND last_step < $2
			RETURNING 1
		)
		SELECT EXISTS (SELECT 1 FROM used), EXISTS (SELECT 1 FROM totp_credentials WHERE user_id = $1)`,
		userID, step, ts(now)).Scan(&updated, &exists)
	switch {
	case err != nil:
		return wrap(op, err)
	case updated:
		return nil
	case !exists:
		return notFound(op)
	}
	return fmt.Errorf("postgres: %s: step %d is not after the last one accepted: %w", op, step, storage.ErrConflict)
}

// DeleteTOTP removes the user's generator and reports whether there was
// one.
func (s *Store) DeleteTOTP(ctx context.Context, userID string) (bool, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `DELETE FROM totp_credentials WHERE user_id = $1`, userID)
	if err != nil {
		return false, wrap("delete totp", err)
	}
	return tag.RowsAffected() > 0, nil
}

// SetRecoveryCodes replaces the user's recovery codes by codes in one
// transaction; the codes' UserID is ignored, they are stored for userID.
// ErrDuplicateKey, before anything is written, when two codes share an ID;
// ErrNotFound when the user does not exist (looked up first, FOR KEY SHARE
// as a foreign key check would, so an empty set for an unknown user is
// refused too).
func (s *Store) SetRecoveryCodes(ctx context.Context, userID string, codes []storage.RecoveryCode) error {
	const op = "set recovery codes"
	ids := make([]string, len(codes))
	hashes := make([]string, len(codes))
	created := make([]pgtype.Timestamptz, len(codes))
	for i, c := range codes {
		ids[i], hashes[i], created[i] = c.ID, c.Hash, ts(c.CreatedAt)
	}
	if sorted := slices.Sorted(slices.Values(ids)); len(slices.Compact(sorted)) != len(ids) {
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrDuplicateKey)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer tx.Rollback(ctx)
	var one int
	if err := tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1 FOR KEY SHARE`, userID).Scan(&one); err != nil {
		return wrap(op+": user "+userID, err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
		return wrap(op, err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO recovery_codes (user_id, id, hash, created_at)
		SELECT $1, c.id, c.hash, c.created_at FROM unnest($2::text[], $3::text[], $4::timestamptz[]) AS c(id, hash, created_at)`,
		userID, ids, hashes, created)
	if err != nil {
		return wrap(op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return wrap(op, err)
	}
	return nil
}

// RecoveryCode returns the user's unused code with that ID; ErrNotFound
// when there is none.
func (s *Store) RecoveryCode(ctx context.Context, userID, id string) (*storage.RecoveryCode, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var (
		c       storage.RecoveryCode
		created pgtype.Timestamptz
	)
	err := s.pool.QueryRow(ctx, `SELECT user_id, id, hash, created_at FROM recovery_codes WHERE user_id = $1 AND id = $2`,
		userID, id).Scan(&c.UserID, &c.ID, &c.Hash, &created)
	if err != nil {
		return nil, wrap("recovery code", err)
	}
	c.CreatedAt = timeOf(created)
	return &c, nil
}

// UseRecoveryCode deletes the code, in one statement: of concurrent uses
// the others wait for the first one's row lock, then find the row gone
// (ErrNotFound).
func (s *Store) UseRecoveryCode(ctx context.Context, userID, id string) error {
	const op = "use recovery code"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1 AND id = $2`, userID, id)
	if err != nil {
		return wrap(op, err)
	}
	return oneRow(tag, op)
}

// RecoveryCodesLeft counts the user's unused codes.
func (s *Store) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = $1`, userID).Scan(&n); err != nil {
		return 0, wrap("recovery codes left", err)
	}
	return n, nil
}

// DeleteRecoveryCodes removes every code of the user and returns how many
// there were.
func (s *Store) DeleteRecoveryCodes(ctx context.Context, userID string) (int, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID)
	if err != nil {
		return 0, wrap("delete recovery codes", err)
	}
	return int(tag.RowsAffected()), nil
}

const pendingSignInColumns = `id, user_id, browser_hash, auth_request_id, session_id, remember, amr,
	auth_time, created_at, expires_at`

// CreatePendingSignIn stores p; ErrConflict if the id exists.
func (s *Store) CreatePendingSignIn(ctx context.Context, p *storage.PendingSignIn) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO pending_sign_ins (`+pendingSignInColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		p.ID, p.UserID, p.BrowserHash, p.AuthRequestID, p.SessionID, p.Remember, list(p.AMR),
		ts(p.AuthTime), ts(p.CreatedAt), ts(p.ExpiresAt))
	if err != nil {
		return wrap("create pending sign-in", err)
	}
	return nil
}

// PendingSignIn returns p if it exists and now is before its ExpiresAt;
// otherwise ErrNotFound.
func (s *Store) PendingSignIn(ctx context.Context, id string, now time.Time) (*storage.PendingSignIn, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	p, err := scanPendingSignIn(s.pool.QueryRow(ctx, `SELECT `+pendingSignInColumns+` FROM pending_sign_ins
		WHERE id = $1 AND expires_at > $2`, id, ts(now)))
	if err != nil {
		return nil, wrap("pending sign-in", err)
	}
	return p, nil
}

// TakePendingSignIn deletes the live p and returns it, in one statement
// (DELETE ... RETURNING): of concurrent takes the others wait for the
// first one's row lock, then find the row gone. An expired one is left for
// Prune.
func (s *Store) TakePendingSignIn(ctx context.Context, id string, now time.Time) (*storage.PendingSignIn, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	p, err := scanPendingSignIn(s.pool.QueryRow(ctx, `DELETE FROM pending_sign_ins
		WHERE id = $1 AND expires_at > $2 RETURNING `+pendingSignInColumns, id, ts(now)))
	if err != nil {
		return nil, wrap("take pending sign-in", err)
	}
	return p, nil
}

func scanPendingSignIn(row pgx.Row) (*storage.PendingSignIn, error) {
	var (
		p                          storage.PendingSignIn
		authTime, created, expires pgtype.Timestamptz
	)
	err := row.Scan(&p.ID, &p.UserID, &p.BrowserHash, &p.AuthRequestID, &p.SessionID, &p.Remember, &p.AMR,
		&authTime, &created, &expires)
	if err != nil {
		return nil, err
	}
	p.AuthTime, p.CreatedAt, p.ExpiresAt = timeOf(authTime), timeOf(created), timeOf(expires)
	return &p, nil
}
