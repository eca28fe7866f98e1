package postgres

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const logoutNoticeColumns = `id, client_id, user_id, session_id, created_at, deadline, attempts,
	next_attempt, last_error`

// EnqueueLogoutNotices inserts the notices in one transaction and one round
// trip; ErrConflict if an id exists, and then none is inserted.
func (s *Store) EnqueueLogoutNotices(ctx context.Context, notices []storage.LogoutNotice) error {
	const op = "enqueue logout notices"
	if len(notices) == 0 {
		return nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	// A batch outside a transaction runs as one implicit transaction.
	var b pgx.Batch
	for _, n := range notices {
		b.Queue(`INSERT INTO logout_notices (`+logoutNoticeColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			n.ID, n.ClientID, n.UserID, n.SessionID, ts(n.CreatedAt), ts(n.Deadline), n.Attempts,
			ts(n.NextAttempt), n.LastError)
	}
	if err := s.pool.SendBatch(ctx, &b).Close(); err != nil {
		return wrap(op, err)
	}
	return nil
}

// ClaimLogoutNotices returns up to n notices due at now (NextAttempt zero
// or not after now) whose Deadline is after now, oldest NextAttempt first
// (then by id), and moves their NextAttempt to now+lease, in one statement.
// Due rows are locked with FOR UPDATE SKIP LOCKED, so concurrent claimers
// never wait for each other nor claim one notice twice: a row another
// claimer has just moved is skipped or, once its lock is gone, no longer
// due. The notices are returned as stored after the claim, NextAttempt
// included. n <= 0 claims nothing.
func (s *Store) ClaimLogoutNotices(ctx context.Context, now time.Time, lease time.Duration, n int) ([]storage.LogoutNotice, error) {
	const op = "claim logout notices"
	if n <= 0 {
		return nil, nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `UPDATE logout_notices AS l SET next_attempt = $2
		FROM (SELECT id, next_attempt FROM logout_notices
			WHERE (next_attempt IS NULL OR next_attempt <= $1) AND deadline > $1
			ORDER BY next_attempt NULLS FIRST, id LIMIT $3
			FOR UPDATE SKIP LOCKED) AS due
		WHERE l.id = due.id
		RETURNING l.id, l.client_id, l.user_id, l.session_id, l.created_at, l.deadline, l.attempts,
			l.next_attempt, l.last_error, due.next_attempt`, ts(now), ts(now.Add(lease)), n)
	if err != nil {
		return nil, wrap(op, err)
	}
	type claimed struct {
		storage.LogoutNotice
		was time.Time
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (claimed, error) {
		var (
			c                            claimed
			created, deadline, next, was pgtype.Timestamptz
		)
		err := row.Scan(&c.ID, &c.ClientID, &c.UserID, &c.SessionID, &created, &deadline, &c.Attempts,
			&next, &c.LastError, &was)
		c.CreatedAt, c.Deadline, c.NextAttempt, c.was = timeOf(created), timeOf(deadline), timeOf(next), timeOf(was)
		return c, err
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	// RETURNING comes in no defined order.
	slices.SortFunc(list, func(a, b claimed) int {
		return cmp.Or(a.was.Compare(b.was), cmp.Compare(a.ID, b.ID))
	})
	out := make([]storage.LogoutNotice, len(list))
	for i, c := range list {
		out[i] = c.LogoutNotice
	}
	return out, nil
}

// RetryLogoutNotice overwrites Attempts, NextAttempt and LastError of the
// notice; ErrNotFound if it is gone.
func (s *Store) RetryLogoutNotice(ctx context.Context, id string, attempts int, next time.Time, lastErr string) error {
	const op = "retry logout notice"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE logout_notices SET attempts = $1, next_attempt = $2, last_error = $3 WHERE id = $4`,
		attempts, ts(next), lastErr, id)
	if err != nil {
		return wrap(op, err)
	}
	return oneRow(tag, op)
}

// DeleteLogoutNotice removes the notice; absent is not an error.
func (s *Store) DeleteLogoutNotice(ctx context.Context, id string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if _, err := s.pool.Exec(ctx, `DELETE FROM logout_notices WHERE id = $1`, id); err != nil {
		return wrap("delete logout notice", err)
	}
	return nil
}
