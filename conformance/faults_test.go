package conformance

import (
	"context"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// startBehindProxies starts a Postgres + Redis server whose connections to
// each store go through a fault proxy.
func startBehindProxies(t *testing.T) (*server, *faultProxy, *faultProxy) {
	t.Helper()
	var pg, rd *faultProxy
	env := productionBackend(t,
		func(target string) string { pg = newFaultProxy(t, target); return pg.addr() },
		func(target string) string { rd = newFaultProxy(t, target); return rd.addr() })
	s := launch(t, &server{t: t, dir: newStateDir(t), host: "127.0.0.1", backendEnv: env})
	return s, pg, rd
}

func status(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// eventually retries cond for up to 15 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := waitFor(ctx, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// TestRedisOutage: without Redis, signing in and authorizing answer 503
// with Retry-After and a page; a failed session lookup never counts as
// signed in; discovery, JWKS, refresh and userinfo keep working; service
// resumes when Redis returns, without a restart.
func TestRedisOutage(t *testing.T) {
	s, _, rd := startBehindProxies(t)
	r := newRP(t, s, "web-basic", basicSecret, "https://rp.example/callback", oauth2.AuthStyleInHeader)
	b := newBrowser(t)
	f := newFlow()
	tok, _ := r.exchange(f, r.code(s, f, b.login(r.authURL(f), "admin", adminPassword)))

	rd.cut()
	for name, br := range map[string]*browser{"signed-in browser": b, "new browser": newBrowser(t)} {
		p := br.get(r.authURL(newFlow()))
		if p.status != http.StatusServiceUnavailable || p.header.Get("Retry-After") == "" || !strings.Contains(p.body, "<h1>") {
			t.Errorf("authorize from a %s with Redis down: got %d (Retry-After %q) to %q, want a 503 page with Retry-After",
				name, p.status, p.header.Get("Retry-After"), p.location)
		}
	}
	p := b.get(r.authURL(newFlow(), oauth2.SetAuthURLParam("prompt", "none")))
	if p.status != http.StatusServiceUnavailable || p.location != "" {
		t.Errorf("prompt=none with Redis down: got %d to %q, want 503 and no code", p.status, p.location)
	}
	if got := status(t, s.issuer+"/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz with Redis down: got %d, want 503", got)
	}
	for _, path := range []string{"/.well-known/openid-configuration", "/keys", "/healthz"} {
		if got := status(t, s.issuer+path); got/100 != 2 {
			t.Errorf("%s with Redis down: got %d, want 2xx", path, got)
		}
	}
	next, err := r.refresh(tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh with Redis down (grants are in Postgres): %v", err)
	}
	if _, err := r.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(next)); err != nil {
		t.Errorf("userinfo with Redis down: %v", err)
	}

	rd.restore()
	eventually(t, "authorize after Redis returns", func() bool {
		return b.get(r.authURL(newFlow(), oauth2.SetAuthURLParam("prompt", "none"))).status == http.StatusFound
	})
	f = newFlow()
	r.exchange(f, r.code(s, f, b.follow(r.authURL(f, oauth2.SetAuthURLParam("prompt", "none")))))

	// A slow Redis is a dead Redis: 3 seconds per answer is far past the
	// read timeout (1 s), so the answer is 503, never a code that waited.
	rd.slow(3 * time.Second)
	if p := b.get(r.authURL(newFlow(), oauth2.SetAuthURLParam("prompt", "none"))); p.status != http.StatusServiceUnavailable {
		t.Errorf("prompt=none with Redis answering after 3 s: got %d to %q, want 503", p.status, p.location)
	}
	rd.restore()
}

// TestPostgresOutage: without Postgres, the token endpoint answers
// server_error and issues nothing; discovery and JWKS keep working; a
// refresh token that failed during the outage works afterwards.
func TestPostgresOutage(t *testing.T) {
	s, pg, _ := startBehindProxies(t)
	r := newRP(t, s, "web-basic", basicSecret, "https://rp.example/callback", oauth2.AuthStyleInHeader)
	b := newBrowser(t)
	f := newFlow()
	tok, _ := r.exchange(f, r.code(s, f, b.login(r.authURL(f), "admin", adminPassword)))
	f2 := newFlow()
	code := r.code(s, f2, b.follow(r.authURL(f2)))

	pg.cut()
	if _, err := r.refresh(tok.RefreshToken); oauthErrorCode(err) != "server_error" {
		t.Errorf("refresh with Postgres down: got %v, want server_error", err)
	}
	if _, err := r.conf.Exchange(context.Background(), code, oauth2.VerifierOption(f2.verifier)); oauthErrorCode(err) != "server_error" {
		t.Errorf("code exchange with Postgres down: got %v, want server_error", err)
	}
	if got := status(t, s.issuer+"/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz with Postgres down: got %d, want 503", got)
	}
	for _, path := range []string{"/.well-known/openid-configuration", "/keys", "/healthz"} {
		if got := status(t, s.issuer+path); got/100 != 2 {
			t.Errorf("%s with Postgres down: got %d, want 2xx", path, got)
		}
	}

	pg.restore()
	eventually(t, "readiness after Postgres returns", func() bool { return status(t, s.issuer+"/readyz") == http.StatusOK })
	if _, err := r.refresh(tok.RefreshToken); err != nil {
		t.Errorf("the refresh token that failed during the outage, afterwards: %v", err)
	}
}

// TestSIGTERMDrains: a request in flight when SIGTERM arrives still gets
// its answer.
func TestSIGTERMDrains(t *testing.T) {
	s, pg, _ := startBehindProxies(t)
	r := newRP(t, s, "web-basic", basicSecret, "https://rp.example/callback", oauth2.AuthStyleInHeader)
	b := newBrowser(t)
	f := newFlow()
	tok, _ := r.exchange(f, r.code(s, f, b.login(r.authURL(f), "admin", adminPassword)))

	pg.slow(100 * time.Millisecond) // the refresh below takes about a second
	done := make(chan error, 1)
	go func() {
		_, err := r.refresh(tok.RefreshToken)
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("refresh in flight during SIGTERM: %v, want its answer", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the in-flight refresh never finished")
	}
	if err := s.cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v, want 0", err)
	}
	s.cmd = nil
	pg.restore()
}
