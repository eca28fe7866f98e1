// Package conformance drives a real Gatehouse process the way relying
// parties do: discovery with coreos/go-oidc, the code flow with
// golang.org/x/oauth2, and a cookie-keeping HTTP client standing in for the
// browser that fills in the real HTML login form.
package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage/redis/redistest"
)

// binary is the gatehouse executable built once for the whole package.
var binary string

func TestMain(m *testing.M) {
	// A child run (TestSuiteOnPostgresAndRedis) reuses its parent's binary.
	if b := os.Getenv("GATEHOUSE_CONFORMANCE_BINARY"); b != "" {
		binary = b
		os.Exit(redistest.Main(m))
	}
	dir, err := os.MkdirTemp("", "gatehouse-conformance-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "gatehouse")
	build := exec.Command("go", "build", "-o", binary, "./cmd/gatehouse")
	build.Dir = ".."
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build gatehouse:", err)
		os.Exit(1)
	}
	code := redistest.Main(m) // fails the run if keys appeared under the production prefix
	os.RemoveAll(dir)
	os.Exit(code)
}

// Secrets of the test clients. The basic client's secret holds every
// character RFC 6749 §2.3.1 makes clients form-encode in the Basic header.
const (
	basicSecret   = "s3cret+/=:% with space and-enough-length-0123456789"
	postSecret    = "post-client-secret-0123456789abcdefghijklmnopqrstuvwxyz"
	adminPassword = "bootstrap-password-for-tests"
)

const clientsYAML = `clients:
  - client_id: web-basic
    skip_consent: true
    client_name: Web App (basic)
    client_secret_env: TEST_BASIC_SECRET
    token_endpoint_auth_method: client_secret_basic
    grant_types: [authorization_code, refresh_token]
    redirect_uris: [https://rp.example/callback]
    post_logout_redirect_uris: [https://rp.example/bye]
  - client_id: web-post
    skip_consent: true
    client_name: Web App (post)
    client_secret_env: TEST_POST_SECRET
    token_endpoint_auth_method: client_secret_post
    grant_types: [authorization_code, refresh_token]
    redirect_uris: [https://rp-post.example/callback]
  - client_id: native
    skip_consent: true
    client_name: Native App
    application_type: native
    token_endpoint_auth_method: none
    grant_types: [authorization_code, refresh_token]
    redirect_uris: [http://127.0.0.1/callback, com.example.app:/oauth2redirect]
  - client_id: spa
    skip_consent: true
    client_name: Single-Page App
    token_endpoint_auth_method: none
    redirect_uris: [https://spa.example/callback]
`

// server is one running Gatehouse process.
type server struct {
	t *testing.T
	// host is the issuer's host name: 127.0.0.1 unless a test asks for
	// localhost, the newcomer's default.
	host string
	// fixedIssuer, when set, is the issuer instead of the server's own
	// address: for several instances behind one front address.
	fixedIssuer string
	// backendEnv selects the stores (empty: SQLite in dir). It is set once
	// per server, so a restart finds the same state.
	backendEnv []string
	// extraEnv is more configuration, for tests that need it.
	extraEnv []string
	dir      string
	addr     string
	issuer   string
	env      []string
	cmd      *exec.Cmd
	mu       sync.Mutex
	stderr   bytes.Buffer
	started  time.Duration
}

// startServer starts Gatehouse on a fresh port with its state in dir
// (t.TempDir() when dir is ""), and stops it when the test ends.
func startServer(t *testing.T, dir string) *server {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "clients.yaml"), []byte(clientsYAML), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return launch(t, &server{t: t, dir: dir, host: "127.0.0.1", backendEnv: suiteBackend(t)})
}

// startServerOn is startServer with the issuer on the given host name.
func startServerOn(t *testing.T, host string) *server {
	t.Helper()
	return launch(t, &server{t: t, dir: newStateDir(t), host: host, backendEnv: suiteBackend(t)})
}

// newStateDir returns a temp directory holding the test clients.yaml.
func newStateDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "clients.yaml"), []byte(clientsYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// launch starts s and stops it when the test ends.
func launch(t *testing.T, s *server) *server {
	t.Helper()
	s.start()
	t.Cleanup(s.stop)
	return s
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (s *server) start() {
	t := s.t
	t.Helper()
	s.addr = freePort(t)
	_, port, _ := net.SplitHostPort(s.addr)
	s.issuer = "http://" + net.JoinHostPort(s.host, port)
	if s.fixedIssuer != "" {
		s.issuer = s.fixedIssuer
	}
	s.env = append(serverEnviron(),
		"GATEHOUSE_ISSUER="+s.issuer,
		"GATEHOUSE_LISTEN="+s.addr,
		"GATEHOUSE_DATABASE_URL="+filepath.Join(s.dir, "gatehouse.db"),
		"GATEHOUSE_CLIENTS_FILE="+filepath.Join(s.dir, "clients.yaml"),
		"GATEHOUSE_BOOTSTRAP_PASSWORD="+adminPassword,
		"TEST_BASIC_SECRET="+basicSecret,
		"TEST_POST_SECRET="+postSecret,
	)
	// Later entries win: the backend may replace GATEHOUSE_DATABASE_URL.
	s.env = append(s.env, s.backendEnv...)
	s.env = append(s.env, s.extraEnv...)
	checkRedisPrefix(t, s.env)
	s.mu.Lock()
	s.stderr.Reset()
	s.mu.Unlock()
	s.cmd = exec.Command(binary, "serve")
	s.cmd.Dir = s.dir
	s.cmd.Env = s.env
	s.cmd.Stdout = io.Discard
	s.cmd.Stderr = lockedWriter{&s.mu, &s.stderr}
	begin := time.Now()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + s.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.started = time.Since(begin)
				return
			}
		}
		if s.cmd.ProcessState != nil || time.Now().After(deadline) {
			t.Fatalf("gatehouse did not become ready: %v\n%s", err, s.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tellUser writes a line where the person running go test sees it, with
// or without -v. go test prints a passing package's output only with -v
// (or when it runs in the package's directory alone), so without -v the
// line goes to the go command's own standard error (goStderr). When that
// cannot be reached, it goes to this process's standard error, shown with
// -v or on failure.
func tellUser(line string) {
	if !testing.Verbose() {
		if f := goStderr(); f != nil {
			fmt.Fprintln(f, line)
			f.Close()
			return
		}
	}
	fmt.Fprintln(os.Stderr, line)
}

// goStderr opens the standard error of the go command that runs this test
// binary (its parent), on Linux through /proc, or returns nil. Opening it
// makes a file description of its own, so only where that cannot garble
// the go command's output: a terminal, a pipe, or a file it appends to. A
// file it writes at its own offset (go test >log 2>&1) would overwrite the
// line.
func goStderr() *os.File {
	ppid := os.Getppid()
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", ppid))
	if err != nil || strings.TrimSpace(string(comm)) != "go" {
		return nil
	}
	path := fmt.Sprintf("/proc/%d/fd/2", ppid)
	fi, err := os.Stat(path)
	if err != nil {
		return nil
	}
	switch mode := fi.Mode(); {
	case mode&(fs.ModeCharDevice|fs.ModeNamedPipe) != 0:
	case mode.IsRegular():
		info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/2", ppid))
		if err != nil {
			return nil
		}
		var flags uint64
		for _, l := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(l, "flags:"); ok {
				flags, _ = strconv.ParseUint(strings.TrimSpace(v), 8, 64)
			}
		}
		if flags&syscall.O_APPEND == 0 {
			return nil
		}
	default:
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil
	}
	return f
}

// serverEnviron is the environment test servers and CLI runs start from:
// this process's, without the GATEHOUSE_* settings of the shell that runs
// the tests. A GATEHOUSE_REDIS_URL exported there, as the README's
// production section shows, made every test server keep its sessions in
// that Redis under the production prefix. The tests' own variables
// (GATEHOUSE_TEST_*, GATEHOUSE_CONFORMANCE_*) stay.
func serverEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GATEHOUSE_") && !strings.HasPrefix(kv, "GATEHOUSE_TEST_") &&
			!strings.HasPrefix(kv, "GATEHOUSE_CONFORMANCE_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// checkRedisPrefix fails t when env (later entries win) points a server at
// Redis without a test's own key prefix (redistest.Prefix): no test may
// write under the production prefix.
func checkRedisPrefix(t *testing.T, env []string) {
	t.Helper()
	var redisURL, prefix string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GATEHOUSE_REDIS_URL="); ok {
			redisURL = v
		}
		if v, ok := strings.CutPrefix(kv, "GATEHOUSE_REDIS_KEY_PREFIX="); ok {
			prefix = v
		}
	}
	if redisURL != "" && !strings.HasPrefix(prefix, redistest.TestPrefix) {
		t.Fatalf("a test server on Redis with key prefix %q: want a prefix of the test's own (redistest.Prefix), never the production one", prefix)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			s.t.Errorf("gatehouse exited with %v\n%s", err, s.log())
		}
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		s.t.Errorf("gatehouse did not stop on SIGTERM\n%s", s.log())
	}
	s.cmd = nil
}

// restart stops the process and starts a new one on the same state (and a
// new port, so the issuer changes too).
func (s *server) restart() {
	s.stop()
	s.start()
}

func (s *server) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// gatehouseCLI runs a gatehouse subcommand against the server's state.
func (s *server) gatehouseCLI(stdin string, args ...string) (string, error) {
	cmd := exec.Command(binary, args...)
	cmd.Dir = s.dir
	cmd.Env = s.env
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// browser is a cookie-keeping HTTP client that does not follow redirects,
// so each step of a flow can be inspected.
type browser struct {
	t      *testing.T
	client *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, client: &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

type page struct {
	status   int
	location string
	body     string
	header   http.Header
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	loc := resp.Header.Get("Location")
	if loc != "" {
		u, err := req.URL.Parse(loc)
		if err != nil {
			b.t.Fatalf("bad Location %q: %v", loc, err)
		}
		loc = u.String()
	}
	return page{status: resp.StatusCode, location: loc, body: string(body), header: resp.Header}
}

func (b *browser) get(u string) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) postForm(u string, form url.Values) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// What a browser sends for a same-origin form post.
	pu, _ := url.Parse(u)
	req.Header.Set("Origin", pu.Scheme+"://"+pu.Host)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// formFields returns the hidden inputs of a page.
func formFields(body string) url.Values {
	v := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(body, -1) {
		v.Set(m[1], htmlUnescape(m[2]))
	}
	return v
}

func htmlUnescape(s string) string {
	r := strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">", "&#61;", "=")
	return r.Replace(s)
}

// login follows an authorization URL through the login form and returns
// the final redirect to the client (the authorization response).
func (b *browser) login(authURL, username, password string) *url.URL {
	b.t.Helper()
	p := b.get(authURL)
	if p.status != http.StatusFound || !strings.Contains(p.location, "/login?id=") {
		b.t.Fatalf("authorize: got %d to %q, want 302 to the login page\n%s", p.status, p.location, p.body)
	}
	form := b.get(p.location)
	if form.status != http.StatusOK || !strings.Contains(form.body, `name="password"`) {
		b.t.Fatalf("login page: got %d\n%s", form.status, form.body)
	}
	fields := formFields(form.body)
	fields.Set("username", username)
	fields.Set("password", password)
	u, _ := url.Parse(p.location)
	done := b.postForm(u.Scheme+"://"+u.Host+"/login", fields)
	if done.status != http.StatusSeeOther {
		b.t.Fatalf("login post: got %d, want 303\n%s", done.status, done.body)
	}
	return b.follow(done.location)
}

// follow GETs u and returns where it redirects to.
func (b *browser) follow(u string) *url.URL {
	b.t.Helper()
	p := b.get(u)
	if p.status != http.StatusFound && p.status != http.StatusSeeOther {
		b.t.Fatalf("GET %s: got %d, want a redirect\n%s", u, p.status, p.body)
	}
	loc, err := url.Parse(p.location)
	if err != nil {
		b.t.Fatal(err)
	}
	return loc
}

func waitFor(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return errors.New("timed out")
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

func jsonDecode(resp *http.Response, v any) error {
	return json.NewDecoder(resp.Body).Decode(v)
}
