package conformance

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2"
)

// frontDoor is a load balancer the test steers: every request goes to the
// instance it currently points at.
type frontDoor struct {
	srv    *httptest.Server
	target atomic.Pointer[url.URL]
}

func newFrontDoor(t *testing.T) *frontDoor {
	d := &frontDoor{}
	d.srv = httptest.NewServer(&httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(d.target.Load())
			r.Out.Host = r.In.Host
		},
	})
	t.Cleanup(d.srv.Close)
	return d
}

func (d *frontDoor) to(s *server) { d.target.Store(&url.URL{Scheme: "http", Host: s.addr}) }

// startTwoInstances starts two Gatehouse processes on one fresh Postgres
// schema and Redis prefix, behind one issuer address: the front door.
func startTwoInstances(t *testing.T) (a, b *server, door *frontDoor) {
	t.Helper()
	env := productionBackend(t, nil, nil)
	door = newFrontDoor(t)
	dir := newStateDir(t)
	a = launch(t, &server{t: t, dir: dir, host: "127.0.0.1", fixedIssuer: door.srv.URL, backendEnv: env})
	b = launch(t, &server{t: t, dir: dir, host: "127.0.0.1", fixedIssuer: door.srv.URL, backendEnv: env})
	return a, b, door
}

// TestTwoInstances runs the relying-party flow across two Gatehouse
// processes sharing one Postgres and one Redis, behind one issuer address:
// sign in on A, redeem the code on B, refresh on A, userinfo on B, and the
// session is seen and ended from either.
func TestTwoInstances(t *testing.T) {
	a, b, door := startTwoInstances(t)

	door.to(a)
	r := newRP(t, a, "web-basic", basicSecret, "https://rp.example/callback", oauth2.AuthStyleInHeader)
	br := newBrowser(t)
	f := newFlow()
	code := r.code(a, f, br.login(r.authURL(f), "admin", adminPassword))

	door.to(b)
	tok, idt := r.exchange(f, code)

	door.to(a)
	next, err := r.refresh(tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh on A of a token issued by B: %v", err)
	}

	door.to(b)
	ui, err := r.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(next))
	if err != nil || ui.Subject != idt.Subject {
		t.Fatalf("userinfo on B: got %v, %v; want sub %q", ui, err, idt.Subject)
	}
	// B sees the session A made: single sign-on through B.
	f2 := newFlow()
	r.exchange(f2, r.code(a, f2, br.follow(r.authURL(f2, oauth2.SetAuthURLParam("prompt", "none")))))
	acct := br.get(door.srv.URL + "/account")
	if acct.status != http.StatusOK || !strings.Contains(acct.body, "<dd>admin</dd>") {
		t.Fatalf("account page on B: got %d", acct.status)
	}
	// Ended on B…
	if p := br.postForm(door.srv.URL+"/account/signout", formFields(acct.body)); p.status != http.StatusOK {
		t.Fatalf("sign out on B: got %d", p.status)
	}
	// …gone on A.
	door.to(a)
	resp := br.follow(r.authURL(newFlow(), oauth2.SetAuthURLParam("prompt", "none")))
	if got := resp.Query().Get("error"); got != "login_required" {
		t.Errorf("prompt=none on A after signing out on B: got %q, want login_required", got)
	}
}
