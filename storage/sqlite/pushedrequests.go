package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const pushedRequestColumns = `id, client_id, params, created_at, expires_at`

// PushRequest stores r; ErrConflict if the id exists.
func (s *Store) PushRequest(ctx context.Context, r *storage.PushedRequest) error {
	const op = "push request"
	var e encoder
	created, expires := e.time(r.CreatedAt), e.time(r.ExpiresAt)
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	_, err := s.exec(ctx, `INSERT INTO pushed_requests (`+pushedRequestColumns+`) VALUES (?, ?, ?, ?, ?)`,
		r.ID, r.ClientID, r.Params, created, expires)
	if err != nil {
		return wrap(op, err)
	}
	return nil
}

// TakePushedRequest deletes the live request of clientID with that id and
// returns it, in one statement (DELETE ... RETURNING) under the write
// lock: of concurrent takes exactly one gets it. An expired one is left
// for Prune, another client's as it is.
func (s *Store) TakePushedRequest(ctx context.Context, id, clientID string, now time.Time) (*storage.PushedRequest, error) {
	const op = "take pushed request"
	var e encoder
	n := e.time(now)
	if e.err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	r, err := scanPushedRequest(s.writeRow(ctx, `DELETE FROM pushed_requests
		WHERE id = ? AND client_id = ? AND expires_at > ? RETURNING `+pushedRequestColumns, id, clientID, n))
	if err != nil {
		return nil, wrap(op, err)
	}
	return r, nil
}

func scanPushedRequest(row scanner) (*storage.PushedRequest, error) {
	var (
		r                storage.PushedRequest
		created, expires sql.NullInt64
	)
	if err := row.Scan(&r.ID, &r.ClientID, &r.Params, &created, &expires); err != nil {
		return nil, err
	}
	var d decoder
	r.CreatedAt, r.ExpiresAt = d.time(created), d.time(expires)
	if d.err != nil {
		return nil, d.err
	}
	return &r, nil
}
