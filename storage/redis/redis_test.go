package redis

import (
	"context"
	"crypto/rand"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
	"github.com/gatehouse-idp/gatehouse/storage/storagetest"
)

// testURL is the Redis the tests use.
func testURL() string {
	if u := os.Getenv("GATEHOUSE_TEST_REDIS"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// openTest opens a store on the test Redis under a fresh key prefix. When the
// test ends it checks that every key under the prefix has a TTL, deletes
// them and closes the store. An unreachable Redis skips the test, or fails
// it under CI=true.
func openTest(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.Context(), Options{URL: testURL(), Prefix: "ghtest:" + rand.Text()[:12] + ":", Timeout: 2 * time.Second})
	if err != nil {
		msg := "Redis at GATEHOUSE_TEST_REDIS (default redis://127.0.0.1:6379/0) is unreachable: %v"
		if os.Getenv("CI") == "true" {
			t.Fatalf(msg, err)
		}
		t.Skipf(msg+"; skipping (set CI=true to fail instead)", err)
	}
	t.Cleanup(func() {
		// The test's context is done by now.
		ctx := context.Background()
		for _, key := range prefixKeys(t, s) {
			ttl, err := s.rdb.PTTL(ctx, key).Result()
			if err != nil {
				t.Errorf("PTTL %s: %v", key, err)
			} else if ttl == -1 {
				t.Errorf("key %s has no TTL, want every key to expire", key)
			}
			if err := s.rdb.Del(ctx, key).Err(); err != nil {
				t.Errorf("DEL %s: %v", key, err)
			}
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// prefixKeys lists the keys under the store's prefix, by SCAN (on every
// master of a Cluster): for tests only, never for requests.
func prefixKeys(t testing.TB, s *Store) []string {
	t.Helper()
	ctx := context.Background()
	var (
		mu   sync.Mutex
		keys []string
	)
	scan := func(ctx context.Context, c *goredis.Client) error {
		iter := c.Scan(ctx, 0, s.prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			keys = append(keys, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	switch c := s.rdb.(type) {
	case *goredis.ClusterClient:
		err = c.ForEachMaster(ctx, scan)
	case *goredis.Client:
		err = scan(ctx, c)
	default:
		t.Fatalf("prefixKeys: client %T not supported", s.rdb)
	}
	if err != nil {
		t.Fatalf("SCAN %s*: %v", s.prefix, err)
	}
	slices.Sort(keys)
	return keys
}

// composite serves the Redis stores from Redis and the rest from SQLite, as
// a production deployment splits them between Redis and Postgres.
type composite struct {
	storage.Clients
	storage.ClientWriter
	storage.ClientRegistries
	storage.Users
	storage.UserDeleter
	storage.UserSwapper
	storage.UserImporter
	storage.UserPager
	storage.Sessions
	storage.SessionCounter
	storage.AuthRequests
	storage.RefreshGrants
	storage.TokenFamilies
	keyStore // embedded as storage.SigningKeys, the field would hide its method SigningKeys
	storage.Secrets
	storage.KeyRotation
	storage.ClientAssertions
	storage.DPoPProofs
	storage.Consents
	storage.LogoutNotices
	storage.LoginThrottle
	storage.AuditLog
	storage.SecondFactors
	storage.PendingSignIns
	storage.SessionAuthenticator
	storage.Passkeys
	storage.WebAuthnCeremonies
	storage.Groups
	storage.Registrations
	storage.PasswordResets
	storage.PushedRequests
	storage.DeviceAuthorizations
}

type keyStore = storage.SigningKeys

func TestContract(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storagetest.Store {
		r := openTest(t)
		sq, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "g.db"))
		if err != nil {
			t.Fatalf("sqlite.Open: %v", err)
		}
		t.Cleanup(func() { sq.Close() })
		return composite{
			Clients: sq, ClientWriter: sq, ClientRegistries: sq, Users: sq, UserDeleter: sq, UserSwapper: sq, UserImporter: sq, UserPager: sq,
			Sessions: r, SessionCounter: r, AuthRequests: r,
			RefreshGrants: sq, TokenFamilies: sq, keyStore: sq, Secrets: sq, KeyRotation: sq,
			ClientAssertions: sq, DPoPProofs: r, Consents: sq, LogoutNotices: sq, LoginThrottle: r, AuditLog: sq,
			SecondFactors: sq, PendingSignIns: r, SessionAuthenticator: r, Passkeys: sq,
			WebAuthnCeremonies: r, Groups: sq, Registrations: sq,
			PasswordResets: sq, PushedRequests: r, DeviceAuthorizations: r,
		}
	})
}

var t0 = time.Date(2031, time.March, 4, 5, 6, 7, 123456789, time.UTC)

func mustOK(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func wantNotFound(t testing.TB, what string, err error) {
	t.Helper()
	if !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("%s: got error %v, want %v", what, err, storage.ErrNotFound)
	}
}

// issue creates, completes and gives a code to the request r.
func issue(t testing.TB, s *Store, r storage.AuthRequest, code string, codeExp, now time.Time) {
	t.Helper()
	ctx := t.Context()
	mustOK(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, &r))
	login := storage.Login{UserID: "u1", SessionID: "s1", AuthTime: now, AMR: []string{"pwd"}}
	mustOK(t, "CompleteAuthRequest", s.CompleteAuthRequest(ctx, r.ID, login, now))
	mustOK(t, "SaveCode", s.SaveCode(ctx, r.ID, code, codeExp, now))
}

// TestLuaRoundTrip passes values that Redis's cjson could mangle through the
// scripts that decode and re-encode a request.
func TestLuaRoundTrip(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	r := storage.AuthRequest{
		ID:          "r/1 {tag}",
		ClientID:    `quote " backslash \ slash / <tag> & ünïcødé 🔑 ` + "\n\t\x01",
		RedirectURI: "https://rp.example/cb?a=1&b=%2F",
		Scopes:      []string{"openid", ""},
		ACRValues:   []string{"urn:example:loa:3", "https://refeds.org/profile/mfa", ""},
		MaxAge:      new(int64(math.MaxInt64)),
		State:       strings.Repeat("s", 4000),
		CreatedAt:   time.Unix(0, 0),
		ExpiresAt:   time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
	}
	login := storage.Login{UserID: "u", AuthTime: time.Unix(-1, 1), AMR: []string{"pwd", "hwk"}}
	mustOK(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, &r))
	mustOK(t, "CompleteAuthRequest", s.CompleteAuthRequest(ctx, r.ID, login, t0))
	codeExp := time.Date(9999, 12, 31, 23, 59, 59, 999999998, time.UTC)
	mustOK(t, "SaveCode", s.SaveCode(ctx, r.ID, "code", codeExp, t0))

	want := r
	want.Done, want.UserID, want.AuthTime, want.AMR = true, login.UserID, login.AuthTime, login.AMR
	want.CodeHash, want.ExpiresAt = "code", codeExp
	for _, get := range []func() (*storage.AuthRequest, error){
		func() (*storage.AuthRequest, error) { return s.AuthRequest(ctx, r.ID, t0) },
		func() (*storage.AuthRequest, error) { return s.ClaimCode(ctx, "code", "claim", t0, time.Minute) },
	} {
		got, err := get()
		mustOK(t, "read back", err)
		if got.ClientID != want.ClientID || got.State != want.State || *got.MaxAge != *want.MaxAge ||
			!slices.Equal(got.Scopes, want.Scopes) || !slices.Equal(got.AMR, want.AMR) ||
			!slices.Equal(got.ACRValues, want.ACRValues) ||
			!got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) ||
			!got.AuthTime.Equal(want.AuthTime) || got.CodeHash != want.CodeHash || !got.Done {
			t.Errorf("round trip through Lua: got %+v, want %+v", *got, want)
		}
	}
}

// TestAuthRequestStoredBeforeACRValues reads a request written before
// requests recorded acr_values (and dpop_jkt): it has none, before and after the scripts
// complete it and give it a code.
func TestAuthRequestStoredBeforeACRValues(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	old := `{"id":"old","cl":"app","sc":["openid"],"p":["login"],"ca":[1900000000,0],"x":[1900000600,0]}`
	mustOK(t, "SET", s.rdb.Set(ctx, s.authKey("old"), old, time.Hour).Err())
	now := time.Unix(1900000000, 0)
	check := func(what string, got *storage.AuthRequest, err error) {
		t.Helper()
		mustOK(t, what, err)
		if got.DPoPJKT != "" {
			t.Errorf("%s: got DPoPJKT %q, want none (the record has no jkt)", what, got.DPoPJKT)
		}
		if got.ACRValues != nil || got.ClientID != "app" || !slices.Equal(got.Prompt, []string{"login"}) {
			t.Errorf("%s: got ACRValues %q, ClientID %q, Prompt %q; want none, app, [login]", what, got.ACRValues, got.ClientID, got.Prompt)
		}
	}
	got, err := s.AuthRequest(ctx, "old", now)
	check("AuthRequest", got, err)
	mustOK(t, "CompleteAuthRequest", s.CompleteAuthRequest(ctx, "old", storage.Login{UserID: "u", AMR: []string{"pwd"}}, now))
	mustOK(t, "SaveCode", s.SaveCode(ctx, "old", "code-old", now.Add(time.Minute), now))
	got, err = s.AuthRequestByCode(ctx, "code-old", now)
	check("AuthRequestByCode", got, err)
}

// TestUpdateSessionLuaRoundTrip passes a session with values Redis's cjson
// could mangle through the update script, which decodes and re-encodes it.
func TestUpdateSessionLuaRoundTrip(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	sess := storage.Session{
		ID:                "s/1 {tag}",
		UserID:            `quote " backslash \ slash / <tag> & ünïcødé 🔑 ` + "\n\t\x01",
		AuthTime:          time.Unix(-1, 1),
		AMR:               []string{"pwd", ""},
		UserAgent:         strings.Repeat("u", 4000),
		CreatedAt:         time.Unix(0, 0),
		ExpiresAt:         time.Date(9999, 12, 31, 23, 59, 59, 999999997, time.UTC),
		AbsoluteExpiresAt: time.Date(9999, 12, 31, 23, 59, 59, 999999998, time.UTC),
		Remember:          true,
		Clients:           []string{"a"},
	}
	mustOK(t, "CreateSession", s.CreateSession(ctx, &sess))
	u := sess
	u.IP, u.UserAgent, u.LastSeen = "::1", "ünï <b>", time.Unix(1, 999999999)
	u.Clients = []string{"a", "b/c", `d"e`}
	u.ExpiresAt = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC) // capped
	mustOK(t, "UpdateSession", s.UpdateSession(ctx, &u, t0))
	got, err := s.Session(ctx, sess.ID, t0)
	mustOK(t, "Session", err)
	want := u
	want.ExpiresAt = sess.AbsoluteExpiresAt
	if got.UserID != want.UserID || got.UserAgent != want.UserAgent || got.IP != want.IP ||
		!slices.Equal(got.AMR, want.AMR) || !slices.Equal(got.Clients, want.Clients) || !got.Remember ||
		!got.AuthTime.Equal(want.AuthTime) || !got.CreatedAt.Equal(want.CreatedAt) || !got.LastSeen.Equal(want.LastSeen) ||
		!got.ExpiresAt.Equal(want.ExpiresAt) || !got.AbsoluteExpiresAt.Equal(want.AbsoluteExpiresAt) {
		t.Errorf("round trip through Lua: got %+v, want %+v", *got, want)
	}
	// Clients emptied: the script writes no empty list.
	u.Clients = nil
	mustOK(t, "UpdateSession without clients", s.UpdateSession(ctx, &u, t0))
	raw := s.rdb.Get(ctx, s.sessionKey(sess.ID)).Val()
	if strings.Contains(raw, `"cl"`) || strings.Contains(raw, "{}") {
		t.Errorf("session after clearing its clients: got %s, want no cl field", raw)
	}
}

// TestUpdateSessionKeyExpiry checks that an update moves the session key's
// expiry with ExpiresAt, never past the absolute deadline, and never past
// the index entry's score.
func TestUpdateSessionKeyExpiry(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	now := time.Now().Truncate(time.Microsecond)
	sess := storage.Session{ID: "s1", UserID: "alice", ExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(8 * time.Hour)}
	mustOK(t, "CreateSession", s.CreateSession(ctx, &sess))
	score := s.rdb.ZScore(ctx, s.indexKey("alice"), "s1").Val()
	if want := float64(s.expireAt(sess.AbsoluteExpiresAt)); score != want {
		t.Errorf("index score: got %.0f, want %.0f (the absolute deadline)", score, want)
	}
	for _, tt := range []struct {
		name      string
		expiresAt time.Time
		want      time.Time
	}{
		{"extended", now.Add(2 * time.Hour), now.Add(2 * time.Hour)},
		{"past the absolute deadline", now.Add(48 * time.Hour), sess.AbsoluteExpiresAt},
		{"shortened", now.Add(time.Minute), now.Add(time.Minute)},
	} {
		u := sess
		u.ExpiresAt = tt.expiresAt
		mustOK(t, "UpdateSession "+tt.name, s.UpdateSession(ctx, &u, now))
		got := s.rdb.PExpireTime(ctx, s.sessionKey("s1")).Val()
		if want := time.Duration(s.expireAt(tt.want)) * time.Millisecond; got != want {
			t.Errorf("key expiry after UpdateSession %s: got %v, want %v", tt.name, got, want)
		}
		if float64(got.Milliseconds()) > score {
			t.Errorf("key expiry after UpdateSession %s: %v, after the index score %.0f", tt.name, got, score)
		}
	}
}

func TestTimeOutOfRange(t *testing.T) {
	s := openTest(t)
	sess := storage.Session{ID: "s1", ExpiresAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	err := s.CreateSession(t.Context(), &sess)
	if err == nil || !strings.Contains(err.Error(), "outside") {
		t.Errorf("CreateSession expiring in 10000: got error %v, want an out-of-range error", err)
	}
	if keys := prefixKeys(t, s); len(keys) != 0 {
		t.Errorf("keys after a refused CreateSession: got %q, want none", keys)
	}
}

// TestExpiredAtWrite writes records whose ExpiresAt has passed by the real
// clock (or is zero): they are stored, never live, and expire.
func TestExpiredAtWrite(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	past := time.Now().Add(-time.Hour)
	for _, exp := range []time.Time{past, {}} {
		sess := storage.Session{ID: "s" + exp.Format("2006"), UserID: "u", ExpiresAt: exp}
		mustOK(t, "CreateSession", s.CreateSession(ctx, &sess))
		_, err := s.Session(ctx, sess.ID, time.Now())
		wantNotFound(t, "Session expired at write", err)
	}
	got, err := s.Session(ctx, "s"+past.Format("2006"), past.Add(-time.Minute))
	mustOK(t, "Session before its expiry by a synthetic now", err)
	if !got.ExpiresAt.Equal(past) {
		t.Errorf("ExpiresAt: got %v, want %v", got.ExpiresAt, past)
	}
	for _, key := range prefixKeys(t, s) {
		ttl := s.rdb.PTTL(ctx, key).Val()
		if ttl <= 0 || ttl > minKeep {
			t.Errorf("PTTL %s: got %v, want (0, %v]", key, ttl, minKeep)
		}
	}
}

// TestKeysExpire writes every kind of key to expire about two seconds from
// now by the real clock, and checks that afterwards nothing is left.
func TestKeysExpire(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for keys to expire")
	}
	s := openTest(t)
	ctx := t.Context()
	now := time.Now()
	exp := now.Add(2 * time.Second)
	for _, sess := range []storage.Session{
		{ID: "s1", UserID: "alice", CreatedAt: now, ExpiresAt: exp},
		{ID: "s2", UserID: "alice", CreatedAt: now, ExpiresAt: now.Add(1200 * time.Millisecond)},
	} {
		mustOK(t, "CreateSession", s.CreateSession(ctx, &sess))
	}
	issue(t, s, storage.AuthRequest{ID: "r1", CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}, "code-1", exp, now)
	mustOK(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, &storage.AuthRequest{ID: "r2", ExpiresAt: exp}))

	want := []string{"ar:r1", "ar:r2", "c:code-1", "s:s1", "s:s2", "sa", "u:alice"}
	keys := prefixKeys(t, s)
	for i := range keys {
		keys[i] = strings.TrimPrefix(keys[i], s.prefix)
	}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys: got %q, want %q", keys, want)
	}
	// The index and the active set live as long as their latest session; a
	// request with a code as long as its code.
	wantMS := s.expireAt(exp)
	for _, k := range []string{"s:s1", "u:alice", "sa", "ar:r1", "c:code-1", "ar:r2"} {
		got, err := s.rdb.PExpireTime(ctx, s.prefix+k).Result()
		mustOK(t, "PEXPIRETIME "+k, err)
		if got.Milliseconds() != wantMS {
			t.Errorf("PEXPIRETIME %s: got %d, want %d", k, got.Milliseconds(), wantMS)
		}
	}
	time.Sleep(time.Until(exp) + 100*time.Millisecond)
	if keys := prefixKeys(t, s); len(keys) != 0 {
		t.Errorf("keys after every TTL passed: got %q, want none", keys)
	}
}

// TestIndexPruned checks that adding a session drops index entries whose
// sessions have expired in Redis.
func TestIndexPruned(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	s.clock = func() time.Time { return time.Now().Add(-time.Hour) } // lets a key get a TTL of 1ms
	old := storage.Session{ID: "old", UserID: "alice", ExpiresAt: time.Now().Add(time.Millisecond)}
	mustOK(t, "CreateSession(old)", s.CreateSession(ctx, &old))
	time.Sleep(10 * time.Millisecond)
	s.clock = time.Now
	mustOK(t, "CreateSession(new)", s.CreateSession(ctx, &storage.Session{ID: "new", UserID: "alice", ExpiresAt: t0}))
	ids := s.rdb.ZRange(ctx, s.indexKey("alice"), 0, -1).Val()
	if !slices.Equal(ids, []string{"new"}) {
		t.Errorf("index of alice: got %q, want [new]", ids)
	}
}

// TestForeignIndexEntry checks that an index entry left by a refused
// duplicate id (which names another user's session) neither lists nor
// deletes that session.
func TestForeignIndexEntry(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	alice := storage.Session{ID: "s1", UserID: "alice", ExpiresAt: t0}
	mustOK(t, "CreateSession(alice)", s.CreateSession(ctx, &alice))
	bob := storage.Session{ID: "s1", UserID: "bob", ExpiresAt: t0}
	err := s.CreateSession(ctx, &bob)
	if !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("CreateSession with alice's id: got %v, want %v", err, storage.ErrConflict)
	}
	list, err := s.UserSessions(ctx, "bob", t0.Add(-time.Hour))
	mustOK(t, "UserSessions(bob)", err)
	if len(list) != 0 {
		t.Errorf("UserSessions(bob): got %d sessions, want 0", len(list))
	}
	removed, err := s.DeleteUserSessions(ctx, "bob")
	mustOK(t, "DeleteUserSessions(bob)", err)
	if len(removed) != 0 {
		t.Errorf("DeleteUserSessions(bob): got %d, want 0", len(removed))
	}
	if _, err := s.Session(ctx, "s1", t0.Add(-time.Hour)); err != nil {
		t.Errorf("Session(s1) of alice after bob's sessions were deleted: %v", err)
	}
}

// TestIndexEntryBeforeSession checks that DeleteUserSessions keeps an index
// entry whose session is not written yet, as after a crash or while
// CreateSession is between its two writes.
func TestIndexEntryBeforeSession(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	exp := s.expireAt(t0)
	mustOK(t, "index", s.addToIndex.Run(ctx, s.rdb, []string{s.indexKey("alice")}, exp, "s1").Err())
	removed, err := s.DeleteUserSessions(ctx, "alice")
	mustOK(t, "DeleteUserSessions", err)
	if len(removed) != 0 {
		t.Errorf("DeleteUserSessions: got %d, want 0", len(removed))
	}
	// The session lands now: it is still indexed, so it can be ended.
	mustOK(t, "SET", s.rdb.SetArgs(ctx, s.sessionKey("s1"), `{"u":"alice"}`, goredis.SetArgs{ExpireAt: time.UnixMilli(exp)}).Err())
	removed, err = s.DeleteUserSessions(ctx, "alice")
	mustOK(t, "DeleteUserSessions", err)
	if len(removed) != 1 || removed[0].ID != "s1" {
		t.Errorf("DeleteUserSessions after the session landed: got %d sessions, want s1", len(removed))
	}
	if keys := prefixKeys(t, s); len(keys) != 0 {
		t.Errorf("keys left: got %q, want none", keys)
	}
}

// TestCodeWithoutRequest checks that a code whose request key is gone (the
// request was deleted while the code was being saved) is not redeemed.
func TestCodeWithoutRequest(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	issue(t, s, storage.AuthRequest{ID: "r1", ExpiresAt: t0.Add(time.Hour)}, "code-1", t0.Add(time.Minute), t0)
	mustOK(t, "DEL", s.rdb.Del(ctx, s.authKey("r1")).Err())
	_, err := s.ClaimCode(ctx, "code-1", "claim", t0, time.Minute)
	mustOK(t, "ClaimCode without its request", err)
	wantNotFound(t, "RedeemCode without its request", s.RedeemCode(ctx, "code-1", "claim", t0))

	// SaveCode on a request that is deleted before its code key is written.
	issue(t, s, storage.AuthRequest{ID: "r2", ExpiresAt: t0.Add(time.Hour)}, "code-2", t0.Add(time.Minute), t0)
	mustOK(t, "DEL", s.rdb.Del(ctx, s.authKey("r2")).Err())
	mustOK(t, "DEL", s.rdb.Del(ctx, s.codeKey("code-2")).Err())
	err = s.storeCode(ctx, "store code", "r2", "code-2", "{}", s.expireAt(t0))
	wantNotFound(t, "storeCode for a deleted request", err)
	if n := s.rdb.Exists(ctx, s.codeKey("code-2")).Val(); n != 0 {
		t.Errorf("code key after storeCode for a deleted request: exists")
	}
}

// TestDeleteAuthRequestKeepsForeignCode: a request that claims a code hash
// another request holds does not delete that request's code.
func TestDeleteAuthRequestKeepsForeignCode(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	issue(t, s, storage.AuthRequest{ID: "r1", ExpiresAt: t0.Add(time.Hour)}, "code-1", t0.Add(time.Minute), t0)
	r2 := storage.AuthRequest{ID: "r2", ExpiresAt: t0.Add(time.Hour)}
	issue(t, s, r2, "code-2", t0.Add(time.Minute), t0)
	// Make r2 claim code-1.
	got, err := s.AuthRequest(ctx, "r2", t0)
	mustOK(t, "AuthRequest(r2)", err)
	got.CodeHash = "code-1"
	val, err := encodeAuthRequest(got)
	mustOK(t, "encode", err)
	mustOK(t, "SET", s.rdb.SetArgs(ctx, s.authKey("r2"), val, goredis.SetArgs{KeepTTL: true}).Err())

	mustOK(t, "DeleteAuthRequest(r2)", s.DeleteAuthRequest(ctx, "r2"))
	r1, err := s.ClaimCode(ctx, "code-1", "claim", t0, time.Minute)
	mustOK(t, "ClaimCode(code-1)", err)
	if r1.ID != "r1" {
		t.Errorf("ClaimCode(code-1): got request %q, want r1", r1.ID)
	}
	mustOK(t, "RedeemCode(code-1)", s.RedeemCode(ctx, "code-1", "claim", t0))
}

// countHook counts the commands and pipelines sent: each is one round trip
// (per Cluster node).
type countHook struct{ n atomic.Int64 }

func (h *countHook) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *countHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *countHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// roundTrips returns a function that returns how many round trips the store
// made since the last time it was called.
func roundTrips(s *Store) func() int {
	h := &countHook{}
	s.rdb.AddHook(h)
	return func() int { return int(h.n.Swap(0)) }
}

// limit is a throttle limit of free attempts, then a minute's wait.
func limit(key string, free int) storage.ThrottleLimit {
	return storage.ThrottleLimit{Key: key, Free: free, Delay: time.Minute, MaxDelay: time.Minute}
}

// TestRoundTrips pins how many round trips each operation makes, with the
// scripts cached in Redis and the connections open.
func TestRoundTrips(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	// Warm the script cache.
	issue(t, s, storage.AuthRequest{ID: "warm", ExpiresAt: t0}, "warm", t0, t0.Add(-time.Hour))
	mustOK(t, "CreateSession", s.CreateSession(ctx, &storage.Session{ID: "warm", UserID: "warm", ExpiresAt: t0}))
	mustOK(t, "warm", s.takeIf.Load(ctx, s.rdb).Err())
	mustOK(t, "warm", s.updateSession.Load(ctx, s.rdb).Err())
	mustOK(t, "warm", s.reserve.Load(ctx, s.rdb).Err())
	// and a connection of the pipeline pool (a new connection's handshake
	// goes through the hooks too).
	_, err := s.UserSessions(ctx, "warm", t0.Add(-time.Hour))
	mustOK(t, "warm", err)
	rt := roundTrips(s)

	now := t0.Add(-time.Hour)
	login := storage.Login{UserID: "u1", SessionID: "s1"}
	tests := []struct {
		name string
		op   func() error
		want int
	}{
		{"CreateSession", func() error {
			for _, id := range []string{"s1", "s2", "s3"} {
				if err := s.CreateSession(ctx, &storage.Session{ID: id, UserID: "alice", ExpiresAt: t0}); err != nil {
					return err
				}
			}
			return nil
		}, 3 * 2},
		{"Session", func() error { _, err := s.Session(ctx, "s1", now); return err }, 1},
		{"UserSessions", func() error { _, err := s.UserSessions(ctx, "alice", now); return err }, 2},
		{"UpdateSession", func() error {
			return s.UpdateSession(ctx, &storage.Session{ID: "s2", UserID: "alice", ExpiresAt: t0}, now)
		}, 1},
		{"DeleteSession", func() error { _, err := s.DeleteSession(ctx, "s3"); return err }, 2},
		{"DeleteUserSessions", func() error { _, err := s.DeleteUserSessions(ctx, "alice"); return err }, 3},
		{"ActiveSessions", func() error { _, err := s.ActiveSessions(ctx, now); return err }, 1},
		{"CreateAuthRequest", func() error { return s.CreateAuthRequest(ctx, &storage.AuthRequest{ID: "r1", ExpiresAt: t0}) }, 1},
		{"CreateAuthRequest with its code", func() error {
			return s.CreateAuthRequest(ctx, &storage.AuthRequest{ID: "r-sso", Done: true, UserID: "alice", CodeHash: "c-sso", ExpiresAt: t0})
		}, 1},
		{"AuthRequest", func() error { _, err := s.AuthRequest(ctx, "r1", now); return err }, 1},
		{"CompleteAuthRequest", func() error { return s.CompleteAuthRequest(ctx, "r1", login, now) }, 1},
		{"SaveCode", func() error { return s.SaveCode(ctx, "r1", "c1", t0, now) }, 3},
		{"AuthRequestByCode", func() error { _, err := s.AuthRequestByCode(ctx, "c1", now); return err }, 1},
		{"ClaimCode", func() error { _, err := s.ClaimCode(ctx, "c1", "k1", now, time.Minute); return err }, 1},
		{"RedeemCode", func() error { return s.RedeemCode(ctx, "c1", "k1", now) }, 2},
		{"ReleaseCode", func() error { return s.ReleaseCode(ctx, "c1", "k1") }, 1},
		{"DeleteAuthRequest", func() error { return s.DeleteAuthRequest(ctx, "warm") }, 2},
		{"ReserveLoginAttempt", func() error {
			_, _, err := s.ReserveLoginAttempt(ctx, []storage.ThrottleLimit{limit("ip:192.0.2.1", 1), limit("user:alice", 1)}, now, time.Minute)
			return err
		}, 2},
		{"ReserveLoginAttempt refused by the first key", func() error {
			_, wait, err := s.ReserveLoginAttempt(ctx, []storage.ThrottleLimit{limit("ip:192.0.2.1", 1), limit("user:alice", 1)}, now, time.Minute)
			if err == nil && wait == 0 {
				err = errors.New("not refused")
			}
			return err
		}, 2},
		{"ReserveLoginAttempt refused by the second key", func() error {
			_, wait, err := s.ReserveLoginAttempt(ctx, []storage.ThrottleLimit{limit("ip:192.0.2.2", 1), limit("user:alice", 1)}, now, time.Minute)
			if err == nil && wait == 0 {
				err = errors.New("not refused")
			}
			return err
		}, 3},
		{"LoginFailures", func() error {
			_, err := s.LoginFailures(ctx, []string{"user:alice", "ip:192.0.2.1", "ip:192.0.2.2"}, now)
			return err
		}, 1},
		{"ReleaseLoginAttempt", func() error {
			a, _, err := s.ReserveLoginAttempt(ctx, []storage.ThrottleLimit{limit("ip:192.0.2.3", 1), limit("user:bob", 1)}, now, time.Minute)
			if err != nil {
				return err
			}
			rt()
			return s.ReleaseLoginAttempt(ctx, a, []string{"user:bob"})
		}, 1},
	}
	for _, tt := range tests {
		rt()
		mustOK(t, tt.name, tt.op())
		if got := rt(); got != tt.want {
			t.Errorf("%s: got %d round trips, want %d", tt.name, got, tt.want)
		}
	}
}

// TestActiveSet follows the active set through what the contract suite
// cannot see: the set's own entries, a session stored before the set
// existed, pruning by the real clock, and an update whose script Redis
// has forgotten.
func TestActiveSet(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	entries := func() map[string]float64 {
		t.Helper()
		zs, err := s.rdb.ZRangeWithScores(ctx, s.activeKey(), 0, -1).Result()
		mustOK(t, "ZRANGE", err)
		m := make(map[string]float64)
		for _, z := range zs {
			m[z.Member.(string)] = z.Score
		}
		return m
	}
	count := func(what string, now time.Time, want int64) {
		t.Helper()
		got, err := s.ActiveSessions(ctx, now)
		mustOK(t, "ActiveSessions "+what, err)
		if got != want {
			t.Errorf("ActiveSessions %s: got %d, want %d", what, got, want)
		}
	}
	now := t0.Add(-time.Hour)
	exp := t0.Add(123 * time.Nanosecond) // scored rounded up to the microsecond
	mustOK(t, "CreateSession", s.CreateSession(ctx, &storage.Session{ID: "s1", UserID: "alice", ExpiresAt: exp, AbsoluteExpiresAt: t0.Add(time.Hour)}))
	if got, want := entries()["s1"], float64(t0.UnixMicro()+1); got != want {
		t.Errorf("score of s1: got %v, want %v", got, want)
	}
	// The set lives as long as the latest deadline.
	if got, want := s.rdb.PExpireTime(ctx, s.activeKey()).Val().Milliseconds(), s.expireAt(t0.Add(time.Hour)); got != want {
		t.Errorf("PEXPIRETIME of the set: got %d, want %d", got, want)
	}

	// A session stored before the set existed joins it at its update.
	mustOK(t, "CreateSession", s.CreateSession(ctx, &storage.Session{ID: "old", UserID: "bob", ExpiresAt: t0}))
	mustOK(t, "ZREM", s.rdb.ZRem(ctx, s.activeKey(), "old").Err())
	count("without the old session's entry", now, 1)
	mustOK(t, "UpdateSession(old)", s.UpdateSession(ctx, &storage.Session{ID: "old", ExpiresAt: t0.Add(-time.Minute)}, now))
	if got, want := entries()["old"], float64(t0.Add(-time.Minute).UnixMicro()+1); got != want {
		t.Errorf("score of old after its update: got %v, want %v", got, want)
	}
	count("after the old session's update", now, 2)

	// With the script gone from Redis (a restart, SCRIPT FLUSH), the update
	// still runs, and still moves the entry.
	mustOK(t, "SCRIPT FLUSH", s.rdb.ScriptFlush(ctx).Err())
	mustOK(t, "UpdateSession(s1)", s.UpdateSession(ctx, &storage.Session{ID: "s1", ExpiresAt: t0.Add(30 * time.Minute)}, now))
	if got, want := entries()["s1"], float64(t0.Add(30*time.Minute).UnixMicro()+1); got != want {
		t.Errorf("score of s1 after an update without the cached script: got %v, want %v", got, want)
	}

	// Entries expired by the real clock are dropped at the next count; the
	// others stay, even for a now past them.
	s.clock = func() time.Time { return time.Now().Add(-time.Hour) } // lets a key get a TTL of 1ms
	past := storage.Session{ID: "past", UserID: "carol", ExpiresAt: time.Now().Add(-time.Minute)}
	mustOK(t, "CreateSession(past)", s.CreateSession(ctx, &past))
	s.clock = time.Now
	if _, ok := entries()["past"]; !ok {
		t.Fatalf("entries: got %v, want past among them", entries())
	}
	count("by the real clock", time.Now(), 2)
	count("far ahead", t0.Add(24*time.Hour), 0)
	got := entries()
	if _, ok := got["past"]; ok || len(got) != 2 {
		t.Errorf("entries after the counts: got %v, want s1 and old only", got)
	}
}

// TestSizes logs how much one typical session and auth request take in
// Redis (run with -v).
func TestSizes(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	now := time.Now()
	sess := typicalSession("0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0", now)
	mustOK(t, "CreateSession", s.CreateSession(ctx, &sess))
	r := typicalAuthRequest("V1StGXR8_Z5jdHi6B-myT", now)
	mustOK(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, &r))
	login := storage.Login{UserID: sess.UserID, SessionID: sess.ID, AuthTime: now, AMR: []string{"pwd"}}
	mustOK(t, "CompleteAuthRequest", s.CompleteAuthRequest(ctx, r.ID, login, now))
	mustOK(t, "SaveCode", s.SaveCode(ctx, r.ID, strings.Repeat("c", 64), now.Add(time.Minute), now))
	for _, key := range prefixKeys(t, s) {
		n := s.rdb.StrLen(ctx, key).Val()
		mem, err := s.rdb.MemoryUsage(ctx, key).Result()
		mustOK(t, "MEMORY USAGE", err)
		t.Logf("%-32s value %4d bytes, MEMORY USAGE %4d bytes", strings.TrimPrefix(key, s.prefix)[:min(32, len(key)-len(s.prefix))], n, mem)
	}
}

func typicalSession(id string, now time.Time) storage.Session {
	return storage.Session{
		ID:        id,
		UserID:    "7c9e6679-7425-40de-944b-e07fc1f90ae7",
		AuthTime:  now,
		AMR:       []string{"pwd"},
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
		IP:        "203.0.113.42",
		CreatedAt: now,
		LastSeen:  now,
		ExpiresAt: now.Add(8 * time.Hour),

		AbsoluteExpiresAt: now.Add(24 * time.Hour),
		Clients:           []string{"web-app"},
	}
}

func typicalAuthRequest(id string, now time.Time) storage.AuthRequest {
	return storage.AuthRequest{
		ID:                  id,
		ClientID:            "web-app",
		RedirectURI:         "https://app.example.com/oauth/callback",
		Scopes:              []string{"openid", "profile", "email", "offline_access"},
		State:               "af0ifjsldkj-Kx8Ae3RqF2",
		Nonce:               "n-0S6_WzA2Mj",
		ResponseType:        "code",
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		BrowserHash:         "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		CreatedAt:           now,
		ExpiresAt:           now.Add(10 * time.Minute),
	}
}

// silentRedis is a Redis that accepts connections and never answers
// (storagetest.SilentServer); it returns the URL to reach it.
func silentRedis(t *testing.T) string {
	return "redis://" + storagetest.SilentServer(t)
}

// TestTimeout checks that a Redis that accepts connections and never
// answers makes calls fail, with an error that is not ErrNotFound, instead
// of hanging. The bound (hang) is ten times the timeout: it tells a call
// bounded by the timeout from one that waits for the server, and leaves
// room for a machine busy with other tests; it measures no speed.
func TestTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	const hang = 10 * timeout
	url := silentRedis(t)

	start := time.Now()
	_, err := Open(t.Context(), Options{URL: url, Timeout: timeout})
	if el := time.Since(start); err == nil || el > hang {
		t.Errorf("Open on a silent server: got error %v after %v, want one within %v", err, el, hang)
	}

	s, err := connect(Options{URL: url, Timeout: timeout})
	mustOK(t, "connect", err)
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()
	now := t0
	ops := []struct {
		name string
		op   func() error
	}{
		{"Session", func() error { _, err := s.Session(ctx, "s1", now); return err }},
		{"CreateSession", func() error { return s.CreateSession(ctx, &storage.Session{ID: "s1", ExpiresAt: t0}) }},
		{"UserSessions", func() error { _, err := s.UserSessions(ctx, "u", now); return err }},
		{"DeleteUserSessions", func() error { _, err := s.DeleteUserSessions(ctx, "u"); return err }},
		{"AuthRequest", func() error { _, err := s.AuthRequest(ctx, "r1", now); return err }},
		{"ClaimCode", func() error { _, err := s.ClaimCode(ctx, "c1", "k1", now, time.Minute); return err }},
		{"RedeemCode", func() error { return s.RedeemCode(ctx, "c1", "k1", now) }},
		{"CompleteAuthRequest", func() error { return s.CompleteAuthRequest(ctx, "r1", storage.Login{}, now) }},
	}
	for _, tt := range ops {
		start := time.Now()
		err := tt.op()
		el := time.Since(start)
		switch {
		case err == nil || errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrConflict):
			t.Errorf("%s on a silent server: got error %v, want a timeout error", tt.name, err)
		case el > hang:
			t.Errorf("%s on a silent server: failed after %v, want within %v", tt.name, el, hang)
		}
	}
}

func TestOpenBadOptions(t *testing.T) {
	for _, opts := range []Options{
		{URL: ""},
		{URL: "http://127.0.0.1:6379"},
		{URL: testURL(), Timeout: -time.Second},
		{URL: testURL(), DialTimeout: -time.Second},
		{URL: testURL(), ReadTimeout: -time.Second},
		{URL: testURL(), WriteTimeout: -time.Second},
		{URL: testURL(), PoolSize: -1},
	} {
		if s, err := Open(t.Context(), opts); err == nil {
			s.Close()
			t.Errorf("Open(%+v): got nil error, want one", opts)
		}
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		url  string
		want goredis.UniversalOptions
		tls  bool
	}{
		{"redis://127.0.0.1:6379", goredis.UniversalOptions{Addrs: []string{"127.0.0.1:6379"}}, false},
		{"redis://localhost", goredis.UniversalOptions{Addrs: []string{"localhost:6379"}}, false},
		{"redis://[::1]/2", goredis.UniversalOptions{Addrs: []string{"[::1]:6379"}, DB: 2}, false},
		{"rediss://cache.example:6380/0", goredis.UniversalOptions{Addrs: []string{"cache.example:6380"}}, true},
		{"redis://:s3cret@h:1/15", goredis.UniversalOptions{Addrs: []string{"h:1"}, Password: "s3cret", DB: 15}, false},
		{"redis://gh:p%40ss%2Fw@h", goredis.UniversalOptions{Addrs: []string{"h:6379"}, Username: "gh", Password: "p@ss/w"}, false},
		{"redis://a:7000?addr=b:7001&addr=c", goredis.UniversalOptions{Addrs: []string{"a:7000", "b:7001", "c:6379"}, IsClusterMode: true}, false},
		{"rediss://u:p@a:7000/?addr=b:7001", goredis.UniversalOptions{Addrs: []string{"a:7000", "b:7001"}, Username: "u", Password: "p", IsClusterMode: true}, true},
		{"redis://cfg.example?cluster=true", goredis.UniversalOptions{Addrs: []string{"cfg.example:6379"}, IsClusterMode: true}, false},
		{"redis://s1:26379/3?addr=s2:26379&master_name=mymaster", goredis.UniversalOptions{Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "mymaster", DB: 3}, false},
		{"redis://:pw@s1:26379?master_name=m&sentinel_password=spw", goredis.UniversalOptions{Addrs: []string{"s1:26379"}, MasterName: "m", Password: "pw", SentinelPassword: "spw"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := ParseURL(tt.url)
			if err != nil {
				t.Fatalf("ParseURL: %v", err)
			}
			if (got.TLSConfig != nil) != tt.tls {
				t.Errorf("TLS: got %v, want %v", got.TLSConfig != nil, tt.tls)
			}
			if got.TLSConfig != nil && got.TLSConfig.MinVersion < 0x0303 {
				t.Errorf("TLS min version: got %#x, want TLS 1.2 or later", got.TLSConfig.MinVersion)
			}
			got.TLSConfig = nil
			if !slices.Equal(got.Addrs, tt.want.Addrs) || got.DB != tt.want.DB || got.Username != tt.want.Username ||
				got.Password != tt.want.Password || got.MasterName != tt.want.MasterName ||
				got.SentinelPassword != tt.want.SentinelPassword || got.IsClusterMode != tt.want.IsClusterMode {
				t.Errorf("got addrs %q db %d user %q password %q master %q sentinel password %q cluster %v,\n"+
					"want addrs %q db %d user %q password %q master %q sentinel password %q cluster %v",
					got.Addrs, got.DB, got.Username, got.Password, got.MasterName, got.SentinelPassword, got.IsClusterMode,
					tt.want.Addrs, tt.want.DB, tt.want.Username, tt.want.Password, tt.want.MasterName, tt.want.SentinelPassword, tt.want.IsClusterMode)
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	const secret = "hunter2"
	tests := []struct {
		url  string
		want string // in the error
	}{
		{"", "scheme"},
		{"127.0.0.1:6379", "malformed"},
		{"http://h:6379", `scheme "http"`},
		{"unix:///tmp/redis.sock", `scheme "unix"`},
		{"redis:h", "not redis:host"},
		{"redis://", "no host"},
		{"redis://:" + secret + "@", "no host"},
		{"redis://:" + secret + "@:6379", "no host"},
		{"redis://h:0", "port"},
		{"redis://h:70000", "port"},
		{"redis://u:" + secret + "@h:port", "port"},
		{"redis://u:" + secret + "%zz@h", "user or password"},
		{"redis://u:" + secret + "/x@h:1", "user or password"},
		{"redis://h/x", `database "x"`},
		{"redis://h/-1", `database "-1"`},
		{"redis://h/1/2", `database "1/2"`},
		{"redis://h?db=2", `unknown parameter "db"`},
		{"redis://h?addr=", "no host"},
		{"redis://h?addr=::1", "host:port"},
		{"redis://h/1?addr=h2", "Cluster"},
		{"redis://h?cluster=maybe", "cluster"},
		{"redis://h?master_name=", "master_name"},
		{"redis://h?master_name=a&master_name=b", "once"},
		{"redis://h?master_name=m&cluster=true", "together"},
		{"redis://h?sentinel_password=" + secret, "without master_name"},
		{"redis://h?a=%zz", "query"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, err := ParseURL(tt.url)
			if err == nil {
				t.Fatalf("got nil error, want one mentioning %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %q, want it to mention %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("got error %q, which holds the password", err)
			}
		})
	}
}

// TestOptionsTimeouts checks how the dial, read and write timeouts are
// chosen: each its own default, Timeout as the default of those not given,
// and the bound of a call their sum.
func TestOptionsTimeouts(t *testing.T) {
	tests := []struct {
		opts              Options
		dial, read, write time.Duration
	}{
		{Options{}, DefaultDialTimeout, DefaultReadTimeout, DefaultWriteTimeout},
		{Options{Timeout: 300 * time.Millisecond}, 300 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond},
		{Options{Timeout: 300 * time.Millisecond, ReadTimeout: 2 * time.Second}, 300 * time.Millisecond, 2 * time.Second, 300 * time.Millisecond},
		{Options{DialTimeout: 5 * time.Second, WriteTimeout: 50 * time.Millisecond}, 5 * time.Second, DefaultReadTimeout, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		tt.opts.URL = "redis://127.0.0.1:1"
		s, err := connect(tt.opts)
		mustOK(t, "connect", err)
		o := s.rdb.(*goredis.Client).Options()
		if o.DialTimeout != tt.dial || o.ReadTimeout != tt.read || o.WriteTimeout != tt.write {
			t.Errorf("%+v: got dial %s, read %s, write %s; want %s, %s, %s", tt.opts,
				o.DialTimeout, o.ReadTimeout, o.WriteTimeout, tt.dial, tt.read, tt.write)
		}
		if want := tt.dial + tt.read + tt.write; s.timeout != want {
			t.Errorf("%+v: a call is bounded by %s, want %s (dial + write + read)", tt.opts, s.timeout, want)
		}
		s.Close()
	}
}
