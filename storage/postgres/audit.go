package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const auditColumns = `id, time, kind, user_id, client_id, session_id, family, ip, actor, detail`

// appendAuditEvents inserts a batch of events in one statement: one array
// per column, unnested in step, in array order (WITH ORDINALITY), so that
// the sequence numbers the rows in the order of the batch.
const appendAuditEvents = `INSERT INTO audit_events
	(time, kind, user_id, client_id, session_id, family, ip, actor, detail)
	SELECT time, kind, user_id, client_id, session_id, family, ip, actor, detail
	FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
		$8::text[], $9::text[])
		WITH ORDINALITY AS e(time, kind, user_id, client_id, session_id, family, ip, actor, detail, n)
	ORDER BY n`

// AppendAudit stores the events with one INSERT statement, in one round
// trip, in the order given; the sequence assigns their IDs. An empty list
// is a no-op; an event without Kind or Time, or with a string Postgres
// cannot hold, fails the call and nothing is stored.
func (s *Store) AppendAudit(ctx context.Context, events []storage.AuditEvent) error {
	const op = "append audit events"
	if len(events) == 0 {
		return nil
	}
	if err := storage.CheckAuditEvents(events); err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	times := make([]pgtype.Timestamptz, len(events))
	cols := make([][]string, 8)
	for i := range cols {
		cols[i] = make([]string, len(events))
	}
	for i, e := range events {
		times[i] = ts(e.Time)
		for j, v := range []string{e.Kind, e.UserID, e.ClientID, e.SessionID, e.Family, e.IP, e.Actor, e.Detail} {
			cols[j][i] = v
		}
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	// Sent as a batch of one statement, as the append always was, so that
	// the store-call metrics keep counting it as op "batch".
	var b pgx.Batch
	b.Queue(appendAuditEvents, times, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7])
	if err := s.pool.SendBatch(ctx, &b).Close(); err != nil {
		return wrap(op, err)
	}
	return nil
}

// AuditEvents returns the events matching q, newest first (by Time, then
// ID), at most q.Limit of them (storage.DefaultAuditLimit when zero,
// never more than storage.MaxAuditLimit).
func (s *Store) AuditEvents(ctx context.Context, q storage.AuditQuery) ([]storage.AuditEvent, error) {
	const op = "audit events"
	limit, err := storage.AuditLimit(q.Limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", op, err)
	}
	var (
		where []string
		args  []any
	)
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, cond+" $"+strconv.Itoa(len(args)))
	}
	if q.Kind != "" {
		add("kind =", q.Kind)
	}
	if q.UserID != "" {
		add("user_id =", q.UserID)
	}
	if q.ClientID != "" {
		add("client_id =", q.ClientID)
	}
	if !q.Since.IsZero() {
		add("time >=", ts(q.Since))
	}
	if q.Before.ID != 0 {
		args = append(args, ts(q.Before.Time), q.Before.ID)
		n := len(args)
		where = append(where, "(time < $"+strconv.Itoa(n-1)+" OR (time = $"+strconv.Itoa(n-1)+" AND id < $"+strconv.Itoa(n)+"))")
	}
	query := `SELECT ` + auditColumns + ` FROM audit_events`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, limit)
	query += ` ORDER BY time DESC, id DESC LIMIT $` + strconv.Itoa(len(args))
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.AuditEvent, error) {
		var (
			e  storage.AuditEvent
			at pgtype.Timestamptz
		)
		err := row.Scan(&e.ID, &at, &e.Kind, &e.UserID, &e.ClientID, &e.SessionID, &e.Family, &e.IP,
			&e.Actor, &e.Detail)
		e.Time = timeOf(at)
		return e, err
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	return list, nil
}

// PruneAudit deletes up to batch events older than before, oldest first,
// in one statement that skips rows other transactions hold locked (so
// instances pruning at once do not queue), and returns how many it
// deleted.
func (s *Store) PruneAudit(ctx context.Context, before time.Time, batch int) (int, error) {
	const op = "prune audit events"
	if batch <= 0 {
		return 0, fmt.Errorf("postgres: %s: batch %d, want > 0", op, batch)
	}
	if before.IsZero() {
		return 0, nil // nothing is older than the zero time
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `DELETE FROM audit_events WHERE id IN (
		SELECT id FROM audit_events WHERE time < $1 ORDER BY time, id LIMIT $2
		FOR UPDATE SKIP LOCKED)`, ts(before), batch)
	if err != nil {
		return 0, wrap(op, err)
	}
	return int(tag.RowsAffected()), nil
}
