package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/gatehouse-idp/gatehouse/clientip"
)

// otelVars are the variables that could turn tracing on or change it;
// tests clear them all so the runner's own environment cannot interfere.
var otelVars = []string{
	"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_HEADERS",
	"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_INSECURE", "OTEL_EXPORTER_OTLP_TRACES_INSECURE",
	"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
	"OTEL_BSP_SCHEDULE_DELAY",
}

// setOTELEnv sets exactly the OTEL_* variables in env for the test, in
// the process environment (the exporter and the SDK read it) and in the
// environment serve is given.
func setOTELEnv(t *testing.T, serveEnv, env map[string]string) {
	t.Helper()
	for _, k := range otelVars {
		t.Setenv(k, env[k])
		if env[k] == "" {
			os.Unsetenv(k)
		}
	}
	for k, v := range env {
		serveEnv[k] = v
	}
}

func TestSetupTracingOff(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	before := otel.GetTracerProvider()
	for _, tt := range []struct {
		name string
		env  map[string]string
	}{
		{"no variables", nil},
		{"no endpoint", map[string]string{"OTEL_SERVICE_NAME": "x", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}},
		{"SDK disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_SDK_DISABLED": "TRUE"}},
		{"exporter none", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:1/v1/traces", "OTEL_TRACES_EXPORTER": "none"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			shutdown, err := setupTracing(t.Context(), func(k string) string { return tt.env[k] }, log)
			if err != nil || shutdown != nil {
				t.Errorf("setupTracing: got shutdown %v, err %v; want nil, nil (off)", shutdown != nil, err)
			}
			if otel.GetTracerProvider() != before {
				t.Errorf("the global tracer provider changed: got %T", otel.GetTracerProvider())
			}
		})
	}
	for _, tt := range []struct {
		name string
		env  map[string]string
	}{
		{"unknown protocol", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"}},
		{"unknown exporter", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_EXPORTER": "zipkin"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := setupTracing(t.Context(), func(k string) string { return tt.env[k] }, log); err == nil {
				t.Error("setupTracing: got nil error, want the variable refused")
			}
			if otel.GetTracerProvider() != before {
				t.Errorf("the global tracer provider changed: got %T", otel.GetTracerProvider())
			}
		})
	}

	// serve without any OTEL_* variable leaves the global provider as it
	// was: spans from it (op's) do not record.
	dir := t.TempDir()
	env := map[string]string{"GATEHOUSE_DATABASE_URL": filepath.Join(dir, "g.db"), "GATEHOUSE_LISTEN": "127.0.0.1:0"}
	setOTELEnv(t, env, nil)
	logs, addr, stop := startServe(t, env)
	resp, err := http.Get("http://" + addr + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	stop()
	if otel.GetTracerProvider() != before {
		t.Errorf("serve without OTEL variables changed the global tracer provider: got %T", otel.GetTracerProvider())
	}
	if _, span := otel.Tracer("test").Start(t.Context(), "x"); span.IsRecording() {
		t.Error("a span from the global tracer provider records, want the no-op")
	}
	if strings.Contains(logs.String(), "tracing on") || strings.Contains(logs.String(), `"trace_id"`) {
		t.Errorf("tracing is on without OTEL variables:\n%s", logs)
	}
}

// otlpReceiver is an OTLP/HTTP trace receiver: it keeps the spans posted to
// /v1/traces.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []receivedSpan
}

type receivedSpan struct {
	service string
	span    *tracepb.Span
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
		http.NotFound(w, r)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	data, err := io.ReadAll(body)
	var req collectortrace.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(data, &req)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	for _, rs := range req.ResourceSpans {
		var service string
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				o.spans = append(o.spans, receivedSpan{service, s})
			}
		}
	}
	o.mu.Unlock()
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// named returns the spans received with the name.
func (o *otlpReceiver) named(name string) []receivedSpan {
	o.mu.Lock()
	defer o.mu.Unlock()
	var got []receivedSpan
	for _, s := range o.spans {
		if s.span.Name == name {
			got = append(got, s)
		}
	}
	return got
}

func (o *otlpReceiver) names() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var names []string
	for _, s := range o.spans {
		names = append(names, s.span.Name)
	}
	return names
}

// TestServeExportsTraces runs serve with an OTLP endpoint: the server spans
// (named by route, continuing the caller's trace) reach the collector, and
// log lines carry the trace. (The token endpoint no longer runs op's
// exchange, whose span this test looked for under the token request.)
func TestServeExportsTraces(t *testing.T) {
	receiver := &otlpReceiver{}
	collector := httptest.NewServer(receiver)
	defer collector.Close()

	dir := t.TempDir()
	const secret = "service-secret-0123456789abcdefghijklmnop"
	clients := filepath.Join(dir, "clients.yaml")
	if err := os.WriteFile(clients, []byte("clients:\n  - client_id: service\n    client_secret: "+secret+
		"\n    grant_types: [client_credentials]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"GATEHOUSE_DATABASE_URL": filepath.Join(dir, "g.db"),
		"GATEHOUSE_CLIENTS_FILE": clients,
		"GATEHOUSE_LISTEN":       "127.0.0.1:0",
		"GATEHOUSE_LOG_LEVEL":    "debug", // the token_issued line checked below is a debug line
	}
	setOTELEnv(t, env, map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL,
		"OTEL_BSP_SCHEDULE_DELAY":     "20", // milliseconds
	})
	logs, addr, stop := startServe(t, env)
	if !strings.Contains(logs.String(), `"msg":"tracing on","protocol":"http/protobuf"`) {
		t.Errorf("no tracing on line:\n%s", logs)
	}

	// Discovery, as part of the caller's trace.
	const callerTrace, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/.well-known/openid-configuration", nil)
	req.Header.Set("traceparent", "00-"+callerTrace+"-"+callerSpan+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// Health probes are not traced.
	if resp, err = http.Get("http://" + addr + "/healthz"); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// A client_credentials token.
	req, _ = http.NewRequest(http.MethodPost, "http://"+addr+"/oauth/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("service", secret)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("client_credentials: got %d, want 200", resp.StatusCode)
	}
	requestID := resp.Header.Get("X-Request-Id")

	eventually(t, "the spans to reach the collector", func() bool {
		return len(receiver.named("POST /oauth/token")) > 0 && len(receiver.named("GET /.well-known/openid-configuration")) > 0
	})
	stop() // flushes the rest

	discovery := receiver.named("GET /.well-known/openid-configuration")[0]
	if discovery.service != "gatehouse" {
		t.Errorf("service.name: got %q, want gatehouse", discovery.service)
	}
	if got := discovery.span.Kind; got != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("discovery span kind: got %v, want server", got)
	}
	if got := hex.EncodeToString(discovery.span.TraceId); got != callerTrace {
		t.Errorf("discovery span trace: got %s, want the caller's %s", got, callerTrace)
	}
	if got := hex.EncodeToString(discovery.span.ParentSpanId); got != callerSpan {
		t.Errorf("discovery span parent: got %s, want the caller's span %s", got, callerSpan)
	}
	route := ""
	for _, a := range discovery.span.Attributes {
		if a.Key == "http.route" {
			route = a.GetValue().GetStringValue()
		}
	}
	if route != "/.well-known/openid-configuration" {
		t.Errorf("http.route: got %q, want /.well-known/openid-configuration", route)
	}

	if n := len(receiver.named("GET /healthz")) + len(receiver.named("GET")); n > 0 {
		t.Errorf("the health probe was traced: spans %q", receiver.names())
	}
	token := receiver.named("POST /oauth/token")[0].span

	// The token request's audit line names its request and its trace.
	found := false
	for _, line := range strings.Split(logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != "audit: token_issued" {
			continue
		}
		found = true
		if m["request_id"] != requestID || m["trace_id"] != hex.EncodeToString(token.TraceId) || m["span_id"] == nil {
			t.Errorf("token_issued line: got request_id %v, trace_id %v, span_id %v; want %s, %x and a span",
				m["request_id"], m["trace_id"], m["span_id"], requestID, token.TraceId)
		}
	}
	if !found {
		t.Errorf("no audit: token_issued line:\n%s", logs)
	}
}

// grpcReceiver is an OTLP/gRPC trace receiver: it keeps the names and
// services of the spans exported to it.
type grpcReceiver struct {
	collectortrace.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []string // "service/name"
}

func (g *grpcReceiver) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				g.spans = append(g.spans, service+"/"+s.Name)
			}
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// OTEL_EXPORTER_OTLP_PROTOCOL=grpc exports over gRPC, under the service
// name OTEL_SERVICE_NAME gives.
func TestSetupTracingGRPC(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	receiver := &grpcReceiver{}
	srv := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(srv, receiver)
	go srv.Serve(ln)
	defer srv.Stop()

	env := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + ln.Addr().String(), // http: no TLS
		"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
		"OTEL_SERVICE_NAME":           "gatehouse-eu1",
	}
	setOTELEnv(t, map[string]string{}, env)
	prev := otel.GetTracerProvider()
	defer otel.SetTracerProvider(prev)
	var logs bytes.Buffer
	shutdown, err := setupTracing(t.Context(), func(k string) string { return env[k] }, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil || shutdown == nil {
		t.Fatalf("setupTracing: got shutdown %v, err %v; want tracing on", shutdown != nil, err)
	}
	if !strings.Contains(logs.String(), `"protocol":"grpc"`) {
		t.Errorf("log: got %s, want protocol grpc", logs.String())
	}
	_, span := otel.Tracer("test").Start(t.Context(), "grpc-span")
	span.End()
	if err := shutdown(t.Context()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	receiver.mu.Lock()
	defer receiver.mu.Unlock()
	if !slices.Contains(receiver.spans, "gatehouse-eu1/grpc-span") {
		t.Errorf("spans received over gRPC: got %q, want gatehouse-eu1/grpc-span", receiver.spans)
	}
}

// A span's client.address is the client behind a trusted proxy, and the
// peer otherwise, never what an untrusted caller writes in
// X-Forwarded-For (which otelhttp records there first).
func TestSpanClientAddress(t *testing.T) {
	trusted := clientip.New([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	for _, tc := range []struct{ peer, xff, want string }{
		{"10.0.0.5:4000", "6.6.6.6, 198.51.100.7", "198.51.100.7"},
		{"192.0.2.1:4000", "198.51.100.7", "192.0.2.1"},
	} {
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = tc.peer
		req.Header.Set("X-Forwarded-For", tc.xff)
		ctx, span := tp.Tracer("test").Start(req.Context(), "request",
			trace.WithAttributes(attribute.String("client.address", strings.Split(tc.xff, ",")[0])))
		spanClientAddress(http.NotFoundHandler(), trusted).ServeHTTP(httptest.NewRecorder(), req.WithContext(ctx))
		span.End()
		var got []string
		for _, kv := range rec.Ended()[0].Attributes() {
			if kv.Key == "client.address" {
				got = append(got, kv.Value.AsString())
			}
		}
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("peer %s, X-Forwarded-For %q: client.address %q, want %q", tc.peer, tc.xff, got, tc.want)
		}
	}
}
