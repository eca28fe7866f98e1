package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-idp/gatehouse/storage"
)

var _ storage.ClientRegistries = (*Store)(nil)

// AppliedClientRegistry returns the clients registry applied last, or
// ErrNotFound when none has been.
func (s *Store) AppliedClientRegistry(ctx context.Context) (*storage.ClientRegistry, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return appliedClientRegistry(ctx, s.pool)
}

func appliedClientRegistry(ctx context.Context, q querier) (*storage.ClientRegistry, error) {
	var (
		reg     storage.ClientRegistry
		applied pgtype.Timestamptz
	)
	err := q.QueryRow(ctx, `SELECT revision, digest, applied_at, applied_by FROM client_registry WHERE id = 1`).
		Scan(&reg.Revision, &reg.Digest, &applied, &reg.AppliedBy)
	if err != nil {
		return nil, wrap("applied client registry", err)
	}
	reg.AppliedAt = timeOf(applied)
	return &reg, nil
}

// ApplyClientRegistry applies clients and records reg, in the transaction
// of the sync (which locks the clients table against every other sync and
// apply before it reads the registry), when storage.CheckClientRegistry
// allows reg over the registry applied last.
func (s *Store) ApplyClientRegistry(ctx context.Context, reg storage.ClientRegistry, clients []storage.Client, now time.Time) (storage.SyncReport, *storage.ClientRegistry, error) {
	var prev *storage.ClientRegistry
	rep, err := s.syncClients(ctx, clients, now, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		prev, err = appliedClientRegistry(ctx, tx)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			prev = nil
		case err != nil:
			return err
		}
		if err := storage.CheckClientRegistry(prev, reg); err != nil {
			return err
		}
		if prev != nil && prev.Revision == reg.Revision && prev.Digest == reg.Digest {
			return nil // the same registry again: its record stays
		}
		_, err = tx.Exec(ctx, `INSERT INTO client_registry (id, revision, digest, applied_at, applied_by)
			VALUES (1, $1, $2, $3, $4)
			ON CONFLICT (id) DO UPDATE SET revision = excluded.revision, digest = excluded.digest,
				applied_at = excluded.applied_at, applied_by = excluded.applied_by`,
			reg.Revision, reg.Digest, ts(now), reg.AppliedBy)
		if err != nil {
			return wrap("record client registry", err)
		}
		return nil
	})
	if err != nil {
		return storage.SyncReport{}, prev, err
	}
	return rep, prev, nil
}
