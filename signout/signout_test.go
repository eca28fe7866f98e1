package signout_test

import (
	"context"
	"errors"
	"github.com/gatehouse-idp/gatehouse/audit"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/signout"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/postgres"
	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
	"github.com/gatehouse-idp/gatehouse/storage/redis"
	"github.com/gatehouse-idp/gatehouse/storage/redis/redistest"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// TestMain fails the run if a test left keys under the production prefix.
func TestMain(m *testing.M) {
	os.Exit(redistest.Main(m))
}

// store is what the tests need: what an Ender uses, and what sets up and
// inspects the sessions, clients, notices and token families around it.
type store interface {
	storage.Sessions
	storage.Clients
	storage.LogoutNotices
	storage.RefreshGrants
	storage.TokenFamilies
}

// composite holds the sessions in one backend and the rest in another, as
// serve composes Redis with Postgres.
type composite struct {
	storage.Sessions
	storage.Clients
	storage.LogoutNotices
	storage.RefreshGrants
	storage.TokenFamilies
}

// backend opens a fresh, empty store for a test, closed when it ends.
// cutSessions and cutRest make the store that holds the sessions, or the
// one that holds the rest, fail every later call (the same store for a
// single backend).
type backend struct {
	name string
	open func(t *testing.T) (s store, cutSessions, cutRest func())
}

var backends = []backend{
	{"sqlite", func(t *testing.T) (store, func(), func()) {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "g.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		cut := func() { s.Close() }
		return s, cut, cut
	}},
	{"postgres", func(t *testing.T) (store, func(), func()) {
		pg := openPostgres(t)
		return pg, pg.Close, pg.Close
	}},
	{"postgres+redis", func(t *testing.T) (store, func(), func()) {
		pg := openPostgres(t)
		r, err := redis.Open(t.Context(), redis.Options{URL: redistest.URL(t), Prefix: redistest.Prefix(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return composite{r, pg, pg, pg, pg}, func() { r.Close() }, pg.Close
	}},
}

func openPostgres(t *testing.T) *postgres.Store {
	t.Helper()
	dsn := pgtest.DSN(t)
	if err := postgres.Migrate(t.Context(), dsn); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	s, err := postgres.Open(t.Context(), dsn, postgres.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// now is the tests' clock; the sessions live from an hour before it to
// eight hours after.
var now = time.Date(2031, time.March, 4, 5, 6, 7, 0, time.UTC)

// Session ids as the login UI makes them: 64 hex characters.
const (
	sidA1 = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
	sidA2 = "a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2"
	sidB  = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0"
)

// fixture is a store with two clients (bc registered a
// backchannel_logout_uri, spa did not), three sessions (alice's a1 signed
// in to bc and spa, her a2 to spa, bob's b to bc), a live refresh token of
// each user, and an Ender over it that collects its audit events and
// counts its wake-ups.
type fixture struct {
	s        store
	ender    *signout.Ender
	events   []storage.AuditEvent
	recorded error // what Record answers
	queued   int
}

func newFixture(t *testing.T, s store, wrap func(signout.Store) signout.Store) *fixture {
	t.Helper()
	ctx := t.Context()
	f := &fixture{s: s}
	clients := []storage.Client{
		{ID: "bc", Name: "BC", RedirectURIs: []string{"https://bc.example/cb"}, GrantTypes: []string{"authorization_code"},
			ResponseTypes: []string{"code"}, TokenEndpointAuthMethod: "none", ApplicationType: "web",
			BackchannelLogoutURI: "https://bc.example/logout"},
		{ID: "spa", Name: "SPA", RedirectURIs: []string{"https://spa.example/cb"}, GrantTypes: []string{"authorization_code"},
			ResponseTypes: []string{"code"}, TokenEndpointAuthMethod: "none", ApplicationType: "web"},
	}
	if _, err := s.SyncClients(ctx, clients, now); err != nil {
		t.Fatal(err)
	}
	for i, x := range []struct {
		id, user string
		clients  []string
	}{{sidA1, "alice", []string{"bc", "spa"}}, {sidA2, "alice", []string{"spa"}}, {sidB, "bob", []string{"bc"}}} {
		created := now.Add(time.Duration(i-60) * time.Minute)
		err := s.CreateSession(ctx, &storage.Session{ID: x.id, UserID: x.user, Clients: x.clients, AuthTime: created,
			AMR: []string{"pwd"}, CreatedAt: created, LastSeen: created, ExpiresAt: now.Add(8 * time.Hour),
			AbsoluteExpiresAt: now.Add(7 * 24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, user := range []string{"alice", "bob"} {
		err := s.CreateRefreshGrant(ctx, &storage.RefreshGrant{TokenHash: "token-" + user, FamilyID: "family-" + user,
			ClientID: "bc", UserID: user, Scopes: []string{"openid", "offline_access"}, AuthTime: now, CreatedAt: now,
			ExpiresAt: now.Add(24 * time.Hour), AbsoluteExpiresAt: now.Add(24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
	}
	var es signout.Store = s
	if wrap != nil {
		es = wrap(s)
	}
	f.ender = signout.New(signout.Config{
		Store:   es,
		Clients: s.Client,
		Record: audit.RecorderFunc(func(_ context.Context, events ...storage.AuditEvent) error {
			f.events = append(f.events, events...)
			return f.recorded
		}),
		Queued:     func() { f.queued++ },
		FamilyKeep: time.Hour,
		Now:        func() time.Time { return now },
	})
	return f
}

// live returns which of the sessions are still stored and live.
func (f *fixture) live(t *testing.T, ids ...string) []string {
	t.Helper()
	var got []string
	for _, id := range ids {
		_, err := f.s.Session(context.Background(), id, now)
		switch {
		case err == nil:
			got = append(got, id)
		case !errors.Is(err, storage.ErrNotFound):
			t.Fatalf("Session(%.8s): %v", id, err)
		}
	}
	return got
}

// notices returns the queued notices as "client session" strings, sorted.
func (f *fixture) notices(t *testing.T) []string {
	t.Helper()
	list, err := f.s.ClaimLogoutNotices(context.Background(), now, time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range list {
		if !n.Deadline.Equal(now.Add(storage.LogoutNoticeTTL)) || n.UserID == "" {
			t.Errorf("notice %+v: want deadline now+LogoutNoticeTTL and a user", n)
		}
		got = append(got, n.ClientID+" "+n.SessionID)
	}
	slices.Sort(got)
	return got
}

// revoked returns which users' token families are revoked.
func (f *fixture) revoked(t *testing.T) []string {
	t.Helper()
	var got []string
	for _, user := range []string{"alice", "bob"} {
		r, err := f.s.FamilyRevoked(context.Background(), "family-"+user)
		if err != nil {
			t.Fatal(err)
		}
		if r {
			got = append(got, user)
		}
	}
	return got
}

// recorded returns the audit events as "kind session detail" strings.
func (f *fixture) recordedEvents() []string {
	var got []string
	for _, e := range f.events {
		got = append(got, e.Kind+" "+e.SessionID+" "+e.Detail)
	}
	return got
}

func wantList(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: got %q, want %q", what, got, want)
	}
}

func sessionIDs(ss []storage.Session) []string {
	var ids []string
	for _, s := range ss {
		ids = append(ids, s.ID)
	}
	return ids
}

func TestEnd(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s, _, _ := b.open(t)
			f := newFixture(t, s, nil)
			why := signout.Reason{Kind: signout.EventSignOut, Actor: "user", IP: "192.0.2.1", Detail: "test"}
			res, err := f.ender.End(t.Context(), []string{sidA1, "no-such-session", sidA2}, why)
			if err != nil {
				t.Fatalf("End: %v", err)
			}
			wantList(t, "ended", sessionIDs(res.Sessions), []string{sidA1, sidA2})
			if res.Notices != 1 || res.Families != 0 || f.queued != 1 {
				t.Errorf("got %d notices, %d families, %d wake-ups; want 1, 0, 1", res.Notices, res.Families, f.queued)
			}
			wantList(t, "live sessions", f.live(t, sidA1, sidA2, sidB), []string{sidB})
			wantList(t, "queued notices", f.notices(t), []string{"bc " + sidA1})
			wantList(t, "audit events", f.recordedEvents(), []string{"sign_out a1a1a1a1 test", "sign_out a2a2a2a2 test"})
			for _, e := range f.events {
				if e.UserID != "alice" || e.Actor != "user" || e.IP != "192.0.2.1" || !e.Time.Equal(now) {
					t.Errorf("event %+v: want alice's, by user, from 192.0.2.1, at now", e)
				}
			}
			wantList(t, "revoked families", f.revoked(t), nil)

			// Nothing left to end: nothing queued, nothing recorded.
			f.events = nil
			res, err = f.ender.End(t.Context(), []string{sidA1}, why)
			if err != nil || len(res.Sessions) != 0 || res.Notices != 0 || len(f.events) != 0 || f.queued != 1 {
				t.Errorf("End of an ended session: got %+v, %v, events %q; want nothing done", res, err, f.recordedEvents())
			}
		})
	}
}

func TestEndUserRevokesTokens(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s, _, _ := b.open(t)
			f := newFixture(t, s, nil)
			res, err := f.ender.EndUser(t.Context(), "alice", signout.Reason{Actor: "operator", Detail: "password changed", RevokeTokens: true})
			if err != nil {
				t.Fatalf("EndUser: %v", err)
			}
			wantList(t, "ended", sessionIDs(res.Sessions), []string{sidA1, sidA2})
			if res.Notices != 1 || res.Families != 1 {
				t.Errorf("got %d notices, %d families; want 1, 1", res.Notices, res.Families)
			}
			wantList(t, "live sessions", f.live(t, sidA1, sidA2, sidB), []string{sidB})
			wantList(t, "queued notices", f.notices(t), []string{"bc " + sidA1})
			wantList(t, "audit events", f.recordedEvents(),
				[]string{"session_ended a1a1a1a1 password changed", "session_ended a2a2a2a2 password changed"})
			wantList(t, "revoked families", f.revoked(t), []string{"alice"})

			// A user without sessions still has their tokens revoked.
			f.events = nil
			res, err = f.ender.EndUser(t.Context(), "carol", signout.Reason{RevokeTokens: true})
			if err != nil || len(res.Sessions) != 0 || len(f.events) != 0 {
				t.Errorf("EndUser of a user without sessions: got %+v, %v, events %q; want nothing ended", res, err, f.recordedEvents())
			}
		})
	}
}

// TestEndStoreDown cuts the backends under a real store: a session store
// that fails ends nothing and says so; a notice queue that fails (Redis
// holding the sessions, Postgres down) leaves the sessions ended,
// recorded, and the failure returned.
func TestEndStoreDown(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name+"/sessions", func(t *testing.T) {
			s, cutSessions, _ := b.open(t)
			f := newFixture(t, s, nil)
			cutSessions()
			res, err := f.ender.End(t.Context(), []string{sidA1}, signout.Reason{RevokeTokens: true})
			if !errors.Is(err, signout.ErrNotEnded) {
				t.Fatalf("End with the session store down: got %v, want ErrNotEnded", err)
			}
			if len(res.Sessions) != 0 || res.Notices != 0 || len(f.events) != 0 || f.queued != 0 {
				t.Errorf("End with the session store down: got %+v, events %q, %d wake-ups; want nothing done", res, f.recordedEvents(), f.queued)
			}
			if _, err := f.ender.EndUser(t.Context(), "alice", signout.Reason{}); !errors.Is(err, signout.ErrNotEnded) {
				t.Errorf("EndUser with the session store down: got %v, want ErrNotEnded", err)
			}
		})
	}
	b := backends[2] // postgres+redis: the sessions survive Postgres
	t.Run(b.name+"/notices", func(t *testing.T) {
		s, _, cutRest := b.open(t)
		f := newFixture(t, s, nil)
		cutRest()
		res, err := f.ender.End(t.Context(), []string{sidA1}, signout.Reason{Detail: "test", RevokeTokens: true})
		if !errors.Is(err, signout.ErrNotNotified) || !errors.Is(err, signout.ErrNotRevoked) || errors.Is(err, signout.ErrNotEnded) {
			t.Fatalf("End with Postgres down: got %v, want ErrNotNotified and ErrNotRevoked, not ErrNotEnded", err)
		}
		wantList(t, "ended", sessionIDs(res.Sessions), []string{sidA1})
		wantList(t, "live sessions", f.live(t, sidA1), nil)
		wantList(t, "audit events", f.recordedEvents(), []string{"session_ended a1a1a1a1 test"})
		if res.Notices != 0 || f.queued != 0 {
			t.Errorf("got %d notices, %d wake-ups; want none", res.Notices, f.queued)
		}
	})
}

// faulty fails the calls it is told to, over a real store.
type faulty struct {
	signout.Store
	deleteFails  string // the session id whose delete fails
	enqueueFails bool
	revokeFails  bool
}

var errInjected = errors.New("injected store failure")

func (f faulty) DeleteSession(ctx context.Context, id string) (*storage.Session, error) {
	if id == f.deleteFails {
		return nil, errInjected
	}
	return f.Store.DeleteSession(ctx, id)
}

func (f faulty) EnqueueLogoutNotices(ctx context.Context, n []storage.LogoutNotice) error {
	if f.enqueueFails {
		return errInjected
	}
	return f.Store.EnqueueLogoutNotices(ctx, n)
}

func (f faulty) RevokeUserFamilies(ctx context.Context, userID, clientID string, now, keepUntil time.Time) (int, error) {
	if f.revokeFails {
		return 0, errInjected
	}
	return f.Store.RevokeUserFamilies(ctx, userID, clientID, now, keepUntil)
}

// TestEndFailures checks that a failing step leaves nothing half-done: a
// delete that fails stops the deletes, but the sessions already deleted
// get their notices, events and revocation; a later step that fails is
// returned, marked by what it left undone, and the steps after it run.
func TestEndFailures(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, tc := range []struct {
				name         string
				fault        faulty
				recordErr    error
				wantErr      []error
				wantEnded    []string
				wantLive     []string
				wantNotices  []string
				wantEvents   int
				wantFamilies []string
			}{
				{name: "second delete fails", fault: faulty{deleteFails: sidB}, wantErr: []error{signout.ErrNotEnded, errInjected},
					wantEnded: []string{sidA1}, wantLive: []string{sidA2, sidB}, wantNotices: []string{"bc " + sidA1},
					wantEvents: 1, wantFamilies: []string{"alice"}},
				{name: "notices fail", fault: faulty{enqueueFails: true}, wantErr: []error{signout.ErrNotNotified, errInjected},
					wantEnded: []string{sidA1, sidB}, wantLive: []string{sidA2}, wantEvents: 2, wantFamilies: []string{"alice", "bob"}},
				{name: "record fails", recordErr: errInjected, wantErr: []error{signout.ErrNotRecorded, errInjected},
					wantEnded: []string{sidA1, sidB}, wantLive: []string{sidA2}, wantNotices: []string{"bc " + sidA1, "bc " + sidB},
					wantEvents: 2, wantFamilies: []string{"alice", "bob"}},
				{name: "revoke fails", fault: faulty{revokeFails: true}, wantErr: []error{signout.ErrNotRevoked, errInjected},
					wantEnded: []string{sidA1, sidB}, wantLive: []string{sidA2}, wantNotices: []string{"bc " + sidA1, "bc " + sidB},
					wantEvents: 2},
			} {
				t.Run(tc.name, func(t *testing.T) {
					s, _, _ := b.open(t)
					f := newFixture(t, s, func(s signout.Store) signout.Store { tc.fault.Store = s; return tc.fault })
					f.recorded = tc.recordErr
					res, err := f.ender.End(t.Context(), []string{sidA1, sidB}, signout.Reason{RevokeTokens: true})
					for _, want := range tc.wantErr {
						if !errors.Is(err, want) {
							t.Errorf("End: got error %v, want it to wrap %v", err, want)
						}
					}
					if tc.wantErr[0] != signout.ErrNotEnded && errors.Is(err, signout.ErrNotEnded) {
						t.Errorf("End: got error %v, want it not to wrap ErrNotEnded: every session was deleted", err)
					}
					wantList(t, "ended", sessionIDs(res.Sessions), tc.wantEnded)
					wantList(t, "live sessions", f.live(t, sidA1, sidA2, sidB), tc.wantLive)
					wantList(t, "queued notices", f.notices(t), tc.wantNotices)
					if len(f.events) != tc.wantEvents {
						t.Errorf("audit events: got %q, want %d", f.recordedEvents(), tc.wantEvents)
					}
					wantList(t, "revoked families", f.revoked(t), tc.wantFamilies)
				})
			}
		})
	}
}
