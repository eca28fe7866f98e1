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
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {r.conf.RedirectURL}, "code_verifier": {verifier}}
	req, _ := http.NewRequest(http.MethodPost, r.conf.Endpoint.TokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(r.conf.ClientID), url.QueryEscape(r.conf.ClientSecret))
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		r.t.Fatalf("token endpoint: %v", err)
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
			during := r.redeem(code, f.verifier)
			tt.proxy.restore()
			t.Logf("during the fault: %d %s (Retry-After %q)", during.status, during.errorCode, during.retryAfter)
			if during.status < 500 || during.retryAfter == "" || during.errorCode != "server_error" {
				t.Errorf("code exchange during the fault: got %s, want a 5xx server_error with Retry-After", during)
			}
			eventually(t, "readiness after the fault", func() bool { return status(t, s.issuer+"/readyz") == http.StatusOK })

			after, retries := r.retryUntilServed(code, f.verifier, 20*time.Second)
			t.Logf("after the fault: %d %s, after %d more 5xx", after.status, after.errorCode, retries)
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
