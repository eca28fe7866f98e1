package postgres

import (
	"context"
	"fmt"
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

// throttleLock takes a transaction-level advisory lock on the counter $1 in
// the current schema. ReserveLoginAttempt and ReleaseLoginAttempt take it
// on every key they touch, in sorted order (so two calls sharing keys never
// deadlock), before they read or write the key: a key's check and count
// are one step, whether or not its row exists yet.
const throttleLock = `SELECT pg_advisory_xact_lock(hashtextextended('gatehouse throttle ' || current_schema() || ' ' || $1::text, 0))`

// ReserveLoginAttempt checks every key and counts the attempt on all of
// them in one transaction holding the keys' locks (throttleLock): four
// round trips (begin; the locks and the read; the writes; commit), or three
// when a key refuses.
func (s *Store) ReserveLoginAttempt(ctx context.Context, limits []storage.ThrottleLimit, now time.Time, window time.Duration) (*storage.LoginAttempt, time.Duration, error) {
	const op = "reserve login attempt"
	keys := make([]string, len(limits))
	for i, l := range limits {
		keys[i] = l.Key
	}
	if len(keys) == 0 {
		return &storage.LoginAttempt{At: now}, 0, nil
	}
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	if len(slices.Compact(slices.Clone(sorted))) != len(sorted) {
		return nil, 0, fmt.Errorf("postgres: %s: %w", op, storage.ErrDuplicateKey)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, 0, wrap(op, err)
	}
	defer tx.Rollback(ctx)
	var b pgx.Batch
	for _, k := range sorted {
		b.Queue(throttleLock, k)
	}
	b.Queue(`SELECT key, count, last_at, expires_at FROM login_failures WHERE key = ANY($1) AND expires_at > $2`, keys, ts(now))
	br := tx.SendBatch(ctx, &b)
	for range sorted {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return nil, 0, wrap(op+": lock", err)
		}
	}
	type state struct {
		f       storage.LoginFailures
		expires time.Time
	}
	found := make(map[string]state, len(keys))
	rows, err := br.Query()
	if err == nil {
		var (
			key       string
			count     int
			last, xat pgtype.Timestamptz
		)
		_, err = pgx.ForEachRow(rows, []any{&key, &count, &last, &xat}, func() error {
			found[key] = state{storage.LoginFailures{Count: count, Last: timeOf(last)}, timeOf(xat)}
			return nil
		})
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
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
	b = pgx.Batch{}
	for i, l := range limits {
		st := found[l.Key]
		a.Keys[i] = storage.ReservedKey{Key: l.Key, Count: st.f.Count + 1, PrevLast: st.f.Last, PrevExpires: st.expires}
		b.Queue(`INSERT INTO login_failures (key, count, last_at, expires_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (key) DO UPDATE SET count = excluded.count, last_at = excluded.last_at, expires_at = excluded.expires_at`,
			l.Key, a.Keys[i].Count, ts(now), ts(now.Add(window)))
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return nil, 0, wrap(op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, 0, wrap(op, err)
	}
	return a, 0, nil
}

// ReleaseLoginAttempt gives a's attempt back and deletes the keys in
// forget, in one round trip: a batch, which runs as one transaction,
// holding the keys' locks (throttleLock).
func (s *Store) ReleaseLoginAttempt(ctx context.Context, a *storage.LoginAttempt, forget []string) error {
	const op = "release login attempt"
	var give []storage.ReservedKey
	if a != nil {
		for _, k := range a.Keys {
			if !slices.Contains(forget, k.Key) {
				give = append(give, k)
			}
		}
	}
	if len(give) == 0 && len(forget) == 0 {
		return nil
	}
	var locks []string
	for _, k := range give {
		locks = append(locks, k.Key)
	}
	locks = append(locks, forget...)
	slices.Sort(locks)
	locks = slices.Compact(locks)
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var b pgx.Batch
	for _, k := range locks {
		b.Queue(throttleLock, k)
	}
	for _, k := range give {
		// Exactly back to the state before a when a was the latest attempt
		// counted (the count and Last are still a's); else only the count
		// goes down.
		b.Queue(`UPDATE login_failures SET
			count = count - 1,
			last_at = CASE WHEN count = $2 AND last_at = $3 THEN $4 ELSE last_at END,
			expires_at = CASE WHEN count = $2 AND last_at = $3 THEN $5 ELSE expires_at END
			WHERE key = $1`, k.Key, k.Count, ts(a.At), ts(k.PrevLast), ts(k.PrevExpires))
	}
	if len(give) > 0 {
		b.Queue(`DELETE FROM login_failures WHERE key = ANY($1) AND count <= 0`, locks)
	}
	if len(forget) > 0 {
		b.Queue(`DELETE FROM login_failures WHERE key = ANY($1)`, forget)
	}
	if err := s.pool.SendBatch(ctx, &b).Close(); err != nil {
		return wrap(op, err)
	}
	return nil
}
