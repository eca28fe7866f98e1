package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage/postgres"
	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
	"github.com/gatehouse-idp/gatehouse/storage/redis/redistest"
)

// testKEK is a key-encryption key for servers on Postgres.
const testKEK = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// serveUntilExit runs serve in-process with exactly env, logging to logs,
// and returns its error once it exits. A serve that does not exit within
// 30 seconds fails the test: it hangs.
func serveUntilExit(t *testing.T, env map[string]string, logs io.Writer) error {
	t.Helper()
	if env["GATEHOUSE_CLIENTS_FILE"] == "" {
		env["GATEHOUSE_CLIENTS_FILE"] = filepath.Join(t.TempDir(), "clients.yaml") // none: no clients
	}
	env["GATEHOUSE_LISTEN"] = "127.0.0.1:0"
	checkRedisPrefix(t, env)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"gatehouse", "serve"}, func(k string) string { return env[k] }, strings.NewReader(""), logs, logs)
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not exit within 30s: it hangs\n%s", logs)
		return nil
	}
}

// withHost returns the URL u with its host:port replaced by addr.
func withHost(t *testing.T, u, addr string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	p.Host = addr
	return p.String()
}

// hostOf returns the host:port of a Postgres or Redis URL, with the
// default port when it has none.
func hostOf(t *testing.T, u, defaultPort string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	if p.Port() == "" {
		return p.Hostname() + ":" + defaultPort
	}
	return p.Host
}

// migratedDSN returns a fresh Postgres schema with every migration
// applied, so that serve's own migration step finds nothing to do.
func migratedDSN(t *testing.T) string {
	t.Helper()
	dsn := pgtest.DSN(t)
	if err := postgres.Migrate(t.Context(), dsn); err != nil {
		t.Fatal(err)
	}
	return dsn
}

// The fault: a store that accepts connections and never answers, at each
// step serve waits on before it listens. serve must not hang: it logs what
// it is waiting for, and exits with an error naming the step, the store
// and the setting whose deadline passed. Deadlines are short here so that
// the test is quick; nothing is asserted about how long anything took.
func TestServeStartStepsHaveDeadlines(t *testing.T) {
	// A step that stalls gives up after 500ms; start_timeout is 2s in the
	// cases where steps must succeed before the one that stalls, so that
	// a busy machine does not fail them.
	tests := []struct {
		name                  string
		startTimeout, migrate string
		// env returns the environment of the serve run and, optionally,
		// the log line after which its store stalls and what stalls it.
		env     func(t *testing.T) (env map[string]string, stallAfter string, stall func())
		wantErr string
		wantLog string
	}{
		{
			name: "postgres silent", startTimeout: "500ms", migrate: "1m",
			env: func(t *testing.T) (map[string]string, string, func()) {
				return map[string]string{
					"GATEHOUSE_DATABASE_URL": "postgres://" + silentServer(t) + "/test?sslmode=disable",
				}, "", nil
			},
			wantErr: "connect: postgres did not answer within 500ms (start_timeout",
			wantLog: `"msg":"waiting for postgres: connect"`,
		},
		{
			name: "postgres stalls while migrating", startTimeout: "2s", migrate: "500ms",
			env: func(t *testing.T) (map[string]string, string, func()) {
				dsn := pgtest.DSN(t)
				p := newStallProxy(t, hostOf(t, dsn, "5432"), 1) // the connect step's connection only
				return map[string]string{
					"GATEHOUSE_DATABASE_URL":       withHost(t, dsn, p.addr()),
					"GATEHOUSE_KEY_ENCRYPTION_KEY": testKEK,
				}, "", nil
			},
			wantErr: "migrate: postgres did not answer within 500ms (migrate_timeout",
			wantLog: `"msg":"waiting for postgres: migrate"`,
		},
		{
			name: "postgres stalls while opening", startTimeout: "500ms", migrate: "1m",
			env: func(t *testing.T) (map[string]string, string, func()) {
				dsn := migratedDSN(t)
				p := newStallProxy(t, hostOf(t, dsn, "5432"), 1)
				return map[string]string{
					"GATEHOUSE_DATABASE_URL":       withHost(t, dsn, p.addr()),
					"GATEHOUSE_AUTO_MIGRATE":       "false",
					"GATEHOUSE_DATABASE_TIMEOUT":   "10s", // the step's deadline, not a call's, must end it
					"GATEHOUSE_KEY_ENCRYPTION_KEY": testKEK,
				}, "", nil
			},
			wantErr: "open: postgres did not answer within 500ms (start_timeout",
			wantLog: `"msg":"waiting for postgres: open"`,
		},
		{
			name: "postgres stalls after the stores opened", startTimeout: "2s", migrate: "1m",
			env: func(t *testing.T) (map[string]string, string, func()) {
				dsn := migratedDSN(t)
				p := newStallProxy(t, hostOf(t, dsn, "5432"), 0)
				return map[string]string{
					"GATEHOUSE_DATABASE_URL":       withHost(t, dsn, p.addr()),
					"GATEHOUSE_DATABASE_TIMEOUT":   "10s",
					"GATEHOUSE_KEY_ENCRYPTION_KEY": testKEK,
				}, `"msg":"stores open"`, p.stall
			},
			wantErr: "signing keys: postgres did not answer within 2s (start_timeout",
			wantLog: `"msg":"waiting for postgres: signing keys"`,
		},
		{
			name: "redis silent", startTimeout: "2s", migrate: "1m",
			env: func(t *testing.T) (map[string]string, string, func()) {
				return map[string]string{
					"GATEHOUSE_DATABASE_URL":       migratedDSN(t),
					"GATEHOUSE_KEY_ENCRYPTION_KEY": testKEK,
					"GATEHOUSE_REDIS_URL":          withHost(t, redistest.URL(t), silentServer(t)),
					"GATEHOUSE_REDIS_KEY_PREFIX":   redistest.Prefix(t),
					"GATEHOUSE_REDIS_READ_TIMEOUT": "10s", // the step's deadline, not a call's, must end it
				}, "", nil
			},
			wantErr: "connect: redis did not answer within 2s (start_timeout",
			wantLog: `"msg":"waiting for redis: connect"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, stallAfter, stall := tt.env(t)
			env["GATEHOUSE_START_TIMEOUT"] = tt.startTimeout
			env["GATEHOUSE_MIGRATE_TIMEOUT"] = tt.migrate
			logs := &onLogLine{substr: "\x00", fn: func() {}}
			if stall != nil {
				logs.substr, logs.fn = stallAfter, stall
			}
			began := time.Now()
			err := serveUntilExit(t, env, logs)
			t.Logf("serve exited after %s", time.Since(began))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("serve: got error %v, want one containing %q\n%s", err, tt.wantErr, logs)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log:\n%s\nwant a line %s", logs, tt.wantLog)
			}
			if strings.Contains(logs.String(), `"msg":"listening"`) {
				t.Errorf("log:\n%s\nserve listened, want it to stop before", logs)
			}
		})
	}
}

// TestStartStep checks the start step runner on its own: a step that ends
// in time returns its own error, unchanged; a step that waits is logged as
// waiting and given up at its deadline, even when it ignores the deadline;
// a step cut short by shutdown says so.
func TestStartStep(t *testing.T) {
	var logs syncBuffer
	steps := startSteps{log: slog.New(slog.NewJSONHandler(&logs, nil)), timeout: 200 * time.Millisecond, migrateTimeout: 300 * time.Millisecond}
	ctx := t.Context()

	if err := steps.run(ctx, "postgres", "quick", func(context.Context) error { return nil }); err != nil {
		t.Errorf("a step that succeeds: got %v, want nil", err)
	}
	own := errors.New("the step's own error")
	if err := steps.run(ctx, "postgres", "failing", func(context.Context) error { return own }); err != own {
		t.Errorf("a step that fails in time: got %v, want its own error unchanged", err)
	}

	// The fault: a store call that honours the deadline, and one that
	// ignores it (blocks until the test ends).
	err := steps.migrate(ctx, "postgres", func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	if want := "migrate: postgres did not answer within 300ms (migrate_timeout"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a step past its deadline: got %v, want an error containing %q", err, want)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a step past its deadline: got %v, want it to wrap context.DeadlineExceeded", err)
	}
	stuck := make(chan struct{})
	defer close(stuck)
	err = steps.run(ctx, "redis", "deaf", func(context.Context) error {
		<-stuck
		return nil
	})
	if want := "deaf: redis did not answer within 200ms (start_timeout"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a step that ignores its deadline: got %v, want an error containing %q", err, want)
	}
	for _, want := range []string{`"msg":"waiting for postgres: migrate"`, `"msg":"waiting for redis: deaf"`, `"setting":"start_timeout"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log:\n%s\nwant %s", logs.String(), want)
		}
	}
	if strings.Contains(logs.String(), "quick") || strings.Contains(logs.String(), "failing") {
		t.Errorf("log:\n%s\nwant no waiting line for steps that ended at once", logs.String())
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err = steps.run(cctx, "postgres", "interrupted", func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	if err == nil || !strings.Contains(err.Error(), "interrupted: interrupted while waiting for postgres") {
		t.Errorf("a step cut short by shutdown: got %v, want it to say so", err)
	}
}

// TestStartTimeoutSettings checks that start_timeout and migrate_timeout
// are read and their bounds enforced.
func TestStartTimeoutSettings(t *testing.T) {
	got, err := loadConfig("", false, configTestEnv(map[string]string{"GATEHOUSE_START_TIMEOUT": "5s"}),
		configTestFiles(map[string]string{"gatehouse.yaml": "migrate_timeout: 1h\n"}))
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if got.StartTimeout != 5*time.Second || got.MigrateTimeout != time.Hour {
		t.Errorf("got start %s, migrate %s; want 5s, 1h", got.StartTimeout, got.MigrateTimeout)
	}
	for env, want := range map[string]string{
		"GATEHOUSE_START_TIMEOUT":   "GATEHOUSE_START_TIMEOUT: start_timeout: must be between 10ms and 1h (got 0s)",
		"GATEHOUSE_MIGRATE_TIMEOUT": "GATEHOUSE_MIGRATE_TIMEOUT: migrate_timeout: must be between 10ms and 24h (got 0s)",
	} {
		_, err := loadConfig("", false, configTestEnv(map[string]string{env: "0s"}), configTestFiles(nil))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s=0s: got %v, want an error containing %q", env, err, want)
		}
	}
}
