package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage/redis/redistest"
)

// runCommand runs one gatehouse command in-process with exactly env and
// stdin, and returns its output and error.
func runCommand(t *testing.T, env map[string]string, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut strings.Builder
	err = run(context.WithoutCancel(t.Context()), append([]string{"gatehouse"}, args...), func(k string) string { return env[k] },
		strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

// The fault: Redis is configured but dead (refusing connections) or
// stalled (accepting them and never answering). Commands that only touch
// the SQL store (keys, users add, list and mfa, audit, clients, migrate)
// must work regardless; those that end or list sessions (users passwd,
// users mfa reset) need Redis and fail, naming it, before they change
// anything.
func TestSQLCommandsWorkWithoutRedis(t *testing.T) {
	for _, redis := range []struct{ name, addr string }{
		{"stalled", silentServer(t)},
		{"refusing", closedPort(t)},
	} {
		t.Run(redis.name, func(t *testing.T) {
			dir := t.TempDir()
			env := map[string]string{
				"GATEHOUSE_DATABASE_URL":       filepath.Join(dir, "g.db"),
				"GATEHOUSE_CLIENTS_FILE":       filepath.Join(dir, "clients.yaml"),
				"GATEHOUSE_REDIS_URL":          "redis://" + redis.addr,
				"GATEHOUSE_REDIS_KEY_PREFIX":   redistest.TestPrefix + "never-written:",
				"GATEHOUSE_REDIS_READ_TIMEOUT": "100ms",
			}
			for _, args := range [][]string{
				{"migrate"},
				{"keys", "rotate"},
				{"keys", "list"},
				{"users", "add", "alice", "--password-stdin"},
				{"users", "list"},
				{"users", "mfa", "alice"},
				{"audit"},
				{"clients", "list"},
			} {
				stdout, stderr, err := runCommand(t, env, "a long passphrase of alice\n", args...)
				if err != nil {
					t.Errorf("gatehouse %s with Redis %s: %v\n%s%s", strings.Join(args, " "), redis.name, err, stdout, stderr)
				}
			}
			stdout, _, _ := runCommand(t, env, "", "users", "list")
			if !strings.Contains(stdout, "alice") {
				t.Errorf("users list: got\n%s\nwant alice, added with Redis %s", stdout, redis.name)
			}
			for _, args := range [][]string{
				{"sessions", "list"},
				{"users", "passwd", "alice", "--password-stdin"},
				{"users", "mfa", "reset", "alice", "--totp"},
			} {
				_, _, err := runCommand(t, env, "another long passphrase\n", args...)
				if err == nil || !strings.Contains(err.Error(), "redis") {
					t.Errorf("gatehouse %s with Redis %s: got %v, want an error naming redis", strings.Join(args, " "), redis.name, err)
				}
			}
		})
	}
}
