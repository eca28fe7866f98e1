package sqlite

import (
	"context"
	"database/sql"
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
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer tx.Rollback()
	in := runner{s: s, tx: tx}
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
	if err := tx.Commit(); err != nil {
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
