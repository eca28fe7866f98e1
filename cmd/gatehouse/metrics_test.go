package main

import (
	"crypto/rand"
	"encoding/base64"
	"github.com/gatehouse-idp/gatehouse/audit"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
	"github.com/gatehouse-idp/gatehouse/metrics"
	"github.com/gatehouse-idp/gatehouse/provider"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
	"github.com/gatehouse-idp/gatehouse/storage/redis/redistest"
)

// metricsClients is a clients.yaml with one service that gets tokens by
// client_credentials.
const metricsClients = `clients:
  - client_id: reporting-job
    client_secret: 0123456789abcdef0123456789abcdef
    grant_types: [client_credentials]
    scope: reports:read
`

// metricsServe starts serve with the clients above and env, and returns
// its main and admin listeners' addresses ("" without one).
func metricsServe(t *testing.T, env map[string]string) (addr, adminAddr string) {
	t.Helper()
	_, addr, adminAddr = serviceServe(t, env)
	return addr, adminAddr
}

// serviceServe is metricsServe that returns serve's log too.
func serviceServe(t *testing.T, env map[string]string) (logs *syncBuffer, addr, adminAddr string) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "clients.yaml")
	if err := os.WriteFile(file, []byte(metricsClients), 0o600); err != nil {
		t.Fatal(err)
	}
	env["GATEHOUSE_CLIENTS_FILE"] = file
	env["GATEHOUSE_LISTEN"] = "127.0.0.1:0"
	if env["GATEHOUSE_DATABASE_URL"] == "" {
		env["GATEHOUSE_DATABASE_URL"] = filepath.Join(dir, "g.db")
	}
	checkRedisPrefix(t, env)
	logs, addr, _ = startServe(t, env)
	if m := regexp.MustCompile(`"msg":"listening","listener":"admin","addr":"([^"]+)"`).FindStringSubmatch(logs.String()); m != nil {
		adminAddr = m[1]
	}
	return logs, addr, adminAddr
}

// get returns the status and body of GET http://addr+path.
func get(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// serviceToken gets a token for reporting-job from the server at addr.
func serviceToken(t *testing.T, addr string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/oauth/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"reports:read"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("reporting-job", "0123456789abcdef0123456789abcdef")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("client_credentials token: got %d %s, want 200", resp.StatusCode, body)
	}
}

// wantLines fails the test unless body has every line of want.
func wantLines(t *testing.T, what, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains("\n"+body, "\n"+w+"\n") {
			t.Errorf("%s: got\n%s\nwant a line %q", what, body, w)
		}
	}
}

// wantPrefixes fails the test unless body has a line starting with each
// of prefixes.
func wantPrefixes(t *testing.T, what, body string, prefixes ...string) {
	t.Helper()
	for _, p := range prefixes {
		if !strings.Contains("\n"+body, "\n"+p) {
			t.Errorf("%s: got\n%s\nwant a line starting %q", what, body, p)
		}
	}
}

const tokenIssuedLine = `gatehouse_tokens_issued_total{client="reporting-job",grant_type="client_credentials"} 1`

// TestServeMetrics scrapes /metrics on the main listener, as serve does
// without admin_listen, and checks that a token issued is counted.
func TestServeMetrics(t *testing.T) {
	addr, adminAddr := metricsServe(t, map[string]string{})
	if adminAddr != "" {
		t.Fatalf("admin listener %s logged without admin_listen", adminAddr)
	}
	code, body := get(t, addr, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: got %d, want 200", code)
	}
	if strings.Contains(body, "gatehouse_tokens_issued_total{") {
		t.Errorf("GET /metrics before any token: got\n%s\nwant no gatehouse_tokens_issued_total", body)
	}
	wantPrefixes(t, "GET /metrics", body, `gatehouse_key_age_seconds{alg="RS256"} `, `gatehouse_key_age_seconds{alg="EdDSA"} `,
		"go_goroutines ", "process_start_time_seconds ")
	wantLines(t, "GET /metrics", body, "gatehouse_sessions_active 0", `gatehouse_sign_ins_total{result="failed"} 0`)

	serviceToken(t, addr)
	_, body = get(t, addr, "/metrics")
	wantLines(t, "GET /metrics after a token", body, tokenIssuedLine,
		`gatehouse_http_requests_total{method="POST",route="/oauth/token",status="200"} 1`,
		`gatehouse_http_requests_total{method="GET",route="/metrics",status="200"} 1`)
}

// TestServeMetricsOnAdmin runs serve with admin_listen: /metrics is there
// only, beside /healthz and /readyz, and counts what the main listener did.
func TestServeMetricsOnAdmin(t *testing.T) {
	addr, adminAddr := metricsServe(t, map[string]string{"GATEHOUSE_ADMIN_LISTEN": "127.0.0.1:0"})
	if adminAddr == "" {
		t.Fatal("no admin listener logged")
	}
	if code, _ := get(t, addr, "/metrics"); code != http.StatusNotFound {
		t.Errorf("GET /metrics on the main listener: got %d, want 404", code)
	}
	for path, want := range map[string]int{"/healthz": http.StatusOK, "/readyz": http.StatusOK, "/authorize": http.StatusNotFound} {
		if code, _ := get(t, adminAddr, path); code != want {
			t.Errorf("GET %s on the admin listener: got %d, want %d", path, code, want)
		}
	}
	serviceToken(t, addr)
	code, body := get(t, adminAddr, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics on the admin listener: got %d, want 200", code)
	}
	wantLines(t, "GET /metrics on the admin listener", body, tokenIssuedLine,
		`gatehouse_http_requests_total{method="GET",route="other",status="404"} 1`)
	if strings.Contains(body, `route="/metrics"`) || strings.Contains(body, `route="/healthz"`) {
		t.Errorf("GET /metrics on the admin listener: got\n%s\nwant the admin listener's own requests uncounted", body)
	}
}

// TestServeMetricsPostgresRedis runs serve on Postgres and Redis and checks
// what only they report: their calls, errors and pools.
func TestServeMetricsPostgresRedis(t *testing.T) {
	kek := make([]byte, 32)
	rand.Read(kek)
	addr, _ := metricsServe(t, map[string]string{
		"GATEHOUSE_DATABASE_URL":       pgtest.DSN(t),
		"GATEHOUSE_REDIS_URL":          redistest.URL(t),
		"GATEHOUSE_REDIS_KEY_PREFIX":   redistest.Prefix(t),
		"GATEHOUSE_KEY_ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(kek),
	})
	serviceToken(t, addr)
	code, body := get(t, addr, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: got %d, want 200", code)
	}
	wantLines(t, "GET /metrics", body, tokenIssuedLine, "gatehouse_sessions_active 0",
		`gatehouse_postgres_pool_max_connections 20`)
	wantPrefixes(t, "GET /metrics", body,
		`gatehouse_store_call_duration_seconds_count{backend="postgres",op="select"} `,
		`gatehouse_store_call_duration_seconds_count{backend="postgres",op="insert"} `,
		`gatehouse_store_call_duration_seconds_count{backend="redis",op="ping"} `,
		`gatehouse_store_call_duration_seconds_count{backend="redis",op="pipeline"} `, // ActiveSessions
		`gatehouse_postgres_pool_connections{state="acquired"} `,
		`gatehouse_postgres_pool_connections{state="total"} `,
		`gatehouse_redis_pool_hits_total `, `gatehouse_redis_pool_connections{state="idle"} `)
	if strings.Contains(body, "gatehouse_store_errors_total{") {
		t.Errorf("GET /metrics: got\n%s\nwant no store errors", body)
	}
}

// TestAuditSinkCountsEvents checks what the sink counts of each event kind
// it records, the key rotations it gets through Record included.
func TestAuditSinkCountsEvents(t *testing.T) {
	m := metrics.New()
	sink := newAuditSink(openAuditStore(t), slog.New(slog.DiscardHandler), time.Now, 64)
	sink.metrics = m
	runSink(t, sink)
	ctx := t.Context()
	for _, e := range []storage.AuditEvent{
		{Kind: provider.EventTokenIssued, ClientID: "web", Detail: "grant_type=authorization_code"},
		{Kind: provider.EventTokenIssued, ClientID: "job", Detail: "grant_type=client_credentials"},
		{Kind: provider.EventTokenRefreshed, ClientID: "web"},
		{Kind: provider.EventTokenRefreshed, ClientID: "web"},
		{Kind: provider.EventRefreshReuseDetected, ClientID: "web"},
		{Kind: provider.EventFamilyRevoked, ClientID: "web"}, // not counted
		{Kind: provider.EventBackchannelLogout, ClientID: "web", Detail: "outcome=" + provider.LogoutDelivered + " attempts=1 status=200"},
		{Kind: provider.EventBackchannelLogout, ClientID: "web", Detail: "outcome=" + provider.LogoutRejected + " attempts=1 status=400"},
		{Kind: loginui.EventSignIn, ClientID: "web"},
		{Kind: loginui.EventSignInFailed},
		{Kind: loginui.EventSignInFailed},
		{Kind: loginui.EventSignInThrottled},
		{Kind: loginui.EventConsentGranted, ClientID: "web"},
		{Kind: loginui.EventSignOut},
	} {
		sink.Record(ctx, e)
	}
	sink.Record(ctx, storage.AuditEvent{Kind: auditKeyRotated, Actor: audit.ActorSystem, Detail: "kid=k1"})
	sink.Record(ctx, storage.AuditEvent{Kind: auditKeyRevoked, Actor: audit.ActorOperator, Detail: "kid=k0"})
	want := `
# HELP gatehouse_tokens_issued_total Token responses issued, by grant type (authorization_code, refresh_token, client_credentials) and client.
# TYPE gatehouse_tokens_issued_total counter
gatehouse_tokens_issued_total{client="job",grant_type="client_credentials"} 1
gatehouse_tokens_issued_total{client="web",grant_type="authorization_code"} 1
gatehouse_tokens_issued_total{client="web",grant_type="refresh_token"} 2
# HELP gatehouse_sign_ins_total Password sign-ins, by result: success, failed or throttled.
# TYPE gatehouse_sign_ins_total counter
gatehouse_sign_ins_total{result="failed"} 2
gatehouse_sign_ins_total{result="success"} 1
gatehouse_sign_ins_total{result="throttled"} 1
# HELP gatehouse_refresh_reuse_detected_total Rotated refresh tokens presented again after the grace window (each revoked its family).
# TYPE gatehouse_refresh_reuse_detected_total counter
gatehouse_refresh_reuse_detected_total 1
# HELP gatehouse_backchannel_logout_deliveries_total Back-channel logout notices that reached a final outcome: delivered, rejected, gave_up or dropped.
# TYPE gatehouse_backchannel_logout_deliveries_total counter
gatehouse_backchannel_logout_deliveries_total{outcome="delivered"} 1
gatehouse_backchannel_logout_deliveries_total{outcome="rejected"} 1
# HELP gatehouse_key_rotations_total Signing keys created by a rotation on this instance.
# TYPE gatehouse_key_rotations_total counter
gatehouse_key_rotations_total 1
# HELP gatehouse_consents_total Consents users gave or withdrew, by action: granted or revoked.
# TYPE gatehouse_consents_total counter
gatehouse_consents_total{action="granted"} 1
gatehouse_consents_total{action="revoked"} 0
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"gatehouse_tokens_issued_total", "gatehouse_sign_ins_total", "gatehouse_refresh_reuse_detected_total",
		"gatehouse_backchannel_logout_deliveries_total", "gatehouse_key_rotations_total", "gatehouse_consents_total"); err != nil {
		t.Error(err)
	}
}

// TestServeLogLevel: at the default level (info) a token issued writes no
// log line, though its event is still counted (and stored); at debug it
// writes its audit line. (Above info the test could not find the
// listener's address, which serve logs at info.)
func TestServeLogLevel(t *testing.T) {
	for _, tt := range []struct {
		level     string
		tokenLine bool // "audit: token_issued" logged
	}{
		{"", false},
		{"info", false},
		{"debug", true},
	} {
		t.Run("log_level="+tt.level, func(t *testing.T) {
			logs, addr, _ := serviceServe(t, map[string]string{"GATEHOUSE_LOG_LEVEL": tt.level})
			before := logs.String()
			serviceToken(t, addr)
			_, body := get(t, addr, "/metrics")
			wantLines(t, "GET /metrics after a token", body, tokenIssuedLine)
			added := strings.TrimPrefix(logs.String(), before)
			if got := strings.Contains(added, `"msg":"audit: token_issued"`); got != tt.tokenLine {
				t.Errorf("log after a token holds an audit: token_issued line: got %v, want %v; the log added:\n%s", got, tt.tokenLine, added)
			}
			if !tt.tokenLine && added != "" {
				t.Errorf("log after a token: got\n%s\nwant nothing", added)
			}
		})
	}
}
