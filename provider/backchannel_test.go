package provider

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// testRP is a relying party's back-channel logout endpoint. answer decides
// the response to the n-th request (from 1); nil answers 200.
type testRP struct {
	srv    *httptest.Server
	answer func(n int, w http.ResponseWriter, r *http.Request)

	mu   sync.Mutex
	hits []rpHit
}

// rpHit is one request the RP received.
type rpHit struct {
	path        string
	method      string
	contentType string
	form        map[string][]string
	token       string
}

func newTestRP(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *testRP {
	t.Helper()
	rp := &testRP{answer: answer}
	rp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		rp.mu.Lock()
		rp.hits = append(rp.hits, rpHit{
			path: r.URL.Path, method: r.Method, contentType: r.Header.Get("Content-Type"),
			form: r.PostForm, token: r.PostForm.Get("logout_token"),
		})
		n := len(rp.hits)
		rp.mu.Unlock()
		if rp.answer != nil {
			rp.answer(n, w, r)
		}
	}))
	t.Cleanup(rp.srv.Close)
	return rp
}

func (rp *testRP) uri() string { return rp.srv.URL + "/backchannel-logout" }

func (rp *testRP) received() []rpHit {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return slices.Clone(rp.hits)
}

// answerStatus answers every request with status.
func answerStatus(status int) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }
}

// backchannelClient is a web client that registered uri as its
// backchannel_logout_uri and alg as its id_token_signed_response_alg.
func backchannelClient(id, uri, alg string) storage.Client {
	return storage.Client{
		ID: id, Name: id, SecretHash: clientpolicy.HashSecret(testWebSecret),
		RedirectURIs:            []string{webRedirect},
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		TokenEndpointAuthMethod: "client_secret_basic", ApplicationType: "web",
		IDTokenSignedResponseAlg: alg, BackchannelLogoutURI: uri, BackchannelLogoutSessionRequired: true,
	}
}

// retryCall is one RetryLogoutNotice the delivery made.
type retryCall struct {
	attempts int
	next     time.Time
	lastErr  string
}

// watchedQueue is the SQLite store's logout queue, with the
// rescheduling calls recorded.
type watchedQueue struct {
	storage.LogoutNotices

	mu      sync.Mutex
	retries []retryCall
}

func (q *watchedQueue) RetryLogoutNotice(ctx context.Context, id string, attempts int, next time.Time, lastErr string) error {
	q.mu.Lock()
	q.retries = append(q.retries, retryCall{attempts: attempts, next: next, lastErr: lastErr})
	q.mu.Unlock()
	return q.LogoutNotices.RetryLogoutNotice(ctx, id, attempts, next, lastErr)
}

func (q *watchedQueue) calls() []retryCall {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.retries)
}

// lockedBuffer is a log destination safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// backchannelEnv is a provider on a fake clock over a real SQLite store,
// with a logout delivery draining that store's queue.
type backchannelEnv struct {
	*testEnv
	clock  *clock
	events *eventLog
	logs   *lockedBuffer
	q      *watchedQueue
	d      *LogoutDelivery
}

// newBackchannelEnv builds the env; the store knows the test clients plus
// extra.
func newBackchannelEnv(t *testing.T, opts LogoutDeliveryOptions, extra ...storage.Client) *backchannelEnv {
	t.Helper()
	c := &clock{}
	c.ns.Store(time.Now().UnixNano())
	events := &eventLog{}
	logs := &lockedBuffer{}
	e := newTestEnvConfig(t, func(s *sqlite.Store) Store { return s }, func(cfg *Config) {
		cfg.Now = c.now
		cfg.Audit = events
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	if _, err := e.store.SyncClients(t.Context(), append(testClients(), extra...), c.now()); err != nil {
		t.Fatalf("SyncClients: %v", err)
	}
	q := &watchedQueue{LogoutNotices: e.store}
	return &backchannelEnv{testEnv: e, clock: c, events: events, logs: logs, q: q, d: e.p.NewLogoutDelivery(q, opts)}
}

// testSID is a session id shaped like Gatehouse's: 64 hex characters.
func testSID(t *testing.T) string { return hex.EncodeToString(randomBytes(t, 32)) }

// enqueue queues one notice for alice's session sid at clientID, due now.
func (b *backchannelEnv) enqueue(t *testing.T, clientID, sid string) storage.LogoutNotice {
	t.Helper()
	id, err := randomID(b.p.cfg.Random)
	if err != nil {
		t.Fatal(err)
	}
	now := b.clock.now()
	n := storage.LogoutNotice{
		ID: id, ClientID: clientID, UserID: testUserID, SessionID: sid,
		CreatedAt: now, Deadline: now.Add(storage.LogoutNoticeTTL), NextAttempt: now,
	}
	if err := b.q.EnqueueLogoutNotices(t.Context(), []storage.LogoutNotice{n}); err != nil {
		t.Fatalf("EnqueueLogoutNotices: %v", err)
	}
	return n
}

// pass runs one delivery pass and returns how many notices it claimed.
func (b *backchannelEnv) pass(t *testing.T) int {
	t.Helper()
	n, err := b.d.DeliverDue(t.Context())
	if err != nil {
		t.Fatalf("DeliverDue: %v", err)
	}
	return n
}

// logoutEvent is a backchannel_logout event with its Detail read.
type logoutEvent struct {
	ClientID, UserID, SessionID string
	Outcome                     string
	Attempts, Status            int
	Reason                      string
}

// outcomes returns the backchannel_logout events so far.
func (b *backchannelEnv) outcomes() []logoutEvent {
	b.events.mu.Lock()
	defer b.events.mu.Unlock()
	var out []logoutEvent
	for _, e := range b.events.events {
		if e.Kind == EventBackchannelLogout {
			attempts, _ := strconv.Atoi(DetailValue(e.Detail, "attempts"))
			status, _ := strconv.Atoi(DetailValue(e.Detail, "status"))
			_, reason, _ := strings.Cut(e.Detail, "reason=")
			out = append(out, logoutEvent{ClientID: e.ClientID, UserID: e.UserID, SessionID: e.SessionID,
				Outcome: DetailValue(e.Detail, "outcome"), Attempts: attempts, Status: status, Reason: reason})
		}
	}
	return out
}

// checkOutcome checks that exactly one final outcome was audited, and
// that it is want after attempts attempts.
func (b *backchannelEnv) checkOutcome(t *testing.T, clientID, want string, attempts int) logoutEvent {
	t.Helper()
	got := b.outcomes()
	if len(got) != 1 {
		t.Fatalf("got %d backchannel_logout events %+v, want 1", len(got), got)
	}
	e := got[0]
	if e.Outcome != want || e.Attempts != attempts || e.ClientID != clientID || e.UserID != testUserID {
		t.Errorf("got event outcome %q attempts %d client %q user %q, want %q %d %q %q",
			e.Outcome, e.Attempts, e.ClientID, e.UserID, want, attempts, clientID, testUserID)
	}
	return e
}

// checkQueueEmpty checks that nothing is left to deliver, even much later.
func (b *backchannelEnv) checkQueueEmpty(t *testing.T) {
	t.Helper()
	n, err := b.q.ClaimLogoutNotices(t.Context(), b.clock.now().Add(storage.LogoutNoticeTTL-time.Second), time.Second, 10)
	if err != nil {
		t.Fatalf("ClaimLogoutNotices: %v", err)
	}
	if len(n) != 0 {
		t.Errorf("got %d notices still queued, want 0", len(n))
	}
}

// TestBackchannelLogoutToken checks what a relying party receives: one
// form-encoded POST whose logout_token is a logout+jwt signed with the
// client's own algorithm by a key in the published JWKS, verifiable by
// go-oidc from discovery, carrying exactly iss, aud, iat, exp (iat + 2
// min, on the provider's clock), jti, events, sub and sid — no nonce. The
// token appears in no log, nor does the whole sid.
func TestBackchannelLogoutToken(t *testing.T) {
	for _, tc := range []struct{ alg, wantAlg string }{{"", "RS256"}, {"ES256", "ES256"}, {"EdDSA", "EdDSA"}} {
		t.Run(tc.wantAlg, func(t *testing.T) {
			rp := newTestRP(t, nil)
			b := newBackchannelEnv(t, LogoutDeliveryOptions{}, backchannelClient("bc", rp.uri(), tc.alg))
			b.clock.advance(-time.Hour) // the token's times come from the provider's clock
			sid := testSID(t)
			queued, err := b.d.Enqueue(t.Context(), []storage.Session{{ID: sid, UserID: testUserID, Clients: []string{"bc", "web"}}})
			if err != nil || queued != 1 {
				t.Fatalf("Enqueue: got %d, %v; want 1 notice (web has no backchannel_logout_uri)", queued, err)
			}
			issued := b.clock.now()
			if got := b.pass(t); got != 1 {
				t.Fatalf("pass: claimed %d notices, want 1", got)
			}
			hits := rp.received()
			if len(hits) != 1 {
				t.Fatalf("RP got %d requests, want 1", len(hits))
			}
			h := hits[0]
			if h.method != http.MethodPost || h.contentType != "application/x-www-form-urlencoded" {
				t.Errorf("got %s with Content-Type %q, want POST application/x-www-form-urlencoded", h.method, h.contentType)
			}
			if got := slices.Sorted(maps.Keys(h.form)); !slices.Equal(got, []string{"logout_token"}) || len(h.form["logout_token"]) != 1 {
				t.Errorf("got form %v, want exactly one logout_token", h.form)
			}

			checkSignedWith(t, b.jwks(t), "logout token", h.token, tc.wantAlg)
			jws, err := jose.ParseSigned(h.token, signingAlgorithms())
			if err != nil {
				t.Fatalf("logout token: %v", err)
			}
			if typ := jws.Signatures[0].Protected.ExtraHeaders[jose.HeaderType]; typ != "logout+jwt" {
				t.Errorf("got typ %v, want logout+jwt", typ)
			}
			var claims map[string]any
			if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims); err != nil {
				t.Fatalf("claims: %v", err)
			}
			if got, want := slices.Sorted(maps.Keys(claims)), []string{"aud", "events", "exp", "iat", "iss", "jti", "sid", "sub"}; !slices.Equal(got, want) {
				t.Errorf("got claims %q, want exactly %q (no nonce)", got, want)
			}
			iat, _ := claims["iat"].(float64)
			exp, _ := claims["exp"].(float64)
			if int64(iat) != issued.Unix() || exp-iat != 120 {
				t.Errorf("got iat %v exp %v, want iat %d (provider clock) and exp = iat + 120", iat, exp, issued.Unix())
			}
			if claims["iss"] != testIssuer || claims["sub"] != testUserID || claims["sid"] != sid {
				t.Errorf("got iss %v sub %v sid %v, want %s %s %s", claims["iss"], claims["sub"], claims["sid"], testIssuer, testUserID, sid)
			}
			if aud, _ := json.Marshal(claims["aud"]); string(aud) != `["bc"]` {
				t.Errorf("got aud %s, want [\"bc\"]", aud)
			}
			if jti, _ := claims["jti"].(string); len(jti) != 22 {
				t.Errorf("got jti %q, want 128 random bits (22 base64url characters)", jti)
			}
			if events, _ := json.Marshal(claims["events"]); string(events) != `{"http://schemas.openid.net/event/backchannel-logout":{}}` {
				t.Errorf("got events %s, want the back-channel logout event with an empty object", events)
			}

			// A relying-party library accepts it, keys from discovery.
			ctx := gooidc.ClientContext(t.Context(), &http.Client{Transport: handlerTransport{b.h}})
			op, err := gooidc.NewProvider(ctx, testIssuer)
			if err != nil {
				t.Fatalf("go-oidc discovery: %v", err)
			}
			v := op.VerifierContext(ctx, &gooidc.Config{ClientID: "bc", Now: b.clock.now, SupportedSigningAlgs: []string{tc.wantAlg}})
			lt, err := v.VerifyLogout(ctx, h.token)
			if err != nil {
				t.Fatalf("go-oidc VerifyLogout: %v", err)
			}
			if lt.Subject != testUserID || lt.SessionID != sid {
				t.Errorf("go-oidc: got sub %q sid %q, want %q %q", lt.Subject, lt.SessionID, testUserID, sid)
			}

			e := b.checkOutcome(t, "bc", LogoutDelivered, 1)
			if e.Status != http.StatusOK || e.SessionID != sid[:8] {
				t.Errorf("got event status %d sid %q, want 200 and the sid's first 8 characters %q", e.Status, e.SessionID, sid[:8])
			}
			b.checkQueueEmpty(t)
			if logs := b.logs.String(); strings.Contains(logs, h.token) || strings.Contains(logs, sid) || !strings.Contains(logs, "backchannel logout delivered") {
				t.Errorf("logs must say delivered and hold neither the token nor the whole sid:\n%s", logs)
			}
		})
	}
}

// TestBackchannelLogoutTokenFresh checks that every attempt mints a new
// token: a retry never resends an expired one or reuses a jti.
func TestBackchannelLogoutTokenFresh(t *testing.T) {
	rp := newTestRP(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	b := newBackchannelEnv(t, LogoutDeliveryOptions{}, backchannelClient("bc", rp.uri(), ""))
	b.enqueue(t, "bc", testSID(t))
	b.pass(t)
	b.clock.advance(3 * time.Minute)
	b.pass(t)
	hits := rp.received()
	if len(hits) != 2 {
		t.Fatalf("RP got %d requests, want 2", len(hits))
	}
	var iats, jtis []any
	for _, h := range hits {
		jws, err := jose.ParseSigned(h.token, signingAlgorithms())
		if err != nil {
			t.Fatal(err)
		}
		var c map[string]any
		if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c); err != nil {
			t.Fatal(err)
		}
		iats, jtis = append(iats, c["iat"]), append(jtis, c["jti"])
	}
	if iats[1].(float64)-iats[0].(float64) != 180 || jtis[0] == jtis[1] {
		t.Errorf("got iats %v jtis %v, want the retry issued 180 s later with a new jti", iats, jtis)
	}
	b.checkOutcome(t, "bc", LogoutDelivered, 2)
}

// TestBackchannelLogoutRPDown checks that an unreachable RP is retried
// with growing waits — each due only when its backoff has passed — until
// the next attempt would fall after the notice's deadline, and that the
// notice is then dropped with one gave_up event.
func TestBackchannelLogoutRPDown(t *testing.T) {
	rp := newTestRP(t, nil)
	uri := rp.uri()
	rp.srv.Close() // nothing listens there any more
	b := newBackchannelEnv(t, LogoutDeliveryOptions{}, backchannelClient("bc", uri, ""))
	n := b.enqueue(t, "bc", testSID(t))

	var attempts []time.Time
	for i := 0; i < 100 && len(b.outcomes()) == 0; i++ {
		now := b.clock.now()
		if got := b.pass(t); got != 1 {
			t.Fatalf("attempt %d: claimed %d notices, want 1", i+1, got)
		}
		attempts = append(attempts, now)
		retries := b.q.calls()
		if len(retries) != len(attempts) {
			break // given up
		}
		r := retries[len(retries)-1]
		if r.attempts != len(attempts) || r.lastErr == "" {
			t.Fatalf("retry %d: got attempts %d error %q, want %d and the failure", i+1, r.attempts, r.lastErr, len(attempts))
		}
		// Not due a moment before its time.
		b.clock.advance(r.next.Sub(now) - time.Millisecond)
		if got := b.pass(t); got != 0 {
			t.Fatalf("attempt %d: claimed %d notices 1 ms before NextAttempt, want 0", i+2, got)
		}
		b.clock.advance(time.Millisecond)
	}

	retries := b.q.calls()
	var prev time.Duration
	for i, r := range retries {
		wait := r.next.Sub(attempts[i])
		full := min(2*time.Second<<i, 5*time.Minute)
		if wait > full || wait < full*3/4 {
			t.Errorf("wait after attempt %d: got %v, want within [%v, %v]", i+1, wait, full*3/4, full)
		}
		if full < 5*time.Minute && wait <= prev {
			t.Errorf("wait after attempt %d: got %v, want longer than the previous %v", i+1, wait, prev)
		}
		prev = wait
	}
	last := attempts[len(attempts)-1]
	if !last.Before(n.Deadline) || last.Add(maxLogoutBackoff).Before(n.Deadline) {
		t.Errorf("last attempt at deadline%+v, want within the last backoff before the deadline", last.Sub(n.Deadline))
	}
	if len(attempts) < 12 || len(retries) != len(attempts)-1 {
		t.Errorf("got %d attempts and %d retries, want at least 12 attempts in an hour, every one but the last rescheduled", len(attempts), len(retries))
	}
	e := b.checkOutcome(t, "bc", LogoutGaveUp, len(attempts))
	if e.Reason == "" || e.Status != 0 {
		t.Errorf("got reason %q status %d, want the last failure and no status", e.Reason, e.Status)
	}
	b.checkQueueEmpty(t)
}

// TestBackchannelLogoutRetriedUntilDelivered checks an RP that fails
// twice with 500 and then answers 200: delivered on the third attempt.
func TestBackchannelLogoutRetriedUntilDelivered(t *testing.T) {
	rp := newTestRP(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n <= 2 {
			http.Error(w, "try later", http.StatusInternalServerError)
		}
	})
	b := newBackchannelEnv(t, LogoutDeliveryOptions{}, backchannelClient("bc", rp.uri(), ""))
	sid := testSID(t)
	b.enqueue(t, "bc", sid)
	for i := range 3 {
		if got := b.pass(t); got != 1 {
			t.Fatalf("attempt %d: claimed %d, want 1", i+1, got)
		}
		if i < 2 {
			if got := len(b.outcomes()); got != 0 {
				t.Fatalf("attempt %d: got %d final outcomes after a 500, want 0", i+1, got)
			}
			r := b.q.calls()[i]
			if r.attempts != i+1 || !strings.Contains(r.lastErr, "500") {
				t.Errorf("retry %d: got attempts %d error %q, want %d and status 500", i+1, r.attempts, r.lastErr, i+1)
			}
			b.clock.advance(r.next.Sub(b.clock.now()))
		}
	}
	if got := len(rp.received()); got != 3 {
		t.Errorf("RP got %d requests, want 3", got)
	}
	b.checkOutcome(t, "bc", LogoutDelivered, 3)
	b.checkQueueEmpty(t)
	if logs := b.logs.String(); strings.Count(logs, "backchannel logout attempt failed") != 2 || strings.Contains(logs, sid) {
		t.Errorf("logs: want two failed attempts logged, without the whole sid:\n%s", logs)
	}
}

// TestBackchannelLogoutStatus checks how each kind of answer is taken: 2xx
// delivers; 400 and other 4xx are the RP refusing the token, final; 408,
// 429, 5xx and 3xx are retried.
func TestBackchannelLogoutStatus(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   string // outcome, or "" for a retry
	}{
		{200, LogoutDelivered},
		{204, LogoutDelivered},
		{400, LogoutRejected},
		{401, LogoutRejected},
		{404, LogoutRejected},
		{408, ""},
		{429, ""},
		{500, ""},
		{503, ""},
		{302, ""},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			rp := newTestRP(t, answerStatus(tc.status))
			b := newBackchannelEnv(t, LogoutDeliveryOptions{}, backchannelClient("bc", rp.uri(), ""))
			b.enqueue(t, "bc", testSID(t))
			b.pass(t)
			retries := b.q.calls()
			if tc.want == "" {
				if len(retries) != 1 || len(b.outcomes()) != 0 {
					t.Fatalf("got %d retries and outcomes %+v, want 1 retry and no outcome", len(retries), b.outcomes())
				}
				return
			}
			if len(retries) != 0 {
				t.Errorf("got %d retries, want 0", len(retries))
			}
			e := b.checkOutcome(t, "bc", tc.want, 1)
			if e.Status != tc.status {
				t.Errorf("got event status %d, want %d", e.Status, tc.status)
			}
			b.checkQueueEmpty(t)
			if got := len(rp.received()); got != 1 {
				t.Errorf("RP got %d requests, want 1", got)
			}
		})
	}
}

// TestBackchannelLogoutRedirectNotFollowed checks that a redirecting RP
// is a failed attempt, retried later, and that the redirect is never
// followed: the token goes nowhere but the registered URI.
func TestBackchannelLogoutRedirectNotFollowed(t *testing.T) {
	var elsewhere []string
	var mu sync.Mutex
	rp := newTestRP(t, nil)
	rp.answer = func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/backchannel-logout" {
			mu.Lock()
			elsewhere = append(elsewhere, r.URL.Path)
			mu.Unlock()
			return
		}
		http.Redirect(w, r, rp.srv.URL+"/elsewhere", http.StatusTemporaryRedirect)
	}
	b := newBackchannelEnv(t, LogoutDeliveryOptions{}, backchannelClient("bc", rp.uri(), ""))
	b.enqueue(t, "bc", testSID(t))
	b.pass(t)
	b.clock.advance(2 * time.Second)
	b.pass(t)
	mu.Lock()
	defer mu.Unlock()
	if len(elsewhere) != 0 {
		t.Errorf("the redirect was followed to %q", elsewhere)
	}
	retries := b.q.calls()
	if len(retries) != 2 || !strings.Contains(retries[1].lastErr, "307") || retries[1].attempts != 2 {
		t.Errorf("got retries %+v, want 2, the second after attempt 2 with status 307", retries)
	}
	if got := b.outcomes(); len(got) != 0 {
		t.Errorf("got outcomes %+v, want none yet", got)
	}
}

// TestBackchannelLogoutSlowRP checks that an RP that does not answer
// within the timeout is a failed attempt, and that the attempt ends at
// the timeout.
func TestBackchannelLogoutSlowRP(t *testing.T) {
	release := make(chan struct{})
	rp := newTestRP(t, func(_ int, _ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		case <-time.After(3 * time.Second):
		}
	})
	defer close(release)
	b := newBackchannelEnv(t, LogoutDeliveryOptions{Timeout: 100 * time.Millisecond}, backchannelClient("bc", rp.uri(), ""))
	b.enqueue(t, "bc", testSID(t))
	start := time.Now()
	b.pass(t)
	if took := time.Since(start); took > time.Second {
		t.Errorf("attempt took %v, want about the 100 ms timeout", took)
	}
	retries := b.q.calls()
	if len(retries) != 1 || !strings.Contains(retries[0].lastErr, "Timeout") {
		t.Fatalf("got retries %+v, want one after a timeout", retries)
	}
	if got := b.outcomes(); len(got) != 0 {
		t.Errorf("got outcomes %+v, want none yet", got)
	}
}

// TestBackchannelLogoutDropped checks that a notice whose client is gone,
// or no longer has a backchannel_logout_uri, is deleted unsent with a
// dropped event.
func TestBackchannelLogoutDropped(t *testing.T) {
	for _, clientID := range []string{"web", "gone"} {
		t.Run(clientID, func(t *testing.T) {
			rp := newTestRP(t, nil)
			b := newBackchannelEnv(t, LogoutDeliveryOptions{}, backchannelClient("gone", rp.uri(), ""))
			b.enqueue(t, clientID, testSID(t))
			// "gone" is removed from clients.yaml after the notice was queued.
			if _, err := b.store.SyncClients(t.Context(), testClients(), b.clock.now()); err != nil {
				t.Fatal(err)
			}
			if got := b.pass(t); got != 1 {
				t.Fatalf("claimed %d, want 1", got)
			}
			if got := len(rp.received()); got != 0 {
				t.Errorf("RP got %d requests, want 0", got)
			}
			b.checkOutcome(t, clientID, LogoutDropped, 0)
			b.checkQueueEmpty(t)
		})
	}
}

// TestBackchannelLogoutConcurrentDeliveries runs two delivery loops on one
// queue, as two instances would, and checks that every notice reaches the
// RP exactly once; Kick wakes the loops without waiting for a tick, and
// Run returns once its context ends.
func TestBackchannelLogoutConcurrentDeliveries(t *testing.T) {
	rp := newTestRP(t, func(int, http.ResponseWriter, *http.Request) { time.Sleep(2 * time.Millisecond) })
	opts := LogoutDeliveryOptions{Interval: time.Hour, Batch: 4, Workers: 3}
	b := newBackchannelEnv(t, opts, backchannelClient("bc", rp.uri(), ""))
	other := b.p.NewLogoutDelivery(b.q, opts)
	const total = 40
	want := map[string]int{}
	for range total {
		sid := testSID(t)
		want[sid] = 1
		b.enqueue(t, "bc", sid)
	}

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for _, d := range []*LogoutDelivery{b.d, other} {
		wg.Go(func() { d.Run(ctx) })
	}
	// Run looks once at start; these kicks must not block, running or not.
	for range 3 {
		b.d.Kick()
		other.Kick()
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(b.outcomes()) < total && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // room for a duplicate to show up
	cancel()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}

	got := map[string]int{}
	for _, h := range rp.received() {
		jws, err := jose.ParseSigned(h.token, signingAlgorithms())
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			SID string `json:"sid"`
		}
		if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c); err != nil {
			t.Fatal(err)
		}
		got[c.SID]++
	}
	if !maps.Equal(got, want) {
		t.Errorf("got %d requests for %d sessions, want each of the %d sessions exactly once", len(rp.received()), len(got), total)
	}
	if n := len(b.outcomes()); n != total {
		t.Errorf("got %d outcomes, want %d", n, total)
	}
	b.checkQueueEmpty(t)
}

// TestBackchannelLogoutKickWakesRun checks that a kick starts a pass at
// once, long before the next tick.
func TestBackchannelLogoutKickWakesRun(t *testing.T) {
	rp := newTestRP(t, nil)
	b := newBackchannelEnv(t, LogoutDeliveryOptions{Interval: time.Hour}, backchannelClient("bc", rp.uri(), ""))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { b.d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	time.Sleep(50 * time.Millisecond) // Run's first look finds nothing
	if _, err := b.d.Enqueue(t.Context(), []storage.Session{{ID: testSID(t), UserID: testUserID, Clients: []string{"bc"}}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(rp.received()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(rp.received()) != 1 {
		t.Fatalf("RP got %d requests within 5 s of the kick, want 1 (the tick is an hour)", len(rp.received()))
	}
}

// TestBackchannelLogoutShutdown checks that an attempt cut short by the
// delivery's context ending counts for nothing: the notice stays queued,
// its attempts untouched, for whoever claims it after the lease.
func TestBackchannelLogoutShutdown(t *testing.T) {
	arrived := make(chan struct{}, 1)
	rp := newTestRP(t, func(_ int, _ http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	})
	b := newBackchannelEnv(t, LogoutDeliveryOptions{}, backchannelClient("bc", rp.uri(), ""))
	b.enqueue(t, "bc", testSID(t))
	ctx, cancel := context.WithCancel(t.Context())
	go func() { <-arrived; cancel() }()
	if _, err := b.d.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.q.calls(); len(got) != 0 {
		t.Errorf("got retries %+v, want none", got)
	}
	if got := b.outcomes(); len(got) != 0 {
		t.Errorf("got outcomes %+v, want none", got)
	}
	b.clock.advance(30 * time.Second)
	n, err := b.q.ClaimLogoutNotices(t.Context(), b.clock.now(), time.Second, 10)
	if err != nil || len(n) != 1 || n[0].Attempts != 0 {
		t.Errorf("after the lease: got %+v, %v; want the notice back with 0 attempts", n, err)
	}
}

// TestLogoutBackoff checks the schedule: 2 s doubling to a 5 min cap, less
// at most a quarter of jitter, each wait longer than the last until the
// cap.
func TestLogoutBackoff(t *testing.T) {
	for range 200 {
		var prev time.Duration
		for n := 1; n <= 40; n++ {
			full := min(2*time.Second<<min(n-1, 20), 5*time.Minute)
			got := logoutBackoff(n)
			if got > full || got < full*3/4 {
				t.Fatalf("logoutBackoff(%d): got %v, want within [%v, %v]", n, got, full*3/4, full)
			}
			if full < 5*time.Minute && got <= prev {
				t.Fatalf("logoutBackoff(%d): got %v, want more than logoutBackoff(%d) = %v", n, got, n-1, prev)
			}
			prev = got
		}
	}
}

// A client that registered itself is posted its logout tokens only at
// public addresses (package egress): with a backchannel_logout_uri on this
// machine (stored as if registration had let it through, or reached by a
// name that resolves here), its attempt fails before connecting and is
// retried like an unreachable RP's, while an operator's client at the
// same URI is served.
func TestBackchannelLogoutRegisteredClientPublicOnly(t *testing.T) {
	rp := newTestRP(t, answerStatus(http.StatusOK))
	b := newBackchannelEnv(t, LogoutDeliveryOptions{}, backchannelClient("bc", rp.uri(), ""))
	reg := backchannelClient("bc-registered", rp.uri(), "")
	reg.Source = storage.ClientSourceRegistration
	if err := b.store.CreateClient(t.Context(), &reg, b.clock.now()); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	b.enqueue(t, "bc-registered", testSID(t))
	b.enqueue(t, "bc", testSID(t))
	if got := b.pass(t); got != 2 {
		t.Fatalf("claimed %d notices, want 2", got)
	}
	if hits := rp.received(); len(hits) != 1 {
		t.Fatalf("the RP on this machine got %d posts, want 1 (the operator's client's)", len(hits))
	}
	b.checkOutcome(t, "bc", LogoutDelivered, 1)
	retries := b.q.calls()
	if len(retries) != 1 || retries[0].attempts != 1 || !strings.Contains(retries[0].lastErr, "not a public address") {
		t.Errorf("got retries %+v, want one for the registered client's notice, failed as not a public address", retries)
	}
}
