package main

import (
	"os"
	"strings"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage/redis/redistest"
)

// TestMain fails the run if any test left keys under Redis's production
// prefix (every test must use redistest.Prefix).
func TestMain(m *testing.M) {
	os.Exit(redistest.Main(m))
}

// checkRedisPrefix fails t when env points serve at Redis without a key
// prefix of the test's own (redistest.Prefix).
func checkRedisPrefix(t *testing.T, env map[string]string) {
	t.Helper()
	if env["GATEHOUSE_REDIS_URL"] != "" && !strings.HasPrefix(env["GATEHOUSE_REDIS_KEY_PREFIX"], redistest.TestPrefix) {
		t.Fatalf("serve on Redis with key prefix %q: want the test's own (redistest.Prefix), never the production one",
			env["GATEHOUSE_REDIS_KEY_PREFIX"])
	}
}
