package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// tracer reports every statement and batch the pool runs to an observer
// (Options.Observer), as pgx's query and batch tracer: op is the
// statement's first keyword (statementKind), or "batch" for a batch, one
// round trip.
type tracer struct{ obs storage.CallObserver }

// traceStart is what TraceQueryStart and TraceBatchStart leave in the
// context for the matching end.
type traceStart struct {
	op string
	at time.Time
}

type traceKey struct{}

func (t tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, traceKey{}, traceStart{op: statementKind(data.SQL), at: time.Now()})
}

func (t tracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	t.end(ctx, data.Err)
}

func (t tracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return context.WithValue(ctx, traceKey{}, traceStart{op: "batch", at: time.Now()})
}

func (t tracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (t tracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchEndData) {
	t.end(ctx, data.Err)
}

func (t tracer) end(ctx context.Context, err error) {
	start, ok := ctx.Value(traceKey{}).(traceStart)
	if !ok {
		return
	}
	t.obs.Observe("postgres", start.op, time.Since(start.at), callError(err))
}

// callError returns err unless it is an answer rather than a failure: no
// rows, a unique violation (the store's ErrConflict), or the caller giving
// up (context.Canceled: a client that went away).
func callError(err error) error {
	var pgErr *pgconn.PgError
	switch {
	case err == nil, errors.Is(err, pgx.ErrNoRows), errors.Is(err, context.Canceled):
		return nil
	case errors.As(err, &pgErr) && pgErr.Code == "23505":
		return nil
	}
	return err
}

// statementKind is the op of a statement: its first keyword in lower case,
// if it is one Gatehouse's statements start with, else "other", so that
// the label has a handful of values whatever the SQL.
func statementKind(sql string) string {
	sql = strings.TrimLeft(sql, " \t\r\n(")
	end := strings.IndexFunc(sql, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_')
	})
	if end < 0 {
		end = len(sql)
	}
	switch kw := strings.ToLower(sql[:end]); kw {
	case "select", "insert", "update", "delete", "with", "begin", "commit", "rollback", "savepoint", "release", "lock":
		return kw
	}
	return "other"
}

// PoolStat returns the connection pool's statistics now, for metrics.
func (s *Store) PoolStat() *pgxpool.Stat { return s.pool.Stat() }
