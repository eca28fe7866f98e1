package main

import (
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-idp/gatehouse/provider"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// TestClientsToken: token prints a token whose SHA-256 alone is stored,
// tokens lists it by ID with its uses, revoke deletes it; each change is
// audited; bad command lines change nothing.
func TestClientsToken(t *testing.T) {
	db := filepath.Join(t.TempDir(), "g.db")
	out, err := cli(t, db, "", "clients", "token", "--expires", "2h", "--max-uses", "3")
	if err != nil {
		t.Fatalf("clients token: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`initial access token ([0-9a-f]{12}) .*\n  ([A-Za-z0-9_-]{43})\nexpires .*, at most 3 registrations\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("clients token output: got %q, want an ID, a 43-character token, its expiry and uses", out)
	}
	id, token := m[1], m[2]

	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	list, err := st.InitialAccessTokens(t.Context())
	st.Close()
	if err != nil || len(list) != 1 || list[0].ID != id || list[0].Hash != provider.TokenHash(token) || list[0].MaxUses != 3 {
		t.Fatalf("stored tokens: got %+v, %v; want one, %s, holding the token's SHA-256 only", list, err, id)
	}

	out, err = cli(t, db, "", "clients", "tokens")
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "0 of 3") || strings.Contains(out, token) {
		t.Errorf("clients tokens: got %v\n%s\nwant %s with 0 of 3 uses and never the token", err, out, id)
	}
	// Bad input tried: expiries out of range, negative uses, an unknown ID,
	// a stray argument.
	for _, args := range [][]string{
		{"--expires", "0s"}, {"--expires", "9000h"}, {"--max-uses", "-1"},
	} {
		if _, err := cli(t, db, "", append([]string{"clients", "token"}, args...)...); err == nil {
			t.Errorf("clients token %v: no error, want a refusal", args)
		}
	}
	if _, err := cli(t, db, "", "clients", "token", "revoke", "nope"); err == nil || !strings.Contains(err.Error(), `no initial access token "nope"`) {
		t.Errorf("revoke of an unknown ID: got %v, want no initial access token", err)
	}
	if _, err := cli(t, db, "", "clients", "token", "extra"); !errors.Is(err, errUsage) {
		t.Errorf("clients token extra: got %v, want the usage error", err)
	}
	if out, err := cli(t, db, "", "clients", "token", "revoke", id); err != nil || !strings.Contains(out, "revoked initial access token "+id) {
		t.Fatalf("clients token revoke: %v\n%s", err, out)
	}
	out, err = cli(t, db, "", "audit", "--json")
	if err != nil || !strings.Contains(out, `"kind":"initial_access_token_created","actor":"operator"`) ||
		!strings.Contains(out, `"kind":"initial_access_token_revoked","actor":"operator"`) || strings.Contains(out, token) {
		t.Errorf("audit: got %v\n%s\nwant the token minted and revoked by operator, never the token", err, out)
	}
}
