package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// cli runs gatehouse in-process against the database at db.
func cli(t *testing.T, db, stdin string, args ...string) (string, error) {
	t.Helper()
	env := map[string]string{"GATEHOUSE_DATABASE_URL": db}
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"gatehouse"}, args...), func(k string) string { return env[k] },
		strings.NewReader(stdin), &out, &errOut)
	return out.String() + errOut.String(), err
}

func TestUsersCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "g.db")
	const pw = "a passphrase long enough"

	out, err := cli(t, db, pw+"\n", "users", "add", "Alice", "--email", "alice@example.com", "--name", "Alice Liddell", "--password-stdin")
	if err != nil || !strings.Contains(out, "added user alice") {
		t.Fatalf("users add: got %q, %v; want the canonical username added", out, err)
	}
	out, err = cli(t, db, "", "users", "list")
	if err != nil || !strings.Contains(out, "alice") || !strings.Contains(out, "alice@example.com") || !strings.Contains(out, "active") {
		t.Fatalf("users list: got %q, %v", out, err)
	}

	bad := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"duplicate", pw, []string{"users", "add", "alice", "--password-stdin"}, "already exists"},
		{"duplicate in another case", pw, []string{"users", "add", "ALICE", "--password-stdin"}, "already exists"},
		{"short password", "short", []string{"users", "add", "bob", "--password-stdin"}, "at least 15"},
		{"empty stdin", "", []string{"users", "add", "bob", "--password-stdin"}, "at least 15"},
		{"password on the command line is not an option", "", []string{"users", "add", "bob"}, "--password-stdin"},
		{"bad username", pw, []string{"users", "add", "bob smith", "--password-stdin"}, "username"},
		{"unknown user passwd", pw, []string{"users", "passwd", "nobody", "--password-stdin"}, "no user"},
		{"unknown user disable", "", []string{"users", "disable", "nobody"}, "no user"},
		{"oversized password", strings.Repeat("x", loginui.MaxPasswordBytes+10), []string{"users", "add", "carol", "--password-stdin"}, "password"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			out, err := cli(t, db, tc.stdin, tc.args...)
			if err == nil || !strings.Contains(out+err.Error(), tc.want) {
				t.Errorf("got %q, %v; want an error mentioning %q", out, err, tc.want)
			}
		})
	}
	for _, args := range [][]string{{"users"}, {"users", "frobnicate"}, {"users", "add"}, {"users", "list", "extra"}, {"nonsense"}, {}} {
		if _, err := cli(t, db, "", args...); !errors.Is(err, errUsage) {
			t.Errorf("gatehouse %v: got %v, want the usage error", args, err)
		}
	}

	const newPW = "another passphrase, also long"
	if out, err := cli(t, db, newPW+"\n", "users", "passwd", "alice", "--password-stdin"); err != nil {
		t.Fatalf("users passwd: %q, %v", out, err)
	}
	if out, err := cli(t, db, "", "users", "disable", "alice"); err != nil {
		t.Fatalf("users disable: %q, %v", out, err)
	}
	store, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	u, err := store.UserByUsername(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !u.Disabled || u.Email != "alice@example.com" || u.Name != "Alice Liddell" {
		t.Errorf("stored user: got %+v, want disabled with email and name kept", u)
	}
	for pass, want := range map[string]bool{newPW: true, pw: false} {
		if ok, err := loginui.VerifyPassword(u.PasswordHash, pass); err != nil || ok != want {
			t.Errorf("VerifyPassword(%q): got %v, %v; want %v", pass, ok, err, want)
		}
	}
	if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash: got %q, want an argon2id PHC string with the default parameters", u.PasswordHash)
	}
}

func TestServeRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{
		"GATEHOUSE_DATABASE_URL": filepath.Join(dir, "g.db"),
		"GATEHOUSE_ISSUER":       "http://example.com/",
		"GATEHOUSE_LISTEN":       "nowhere",
	}
	var out bytes.Buffer
	err := run(context.Background(), []string{"gatehouse", "serve"}, func(k string) string { return env[k] }, strings.NewReader(""), &out, &out)
	if err == nil {
		t.Fatal("serve with a bad issuer and listen address: got nil error")
	}
	for _, want := range []string{"issuer", "listen"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}
