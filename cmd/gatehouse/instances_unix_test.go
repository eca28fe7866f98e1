//go:build unix

package main

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/postgres"
	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
)

// Revisions of a clients file during a rolling deploy.
const (
	deployRev1 = `revision: 1
clients:
  - client_id: app
    token_endpoint_auth_method: none
    redirect_uris: [https://app.example/cb]
  - client_id: old-app
    token_endpoint_auth_method: none
    redirect_uris: [https://old.example/cb]
`
	// deployRev2 adds new-app and drops old-app.
	deployRev2 = `revision: 2
clients:
  - client_id: app
    token_endpoint_auth_method: none
    redirect_uris: [https://app.example/cb]
  - client_id: new-app
    token_endpoint_auth_method: none
    redirect_uris: [https://new.example/cb]
`
	// deployRev2Other claims revision 2 with other clients.
	deployRev2Other = `revision: 2
clients:
  - client_id: app
    token_endpoint_auth_method: none
    redirect_uris: [https://app.example/cb]
`
	// deployCutShort is a clients file cut down to its comment header.
	deployCutShort = "# clients.yaml — the relying parties (apps) that may sign users in\n#   through Gatehouse.\n"
)

// instance is one in-process serve with a clients file of its own, on a
// database it shares with other instances.
type instance struct {
	file string
	env  map[string]string
	logs *syncBuffer
	addr string
	stop func()
}

// sharedDB returns the environment of instances sharing one fresh Postgres
// schema, and a store on it for the test's own checks.
func sharedDB(t *testing.T) (map[string]string, *postgres.Store) {
	t.Helper()
	dsn := pgtest.DSN(t)
	kek := make([]byte, 32)
	rand.Read(kek)
	env := map[string]string{
		"GATEHOUSE_DATABASE_URL":       dsn,
		"GATEHOUSE_KEY_ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(kek),
		"GATEHOUSE_LISTEN":             "127.0.0.1:0",
	}
	if err := postgres.Migrate(t.Context(), dsn); err != nil {
		t.Fatal(err)
	}
	st, err := postgres.Open(t.Context(), dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return env, st
}

// newInstance writes content as the clients file of a new instance on the
// shared database (env) and starts it.
func newInstance(t *testing.T, shared map[string]string, content string) *instance {
	t.Helper()
	in := &instance{file: filepath.Join(t.TempDir(), "clients.yaml"), env: map[string]string{}}
	for k, v := range shared {
		in.env[k] = v
	}
	in.env["GATEHOUSE_CLIENTS_FILE"] = in.file
	in.write(t, content)
	in.start(t)
	return in
}

func (in *instance) start(t *testing.T) {
	t.Helper()
	in.logs, in.addr, in.stop = startServe(t, in.env)
}

func (in *instance) restart(t *testing.T) {
	t.Helper()
	in.stop()
	in.start(t)
}

func (in *instance) write(t *testing.T, content string) {
	t.Helper()
	if err := os.WriteFile(in.file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// authorize returns the status of an authorization request for client
// with redirect: 302 (an error sent back to the app) when the instance
// serves that client with that redirect URI, 400 when it does not.
func (in *instance) authorize(t *testing.T, client, redirect string) int {
	t.Helper()
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirects.Get("http://" + in.addr + "/authorize?client_id=" + client + "&redirect_uri=" + url.QueryEscape(redirect))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// serves waits until the instance serves client (with redirect) or not,
// as want says: its cache of clients lasts 5 s.
func (in *instance) serves(t *testing.T, client, redirect string, want bool) {
	t.Helper()
	status := map[bool]int{true: http.StatusFound, false: http.StatusBadRequest}[want]
	eventually(t, "the instance to serve "+client+" or not", func() bool { return in.authorize(t, client, redirect) == status })
}

// metric waits until the instance's /metrics has line.
func (in *instance) metric(t *testing.T, line string) {
	t.Helper()
	eventually(t, "a metrics line "+line, func() bool {
		_, body := get(t, in.addr, "/metrics")
		return strings.Contains("\n"+body, "\n"+line+"\n")
	})
}

// hup sends SIGHUP to this process: every instance in it applies its file.
func hup(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

// wantRegistry checks the registry the shared store applied last.
func wantRegistry(t *testing.T, st *postgres.Store, revision int64, by *instance) {
	t.Helper()
	reg, err := st.AppliedClientRegistry(t.Context())
	if err != nil {
		t.Fatalf("AppliedClientRegistry: %v", err)
	}
	if reg.Revision != revision {
		t.Errorf("applied registry: got revision %d, want %d", reg.Revision, revision)
	}
	if by != nil && !strings.Contains(by.logs.String(), `"revision":`+strconv.FormatInt(revision, 10)) {
		t.Errorf("applied registry revision %d: the instance meant to apply it never logged it:\n%s", revision, by.logs)
	}
}

// enabledClients returns the ids of the enabled clients in the store.
func enabledClients(t *testing.T, st storage.Clients) []string {
	t.Helper()
	list, err := st.ListClients(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range list {
		if !c.Disabled {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// TestRollingDeployTwoInstances runs two instances on one Postgres database
// through a rolling deploy of clients.yaml: A gets revision 2 while B still
// holds revision 1, B is restarted with its old file, both get SIGHUP, B
// gets a file that claims revision 2 with other clients, then one cut down
// to its comment header. The store must end each step holding revision 2,
// never reverting to 1, never flapping; B must say its file differs (log
// and gatehouse_clients_file_differs); and A must keep serving its apps
// whatever B's file holds.
func TestRollingDeployTwoInstances(t *testing.T) {
	shared, st := sharedDB(t)
	a := newInstance(t, shared, deployRev1)
	b := newInstance(t, shared, deployRev1)
	for _, in := range []*instance{a, b} {
		in.serves(t, "old-app", "https://old.example/cb", true)
		in.metric(t, "gatehouse_clients_file_differs 0")
	}

	// A gets revision 2 and applies it on SIGHUP; B, still on revision 1,
	// applies nothing and says so, and serves revision 2's clients.
	a.write(t, deployRev2)
	hup(t)
	eventually(t, "A to apply revision 2", func() bool { return strings.Contains(a.logs.String(), `"revision":2`) })
	eventually(t, "B to warn that its file is older", func() bool {
		return strings.Contains(b.logs.String(), "older than the clients registry applied in the store")
	})
	wantRegistry(t, st, 2, a)
	b.serves(t, "new-app", "https://new.example/cb", true)
	b.serves(t, "old-app", "https://old.example/cb", false)
	b.metric(t, "gatehouse_clients_file_differs 1")
	b.metric(t, "gatehouse_clients_file_revision 1")
	b.metric(t, "gatehouse_clients_registry_revision 2")
	a.metric(t, "gatehouse_clients_file_differs 0")

	// B restarts mid-deploy with its old file: it starts, serving revision
	// 2, and the store keeps revision 2.
	b.restart(t)
	if !strings.Contains(b.logs.String(), "clients file not applied: its revision is older") {
		t.Errorf("B restarted with revision 1: no warning that its file is older:\n%s", b.logs)
	}
	wantRegistry(t, st, 2, nil)
	b.serves(t, "new-app", "https://new.example/cb", true)
	b.metric(t, "gatehouse_clients_file_differs 1")
	// No flapping: over several checks of both instances nothing is
	// applied again.
	before, err := st.AppliedClientRegistry(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	applies := strings.Count(a.logs.String()+b.logs.String(), `"msg":"clients synced"`)
	time.Sleep(3 * clientsPollInterval)
	if after, _ := st.AppliedClientRegistry(t.Context()); *after != *before {
		t.Errorf("the applied registry changed with no file changed: got %+v, want %+v", *after, *before)
	}
	if n := strings.Count(a.logs.String()+b.logs.String(), `"msg":"clients synced"`); n != applies {
		t.Errorf("clients synced %d times with no file changed, want 0", n-applies)
	}
	if got := enabledClients(t, st); strings.Join(got, ",") != "app,new-app" {
		t.Errorf("enabled clients: got %v, want [app new-app]", got)
	}

	// B gets a file claiming revision 2 with other clients: refused
	// loudly (error, audit event, metric), never applied.
	b.write(t, deployRev2Other)
	hup(t)
	eventually(t, "B to refuse the conflicting file", func() bool {
		return strings.Contains(b.logs.String(), "clients file refused: the store applied this revision with other clients")
	})
	b.metric(t, `gatehouse_clients_file_refused_total{reason="conflict"} 1`)
	events, err := st.AuditEvents(t.Context(), storage.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var audited bool
	for _, e := range events {
		audited = audited || e.Kind == auditClientsFileRefused && strings.Contains(e.Detail, "revision 2")
	}
	if !audited {
		t.Errorf("audit trail: no %s event for the conflicting file: %+v", auditClientsFileRefused, events)
	}
	if got := enabledClients(t, st); strings.Join(got, ",") != "app,new-app" {
		t.Errorf("enabled clients after the conflicting file: got %v, want [app new-app]", got)
	}

	// B gets revision 2: the instances agree.
	b.write(t, deployRev2)
	hup(t)
	b.metric(t, "gatehouse_clients_file_differs 0")
	b.metric(t, "gatehouse_clients_file_revision 2")

	// B's file is cut down to its comment header: refused on reload and at
	// start; A goes on serving its apps.
	b.write(t, deployCutShort)
	hup(t)
	eventually(t, "B to refuse the cut-short file", func() bool {
		return strings.Contains(b.logs.String(), "holds no clients: list")
	})
	b.metric(t, "gatehouse_clients_file_differs 1")
	b.stop()
	logs, err := serveFails(t, b.env)
	if err == nil || !strings.Contains(err.Error(), "holds no clients: list") {
		t.Errorf("B started with a cut-short file: got %v, want the file refused\n%s", err, logs)
	}
	a.serves(t, "app", "https://app.example/cb", true)
	a.serves(t, "new-app", "https://new.example/cb", true)
	wantRegistry(t, st, 2, nil)
	if got := enabledClients(t, st); strings.Join(got, ",") != "app,new-app" {
		t.Errorf("enabled clients after B's cut-short file: got %v, want [app new-app]", got)
	}
}

// TestUnrevisionedFilesTwoInstances runs two instances on one Postgres
// database with different files without a revision: the last one applied
// wins (each instance applies its file only at start, on SIGHUP or when it
// changes, so nothing flaps), and the difference is never silent: the one
// that replaced the other's clients warns, and the other warns at its
// checks and reports gatehouse_clients_file_differs 1 until its file
// matches.
func TestUnrevisionedFilesTwoInstances(t *testing.T) {
	shared, st := sharedDB(t)
	withoutRevision := func(s string) string { _, rest, _ := strings.Cut(s, "\n"); return rest }
	a := newInstance(t, shared, withoutRevision(deployRev1))
	a.metric(t, "gatehouse_clients_file_differs 0")
	b := newInstance(t, shared, withoutRevision(deployRev2))
	if !strings.Contains(b.logs.String(), "this clients file replaced other clients") {
		t.Errorf("B replaced A's clients without a warning:\n%s", b.logs)
	}
	eventually(t, "A to warn that its file differs", func() bool {
		return strings.Contains(a.logs.String(), "differs from the clients another instance applied")
	})
	a.metric(t, "gatehouse_clients_file_differs 1")
	a.serves(t, "new-app", "https://new.example/cb", true)

	applied, err := st.AppliedClientRegistry(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * clientsPollInterval)
	if again, _ := st.AppliedClientRegistry(t.Context()); *again != *applied {
		t.Errorf("the applied registry changed with no file changed: got %+v, want %+v", *again, *applied)
	}

	a.write(t, withoutRevision(deployRev2))
	hup(t)
	a.metric(t, "gatehouse_clients_file_differs 0")
	b.metric(t, "gatehouse_clients_file_differs 0")
}

// TestCutShortFileKeepsOtherInstancesServing is the outage this guards
// against: two instances share a database, and one is restarted, or
// reloads, with a clients.yaml cut down to its comment header, or empty.
// That instance must refuse the file, and the other must keep serving
// every app; nothing is disabled.
func TestCutShortFileKeepsOtherInstancesServing(t *testing.T) {
	shared, st := sharedDB(t)
	a := newInstance(t, shared, deployRev1)
	b := newInstance(t, shared, deployRev1)

	for _, bad := range []string{deployCutShort, ""} {
		b.write(t, bad)
		hup(t)
		eventually(t, "B to refuse the file on SIGHUP", func() bool {
			return strings.Contains(b.logs.String(), "holds no clients: list")
		})
		b.stop()
		logs, err := serveFails(t, b.env)
		if err == nil || !strings.Contains(err.Error(), "holds no clients: list") {
			t.Errorf("B started with file %q: got %v, want it refused\n%s", bad, err, logs)
		}
		for _, c := range [][2]string{{"app", "https://app.example/cb"}, {"old-app", "https://old.example/cb"}} {
			if got := a.authorize(t, c[0], c[1]); got != http.StatusFound {
				t.Errorf("A serving %s after B got file %q: got %d, want 302", c[0], bad, got)
			}
		}
		if got := enabledClients(t, st); strings.Join(got, ",") != "app,old-app" {
			t.Errorf("enabled clients after B got file %q: got %v, want [app old-app]", bad, got)
		}
		b.write(t, deployRev1)
		b.start(t)
	}
}
