package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gatehouse-idp/gatehouse/audit"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
	"github.com/gatehouse-idp/gatehouse/metrics"
	"github.com/gatehouse-idp/gatehouse/provider"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// openAuditStore opens a fresh SQLite store.
func openAuditStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// auditLogBuffer is a log destination safe for concurrent writes.
type auditLogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *auditLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *auditLogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runSink runs sink until the returned stop is called; stop waits for Run
// to return.
func runSink(t *testing.T, sink *auditSink) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sink.Run(ctx)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(stop)
	return stop
}

// storedKinds returns the kinds of every stored event, oldest first.
func storedKinds(t *testing.T, s storage.AuditLog) []string {
	t.Helper()
	list, err := s.AuditEvents(t.Context(), storage.AuditQuery{Limit: storage.MaxAuditLimit})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(list))
	for i, e := range list {
		out[len(list)-1-i] = e.Kind
	}
	return out
}

// waitStored waits (up to 5 s) until the store holds n events.
func waitStored(t *testing.T, s storage.AuditLog, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(storedKinds(t, s)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("store holds %d events after 5s, want %d", len(storedKinds(t, s)), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAuditSinkStoresEvents(t *testing.T) {
	store := openAuditStore(t)
	var logs auditLogBuffer
	sink := newAuditSink(store, slog.New(slog.NewTextHandler(&logs, nil)), time.Now, 64)
	runSink(t, sink)
	t0 := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	ctx := t.Context()

	// As the login UI and the provider record them.
	sink.Record(ctx, storage.AuditEvent{Kind: loginui.EventSignIn, Time: t0, UserID: "sub-alice", ClientID: "web",
		SessionID: "0123456789abcdef", IP: "192.0.2.1", Actor: audit.ActorUser})
	sink.Record(ctx, storage.AuditEvent{Kind: provider.EventTokenIssued, Time: t0.Add(time.Second), UserID: "sub-alice",
		ClientID: "web", Family: "fam-1", Actor: audit.ActorClient, Detail: "grant_type=authorization_code"})
	sink.Record(ctx, storage.AuditEvent{Kind: provider.EventRefreshReuseDetected, Time: t0.Add(2 * time.Second),
		UserID: "sub-alice", ClientID: "web", Family: "fam-1", Actor: audit.ActorClient})
	sink.Record(ctx, storage.AuditEvent{Kind: provider.EventBackchannelLogout, Time: t0.Add(3 * time.Second),
		UserID: "sub-alice", ClientID: "web", SessionID: "01234567", Actor: audit.ActorSystem,
		Detail: "outcome=gave_up attempts=5 status=503 reason=503 Service Unavailable"})
	sink.Record(ctx, storage.AuditEvent{Kind: auditKeyRotated, Time: t0.Add(4 * time.Second), Actor: audit.ActorSystem, Detail: "kid=k1"})

	// Written within a flush period, without a shutdown.
	waitStored(t, store, 5)
	got, err := store.AuditEvents(ctx, storage.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	want := []storage.AuditEvent{
		{Kind: auditKeyRotated, Time: t0.Add(4 * time.Second), Actor: audit.ActorSystem, Detail: "kid=k1"},
		{Kind: provider.EventBackchannelLogout, Time: t0.Add(3 * time.Second), UserID: "sub-alice", ClientID: "web",
			SessionID: "01234567", Actor: audit.ActorSystem, Detail: "outcome=gave_up attempts=5 status=503 reason=503 Service Unavailable"},
		{Kind: provider.EventRefreshReuseDetected, Time: t0.Add(2 * time.Second), UserID: "sub-alice", ClientID: "web",
			Family: "fam-1", Actor: audit.ActorClient},
		{Kind: provider.EventTokenIssued, Time: t0.Add(time.Second), UserID: "sub-alice", ClientID: "web", Family: "fam-1",
			Actor: audit.ActorClient, Detail: "grant_type=authorization_code"},
		{Kind: loginui.EventSignIn, Time: t0, UserID: "sub-alice", ClientID: "web", SessionID: "01234567", IP: "192.0.2.1",
			Actor: audit.ActorUser},
	}
	if len(got) != len(want) {
		t.Fatalf("stored %d events, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g := got[i]
		if i > 0 && g.ID >= got[i-1].ID {
			t.Errorf("event %d (%s): ID %d, want less than the newer event's %d: stored in the order recorded", i, g.Kind, g.ID, got[i-1].ID)
		}
		g.ID = 0
		if !g.Time.Equal(want[i].Time) {
			t.Errorf("event %d: time %s, want %s", i, g.Time, want[i].Time)
		}
		g.Time = want[i].Time
		if g != want[i] {
			t.Errorf("event %d:\ngot  %+v\nwant %+v", i, g, want[i])
		}
	}

	out := logs.String()
	for _, line := range []string{
		`level=INFO msg="audit: sign_in" actor=user user=sub-alice client=web sid_prefix=01234567 ip=192.0.2.1`,
		`level=WARN msg="audit: refresh_reuse_detected" actor=client`,
		`level=WARN msg="audit: backchannel_logout" actor=system`,
		`level=INFO msg="audit: key_rotated" actor=system detail="kid=k1"`,
	} {
		if !strings.Contains(out, line) {
			t.Errorf("log:\n%s\nwant a line containing %s", out, line)
		}
	}
	if strings.Contains(out, "0123456789abcdef") {
		t.Errorf("log:\n%s\nholds a whole session id, want only its first 8 characters", out)
	}
}

// auditAppendFunc is an AuditLog whose AppendAudit is a function, to
// inject a store's faults into the sink under test; everything else is the
// embedded store.
type auditAppendFunc struct {
	storage.AuditLog
	appendAudit func(ctx context.Context, events []storage.AuditEvent) error
}

func (f auditAppendFunc) AppendAudit(ctx context.Context, events []storage.AuditEvent) error {
	return f.appendAudit(ctx, events)
}

// failingFirst returns an AppendAudit that refuses its first n calls (a
// database outage) and then writes to store; calls counts every call.
func failingFirst(store storage.AuditLog, n int32, calls *atomic.Int32) auditAppendFunc {
	return auditAppendFunc{AuditLog: store, appendAudit: func(ctx context.Context, events []storage.AuditEvent) error {
		if calls.Add(1) <= n {
			return errors.New("injected: database unavailable")
		}
		return store.AppendAudit(ctx, events)
	}}
}

// recordKinds records one event per kind, in order, each a second after the
// one before, and returns the kinds.
func recordKinds(t *testing.T, sink *auditSink, n int) []string {
	t.Helper()
	var kinds []string
	for i := range n {
		kind := fmt.Sprintf("e%03d", i)
		kinds = append(kinds, kind)
		sink.Record(t.Context(), storage.AuditEvent{Kind: kind, Actor: audit.ActorSystem, Time: time.Unix(int64(i), 0)})
	}
	return kinds
}

// The fault: the store refuses the first writes, as during a database
// outage. No event may be lost: the failed batches are written again once
// the store takes them, in order, without a shutdown.
func TestAuditSinkRetriesFailedWrites(t *testing.T) {
	store := openAuditStore(t)
	var calls atomic.Int32
	var logs auditLogBuffer
	m := metrics.New()
	sink := newAuditSink(failingFirst(store, 5, &calls), slog.New(slog.NewTextHandler(&logs, nil)), time.Now, auditBuffer)
	sink.metrics = m
	sink.retryMin, sink.retryMax = time.Millisecond, 4*time.Millisecond
	runSink(t, sink)

	want := recordKinds(t, sink, 2*auditBatch+50)
	waitStored(t, store, len(want))
	if got := storedKinds(t, store); !slices.Equal(got, want) {
		t.Errorf("stored %d events, want all %d in order:\n%q", len(got), len(want), got)
	}
	if got := sink.Dropped(); got != 0 {
		t.Errorf("Dropped() = %d, want 0", got)
	}
	if got := strings.Count(logs.String(), "events not stored yet; retrying"); got != 5 {
		t.Errorf("got %d log lines about failed writes, want 5 (one per failure):\n%s", got, logs.String())
	}
	if !strings.Contains(logs.String(), "the store took the events again") {
		t.Errorf("log:\n%s\nwant a line saying the store took the events again", logs.String())
	}
	wantMetric(t, m, "gatehouse_audit_write_failures_total 5")
}

// wantMetric checks that m, scraped, holds the line want.
func wantMetric(t *testing.T, m *metrics.Metrics, want string) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !slices.Contains(strings.Split(rec.Body.String(), "\n"), want) {
		t.Errorf("metrics:\n%s\nwant the line %s", rec.Body, want)
	}
}

// The fault: a store that hangs, then fails, while events keep coming.
// Events wait in the buffer; only those that find it full are dropped:
// counted by kind, still logged, and reported in one warning per period
// that sums up the kinds lost. The rest are stored once the store is back.
func TestAuditSinkDropsOnlyOnOverflow(t *testing.T) {
	real := openAuditStore(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var failing atomic.Bool
	var calls atomic.Int32
	failing.Store(true)
	store := auditAppendFunc{AuditLog: real, appendAudit: func(ctx context.Context, events []storage.AuditEvent) error {
		calls.Add(1)
		once.Do(func() {
			close(entered)
			<-release
		})
		if failing.Load() {
			return errors.New("injected: database unavailable")
		}
		return real.AppendAudit(ctx, events)
	}}
	var logs auditLogBuffer
	now := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	var clock sync.Mutex
	m := metrics.New()
	sink := newAuditSink(store, slog.New(slog.NewTextHandler(&logs, nil)), func() time.Time {
		clock.Lock()
		defer clock.Unlock()
		return now
	}, 4)
	sink.metrics = m
	sink.retryMin, sink.retryMax = time.Millisecond, time.Millisecond
	stop := runSink(t, sink)
	ctx := t.Context()
	record := func(kind string) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			sink.Record(ctx, storage.AuditEvent{Kind: kind, Actor: audit.ActorSystem})
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("Record(%s) blocked", kind)
		}
	}
	warnings := func() []string {
		var out []string
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "events dropped") {
				out = append(out, l)
			}
		}
		return out
	}

	record("first")
	select {
	case <-entered: // Run is stuck writing "first"
	case <-time.After(5 * time.Second):
		t.Fatal("the sink did not write within 5s")
	}
	for i := range 4 {
		record(fmt.Sprintf("queued-%d", i)) // fills the buffer
	}
	for _, kind := range []string{"sign_in", "sign_in", "token_issued", "sign_in", "token_issued", "token_issued"} {
		record(kind)
	}
	if got := sink.Dropped(); got != 6 {
		t.Errorf("Dropped() = %d, want 6", got)
	}
	// The first drop is reported at once; the rest wait for the period.
	if w := warnings(); len(w) != 1 || !strings.Contains(w[0], `dropped=1 kinds="sign_in=1" dropped_total=1`) {
		t.Errorf("warnings about dropped events: got %q, want one for the first sign_in", w)
	}
	clock.Lock()
	now = now.Add(auditDropLogEvery)
	clock.Unlock()
	record("token_issued")
	if w := warnings(); len(w) != 2 || !strings.Contains(w[1], `dropped=6 kinds="sign_in=2 token_issued=4" dropped_total=7`) {
		t.Errorf("warnings about dropped events: got %q, want a second one summing up the kinds lost since the first", w)
	}
	if got := strings.Count(logs.String(), `msg="audit: sign_in"`); got != 3 {
		t.Errorf("log holds %d lines for the dropped sign_in events, want 3: dropped events are still logged", got)
	}
	wantMetric(t, m, `gatehouse_audit_events_dropped_total{kind="sign_in"} 3`)
	wantMetric(t, m, `gatehouse_audit_events_dropped_total{kind="token_issued"} 4`)

	close(release) // the hung write fails; Run retries
	eventually(t, "a retry", func() bool { return calls.Load() >= 3 })
	failing.Store(false)
	waitStored(t, real, 5)
	stop()
	want := []string{"first", "queued-0", "queued-1", "queued-2", "queued-3"}
	if got := storedKinds(t, real); !slices.Equal(got, want) {
		t.Errorf("stored %q, want %q", got, want)
	}
	if got := sink.Dropped(); got != 7 {
		t.Errorf("Dropped() = %d after the store came back, want still 7", got)
	}
}

// The fault: the store fails at shutdown. The final flush retries within
// its bound: a store that recovers in time gets every event; one that does
// not gets none, and stop still returns, with the events counted as
// dropped and reported.
func TestAuditSinkFlushRetriesWithinBound(t *testing.T) {
	t.Run("store recovers", func(t *testing.T) {
		store := openAuditStore(t)
		var calls atomic.Int32
		sink := newAuditSink(failingFirst(store, 3, &calls), slog.New(slog.DiscardHandler), time.Now, auditBuffer)
		sink.retryMin, sink.retryMax = time.Millisecond, time.Millisecond
		stop := runSink(t, sink)
		want := recordKinds(t, sink, 2*auditBatch+50)
		stop() // at once: most events are still queued
		if got := storedKinds(t, store); !slices.Equal(got, want) {
			t.Errorf("stored %d events after shutdown, want all %d in order", len(got), len(want))
		}
		if got := sink.Dropped(); got != 0 {
			t.Errorf("Dropped() = %d, want 0", got)
		}
	})
	t.Run("store stays down", func(t *testing.T) {
		store := openAuditStore(t)
		var calls atomic.Int32
		var logs auditLogBuffer
		sink := newAuditSink(failingFirst(store, 1<<30, &calls), slog.New(slog.NewTextHandler(&logs, nil)), time.Now, auditBuffer)
		sink.retryMin, sink.retryMax, sink.flushTimeout = time.Millisecond, 5*time.Millisecond, 50*time.Millisecond
		stop := runSink(t, sink)
		recordKinds(t, sink, 10)
		stop()
		if got := sink.Dropped(); got != 10 {
			t.Errorf("Dropped() = %d, want 10", got)
		}
		if !strings.Contains(logs.String(), "dropped=10 kinds=") {
			t.Errorf("log:\n%s\nwant a warning that 10 events were dropped", logs.String())
		}
		if got := storedKinds(t, store); len(got) != 0 {
			t.Errorf("stored %q, want nothing", got)
		}
	})
}

func TestAuditSinkFlushesOnShutdown(t *testing.T) {
	store := openAuditStore(t)
	sink := newAuditSink(store, slog.New(slog.DiscardHandler), time.Now, auditBuffer)
	stop := runSink(t, sink)
	var want []string
	for i := range 2*auditBatch + 50 {
		kind := fmt.Sprintf("e%03d", i)
		want = append(want, kind)
		sink.Record(t.Context(), storage.AuditEvent{Kind: kind, Actor: audit.ActorSystem, Time: time.Unix(int64(i), 0)})
	}
	stop() // at once: most events are still queued
	if got := storedKinds(t, store); !slices.Equal(got, want) {
		t.Errorf("stored %d events after shutdown, want all %d in order", len(got), len(want))
	}
	// After Run returned, Record still does not block; the event is only
	// logged.
	sink.Record(t.Context(), storage.AuditEvent{Kind: "late", Actor: audit.ActorSystem})
}

func TestCleanAuditEvent(t *testing.T) {
	got := cleanAuditEvent(storage.AuditEvent{
		Kind: "session_user_agent_changed", SessionID: "0123456789abcdef",
		Detail: "Mozilla\x00/5.0 \xff" + strings.Repeat("é", maxAuditDetail),
	})
	if got.SessionID != "01234567" {
		t.Errorf("SessionID: got %q, want the first 8 characters", got.SessionID)
	}
	if !strings.HasPrefix(got.Detail, "Mozilla/5.0 \uFFFD") || !strings.HasSuffix(got.Detail, "é…") {
		t.Errorf("Detail: got %.40q…, want NUL removed, invalid UTF-8 replaced, cut at a character", got.Detail)
	}
	if len(got.Detail) > maxAuditDetail+len("…") {
		t.Errorf("Detail: got %d bytes, want at most %d", len(got.Detail), maxAuditDetail+len("…"))
	}
}

func TestAuditClientSync(t *testing.T) {
	store := openAuditStore(t)
	if err := auditClientSync(t.Context(), store, storage.SyncReport{}, audit.ActorSystem); err != nil {
		t.Fatalf("auditClientSync of no change: %v", err)
	}
	rep := storage.SyncReport{Created: []string{"a", "b"}, Updated: []string{"c"}, Disabled: []string{"d"}}
	if err := auditClientSync(t.Context(), store, rep, audit.ActorOperator); err != nil {
		t.Fatal(err)
	}
	list, err := store.AuditEvents(t.Context(), storage.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range slices.Backward(list) {
		got = append(got, e.Kind+":"+e.ClientID+":"+e.Actor)
	}
	want := []string{"client_created:a:operator", "client_created:b:operator", "client_changed:c:operator", "client_disabled:d:operator"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	good := []struct {
		in   string
		want time.Time
	}{
		{"24h", now.Add(-24 * time.Hour)},
		{"90m", now.Add(-90 * time.Minute)},
		{"7d", now.Add(-7 * 24 * time.Hour)},
		{"2031-01-31T09:30:00Z", time.Date(2031, 1, 31, 9, 30, 0, 0, time.UTC)},
		{"2031-01-31T09:30:00+02:00", time.Date(2031, 1, 31, 7, 30, 0, 0, time.UTC)},
		{"2031-01-31", time.Date(2031, 1, 31, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range good {
		got, err := parseSince(tt.in, now)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseSince(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "yesterday", "7", "d", "1.5d", "-7d", "0d", "-5m", "0s", "99999999d", "2031-13-01"} {
		if got, err := parseSince(in, now); err == nil || !strings.Contains(err.Error(), "--since") {
			t.Errorf("parseSince(%q) = %s, %v; want an error about --since", in, got, err)
		}
	}
}

func TestAuditCommand(t *testing.T) {
	f := newSessionsFixture(t)
	ctx := t.Context()
	const pw = "a passphrase long enough"
	steps := [][]string{
		{"users", "add", "carol", "--password-stdin"},
		{"sessions", "revoke", "--user", "alice"},
		{"users", "passwd", "bob", "--password-stdin"},
	}
	for _, args := range steps {
		if out, err := cli(t, f.db, pw+"\n", args...); err != nil {
			t.Fatalf("gatehouse %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// An event of a client, as the server records them; and an older one
	// of a client deleted since (made and deleted through the admin API).
	if err := f.store.AppendAudit(ctx, []storage.AuditEvent{
		{Time: time.Now().Add(-2 * time.Hour), Kind: provider.EventTokenIssued, ClientID: "gone-app", Actor: audit.ActorClient, Detail: "grant_type=client_credentials"},
		{Time: time.Now(), Kind: provider.EventTokenIssued, UserID: f.alice.ID, ClientID: "web", Family: "fam-1", Actor: audit.ActorClient, Detail: "grant_type=authorization_code"},
	}); err != nil {
		t.Fatal(err)
	}

	// The table, newest first, with usernames and session prefixes.
	out, err := cli(t, f.db, "", "audit")
	if err != nil {
		t.Fatalf("audit: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 8 || !strings.HasPrefix(lines[0], "TIME") {
		t.Fatalf("audit: got\n%s\nwant a header and 7 events", out)
	}
	for i, want := range [][]string{
		{"token_issued", "client", "alice", "web", "grant_type=authorization_code"},
		{"session_ended", "operator", "bob", sessBob[:8], "password changed"},
		{"user_password_changed", "operator", "bob"},
		{"session_ended", "operator", "alice", sessAlice2[:8], "revoked with gatehouse sessions revoke --user"},
		{"session_ended", "operator", "alice", sessAlice1[:8]},
		{"user_created", "operator", "carol"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i+1], w) {
				t.Errorf("audit line %d: got %q, want it to contain %q", i+1, lines[i+1], w)
			}
		}
	}

	// Filters, the limit and JSON lines.
	kindsOf := func(args ...string) []string {
		t.Helper()
		out, err := cli(t, f.db, "", append([]string{"audit", "--json"}, args...)...)
		if err != nil {
			t.Fatalf("audit --json %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		var kinds []string
		for line := range strings.Lines(out) {
			var l auditLine
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				t.Fatalf("audit --json: line %q: %v", line, err)
			}
			if l.ID <= 0 || l.Time == "" || l.Actor == "" {
				t.Errorf("audit --json: line %q lacks an id, a time or an actor", line)
			}
			kinds = append(kinds, l.Kind+":"+l.Username)
		}
		return kinds
	}
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"--user", "bob"}, []string{"session_ended:bob", "user_password_changed:bob"}},
		{[]string{"--user", "ALICE", "--limit", "2"}, []string{"token_issued:alice", "session_ended:alice"}},
		{[]string{"--client", "web"}, []string{"token_issued:alice"}},
		{[]string{"--client", "spa"}, nil},
		{[]string{"--client", "gone-app"}, []string{"token_issued:"}},
		{[]string{"--user", "carol", "--since", "1h"}, []string{"user_created:carol"}},
		{[]string{"--since", "2099-01-01T00:00:00Z"}, nil},
		{[]string{"--limit", "1"}, []string{"token_issued:alice"}},
	} {
		if got := kindsOf(tt.args...); !slices.Equal(got, tt.want) {
			t.Errorf("audit --json %s: got %q, want %q", strings.Join(tt.args, " "), got, tt.want)
		}
	}

	// Help.
	for _, arg := range []string{"--help", "-h", "help"} {
		out, err := cli(t, f.db, "", "audit", arg)
		if err != nil || !strings.Contains(out, "Examples:") {
			t.Errorf("audit %s: got %q, %v; want the usage with examples", arg, out, err)
		}
	}

	// Bad input: a clear error, and nothing printed as if it had worked.
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--user", "nobody"}, `no user "nobody"`},
		{[]string{"--client", "nothing"}, `no client "nothing"`},
		{[]string{"--since", "yesterday"}, `--since "yesterday"`},
		{[]string{"--since", "-5m"}, `--since "-5m"`},
		{[]string{"--limit", "-1"}, "--limit -1: give a number from 1 to 10000"},
		{[]string{"--limit", "0"}, "--limit 0"},
		{[]string{"--limit", "10001"}, "--limit 10001"},
	} {
		out, err := cli(t, f.db, "", append([]string{"audit"}, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(out, "TIME") {
			t.Errorf("audit %s: got %q, %v; want an error containing %q", strings.Join(tt.args, " "), out, err, tt.want)
		}
	}
	for _, args := range [][]string{{"audit", "extra"}, {"audit", "--limit", "many"}, {"audit", "--frobnicate"}} {
		if _, err := cli(t, f.db, "", args...); !errors.Is(err, errUsage) {
			t.Errorf("gatehouse %s: got %v, want the usage error", strings.Join(args, " "), err)
		}
	}
}

// TestAuditSinkTokenEventsAtDebug: a token issued or refreshed is logged
// at Debug, so not at the default level, unless the store will never get
// it: a dropped event is logged at Info at least.
func TestAuditSinkTokenEventsAtDebug(t *testing.T) {
	issued := storage.AuditEvent{Kind: provider.EventTokenIssued, ClientID: "web", Actor: audit.ActorClient, Detail: "grant_type=client_credentials"}
	refreshed := storage.AuditEvent{Kind: provider.EventTokenRefreshed, ClientID: "web", Family: "fam-1", Actor: audit.ActorClient}
	for _, tt := range []struct {
		name   string
		level  slog.Level
		buffer int // 0: every event is dropped
		want   []string
	}{
		{"queued, at info", slog.LevelInfo, 8, nil},
		{"queued, at debug", slog.LevelDebug, 8, []string{
			`level=DEBUG msg="audit: token_issued" actor=client client=web detail="grant_type=client_credentials"`,
			`level=DEBUG msg="audit: token_refreshed" actor=client client=web family=fam-1`}},
		{"dropped, at info", slog.LevelInfo, 0, []string{
			`level=INFO msg="audit: token_issued" actor=client client=web detail="grant_type=client_credentials"`,
			`level=INFO msg="audit: token_refreshed" actor=client client=web family=fam-1`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs auditLogBuffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: tt.level}))
			sink := newAuditSink(openAuditStore(t), log, time.Now, tt.buffer)
			sink.Record(t.Context(), issued, refreshed)
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				if strings.Contains(line, `msg="audit: `) {
					_, rest, _ := strings.Cut(line, " ") // drop time=…
					got = append(got, rest)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("audit lines: got %q, want %q", got, tt.want)
			}
		})
	}
}
