package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func TestHandlerAddsWhatTheContextKnows(t *testing.T) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	for _, tc := range []struct {
		name string
		log  func(*slog.Logger)
		want map[string]string // absent: "" means the key must be missing
	}{
		{"no context method", func(l *slog.Logger) { l.Info("m") },
			map[string]string{"request_id": "", "trace_id": "", "span_id": ""}},
		{"context without ids", func(l *slog.Logger) { l.InfoContext(context.Background(), "m") },
			map[string]string{"request_id": "", "trace_id": ""}},
		{"request id", func(l *slog.Logger) { l.WarnContext(WithRequestID(context.Background(), "abc-1"), "m") },
			map[string]string{"request_id": "abc-1", "trace_id": ""}},
		{"request id and span", func(l *slog.Logger) {
			ctx := trace.ContextWithSpanContext(WithRequestID(context.Background(), "abc-2"), sc)
			l.Log(ctx, slog.LevelError, "m")
		}, map[string]string{"request_id": "abc-2", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7"}},
		{"through With", func(l *slog.Logger) {
			l.With("k", "v").InfoContext(WithRequestID(context.Background(), "abc-3"), "m")
		}, map[string]string{"request_id": "abc-3", "k": "v"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tc.log(slog.New(NewHandler(slog.NewJSONHandler(&buf, nil))))
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatalf("log line %q: %v", buf.String(), err)
			}
			for k, want := range tc.want {
				got, ok := line[k]
				if want == "" && ok {
					t.Errorf("%s: got %v, want it absent", k, got)
				}
				if want != "" && got != want {
					t.Errorf("%s: got %v, want %q", k, got, want)
				}
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	if got := RequestID(context.Background()); got != "" {
		t.Errorf("RequestID of a bare context: got %q, want empty", got)
	}
	if got := RequestID(WithRequestID(context.Background(), "x")); got != "x" {
		t.Errorf("RequestID: got %q, want x", got)
	}
}
