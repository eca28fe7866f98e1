package main

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestScenariosAgainstGatehouse builds the real gatehouse binary, starts
// it on SQLite in a temp directory with the example clients.yaml and a
// user made with the CLI, and runs every scenario of -scenario all
// briefly, and the DPoP variants: each must succeed without a single
// error, and report the server's CPU time and memory (-server-pid).
func TestScenariosAgainstGatehouse(t *testing.T) {
	s := startGatehouse(t, defaultUser)
	all, _ := findScenarios("all")
	for _, name := range []string{"refresh_dpop", "userinfo_dpop"} {
		dpop, _ := findScenarios(name)
		all = append(all, dpop...)
	}
	for _, sc := range all {
		t.Run(sc.name, func(t *testing.T) {
			r, out := s.load(t, "-scenario", sc.name, "-c", "2", "-d", "1s", "-warmup", "200ms")
			checkRun(t, r, out)
			t.Logf("%s c=2: %.0f %s/s, p50 %.2fms, p99 %.2fms, server %+v", sc.name, r.Throughput, singular(r.Unit), r.LatencyMS.P50, r.LatencyMS.P99, r.Server)
		})
	}
}

// TestSignInTOTPAgainstGatehouse runs signin_totp against a real gatehouse
// with two users made with the CLI: the first run sets up their one-time
// codes on the account page and writes the secrets file, the second signs
// in with the secrets it reads back, and a run without them stops with
// the way out. A code works once per user and step, so the second run
// waits for the next step: this test takes up to 40 s.
func TestSignInTOTPAgainstGatehouse(t *testing.T) {
	users := []string{defaultUser + "-0", defaultUser + "-1"}
	s := startGatehouse(t, users...)
	secrets := filepath.Join(t.TempDir(), "totp-secrets")
	args := []string{"-scenario", "signin_totp", "-c", "2", "-d", "5s", "-warmup", "0s", "-totp-secrets", secrets}

	r, out := s.load(t, args...)
	checkRun(t, r, out)
	t.Logf("first run: %d flows, p50 %.2fms, server %+v", r.Count, r.LatencyMS.P50, r.Server)
	written, err := os.ReadFile(secrets)
	if err != nil {
		t.Fatalf("the secrets file: %v", err)
	}
	if fi, err := os.Stat(secrets); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the secrets file's mode: got %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	got, err := loadTOTPUsers(secrets, time.Now())
	if err != nil {
		t.Fatalf("the secrets file does not read back: %v\n%s", err, written)
	}
	if names := slices.Sorted(maps.Keys(got.secrets)); !slices.Equal(names, users) {
		t.Errorf("the secrets file's users: got %v, want %v\n%s", names, users, written)
	}
	for _, u := range users {
		// Set up on the account page, which gives the first recovery codes.
		shown := s.gatehouse(t, "", "users", "mfa", u)
		if !regexp.MustCompile(`one-time code:\s+yes`).MatchString(shown) ||
			!regexp.MustCompile(`recovery codes left:\s+10`).MatchString(shown) {
			t.Errorf("gatehouse users mfa %s: got\n%s\nwant a one-time code and 10 recovery codes", u, shown)
		}
	}

	r, out = s.load(t, args...)
	checkRun(t, r, out)
	t.Logf("second run: %d flows, p50 %.2fms, server %+v", r.Count, r.LatencyMS.P50, r.Server)
	if again, err := os.ReadFile(secrets); err != nil || !bytes.Equal(again, written) {
		t.Errorf("the second run changed the secrets file (it had only to read it): got\n%s\nwant\n%s", again, written)
	}

	// Without the secrets, nothing can sign in as these users.
	var stdout, stderr bytes.Buffer
	err = run(context.Background(), append([]string{"gatehouse-load", "-issuer", s.issuer, "-json"}, "-scenario", "signin_totp", "-c", "1", "-d", "1s", "-totp-secrets", filepath.Join(t.TempDir(), "empty")),
		s.getenv, &stdout, &stderr)
	want := "gatehouse users mfa reset " + users[0] + " --all"
	if err == nil || !strings.Contains(stderr.String(), want) {
		t.Errorf("a run without the secrets: got %v\n%s\nwant a failure that says %q", err, stderr.String(), want)
	}
}

// gatehouseServer is a real gatehouse, started by startGatehouse.
type gatehouseServer struct {
	binary, dir, issuer string
	env                 []string
	pid                 int
}

// startGatehouse builds gatehouse, creates users with the example
// password, and serves on SQLite in a temp directory with the example
// clients.yaml until the test ends. It skips the test with -short.
func startGatehouse(t *testing.T, users ...string) *gatehouseServer {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and starts gatehouse: skipped with -short")
	}
	dir := t.TempDir()
	binary := filepath.Join(dir, "gatehouse")
	build := exec.Command("go", "build", "-o", binary, "./cmd/gatehouse")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build gatehouse: %v\n%s", err, out)
	}
	clients, err := os.ReadFile("clients.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "clients.yaml"), clients, 0o600); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &gatehouseServer{binary: binary, dir: dir, issuer: "http://" + addr}
	s.env = append(os.Environ(),
		"GATEHOUSE_ISSUER="+s.issuer,
		"GATEHOUSE_LISTEN="+addr,
		"GATEHOUSE_DATABASE_URL="+filepath.Join(dir, "gatehouse.db"),
		"GATEHOUSE_CLIENTS_FILE="+filepath.Join(dir, "clients.yaml"),
		"GATEHOUSE_REDIS_URL=",
	)
	for _, u := range users {
		s.gatehouse(t, examplePassword+"\n", "users", "add", u, "--password-stdin")
	}

	serverLog := &lockedBuffer{}
	serve := exec.Command(binary, "serve")
	serve.Dir, serve.Env = dir, s.env
	serve.Stderr = serverLog
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	s.pid = serve.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	t.Cleanup(func() {
		_ = serve.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = serve.Process.Kill()
			t.Errorf("gatehouse did not stop on SIGTERM")
		}
	})
	waitReady(t, s.issuer+"/readyz", exited, serverLog)
	return s
}

// gatehouse runs the gatehouse CLI with the server's configuration and
// returns what it printed.
func (s *gatehouseServer) gatehouse(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(s.binary, args...)
	cmd.Dir, cmd.Env = s.dir, s.env
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gatehouse %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// getenv gives gatehouse-load the example password.
func (s *gatehouseServer) getenv(k string) string {
	if k == envPassword {
		return examplePassword
	}
	return ""
}

// load runs gatehouse-load against s with -json and -server-pid, and
// returns its one run and its output.
func (s *gatehouseServer) load(t *testing.T, args ...string) (jsonRun, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	args = append([]string{"gatehouse-load", "-issuer", s.issuer, "-json", "-server-pid", strconv.Itoa(s.pid)}, args...)
	if err := run(context.Background(), args, s.getenv, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	var rep jsonReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("-json output: %v\n%s", err, stdout.String())
	}
	if len(rep.Runs) != 1 {
		t.Fatalf("runs: got %d, want 1\n%s", len(rep.Runs), stdout.String())
	}
	return rep.Runs[0], stdout.String()
}

// checkRun checks a run that should have gone well: no errors, something
// measured, and the server's CPU time and memory.
func checkRun(t *testing.T, r jsonRun, out string) {
	t.Helper()
	if r.ErrorCount != 0 {
		t.Errorf("errors: got %d (%v), want none", r.ErrorCount, r.Errors)
	}
	if r.Throughput <= 0 || r.Count == 0 {
		t.Errorf("throughput: got %.1f/s over %d %s, want > 0", r.Throughput, r.Count, r.Unit)
	}
	if r.LatencyMS.P50 <= 0 || r.LatencyMS.P99 < r.LatencyMS.P50 || r.LatencyMS.Max < r.LatencyMS.P99 {
		t.Errorf("latency: got %+v, want 0 < p50 <= p99 <= max", r.LatencyMS)
	}
	if s := r.Server; s == nil {
		t.Errorf("server: missing from the -json output with -server-pid\n%s", out)
	} else if s.CPUMS <= 0 || s.CPUMSPerOp <= 0 || s.Cores <= 0 || s.VmRSSKiB <= 0 || s.VmHWMKiB < s.VmRSSKiB {
		t.Errorf("server: got %+v, want CPU time > 0 and 0 < VmRSS <= VmHWM", *s)
	}
}

func waitReady(t *testing.T, url string, exited <-chan error, log *lockedBuffer) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("gatehouse exited: %v\n%s", err, log.String())
		default:
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("gatehouse did not become ready\n%s", log.String())
}

// lockedBuffer is the server's log, written by exec while a test may read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
