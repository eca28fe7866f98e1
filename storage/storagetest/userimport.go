package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// userImportTests check storage.UserImporter: everything of an import is
// stored, or nothing is.
var userImportTests = []test{
	{"All", testImportUsers},
	{"Empty", testImportNothing},
	{"Large", testImportLarge},
	{"Refused", testImportRefused},
}

// importedUsers returns n users u0000…, alternating the flags.
func importedUsers(n int) []storage.User {
	users := make([]storage.User, n)
	for i := range users {
		users[i] = newUser(fmt.Sprintf("imp%05d", i), fmt.Sprintf("user%05d", i))
		users[i].Disabled, users[i].EmailVerified = i%3 == 0, i%2 == 0
	}
	return users
}

// wantCount checks CountUsers.
func wantCount(t *testing.T, s Store, want int) {
	t.Helper()
	n, err := s.CountUsers(t.Context())
	check(t, "CountUsers", err)
	if n != want {
		t.Errorf("CountUsers: got %d, want %d", n, want)
	}
}

func testImportUsers(t *testing.T, s Store) {
	stored := newUser("u0", "zoe")
	createUser(t, s, stored)
	createGroup(t, s, storage.Group{Name: "staff", CreatedAt: t0})
	users := importedUsers(3)
	users[1] = storage.User{ID: "imp-sparse", Username: "sparse"} // the zero times round-trip
	users[2].CreatedAt, users[2].UpdatedAt = inZone(t0), inZone(at(time.Minute))
	imp := storage.UserImport{
		Users:  users,
		Groups: []storage.Group{{Name: "admins", CreatedAt: inZone(at(time.Hour))}, {Name: "empty"}},
		Members: []storage.GroupMember{
			{Group: "admins", UserID: users[0].ID}, {Group: "staff", UserID: users[0].ID},
			{Group: "staff", UserID: users[2].ID}, {Group: "admins", UserID: stored.ID},
		},
	}
	check(t, "ImportUsers", s.ImportUsers(t.Context(), imp))
	for _, u := range append(users, stored) {
		wantUser(t, s, u)
	}
	wantGroups(t, s, storage.Group{Name: "admins", CreatedAt: at(time.Hour)}, storage.Group{Name: "empty"},
		storage.Group{Name: "staff", CreatedAt: t0})
	wantMembers(t, s, "admins", users[0].ID, stored.ID)
	wantMembers(t, s, "staff", users[0].ID, users[2].ID)
	wantMembers(t, s, "empty")
	wantUserGroups(t, s, users[1].ID)
}

func testImportNothing(t *testing.T, s Store) {
	check(t, "ImportUsers(empty)", s.ImportUsers(t.Context(), storage.UserImport{}))
	wantCount(t, s, 0)
	wantGroups(t, s)
}

// testImportLarge imports more users than fit in one statement of a
// backend that inserts in chunks, with a membership each, and after that
// a second import whose last user is taken: none of it is stored.
func testImportLarge(t *testing.T, s Store) {
	const n = 1234
	users := importedUsers(n)
	imp := storage.UserImport{Users: users[:n-1], Groups: []storage.Group{{Name: "all"}}}
	for _, u := range users[:n-1] {
		imp.Members = append(imp.Members, storage.GroupMember{Group: "all", UserID: u.ID})
	}
	check(t, "ImportUsers(1233 users)", s.ImportUsers(t.Context(), imp))
	wantCount(t, s, n-1)
	ids, err := s.GroupMembers(t.Context(), "all")
	check(t, "GroupMembers(all)", err)
	if len(ids) != n-1 {
		t.Errorf("GroupMembers(all): got %d, want %d", len(ids), n-1)
	}
	wantUser(t, s, users[0])
	wantUser(t, s, users[n-2])

	// 1,000 new users, then one whose username is already taken.
	more := make([]storage.User, 0, 1001)
	for i := range 1000 {
		more = append(more, newUser(fmt.Sprintf("more%04d", i), fmt.Sprintf("more%04d", i)))
	}
	more = append(more, newUser("more-last", users[5].Username))
	err = s.ImportUsers(t.Context(), storage.UserImport{Users: more, Groups: []storage.Group{{Name: "more"}}})
	wantErr(t, "ImportUsers with the last username taken", err, storage.ErrConflict)
	wantCount(t, s, n-1)
	wantGroups(t, s, storage.Group{Name: "all"})
}

// testImportRefused: each import that breaks a rule fails with its error
// and writes nothing, although every other record in it is fine.
func testImportRefused(t *testing.T, s Store) {
	stored := newUser("u0", "zoe")
	createUser(t, s, stored)
	createGroup(t, s, storage.Group{Name: "staff"})
	fine := importedUsers(3)
	with := func(change func(*storage.UserImport)) storage.UserImport {
		imp := storage.UserImport{
			Users:   append([]storage.User(nil), fine...),
			Groups:  []storage.Group{{Name: "admins"}},
			Members: []storage.GroupMember{{Group: "admins", UserID: fine[0].ID}, {Group: "staff", UserID: fine[1].ID}},
		}
		change(&imp)
		return imp
	}
	for _, tt := range []struct {
		name string
		imp  storage.UserImport
		want error
	}{
		{"username stored", with(func(i *storage.UserImport) { i.Users[2].Username = stored.Username }), storage.ErrConflict},
		{"id stored", with(func(i *storage.UserImport) { i.Users[2].ID = stored.ID }), storage.ErrConflict},
		{"username twice", with(func(i *storage.UserImport) { i.Users[2].Username = i.Users[0].Username }), storage.ErrConflict},
		{"group stored", with(func(i *storage.UserImport) { i.Groups = append(i.Groups, storage.Group{Name: "staff"}) }), storage.ErrConflict},
		{"group twice", with(func(i *storage.UserImport) { i.Groups = append(i.Groups, storage.Group{Name: "admins"}) }), storage.ErrConflict},
		{"membership twice", with(func(i *storage.UserImport) { i.Members = append(i.Members, i.Members[0]) }), storage.ErrConflict},
		{"unknown group", with(func(i *storage.UserImport) {
			i.Members = append(i.Members, storage.GroupMember{Group: "nothing", UserID: fine[2].ID})
		}), storage.ErrNotFound},
		{"unknown user", with(func(i *storage.UserImport) {
			i.Members = append(i.Members, storage.GroupMember{Group: "staff", UserID: "nobody"})
		}), storage.ErrNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := s.ImportUsers(t.Context(), tt.imp)
			wantErr(t, "ImportUsers", err, tt.want)
			wantCount(t, s, 1)
			wantGroups(t, s, storage.Group{Name: "staff"})
			wantMembers(t, s, "staff")
			wantUser(t, s, stored)
		})
	}
	// The same import without a fault goes through.
	check(t, "ImportUsers(fine)", s.ImportUsers(t.Context(), with(func(*storage.UserImport) {})))
	wantCount(t, s, 4)
}
