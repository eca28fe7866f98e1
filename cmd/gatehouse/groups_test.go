package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// groupEvents returns the stored audit events of the kind, newest first.
func (f *sessionsFixture) groupEvents(t *testing.T, kind string) []storage.AuditEvent {
	t.Helper()
	all, err := f.store.AuditEvents(context.Background(), storage.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var got []storage.AuditEvent
	for _, e := range all {
		if e.Kind == kind {
			got = append(got, e)
		}
	}
	return got
}

// groupState is every group with its members' ids and how many audit
// events there are, to tell that a command changed nothing.
func (f *sessionsFixture) groupState(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	groups, err := f.store.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, g := range groups {
		ids, err := f.store.GroupMembers(ctx, g.Name)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s: %q\n", g.Name, g.CreatedAt, ids)
	}
	events, err := f.store.AuditEvents(ctx, storage.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "%d audit events\n", len(events))
	return b.String()
}

// TestGroupsCommands: create, add (again: nothing changes), members, list,
// remove (again: nothing changes), delete; each change recorded once, by
// operator, with the group in Detail and the member as UserID.
func TestGroupsCommands(t *testing.T) {
	f := newSessionsFixture(t)
	ctx := context.Background()
	long := strings.Repeat("x", 64)
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"groups", "create", "admins"}, "created group admins\n"},
		{[]string{"groups", "create", "staff"}, "created group staff\n"},
		{[]string{"groups", "create", long}, "created group " + long + "\n"},
		{[]string{"groups", "create", "a.b_c-0"}, "created group a.b_c-0\n"},
		{[]string{"groups", "add", "admins", "alice"}, "added alice to admins\n"},
		{[]string{"groups", "add", "admins", "ALICE"}, "alice is a member of admins already\n"},
		{[]string{"groups", "add", "admins", "bob"}, "added bob to admins\n"},
		{[]string{"groups", "add", "staff", "alice"}, "added alice to staff\n"},
		{[]string{"groups", "members", "admins"}, "alice\nbob\n"},
		{[]string{"groups", "members", "a.b_c-0"}, ""},
		{[]string{"groups", "remove", "admins", "bob"}, "removed bob from admins\n"},
		{[]string{"groups", "remove", "admins", "bob"}, "bob is not a member of admins\n"},
		{[]string{"groups", "members", "admins"}, "alice\n"},
		{[]string{"groups", "delete", "staff"}, "deleted group staff\n"},
		{[]string{"groups", "delete", long}, "deleted group " + long + "\n"},
	}
	for _, s := range steps {
		out, err := cli(t, f.db, "", s.args...)
		if err != nil || out != s.want {
			t.Fatalf("%s: got %q, %v; want %q", strings.Join(s.args, " "), out, err, s.want)
		}
	}
	out, err := cli(t, f.db, "", "groups", "list")
	if err != nil {
		t.Fatalf("groups list: %v", err)
	}
	var rows [][]string
	for line := range strings.Lines(out) {
		rows = append(rows, strings.Fields(line))
	}
	want := [][]string{{"NAME", "MEMBERS"}, {"a.b_c-0", "0"}, {"admins", "1"}}
	if !slices.EqualFunc(rows, want, slices.Equal) {
		t.Errorf("groups list: got %q, want rows %q", out, want)
	}
	if got, err := f.store.UserGroups(ctx, f.alice.ID); err != nil || !slices.Equal(got, []string{"admins"}) {
		t.Errorf("alice's groups: got %q, %v; want [admins] (staff deleted)", got, err)
	}

	for _, tc := range []struct {
		kind  string
		users []string // newest first; "" for none
		group []string
	}{
		{auditGroupCreated, []string{"", "", "", ""}, []string{"a.b_c-0", long, "staff", "admins"}},
		{auditGroupMemberAdded, []string{f.alice.ID, f.bob.ID, f.alice.ID}, []string{"staff", "admins", "admins"}},
		{auditGroupMemberRemoved, []string{f.bob.ID}, []string{"admins"}},
		{auditGroupDeleted, []string{"", ""}, []string{long, "staff"}},
	} {
		events := f.groupEvents(t, tc.kind)
		if len(events) != len(tc.group) {
			t.Errorf("%s events: got %d (%+v), want %d", tc.kind, len(events), events, len(tc.group))
			continue
		}
		for i, e := range events {
			if e.Actor != "operator" || e.UserID != tc.users[i] || e.Detail != "group="+tc.group[i] {
				t.Errorf("%s event %d: got actor %q, user %q, detail %q; want operator, %q, group=%s",
					tc.kind, i, e.Actor, e.UserID, e.Detail, tc.users[i], tc.group[i])
			}
		}
	}
}

// TestGroupsBadInput: bad names, unknown groups and users, a name taken,
// and wrong command lines each fail with a message that says why, and
// change nothing: no group, no membership, no audit event.
func TestGroupsBadInput(t *testing.T) {
	f := newSessionsFixture(t)
	for _, args := range [][]string{{"groups", "create", "admins"}, {"groups", "add", "admins", "alice"}} {
		if out, err := cli(t, f.db, "", args...); err != nil {
			t.Fatalf("%s: %q, %v", strings.Join(args, " "), out, err)
		}
	}
	before := f.groupState(t)

	const nameRule = "use 1–64 characters from a–z, 0–9 and . _ -"
	cases := []struct {
		name  string
		args  []string
		want  string
		usage bool // errUsage, with the usage printed
	}{
		{"upper case", []string{"groups", "create", "Admins"}, nameRule, false},
		{"space", []string{"groups", "create", "a b"}, nameRule, false},
		{"empty", []string{"groups", "create", ""}, nameRule, false},
		{"65 characters", []string{"groups", "create", strings.Repeat("x", 65)}, nameRule, false},
		{"slash", []string{"groups", "create", "../x"}, nameRule, false},
		{"at", []string{"groups", "create", "admins@example"}, nameRule, false},
		{"not ascii", []string{"groups", "create", "ädmins"}, nameRule, false},
		{"bad name to add to", []string{"groups", "add", "Admins", "bob"}, nameRule, false},
		{"bad name to delete", []string{"groups", "delete", "ADMINS"}, nameRule, false},
		{"bad name of members", []string{"groups", "members", "admins!"}, nameRule, false},
		{"taken", []string{"groups", "create", "admins"}, `group "admins" already exists`, false},
		{"unknown group to add to", []string{"groups", "add", "staff", "bob"}, `no group "staff"`, false},
		{"unknown group to remove from", []string{"groups", "remove", "staff", "alice"}, `no group "staff"`, false},
		{"unknown group to delete", []string{"groups", "delete", "staff"}, `no group "staff"`, false},
		{"unknown group's members", []string{"groups", "members", "staff"}, `no group "staff"`, false},
		{"group by prefix", []string{"groups", "members", "admin"}, `no group "admin"`, false},
		{"unknown user to add", []string{"groups", "add", "admins", "nobody"}, `no user "nobody"`, false},
		{"unknown user to remove", []string{"groups", "remove", "admins", "nobody"}, `no user "nobody"`, false},
		{"user by sub", []string{"groups", "add", "admins", f.bob.ID}, `no user "` + f.bob.ID + `"`, false},
		{"no subcommand", []string{"groups"}, "Usage:", true},
		{"unknown subcommand", []string{"groups", "rename", "admins", "ops"}, `unknown groups command "rename"`, true},
		{"no group to create", []string{"groups", "create"}, "give one group", true},
		{"two groups to create", []string{"groups", "create", "a", "b"}, "give one group", true},
		{"no user to add", []string{"groups", "add", "admins"}, "give the group and the user", true},
		{"three to add", []string{"groups", "add", "admins", "bob", "carol"}, "give the group and the user", true},
		{"no user to remove", []string{"groups", "remove", "admins"}, "give the group and the user", true},
		{"no group's members", []string{"groups", "members"}, "give one group", true},
		{"list with an argument", []string{"groups", "list", "admins"}, "list takes no arguments", true},
		{"unknown flag", []string{"groups", "create", "ops", "--force"}, "flag provided but not defined: -force", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := cli(t, f.db, "", tc.args...)
			if err == nil {
				t.Fatalf("got %q and no error, want an error mentioning %q", out, tc.want)
			}
			if !strings.Contains(out+err.Error(), tc.want) {
				t.Errorf("got %q, %v; want an error mentioning %q", out, err, tc.want)
			}
			if got := errors.Is(err, errUsage); got != tc.usage {
				t.Errorf("errors.Is(err, errUsage): got %v, want %v (err %v)", got, tc.usage, err)
			}
			if tc.usage && !strings.Contains(out, "gatehouse groups create NAME") {
				t.Errorf("got %q, want the usage", out)
			}
			if after := f.groupState(t); after != before {
				t.Errorf("state changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// TestGroupsFollowUserDelete: deleting a user ends their memberships, and
// the group and its other members stay.
func TestGroupsFollowUserDelete(t *testing.T) {
	f := newSessionsFixture(t)
	for _, args := range [][]string{
		{"groups", "create", "admins"},
		{"groups", "add", "admins", "alice"},
		{"groups", "add", "admins", "bob"},
		{"users", "delete", "alice"},
	} {
		if out, err := cli(t, f.db, "", args...); err != nil {
			t.Fatalf("%s: %q, %v", strings.Join(args, " "), out, err)
		}
	}
	out, err := cli(t, f.db, "", "groups", "members", "admins")
	if err != nil || out != "bob\n" {
		t.Errorf("groups members admins: got %q, %v; want bob alone", out, err)
	}
}
