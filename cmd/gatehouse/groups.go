package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"text/tabwriter"

	"github.com/gatehouse-idp/gatehouse/admin"
	"github.com/gatehouse-idp/gatehouse/storage"
)

const groupsUsage = `Usage:
  gatehouse groups create NAME
  gatehouse groups delete NAME
  gatehouse groups list
  gatehouse groups add NAME USERNAME
  gatehouse groups remove NAME USERNAME
  gatehouse groups members NAME

A group is a named set of users. NAME is 1–64 characters from a–z, 0–9
and . _ -.

list shows every group with how many members it has; members prints the
usernames of a group's members, one a line. delete removes the group and
every membership in it, not its users; deleting a user ends their
memberships. Adding a member again changes nothing.

Every change is recorded in the audit trail with actor operator:
group_created, group_deleted, group_member_added, group_member_removed.

Examples:
  gatehouse groups create admins
  gatehouse groups add admins alice
  gatehouse groups members admins
  gatehouse groups remove admins alice
  gatehouse groups list
`

// groupNameError is the answer to a name storage.ValidGroupName refuses.
func groupNameError(name string) error {
	return fmt.Errorf("group name %s", admin.GroupNameProblem(name))
}

// groupsCommand is `gatehouse groups create|delete|list|add|remove|members`.
// The command line and the group's name are checked before the store is
// opened, so that bad input changes nothing.
func groupsCommand(ctx context.Context, env environment, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(env.stderr, groupsUsage)
		return errUsage
	}
	if isHelp(args[0]) {
		fmt.Fprint(env.stdout, groupsUsage)
		return nil
	}
	cmd := args[0]
	fs := newFlagSet("groups "+cmd, env)
	load := configFlag(fs, env)
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return flagError(env, err, groupsUsage)
	}
	want := map[string]int{"create": 1, "delete": 1, "list": 0, "add": 2, "remove": 2, "members": 1}
	n, known := want[cmd]
	var why string
	switch {
	case !known:
		why = fmt.Sprintf("unknown groups command %q", cmd)
	case len(pos) != n && n == 2:
		why = "give the group and the user: NAME USERNAME"
	case len(pos) != n && n == 1:
		why = "give one group"
	case len(pos) != n:
		why = "list takes no arguments"
	}
	if why != "" {
		fmt.Fprint(env.stderr, why+"\n\n"+groupsUsage)
		return errUsage
	}
	if n > 0 && !storage.ValidGroupName(pos[0]) {
		return groupNameError(pos[0])
	}
	cfg, store, err := openCommandStores(ctx, load, sqlOnly)
	if err != nil {
		return err
	}
	defer store.Close()

	ops := operatorActions(cfg, store, nil)
	switch cmd {
	case "create":
		return createGroup(ctx, env, ops, pos[0])
	case "delete":
		return deleteGroup(ctx, env, ops, pos[0])
	case "list":
		return listGroups(ctx, env, store)
	case "members":
		return groupMembers(ctx, env, store, pos[0])
	}
	u, err := userByName(ctx, store, pos[1])
	if err != nil {
		return err
	}
	if cmd == "add" {
		return addGroupMember(ctx, env, ops, pos[0], u)
	}
	return removeGroupMember(ctx, env, ops, pos[0], u)
}

func createGroup(ctx context.Context, env environment, ops *admin.Service, name string) error {
	g, err := ops.CreateGroup(ctx, admin.Operator, name)
	if errors.Is(err, storage.ErrConflict) {
		return fmt.Errorf("group %q already exists", name)
	} else if g == nil {
		return err
	}
	fmt.Fprintf(env.stdout, "created group %s\n", name)
	return err
}

func deleteGroup(ctx context.Context, env environment, ops *admin.Service, name string) error {
	err := ops.DeleteGroup(ctx, admin.Operator, name)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("no group %q", name)
	} else if err != nil && !errors.Is(err, admin.ErrNotRecorded) {
		return err
	}
	fmt.Fprintf(env.stdout, "deleted group %s\n", name)
	return err
}

// listGroups prints every group by name with its number of members. A
// group deleted between the list and its count is left out.
func listGroups(ctx context.Context, env environment, store *stores) error {
	list, err := store.ListGroups(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tMEMBERS")
	for _, g := range list {
		ids, err := store.GroupMembers(ctx, g.Name)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		} else if err != nil {
			return fmt.Errorf("members of %s: %w", g.Name, err)
		}
		fmt.Fprintf(tw, "%s\t%d\n", g.Name, len(ids))
	}
	return tw.Flush()
}

// groupMembers prints the usernames of the group's members, one a line,
// sorted. A user deleted meanwhile is left out.
func groupMembers(ctx context.Context, env environment, store *stores, name string) error {
	ids, err := store.GroupMembers(ctx, name)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("no group %q", name)
	} else if err != nil {
		return err
	}
	names := make([]string, 0, len(ids))
	for _, id := range ids {
		u, err := store.UserByID(ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		} else if err != nil {
			return err
		}
		names = append(names, u.Username)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintln(env.stdout, n)
	}
	return nil
}

// addGroupMember makes u a member of the group; a member already is told
// so, and nothing is recorded.
func addGroupMember(ctx context.Context, env environment, ops *admin.Service, name string, u *storage.User) error {
	added, err := ops.AddGroupMember(ctx, admin.Operator, name, u.ID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		// The user was there a moment ago: it is the group that is not.
		return fmt.Errorf("no group %q", name)
	case err != nil && !errors.Is(err, admin.ErrNotRecorded):
		return err
	case !added:
		fmt.Fprintf(env.stdout, "%s is a member of %s already\n", u.Username, name)
	default:
		fmt.Fprintf(env.stdout, "added %s to %s\n", u.Username, name)
	}
	return err
}

// removeGroupMember ends u's membership of the group; a user who is not
// a member is told so, and nothing is recorded.
func removeGroupMember(ctx context.Context, env environment, ops *admin.Service, name string, u *storage.User) error {
	removed, err := ops.RemoveGroupMember(ctx, admin.Operator, name, u.ID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("no group %q", name)
	case err != nil && !errors.Is(err, admin.ErrNotRecorded):
		return err
	case !removed:
		fmt.Fprintf(env.stdout, "%s is not a member of %s\n", u.Username, name)
	default:
		fmt.Fprintf(env.stdout, "removed %s from %s\n", u.Username, name)
	}
	return err
}
