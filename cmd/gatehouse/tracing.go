package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-idp/gatehouse/clientip"
)

// setupTracing turns OpenTelemetry tracing on when the standard variables
// ask for it: OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set, OTEL_SDK_DISABLED not true,
// OTEL_TRACES_EXPORTER unset, otlp or none (none: off). Spans then go in
// batches to an OTLP exporter, over HTTP (protobuf, the default, or JSON)
// or gRPC as OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL says; the exporter, the
// batch processor, the sampler (OTEL_TRACES_SAMPLER, default
// parentbased_always_on) and the resource (OTEL_SERVICE_NAME, default
// gatehouse; OTEL_RESOURCE_ATTRIBUTES) read the rest of their settings from
// the process environment themselves. It sets the global tracer provider
// (op starts its spans from it) and the W3C trace-context and baggage
// propagator; wrap the handler with traceRequests.
//
// When tracing is off it sets nothing and returns a nil shutdown. Otherwise
// shutdown flushes the spans still queued and stops the exporter.
func setupTracing(ctx context.Context, getenv func(string) string, log *slog.Logger) (shutdown func(context.Context) error, err error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") ||
		getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return nil, nil
	}
	switch v := getenv("OTEL_TRACES_EXPORTER"); v {
	case "none":
		return nil, nil
	case "", "otlp":
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: only otlp and none are supported", v)
	}
	protocol := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	var exporter sdktrace.SpanExporter
	switch protocol {
	case "", "http/protobuf", "http/json":
		exporter, err = otlptracehttp.New(ctx)
	case "grpc":
		exporter, err = otlptracegrpc.New(ctx)
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: want http/protobuf, http/json or grpc", protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	// Later sources win: the variables override the defaults.
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName("gatehouse"), semconv.ServiceVersion(buildVersion())),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	// No WithSampler: NewTracerProvider takes OTEL_TRACES_SAMPLER and
	// OTEL_TRACES_SAMPLER_ARG itself.
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("tracing", "err", err) }))
	if protocol == "" {
		protocol = "http/protobuf"
	}
	log.Info("tracing on", "protocol", protocol)
	return tp.Shutdown, nil
}

// traceRequests makes each request a server span of the global tracer
// provider, continuing the caller's trace (traceparent). The span is named
// "METHOD /route" once the provider's router has matched the route.
// Health probes (/healthz, /readyz) and metrics scrapes are not traced.
func traceRequests(h http.Handler, clientIP *clientip.Resolver) http.Handler {
	return otelhttp.NewHandler(spanClientAddress(h, clientIP), "gatehouse", otelhttp.WithFilter(func(r *http.Request) bool {
		return r.URL.Path != "/healthz" && r.URL.Path != "/readyz" && r.URL.Path != "/metrics"
	}))
}

// spanClientAddress sets the request span's client.address to the client
// clientIP finds: otelhttp takes the leftmost X-Forwarded-For entry from
// anyone, which a client writes itself.
func spanClientAddress(h http.Handler, clientIP *clientip.Resolver) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
			if a := clientIP.ClientIP(r); a.IsValid() {
				span.SetAttributes(semconv.ClientAddress(a.String()))
			}
		}
		h.ServeHTTP(w, r)
	})
}

// stopTracing flushes the spans still queued, within 5 seconds; ctx may
// already be cancelled.
func stopTracing(ctx context.Context, shutdown func(context.Context) error, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		log.Warn("tracing: flush the last spans", "err", err)
	}
}

// buildVersion is the module version the binary was built from, or the
// VCS revision of a development build.
func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			return s.Value
		}
	}
	return "(devel)"
}
