package storagetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// registrationTests check storage.Registrations: initial access tokens
// (minted, listed, revoked, used at most MaxUses times before they expire,
// pruned after) and the registration of a client with one.
var registrationTests = []test{
	{"TokensRoundTrip", testInitialAccessTokens},
	{"RegisterCountsUses", testRegisterCountsUses},
	{"RegisterRefusesUnusableTokens", testRegisterRefusesTokens},
	{"ConcurrentLastUse", testRegisterConcurrentLastUse},
	{"RegistrationHashGoesWithClient", testRegistrationHash},
	{"PruneExpiredTokens", testPruneInitialAccessTokens},
}

// newInitialToken returns a token named id, valid until t0+ttl, with
// maxUses uses (0: no limit).
func newInitialToken(id string, ttl time.Duration, maxUses int) storage.InitialAccessToken {
	return storage.InitialAccessToken{
		ID: id, Hash: "hash-" + id, ExpiresAt: at(ttl), MaxUses: maxUses,
		CreatedAt: at(-time.Minute), CreatedBy: "operator",
	}
}

// registeredClient is newClient as dynamic registration creates it.
func registeredClient(id string) storage.Client {
	c := newClient(id)
	c.Source = storage.ClientSourceRegistration
	return c
}

func createInitialToken(t *testing.T, s Store, tok storage.InitialAccessToken) {
	t.Helper()
	check(t, "CreateInitialAccessToken("+tok.ID+")", s.CreateInitialAccessToken(t.Context(), &tok))
}

// register registers a client named id with the token named tokenID and
// returns the error.
func register(t *testing.T, s Store, id, tokenID string, now time.Time) error {
	t.Helper()
	c := registeredClient(id)
	gotID, err := s.RegisterClient(t.Context(), &c, "hash-"+tokenID, "reg-"+id, now)
	if err == nil && gotID != tokenID {
		t.Errorf("RegisterClient(%s): got token id %q, want %q", id, gotID, tokenID)
	}
	return err
}

func testInitialAccessTokens(t *testing.T, s Store) {
	b := newInitialToken("b", time.Hour, 0)
	b.Uses = 5 // ignored: a new token has no use
	a := newInitialToken("a", 24*time.Hour, 3)
	a.CreatedAt = at(-time.Hour)
	a.ExpiresAt = inZone(a.ExpiresAt)
	createInitialToken(t, s, b)
	createInitialToken(t, s, a)
	// Bad input tried: a second token with a taken id, one with a taken hash.
	dupID := newInitialToken("a", time.Hour, 0)
	dupID.Hash = "other"
	wantErr(t, "CreateInitialAccessToken with a taken id", s.CreateInitialAccessToken(t.Context(), &dupID), storage.ErrConflict)
	dupHash := newInitialToken("c", time.Hour, 0)
	dupHash.Hash = b.Hash
	wantErr(t, "CreateInitialAccessToken with a taken hash", s.CreateInitialAccessToken(t.Context(), &dupHash), storage.ErrConflict)

	list, err := s.InitialAccessTokens(t.Context())
	check(t, "InitialAccessTokens", err)
	b.Uses = 0
	if len(list) != 2 {
		t.Fatalf("InitialAccessTokens: got %d tokens, want 2 (a, b)", len(list))
	}
	wantEqual(t, "first token (oldest)", list[0], a)
	wantEqual(t, "second token", list[1], b)

	revoked, err := s.RevokeInitialAccessToken(t.Context(), "a")
	check(t, "RevokeInitialAccessToken(a)", err)
	if !revoked {
		t.Error("RevokeInitialAccessToken(a): reported no token")
	}
	revoked, err = s.RevokeInitialAccessToken(t.Context(), "a")
	check(t, "RevokeInitialAccessToken(a) again", err)
	if revoked {
		t.Error("RevokeInitialAccessToken(a) again: reported a token")
	}
	wantErr(t, "register with a revoked token", register(t, s, "x", "a", t0), storage.ErrNotFound)
	list, err = s.InitialAccessTokens(t.Context())
	check(t, "InitialAccessTokens", err)
	if len(list) != 1 || list[0].ID != "b" {
		t.Errorf("InitialAccessTokens after revoking a: got %v, want only b", list)
	}
}

func testRegisterCountsUses(t *testing.T, s Store) {
	createInitialToken(t, s, newInitialToken("two", time.Hour, 2))
	createInitialToken(t, s, newInitialToken("any", time.Hour, 0))
	check(t, "register c1 (use 1 of 2)", register(t, s, "c1", "two", t0))
	check(t, "register c2 (use 2 of 2)", register(t, s, "c2", "two", at(time.Minute)))
	wantErr(t, "register c3 with a used-up token", register(t, s, "c3", "two", at(2*time.Minute)), storage.ErrNotFound)
	for i := range 5 {
		check(t, "register with a token without limit", register(t, s, fmt.Sprintf("u%d", i), "any", t0))
	}
	// A taken client id fails the registration and does not count a use.
	wantErr(t, "register c1 again", register(t, s, "c1", "any", t0), storage.ErrConflict)
	list, err := s.InitialAccessTokens(t.Context())
	check(t, "InitialAccessTokens", err)
	uses := map[string]int{}
	for _, tok := range list {
		uses[tok.ID] = tok.Uses
	}
	if uses["two"] != 2 || uses["any"] != 5 {
		t.Errorf("uses: got two=%d any=%d, want 2 and 5", uses["two"], uses["any"])
	}

	got, err := s.Client(t.Context(), "c1")
	check(t, "Client(c1)", err)
	want := registeredClient("c1")
	want.Version, want.CreatedAt, want.UpdatedAt = 1, t0, t0
	wantEqual(t, "registered client", *got, want)
	_, err = s.Client(t.Context(), "c3")
	wantErr(t, "Client(c3), refused", err, storage.ErrNotFound)
}

func testRegisterRefusesTokens(t *testing.T, s Store) {
	createInitialToken(t, s, newInitialToken("t", time.Hour, 0))
	// Bad input tried: an unknown hash, the token at its expiry instant and
	// after it, and a client that does not say it comes from registration.
	wantErr(t, "register with an unknown token", register(t, s, "a", "unknown", t0), storage.ErrNotFound)
	wantErr(t, "register at the token's expiry", register(t, s, "b", "t", at(time.Hour)), storage.ErrNotFound)
	wantErr(t, "register after the token's expiry", register(t, s, "c", "t", at(2*time.Hour)), storage.ErrNotFound)
	for _, source := range []string{storage.ClientSourceAPI, storage.ClientSourceFile, ""} {
		c := newClient("d")
		c.Source = source
		if _, err := s.RegisterClient(t.Context(), &c, "hash-t", "reg-d", t0); err == nil {
			t.Errorf("RegisterClient with source %q: no error, want a refusal", source)
		}
	}
	list, err := s.InitialAccessTokens(t.Context())
	check(t, "InitialAccessTokens", err)
	if len(list) != 1 || list[0].Uses != 0 {
		t.Errorf("after refused registrations: got %+v, want the token with no use", list)
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		if _, err := s.Client(t.Context(), id); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Client(%s) after a refused registration: got %v, want ErrNotFound", id, err)
		}
	}
}

func testRegisterConcurrentLastUse(t *testing.T, s Store) {
	createInitialToken(t, s, newInitialToken("once", time.Hour, 1))
	createInitialToken(t, s, newInitialToken("three", time.Hour, 3))
	for _, tc := range []struct {
		token string
		want  int
	}{{"once", 1}, {"three", 3}} {
		const n = 16
		errs := raceN(n, func(i int) error {
			c := registeredClient(fmt.Sprintf("%s-%d", tc.token, i))
			_, err := s.RegisterClient(t.Context(), &c, "hash-"+tc.token, "reg", t0)
			return err
		})
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, storage.ErrNotFound):
				t.Errorf("%d concurrent registrations with %s: unexpected error %v", n, tc.token, err)
			}
		}
		if ok != tc.want {
			t.Errorf("%d concurrent registrations with a token of %d uses: got %d registered, want exactly %d", n, tc.want, ok, tc.want)
		}
	}
}

func testRegistrationHash(t *testing.T, s Store) {
	createInitialToken(t, s, newInitialToken("t", time.Hour, 0))
	check(t, "register r", register(t, s, "r", "t", t0))
	h, err := s.RegistrationHash(t.Context(), "r")
	check(t, "RegistrationHash(r)", err)
	if h != "reg-r" {
		t.Errorf("RegistrationHash(r): got %q, want %q", h, "reg-r")
	}
	// Clients of other sources have none; an updated client keeps its own.
	syncClients(t, s, t0, newClient("declared"))
	a := apiClient("api")
	check(t, "CreateClient(api)", s.CreateClient(t.Context(), &a, t0))
	for _, id := range []string{"declared", "api", "missing"} {
		_, err := s.RegistrationHash(t.Context(), id)
		wantErr(t, "RegistrationHash("+id+")", err, storage.ErrNotFound)
	}
	r := registeredClient("r")
	r.Name = "Renamed"
	check(t, "UpdateClient(r)", s.UpdateClient(t.Context(), &r, 1, at(time.Minute)))
	if h, err := s.RegistrationHash(t.Context(), "r"); err != nil || h != "reg-r" {
		t.Errorf("RegistrationHash(r) after an update: got %q, %v; want %q", h, err, "reg-r")
	}
	deleted, err := s.DeleteClient(t.Context(), "r", storage.ClientSourceRegistration)
	check(t, "DeleteClient(r)", err)
	if !deleted {
		t.Fatal("DeleteClient(r): not deleted")
	}
	_, err = s.RegistrationHash(t.Context(), "r")
	wantErr(t, "RegistrationHash(r) after delete", err, storage.ErrNotFound)
	// A client registered again under the deleted id has its own token.
	again := registeredClient("r")
	_, err = s.RegisterClient(t.Context(), &again, "hash-t", "reg-r-again", t0)
	check(t, "register r again", err)
	if h, err := s.RegistrationHash(t.Context(), "r"); err != nil || h != "reg-r-again" {
		t.Errorf("RegistrationHash(r) registered again: got %q, %v; want reg-r-again", h, err)
	}
	c := registeredClient("r2")
	_, err = s.RegisterClient(t.Context(), &c, "hash-t", "reg-new", t0)
	check(t, "register r2", err)
	if h, err := s.RegistrationHash(t.Context(), "r2"); err != nil || h != "reg-new" {
		t.Errorf("RegistrationHash(r2): got %q, %v; want reg-new", h, err)
	}
}

func testPruneInitialAccessTokens(t *testing.T, s Store) {
	p := pruner(t, s)
	createInitialToken(t, s, newInitialToken("expired", time.Minute, 0))
	createInitialToken(t, s, newInitialToken("at-now", time.Hour, 0))
	createInitialToken(t, s, newInitialToken("live", 2*time.Hour, 0))
	if n := prune(t, p, at(time.Hour), 100); n != 2 {
		t.Errorf("Prune at the second token's expiry: got %d rows, want 2", n)
	}
	list, err := s.InitialAccessTokens(t.Context())
	check(t, "InitialAccessTokens", err)
	if len(list) != 1 || list[0].ID != "live" {
		t.Errorf("after Prune: got %+v, want only the live token", list)
	}
}
