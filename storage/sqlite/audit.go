package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const auditColumns = `id, time, kind, user_id, client_id, session_id, family, ip, actor, detail`

// AppendAudit stores the events in one write transaction, in the order
// given; the store assigns their IDs. An empty list is a no-op; an event
// without Kind or Time fails the call before anything is stored.
func (s *Store) AppendAudit(ctx context.Context, events []storage.AuditEvent) error {
	const op = "append audit events"
	if len(events) == 0 {
		return nil
	}
	if err := storage.CheckAuditEvents(events); err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	args := make([][]any, len(events))
	var e encoder
	for i, ev := range events {
		args[i] = []any{e.time(ev.Time), ev.Kind, ev.UserID, ev.ClientID, ev.SessionID, ev.Family, ev.IP,
			ev.Actor, ev.Detail}
	}
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrap(op, err)
	}
	defer tx.Rollback()
	st, err := runner{s: s, tx: tx}.stmt(ctx, `INSERT INTO audit_events
		(time, kind, user_id, client_id, session_id, family, ip, actor, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return wrap(op, err)
	}
	for i := range args {
		if _, err := st.ExecContext(ctx, args[i]...); err != nil {
			return wrap(op, err)
		}
	}
	if err := tx.Commit(); err != nil {
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
		return nil, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	var (
		where []string
		args  []any
		e     encoder
	)
	if q.UserID != "" {
		where, args = append(where, "user_id = ?"), append(args, q.UserID)
	}
	if q.ClientID != "" {
		where, args = append(where, "client_id = ?"), append(args, q.ClientID)
	}
	if !q.Since.IsZero() {
		where, args = append(where, "time >= ?"), append(args, e.time(q.Since))
	}
	if e.err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	query := `SELECT ` + auditColumns + ` FROM audit_events`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	// One of eight query texts, so the statement cache stays bounded.
	rows, err := s.query(ctx, query+` ORDER BY time DESC, id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var list []storage.AuditEvent
	for rows.Next() {
		var (
			ev storage.AuditEvent
			at sql.NullInt64
			d  decoder
		)
		if err := rows.Scan(&ev.ID, &at, &ev.Kind, &ev.UserID, &ev.ClientID, &ev.SessionID, &ev.Family, &ev.IP,
			&ev.Actor, &ev.Detail); err != nil {
			return nil, wrap(op, err)
		}
		ev.Time = d.time(at)
		list = append(list, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return list, nil
}

// PruneAudit deletes up to batch events older than before, oldest first,
// in one short write transaction, and returns how many it deleted.
func (s *Store) PruneAudit(ctx context.Context, before time.Time, batch int) (int, error) {
	const op = "prune audit events"
	if batch <= 0 {
		return 0, fmt.Errorf("sqlite: %s: batch %d, want > 0", op, batch)
	}
	var e encoder
	b := e.time(before)
	if e.err != nil {
		return 0, fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	if b == nil {
		return 0, nil // nothing is older than the zero time
	}
	res, err := s.exec(ctx, `DELETE FROM audit_events WHERE id IN (
		SELECT id FROM audit_events WHERE time < ? ORDER BY time, id LIMIT ?)`, b, batch)
	if err != nil {
		return 0, wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrap(op, err)
	}
	return int(n), nil
}
