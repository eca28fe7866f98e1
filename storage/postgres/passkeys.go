package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const passkeyColumns = `id, user_id, name, credential, sign_count, created_at, last_used_at`

// CreatePasskey stores p: ErrConflict if a credential with its ID exists
// (the primary key, for any user), ErrNotFound if the user does not (the
// foreign key).
func (s *Store) CreatePasskey(ctx context.Context, p *storage.Passkey) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO passkeys (`+passkeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		blob(p.ID), p.UserID, p.Name, blob(p.Credential), int64(p.SignCount), ts(p.CreatedAt), ts(p.LastUsedAt))
	if err != nil {
		return wrap("create passkey", err)
	}
	return nil
}

// UserPasskeys lists the user's passkeys, oldest first (CreatedAt, then
// ID bytewise; a zero CreatedAt, stored as NULL, first).
func (s *Store) UserPasskeys(ctx context.Context, userID string) ([]storage.Passkey, error) {
	const op = "user passkeys"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = $1
		ORDER BY created_at NULLS FIRST, id`, userID)
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
	ctx, cancel := s.bound(ctx)
	defer cancel()
	p, err := scanPasskey(s.pool.QueryRow(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE id = $1`, blob(id)))
	if err != nil {
		return nil, wrap("passkey", err)
	}
	return p, nil
}

// UsePasskey records a verified assertion of credential id at now if its
// stored SignCount is still prev, in one statement: the UPDATE decides (a
// concurrent one waits for the row lock, then finds sign_count changed),
// and the same statement looks whether the credential exists at all, to
// tell a use recorded meanwhile (ErrConflict) from a missing credential
// (ErrNotFound). A credential deleted while the statement runs may be
// reported as ErrConflict.
func (s *Store) UsePasskey(ctx context.Context, id []byte, prev, count uint32, credential []byte, now time.Time) error {
	const op = "use passkey"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var updated, exists bool
	err := s.pool.QueryRow(ctx, `WITH used AS (
			UPDATE passkeys SET sign_count = $3, credential = $4, last_used_at = $5
			WHERE id = $1 AND sign_count = $2
			RETURNING 1
		)
		SELECT EXISTS (SELECT 1 FROM used), EXISTS (SELECT 1 FROM passkeys WHERE id = $1)`,
		blob(id), int64(prev), int64(count), blob(credential), ts(now)).Scan(&updated, &exists)
	switch {
	case err != nil:
		return wrap(op, err)
	case updated:
		return nil
	case !exists:
		return notFound(op)
	}
	return fmt.Errorf("postgres: %s: sign count is no longer %d: %w", op, prev, storage.ErrConflict)
}

// RenamePasskey sets the name of the user's credential id; ErrNotFound if
// the user has no such credential.
func (s *Store) RenamePasskey(ctx context.Context, userID string, id []byte, name string) error {
	const op = "rename passkey"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE passkeys SET name = $3 WHERE id = $1 AND user_id = $2`, blob(id), userID, name)
	if err != nil {
		return wrap(op, err)
	}
	return oneRow(tag, op)
}

// DeletePasskey removes the user's credential id and reports whether there
// was one; another user's is never removed.
func (s *Store) DeletePasskey(ctx context.Context, userID string, id []byte) (bool, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `DELETE FROM passkeys WHERE id = $1 AND user_id = $2`, blob(id), userID)
	if err != nil {
		return false, wrap("delete passkey", err)
	}
	return tag.RowsAffected() > 0, nil
}

// DeleteUserPasskeys removes every credential of the user and returns how
// many there were.
func (s *Store) DeleteUserPasskeys(ctx context.Context, userID string) (int, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `DELETE FROM passkeys WHERE user_id = $1`, userID)
	if err != nil {
		return 0, wrap("delete user passkeys", err)
	}
	return int(tag.RowsAffected()), nil
}

func scanPasskey(row pgx.Row) (*storage.Passkey, error) {
	var (
		p                 storage.Passkey
		count             int64
		created, lastUsed pgtype.Timestamptz
	)
	if err := row.Scan(&p.ID, &p.UserID, &p.Name, &p.Credential, &count, &created, &lastUsed); err != nil {
		return nil, err
	}
	// The column's CHECK keeps it within a uint32.
	p.SignCount = uint32(count)
	p.CreatedAt, p.LastUsedAt = timeOf(created), timeOf(lastUsed)
	return &p, nil
}

const webAuthnCeremonyColumns = `id, kind, user_id, binding, data, created_at, expires_at`

// CreateWebAuthnCeremony stores c; ErrConflict if the id exists.
func (s *Store) CreateWebAuthnCeremony(ctx context.Context, c *storage.WebAuthnCeremony) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO webauthn_ceremonies (`+webAuthnCeremonyColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		c.ID, c.Kind, c.UserID, c.Binding, blob(c.Data), ts(c.CreatedAt), ts(c.ExpiresAt))
	if err != nil {
		return wrap("create webauthn ceremony", err)
	}
	return nil
}

// TakeWebAuthnCeremony deletes the live ceremony and returns it, in one
// statement (DELETE ... RETURNING): of concurrent takes the others wait
// for the first one's row lock, then find the row gone. An expired one is
// left for Prune.
func (s *Store) TakeWebAuthnCeremony(ctx context.Context, id string, now time.Time) (*storage.WebAuthnCeremony, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var (
		c                storage.WebAuthnCeremony
		created, expires pgtype.Timestamptz
	)
	err := s.pool.QueryRow(ctx, `DELETE FROM webauthn_ceremonies WHERE id = $1 AND expires_at > $2
		RETURNING `+webAuthnCeremonyColumns, id, ts(now)).
		Scan(&c.ID, &c.Kind, &c.UserID, &c.Binding, &c.Data, &created, &expires)
	if err != nil {
		return nil, wrap("take webauthn ceremony", err)
	}
	c.CreatedAt, c.ExpiresAt = timeOf(created), timeOf(expires)
	return &c, nil
}
