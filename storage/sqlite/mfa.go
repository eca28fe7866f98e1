package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const totpColumns = `user_id, sealed_secret, kek_id, last_step, created_at, last_used_at`

// TOTP returns the user's generator; ErrNotFound when there is none.
func (s *Store) TOTP(ctx context.Context, userID string) (*storage.TOTPCredential, error) {
	var (
		c                 storage.TOTPCredential
		created, lastUsed sql.NullInt64
	)
	err := s.queryRow(ctx, `SELECT `+totpColumns+` FROM totp_credentials WHERE user_id = ?`, userID).
		Scan(&c.UserID, &c.SealedSecret, &c.KEKID, &c.LastStep, &created, &lastUsed)
	if err != nil {
		return nil, wrap("totp", err)
	}
	var d decoder
	c.CreatedAt, c.LastUsedAt = d.time(created), d.time(lastUsed)
	return &c, nil
}

// TOTPCredentials returns every user's generator, ordered by user id.
func (s *Store) TOTPCredentials(ctx context.Context) ([]storage.TOTPCredential, error) {
	const op = "totp credentials"
	rows, err := s.query(ctx, `SELECT `+totpColumns+` FROM totp_credentials ORDER BY user_id`)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []storage.TOTPCredential
	for rows.Next() {
		var (
			c                 storage.TOTPCredential
			created, lastUsed sql.NullInt64
		)
		if err := rows.Scan(&c.UserID, &c.SealedSecret, &c.KEKID, &c.LastStep, &created, &lastUsed); err != nil {
			return nil, wrap(op, err)
		}
		var d decoder
		c.CreatedAt, c.LastUsedAt = d.time(created), d.time(lastUsed)
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
	const op = "set totp"
	var e encoder
	args := []any{c.UserID, blob(c.SealedSecret), c.KEKID, c.LastStep, e.time(c.CreatedAt), e.time(c.LastUsedAt)}
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	_, err := s.exec(ctx, `INSERT INTO totp_credentials (`+totpColumns+`) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET sealed_secret = excluded.sealed_secret, kek_id = excluded.kek_id,
			last_step = excluded.last_step, created_at = excluded.created_at, last_used_at = excluded.last_used_at`,
		args...)
	if err != nil {
		return wrap(op, err)
	}
	return nil
}

// UseTOTPStep records the acceptance of the user's code of step at now if
// step is later than the stored LastStep. The UPDATE that decides runs in
// a write transaction (which holds the write lock from its start), so that
// when it changes nothing, the look that tells a replay (ErrConflict) from
// a missing generator (ErrNotFound) sees the same row it did.
func (s *Store) UseTOTPStep(ctx context.Context, userID string, step int64, now time.Time) error {
	const op = "use totp step"
	var e encoder
	n := e.time(now)
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	in, err := s.begin(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer in.end(ctx)
	res, err := in.exec(ctx, `UPDATE totp_credentials SET last_step = ?1, last_used_at = ?2
		WHERE user_id = ?3 AND last_step < ?1`, step, n, userID)
	if err != nil {
		return wrap(op, err)
	}
	updated, err := res.RowsAffected()
	if err != nil {
		return wrap(op, err)
	}
	if updated == 0 {
		var one int
		if err := in.queryRow(ctx, `SELECT 1 FROM totp_credentials WHERE user_id = ?`, userID).Scan(&one); err != nil {
			return wrap(op, err)
		}
		return fmt.Errorf("sqlite: %s: step %d is not after the last one accepted: %w", op, step, storage.ErrConflict)
	}
	if err := in.tx.Commit(); err != nil {
		return wrap(op, err)
	}
	return nil
}

// DeleteTOTP removes the user's generator and reports whether there was
// one.
func (s *Store) DeleteTOTP(ctx context.Context, userID string) (bool, error) {
	res, err := s.exec(ctx, `DELETE FROM totp_credentials WHERE user_id = ?`, userID)
	if err != nil {
		return false, wrap("delete totp", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, wrap("delete totp", err)
	}
	return n > 0, nil
}

// SetRecoveryCodes replaces the user's recovery codes by codes in one write
// transaction; the codes' UserID is ignored, they are stored for userID.
// ErrDuplicateKey, before anything is written, when two codes share an ID;
// ErrNotFound when the user does not exist (checked first, so an empty set
// for an unknown user is refused too).
func (s *Store) SetRecoveryCodes(ctx context.Context, userID string, codes []storage.RecoveryCode) error {
	const op = "set recovery codes"
	ids := make([]string, len(codes))
	created := make([]any, len(codes))
	var e encoder
	for i, c := range codes {
		ids[i], created[i] = c.ID, e.time(c.CreatedAt)
	}
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	if hasDuplicate(ids) {
		return fmt.Errorf("sqlite: %s: %w", op, storage.ErrDuplicateKey)
	}
	in, err := s.begin(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer in.end(ctx)
	var one int
	if err := in.queryRow(ctx, `SELECT 1 FROM users WHERE id = ?`, userID).Scan(&one); err != nil {
		return wrap(op+": user "+userID, err)
	}
	if _, err := in.exec(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
		return wrap(op, err)
	}
	for i, c := range codes {
		_, err := in.exec(ctx, `INSERT INTO recovery_codes (user_id, id, hash, created_at) VALUES (?, ?, ?, ?)`,
			userID, c.ID, c.Hash, created[i])
		if err != nil {
			return wrap(op, err)
		}
	}
	if err := in.tx.Commit(); err != nil {
		return wrap(op, err)
	}
	return nil
}

// RecoveryCode returns the user's unused code with that ID; ErrNotFound
// when there is none.
func (s *Store) RecoveryCode(ctx context.Context, userID, id string) (*storage.RecoveryCode, error) {
	var (
		c       storage.RecoveryCode
		created sql.NullInt64
	)
	err := s.queryRow(ctx, `SELECT user_id, id, hash, created_at FROM recovery_codes WHERE user_id = ? AND id = ?`,
		userID, id).Scan(&c.UserID, &c.ID, &c.Hash, &created)
	if err != nil {
		return nil, wrap("recovery code", err)
	}
	var d decoder
	c.CreatedAt = d.time(created)
	return &c, nil
}

// UseRecoveryCode deletes the code, in one statement under the write lock:
// of concurrent uses exactly one deletes it, the others get ErrNotFound.
func (s *Store) UseRecoveryCode(ctx context.Context, userID, id string) error {
	const op = "use recovery code"
	res, err := s.exec(ctx, `DELETE FROM recovery_codes WHERE user_id = ? AND id = ?`, userID, id)
	if err != nil {
		return wrap(op, err)
	}
	return oneRow(res, op)
}

// RecoveryCodesLeft counts the user's unused codes.
func (s *Store) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	var n int
	if err := s.queryRow(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = ?`, userID).Scan(&n); err != nil {
		return 0, wrap("recovery codes left", err)
	}
	return n, nil
}

// DeleteRecoveryCodes removes every code of the user and returns how many
// there were.
func (s *Store) DeleteRecoveryCodes(ctx context.Context, userID string) (int, error) {
	res, err := s.exec(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID)
	if err != nil {
		return 0, wrap("delete recovery codes", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrap("delete recovery codes", err)
	}
	return int(n), nil
}

const pendingSignInColumns = `id, user_id, browser_hash, auth_request_id, session_id, remember, amr,
	auth_time, created_at, expires_at`

// CreatePendingSignIn stores p; ErrConflict if the id exists.
func (s *Store) CreatePendingSignIn(ctx context.Context, p *storage.PendingSignIn) error {
	const op = "create pending sign-in"
	var e encoder
	args := []any{p.ID, p.UserID, p.BrowserHash, p.AuthRequestID, p.SessionID, p.Remember, e.strings(p.AMR),
		e.time(p.AuthTime), e.time(p.CreatedAt), e.time(p.ExpiresAt)}
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	_, err := s.exec(ctx, `INSERT INTO pending_sign_ins (`+pendingSignInColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
	if err != nil {
		return wrap(op, err)
	}
	return nil
}

// PendingSignIn returns p if it exists and now is before its ExpiresAt;
// otherwise ErrNotFound.
func (s *Store) PendingSignIn(ctx context.Context, id string, now time.Time) (*storage.PendingSignIn, error) {
	const op = "pending sign-in"
	var e encoder
	n := e.time(now)
	if e.err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	p, err := scanPendingSignIn(s.queryRow(ctx, `SELECT `+pendingSignInColumns+` FROM pending_sign_ins
		WHERE id = ? AND expires_at > ?`, id, n))
	if err != nil {
		return nil, wrap(op, err)
	}
	return p, nil
}

// TakePendingSignIn deletes the live p and returns it, in one statement
// (DELETE ... RETURNING) under the write lock: of concurrent takes exactly
// one gets it. An expired one is left for Prune.
func (s *Store) TakePendingSignIn(ctx context.Context, id string, now time.Time) (*storage.PendingSignIn, error) {
	const op = "take pending sign-in"
	var e encoder
	n := e.time(now)
	if e.err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	p, err := scanPendingSignIn(s.writeRow(ctx, `DELETE FROM pending_sign_ins
		WHERE id = ? AND expires_at > ? RETURNING `+pendingSignInColumns, id, n))
	if err != nil {
		return nil, wrap(op, err)
	}
	return p, nil
}

func scanPendingSignIn(row scanner) (*storage.PendingSignIn, error) {
	var (
		p                          storage.PendingSignIn
		amr                        string
		authTime, created, expires sql.NullInt64
	)
	err := row.Scan(&p.ID, &p.UserID, &p.BrowserHash, &p.AuthRequestID, &p.SessionID, &p.Remember, &amr,
		&authTime, &created, &expires)
	if err != nil {
		return nil, err
	}
	var d decoder
	p.AMR = d.strings(amr)
	p.AuthTime, p.CreatedAt, p.ExpiresAt = d.time(authTime), d.time(created), d.time(expires)
	if d.err != nil {
		return nil, d.err
	}
	return &p, nil
}
