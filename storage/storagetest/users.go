package storagetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

var userTests = []test{
	{"RoundTrip", testUserRoundTrip},
	{"Unknown", testUserUnknown},
	{"CreateConflicts", testUserConflicts},
	{"ListOrderedByUsername", testListUsers},
	{"Update", testUpdateUser},
	{"UpdateUnknown", testUpdateUnknownUser},
	{"Count", testCountUsers},
	{"UpdateIfUnchanged", testUpdateUserIfUnchanged},
	{"UpdateIfUnchangedConcurrent", testUpdateUserIfUnchangedConcurrent},
	{"ReplacePasswordHash", testReplacePasswordHash},
	{"Page", testUsersPage},
}

func newUser(id, username string) storage.User {
	return storage.User{
		ID:            id,
		Username:      username,
		Email:         username + "@example.com",
		EmailVerified: true,
		Name:          "User " + username,
		PasswordHash:  "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		CreatedAt:     t0,
		UpdatedAt:     at(time.Second),
	}
}

func createUser(t *testing.T, s Store, u storage.User) {
	t.Helper()
	check(t, "CreateUser("+u.ID+")", s.CreateUser(t.Context(), &u))
}

func wantUser(t *testing.T, s Store, want storage.User) {
	t.Helper()
	got, err := s.UserByID(t.Context(), want.ID)
	check(t, "UserByID("+want.ID+")", err)
	wantEqual(t, "UserByID("+want.ID+")", *got, want)
	got, err = s.UserByUsername(t.Context(), want.Username)
	check(t, "UserByUsername("+want.Username+")", err)
	wantEqual(t, "UserByUsername("+want.Username+")", *got, want)
}

func testUserRoundTrip(t *testing.T, s Store) {
	full := newUser("u1", "alice")
	full.CreatedAt, full.UpdatedAt = inZone(t0), inZone(at(time.Second))
	disabled := newUser("u2", "bob")
	disabled.Disabled, disabled.EmailVerified = true, false
	sparse := storage.User{ID: "u3", Username: "carol"}

	for _, u := range []storage.User{full, disabled, sparse} {
		createUser(t, s, u)
	}
	for _, u := range []storage.User{full, disabled, sparse} {
		wantUser(t, s, u)
	}
}

func testUserUnknown(t *testing.T, s Store) {
	_, err := s.UserByID(t.Context(), "nope")
	wantErr(t, "UserByID on empty store", err, storage.ErrNotFound)
	_, err = s.UserByUsername(t.Context(), "nope")
	wantErr(t, "UserByUsername on empty store", err, storage.ErrNotFound)

	createUser(t, s, newUser("u1", "alice"))
	tests := []struct {
		what string
		call func() error
	}{
		{"UserByID(u2)", func() error { _, err := s.UserByID(t.Context(), "u2"); return err }},
		{"UserByID(alice)", func() error { _, err := s.UserByID(t.Context(), "alice"); return err }},
		{"UserByUsername(u1)", func() error { _, err := s.UserByUsername(t.Context(), "u1"); return err }},
		// Lookups are exact on the canonical form.
		{"UserByUsername(Alice)", func() error { _, err := s.UserByUsername(t.Context(), "Alice"); return err }},
		{"UserByUsername(alice )", func() error { _, err := s.UserByUsername(t.Context(), "alice "); return err }},
	}
	for _, tt := range tests {
		wantErr(t, tt.what, tt.call(), storage.ErrNotFound)
	}
}

func testUserConflicts(t *testing.T, s Store) {
	orig := newUser("u1", "alice")
	createUser(t, s, orig)

	tests := []struct {
		name string
		user storage.User
	}{
		{"same id", newUser("u1", "bob")},
		{"same username", newUser("u2", "alice")},
		{"same both", newUser("u1", "alice")},
	}
	for _, tt := range tests {
		u := tt.user
		u.Name = "Impostor"
		err := s.CreateUser(t.Context(), &u)
		wantErr(t, "CreateUser with "+tt.name, err, storage.ErrConflict)
	}
	wantUser(t, s, orig)
	n, err := s.CountUsers(t.Context())
	check(t, "CountUsers", err)
	if n != 1 {
		t.Errorf("CountUsers after conflicts: got %d, want 1", n)
	}
	_, err = s.UserByUsername(t.Context(), "bob")
	wantErr(t, "UserByUsername(bob) after its create conflicted", err, storage.ErrNotFound)
}

func testListUsers(t *testing.T, s Store) {
	got, err := s.ListUsers(t.Context())
	check(t, "ListUsers", err)
	if len(got) != 0 {
		t.Fatalf("ListUsers on empty store: got %d users, want 0", len(got))
	}

	// Ids sort the other way round from usernames.
	users := []storage.User{newUser("3", "bob"), newUser("1", "dave"), newUser("4", "alice"), newUser("2", "carol")}
	users[1].Disabled = true
	for _, u := range users {
		createUser(t, s, u)
	}
	want := []storage.User{users[2], users[0], users[3], users[1]}
	got, err = s.ListUsers(t.Context())
	check(t, "ListUsers", err)
	if len(got) != len(want) {
		t.Fatalf("ListUsers: got %d users, want %d", len(got), len(want))
	}
	for i := range want {
		wantEqual(t, "ListUsers["+want[i].Username+"]", got[i], want[i])
	}
}

func testUpdateUser(t *testing.T, s Store) {
	orig := newUser("u1", "alice")
	other := newUser("u2", "bob")
	createUser(t, s, orig)
	createUser(t, s, other)

	upd := orig
	upd.Email = "alice@new.example"
	upd.Name = "Alice Liddell"
	upd.PasswordHash = "$argon2id$v=19$m=65536,t=3,p=4$bmV3$bmV3aGFzaA"
	upd.Disabled = true
	upd.UpdatedAt = at(time.Hour)
	// Fields UpdateUser does not overwrite.
	upd.Username = "mallory"
	upd.CreatedAt = at(time.Hour)
	check(t, "UpdateUser", s.UpdateUser(t.Context(), &upd))

	want := orig
	want.Email, want.Name, want.PasswordHash, want.Disabled, want.UpdatedAt = upd.Email, upd.Name, upd.PasswordHash, upd.Disabled, upd.UpdatedAt
	wantUser(t, s, want)
	wantUser(t, s, other)
	_, err := s.UserByUsername(t.Context(), "mallory")
	wantErr(t, "UserByUsername(mallory)", err, storage.ErrNotFound)

	// Disabled users can be updated back.
	upd.Disabled = false
	upd.UpdatedAt = at(2 * time.Hour)
	check(t, "UpdateUser", s.UpdateUser(t.Context(), &upd))
	want.Disabled, want.UpdatedAt = false, upd.UpdatedAt
	wantUser(t, s, want)
}

func testUpdateUnknownUser(t *testing.T, s Store) {
	u := newUser("u1", "alice")
	wantErr(t, "UpdateUser on empty store", s.UpdateUser(t.Context(), &u), storage.ErrNotFound)
	_, err := s.UserByID(t.Context(), "u1")
	wantErr(t, "UserByID after UpdateUser of an absent user", err, storage.ErrNotFound)
	n, err := s.CountUsers(t.Context())
	check(t, "CountUsers", err)
	if n != 0 {
		t.Errorf("CountUsers after UpdateUser of an absent user: got %d, want 0", n)
	}
}

func testCountUsers(t *testing.T, s Store) {
	for i, id := range []string{"", "u1", "u2", "u3"} {
		if id != "" {
			u := newUser(id, "name-"+id)
			u.Disabled = i == 2
			createUser(t, s, u)
		}
		n, err := s.CountUsers(t.Context())
		check(t, "CountUsers", err)
		if n != i {
			t.Errorf("CountUsers after %d creates: got %d, want %d", i, n, i)
		}
	}
}

// testUpdateUserIfUnchanged checks the compare-and-set: the update lands
// only while updated_at is the instant the caller read, a stale instant is
// ErrConflict and changes nothing, an absent user is ErrNotFound, and a
// user never updated (no updated_at) can be swapped from the zero time.
func testUpdateUserIfUnchanged(t *testing.T, s Store) {
	ctx := t.Context()
	u := newUser("u1", "alice")
	createUser(t, s, u)
	read, err := s.UserByID(ctx, "u1")
	check(t, "UserByID", err)

	next := *read
	next.Name, next.Disabled, next.UpdatedAt = "Alice L.", true, at(2*time.Second)
	check(t, "UpdateUserIfUnchanged(fresh)", s.UpdateUserIfUnchanged(ctx, &next, read.UpdatedAt))
	wantUser(t, s, next)

	stale := *read
	stale.Name, stale.UpdatedAt = "Mallory", at(3*time.Second)
	wantErr(t, "UpdateUserIfUnchanged(stale)", s.UpdateUserIfUnchanged(ctx, &stale, read.UpdatedAt), storage.ErrConflict)
	wantUser(t, s, next)

	ghost := newUser("nobody", "nobody")
	wantErr(t, "UpdateUserIfUnchanged(absent)", s.UpdateUserIfUnchanged(ctx, &ghost, ghost.UpdatedAt), storage.ErrNotFound)

	never := storage.User{ID: "u2", Username: "bob"}
	createUser(t, s, never)
	wantErr(t, "UpdateUserIfUnchanged(u2, non-zero instant)", s.UpdateUserIfUnchanged(ctx, &storage.User{ID: "u2", UpdatedAt: at(time.Second)}, at(time.Hour)), storage.ErrConflict)
	swapped := never
	swapped.Email, swapped.UpdatedAt = "bob@example.com", at(time.Second)
	check(t, "UpdateUserIfUnchanged(u2, zero instant)", s.UpdateUserIfUnchanged(ctx, &swapped, time.Time{}))
	wantUser(t, s, swapped)
}

// testUpdateUserIfUnchangedConcurrent races 16 updates from the same read:
// exactly one lands, the others get ErrConflict.
func testUpdateUserIfUnchangedConcurrent(t *testing.T, s Store) {
	ctx := t.Context()
	createUser(t, s, newUser("u1", "alice"))
	read, err := s.UserByID(ctx, "u1")
	check(t, "UserByID", err)
	errs := raceN(16, func(i int) error {
		u := *read
		u.Name, u.UpdatedAt = fmt.Sprintf("writer %d", i), at(time.Duration(i+2)*time.Second)
		return s.UpdateUserIfUnchanged(ctx, &u, read.UpdatedAt)
	})
	oneWinner(t, "concurrent UpdateUserIfUnchanged from one read", errs, storage.ErrConflict)
}

// testReplacePasswordHash: the hash is replaced only while it is still the
// one given, and nothing else of the user changes; an unknown user is not
// an error.
func testReplacePasswordHash(t *testing.T, s Store) {
	u := newUser("u1", "alice")
	createUser(t, s, u)
	const newHash = "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaA"

	// A stale old hash (the password changed meanwhile) changes nothing.
	ok, err := s.ReplacePasswordHash(t.Context(), u.ID, "$2b$04$stale", newHash, at(time.Hour))
	check(t, "ReplacePasswordHash(stale)", err)
	if ok {
		t.Error("ReplacePasswordHash with a stale old hash: got true, want false")
	}
	wantUser(t, s, u)

	ok, err = s.ReplacePasswordHash(t.Context(), u.ID, u.PasswordHash, newHash, inZone(at(time.Hour)))
	check(t, "ReplacePasswordHash", err)
	if !ok {
		t.Fatal("ReplacePasswordHash with the stored hash: got false, want true")
	}
	u.PasswordHash, u.UpdatedAt = newHash, at(time.Hour)
	wantUser(t, s, u)

	ok, err = s.ReplacePasswordHash(t.Context(), "nobody", newHash, "x", at(time.Hour))
	check(t, "ReplacePasswordHash(unknown user)", err)
	if ok {
		t.Error("ReplacePasswordHash of an unknown user: got true, want false")
	}
}

// testUsersPage checks UserPager: pages in username order from After,
// Limit at most, and Contains matching username, name or email with
// case ignored; a page past the end is empty.
func testUsersPage(t *testing.T, s Store) {
	ctx := t.Context()
	names := []string{"carol", "alice", "bob", "dave", "eve"}
	for i, n := range names {
		u := newUser(fmt.Sprintf("u%d", i), n)
		if n == "dave" {
			u.Name, u.Email = "David ALICE-son", "d@other.example"
		}
		createUser(t, s, u)
	}
	usernames := func(what string, q storage.UserPageQuery) []string {
		t.Helper()
		page, err := s.UsersPage(ctx, q)
		check(t, what, err)
		var out []string
		for _, u := range page {
			out = append(out, u.Username)
		}
		return out
	}
	for _, tt := range []struct {
		what string
		q    storage.UserPageQuery
		want []string
	}{
		{"first page", storage.UserPageQuery{Limit: 2}, []string{"alice", "bob"}},
		{"second page", storage.UserPageQuery{After: "bob", Limit: 2}, []string{"carol", "dave"}},
		{"last page", storage.UserPageQuery{After: "dave", Limit: 2}, []string{"eve"}},
		{"past the end", storage.UserPageQuery{After: "eve", Limit: 2}, nil},
		{"after a name not stored", storage.UserPageQuery{After: "b", Limit: 10}, []string{"bob", "carol", "dave", "eve"}},
		// alice by username, dave by name, in another case.
		{"contains, any field, any case", storage.UserPageQuery{Contains: "ALIce", Limit: 10}, []string{"alice", "dave"}},
		{"contains, from a cursor", storage.UserPageQuery{Contains: "alice", After: "alice", Limit: 10}, []string{"dave"}},
		{"contains an email's domain", storage.UserPageQuery{Contains: "other.example", Limit: 10}, []string{"dave"}},
		{"contains, nothing matches", storage.UserPageQuery{Contains: "zzz", Limit: 10}, nil},
		// Bad input tried: LIKE and GLOB wildcards are matched as text.
		{"wildcards are text", storage.UserPageQuery{Contains: "%", Limit: 10}, nil},
		{"underscore is text", storage.UserPageQuery{Contains: "_", Limit: 10}, nil},
		{"a limit of 0 reads one", storage.UserPageQuery{Limit: 0}, []string{"alice"}},
	} {
		if got := usernames(tt.what, tt.q); !slices.Equal(got, tt.want) {
			t.Errorf("UsersPage %s (%+v): got %q, want %q", tt.what, tt.q, got, tt.want)
		}
	}
}
