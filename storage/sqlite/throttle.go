package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
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

// ReserveLoginAttempt checks every key and counts the attempt on all of
// them in one write transaction, which holds SQLite's write lock from its
// start: concurrent reservations run one after the other.
func (s *Store) ReserveLoginAttempt(ctx context.Context, limits []storage.ThrottleLimit, now time.Time, window time.Duration) (*storage.LoginAttempt, time.Duration, error) {
	const op = "reserve login attempt"
	keys := make([]string, len(limits))
	for i, l := range limits {
		keys[i] = l.Key
	}
	if len(keys) == 0 {
		return &storage.LoginAttempt{At: now}, 0, nil
	}
	if hasDuplicate(keys) {
		return nil, 0, fmt.Errorf("sqlite: %s: %w", op, storage.ErrDuplicateKey)
	}
	var e encoder
	n, exp, list := e.time(now), e.time(now.Add(window)), e.strings(keys)
	if e.err != nil {
		return nil, 0, fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	in, err := s.begin(ctx)
	if err != nil {
		return nil, 0, wrap(op, err)
	}
	defer in.end(ctx)
	rows, err := in.query(ctx, `SELECT key, count, last_at, expires_at FROM login_failures
		WHERE key IN (SELECT value FROM json_each(?)) AND expires_at > ?`, list, n)
	if err != nil {
		return nil, 0, wrap(op, err)
	}
	type state struct {
		f       storage.LoginFailures
		expires time.Time
	}
	found := make(map[string]state, len(keys))
	for rows.Next() {
		var (
			key       string
			st        state
			last, xat sql.NullInt64
		)
		if err := rows.Scan(&key, &st.f.Count, &last, &xat); err != nil {
			rows.Close()
			return nil, 0, wrap(op, err)
		}
		var d decoder
		st.f.Last, st.expires = d.time(last), d.time(xat)
		found[key] = st
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, wrap(op, err)
	}
	var wait time.Duration
	for _, l := range limits {
		wait = max(wait, l.Wait(found[l.Key].f, now))
	}
	if wait > 0 {
		return nil, wait, nil
	}
	a := &storage.LoginAttempt{At: now, Keys: make([]storage.ReservedKey, len(limits))}
	for i, l := range limits {
		st := found[l.Key]
		a.Keys[i] = storage.ReservedKey{Key: l.Key, Count: st.f.Count + 1, PrevLast: st.f.Last, PrevExpires: st.expires}
		_, err := in.exec(ctx, `INSERT INTO login_failures (key, count, last_at, expires_at) VALUES (?1, ?2, ?3, ?4)
			ON CONFLICT (key) DO UPDATE SET count = excluded.count, last_at = excluded.last_at, expires_at = excluded.expires_at`,
			l.Key, a.Keys[i].Count, n, exp)
		if err != nil {
			return nil, 0, wrap(op, err)
		}
	}
	if err := in.tx.Commit(); err != nil {
		return nil, 0, wrap(op, err)
	}
	return a, 0, nil
}

// ReleaseLoginAttempt gives a's attempt back and deletes the keys in
// forget, in one write transaction.
func (s *Store) ReleaseLoginAttempt(ctx context.Context, a *storage.LoginAttempt, forget []string) error {
	const op = "release login attempt"
	if (a == nil || len(a.Keys) == 0) && len(forget) == 0 {
		return nil
	}
	in, err := s.begin(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer in.end(ctx)
	if a != nil {
		for _, k := range a.Keys {
			if slices.Contains(forget, k.Key) {
				continue
			}
			var e encoder
			at, prev, prevExp := e.time(a.At), e.time(k.PrevLast), e.time(k.PrevExpires)
			if e.err != nil {
				return fmt.Errorf("sqlite: %s: %w", op, e.err)
			}
			// Exactly back to the state before a when a was the latest
			// attempt counted (the count and Last are still a's); else
			// only the count goes down.
			_, err := in.exec(ctx, `UPDATE login_failures SET
				count = count - 1,
				last_at = CASE WHEN count = ?2 AND last_at = ?3 THEN ?4 ELSE last_at END,
				expires_at = CASE WHEN count = ?2 AND last_at = ?3 THEN ?5 ELSE expires_at END
				WHERE key = ?1`, k.Key, k.Count, at, prev, prevExp)
			if err != nil {
				return wrap(op, err)
			}
			if _, err := in.exec(ctx, `DELETE FROM login_failures WHERE key = ? AND count <= 0`, k.Key); err != nil {
				return wrap(op, err)
			}
		}
	}
	if len(forget) > 0 {
		var e encoder
		list := e.strings(forget)
		if e.err != nil {
			return fmt.Errorf("sqlite: %s: %w", op, e.err)
		}
		if _, err := in.exec(ctx, `DELETE FROM login_failures WHERE key IN (SELECT value FROM json_each(?))`, list); err != nil {
			return wrap(op, err)
		}
	}
	if err := in.tx.Commit(); err != nil {
		return wrap(op, err)
	}
	return nil
}

// hasDuplicate reports whether a key occurs twice in keys.
func hasDuplicate(keys []string) bool {
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if seen[k] {
			return true
		}
		seen[k] = true
	}
	return false
}
