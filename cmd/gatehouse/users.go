package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-idp/gatehouse/admin"
	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// newUser builds a user with a fresh id and an argon2id hash of password
// (admin.BuildUser), not stored.
func newUser(username, email, name, password string) (*storage.User, error) {
	return admin.BuildUser(admin.NewUser{Username: username, Email: email, Name: name, Password: password}, time.Now(), rand.Reader)
}

// readPassword reads one line from stdin: the password, without its
// trailing newline.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, loginui.MaxPasswordBytes+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if len(line) > loginui.MaxPasswordBytes {
		return "", loginui.ErrPasswordTooLong
	}
	return line, nil
}

const usersUsage = `Usage:
  gatehouse users add USERNAME [--email E] [--name "Full Name"] --password-stdin
  gatehouse users list
  gatehouse users show USERNAME
  gatehouse users update USERNAME [--email E] [--name "Full Name"] [--email-verified true|false]
  gatehouse users passwd USERNAME --password-stdin
  gatehouse users disable USERNAME
  gatehouse users enable USERNAME
  gatehouse users delete USERNAME
  gatehouse users mfa USERNAME
  gatehouse users mfa reset USERNAME --totp | --passkeys | --all
  gatehouse users import FILE [--format csv|jsonl] [--create-groups] [--dry-run]

list shows each user's second factors in its MFA column: totp for a
one-time code, passkeys, both (totp,passkeys), or - for none.

mfa shows a user's second factors: whether a one-time code is set up, since
when and when it was last used, how many recovery codes are left, and each
passkey with when it was added and last used.

mfa reset removes second factors, for a user who lost their phone or key.
Name exactly one of:
  --totp      the one-time code
  --passkeys  every passkey
  --all       every second factor
The recovery codes go too when no second factor is left. The user then
signs in with what is left, or sets up a new factor at the next sign-in
where one is required (mfa: required, require_mfa).

update changes the email address (which then counts as unverified unless
--email-verified true is given too), the name, or whether the email
address is verified (the email_verified claim).

delete removes the user for good: every session ends (apps are told),
every refresh token, consent, one-time code, passkey, recovery code and
group membership goes, and the username is free again; the audit trail keeps the user's
events under their sub.

passwd, disable, delete and mfa reset also sign the user out everywhere: every
session ends (apps with a backchannel_logout_uri are told) and every
refresh token is revoked, so access tokens stop working at userinfo and
introspection.

import reads users with their password hashes (bcrypt or argon2id) from
a CSV or JSON Lines file, all or nothing: see gatehouse users import --help.

Passwords are read from standard input, never from the command line.

Examples:
  echo 'correct horse battery staple' | gatehouse users add alice --email alice@example.com --name "Alice Liddell" --password-stdin
  gatehouse users list
  gatehouse users passwd alice --password-stdin < new-password.txt
  gatehouse users update alice --email alice@example.org --email-verified true
  gatehouse users disable alice
  gatehouse users mfa alice
  gatehouse users mfa reset alice --totp
`

func users(ctx context.Context, env environment, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(env.stderr, usersUsage)
		return errUsage
	}
	if isHelp(args[0]) {
		fmt.Fprint(env.stdout, usersUsage)
		return nil
	}
	switch args[0] {
	case "mfa":
		return usersMFA(ctx, env, args[1:])
	case "show", "update", "enable", "delete":
		return usersLifecycle(ctx, env, args[0], args[1:])
	case "import":
		return usersImport(ctx, env, args[1:])
	}
	fs := newFlagSet("users "+args[0], env)
	load := configFlag(fs, env)
	email := fs.String("email", "", "email address (add)")
	name := fs.String("name", "", "full name (add)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from standard input")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return flagError(env, err, usersUsage)
	}
	want := map[string]int{"add": 1, "list": 0, "passwd": 1, "disable": 1}
	n, known := want[args[0]]
	if !known || len(pos) != n {
		fmt.Fprint(env.stderr, usersUsage)
		return errUsage
	}
	if (args[0] == "add" || args[0] == "passwd") && !*fromStdin {
		return errors.New("give the password on standard input with --password-stdin")
	}
	// passwd and disable end the user's sessions; add and list need only SQL.
	use := sqlOnly
	if args[0] == "passwd" || args[0] == "disable" {
		use = withSessions
	}
	cfg, store, err := openCommandStores(ctx, load, use)
	if err != nil {
		return err
	}
	defer store.Close()

	ops := operatorActions(cfg, store, nil)
	switch args[0] {
	case "add":
		password, err := readPassword(env.stdin)
		if err != nil {
			return err
		}
		u, err := ops.CreateUser(ctx, admin.Operator, admin.NewUser{Username: pos[0], Email: *email, Name: *name, Password: password})
		if errors.Is(err, storage.ErrConflict) {
			return fmt.Errorf("user %q already exists", loginui.CanonicalUsername(pos[0]))
		} else if u == nil {
			return err
		}
		fmt.Fprintf(env.stdout, "added user %s (sub %s)\n", u.Username, u.ID)
		return err
	case "list":
		list, err := store.ListUsers(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tSUB\tEMAIL\tNAME\tSTATUS\tMFA")
		for _, u := range list {
			status := "active"
			if u.Disabled {
				status = "disabled"
			}
			factors, err := factorNames(ctx, store, u.ID)
			if err != nil {
				return fmt.Errorf("second factors of %s: %w", u.Username, err)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Username, u.ID, u.Email, u.Name, status, factors)
		}
		return tw.Flush()
	case "passwd", "disable":
		u, err := userByName(ctx, store, pos[0])
		if err != nil {
			return err
		}
		var ch admin.UserChange
		if args[0] == "passwd" {
			password, err := readPassword(env.stdin)
			if err != nil {
				return err
			}
			ch.Password = &password
		} else {
			disabled := true
			ch.Disabled = &disabled
		}
		res, err := ops.UpdateUser(ctx, admin.Operator, u, ch)
		if res.User == nil {
			return err
		}
		if len(res.Changed) == 0 {
			// Disabled already: sign out again what a failed disable left.
			fmt.Fprintf(env.stdout, "%s is disabled already\n", u.Username)
			return endUserSessions(ctx, env, ops, u, "user disabled", true)
		}
		fmt.Fprintf(env.stdout, "%s: %s\n", map[string]string{"passwd": "password changed", "disable": "disabled"}[args[0]], u.Username)
		reportEnded(env, u, res.SignedOut, true, err)
		if err != nil && !errors.Is(err, admin.ErrNotRecorded) {
			return fmt.Errorf("%w; run gatehouse users %s again to finish signing %s out", err, args[0], u.Username)
		}
		return err
	}
	return nil
}
