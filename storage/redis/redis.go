// Package redis keeps Gatehouse's short-lived, shared state in Redis: browser
// SSO sessions with their per-user index (storage.Sessions,
// storage.SessionAuthenticator), auth requests with their authorization
// codes (storage.AuthRequests), the half-signed-in states between a
// password and a second factor (storage.PendingSignIns), WebAuthn
// ceremonies (storage.WebAuthnCeremonies), pushed authorization requests
// (storage.PushedRequests), device sign-ins (storage.DeviceAuthorizations)
// and login-failure counters (storage.LoginThrottle). It talks to Redis through go-redis's
// UniversalClient, so one server, Sentinel and Cluster all work; see
// ParseURL for how a URL picks one. It needs Redis 7.0 or later (GETDEL,
// SET PXAT/KEEPTTL, PEXPIRETIME, EXPIRE options).
//
// # Keys
//
// With the default prefix "gatehouse:":
//
//	gatehouse:s:<session id>     string: the session (JSON, without its id)
//	gatehouse:u:<user id>        sorted set: ids of the user's sessions, scored
//	                             by the Unix millisecond of their deadlines
//	                             (AbsoluteExpiresAt, or ExpiresAt without one),
//	                             which their keys never outlive
//	gatehouse:sa                 sorted set: ids of every session, scored by
//	                             the Unix microsecond of their ExpiresAt;
//	                             the active-session count (ActiveSessions)
//	gatehouse:ar:<request id>    string: the auth request (JSON)
//	gatehouse:c:<code hash>      string: a copy of the completed auth request
//	                             holding that code (JSON)
//	gatehouse:t:<throttle key>   hash: a login-failure counter (see throttle.go)
//	gatehouse:ps:<id>            string: a pending sign-in (JSON, without its id)
//	gatehouse:wa:<id>            string: a WebAuthn ceremony (JSON, without its id)
//	gatehouse:par:<id>           string: a pushed authorization request (JSON,
//	                             without its id)
//	gatehouse:dc:<code hash>     string: a device sign-in (JSON, without its
//	                             device code hash; see device.go)
//	gatehouse:du:<user code>     string: the device code hash of a device
//	                             sign-in's user code
//
// Every atomic step touches one key, as a single command or as a Lua script
// on that one key, because the keys of one operation may live on different
// Cluster slots; there is no MULTI and no script across keys. UpdateSession
// is one script on the session key: the index entry's score, the session's
// deadline, never changes; so is AuthenticateSession. TakePendingSignIn is
// one script on the pending sign-in's key, which deletes it only if it is
// live at the caller's now; TakeWebAuthnCeremony is the same script on the
// ceremony's key. TakePushedRequest is one script on the pushed request's
// key, which deletes it only if it is live and the caller's client pushed
// it.
//
// The active set (key sa) only ever serves the count of live sessions. It
// is written in the same pipelines as the session writes, so it costs no
// round trip of its own (but in the rare cases UpdateSession lists):
// CreateSession adds an entry along with the SET, UpdateSession moves it
// (ZADD XX) along with its script, and the deletes remove it along with
// the index entries. It is one key for the whole deployment (one Cluster
// slot), of about 175 bytes per session (measured on Redis 7 with
// 64-hex-digit ids and 10,000 sessions).
//
// Where an operation writes two keys it orders the writes so that a crash
// between them fails closed:
//
//   - CreateSession adds the session to the user's index first, then writes
//     the session (SET NX). A crash in between leaves an index entry without a
//     session, which readers skip; never a session that DeleteUserSessions
//     could miss.
//   - SaveCode marks the request (a script: checks and rewrites it, keeping or
//     shortening its expiry), then writes the code key (SET NX), then checks
//     that the request still exists (a concurrent DeleteAuthRequest may have
//     removed it in between, in which case the code key is removed again and
//     SaveCode answers ErrNotFound). A crash after the first write leaves a
//     request that has a code hash but no code key: that code can never be
//     redeemed, and the request cannot get another one.
//   - RedeemCode marks the code key redeemed (a script: only for the claim
//     that holds it), then removes the request; if the request was already
//     gone the code is refused. Between the two steps, AuthRequest still
//     returns the request for a moment. The code key stays, marked, until
//     its expiry, so that the same claim redeeming again succeeds.
//
// # Expiry
//
// Liveness is decided only by a record's ExpiresAt against the now argument,
// as package storage requires: a record is live while now is strictly before
// its ExpiresAt, whatever Redis's clock says. Redis TTLs only reclaim memory.
// Each key expires (PXAT, by the Redis server's clock) at its record's
// ExpiresAt rounded up to the millisecond, so it stays at least as long as
// the record can be live; but never sooner than one second after the write by
// this process's clock, so that a record already expired by the real clock is
// still written, answers later reads for that second (callers with a
// synthetic now, such as tests, see it), and then goes. Nothing is ever
// written without an expiry. An index key expires with its latest deadline; an
// auth request key and its code key expire at the same millisecond. So a
// record only lasts until its ExpiresAt by the real clock: a caller whose now
// runs behind the real clock (one that replays old timestamps, say) sees its
// records disappear early, and should use another backend.
// Clock skew between Gatehouse and Redis shifts when keys disappear by the
// skew, never whether a record counts as live.
//
// # Values
//
// Records are stored as compact JSON with short field names, empty fields
// left out, and times as [Unix seconds, nanoseconds] (exact, years 1 to 9999,
// the zero time left out); a session's clients are "cl", its absolute
// deadline "ax" and its remember-me flag "rm". Measured on Redis 7.0
// (TestSizes): a typical session (a UUID user id, a 120-byte user agent, an
// IPv4 address, one AMR value, one client, an absolute deadline) is a
// 343-byte value, 520 bytes by MEMORY USAGE under its 64-hex-digit key; a
// typical auth request is 394 bytes as created (536 by MEMORY USAGE), and 635
// bytes once completed and given a code, held twice while the code is live
// (about 860 and 900 bytes by MEMORY USAGE for the request and code keys).
// An index costs about 120 bytes plus 80 per session (175 past 128 sessions,
// when Redis leaves its compact encoding). The Lua scripts decode and
// re-encode auth requests and sessions with Redis's cjson, so every number
// in a value stays below 10^14 (max_age is stored as a string) and no empty
// list or object is ever written. Strings are stored as encoding/json writes
// them: invalid UTF-8 becomes U+FFFD. A login-failure counter is a small
// hash of integers.
//
// # Failures
//
// Dialing a connection, writing a command and reading its reply each have
// a timeout (Options.DialTimeout, WriteTimeout, ReadTimeout), and every
// call runs under their sum, which also bounds waiting for a free pooled
// connection. A Redis that stops answering fails a call after the read
// timeout. go-redis's automatic retries are
// turned off: a one-time transition (SET NX, a completion, GETDEL) whose reply
// was lost must surface as an error, not be replayed and misreported as a
// conflict or as not found. Only a missing key is ErrNotFound; a timeout or
// any other Redis error is returned wrapped, with the operation that failed.
package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// Conformance to the store interfaces.
var (
	_ storage.Sessions             = (*Store)(nil)
	_ storage.SessionCounter       = (*Store)(nil)
	_ storage.AuthRequests         = (*Store)(nil)
	_ storage.LoginThrottle        = (*Store)(nil)
	_ storage.PendingSignIns       = (*Store)(nil)
	_ storage.SessionAuthenticator = (*Store)(nil)
	_ storage.WebAuthnCeremonies   = (*Store)(nil)
	_ storage.DeviceAuthorizations = (*Store)(nil)
)

// Defaults for Options. The timeouts are long enough that a busy machine
// does not turn ordinary scheduling delays into errors, and short enough
// that a dead or stalled Redis fails a request within about a second;
// docs/performance.md ("Store timeouts") has the measurements behind them.
const (
	DefaultPrefix       = "gatehouse:"
	DefaultDialTimeout  = 2 * time.Second
	DefaultReadTimeout  = time.Second
	DefaultWriteTimeout = time.Second
)

// minKeep is the shortest TTL a key is written with, so that a record whose
// ExpiresAt has already passed by the real clock is still written rather
// than dropped at once (see the package doc).
const minKeep = time.Second

// Options configure Open. The zero value of every field but URL means its
// default.
type Options struct {
	// URL says where Redis is; see ParseURL.
	URL string
	// Prefix starts every key the store writes; default DefaultPrefix.
	// Stores with different prefixes share a server without seeing each
	// other's keys.
	Prefix string
	// DialTimeout bounds opening a connection (TCP, TLS, HELLO/AUTH);
	// default DefaultDialTimeout.
	DialTimeout time.Duration
	// ReadTimeout bounds waiting for a reply; default DefaultReadTimeout.
	ReadTimeout time.Duration
	// WriteTimeout bounds sending a command; default DefaultWriteTimeout.
	WriteTimeout time.Duration
	// Timeout, when set, is the default of each of the three timeouts
	// above that is zero.
	Timeout time.Duration
	// PoolSize is go-redis's connection pool size per node; 0 means
	// go-redis's default (10 per CPU).
	PoolSize int
	// Observer, when set, is told of every command and pipeline the store
	// sends (backend "redis", op the command's name or "pipeline").
	Observer storage.CallObserver
}

// Store keeps sessions and auth requests in Redis. It is safe for concurrent
// use. Create it with Open and release it with Close.
type Store struct {
	rdb    goredis.UniversalClient
	prefix string
	// timeout bounds one call: a dial, a write and a read.
	timeout time.Duration
	// clock is the real clock, used only to keep TTLs from being shorter
	// than minKeep; liveness always comes from the callers' now.
	clock func() time.Time

	addToIndex          *goredis.Script
	updateSession       *goredis.Script
	authenticateSession *goredis.Script
	takeLive            *goredis.Script
	takeIf              *goredis.Script
	takePushed          *goredis.Script
	complete            *goredis.Script
	attachCode          *goredis.Script
	claimCode           *goredis.Script
	redeemCode          *goredis.Script
	releaseCode         *goredis.Script
	reserve             *goredis.Script
	release             *goredis.Script
	decideDevice        *goredis.Script
	pollDevice          *goredis.Script
	redeemDevice        *goredis.Script
	useDPoP             *goredis.Script
}

// Open connects to the Redis named by opts.URL and pings it. It fails if the
// URL is invalid, an option is out of range, or Redis does not answer within
// the timeouts of opts.
func Open(ctx context.Context, opts Options) (*Store, error) {
	s, err := connect(opts)
	if err != nil {
		return nil, fmt.Errorf("redis: open: %w", err)
	}
	if err := s.Ping(ctx); err != nil {
		s.rdb.Close()
		return nil, fmt.Errorf("redis: open: %w", err)
	}
	return s, nil
}

// connect is Open without the ping: go-redis dials lazily.
func connect(opts Options) (*Store, error) {
	uo, err := ParseURL(opts.URL)
	if err != nil {
		return nil, err
	}
	for _, t := range []struct {
		name string
		d    *time.Duration
		def  time.Duration
	}{
		{"dial timeout", &opts.DialTimeout, DefaultDialTimeout},
		{"read timeout", &opts.ReadTimeout, DefaultReadTimeout},
		{"write timeout", &opts.WriteTimeout, DefaultWriteTimeout},
		{"timeout", &opts.Timeout, 0},
	} {
		switch {
		case *t.d < 0:
			return nil, fmt.Errorf("%s %v, want > 0", t.name, *t.d)
		case *t.d == 0 && opts.Timeout > 0:
			*t.d = opts.Timeout
		case *t.d == 0:
			*t.d = t.def
		}
	}
	if opts.PoolSize < 0 {
		return nil, fmt.Errorf("pool size %d, want >= 0", opts.PoolSize)
	}
	uo.DialTimeout, uo.ReadTimeout, uo.WriteTimeout = opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout
	uo.ContextTimeoutEnabled = true
	uo.MaxRetries = -1 // see "Failures" in the package doc
	uo.PoolSize = opts.PoolSize
	return newStore(goredis.NewUniversalClient(uo), opts), nil
}

// newStore wraps a client; opts' dial, read and write timeouts must be set.
func newStore(rdb goredis.UniversalClient, opts Options) *Store {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Observer != nil {
		rdb.AddHook(observeHook{opts.Observer})
	}
	return &Store{
		rdb:                 rdb,
		prefix:              opts.Prefix,
		timeout:             opts.DialTimeout + opts.WriteTimeout + opts.ReadTimeout,
		clock:               time.Now,
		addToIndex:          goredis.NewScript(addToIndexLua),
		updateSession:       goredis.NewScript(updateSessionLua),
		authenticateSession: goredis.NewScript(authenticateSessionLua),
		takeLive:            goredis.NewScript(takeLiveLua),
		takeIf:              goredis.NewScript(takeIfLua),
		takePushed:          goredis.NewScript(takePushedLua),
		complete:            goredis.NewScript(completeLua),
		attachCode:          goredis.NewScript(attachCodeLua),
		claimCode:           goredis.NewScript(claimCodeLua),
		redeemCode:          goredis.NewScript(redeemCodeLua),
		releaseCode:         goredis.NewScript(releaseCodeLua),
		reserve:             goredis.NewScript(reserveLua),
		release:             goredis.NewScript(releaseLua),
		decideDevice:        goredis.NewScript(decideDeviceLua),
		pollDevice:          goredis.NewScript(pollDeviceLua),
		redeemDevice:        goredis.NewScript(redeemDeviceLua),
		useDPoP:             goredis.NewScript(useDPoPLua),
	}
}

// Close closes the connections. Calls in flight may fail.
func (s *Store) Close() error {
	if err := s.rdb.Close(); err != nil {
		return fmt.Errorf("redis: close: %w", err)
	}
	return nil
}

// Ping reports whether Redis answers within the store's timeouts.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: ping: %w", err)
	}
	return nil
}

// bound limits one store call to the store's timeout.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// Keys; see the package doc.
func (s *Store) sessionKey(id string) string    { return s.prefix + "s:" + id }
func (s *Store) indexKey(userID string) string  { return s.prefix + "u:" + userID }
func (s *Store) activeKey() string              { return s.prefix + "sa" }
func (s *Store) authKey(id string) string       { return s.prefix + "ar:" + id }
func (s *Store) codeKey(codeHash string) string { return s.prefix + "c:" + codeHash }
func (s *Store) throttleKey(key string) string  { return s.prefix + "t:" + key }
func (s *Store) pendingKey(id string) string    { return s.prefix + "ps:" + id }
func (s *Store) ceremonyKey(id string) string   { return s.prefix + "wa:" + id }
func (s *Store) pushedKey(id string) string     { return s.prefix + "par:" + id }
func (s *Store) deviceKey(hash string) string   { return s.prefix + "dc:" + hash }
func (s *Store) userCodeKey(code string) string { return s.prefix + "du:" + code }
func (s *Store) dpopKey(jkt, jti string) string { return s.prefix + "dp:" + jkt + ":" + jti }

// expireAt returns the Unix millisecond at which the key of a record that
// expires at t should expire: t rounded up, but at least minKeep from now by
// the real clock.
func (s *Store) expireAt(t time.Time) int64 {
	floor := s.clock().Add(minKeep).UnixMilli()
	if t.Before(time.UnixMilli(floor)) {
		return floor
	}
	ms := t.UnixMilli()
	if t.Nanosecond()%int(time.Millisecond) != 0 {
		ms++
	}
	return ms
}

// wrap gives err the operation as context and translates a missing key
// (goredis.Nil) into storage.ErrNotFound. Everything else, timeouts
// included, stays what it was.
func wrap(op string, err error) error {
	if errors.Is(err, goredis.Nil) {
		return notFound(op)
	}
	return fmt.Errorf("redis: %s: %w", op, err)
}

// notFound is storage.ErrNotFound with op as context.
func notFound(op string) error {
	return fmt.Errorf("redis: %s: %w", op, storage.ErrNotFound)
}

// conflict is storage.ErrConflict with op and why as context.
func conflict(op, why string) error {
	return fmt.Errorf("redis: %s: %s: %w", op, why, storage.ErrConflict)
}

// takeIfLua deletes KEYS[1] if the JSON object stored there has the string
// ARGV[2] in field ARGV[1] (an absent field counts as ""), and returns the
// value it deleted, or nil. It keeps DeleteUserSessions from deleting a
// session that an index lists but another user owns, and DeleteAuthRequest
// from deleting a code key that belongs to another request.
const takeIfLua = `
local v = redis.call('GET', KEYS[1])
if not v then return false end
local f = cjson.decode(v)[ARGV[1]]
if f == nil then f = '' end
if f ~= ARGV[2] then return false end
redis.call('DEL', KEYS[1])
return v
`
