package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestScenariosAgainstGatehouse builds the real gatehouse binary, starts
// it on SQLite in a temp directory with the example clients.yaml and a
// user made with the CLI, and runs every scenario briefly: each must
// succeed without a single error, and report the server's CPU time and
// memory (-server-pid).
func TestScenariosAgainstGatehouse(t *testing.T) {
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
	issuer := "http://" + addr
	env := append(os.Environ(),
		"GATEHOUSE_ISSUER="+issuer,
		"GATEHOUSE_LISTEN="+addr,
		"GATEHOUSE_DATABASE_URL="+filepath.Join(dir, "gatehouse.db"),
		"GATEHOUSE_CLIENTS_FILE="+filepath.Join(dir, "clients.yaml"),
		"GATEHOUSE_REDIS_URL=",
	)

	add := exec.Command(binary, "users", "add", defaultUser, "--password-stdin")
	add.Dir, add.Env = dir, env
	add.Stdin = strings.NewReader(examplePassword + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("gatehouse users add: %v\n%s", err, out)
	}

	serverLog := &lockedBuffer{}
	serve := exec.Command(binary, "serve")
	serve.Dir, serve.Env = dir, env
	serve.Stderr = serverLog
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
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
	waitReady(t, "http://"+addr+"/readyz", exited, serverLog)

	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := []string{"gatehouse-load", "-issuer", issuer, "-scenario", sc.name,
				"-c", "2", "-d", "1s", "-warmup", "200ms", "-json",
				"-server-pid", strconv.Itoa(serve.Process.Pid)}
			getenv := func(k string) string {
				if k == envPassword {
					return examplePassword
				}
				return ""
			}
			if err := run(context.Background(), args, getenv, &stdout, &stderr); err != nil {
				t.Fatalf("run: %v\n%s", err, stderr.String())
			}
			var rep jsonReport
			if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
				t.Fatalf("-json output: %v\n%s", err, stdout.String())
			}
			if len(rep.Runs) != 1 {
				t.Fatalf("runs: got %d, want 1\n%s", len(rep.Runs), stdout.String())
			}
			r := rep.Runs[0]
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
				t.Errorf("server: missing from the -json output with -server-pid\n%s", stdout.String())
			} else if s.CPUMS <= 0 || s.CPUMSPerOp <= 0 || s.Cores <= 0 || s.VmRSSKiB <= 0 || s.VmHWMKiB < s.VmRSSKiB {
				t.Errorf("server: got %+v, want CPU time > 0 and 0 < VmRSS <= VmHWM", *s)
			}
			t.Logf("%s c=2: %.0f %s/s, p50 %.2fms, p99 %.2fms, server %+v", sc.name, r.Throughput, singular(r.Unit), r.LatencyMS.P50, r.LatencyMS.P99, r.Server)
		})
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
