package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
)

// backendVar selects the stores of a whole conformance run; empty is the
// embedded default, "postgres+redis" the production shape.
const (
	backendVar = "GATEHOUSE_CONFORMANCE_BACKEND"
	binaryVar  = "GATEHOUSE_CONFORMANCE_BINARY"
	// testKEK is the key-encryption key of production-shaped test servers
	// (instances sharing one database must share it).
	testKEK = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
)

// suiteBackend returns the environment that selects the stores for the
// servers of this run.
func suiteBackend(t *testing.T) []string {
	if os.Getenv(backendVar) != "postgres+redis" {
		return nil
	}
	return productionBackend(t, nil, nil)
}

// redisTestURL is the Redis the tests use; an unreachable one skips the
// test, or fails it under CI=true.
func redisTestURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("GATEHOUSE_TEST_REDIS")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	opts, err := goredis.ParseURL(u)
	if err != nil {
		t.Fatalf("GATEHOUSE_TEST_REDIS: %v", err)
	}
	c := goredis.NewClient(opts)
	defer c.Close()
	if err := c.Ping(t.Context()).Err(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis at GATEHOUSE_TEST_REDIS (%s) is unreachable: %v", opts.Addr, err)
		}
		t.Skipf("Redis at GATEHOUSE_TEST_REDIS (%s) is unreachable, skipping: %v", opts.Addr, err)
	}
	return u
}

// productionBackend returns the environment of a Postgres + Redis server
// with a fresh schema and key prefix. Through non-nil proxies the server
// reaches each store via a faultProxy.
func productionBackend(t *testing.T, pgProxy, redisProxy func(target string) string) []string {
	t.Helper()
	dsn := pgtest.DSN(t)
	redisURL := redisTestURL(t)
	if pgProxy != nil {
		dsn = viaProxy(t, dsn, pgProxy)
	}
	if redisProxy != nil {
		redisURL = viaProxy(t, redisURL, redisProxy)
	}
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "ghconf:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() { deleteRedisPrefix(redisURL, prefix) })
	return []string{
		"GATEHOUSE_DATABASE_URL=" + dsn,
		"GATEHOUSE_REDIS_URL=" + redisURL,
		"GATEHOUSE_REDIS_KEY_PREFIX=" + prefix,
		"GATEHOUSE_KEY_ENCRYPTION_KEY=" + testKEK,
	}
}

// viaProxy rewrites the host:port of a URL to a proxy in front of it.
func viaProxy(t *testing.T, raw string, proxy func(target string) string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	host := u.Host
	if u.Port() == "" {
		port := "5432"
		if strings.HasPrefix(u.Scheme, "redis") {
			port = "6379"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	u.Host = proxy(host)
	return u.String()
}

// deleteRedisPrefix removes a test's keys (they would expire anyway).
func deleteRedisPrefix(redisURL, prefix string) {
	opts, err := goredis.ParseURL(redisURL)
	if err != nil {
		return
	}
	c := goredis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
	for iter.Next(ctx) {
		c.Del(ctx, iter.Val())
	}
}

var passLine = regexp.MustCompile(`(?m)^\s*--- (PASS|FAIL|SKIP): (\S+)`)

// TestSuiteOnPostgresAndRedis runs this whole package again, in a child
// test process, with every server on Postgres + Redis.
func TestSuiteOnPostgresAndRedis(t *testing.T) {
	if os.Getenv(backendVar) != "" {
		t.Skip("this run already uses " + os.Getenv(backendVar))
	}
	pgtest.DSN(t) // skip or fail early when the servers are unreachable
	redisTestURL(t)
	cmd := exec.Command(os.Args[0], "-test.run", "^Test", "-test.count=1", "-test.v", "-test.timeout=8m")
	cmd.Env = append(os.Environ(), backendVar+"=postgres+redis", binaryVar+"="+binary)
	out, err := cmd.CombinedOutput()
	counts := map[string]int{}
	for _, m := range passLine.FindAllStringSubmatch(string(out), -1) {
		if !strings.Contains(m[2], "/") {
			counts[m[1]]++
		}
	}
	if err != nil {
		t.Fatalf("the conformance suite on Postgres + Redis failed (%v):\n%s", err, out)
	}
	if counts["PASS"] == 0 {
		t.Fatalf("the conformance suite on Postgres + Redis passed no test:\n%s", out)
	}
	t.Logf("on Postgres + Redis: %d tests passed, %d skipped", counts["PASS"], counts["SKIP"])
}
