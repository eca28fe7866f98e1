package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const passkeyColumns = `id, user_id, name, credential, sign_count, created_at, last_used_at`

// CreatePasskey stores p: ErrConflict if a credential with its ID exists
// (the primary key, for any user), ErrNotFound if the user does not (the
// foreign key).
func (s *Store) CreatePasskey(ctx context.Context, p *storage.Passkey) error {
	const op = "create passkey"
	var e encoder
	args := []any{blob(p.ID), p.UserID, p.Name, blob(p.Credential), int64(p.SignCount),
		e.time(p.CreatedAt), e.time(p.LastUsedAt)}
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	_, err := s.exec(ctx, `INSERT INTO passkeys (`+passkeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`, args...)
	if err != nil {
		return wrap(op, err)
	}
	return nil
}

// UserPasskeys lists the user's passkeys, oldest first (CreatedAt, then
// ID bytewise; a zero CreatedAt, stored as NULL, first).
func (s *Store) UserPasskeys(ctx context.Context, userID string) ([]storage.Passkey, error) {
	const op = "user passkeys"
	rows, err := s.query(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var list []storage.Passkey
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		list = append(list, *p)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return list, nil
}

// Passkey returns the credential with that ID; ErrNotFound if none.
func (s *Store) Passkey(ctx context.Context, id []byte) (*storage.Passkey, error) {
	p, err := scanPasskey(s.queryRow(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE id = ?`, blob(id)))
	if err != nil {
		return nil, wrap("passkey", err)
	}
	return p, nil
}

// UsePasskey records a verified assertion of credential id at now if its
// stored SignCount is still prev. The UPDATE that decides runs in a write
// transaction (which holds the write lock from its start), so that when it
// changes nothing, the look that tells a use recorded meanwhile
// (ErrConflict) from a missing credential (ErrNotFound) sees the same row
// it did.
func (s *Store) UsePasskey(ctx context.Context, id []byte, prev, count uint32, credential []byte, now time.Time) error {
	const op = "use passkey"
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
	res, err := in.exec(ctx, `UPDATE passkeys SET sign_count = ?, credential = ?, last_used_at = ?
		WHERE id = ? AND sign_count = ?`, int64(count), blob(credential), n, blob(id), int64(prev))
	if err != nil {
		return wrap(op, err)
	}
	updated, err := res.RowsAffected()
	if err != nil {
		return wrap(op, err)
	}
	if updated == 0 {
		var one int
		if err := in.queryRow(ctx, `SELECT 1 FROM passkeys WHERE id = ?`, blob(id)).Scan(&one); err != nil {
			return wrap(op, err)
		}
		return fmt.Errorf("sqlite: %s: sign count is no longer %d: %w", op, prev, storage.ErrConflict)
	}
	if err := in.tx.Commit(); err != nil {
		return wrap(op, err)
	}
	return nil
}

// RenamePasskey sets the name of the user's credential id; ErrNotFound if
// the user has no such credential.
func (s *Store) RenamePasskey(ctx context.Context, userID string, id []byte, name string) error {
	const op = "rename passkey"
	res, err := s.exec(ctx, `UPDATE passkeys SET name = ? WHERE id = ? AND user_id = ?`, name, blob(id), userID)
	if err != nil {
		return wrap(op, err)
	}
	return oneRow(res, op)
}

// DeletePasskey removes the user's credential id and reports whether there
// was one; another user's is never removed.
func (s *Store) DeletePasskey(ctx context.Context, userID string, id []byte) (bool, error) {
	const op = "delete passkey"
	res, err := s.exec(ctx, `DELETE FROM passkeys WHERE id = ? AND user_id = ?`, blob(id), userID)
	if err != nil {
		return false, wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, wrap(op, err)
	}
	return n > 0, nil
}

// DeleteUserPasskeys removes every credential of the user and returns how
// many there were.
func (s *Store) DeleteUserPasskeys(ctx context.Context, userID string) (int, error) {
	const op = "delete user passkeys"
	res, err := s.exec(ctx, `DELETE FROM passkeys WHERE user_id = ?`, userID)
	if err != nil {
		return 0, wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrap(op, err)
	}
	return int(n), nil
}

func scanPasskey(row scanner) (*storage.Passkey, error) {
	var (
		p                 storage.Passkey
		created, lastUsed sql.NullInt64
	)
	if err := row.Scan(&p.ID, &p.UserID, &p.Name, &p.Credential, &p.SignCount, &created, &lastUsed); err != nil {
		return nil, err
	}
	var d decoder
	p.CreatedAt, p.LastUsedAt = d.time(created), d.time(lastUsed)
	return &p, nil
}

const webAuthnCeremonyColumns = `id, kind, user_id, binding, data, created_at, expires_at`

// CreateWebAuthnCeremony stores c; ErrConflict if the id exists.
func (s *Store) CreateWebAuthnCeremony(ctx context.Context, c *storage.WebAuthnCeremony) error {
	const op = "create webauthn ceremony"
	var e encoder
	args := []any{c.ID, c.Kind, c.UserID, c.Binding, blob(c.Data), e.time(c.CreatedAt), e.time(c.ExpiresAt)}
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	_, err := s.exec(ctx, `INSERT INTO webauthn_ceremonies (`+webAuthnCeremonyColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, args...)
	if err != nil {
		return wrap(op, err)
	}
	return nil
}

// TakeWebAuthnCeremony deletes the live ceremony and returns it, in one
// statement (DELETE ... RETURNING) under the write lock: of concurrent
// takes exactly one gets it. An expired one is left for Prune.
func (s *Store) TakeWebAuthnCeremony(ctx context.Context, id string, now time.Time) (*storage.WebAuthnCeremony, error) {
	const op = "take webauthn ceremony"
	var e encoder
	n := e.time(now)
	if e.err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	var (
		c                storage.WebAuthnCeremony
		created, expires sql.NullInt64
	)
	err := s.writeRow(ctx, `DELETE FROM webauthn_ceremonies WHERE id = ? AND expires_at > ?
		RETURNING `+webAuthnCeremonyColumns, id, n).
		Scan(&c.ID, &c.Kind, &c.UserID, &c.Binding, &c.Data, &created, &expires)
	if err != nil {
		return nil, wrap(op, err)
	}
	var d decoder
	c.CreatedAt, c.ExpiresAt = d.time(created), d.time(expires)
	return &c, nil
}
