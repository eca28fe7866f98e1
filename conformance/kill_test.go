package conformance

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestKillDuringRefresh: SIGKILL while a client refreshes in a loop. After
// a restart the chain is consistent: every token the client saw rotated
// stays dead, at most the last one it received still works, and the family
// goes on from there.
func TestKillDuringRefresh(t *testing.T) {
	// No grace window: every second use of a token is a reuse.
	s := launch(t, &server{t: t, dir: newStateDir(t), host: "127.0.0.1", backendEnv: suiteBackend(t),
		extraEnv: []string{"GATEHOUSE_REFRESH_GRACE=0"}})
	r := newRP(t, s, "web-basic", basicSecret, "https://rp.example/callback", oauth2.AuthStyleInHeader)
	f := newFlow()
	tok, _ := r.exchange(f, r.code(s, f, newBrowser(t).login(r.authURL(f), "admin", adminPassword)))

	var mu sync.Mutex
	seen := []string{tok.RefreshToken}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			last := seen[len(seen)-1]
			mu.Unlock()
			next, err := r.refresh(last)
			if err != nil {
				return // the process died under us
			}
			mu.Lock()
			seen = append(seen, next.RefreshToken)
			mu.Unlock()
		}
	}()
	time.Sleep(time.Duration(150+rand.IntN(250)) * time.Millisecond)
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	s.cmd.Wait()
	s.cmd = nil
	close(stop)
	<-done
	if len(seen) < 2 {
		t.Fatalf("only %d refreshes before the kill; the test needs the loop to have run", len(seen)-1)
	}

	s.start()
	r = newRP(t, s, "web-basic", basicSecret, "https://rp.example/callback", oauth2.AuthStyleInHeader)
	// The last token the client got either still works (the kill came
	// before its successor was committed) or was rotated by a request whose
	// answer the kill swallowed (invalid_grant): the family never forks.
	var continued string
	if next, err := r.refresh(seen[len(seen)-1]); err == nil {
		continued = next.RefreshToken
	} else if oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("the last pre-kill token: got %v, want success or invalid_grant", err)
	}
	// Every token rotated before the kill is dead, and presenting one is a
	// reuse: the whole family dies with it.
	if _, err := r.refresh(seen[0]); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("the first rotated token after the kill: got %v, want invalid_grant", err)
	}
	if continued != "" {
		if _, err := r.refresh(continued); oauthErrorCode(err) != "invalid_grant" {
			t.Errorf("the family's newest token after a reuse: got %v, want invalid_grant (family revoked)", err)
		}
	}
}

// TestKillDuringSignIn: SIGKILL while browsers sign in and redeem codes.
// After a restart every code obtained before the kill redeems at most
// once, and every session cookie either works or is simply signed out.
func TestKillDuringSignIn(t *testing.T) {
	s := startServer(t, "")
	r := newRP(t, s, "web-basic", basicSecret, "https://rp.example/callback", oauth2.AuthStyleInHeader)

	type attempt struct {
		b    *browser
		f    flow
		code string
	}
	var mu sync.Mutex
	var attempts []*attempt
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				a := &attempt{b: newBrowser(t), f: newFlow()}
				mu.Lock()
				attempts = append(attempts, a)
				mu.Unlock()
				if !tryLogin(a.b, r.authURL(a.f), s.issuer) {
					return
				}
				p, err := a.b.client.Get(r.authURL(a.f, oauth2.SetAuthURLParam("prompt", "none")))
				if err != nil {
					return
				}
				p.Body.Close()
				if loc, err := p.Location(); err == nil {
					mu.Lock()
					a.code = loc.Query().Get("code")
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(time.Duration(300+rand.IntN(300)) * time.Millisecond)
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	s.cmd.Wait()
	s.cmd = nil
	close(stop)
	wg.Wait()

	s.start()
	r = newRP(t, s, "web-basic", basicSecret, "https://rp.example/callback", oauth2.AuthStyleInHeader)
	codes := 0
	for _, a := range attempts {
		if a.code != "" {
			codes++
			_, err1 := r.conf.Exchange(context.Background(), a.code, oauth2.VerifierOption(a.f.verifier))
			_, err2 := r.conf.Exchange(context.Background(), a.code, oauth2.VerifierOption(a.f.verifier))
			if err1 == nil && err2 == nil {
				t.Errorf("a pre-kill code redeemed twice")
			}
		}
		// The browser's session, if any, is whole or absent: prompt=none
		// gives a code or login_required, never an error page.
		p := a.b.get(r.authURL(newFlow(), oauth2.SetAuthURLParam("prompt", "none")))
		if p.status != 302 {
			t.Errorf("prompt=none for a pre-kill browser: got %d, want a redirect\n%s", p.status, p.body)
			continue
		}
		loc, _ := url.Parse(p.location)
		if e := loc.Query().Get("error"); e != "" && e != "login_required" {
			t.Errorf("prompt=none for a pre-kill browser: got error %q", e)
		}
	}
	t.Logf("%d sign-ins started before the kill, %d reached a code", len(attempts), codes)
}

// tryLogin is browser.login without failing the test: it reports whether
// the sign-in went through.
func tryLogin(b *browser, authURL, issuer string) bool {
	resp, err := b.client.Get(authURL)
	if err != nil {
		return false
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		return false
	}
	form, err := b.client.Get(loc.String())
	if err != nil {
		return false
	}
	body := readAll(form)
	fields := formFields(body)
	fields.Set("username", "admin")
	fields.Set("password", adminPassword)
	req, _ := newFormPost(issuer+"/login", fields)
	post, err := b.client.Do(req)
	if err != nil {
		return false
	}
	post.Body.Close()
	next, err := post.Location()
	if err != nil {
		return false
	}
	cb, err := b.client.Get(next.String())
	if err != nil {
		return false
	}
	cb.Body.Close()
	return true
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// newFormPost is a same-origin form POST as a browser sends it.
func newFormPost(u string, form url.Values) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	pu, _ := url.Parse(u)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", pu.Scheme+"://"+pu.Host)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return req, nil
}
