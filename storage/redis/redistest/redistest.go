// Package redistest gives tests a Redis key prefix of their own on the
// server named by GATEHOUSE_TEST_REDIS, and removes every key under it
// when the test ends. Main guards a package's run: it fails the run when
// keys under the production prefix (gatehouse:) appeared meanwhile, the
// mark of a test that forgot its own prefix.
//
// Like pgtest, it depends on go-redis only, not on Gatehouse's Redis
// backend, so that any package's tests can use it.
package redistest

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// EnvVar names the environment variable holding the test server's URL.
const EnvVar = "GATEHOUSE_TEST_REDIS"

// DefaultURL is the test server used when EnvVar is unset or empty.
const DefaultURL = "redis://127.0.0.1:6379/0"

// ProductionPrefix is the key prefix Gatehouse uses by default (the Redis
// backend's DefaultPrefix). No test may write under it: the test server
// may be shared with a running Gatehouse.
const ProductionPrefix = "gatehouse:"

// TestPrefix starts every prefix Prefix returns.
const TestPrefix = "ghtest:"

// timeout bounds each call this package makes.
const timeout = 5 * time.Second

// serverURL returns EnvVar's value, or DefaultURL.
func serverURL() string {
	if u := os.Getenv(EnvVar); u != "" {
		return u
	}
	return DefaultURL
}

// URL returns the URL of the test server (EnvVar, else DefaultURL). If the
// server cannot be reached it skips t with a message naming EnvVar, or
// fails it when the environment variable CI is "true".
func URL(t testing.TB) string {
	t.Helper()
	u := serverURL()
	c, err := client(u)
	if err != nil {
		t.Fatalf("redistest: %s: %v", EnvVar, err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), timeout)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redistest: Redis test server unreachable (%s): %v", EnvVar, err)
		}
		t.Skipf("redistest: skipping, Redis test server unreachable: %v; set %s to a reachable server's URL "+
			"(default %s); under CI=true this fails instead", err, EnvVar, DefaultURL)
	}
	return u
}

// Prefix returns a fresh key prefix, ghtest:<random>:, for a store or server
// of t's on the test server, and arranges for every key under it to be
// deleted when t ends, through a connection of its own (so a test may
// reach the server through a proxy it has cut). It skips or fails t as URL
// does.
func Prefix(t testing.TB) string {
	t.Helper()
	u := URL(t)
	prefix := TestPrefix + rand.Text()[:12] + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), timeout)
		defer cancel()
		if err := deletePrefix(ctx, u, prefix); err != nil {
			t.Errorf("redistest: delete the keys under %s: %v", prefix, err)
		}
	})
	return prefix
}

// Main runs the package's tests (m.Run) and returns their exit code, or 1
// when keys under ProductionPrefix appeared on the test server meanwhile:
// call it from TestMain as os.Exit(redistest.Main(m)). Without a reachable
// test server it only runs the tests.
func Main(m *testing.M) int {
	ctx := context.Background()
	before, err := scan(ctx, serverURL(), ProductionPrefix)
	code := m.Run()
	if err != nil {
		return code
	}
	after, err := scan(ctx, serverURL(), ProductionPrefix)
	if err != nil {
		return code
	}
	var added []string
	for _, k := range after {
		if _, found := slices.BinarySearch(before, k); !found {
			added = append(added, k)
		}
	}
	if len(added) == 0 {
		return code
	}
	shown := added[:min(len(added), 10)]
	fmt.Fprintf(os.Stderr, "redistest: %d keys under the production prefix %q appeared on the test Redis during this run (%s): %s\n"+
		"Every test must write under a prefix of its own (redistest.Prefix) and delete its keys. A test of this "+
		"package, or of a package tested at the same time, wrote them; or a Gatehouse with the default prefix "+
		"runs against this Redis (then give the tests another database: %s=redis://127.0.0.1:6379/15).\n",
		len(added), ProductionPrefix, serverURL(), strings.Join(shown, " "), EnvVar)
	return max(code, 1)
}

// client returns a client of the server at u.
func client(u string) (*goredis.Client, error) {
	opts, err := goredis.ParseURL(u)
	if err != nil {
		return nil, err
	}
	return goredis.NewClient(opts), nil
}

// scan returns the keys under prefix on the server at u, sorted.
func scan(ctx context.Context, u, prefix string) ([]string, error) {
	c, err := client(u)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var keys []string
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return nil, err
	}
	slices.Sort(keys)
	return keys, nil
}

// deletePrefix deletes every key under prefix on the server at u.
func deletePrefix(ctx context.Context, u, prefix string) error {
	keys, err := scan(ctx, u, prefix)
	if err != nil || len(keys) == 0 {
		return err
	}
	c, err := client(u)
	if err != nil {
		return err
	}
	defer c.Close()
	for chunk := range slices.Chunk(keys, 500) {
		if err := c.Unlink(ctx, chunk...).Err(); err != nil {
			return err
		}
	}
	return nil
}
