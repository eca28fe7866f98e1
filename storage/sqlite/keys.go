package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const signingKeyColumns = `id, algorithm, public_jwk, private_sealed, kek_id,
	created_at, publish_at, activate_at, retire_at, delete_at`

// CreateSigningKey inserts k; ErrConflict if the id exists.
func (s *Store) CreateSigningKey(ctx context.Context, k *storage.SigningKey) error {
	var e encoder
	args := []any{k.ID, k.Algorithm, blob(k.PublicJWK), blob(k.PrivateSealed), k.KEKID,
		e.time(k.CreatedAt), e.time(k.PublishAt), e.time(k.ActivateAt), e.time(k.RetireAt), e.time(k.DeleteAt)}
	if e.err != nil {
		return fmt.Errorf("sqlite: create signing key %s: %w", k.ID, e.err)
	}
	_, err := s.exec(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
	if err != nil {
		return wrap("create signing key "+k.ID, err)
	}
	return nil
}

// SigningKeys returns every key whose DeleteAt is zero or after now, ordered
// by CreatedAt (then by id, for keys created at the same instant).
func (s *Store) SigningKeys(ctx context.Context, now time.Time) ([]storage.SigningKey, error) {
	var e encoder
	n := e.time(now)
	if e.err != nil {
		return nil, fmt.Errorf("sqlite: signing keys: %w", e.err)
	}
	rows, err := s.query(ctx, `SELECT `+signingKeyColumns+` FROM signing_keys
		WHERE delete_at IS NULL OR delete_at > ? ORDER BY created_at, id`, n)
	if err != nil {
		return nil, wrap("signing keys", err)
	}
	defer rows.Close()
	var out []storage.SigningKey
	for rows.Next() {
		var (
			k                                       storage.SigningKey
			created, publish, activate, retire, del sql.NullInt64
		)
		err := rows.Scan(&k.ID, &k.Algorithm, &k.PublicJWK, &k.PrivateSealed, &k.KEKID,
			&created, &publish, &activate, &retire, &del)
		if err != nil {
			return nil, wrap("signing keys", err)
		}
		var d decoder
		k.CreatedAt = d.time(created)
		k.PublishAt = d.time(publish)
		k.ActivateAt = d.time(activate)
		k.RetireAt = d.time(retire)
		k.DeleteAt = d.time(del)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("signing keys", err)
	}
	return out, nil
}

var _ storage.KeyRotation = (*Store)(nil)

// UpdateSigningKey overwrites the schedule and the sealed private part of the
// key with k.ID; ErrNotFound if there is none.
func (s *Store) UpdateSigningKey(ctx context.Context, k *storage.SigningKey) error {
	op := "update signing key " + k.ID
	var e encoder
	args := []any{blob(k.PrivateSealed), k.KEKID,
		e.time(k.PublishAt), e.time(k.ActivateAt), e.time(k.RetireAt), e.time(k.DeleteAt), k.ID}
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	res, err := s.exec(ctx, `UPDATE signing_keys SET private_sealed = ?, kek_id = ?,
		publish_at = ?, activate_at = ?, retire_at = ?, delete_at = ? WHERE id = ?`, args...)
	if err != nil {
		return wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(op, err)
	}
	if n == 0 {
		return notFound(op)
	}
	return nil
}

// DeleteSigningKeys removes every key whose DeleteAt is set and not after
// now, and reports how many it removed.
func (s *Store) DeleteSigningKeys(ctx context.Context, now time.Time) (int, error) {
	var e encoder
	n := e.time(now)
	if e.err != nil {
		return 0, fmt.Errorf("sqlite: delete signing keys: %w", e.err)
	}
	res, err := s.exec(ctx, `DELETE FROM signing_keys WHERE delete_at IS NOT NULL AND delete_at <= ?`, n)
	if err != nil {
		return 0, wrap("delete signing keys", err)
	}
	deleted, err := res.RowsAffected()
	if err != nil {
		return 0, wrap("delete signing keys", err)
	}
	return int(deleted), nil
}

// rotationLease bounds how long one WithRotationLock call holds the lock:
// fn's context ends then, and a holder that died without releasing the lock
// stops blocking others after that long.
const rotationLease = 5 * time.Minute

// WithRotationLock runs fn if no one holds the rotation lock, and reports
// whether it ran. The lock is a lease in the key_rotation_lock table, taken
// and released in single statements, so fn's own writes never wait for it;
// it is shared by every process using the file. fn's context ends when the
// lease does (rotationLease, measured on the wall clock, since it concerns
// live processes and not key schedules).
func (s *Store) WithRotationLock(ctx context.Context, fn func(ctx context.Context) error) (bool, error) {
	const op = "rotation lock"
	holder := rand.Text()
	now := time.Now()
	expires := now.Add(rotationLease)
	res, err := s.exec(ctx, `INSERT INTO key_rotation_lock (id, holder, expires_at) VALUES (1, ?, ?)
		ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE key_rotation_lock.expires_at <= ?`, holder, expires.UnixNano(), now.UnixNano())
	if err != nil {
		return false, wrap(op, err)
	}
	taken, err := res.RowsAffected()
	if err != nil {
		return false, wrap(op, err)
	}
	if taken == 0 {
		return false, nil
	}
	fctx, cancel := context.WithDeadline(ctx, expires)
	err = fn(fctx)
	cancel()
	// Released even when ctx has ended: otherwise the lease would block
	// every other instance until it expires.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer rcancel()
	if _, rerr := s.exec(rctx, `DELETE FROM key_rotation_lock WHERE id = 1 AND holder = ?`, holder); rerr != nil {
		err = errors.Join(err, wrap("release "+op, rerr))
	}
	return true, err
}

// CreateSecret inserts sec unless a secret of that name exists, and returns
// the stored one either way, in one write transaction, so that concurrent
// first starts agree on one secret.
func (s *Store) CreateSecret(ctx context.Context, sec *storage.Secret) (*storage.Secret, error) {
	op := "create secret " + sec.Name
	var e encoder
	created := e.time(sec.CreatedAt)
	if e.err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	in, err := s.begin(ctx)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer in.end(ctx)
	_, err = in.exec(ctx, `INSERT INTO secrets (name, sealed, kek_id, created_at)
		VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`,
		sec.Name, blob(sec.Sealed), sec.KEKID, created)
	if err != nil {
		return nil, wrap(op, err)
	}
	stored, err := secret(ctx, in, sec.Name)
	if err != nil {
		return nil, wrap(op, err)
	}
	if err := in.tx.Commit(); err != nil {
		return nil, wrap(op, err)
	}
	return stored, nil
}

// Secret returns the named secret, or ErrNotFound.
func (s *Store) Secret(ctx context.Context, name string) (*storage.Secret, error) {
	sec, err := secret(ctx, runner{s: s}, name)
	if err != nil {
		return nil, wrap("secret "+name, err)
	}
	return sec, nil
}

func secret(ctx context.Context, r runner, name string) (*storage.Secret, error) {
	var (
		sec     storage.Secret
		created sql.NullInt64
	)
	err := r.queryRow(ctx, `SELECT name, sealed, kek_id, created_at FROM secrets WHERE name = ?`, name).
		Scan(&sec.Name, &sec.Sealed, &sec.KEKID, &created)
	if err != nil {
		return nil, err
	}
	var d decoder
	sec.CreatedAt = d.time(created)
	return &sec, nil
}

// SecretsByPrefix returns every secret whose name starts with prefix, ordered
// by CreatedAt, then by name.
func (s *Store) SecretsByPrefix(ctx context.Context, prefix string) ([]storage.Secret, error) {
	const op = "secrets by prefix"
	rows, err := s.query(ctx, `SELECT name, sealed, kek_id, created_at FROM secrets
		WHERE substr(name, 1, length(?1)) = ?1 ORDER BY created_at, name`, prefix)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []storage.Secret
	for rows.Next() {
		var (
			sec     storage.Secret
			created sql.NullInt64
		)
		if err := rows.Scan(&sec.Name, &sec.Sealed, &sec.KEKID, &created); err != nil {
			return nil, wrap(op, err)
		}
		var d decoder
		sec.CreatedAt = d.time(created)
		out = append(out, sec)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// DeleteSecret removes the named secret; ErrNotFound if there is none.
func (s *Store) DeleteSecret(ctx context.Context, name string) error {
	op := "delete secret " + name
	res, err := s.exec(ctx, `DELETE FROM secrets WHERE name = ?`, name)
	if err != nil {
		return wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(op, err)
	}
	if n == 0 {
		return notFound(op)
	}
	return nil
}

// Rewrap replaces the sealed parts of keys, secrets and TOTP secrets in
// one write transaction, each only where the stored KEK id is still
// fromKEKID (and a TOTP secret only where it is still the one read); if any
// is not, nothing is written and the error wraps storage.ErrConflict.
func (s *Store) Rewrap(ctx context.Context, fromKEKID string, keys []storage.SigningKey, secrets []storage.Secret, totps []storage.RewrappedTOTP) error {
	const op = "rewrap"
	in, err := s.begin(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer in.end(ctx)
	one := func(what, query string, args ...any) error {
		res, err := in.exec(ctx, query, args...)
		if err != nil {
			return wrap(op+" "+what, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return wrap(op+" "+what, err)
		}
		if n == 0 {
			return fmt.Errorf("sqlite: %s %s: missing or no longer under KEK %s: %w", op, what, fromKEKID, storage.ErrConflict)
		}
		return nil
	}
	for _, k := range keys {
		if err := one("signing key "+k.ID, `UPDATE signing_keys SET private_sealed = ?, kek_id = ?
			WHERE id = ? AND kek_id = ?`, blob(k.PrivateSealed), k.KEKID, k.ID, fromKEKID); err != nil {
			return err
		}
	}
	for _, sec := range secrets {
		if err := one("secret "+sec.Name, `UPDATE secrets SET sealed = ?, kek_id = ?
			WHERE name = ? AND kek_id = ?`, blob(sec.Sealed), sec.KEKID, sec.Name, fromKEKID); err != nil {
			return err
		}
	}
	for _, c := range totps {
		if err := one("totp secret of user "+c.UserID, `UPDATE totp_credentials SET sealed_secret = ?, kek_id = ?
			WHERE user_id = ? AND kek_id = ? AND sealed_secret = ?`,
			blob(c.SealedSecret), c.KEKID, c.UserID, fromKEKID, blob(c.OldSealed)); err != nil {
			return err
		}
	}
	if err := in.tx.Commit(); err != nil {
		return wrap(op, err)
	}
	return nil
}
