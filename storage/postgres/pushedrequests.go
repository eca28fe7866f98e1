package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const pushedRequestColumns = `id, client_id, params, created_at, expires_at`

// PushRequest stores r; ErrConflict if the id exists.
func (s *Store) PushRequest(ctx context.Context, r *storage.PushedRequest) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO pushed_requests (`+pushedRequestColumns+`) VALUES ($1, $2, $3, $4, $5)`,
		r.ID, r.ClientID, r.Params, ts(r.CreatedAt), ts(r.ExpiresAt))
	if err != nil {
		return wrap("push request", err)
	}
	return nil
}

// TakePushedRequest deletes the live request of clientID with that id and
// returns it, in one statement (DELETE ... RETURNING): of concurrent takes
// the others wait for the first one's row lock, then find the row gone. An
// expired one is left for Prune, another client's as it is.
func (s *Store) TakePushedRequest(ctx context.Context, id, clientID string, now time.Time) (*storage.PushedRequest, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	r, err := scanPushedRequest(s.pool.QueryRow(ctx, `DELETE FROM pushed_requests
		WHERE id = $1 AND client_id = $2 AND expires_at > $3 RETURNING `+pushedRequestColumns, id, clientID, ts(now)))
	if err != nil {
		return nil, wrap("take pushed request", err)
	}
	return r, nil
}

func scanPushedRequest(row pgx.Row) (*storage.PushedRequest, error) {
	var (
		r                storage.PushedRequest
		created, expires pgtype.Timestamptz
	)
	if err := row.Scan(&r.ID, &r.ClientID, &r.Params, &created, &expires); err != nil {
		return nil, err
	}
	r.CreatedAt, r.ExpiresAt = timeOf(created), timeOf(expires)
	return &r, nil
}
