package postgres

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// LoginFailures returns the state of each key, in order, in one statement;
// a key without a counter, or whose counter has expired at now, has Count
// 0 and a zero Last.
func (s *Store) LoginFailures(ctx context.Context, keys []string, now time.Time) ([]storage.LoginFailures, error) {
	const op = "login failures"
	out := make([]storage.LoginFailures, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT key, count, last_at FROM login_failures
		WHERE key = ANY($1) AND expires_at > $2`, keys, ts(now))
	if err != nil {
		return nil, wrap(op, err)
	}
	found := make(map[string]storage.LoginFailures, len(keys))
	var (
		key  string
		f    storage.LoginFailures
		last pgtype.Timestamptz
	)
	_, err = pgx.ForEachRow(rows, []any{&key, &f.Count, &last}, func() error {
		found[key] = storage.LoginFailures{Count: f.Count, Last: timeOf(last)}
		return nil
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	for i, k := range keys {
		out[i] = found[k]
	}
	return out, nil
}

// RecordLoginFailure adds one failure to each key's counter (a key given
// twice gets two), sets its Last to now and its expiry to now+window, in
// one implicit transaction and one round trip. A counter that has expired
// at now starts again at 1. Keys are written in sorted order, so that two
// calls sharing keys never deadlock.
func (s *Store) RecordLoginFailure(ctx context.Context, keys []string, now time.Time, window time.Duration) error {
	if len(keys) == 0 {
		return nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	var b pgx.Batch
	for _, k := range sorted {
		b.Queue(`INSERT INTO login_failures (key, count, last_at, expires_at) VALUES ($1, 1, $2, $3)
			ON CONFLICT (key) DO UPDATE SET
				count = CASE WHEN login_failures.expires_at > $2 THEN login_failures.count + 1 ELSE 1 END,
				last_at = excluded.last_at, expires_at = excluded.expires_at`, k, ts(now), ts(now.Add(window)))
	}
	if err := s.pool.SendBatch(ctx, &b).Close(); err != nil {
		return wrap("record login failure", err)
	}
	return nil
}

// ClearLoginFailures deletes the keys' counters in one statement; absent
// keys are not an error.
func (s *Store) ClearLoginFailures(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if _, err := s.pool.Exec(ctx, `DELETE FROM login_failures WHERE key = ANY($1)`, keys); err != nil {
		return wrap("clear login failures", err)
	}
	return nil
}
