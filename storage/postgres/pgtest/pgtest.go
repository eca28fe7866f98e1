// Package pgtest gives tests a Postgres database of their own: a fresh,
// empty schema on the server named by GATEHOUSE_TEST_POSTGRES, dropped when
// the test ends.
//
// It depends on pgx only, not on Gatehouse's Postgres backend, so that any
// package's tests can use it to point a server or a store at a clean
// database.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvVar names the environment variable holding the test server's DSN.
const EnvVar = "GATEHOUSE_TEST_POSTGRES"

// DefaultDSN is the test server used when EnvVar is unset or empty.
const DefaultDSN = "postgres://127.0.0.1:5432/test?sslmode=disable"

// connectTimeout bounds each connection DSN makes to set up or drop a schema.
const connectTimeout = 5 * time.Second

// DSN returns a DSN for the test server (EnvVar, else DefaultDSN) whose
// search_path is a fresh, empty schema named gh_test_<random hex>, and
// arranges for the schema and everything in it to be dropped when t ends.
// Register any cleanup that must run before the drop (closing a pool) after
// calling DSN, since cleanups run last-registered first.
//
// If the server cannot be reached, DSN skips t with a message naming
// EnvVar, or fails it when the environment variable CI is "true".
//
// The DSN may be a postgres:// URL or a keyword/value string; search_path
// is added as a URL query parameter or a keyword, which both pgxpool and
// pgx's database/sql driver send to the server as a run-time parameter.
func DSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvVar)
	if base == "" {
		base = DefaultDSN
	}
	ctx, cancel := context.WithTimeout(t.Context(), connectTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pgtest: Postgres test server unreachable (%s): %v", EnvVar, err)
		}
		t.Skipf("pgtest: skipping, Postgres test server unreachable: %v; "+
			"set %s to a reachable server's DSN (default %s); under CI=true this fails instead",
			err, EnvVar, DefaultDSN)
	}
	defer conn.Close(ctx)

	schema := "gh_test_" + randomHex(8)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("pgtest: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		// t.Context is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), connectTimeout)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	return WithParam(base, "search_path", schema)
}

// WithParam returns dsn with the connection parameter key set to value,
// added to a postgres:// URL's query or appended to a keyword/value string
// (where a later keyword overrides an earlier one). value must need no
// quoting in keyword/value form: no spaces, quotes or backslashes.
func WithParam(dsn, key, value string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			q.Set(key, value)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return strings.TrimSpace(dsn) + " " + key + "=" + value
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
