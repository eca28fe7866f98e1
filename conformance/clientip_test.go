package conformance

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// forwardedFor makes b's requests carry X-Forwarded-For: xff, as a proxy
// in front of Gatehouse would add.
func forwardedFor(b *browser, xff string) *browser {
	b.client.Transport = headerTransport{"X-Forwarded-For", xff}
	return b
}

type headerTransport struct{ name, value string }

func (h headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set(h.name, h.value)
	return http.DefaultTransport.RoundTrip(req)
}

// auditEvents returns the events of the audit trail by kind, once done
// says they are all there (the server stores them in batches), or after
// 15 s.
func auditEvents(t *testing.T, s *server, done func(byKind map[string][]map[string]string) bool) map[string][]map[string]string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, err := s.gatehouseCLI("", "audit", "--json", "--limit", "1000")
		if err != nil {
			t.Fatalf("gatehouse audit: %v\n%s", err, out)
		}
		byKind := map[string][]map[string]string{}
		for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
			var e map[string]any
			if json.Unmarshal([]byte(line), &e) != nil {
				continue
			}
			m := map[string]string{}
			for k, v := range e {
				m[k] = fmt.Sprint(v)
			}
			byKind[m["kind"]] = append(byKind[m["kind"]], m)
		}
		if done(byKind) || time.Now().After(deadline) {
			return byKind
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestTrustedProxyClientIP: behind a TLS proxy every connection comes from
// the proxy. With the proxy in trusted_proxies, the client is the address
// the proxy puts in X-Forwarded-For: an attacker's failed guesses throttle
// the attacker, not everyone behind the proxy, and the audit trail shows
// each client's own address. From a peer that is not a trusted proxy the
// header is the client's own claim and is ignored.
func TestTrustedProxyClientIP(t *testing.T) {
	t.Parallel()
	s := launch(t, &server{t: t, dir: newStateDir(t), host: "127.0.0.1", backendEnv: suiteBackend(t),
		extraEnv: []string{"GATEHOUSE_TRUSTED_PROXIES=127.0.0.1"}}) // the test plays the proxy
	const attackerIP, userIP = "203.0.113.66", "198.51.100.7"
	attacker := forwardedFor(newBrowser(t), "10.9.9.9, "+attackerIP) // the left entry is the attacker's own
	for i := range 20 {
		if p := attacker.postLogin(s, fmt.Sprintf("guess%d", i), "wrong-password"); p.status != http.StatusOK {
			t.Fatalf("attacker's guess %d: got %d, want 200 with the form again", i+1, p.status)
		}
	}
	if p := attacker.postLogin(s, "admin", adminPassword); p.status != http.StatusTooManyRequests {
		t.Fatalf("attacker after 20 failures: got %d, want 429", p.status)
	}
	if p := forwardedFor(newBrowser(t), userIP).postLogin(s, "admin", adminPassword); p.status != http.StatusSeeOther {
		t.Fatalf("another user behind the same proxy: got %d, want 303 (a throttle counter of their own)", p.status)
	}
	events := auditEvents(t, s, func(e map[string][]map[string]string) bool {
		return len(e["sign_in"]) >= 1 && len(e["sign_in_failed"]) >= 20 && len(e["sign_in_throttled"]) >= 1
	})
	if signIns := events["sign_in"]; len(signIns) != 1 || signIns[0]["ip"] != userIP {
		t.Errorf("sign_in events: %v, want one from %s", signIns, userIP)
	}
	failed, throttled := events["sign_in_failed"], events["sign_in_throttled"]
	for _, e := range append(failed, throttled...) {
		if e["ip"] != attackerIP {
			t.Errorf("%s event from %s, want %s: %v", e["kind"], e["ip"], attackerIP, e)
		}
	}
	if len(failed) != 20 || len(throttled) != 1 {
		t.Errorf("got %d sign_in_failed and %d sign_in_throttled events, want 20 and 1", len(failed), len(throttled))
	}

	// The same header from a peer that is not a trusted proxy: ignored.
	direct := launch(t, &server{t: t, dir: newStateDir(t), host: "127.0.0.1", backendEnv: suiteBackend(t),
		extraEnv: []string{"GATEHOUSE_TRUSTED_PROXIES=10.0.0.0/8"}})
	if p := forwardedFor(newBrowser(t), userIP).postLogin(direct, "admin", adminPassword); p.status != http.StatusSeeOther {
		t.Fatalf("sign-in with a spoofed header: got %d, want 303", p.status)
	}
	events = auditEvents(t, direct, func(e map[string][]map[string]string) bool { return len(e["sign_in"]) >= 1 })
	if e := events["sign_in"]; len(e) != 1 || e[0]["ip"] != "127.0.0.1" {
		t.Errorf("sign_in with a spoofed X-Forwarded-For from an untrusted peer: %v, want the peer 127.0.0.1", e)
	}
}

// TestConcurrentWrongPasswordsFromOneIP: the attack of issue 10, 64
// wrong-password POSTs at once from one IP, which got 67 password checks
// where 20 are allowed. Each check of a wrong password is a sign_in_failed
// event in the audit trail; there may be no more of them than the limit
// allows within the time the burst took (20, plus one for each doubling
// delay that ran out: 1 s, then 2 s more, …).
func TestConcurrentWrongPasswordsFromOneIP(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	b := newBrowser(t)
	fields := formFields(b.get(s.issuer + "/login").body)
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		wg       sync.WaitGroup
	)
	start := make(chan struct{})
	for i := range 64 {
		form := url.Values{}
		for k, v := range fields {
			form[k] = v
		}
		form.Set("username", fmt.Sprintf("nobody%d", i)) // unknown: the full argon2id of the dummy hash
		form.Set("password", "wrong-password")
		wg.Go(func() {
			<-start
			p := b.postForm(s.issuer+"/login", form)
			mu.Lock()
			statuses[p.status]++
			mu.Unlock()
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(began)
	allowed := 20 + int(math.Log2(took.Seconds()+1))
	// Every 200 and 429 is one event (a 503, too busy to check, none).
	events := auditEvents(t, s, func(e map[string][]map[string]string) bool {
		return len(e["sign_in_failed"])+len(e["sign_in_throttled"]) >= statuses[http.StatusOK]+statuses[http.StatusTooManyRequests]
	})
	failed := len(events["sign_in_failed"])
	t.Logf("64 concurrent wrong passwords in %v: statuses %v, %d password checks (allowed: %d)", took.Round(time.Millisecond), statuses, failed, allowed)
	if failed > allowed {
		t.Errorf("got %d password checks (sign_in_failed events), want at most %d", failed, allowed)
	}
	// The rest are refused before any password work (429), or gave their
	// attempt back after waiting too long for a hash slot (503).
	if statuses[http.StatusOK] != failed || statuses[http.StatusOK]+statuses[http.StatusTooManyRequests]+statuses[http.StatusServiceUnavailable] != 64 {
		t.Errorf("statuses %v: want one 200 per check (%d), and only 429 and 503 besides", statuses, failed)
	}
}
