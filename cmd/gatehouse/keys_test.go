package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// keyRows parses `gatehouse keys list` output into kid → [alg, state].
func keyRows(t *testing.T, out string) map[string][2]string {
	t.Helper()
	rows := map[string][2]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 8 || f[0] == "KID" {
			continue
		}
		rows[f[0]] = [2]string{f[1], f[2]}
	}
	return rows
}

func countState(rows map[string][2]string, alg, state string) (kids []string) {
	for kid, r := range rows {
		if r[0] == alg && r[1] == state {
			kids = append(kids, kid)
		}
	}
	return kids
}

func TestKeysCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "g.db")

	out, err := cli(t, db, "", "keys", "list")
	if err != nil || !strings.Contains(out, "KID") || len(keyRows(t, out)) != 0 {
		t.Fatalf("keys list on an empty store: got %q, %v; want the header only", out, err)
	}

	// On a store without keys, rotate creates keys that sign at once.
	out, err = cli(t, db, "", "keys", "rotate")
	if err != nil {
		t.Fatalf("keys rotate: %q, %v", out, err)
	}
	rows := keyRows(t, out)
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		if n := len(countState(rows, alg, "active")); n != 1 {
			t.Errorf("after the first rotate: got %d active %s keys, want 1 (%q)", n, alg, out)
		}
	}

	// A normal rotation: successors published now, pending.
	out, err = cli(t, db, "", "keys", "rotate")
	if err != nil || strings.Count(out, "created key") != 3 {
		t.Fatalf("second keys rotate: got %q, %v; want three keys created (RS256, ES256, EdDSA)", out, err)
	}
	rows = keyRows(t, out)
	active, pending := countState(rows, "RS256", "active"), countState(rows, "RS256", "pending")
	if len(active) != 1 || len(pending) != 1 {
		t.Fatalf("after a rotation: got RS256 active %q and pending %q, want one of each (%q)", active, pending, out)
	}
	out, err = cli(t, db, "", "keys", "rotate")
	if err != nil || !strings.Contains(out, "nothing to do") {
		t.Errorf("third keys rotate: got %q, %v; want nothing to do", out, err)
	}

	// Revoking the active key activates its pending successor at once.
	out, err = cli(t, db, "", "keys", "revoke", active[0])
	if err != nil || !strings.Contains(out, "revoked key "+active[0]) || !strings.Contains(out, pending[0]+" signs from now on") {
		t.Fatalf("keys revoke: got %q, %v; want %s revoked and %s signing", out, err, active[0], pending[0])
	}
	rows = keyRows(t, out)
	if _, listed := rows[active[0]]; listed {
		t.Errorf("keys list after revoke still shows %s", active[0])
	}
	if got := rows[pending[0]][1]; got != "active" {
		t.Errorf("state of the successor after revoke: got %q, want active", got)
	}

	out, err = cli(t, db, "", "keys", "revoke", "no-such-kid")
	if err == nil || !strings.Contains(err.Error(), "no signing key") {
		t.Errorf("keys revoke of an unknown kid: got %q, %v; want an error", out, err)
	}
	for _, args := range [][]string{{"keys"}, {"keys", "frob"}, {"keys", "revoke"}, {"keys", "list", "x"}, {"keys", "rotate", "x"}} {
		if _, err := cli(t, db, "", args...); !errors.Is(err, errUsage) {
			t.Errorf("gatehouse %v: got %v, want the usage error", args, err)
		}
	}
}
