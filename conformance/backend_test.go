package conformance

import (
	"net"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
	"github.com/gatehouse-idp/gatehouse/storage/redis/redistest"
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
	return redistest.URL(t)
}

// productionBackend returns the environment of a Postgres + Redis server
// with a fresh schema and key prefix. Through non-nil proxies the server
// reaches each store via a faultProxy.
func productionBackend(t *testing.T, pgProxy, redisProxy func(target string) string) []string {
	t.Helper()
	dsn := pgtest.DSN(t)
	redisURL := redisTestURL(t)
	// The test's own prefix; its keys are deleted when the test ends,
	// directly, not through a proxy the test may have cut.
	prefix := redistest.Prefix(t)
	if pgProxy != nil {
		dsn = viaProxy(t, dsn, pgProxy)
	}
	if redisProxy != nil {
		redisURL = viaProxy(t, redisURL, redisProxy)
	}
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
