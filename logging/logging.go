// Package logging puts what a request's context knows into its log lines:
// the request id (WithRequestID) and, when tracing is on, the trace and
// span ids. Wrap the handler of the process's logger with NewHandler; log
// with the *Context methods of log/slog (InfoContext…) wherever a request's
// context is at hand.
package logging

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

type requestIDKey struct{}

// WithRequestID returns a copy of ctx that carries the request id id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id ctx carries, or "" when it has none.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// NewHandler returns a handler that adds, to every record before h sees
// it, request_id when the record's context carries one and trace_id and
// span_id when it carries a valid span context. Records logged without a
// context (Info rather than InfoContext) get nothing. Under a logger with a
// group (WithGroup) the attributes land in that group.
func NewHandler(h slog.Handler) slog.Handler {
	return contextHandler{h}
}

// contextHandler is NewHandler's handler; Enabled is h's.
type contextHandler struct {
	slog.Handler
}

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(attrs)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}
