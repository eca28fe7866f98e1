package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

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
	var e encoder
	n, list := e.time(now), e.strings(keys)
	if e.err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	rows, err := s.query(ctx, `SELECT key, count, last_at FROM login_failures
		WHERE key IN (SELECT value FROM json_each(?)) AND expires_at > ?`, list, n)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	found := make(map[string]storage.LoginFailures, len(keys))
	for rows.Next() {
		var (
			key  string
			f    storage.LoginFailures
			last sql.NullInt64
		)
		if err := rows.Scan(&key, &f.Count, &last); err != nil {
			return nil, wrap(op, err)
		}
		var d decoder
		f.Last = d.time(last)
		found[key] = f
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	for i, k := range keys {
		out[i] = found[k]
	}
	return out, nil
}

// RecordLoginFailure adds one failure to each key's counter (a key given
// twice gets two), sets its Last to now and its expiry to now+window, in
// one write transaction. A counter that has expired at now starts again at
// 1.
func (s *Store) RecordLoginFailure(ctx context.Context, keys []string, now time.Time, window time.Duration) error {
	const op = "record login failure"
	if len(keys) == 0 {
		return nil
	}
	var e encoder
	n, exp := e.time(now), e.time(now.Add(window))
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrap(op, err)
	}
	defer tx.Rollback()
	in := runner{s: s, tx: tx}
	for _, k := range keys {
		_, err := in.exec(ctx, `INSERT INTO login_failures (key, count, last_at, expires_at) VALUES (?1, 1, ?2, ?3)
			ON CONFLICT (key) DO UPDATE SET
				count = CASE WHEN login_failures.expires_at > ?2 THEN login_failures.count + 1 ELSE 1 END,
				last_at = excluded.last_at, expires_at = excluded.expires_at`, k, n, exp)
		if err != nil {
			return wrap(op, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return wrap(op, err)
	}
	return nil
}

// ClearLoginFailures deletes the keys' counters in one statement; absent
// keys are not an error.
func (s *Store) ClearLoginFailures(ctx context.Context, keys []string) error {
	const op = "clear login failures"
	if len(keys) == 0 {
		return nil
	}
	var e encoder
	list := e.strings(keys)
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	if _, err := s.exec(ctx, `DELETE FROM login_failures WHERE key IN (SELECT value FROM json_each(?))`, list); err != nil {
		return wrap(op, err)
	}
	return nil
}
