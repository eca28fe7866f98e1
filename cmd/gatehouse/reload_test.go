package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"github.com/gatehouse-idp/gatehouse/audit"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServe runs serve in-process with exactly the environment env and
// returns, once serve watches its clients file, the log, the address of its
// listener and a stop function (also called when the test ends).
func startServe(t *testing.T, env map[string]string) (logs *syncBuffer, addr string, stop func()) {
	t.Helper()
	logs = &syncBuffer{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"gatehouse", "serve"}, func(k string) string { return env[k] }, strings.NewReader(""), logs, logs)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v\n%s", err, logs)
			}
		})
	}
	t.Cleanup(stop)
	eventually(t, "serve to watch the clients file", func() bool {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("serve stopped: %v\n%s", err, logs)
		default:
		}
		return strings.Contains(logs.String(), "watching the clients file")
	})
	m := regexp.MustCompile(`"msg":"listening","listener":"http","addr":"([^"]+)"`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no listener logged:\n%s", logs)
	}
	return logs, m[1], stop
}

// serveFails runs serve with env and returns the error it stops with, and
// its log; the test fails if serve starts instead.
func serveFails(t *testing.T, env map[string]string) (logs string, err error) {
	t.Helper()
	buf := &syncBuffer{}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"gatehouse", "serve"}, func(k string) string { return env[k] }, strings.NewReader(""), buf, buf)
	}()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case err := <-done:
			return buf.String(), err
		case <-deadline:
			t.Fatalf("serve neither started nor stopped within 10 s:\n%s", buf)
		case <-time.After(5 * time.Millisecond):
			if strings.Contains(buf.String(), "watching the clients file") {
				cancel()
				<-done
				t.Fatalf("serve started, want it refused:\n%s", buf)
			}
		}
	}
}

// eventually waits up to 10 seconds for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

const (
	reloadFileV1 = `clients:
  - client_id: app
    token_endpoint_auth_method: none
    redirect_uris: [https://app.example/cb]
  - client_id: old-app
    client_secret: old-app-secret-0123456789abcdefghijklmn
    redirect_uris: [https://old.example/cb]
`
	// V2 adds new-app, changes app and drops old-app.
	reloadFileV2 = `clients:
  - client_id: app
    token_endpoint_auth_method: none
    redirect_uris: [https://app.example/cb, https://app.example/cb2]
  - client_id: new-app
    client_secret: new-app-secret-0123456789abcdefghijklmn
    redirect_uris: [https://new.example/cb]
`
	reloadFileSyntaxError = `clients:
  - client_id: app
    redirect_uris: [https://app.example/cb
`
	reloadFileBadRedirect = `clients:
  - client_id: app
    token_endpoint_auth_method: none
    redirect_uris: [https://app.example/cb]
  - client_id: new-app
    token_endpoint_auth_method: none
    redirect_uris: [http://new.example/cb]
    post_logout_redirect_uris: [ftp://new.example/]
`
)

// reloadFixture is a store synced from a clients file as serve does at
// start, and a watcher of that file running with a fast poll, or with
// polling in effect off and SIGHUP (hup) as the only trigger.
type reloadFixture struct {
	file    string
	store   *sqlite.Store
	log     *syncBuffer
	hup     chan os.Signal
	applied chan storage.SyncReport
}

func newReloadFixture(t *testing.T, interval time.Duration) *reloadFixture {
	t.Helper()
	dir := t.TempDir()
	f := &reloadFixture{
		file: filepath.Join(dir, "clients.yaml"), log: &syncBuffer{},
		hup: make(chan os.Signal, 1), applied: make(chan storage.SyncReport, 10),
	}
	f.write(t, reloadFileV1)
	var err error
	if f.store, err = sqlite.Open(t.Context(), filepath.Join(dir, "g.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.store.Close() })
	key := make([]byte, 32)
	rand.Read(key)
	env := environment{getenv: func(string) string { return "" }, readFile: os.ReadFile}
	log := slog.New(slog.NewTextHandler(f.log, nil))
	cfg := defaultConfig()
	cfg.ClientsFile = f.file
	seen := clientsFileVersion(cfg, env)
	w := newClientsWatcher(cfg, env, f.store, key, log, nil)
	if err := w.applyAtStart(t.Context()); err != nil {
		t.Fatal(err)
	}
	w.applied = func(_ context.Context, rep storage.SyncReport) { f.applied <- rep }
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.watch(ctx, f.hup, interval, seen)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

// write replaces the clients file with content.
func (f *reloadFixture) write(t *testing.T, content string) {
	t.Helper()
	if err := os.WriteFile(f.file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (f *reloadFixture) clients(t *testing.T) []storage.Client {
	t.Helper()
	list, err := f.store.ListClients(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// waitApplied returns the report of the next apply.
func (f *reloadFixture) waitApplied(t *testing.T) storage.SyncReport {
	t.Helper()
	select {
	case rep := <-f.applied:
		return rep
	case <-time.After(10 * time.Second):
		t.Fatalf("no apply within 10 s; log:\n%s", f.log)
		return storage.SyncReport{}
	}
}

func TestWatchClientsAppliesAChangedFile(t *testing.T) {
	f := newReloadFixture(t, 5*time.Millisecond)
	f.write(t, reloadFileV2)
	rep := f.waitApplied(t)
	want := storage.SyncReport{Created: []string{"new-app"}, Updated: []string{"app"}, Disabled: []string{"old-app"}}
	if !reflect.DeepEqual(rep, want) {
		t.Errorf("report: got %+v, want %+v", rep, want)
	}
	c, err := f.store.Client(t.Context(), "new-app")
	if err != nil || !strings.HasPrefix(c.SecretHash, "hmac-sha256:") {
		t.Fatalf("new-app after the reload: got %+v, %v; want it enabled with a keyed secret hash", c, err)
	}
	if c, err := f.store.Client(t.Context(), "app"); err != nil || len(c.RedirectURIs) != 2 {
		t.Errorf("app after the reload: got %+v, %v; want two redirect URIs", c, err)
	}
	for _, c := range f.clients(t) {
		if c.ID == "old-app" && !c.Disabled {
			t.Errorf("old-app, gone from the file: got enabled, want disabled")
		}
	}
	if _, err := f.store.Client(t.Context(), "old-app"); err == nil {
		t.Errorf("Client(old-app) after the reload: got the client, want ErrNotFound")
	}
	logged := f.log.String()
	for _, want := range []string{"the clients file changed", "created=[new-app]", "updated=[app]", "disabled=[old-app]"} {
		if !strings.Contains(logged, want) {
			t.Errorf("log does not contain %q:\n%s", want, logged)
		}
	}

	// A file touched but not changed is applied again, changing nothing.
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(f.file, later, later); err != nil {
		t.Fatal(err)
	}
	if rep := f.waitApplied(t); len(rep.Created)+len(rep.Updated)+len(rep.Disabled) != 0 {
		t.Errorf("report after touch: got %+v, want no change", rep)
	}
}

func TestWatchClientsRefusesABadFile(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		want          []string // in the log, each at level ERROR
	}{
		{"syntax error", reloadFileSyntaxError, []string{"clients.yaml:2: not valid YAML"}},
		{"http redirect to a non-loopback host", reloadFileBadRedirect, []string{
			"clients.yaml:7: clients[1].redirect_uris[0]: must use https",
			"clients.yaml:8: clients[1].post_logout_redirect_uris[0]",
		}},
		{"missing file", "", []string{"cannot be read"}},
		// Files that list no clients: once read as "no clients", they
		// disabled every client.
		{"empty file", "\n", []string{"clients.yaml: holds no clients: list"}},
		{"comment header only", "# clients.yaml — the apps\n# that may sign in\n", []string{"clients.yaml: holds no clients: list"}},
		{"cut short after clients:", "# the apps\nclients:\n", []string{"clients.yaml:2: clients: has no list under it"}},
		{"cut short, a revision left", "revision: 3\n", []string{"clients.yaml:1: clients: missing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newReloadFixture(t, 5*time.Millisecond)
			before := f.clients(t)
			if tc.content == "" {
				if err := os.Remove(f.file); err != nil {
					t.Fatal(err)
				}
			} else {
				f.write(t, tc.content)
			}
			eventually(t, "the refusal", func() bool { return strings.Contains(f.log.String(), "clients file refused") })
			logged := f.log.String()
			for _, want := range tc.want {
				line := lineWith(logged, want)
				if line == "" || !strings.Contains(line, "level=ERROR") {
					t.Errorf("log: got no ERROR line with %q:\n%s", want, logged)
				}
			}
			if after := f.clients(t); !reflect.DeepEqual(after, before) {
				t.Errorf("clients after a refused file: got %+v, want them unchanged %+v", after, before)
			}
			select {
			case rep := <-f.applied:
				t.Errorf("a refused file was applied: %+v", rep)
			default:
			}

			// Refused once, not at every check; the good file is applied.
			time.Sleep(50 * time.Millisecond)
			if n := strings.Count(f.log.String(), "clients file refused"); n != 1 {
				t.Errorf("refusals logged: got %d, want 1", n)
			}
			f.write(t, reloadFileV2)
			if rep := f.waitApplied(t); !reflect.DeepEqual(rep.Created, []string{"new-app"}) {
				t.Errorf("good file after a bad one: got %+v, want new-app created", rep)
			}
		})
	}
}

// TestWatchClientsAppliesAnEmptyList: `clients: []` removes every client on
// purpose, on reload as at start.
func TestWatchClientsAppliesAnEmptyList(t *testing.T) {
	f := newReloadFixture(t, 5*time.Millisecond)
	f.write(t, "# every app is gone on purpose\nclients: []\n")
	rep := f.waitApplied(t)
	if want := []string{"app", "old-app"}; !reflect.DeepEqual(rep.Disabled, want) {
		t.Errorf("report: got %+v, want %v disabled", rep, want)
	}
	for _, c := range f.clients(t) {
		if !c.Disabled {
			t.Errorf("client %s after clients: []: got enabled, want disabled", c.ID)
		}
	}
}

// TestServeRefusesAClientsFileWithoutAList starts serve on a database that
// holds clients, with files that list none: each is refused, serve does not
// start, and the clients stay enabled; `clients: []` starts and disables
// them.
func TestServeRefusesAClientsFileWithoutAList(t *testing.T) {
	dir := t.TempDir()
	db, file := filepath.Join(dir, "g.db"), filepath.Join(dir, "clients.yaml")
	env := map[string]string{"GATEHOUSE_DATABASE_URL": db, "GATEHOUSE_CLIENTS_FILE": file, "GATEHOUSE_LISTEN": "127.0.0.1:0"}
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	enabled := func() (ids []string) {
		t.Helper()
		st, err := sqlite.Open(t.Context(), db)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		list, err := st.ListClients(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range list {
			if !c.Disabled {
				ids = append(ids, c.ID)
			}
		}
		return ids
	}
	write(reloadFileV1)
	_, _, stop := startServe(t, env)
	stop()

	for _, tc := range []struct{ name, content, want string }{
		{"empty", "", "holds no clients: list"},
		{"comment header only", "# clients.yaml — the apps that may sign in\n", "holds no clients: list"},
		{"cut short after clients:", "clients:\n", "clients.yaml:1: clients: has no list under it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			write(tc.content)
			logs, err := serveFails(t, env)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "clients: []") {
				t.Errorf("serve: got %v, want the file refused with %q and `clients: []` suggested\n%s", err, tc.want, logs)
			}
			if got := enabled(); !reflect.DeepEqual(got, []string{"app", "old-app"}) {
				t.Errorf("enabled clients after the refused file: got %v, want [app old-app]", got)
			}
		})
	}
	// No clients.yaml where serve looks by default (the working directory,
	// the test's package directory, has none): the clients stay.
	noFile := map[string]string{"GATEHOUSE_DATABASE_URL": db, "GATEHOUSE_LISTEN": "127.0.0.1:0"}
	logs, _, stop := startServe(t, noFile)
	stop()
	if !strings.Contains(logs.String(), "no clients.yaml found: the clients in the store are kept") {
		t.Errorf("serve without a clients file: no warning:\n%s", logs)
	}
	if got := enabled(); !reflect.DeepEqual(got, []string{"app", "old-app"}) {
		t.Errorf("enabled clients after serve without a clients file: got %v, want [app old-app]", got)
	}

	write("clients: []\n")
	_, _, stop = startServe(t, env)
	stop()
	if got := enabled(); len(got) != 0 {
		t.Errorf("enabled clients after clients: []: got %v, want none", got)
	}
}

// lineWith returns the first line of s containing sub, or "".
func lineWith(s, sub string) string {
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, sub) {
			return line
		}
	}
	return ""
}

func TestWatchClientsSIGHUP(t *testing.T) {
	f := newReloadFixture(t, time.Hour) // no check comes: only SIGHUP applies
	f.write(t, reloadFileV2)
	f.hup <- os.Interrupt // any value: the channel is fed by SIGHUP in serve
	rep := f.waitApplied(t)
	if !reflect.DeepEqual(rep.Created, []string{"new-app"}) || !reflect.DeepEqual(rep.Disabled, []string{"old-app"}) {
		t.Errorf("report: got %+v, want new-app created and old-app disabled", rep)
	}
	if !strings.Contains(f.log.String(), "SIGHUP: applying the clients file") {
		t.Errorf("log does not say SIGHUP applied the file:\n%s", f.log)
	}

	// SIGHUP with a bad file: refused, the clients stay.
	before := f.clients(t)
	f.write(t, reloadFileBadRedirect)
	f.hup <- os.Interrupt
	eventually(t, "the refusal", func() bool { return strings.Contains(f.log.String(), "clients file refused") })
	if after := f.clients(t); !reflect.DeepEqual(after, before) {
		t.Errorf("clients after a refused file: got %+v, want them unchanged %+v", after, before)
	}
	// SIGHUP with an unchanged good file: applied, nothing changes.
	f.write(t, reloadFileV2)
	f.hup <- os.Interrupt
	if rep := f.waitApplied(t); len(rep.Created)+len(rep.Updated)+len(rep.Disabled) != 0 {
		t.Errorf("report: got %+v, want no change", rep)
	}
}

func TestSettled(t *testing.T) {
	v := func(n int64) fileVersion { return fileVersion{modTime: n, size: n} }
	missing := fileVersion{err: "no such file"}
	for _, tc := range []struct {
		name   string
		seen   fileVersion
		checks []fileVersion
		want   []bool // act at each check
	}{
		{"unchanged", v(1), []fileVersion{v(1), v(1), v(1)}, []bool{false, false, false}},
		{"changed once", v(1), []fileVersion{v(2), v(2), v(2)}, []bool{false, true, false}},
		{"still being written", v(1), []fileVersion{v(2), v(3), v(4), v(4)}, []bool{false, false, false, true}},
		{"changed and changed back", v(1), []fileVersion{v(2), v(1), v(1)}, []bool{false, false, false}},
		{"removed", v(1), []fileVersion{missing, missing, missing}, []bool{false, true, false}},
		{"appears", missing, []fileVersion{v(1), v(1)}, []bool{false, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen, pending := tc.seen, (*fileVersion)(nil)
			for i, check := range tc.checks {
				var now bool
				now, pending = settled(seen, pending, check)
				if now != tc.want[i] {
					t.Fatalf("check %d: got act %v, want %v", i, now, tc.want[i])
				}
				if now {
					seen, pending = check, nil
				}
			}
		})
	}
}

// TestServeDemoSecret starts serve with the sample clients.yaml, whose
// example-web has the demo secret published in this repository: refused for
// a public issuer, at start and on reload, saying why; accepted, with a
// warning, for the newcomer's loopback issuer, listening on the loopback
// addresses only.
func TestServeDemoSecret(t *testing.T) {
	sample, err := os.ReadFile("../../clients.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "clients.yaml")
	if err := os.WriteFile(file, sample, 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GATEHOUSE_DATABASE_URL": filepath.Join(dir, "g.db"), "GATEHOUSE_CLIENTS_FILE": file}

	public := map[string]string{"GATEHOUSE_ISSUER": "https://login.example.com", "GATEHOUSE_LISTEN": "127.0.0.1:0"}
	for k, v := range env {
		public[k] = v
	}
	logs, err := serveFails(t, public)
	if err == nil || !strings.Contains(err.Error(), "clients[0].client_secret_hash: is the demo secret published in Gatehouse's repository") ||
		!strings.Contains(err.Error(), "the issuer is https://login.example.com") {
		t.Errorf("serve with the demo secret and a public issuer: got %v, want it refused\n%s", err, logs)
	}

	local := map[string]string{"GATEHOUSE_LISTEN": "localhost:0"}
	for k, v := range env {
		local[k] = v
	}
	out, _, stop := startServe(t, local)
	stop()
	if !strings.Contains(out.String(), `"msg":"clients.yaml gives clients the demo secret published in Gatehouse's repository: accepted only because the issuer is on loopback; for local testing only","clients":["example-web"]`) {
		t.Errorf("serve with the demo secret on loopback: no warning:\n%s", out)
	}
	if m := regexp.MustCompile(`"listener":"http","addr":"([^"]+)"`).FindStringSubmatch(out.String()); m == nil || !strings.HasPrefix(m[1], "127.0.0.1:") {
		t.Errorf("serve on localhost: got listener %v, want 127.0.0.1 (and [::1])", m)
	}

	// On reload: a server with a public issuer refuses a file that brings
	// the demo secret, and keeps its clients.
	key := make([]byte, 32)
	rand.Read(key)
	store, err := sqlite.Open(t.Context(), filepath.Join(dir, "public.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cfg := defaultConfig()
	cfg.Issuer, cfg.ClientsFile = "https://login.example.com", filepath.Join(dir, "public.yaml")
	if err := os.WriteFile(cfg.ClientsFile, []byte(reloadFileV1), 0o600); err != nil {
		t.Fatal(err)
	}
	buf := &syncBuffer{}
	w := newClientsWatcher(cfg, environment{getenv: func(string) string { return "" }, readFile: os.ReadFile}, store, key, slog.New(slog.NewTextHandler(buf, nil)), nil)
	if err := w.applyAtStart(t.Context()); err != nil {
		t.Fatal(err)
	}
	data, v := w.read()
	if err := w.apply(t.Context(), append(data, []byte(strings.SplitN(string(sample), "\nclients:\n", 2)[1])...), v, audit.ActorOperator); err == nil {
		t.Fatal("reload with the demo secret and a public issuer: applied, want it refused")
	} else {
		w.logRefusal(err)
	}
	if line := lineWith(buf.String(), "is the demo secret published"); !strings.Contains(line, "level=ERROR") {
		t.Errorf("reload with the demo secret: got no ERROR line saying why:\n%s", buf)
	}
	if list, _ := store.ListClients(t.Context()); len(list) != 2 {
		t.Errorf("clients after the refused reload: got %d, want the 2 of the applied file", len(list))
	}
}

// FuzzClientsDigest: whatever file parses, the digest of its clients does
// not depend on their order (it was a property checked by
// FuzzParseClientsFile before the parser moved to clientpolicy).
func FuzzClientsDigest(f *testing.F) {
	f.Add([]byte("revision: 7\nclients:\n  - {client_id: a, token_endpoint_auth_method: none, redirect_uris: [\"https://a/cb\"]}\n  - {client_id: b, token_endpoint_auth_method: none, redirect_uris: [\"https://b/cb\"]}\n"))
	f.Add([]byte("clients:\n  - client_id: a\n    client_secret: example-web-demo-secret-local-testing-only\n    redirect_uris: [https://a/cb]\n  - client_id: b\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a/cb]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		parsed, err := clientpolicy.ParseFile(data, clientpolicy.Source{Filename: "clients.yaml", Issuer: "http://localhost:8080"})
		if err != nil {
			return
		}
		reversed := slices.Clone(parsed.Clients)
		slices.Reverse(reversed)
		if d := clientsDigest(parsed.Clients); d != clientsDigest(reversed) {
			t.Fatal("the digest depends on the clients' order")
		}
	})
}

// TestClientsDigest: the digest identifies the clients the store would
// hold, not the file: comments, layout, key order and client order do not
// change it; any setting, a secret included, does.
func TestClientsDigest(t *testing.T) {
	parse := func(file string, env map[string]string) string {
		t.Helper()
		key := bytes.Repeat([]byte{7}, 32)
		f, err := parseKeyedClients([]byte(file), "clients.yaml", "http://localhost:8080",
			environment{getenv: func(k string) string { return env[k] }, readFile: os.ReadFile}, key)
		if err != nil {
			t.Fatal(err)
		}
		return clientsDigest(f.Clients)
	}
	const base = "clients:\n  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n" +
		"  - client_id: b\n    client_secret_env: B_SECRET\n    redirect_uris: [https://b.example/cb]\n"
	secret := map[string]string{"B_SECRET": "b-secret-0123456789abcdefghijklmnopqrstu"}
	want := parse(base, secret)
	for name, file := range map[string]string{
		"comments and a revision": "# apps\nrevision: 9\n" + strings.ReplaceAll(base, "\n  - client_id: b", "\n  # b:\n  - client_id: b"),
		"client order": "clients:\n  - client_id: b\n    client_secret_env: B_SECRET\n    redirect_uris: [https://b.example/cb]\n" +
			"  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n",
		"key order and flow style": "clients:\n  - {redirect_uris: [\"https://a.example/cb\"], token_endpoint_auth_method: none, client_id: a}\n" +
			"  - client_id: b\n    redirect_uris:\n      - https://b.example/cb\n    client_secret_env: B_SECRET\n",
		"defaults written out":        strings.Replace(base, "    token_endpoint_auth_method: none\n", "    token_endpoint_auth_method: none\n    application_type: web\n    grant_types: [authorization_code]\n", 1),
		"an empty default_acr_values": strings.Replace(base, "redirect_uris: [https://a.example/cb]\n", "redirect_uris: [https://a.example/cb]\n    default_acr_values: []\n", 1),
	} {
		if got := parse(file, secret); got != want {
			t.Errorf("%s: got digest %s, want %s", name, got, want)
		}
	}
	for name, tc := range map[string]struct {
		file string
		env  map[string]string
	}{
		"a redirect URI":     {strings.Replace(base, "https://a.example/cb", "https://a.example/cb2", 1), secret},
		"a rotated secret":   {base, map[string]string{"B_SECRET": "b-secret-rotated-456789abcdefghijklmnopqr"}},
		"a client removed":   {strings.SplitN(base, "  - client_id: b", 2)[0], secret},
		"skip_consent: true": {strings.Replace(base, "redirect_uris: [https://a.example/cb]\n", "redirect_uris: [https://a.example/cb]\n    skip_consent: true\n", 1), secret},
		"require_mfa: true":  {strings.Replace(base, "redirect_uris: [https://a.example/cb]\n", "redirect_uris: [https://a.example/cb]\n    require_mfa: true\n", 1), secret},
		"default_acr_values": {strings.Replace(base, "redirect_uris: [https://a.example/cb]\n", "redirect_uris: [https://a.example/cb]\n    default_acr_values: [https://refeds.org/profile/mfa]\n", 1), secret},
	} {
		if got := parse(tc.file, tc.env); got == want {
			t.Errorf("%s: the digest did not change", name)
		}
	}
}

// An apply warns of allowed_groups naming groups that do not exist (a
// misspelt name keeps the group's members out), naming the client and only
// the missing groups, and applies the file all the same; a file whose
// groups all exist, or that names none, gets no such warning.
func TestApplyWarnsOfUnknownAllowedGroups(t *testing.T) {
	dir := t.TempDir()
	key := make([]byte, 32)
	rand.Read(key)
	store, err := sqlite.Open(t.Context(), filepath.Join(dir, "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.CreateGroup(t.Context(), &storage.Group{Name: "staff", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.ClientsFile = filepath.Join(dir, "clients.yaml")
	const warning = "allowed_groups name groups that do not exist"
	for _, tt := range []struct {
		name, groups, want string
	}{
		{"a misspelt group", "[staff, satff]", `client=app groups=[satff]`},
		{"every group exists", "[staff]", ""},
		{"no allowed_groups", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			file := reloadFileV1
			if tt.groups != "" {
				file = strings.Replace(file, "redirect_uris: [https://app.example/cb]\n", "redirect_uris: [https://app.example/cb]\n    allowed_groups: "+tt.groups+"\n", 1)
			}
			if err := os.WriteFile(cfg.ClientsFile, []byte(file), 0o600); err != nil {
				t.Fatal(err)
			}
			buf := &syncBuffer{}
			w := newClientsWatcher(cfg, environment{getenv: func(string) string { return "" }, readFile: os.ReadFile}, store, key, slog.New(slog.NewTextHandler(buf, nil)), nil)
			if err := w.applyAtStart(t.Context()); err != nil {
				t.Fatalf("apply: %v", err)
			}
			line := lineWith(buf.String(), warning)
			switch {
			case tt.want == "" && line != "":
				t.Errorf("got a warning, want none: %s", line)
			case tt.want != "" && (!strings.Contains(line, "level=WARN") || !strings.Contains(line, tt.want)):
				t.Errorf("got %q, want a WARN line with %s\n%s", line, tt.want, buf)
			}
			c, err := store.Client(t.Context(), "app")
			if err != nil || strings.Join(c.AllowedGroups, " ") != strings.Trim(strings.ReplaceAll(tt.groups, ",", ""), "[]") {
				t.Errorf("app after the apply: %+v, %v; want allowed_groups %s", c, err, tt.groups)
			}
		})
	}
}
