package loginui

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// bcryptHash returns a bcrypt hash of password at bcrypt.MinCost with the
// version prefix given ("2a", "2b" or "2y": one algorithm, three names).
func bcryptHash(t testing.TB, password, version string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return "$" + version + strings.TrimPrefix(string(h), "$2a")
}

// TestVerifyBcrypt: each of the three bcrypt versions is checked; a wrong
// password is no match; a password over 72 bytes never matches, although
// bcrypt itself would compare only its first 72 bytes.
func TestVerifyBcrypt(t *testing.T) {
	long := strings.Repeat("p", 72)
	for _, version := range []string{"2a", "2b", "2y"} {
		h := bcryptHash(t, testPassword, version)
		if ok, err := VerifyPassword(h, testPassword); err != nil || !ok {
			t.Errorf("$%s$, right password: got (%v, %v), want (true, nil)", version, ok, err)
		}
		for _, wrong := range []string{"", "wrong", testPassword + "x", strings.ToUpper(testPassword)} {
			if ok, err := VerifyPassword(h, wrong); err != nil || ok {
				t.Errorf("$%s$, wrong password %q: got (%v, %v), want (false, nil)", version, wrong, ok, err)
			}
		}
		h72 := bcryptHash(t, long, version)
		if ok, err := VerifyPassword(h72, long); err != nil || !ok {
			t.Errorf("$%s$, a 72-byte password: got (%v, %v), want (true, nil)", version, ok, err)
		}
		// bcrypt.CompareHashAndPassword says these match: only the first
		// 72 bytes are hashed.
		if bcrypt.CompareHashAndPassword([]byte(h72), []byte(long+"extra")) != nil {
			t.Fatal("x/crypto/bcrypt no longer truncates at 72 bytes: revisit maxBcryptPassword")
		}
		if ok, err := VerifyPassword(h72, long+"extra"); err != nil || ok {
			t.Errorf("$%s$, the 72 bytes and 5 more: got (%v, %v), want (false, nil)", version, ok, err)
		}
	}
}

// TestCheckPasswordHash: the hashes an import accepts, and for each kind
// of bad one the error that says what is wrong.
func TestCheckPasswordHash(t *testing.T) {
	argon, err := HashPassword(testPassword, cheapArgon2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	bc := bcryptHash(t, testPassword, "2b")
	for _, good := range []string{argon, bc, bcryptHash(t, testPassword, "2a"), bcryptHash(t, testPassword, "2y"),
		"$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
		"$2b$16$" + bc[7:], // the highest cost checked
	} {
		if err := CheckPasswordHash(good); err != nil {
			t.Errorf("CheckPasswordHash(%q): got %v, want nil", good, err)
		}
	}
	for _, tt := range []struct{ name, hash, want string }{
		{"plain text", "hunter2", "not a hash in PHC or bcrypt form"},
		{"MD5 hex", "5f4dcc3b5aa765d61d8327deb882cf99", "not a hash in PHC or bcrypt form"},
		{"a lone dollar", "$", "not a hash in PHC or bcrypt form"},
		{"MD5-crypt", "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/", `unknown algorithm "1" (MD5-crypt)`},
		{"SHA-512-crypt", "$6$rounds=5000$salt$hash", `unknown algorithm "6" (SHA-512-crypt)`},
		{"scrypt PHC", "$scrypt$ln=16,r=8,p=1$c2FsdA$aGFzaA", `unknown algorithm "scrypt"`},
		{"scrypt crypt", "$7$C6..../....SodiumChloride$kBGj9fHznVYFQMEn/qDCfrDevf9YDtcDdKvEqHJLV8D", `unknown algorithm "7" (scrypt)`},
		{"argon2i", "$argon2i$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG", `unknown algorithm "argon2i"`},
		{"pbkdf2", "$pbkdf2-sha256$29000$N2bMmZMy$hash", `unknown algorithm "pbkdf2-sha256"`},
		{"bcrypt $2x$", "$2x$10$" + bc[7:], `unknown algorithm "2x"`},
		{"bcrypt $2$", "$2$10$" + bc[7:], `unknown algorithm "2" (the first bcrypt)`},
		{"a long algorithm name", "$" + strings.Repeat("x", 100) + "$1", `unknown algorithm "` + strings.Repeat("x", 32) + `"`},
		{"bcrypt cut short", bc[:59], "bcrypt: want $2b$, a two-digit cost"},
		{"bcrypt one cost digit", "$2b$4$" + bc[7:], "bcrypt: want $2b$, a two-digit cost"},
		{"bcrypt cost 3", "$2b$03$" + bc[7:], "bcrypt: cost 3, want 4 to 31"},
		{"bcrypt cost 32", "$2b$32$" + bc[7:], "bcrypt: cost 32, want 4 to 31"},
		{"bcrypt cost 17", "$2b$17$" + bc[7:], "cost 17 is above 16"},
		{"bcrypt bad character", bc[:20] + "!" + bc[21:], "character 21 is not of bcrypt's base64 alphabet"},
		{"argon2id old version", "$argon2id$v=16$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG", "version: want v=19"},
		{"argon2id 1 GiB", "$argon2id$v=19$m=1048576,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG", "parameters out of bounds"},
		{"argon2id parameters out of order", "$argon2id$v=19$t=3,m=65536,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG", "in that order"},
		{"argon2id padded salt", "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ=$RdescudvJCsgt3ub+b+dWRWJTmaaJObG", "salt:"},
		{"argon2id short key", "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$aGFzaA", "hash: want 16 to 128 bytes"},
		{"argon2id without its key", "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ", "want $argon2id$v=19$m=…,t=…,p=…$salt$hash"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPasswordHash(tt.hash)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckPasswordHash(%q): got %v, want an error with %q", tt.hash, err, tt.want)
			}
			if !errors.Is(err, errBadHash) {
				t.Errorf("CheckPasswordHash(%q): got %v, want errBadHash", tt.hash, err)
			}
			// What the import refuses, sign-in never matches.
			if ok, verr := VerifyPassword(tt.hash, testPassword); ok || verr == nil {
				t.Errorf("VerifyPassword(%q): got (%v, %v), want (false, an error)", tt.hash, ok, verr)
			}
		})
	}
}

// TestNeedsRehash: bcrypt always, argon2id when weaker than the current
// parameters in memory, iterations, salt or key, never when as strong or
// stronger, nor when malformed.
func TestNeedsRehash(t *testing.T) {
	cur := Argon2Params{MemoryKiB: 64, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}
	hash := func(p Argon2Params) string {
		h, err := HashPassword("x", p, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	with := func(change func(*Argon2Params)) Argon2Params { p := cur; change(&p); return p }
	for _, tt := range []struct {
		name string
		hash string
		want bool
	}{
		{"bcrypt", bcryptHash(t, "x", "2b"), true},
		{"current", hash(cur), false},
		{"less memory", hash(with(func(p *Argon2Params) { p.MemoryKiB = 32 })), true},
		{"fewer iterations", hash(with(func(p *Argon2Params) { p.Iterations = 1 })), true},
		{"shorter salt", hash(with(func(p *Argon2Params) { p.SaltLen = 8 })), true},
		{"shorter key", hash(with(func(p *Argon2Params) { p.KeyLen = 16 })), true},
		{"more memory and iterations", hash(with(func(p *Argon2Params) { p.MemoryKiB, p.Iterations = 128, 3 })), false},
		{"other parallelism", hash(with(func(p *Argon2Params) { p.Parallelism = 2 })), false},
		{"malformed", "$argon2id$v=19$nonsense", false},
		{"bcrypt too costly", "$2b$20$" + bcryptHash(t, "x", "2b")[7:], false},
	} {
		if got := NeedsRehash(tt.hash, cur); got != tt.want {
			t.Errorf("NeedsRehash(%s): got %v, want %v", tt.name, got, tt.want)
		}
	}
}

// importUser stores a user with the given hash the way gatehouse users
// import does (storage.UserImporter).
func (e *uiEnv) importUser(t *testing.T, username, hash string, disabled bool) *storage.User {
	t.Helper()
	u := storage.User{ID: "id-" + username, Username: username, PasswordHash: hash, Disabled: disabled,
		CreatedAt: testNow, UpdatedAt: testNow}
	if err := e.store.ImportUsers(t.Context(), storage.UserImport{Users: []storage.User{u}}); err != nil {
		t.Fatalf("ImportUsers: %v", err)
	}
	return &u
}

// storedHash returns the user's password hash as stored now.
func (e *uiEnv) storedHash(t *testing.T, id string) string {
	t.Helper()
	u, err := e.store.UserByID(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return u.PasswordHash
}

// postLogin posts the login form to h and reports whether it signed in (303
// to the account page) or showed the generic error (200).
func (e *uiEnv) postLogin(t *testing.T, h http.Handler, username, password string) bool {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, request(http.MethodPost, "/login", e.loginForm("", username, password), BrowserCookie, testBrowser))
	switch {
	case rec.Code == http.StatusSeeOther && rec.Header().Get("Location") == "/account":
		return true
	case rec.Code == http.StatusOK && strings.Contains(rec.Body.String(), "Incorrect username or password."):
		return false
	}
	t.Fatalf("sign-in of %s: got %d to %q, want 303 to /account or the form again; body %s",
		username, rec.Code, rec.Header().Get("Location"), rec.Body)
	return false
}

// TestSignInUpgradesImportedHashes: a user imported with a bcrypt hash
// signs in over HTTP; their hash is then argon2id with the server's
// parameters, and they sign in again with it. A wrong password, or a
// disabled user, changes nothing; a password over 72 bytes is refused
// for a bcrypt hash; an argon2id hash weaker than the server's is
// replaced, a stronger one kept.
func TestSignInUpgradesImportedHashes(t *testing.T) {
	var logs syncBuffer
	env := newUIEnvWith(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	imported := bcryptHash(t, testPassword, "2y")
	alice := env.importUser(t, "alice", imported, false)

	if env.postLogin(t, env.h, "alice", "not the password") {
		t.Fatal("a wrong password signed in")
	}
	if got := env.storedHash(t, alice.ID); got != imported {
		t.Errorf("after a wrong password: the hash changed to %q, want the imported one", got)
	}
	if !env.postLogin(t, env.h, "Alice", testPassword) {
		t.Fatal("the imported bcrypt hash did not sign in")
	}
	upgraded := env.storedHash(t, alice.ID)
	if !strings.HasPrefix(upgraded, "$argon2id$v=19$m=64,t=1,p=1$") || NeedsRehash(upgraded, cheapArgon2) {
		t.Fatalf("after the sign-in: stored hash %q, want argon2id with the server's parameters (m=64,t=1,p=1)", upgraded)
	}
	if ok, err := VerifyPassword(upgraded, testPassword); err != nil || !ok {
		t.Errorf("the new hash: VerifyPassword got (%v, %v), want (true, nil)", ok, err)
	}
	if u, _ := env.store.UserByID(t.Context(), alice.ID); !u.UpdatedAt.Equal(testNow) {
		// The clock did not move: UpdatedAt is the sign-in's now, testNow.
		t.Errorf("UpdatedAt: got %v, want %v", u.UpdatedAt, testNow)
	}
	if !strings.Contains(logs.String(), "password hash upgraded to argon2id") || !strings.Contains(logs.String(), "from=2y") {
		t.Errorf("log: got %q, want a line saying the 2y hash was upgraded", logs.String())
	}
	if !env.postLogin(t, env.h, "alice", testPassword) {
		t.Fatal("the upgraded hash did not sign in")
	}
	if got := env.storedHash(t, alice.ID); got != upgraded {
		t.Errorf("a second sign-in replaced the hash again: %q, want %q", got, upgraded)
	}

	// A disabled user's hash stays as imported.
	bob := env.importUser(t, "bob", imported, true)
	if env.postLogin(t, env.h, "bob", testPassword) {
		t.Error("a disabled user signed in")
	}
	if got := env.storedHash(t, bob.ID); got != imported {
		t.Errorf("disabled user: hash changed to %q", got)
	}

	// bcrypt reads 72 bytes: more is refused, not cut.
	long := strings.Repeat("0123456789", 7) + "ab" // 72 bytes
	carol := env.importUser(t, "carol", bcryptHash(t, long, "2b"), false)
	if env.postLogin(t, env.h, "carol", long+"-and-more") {
		t.Error("a password of 81 bytes signed in against the bcrypt hash of its first 72")
	}
	if got := env.storedHash(t, carol.ID); !strings.HasPrefix(got, "$2b$") {
		t.Errorf("after the refused long password: hash %q, want the bcrypt one kept", got)
	}
	if !env.postLogin(t, env.h, "carol", long) {
		t.Error("the 72-byte password did not sign in")
	}

	// argon2id: weaker than the server's is replaced, stronger is kept.
	weak, _ := HashPassword(testPassword, Argon2Params{MemoryKiB: 32, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}, rand.Reader)
	strong, _ := HashPassword(testPassword, Argon2Params{MemoryKiB: 128, Iterations: 2, Parallelism: 2, SaltLen: 16, KeyLen: 32}, rand.Reader)
	dave, erin := env.importUser(t, "dave", weak, false), env.importUser(t, "erin", strong, false)
	if !env.postLogin(t, env.h, "dave", testPassword) || !env.postLogin(t, env.h, "erin", testPassword) {
		t.Fatal("dave or erin could not sign in")
	}
	if got := env.storedHash(t, dave.ID); !strings.HasPrefix(got, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("weaker argon2id: stored %q, want it replaced by m=64,t=1,p=1", got)
	}
	if got := env.storedHash(t, erin.ID); got != strong {
		t.Errorf("stronger argon2id: stored %q, want it kept", got)
	}
}

// replaceFails is a store whose ReplacePasswordHash always fails.
type replaceFails struct{ Store }

func (replaceFails) ReplacePasswordHash(context.Context, string, string, string, time.Time) (bool, error) {
	return false, errors.New("database is read-only")
}

// TestSignInWhenUpgradeFails: a hash that cannot be stored does not fail
// the sign-in; it is logged, and the old hash still works.
func TestSignInWhenUpgradeFails(t *testing.T) {
	env := newUIEnv(t)
	imported := bcryptHash(t, testPassword, "2b")
	alice := env.importUser(t, "alice", imported, false)
	var logs syncBuffer
	cfg := env.u.cfg
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	u, err := New(replaceFails{env.store}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	u.Routes(r)
	for range 2 {
		if !env.postLogin(t, r, "alice", testPassword) {
			t.Fatal("the sign-in failed with the upgrade")
		}
	}
	if got := env.storedHash(t, alice.ID); got != imported {
		t.Errorf("stored hash: %q, want the imported one", got)
	}
	if n := strings.Count(logs.String(), "password hash not upgraded"); n != 2 || !strings.Contains(logs.String(), "database is read-only") {
		t.Errorf("log: got %q, want two warnings with the store's error", logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// FuzzCheckPasswordHash: whatever an import accepts, sign-in can check
// within bounded cost: an argon2id string parsePHC takes, or a bcrypt hash
// x/crypto reads, of cost at most MaxBcryptCost. (VerifyPassword itself is
// not run: a cost-16 hash takes seconds.)
func FuzzCheckPasswordHash(f *testing.F) {
	good, err := HashPassword(testPassword, cheapArgon2, rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	bc := bcryptHash(f, testPassword, "2b")
	for _, s := range []string{good, bc, "$2y$16$" + bc[7:], "$2b$17$" + bc[7:], "$1$x$y", "hunter2", "$", "$2b$04$" + strings.Repeat("/", 53)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, phc string) {
		if CheckPasswordHash(phc) != nil {
			return
		}
		if strings.HasPrefix(phc, "$argon2id$") {
			if _, _, _, err := parsePHC(phc); err != nil {
				t.Fatalf("CheckPasswordHash(%q) accepted what parsePHC refuses: %v", phc, err)
			}
			return
		}
		cost, err := bcrypt.Cost([]byte(phc))
		if err != nil || cost > MaxBcryptCost || !isBcrypt(phc) {
			t.Fatalf("CheckPasswordHash(%q) accepted a bcrypt hash of cost %d (%v)", phc, cost, err)
		}
	})
}
