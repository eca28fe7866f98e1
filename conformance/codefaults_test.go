package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// tokenAnswer is one answer of the token endpoint, as a client sees it.
type tokenAnswer struct {
	status     int
	retryAfter string
	errorCode  string
	body       string
}

func (a tokenAnswer) String() string {
	return fmt.Sprintf("%d %s (Retry-After %q) %s", a.status, a.errorCode, a.retryAfter, a.body)
}

// redeem posts one code exchange of r's client and returns the answer.
func (r *rp) redeem(code, verifier string) tokenAnswer {
	r.t.Helper()
	return r.redeemAt(r.conf.Endpoint.TokenURL, code, verifier)
}

// redeemAt is redeem at the token endpoint tokenURL.
func (r *rp) redeemAt(tokenURL, code, verifier string) tokenAnswer {
	r.t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {r.conf.RedirectURL}, "code_verifier": {verifier}}
	req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(r.conf.ClientID), url.QueryEscape(r.conf.ClientSecret))
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		r.t.Errorf("token endpoint: %v", err) // not Fatal: callers run it in goroutines
		return tokenAnswer{}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	return tokenAnswer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), errorCode: e.Error, body: string(body)}
}

// retryUntilServed retries a code exchange the way a careful client does
// after a 5xx, honouring Retry-After, until it gets an answer that is not
// a 5xx; every 5xx on the way must carry Retry-After. It returns that
// answer and how many 5xx came first.
func (r *rp) retryUntilServed(code, verifier string, within time.Duration) (tokenAnswer, int) {
	r.t.Helper()
	deadline := time.Now().Add(within)
	retries := 0
	for {
		a := r.redeem(code, verifier)
		if a.status < 500 {
			return a, retries
		}
		if a.retryAfter == "" {
			r.t.Errorf("a %d without Retry-After: %s", a.status, a)
		}
		retries++
		if time.Now().After(deadline) {
			r.t.Fatalf("still %s after %v", a, within)
		}
		wait, err := strconv.Atoi(a.retryAfter)
		if err != nil || wait < 1 {
			wait = 1
		}
		time.Sleep(time.Duration(min(wait, 2)) * time.Second)
	}
}

// TestCodeExchangeStoreFaults redeems codes while the connection to Redis
// (which holds codes) or Postgres (users, refresh grants) is cut, stalled
// or slowed, through a TCP proxy in front of each. Whatever the fault, the
// client hears a 5xx with Retry-After, never invalid_grant (which would
// make it give up on a good code); once the store is back, a retry with
// the same code and verifier succeeds, exactly once: the next use is
// invalid_grant.
func TestCodeExchangeStoreFaults(t *testing.T) {
	s, pg, rd := startBehindProxies(t)
	r := newRP(t, s, "web-basic", basicSecret, "https://rp.example/callback", oauth2.AuthStyleInHeader)
	b := newBrowser(t)
	f := newFlow()
	r.exchange(f, r.code(s, f, b.login(r.authURL(f), "admin", adminPassword)))

	faults := []struct {
		name   string
		proxy  *faultProxy
		inject func(p *faultProxy)
	}{
		{"redis cut", rd, (*faultProxy).cut},
		// The claim is held in the proxy and reaches Redis after the
		// restore, so the code stays claimed by a dead attempt until its
		// lease ends: the retry is told to wait, then succeeds.
		{"redis stalled", rd, (*faultProxy).stall},
		// Redis answers, but after the client's timeout: the claim ran,
		// its reply was lost.
		{"redis slower than its timeout", rd, func(p *faultProxy) { p.slow(time.Second) }},
		// The code is claimed in Redis, then the user cannot be read: the
		// claim must be given back.
		{"postgres cut", pg, (*faultProxy).cut},
		{"postgres stalled", pg, (*faultProxy).stall},
	}
	for _, tt := range faults {
		t.Run(tt.name, func(t *testing.T) {
			r.t = t
			f := newFlow()
			code := r.code(s, f, b.follow(r.authURL(f)))

			tt.inject(tt.proxy)
			start := time.Now()
			during := r.redeem(code, f.verifier)
			took := time.Since(start)
			tt.proxy.restore()
			t.Logf("during the fault: %d %s (Retry-After %q) after %v", during.status, during.errorCode, during.retryAfter, took.Round(time.Millisecond))
			if during.status < 500 || during.retryAfter == "" || during.errorCode != "server_error" {
				t.Errorf("code exchange during the fault: got %s, want a 5xx server_error with Retry-After", during)
			}
			eventually(t, "readiness after the fault", func() bool { return status(t, s.issuer+"/readyz") == http.StatusOK })

			start = time.Now()
			after, retries := r.retryUntilServed(code, f.verifier, 20*time.Second)
			t.Logf("after the fault: %d %s, after %d more 5xx (%v)", after.status, after.errorCode, retries, time.Since(start).Round(time.Millisecond))
			if after.status != http.StatusOK {
				t.Fatalf("the same code and verifier once the store is back: got %s, want 200", after)
			}
			var tok struct {
				AccessToken  string `json:"access_token"`
				RefreshToken string `json:"refresh_token"`
			}
			if err := json.Unmarshal([]byte(after.body), &tok); err != nil || tok.AccessToken == "" || tok.RefreshToken == "" {
				t.Fatalf("token response: %v, %s", err, after.body)
			}
			userinfo := func() error {
				_, err := r.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok.AccessToken}))
				return err
			}
			if err := userinfo(); err != nil {
				t.Errorf("userinfo with the access token of the success: %v", err)
			}
			if again := r.redeem(code, f.verifier); again.status != http.StatusBadRequest || again.errorCode != "invalid_grant" {
				t.Errorf("a second use of the redeemed code: got %s, want 400 invalid_grant", again)
			}
			// A second use revokes what the first issued, as for any
			// reused code.
			if err := userinfo(); err == nil {
				t.Errorf("userinfo after the code was used again: got success, want refused (family revoked)")
			}
		})
	}
}

// TestTokenPathsDuringStoreFaults: refresh, introspection, userinfo and
// revocation while Postgres (refresh grants, revoked families, users) or
// Redis is cut or stalled. Each answers either as if nothing happened (it
// did not need the store) or 5xx with Retry-After; never a 4xx or
// {"active":false}, which would tell the client or resource server that a
// good token is bad. Once the store is back, the same tokens work: nothing
// was burned or revoked by the failed calls.
func TestTokenPathsDuringStoreFaults(t *testing.T) {
	s, pg, rd := startBehindProxies(t)
	r := newRP(t, s, "web-basic", basicSecret, "https://rp.example/callback", oauth2.AuthStyleInHeader)
	b := newBrowser(t)
	f := newFlow()
	tok, _ := r.exchange(f, r.code(s, f, b.login(r.authURL(f), "admin", adminPassword)))

	type answer struct {
		status     int
		retryAfter string
		body       string
	}
	post := func(path string, form url.Values) answer {
		req, _ := http.NewRequest(http.MethodPost, s.issuer+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape("web-basic"), url.QueryEscape(basicSecret))
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		return answer{resp.StatusCode, resp.Header.Get("Retry-After"), readAll(resp)}
	}
	userinfo := func(access string) answer {
		req, _ := http.NewRequest(http.MethodGet, s.issuer+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+access)
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("userinfo: %v", err)
		}
		return answer{resp.StatusCode, resp.Header.Get("Retry-After"), readAll(resp)}
	}
	calls := []struct {
		name string
		do   func() answer
		ok   func(a answer) bool // a 2xx that is a correct answer
	}{
		{"refresh", func() answer {
			return post("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
		}, func(a answer) bool { return a.status == http.StatusOK && strings.Contains(a.body, "refresh_token") }},
		{"introspection", func() answer { return post("/oauth/introspect", url.Values{"token": {tok.AccessToken}}) },
			func(a answer) bool { return a.status == http.StatusOK && strings.Contains(a.body, `"active":true`) }},
		{"userinfo", func() answer { return userinfo(tok.AccessToken) },
			func(a answer) bool { return a.status == http.StatusOK && strings.Contains(a.body, `"sub"`) }},
	}
	faults := []struct {
		name   string
		proxy  *faultProxy
		inject func(p *faultProxy)
	}{
		{"postgres cut", pg, (*faultProxy).cut},
		{"postgres stalled", pg, (*faultProxy).stall},
		{"redis cut", rd, (*faultProxy).cut},
		{"redis stalled", rd, (*faultProxy).stall},
	}
	for _, ft := range faults {
		t.Run(ft.name, func(t *testing.T) {
			ft.inject(ft.proxy)
			for _, c := range calls {
				start := time.Now()
				a := c.do()
				t.Logf("%s: %d (Retry-After %q) after %v", c.name, a.status, a.retryAfter, time.Since(start).Round(time.Millisecond))
				if !c.ok(a) && (a.status < 500 || a.retryAfter == "") {
					t.Errorf("%s during the fault: got %d %s (Retry-After %q), want a correct answer or a 5xx with Retry-After", c.name, a.status, a.body, a.retryAfter)
				}
				if c.name == "refresh" && c.ok(a) {
					// A refresh that succeeded rotated the token: carry on
					// with the new one.
					var next struct {
						AccessToken  string `json:"access_token"`
						RefreshToken string `json:"refresh_token"`
					}
					if err := json.Unmarshal([]byte(a.body), &next); err == nil {
						tok.AccessToken, tok.RefreshToken = next.AccessToken, next.RefreshToken
					}
				}
			}
			// Revocation must never report success it did not achieve.
			rev := post("/revoke", url.Values{"token": {"never-issued-" + ft.name}})
			if rev.status != http.StatusOK && (rev.status < 500 || rev.retryAfter == "") {
				t.Errorf("revocation during the fault: got %d %s, want 200 or a 5xx with Retry-After", rev.status, rev.body)
			}
			ft.proxy.restore()
			eventually(t, "readiness after the fault", func() bool { return status(t, s.issuer+"/readyz") == http.StatusOK })
			for _, c := range calls {
				if a := c.do(); !c.ok(a) {
					t.Errorf("%s once the store is back: got %d %s", c.name, a.status, a.body)
				} else if c.name == "refresh" {
					var next struct {
						AccessToken  string `json:"access_token"`
						RefreshToken string `json:"refresh_token"`
					}
					if err := json.Unmarshal([]byte(a.body), &next); err == nil {
						tok.AccessToken, tok.RefreshToken = next.AccessToken, next.RefreshToken
					}
				}
			}
		})
	}
}

// TestCodeRedeemedOnceAcrossInstances: two Gatehouse processes share
// Postgres and Redis; each code is redeemed by 8 concurrent requests, half
// on each instance. Exactly one gets tokens; the others are told the code
// is taken (invalid_grant) or to retry (503 with Retry-After), and their
// retries get invalid_grant.
func TestCodeRedeemedOnceAcrossInstances(t *testing.T) {
	a, b, door := startTwoInstances(t)
	door.to(a)
	r := newRP(t, a, "web-basic", basicSecret, "https://rp.example/callback", oauth2.AuthStyleInHeader)
	br := newBrowser(t)
	f := newFlow()
	r.exchange(f, r.code(a, f, br.login(r.authURL(f), "admin", adminPassword)))

	const racers = 8
	for round := range 5 {
		f := newFlow()
		code := r.code(a, f, br.follow(r.authURL(f)))
		answers := make([]tokenAnswer, racers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range racers {
			inst := a
			if i%2 == 1 {
				inst = b
			}
			wg.Go(func() {
				<-start
				answers[i] = r.redeemAt("http://"+inst.addr+"/oauth/token", code, f.verifier)
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for i, ans := range answers {
			switch {
			case ans.status == http.StatusOK:
				won++
			case ans.status == http.StatusBadRequest && ans.errorCode == "invalid_grant":
			case ans.status >= 500 && ans.retryAfter != "":
				if again := r.redeemAt("http://"+a.addr+"/oauth/token", code, f.verifier); again.status == http.StatusOK {
					won++
				}
			default:
				t.Errorf("round %d, request %d: got %s, want 200, invalid_grant or a 5xx with Retry-After", round, i, ans)
			}
		}
		if won != 1 {
			t.Errorf("round %d: %d requests got tokens for one code, want exactly 1", round, won)
		}
	}
}
