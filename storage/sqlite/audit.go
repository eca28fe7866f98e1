package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const auditColumns = `id, time, kind, user_id, client_id, session_id, family, ip, actor, detail`

// appendAuditEvents inserts a batch of events in one statement: the batch
// is one JSON array (auditBatchJSON) that json_each turns back into rows,
// in array order, so that the ids follow the order of the batch. Strings
// travel hex-encoded and are cast back to TEXT, so that every byte
// arrives as given (JSON would replace invalid UTF-8 and cannot carry NUL).
const appendAuditEvents = `INSERT INTO audit_events
	(time, kind, user_id, client_id, session_id, family, ip, actor, detail)
	SELECT value->>0, CAST(unhex(value->>1) AS TEXT), CAST(unhex(value->>2) AS TEXT),
		CAST(unhex(value->>3) AS TEXT), CAST(unhex(value->>4) AS TEXT), CAST(unhex(value->>5) AS TEXT),
		CAST(unhex(value->>6) AS TEXT), CAST(unhex(value->>7) AS TEXT), CAST(unhex(value->>8) AS TEXT)
	FROM json_each(?) ORDER BY key`

// AppendAudit stores the events with one INSERT statement (so all or none
// of them), in the order given; the store assigns their IDs. An empty
// list is a no-op; an event without Kind or Time fails the call before
// anything is stored.
func (s *Store) AppendAudit(ctx context.Context, events []storage.AuditEvent) error {
	const op = "append audit events"
	if len(events) == 0 {
		return nil
	}
	if err := storage.CheckAuditEvents(events); err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	batch, err := auditBatchJSON(events)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if _, err := s.exec(ctx, appendAuditEvents, batch); err != nil {
		return wrap(op, err)
	}
	return nil
}

const hexDigits = "0123456789abcdef"

// auditBatchJSON encodes events as the JSON array appendAuditEvents reads:
// one array per event, its time in Unix nanoseconds and then its strings
// in hex, in column order. Hex needs no escaping, so the array is written
// directly.
func auditBatchJSON(events []storage.AuditEvent) (string, error) {
	size := 2
	for _, ev := range events {
		size += 24 + 8*3 + 2*(len(ev.Kind)+len(ev.UserID)+len(ev.ClientID)+len(ev.SessionID)+len(ev.Family)+
			len(ev.IP)+len(ev.Actor)+len(ev.Detail))
	}
	var e encoder
	b := make([]byte, 0, size)
	b = append(b, '[')
	for i, ev := range events {
		if i > 0 {
			b = append(b, ',')
		}
		n, _ := e.time(ev.Time).(int64) // never nil: CheckAuditEvents refused a zero Time
		b = append(b, '[')
		b = strconv.AppendInt(b, n, 10)
		for _, f := range []string{ev.Kind, ev.UserID, ev.ClientID, ev.SessionID, ev.Family, ev.IP, ev.Actor, ev.Detail} {
			b = append(b, ',', '"')
			for i := range len(f) {
				b = append(b, hexDigits[f[i]>>4], hexDigits[f[i]&0x0f])
			}
			b = append(b, '"')
		}
		b = append(b, ']')
	}
	b = append(b, ']')
	return string(b), e.err
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
	if q.Kind != "" {
		where, args = append(where, "kind = ?"), append(args, q.Kind)
	}
	if q.UserID != "" {
		where, args = append(where, "user_id = ?"), append(args, q.UserID)
	}
	if q.ClientID != "" {
		where, args = append(where, "client_id = ?"), append(args, q.ClientID)
	}
	if !q.Since.IsZero() {
		where, args = append(where, "time >= ?"), append(args, e.time(q.Since))
	}
	if q.Before.ID != 0 {
		t := e.time(q.Before.Time)
		where, args = append(where, "(time < ? OR (time = ? AND id < ?))"), append(args, t, t, q.Before.ID)
	}
	if e.err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	query := `SELECT ` + auditColumns + ` FROM audit_events`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	// One of 64 query texts, so the statement cache stays bounded.
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
