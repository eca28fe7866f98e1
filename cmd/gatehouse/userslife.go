package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-idp/gatehouse/admin"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// usersLifecycle is `gatehouse users show|update|enable|delete USERNAME`.
func usersLifecycle(ctx context.Context, env environment, cmd string, args []string) error {
	fs := newFlagSet("users "+cmd, env)
	load := configFlag(fs, env)
	email := fs.String("email", "", "new email address (update)")
	name := fs.String("name", "", "new full name (update)")
	verified := fs.String("email-verified", "", "true or false: whether the email address is verified (update)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(env, err, usersUsage)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var why string
	switch {
	case len(pos) != 1:
		why = "give one user"
	case cmd != "update" && (set["email"] || set["name"] || set["email-verified"]):
		why = "--email, --name and --email-verified are for update"
	case cmd == "update" && !set["email"] && !set["name"] && !set["email-verified"]:
		why = "give what to change: --email, --name or --email-verified"
	}
	if why != "" {
		fmt.Fprint(env.stderr, why+"\n\n"+usersUsage)
		return errUsage
	}
	var verifiedValue bool
	if set["email-verified"] {
		if verifiedValue, err = strconv.ParseBool(*verified); err != nil {
			return fmt.Errorf("--email-verified: want true or false, got %q", *verified)
		}
	}
	var ch admin.UserChange
	if set["email"] {
		ch.Email = email
	}
	if set["name"] {
		ch.Name = name
	}
	if set["email-verified"] {
		ch.EmailVerified = &verifiedValue
	}
	if cmd == "enable" {
		enabled := false
		ch.Disabled = &enabled
	}
	if err := ch.Check(); err != nil {
		return flagProblems(err)
	}
	// delete ends sessions, which may be in Redis; the rest needs SQL alone.
	use := sqlOnly
	if cmd == "delete" {
		use = withSessions
	}
	cfg, store, err := openCommandStores(ctx, load, use)
	if err != nil {
		return err
	}
	defer store.Close()
	u, err := userByName(ctx, store, pos[0])
	if err != nil {
		return err
	}
	ops := operatorActions(cfg, store, nil)
	switch cmd {
	case "show":
		return showUser(ctx, env, store, u)
	case "delete":
		return deleteUser(ctx, env, ops, u)
	}
	res, err := ops.UpdateUser(ctx, admin.Operator, u, ch)
	switch {
	case errors.Is(err, admin.ErrChanged):
		return fmt.Errorf("%s changed while this command ran: run it again", u.Username)
	case res.User == nil:
		return err
	case cmd == "enable" && len(res.Changed) == 0:
		fmt.Fprintf(env.stdout, "%s is enabled already\n", u.Username)
	case len(res.Changed) == 0:
		fmt.Fprintf(env.stdout, "%s: nothing to change\n", u.Username)
	case cmd == "enable":
		fmt.Fprintf(env.stdout, "enabled: %s\n", u.Username)
	default:
		fmt.Fprintf(env.stdout, "updated %s: %s\n", u.Username, strings.Join(res.Changed, ", "))
	}
	return err
}

// flagProblems turns the problems of a change (admin.Invalid) into the
// CLI's error, naming each field as its flag.
func flagProblems(err error) error {
	var bad admin.Invalid
	if !errors.As(err, &bad) {
		return err
	}
	msgs := make([]string, len(bad))
	for i, p := range bad {
		msgs[i] = "--" + strings.ReplaceAll(p.Field, "_", "-") + ": " + p.Msg
	}
	return errors.New(strings.Join(msgs, "\n"))
}

// showUser prints u, one "key: value" line each.
func showUser(ctx context.Context, env environment, store *stores, u *storage.User) error {
	factors, err := factorNames(ctx, store, u.ID)
	if err != nil {
		return fmt.Errorf("second factors of %s: %w", u.Username, err)
	}
	status := "active"
	if u.Disabled {
		status = "disabled"
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 1, ' ', 0)
	fmt.Fprintf(tw, "user:\t%s\n", u.Username)
	fmt.Fprintf(tw, "sub:\t%s\n", u.ID)
	fmt.Fprintf(tw, "email:\t%s\n", orDash(u.Email))
	fmt.Fprintf(tw, "email verified:\t%t\n", u.EmailVerified)
	fmt.Fprintf(tw, "name:\t%s\n", orDash(u.Name))
	fmt.Fprintf(tw, "status:\t%s\n", status)
	fmt.Fprintf(tw, "second factors:\t%s\n", factors)
	fmt.Fprintf(tw, "created:\t%s\n", u.CreatedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "updated:\t%s\n", u.UpdatedAt.UTC().Format(time.RFC3339))
	return tw.Flush()
}

// deleteUser deletes u (admin.Service.DeleteUser: signed out everywhere
// first, the audit trail keeps the sub).
func deleteUser(ctx context.Context, env environment, ops *admin.Service, u *storage.User) error {
	again := fmt.Sprintf("run gatehouse users delete %s again to finish", u.Username)
	res, err := ops.DeleteUser(ctx, admin.Operator, u)
	reportEnded(env, u, res.SignedOut, true, err)
	if err != nil {
		return fmt.Errorf("%w; %s", err, again)
	}
	if res.Deleted {
		fmt.Fprintf(env.stdout, "deleted user %s (sub %s)\n", u.Username, u.ID)
	} else {
		fmt.Fprintf(env.stdout, "%s was deleted meanwhile\n", u.Username)
	}
	return nil
}
