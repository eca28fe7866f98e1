package storagetest

import (
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// groupTests check storage.Groups, including what goes with a group and
// with a user (DeleteGroup, DeleteUser).
var groupTests = []test{
	{"Create", testCreateGroup},
	{"ListOrder", testListGroupsOrder},
	{"AddMember", testAddGroupMember},
	{"AddMemberUnknown", testAddGroupMemberUnknown},
	{"RemoveMember", testRemoveGroupMember},
	{"MembersOrder", testGroupMembersOrder},
	{"MembersUnknownGroup", testGroupMembersUnknown},
	{"UserGroupsOrder", testUserGroupsOrder},
	{"DeleteGroup", testDeleteGroup},
	{"DeleteUser", testDeleteUserMemberships},
}

func createGroup(t *testing.T, s Store, g storage.Group) {
	t.Helper()
	check(t, "CreateGroup("+g.Name+")", s.CreateGroup(t.Context(), &g))
}

func addMember(t *testing.T, s Store, group, userID string) {
	t.Helper()
	check(t, "AddGroupMember("+group+", "+userID+")", s.AddGroupMember(t.Context(), group, userID))
}

// wantGroups checks ListGroups against want, in order.
func wantGroups(t *testing.T, s Store, want ...storage.Group) {
	t.Helper()
	got, err := s.ListGroups(t.Context())
	check(t, "ListGroups", err)
	if len(got) != len(want) {
		t.Fatalf("ListGroups: got %d groups %v, want %d", len(got), got, len(want))
	}
	for i := range want {
		wantEqual(t, "ListGroups["+want[i].Name+"]", got[i], want[i])
	}
}

// wantMembers checks GroupMembers(group) against want, in order.
func wantMembers(t *testing.T, s Store, group string, want ...string) {
	t.Helper()
	got, err := s.GroupMembers(t.Context(), group)
	check(t, "GroupMembers("+group+")", err)
	wantIDs(t, "GroupMembers("+group+")", got, want)
}

// wantUserGroups checks UserGroups(userID) against want, in order.
func wantUserGroups(t *testing.T, s Store, userID string, want ...string) {
	t.Helper()
	got, err := s.UserGroups(t.Context(), userID)
	check(t, "UserGroups("+userID+")", err)
	wantIDs(t, "UserGroups("+userID+")", got, want)
}

func testCreateGroup(t *testing.T, s Store) {
	wantGroups(t, s)
	admins := storage.Group{Name: "admins", CreatedAt: inZone(t0)}
	createGroup(t, s, admins)
	wantGroups(t, s, admins)
	wantMembers(t, s, "admins")

	again := storage.Group{Name: "admins", CreatedAt: at(time.Hour)}
	err := s.CreateGroup(t.Context(), &again)
	wantErr(t, "CreateGroup(admins) again", err, storage.ErrConflict)
	wantGroups(t, s, admins)

	// The zero CreatedAt round-trips.
	staff := storage.Group{Name: "staff"}
	createGroup(t, s, staff)
	wantGroups(t, s, admins, staff)
}

func testListGroupsOrder(t *testing.T, s Store) {
	// Bytewise: '-' < '.' < '0' < '_' < 'b'; a prefix first.
	names := []string{"a_b", "ab", "a0", "a.b", "a", "a-b"}
	for i, n := range names {
		createGroup(t, s, storage.Group{Name: n, CreatedAt: at(time.Duration(i) * time.Minute)})
	}
	got, err := s.ListGroups(t.Context())
	check(t, "ListGroups", err)
	var gotNames []string
	for _, g := range got {
		gotNames = append(gotNames, g.Name)
	}
	wantIDs(t, "ListGroups names", gotNames, []string{"a", "a-b", "a.b", "a0", "a_b", "ab"})
}

func testAddGroupMember(t *testing.T, s Store) {
	createUser(t, s, newUser("u1", "alice"))
	createUser(t, s, newUser("u2", "bob"))
	createGroup(t, s, storage.Group{Name: "admins", CreatedAt: t0})
	createGroup(t, s, storage.Group{Name: "staff", CreatedAt: t0})

	addMember(t, s, "admins", "u1")
	wantMembers(t, s, "admins", "u1")
	wantUserGroups(t, s, "u1", "admins")

	// Adding again is a success and changes nothing.
	addMember(t, s, "admins", "u1")
	wantMembers(t, s, "admins", "u1")
	wantUserGroups(t, s, "u1", "admins")

	wantMembers(t, s, "staff")
	wantUserGroups(t, s, "u2")
}

func testAddGroupMemberUnknown(t *testing.T, s Store) {
	createUser(t, s, newUser("u1", "alice"))
	createGroup(t, s, storage.Group{Name: "admins", CreatedAt: t0})

	for _, tt := range []struct{ name, group, user string }{
		{"unknown group", "nope", "u1"},
		{"group by prefix", "adm", "u1"},
		{"unknown user", "admins", "nope"},
		{"user by username", "admins", "alice"},
		{"both unknown", "nope", "nope"},
	} {
		err := s.AddGroupMember(t.Context(), tt.group, tt.user)
		wantErr(t, "AddGroupMember with "+tt.name, err, storage.ErrNotFound)
	}
	wantGroups(t, s, storage.Group{Name: "admins", CreatedAt: t0})
	wantMembers(t, s, "admins")
	wantUserGroups(t, s, "u1")
	_, err := s.GroupMembers(t.Context(), "nope")
	wantErr(t, "GroupMembers(nope) after adding to it", err, storage.ErrNotFound)
}

func removeMember(t *testing.T, s Store, group, userID string, want bool) {
	t.Helper()
	got, err := s.RemoveGroupMember(t.Context(), group, userID)
	check(t, "RemoveGroupMember("+group+", "+userID+")", err)
	if got != want {
		t.Errorf("RemoveGroupMember(%s, %s): got %t, want %t", group, userID, got, want)
	}
}

func testRemoveGroupMember(t *testing.T, s Store) {
	createUser(t, s, newUser("u1", "alice"))
	createUser(t, s, newUser("u2", "bob"))
	createGroup(t, s, storage.Group{Name: "admins", CreatedAt: t0})
	createGroup(t, s, storage.Group{Name: "staff", CreatedAt: t0})
	addMember(t, s, "admins", "u1")
	addMember(t, s, "admins", "u2")
	addMember(t, s, "staff", "u1")

	removeMember(t, s, "admins", "u1", true)
	wantMembers(t, s, "admins", "u2")
	wantMembers(t, s, "staff", "u1")
	wantUserGroups(t, s, "u1", "staff")

	removeMember(t, s, "admins", "u1", false)
	removeMember(t, s, "nope", "u1", false)
	removeMember(t, s, "admins", "nope", false)
	wantMembers(t, s, "admins", "u2")
	wantMembers(t, s, "staff", "u1")

	// The group stays when its last member leaves.
	removeMember(t, s, "admins", "u2", true)
	wantMembers(t, s, "admins")
	wantGroups(t, s, storage.Group{Name: "admins", CreatedAt: t0}, storage.Group{Name: "staff", CreatedAt: t0})
}

func testGroupMembersOrder(t *testing.T, s Store) {
	// Bytewise: upper case before lower case, '-' before '_'.
	ids := []string{"u_1", "b", "U", "u-1", "a", "u"}
	for i, id := range ids {
		createUser(t, s, newUser(id, "user"+string(rune('a'+i))))
	}
	createGroup(t, s, storage.Group{Name: "all", CreatedAt: t0})
	for _, id := range ids {
		addMember(t, s, "all", id)
	}
	wantMembers(t, s, "all", "U", "a", "b", "u", "u-1", "u_1")
}

func testGroupMembersUnknown(t *testing.T, s Store) {
	_, err := s.GroupMembers(t.Context(), "nope")
	wantErr(t, "GroupMembers(nope) on an empty store", err, storage.ErrNotFound)

	createUser(t, s, newUser("u1", "alice"))
	createGroup(t, s, storage.Group{Name: "admins", CreatedAt: t0})
	addMember(t, s, "admins", "u1")
	for _, name := range []string{"nope", "adm", "admins2", "Admins", ""} {
		_, err := s.GroupMembers(t.Context(), name)
		wantErr(t, "GroupMembers("+name+")", err, storage.ErrNotFound)
	}
	wantMembers(t, s, "admins", "u1")
}

func testUserGroupsOrder(t *testing.T, s Store) {
	wantUserGroups(t, s, "nope")
	createUser(t, s, newUser("u1", "alice"))
	createUser(t, s, newUser("u2", "bob"))
	names := []string{"staff", "a_b", "admins", "a-b", "a"}
	for _, n := range names {
		createGroup(t, s, storage.Group{Name: n, CreatedAt: t0})
		addMember(t, s, n, "u1")
	}
	addMember(t, s, "staff", "u2")
	wantUserGroups(t, s, "u1", "a", "a-b", "a_b", "admins", "staff")
	wantUserGroups(t, s, "u2", "staff")
	wantUserGroups(t, s, "nope")
	wantUserGroups(t, s, "alice")
}

func deleteGroup(t *testing.T, s Store, name string, want bool) {
	t.Helper()
	got, err := s.DeleteGroup(t.Context(), name)
	check(t, "DeleteGroup("+name+")", err)
	if got != want {
		t.Errorf("DeleteGroup(%s): got %t, want %t", name, got, want)
	}
}

func testDeleteGroup(t *testing.T, s Store) {
	deleteGroup(t, s, "nope", false)
	createUser(t, s, newUser("u1", "alice"))
	createUser(t, s, newUser("u2", "bob"))
	admins := storage.Group{Name: "admins", CreatedAt: t0}
	staff := storage.Group{Name: "staff", CreatedAt: at(time.Minute)}
	createGroup(t, s, admins)
	createGroup(t, s, staff)
	addMember(t, s, "admins", "u1")
	addMember(t, s, "admins", "u2")
	addMember(t, s, "staff", "u1")

	deleteGroup(t, s, "adm", false)
	deleteGroup(t, s, "admins", true)
	wantGroups(t, s, staff)
	_, err := s.GroupMembers(t.Context(), "admins")
	wantErr(t, "GroupMembers(admins) after DeleteGroup", err, storage.ErrNotFound)
	wantUserGroups(t, s, "u1", "staff")
	wantUserGroups(t, s, "u2")
	wantMembers(t, s, "staff", "u1")
	wantUser(t, s, newUser("u1", "alice"))
	wantUser(t, s, newUser("u2", "bob"))

	deleteGroup(t, s, "admins", false)

	// A group made again under the name starts without members.
	createGroup(t, s, admins)
	wantMembers(t, s, "admins")
	wantUserGroups(t, s, "u2")
}

func testDeleteUserMemberships(t *testing.T, s Store) {
	createUser(t, s, newUser("u1", "alice"))
	createUser(t, s, newUser("u2", "bob"))
	admins := storage.Group{Name: "admins", CreatedAt: t0}
	staff := storage.Group{Name: "staff", CreatedAt: t0}
	createGroup(t, s, admins)
	createGroup(t, s, staff)
	addMember(t, s, "admins", "u1")
	addMember(t, s, "staff", "u1")
	addMember(t, s, "staff", "u2")

	deleteUser(t, s, "u1", true)
	wantUserGroups(t, s, "u1")
	wantMembers(t, s, "admins")
	wantMembers(t, s, "staff", "u2")
	wantUserGroups(t, s, "u2", "staff")
	wantGroups(t, s, admins, staff)

	// A user made again under the id is in no group.
	createUser(t, s, newUser("u1", "alice"))
	wantUserGroups(t, s, "u1")
	wantMembers(t, s, "staff", "u2")
}
