package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const signingKeyColumns = `id, algorithm, public_jwk, private_sealed, kek_id,
	created_at, publish_at, activate_at, retire_at, delete_at`

// CreateSigningKey inserts k; ErrConflict if the id exists.
func (s *Store) CreateSigningKey(ctx context.Context, k *storage.SigningKey) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		k.ID, k.Algorithm, blob(k.PublicJWK), blob(k.PrivateSealed), k.KEKID,
		ts(k.CreatedAt), ts(k.PublishAt), ts(k.ActivateAt), ts(k.RetireAt), ts(k.DeleteAt))
	if err != nil {
		return wrap("create signing key "+k.ID, err)
	}
	return nil
}

// SigningKeys returns every key whose DeleteAt is zero or after now, ordered
// by CreatedAt (then by id, for keys created at the same instant).
func (s *Store) SigningKeys(ctx context.Context, now time.Time) ([]storage.SigningKey, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+signingKeyColumns+` FROM signing_keys
		WHERE delete_at IS NULL OR delete_at > $1 ORDER BY created_at NULLS FIRST, id`, ts(now))
	if err != nil {
		return nil, wrap("signing keys", err)
	}
	defer rows.Close()
	var out []storage.SigningKey
	for rows.Next() {
		var (
			k                                       storage.SigningKey
			created, publish, activate, retire, del pgtype.Timestamptz
		)
		err := rows.Scan(&k.ID, &k.Algorithm, &k.PublicJWK, &k.PrivateSealed, &k.KEKID,
			&created, &publish, &activate, &retire, &del)
		if err != nil {
			return nil, wrap("signing keys", err)
		}
		k.CreatedAt = timeOf(created)
		k.PublishAt = timeOf(publish)
		k.ActivateAt = timeOf(activate)
		k.RetireAt = timeOf(retire)
		k.DeleteAt = timeOf(del)
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
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE signing_keys SET private_sealed = $1, kek_id = $2,
		publish_at = $3, activate_at = $4, retire_at = $5, delete_at = $6 WHERE id = $7`,
		blob(k.PrivateSealed), k.KEKID, ts(k.PublishAt), ts(k.ActivateAt), ts(k.RetireAt), ts(k.DeleteAt), k.ID)
	if err != nil {
		return wrap(op, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound(op)
	}
	return nil
}

// DeleteSigningKeys removes every key whose DeleteAt is set and not after
// now, and reports how many it removed.
func (s *Store) DeleteSigningKeys(ctx context.Context, now time.Time) (int, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `DELETE FROM signing_keys WHERE delete_at IS NOT NULL AND delete_at <= $1`, ts(now))
	if err != nil {
		return 0, wrap("delete signing keys", err)
	}
	return int(tag.RowsAffected()), nil
}

// rotationLockKey is hashed with the schema name into the rotation lock's
// advisory lock key, so that installations in different schemas of one
// database rotate independently.
const rotationLockKey = "gatehouse key rotation "

// WithRotationLock runs fn if no one holds the rotation lock, and reports
// whether it ran. The lock is a transaction-level advisory lock
// (pg_try_advisory_xact_lock) keyed on the schema, held by a transaction
// that stays open, writing nothing, while fn runs: it is released when that
// transaction ends, or by the server if the connection dies, so it cannot
// leak into the pool. Taking it is bounded by the store's timeout; holding
// it only by ctx. fn's store calls use other pooled connections.
func (s *Store) WithRotationLock(ctx context.Context, fn func(ctx context.Context) error) (bool, error) {
	const op = "rotation lock"
	lctx, cancel := s.bound(ctx)
	defer cancel()
	tx, err := s.pool.Begin(lctx)
	if err != nil {
		return false, wrap(op, err)
	}
	// Ending the transaction releases the lock, so it is ended even when
	// ctx is done; pgx closes the connection if that fails.
	defer func() {
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer rcancel()
		_ = tx.Rollback(rctx) // a transaction that wrote nothing; failure closes the connection
	}()
	var taken bool
	err = tx.QueryRow(lctx, `SELECT pg_try_advisory_xact_lock(hashtextextended($1::text || current_schema(), 0))`,
		rotationLockKey).Scan(&taken)
	if err != nil {
		return false, wrap(op, err)
	}
	if !taken {
		return false, nil
	}
	return true, fn(ctx)
}

const selectSecret = `SELECT name, sealed, kek_id, created_at FROM secrets WHERE name = $1`

// CreateSecret inserts sec unless a secret of that name exists, and returns
// the stored one either way, so that concurrent first starts agree on one
// secret. The insert (ON CONFLICT DO NOTHING, which waits for a concurrent
// insert of the same name to commit or roll back) and the read that follows
// it go to the server in one round trip; the read sees whichever insert won.
func (s *Store) CreateSecret(ctx context.Context, sec *storage.Secret) (*storage.Secret, error) {
	op := "create secret " + sec.Name
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var b pgx.Batch
	b.Queue(`INSERT INTO secrets (name, sealed, kek_id, created_at)
		VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING`,
		sec.Name, blob(sec.Sealed), sec.KEKID, ts(sec.CreatedAt))
	b.Queue(selectSecret, sec.Name)
	res := s.pool.SendBatch(ctx, &b)
	defer res.Close()
	if _, err := res.Exec(); err != nil {
		return nil, wrap(op, err)
	}
	stored, err := scanSecret(res.QueryRow())
	if err != nil {
		return nil, wrap(op, err)
	}
	if err := res.Close(); err != nil {
		return nil, wrap(op, err)
	}
	return stored, nil
}

// Secret returns the named secret, or ErrNotFound.
func (s *Store) Secret(ctx context.Context, name string) (*storage.Secret, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	sec, err := scanSecret(s.pool.QueryRow(ctx, selectSecret, name))
	if err != nil {
		return nil, wrap("secret "+name, err)
	}
	return sec, nil
}

func scanSecret(row scanner) (*storage.Secret, error) {
	var (
		sec     storage.Secret
		created pgtype.Timestamptz
	)
	if err := row.Scan(&sec.Name, &sec.Sealed, &sec.KEKID, &created); err != nil {
		return nil, err
	}
	sec.CreatedAt = timeOf(created)
	return &sec, nil
}

// SecretsByPrefix returns every secret whose name starts with prefix, ordered
// by CreatedAt, then by name.
func (s *Store) SecretsByPrefix(ctx context.Context, prefix string) ([]storage.Secret, error) {
	const op = "secrets by prefix"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT name, sealed, kek_id, created_at FROM secrets
		WHERE starts_with(name, $1) ORDER BY created_at, name`, prefix)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []storage.Secret
	for rows.Next() {
		sec, err := scanSecret(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		out = append(out, *sec)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// DeleteSecret removes the named secret; ErrNotFound if there is none.
func (s *Store) DeleteSecret(ctx context.Context, name string) error {
	op := "delete secret " + name
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `DELETE FROM secrets WHERE name = $1`, name)
	if err != nil {
		return wrap(op, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound(op)
	}
	return nil
}

// Rewrap replaces the sealed parts of keys, secrets and TOTP secrets in
// one transaction, each only where the stored KEK id is still fromKEKID
// (and a TOTP secret only where it is still the one read); if any is not,
// nothing is written and the error wraps storage.ErrConflict.
func (s *Store) Rewrap(ctx context.Context, fromKEKID string, keys []storage.SigningKey, secrets []storage.Secret, totps []storage.RewrappedTOTP) error {
	const op = "rewrap"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // after Commit a no-op
	one := func(what, query string, args ...any) error {
		tag, err := tx.Exec(ctx, query, args...)
		if err != nil {
			return wrap(op+" "+what, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("postgres: %s %s: missing or no longer under KEK %s: %w", op, what, fromKEKID, storage.ErrConflict)
		}
		return nil
	}
	for _, k := range keys {
		if err := one("signing key "+k.ID, `UPDATE signing_keys SET private_sealed = $1, kek_id = $2
			WHERE id = $3 AND kek_id = $4`, blob(k.PrivateSealed), k.KEKID, k.ID, fromKEKID); err != nil {
			return err
		}
	}
	for _, sec := range secrets {
		if err := one("secret "+sec.Name, `UPDATE secrets SET sealed = $1, kek_id = $2
			WHERE name = $3 AND kek_id = $4`, blob(sec.Sealed), sec.KEKID, sec.Name, fromKEKID); err != nil {
			return err
		}
	}
	for _, c := range totps {
		if err := one("totp secret of user "+c.UserID, `UPDATE totp_credentials SET sealed_secret = $1, kek_id = $2
			WHERE user_id = $3 AND kek_id = $4 AND sealed_secret = $5`,
			blob(c.SealedSecret), c.KEKID, c.UserID, fromKEKID, blob(c.OldSealed)); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return wrap(op, err)
	}
	return nil
}
