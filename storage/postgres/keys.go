package postgres

import (
	"context"
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
