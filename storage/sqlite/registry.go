package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

var _ storage.ClientRegistries = (*Store)(nil)

// AppliedClientRegistry returns the clients registry applied last, or
// ErrNotFound when none has been.
func (s *Store) AppliedClientRegistry(ctx context.Context) (*storage.ClientRegistry, error) {
	return appliedClientRegistry(ctx, runner{s: s})
}

func appliedClientRegistry(ctx context.Context, r runner) (*storage.ClientRegistry, error) {
	var (
		reg     storage.ClientRegistry
		applied sql.NullInt64
		d       decoder
	)
	err := r.queryRow(ctx, `SELECT revision, digest, applied_at, applied_by FROM client_registry WHERE id = 1`).
		Scan(&reg.Revision, &reg.Digest, &applied, &reg.AppliedBy)
	if err != nil {
		return nil, wrap("applied client registry", err)
	}
	reg.AppliedAt = d.time(applied)
	return &reg, d.err
}

// ApplyClientRegistry applies clients and records reg, in the transaction
// of the sync (which takes the write lock when it begins), when
// storage.CheckClientRegistry allows reg over the registry applied last.
func (s *Store) ApplyClientRegistry(ctx context.Context, reg storage.ClientRegistry, clients []storage.Client, now time.Time) (storage.SyncReport, *storage.ClientRegistry, error) {
	var prev *storage.ClientRegistry
	rep, err := s.syncClients(ctx, clients, now, func(ctx context.Context, in runner) error {
		var err error
		prev, err = appliedClientRegistry(ctx, in)
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
		var e encoder
		at := e.time(now)
		if e.err != nil {
			return fmt.Errorf("sqlite: record client registry: %w", e.err)
		}
		_, err = in.exec(ctx, `INSERT INTO client_registry (id, revision, digest, applied_at, applied_by)
			VALUES (1, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET revision = excluded.revision, digest = excluded.digest,
				applied_at = excluded.applied_at, applied_by = excluded.applied_by`,
			reg.Revision, reg.Digest, at, reg.AppliedBy)
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
