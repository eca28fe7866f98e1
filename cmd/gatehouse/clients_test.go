package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/provider"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

func TestClientsSecret(t *testing.T) {
	out, err := cli(t, t.TempDir()+"/g.db", "", "clients", "secret")
	if err != nil {
		t.Fatalf("clients secret: %v", err)
	}
	m := regexp.MustCompile(`(?s)\n  ([A-Za-z0-9_-]{43})\n.*client_secret_hash: (sha256:[0-9a-f]{64})\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("clients secret output: got %q, want a 43-character secret and its hash", out)
	}
	if !provider.VerifyClientSecret(m[2], m[1]) || !clientpolicy.ValidSecretHash(m[2]) {
		t.Errorf("the printed hash does not verify the printed secret")
	}
	again, _ := cli(t, t.TempDir()+"/g.db", "", "clients", "secret")
	if again == out {
		t.Error("two runs printed the same secret")
	}
	if _, err := cli(t, "", "", "clients", "frobnicate"); !errors.Is(err, errUsage) {
		t.Errorf("clients frobnicate: got %v, want the usage error", err)
	}
}

const (
	clientsCmdFileV1 = `clients:
  - client_id: app
    token_endpoint_auth_method: none
    redirect_uris: [https://app.example/cb]
  - client_id: secret-app
    client_name: Secret App
    client_secret: secret-app-secret-0123456789abcdefghijk
    redirect_uris: [https://secret.example/cb]
    backchannel_logout_uri: https://secret.example/backchannel
  - client_id: gone-app
    token_endpoint_auth_method: none
    redirect_uris: [https://gone.example/cb]
`
	// V2 changes app and the secret of secret-app, drops gone-app and adds
	// new-app.
	clientsCmdFileV2 = `clients:
  - client_id: app
    token_endpoint_auth_method: none
    redirect_uris: [https://app.example/cb, https://app.example/cb2]
    skip_consent: true
    require_mfa: true
    default_acr_values: [https://refeds.org/profile/mfa]
    allowed_groups: [staff, ops]
  - client_id: secret-app
    client_name: Secret App
    client_secret: ` + clientsCmdNewSecret + `
    redirect_uris: [https://secret.example/cb]
    backchannel_logout_uri: https://secret.example/backchannel
  - client_id: new-app
    token_endpoint_auth_method: none
    redirect_uris: [https://new.example/cb]
`
	clientsCmdNewSecret = "secret-app-rotated-0123456789abcdefghijk"
)

func TestClientsDiffListShow(t *testing.T) {
	dir := t.TempDir()
	db, file := filepath.Join(dir, "g.db"), filepath.Join(dir, "clients.yaml")
	env := map[string]string{"GATEHOUSE_DATABASE_URL": db, "GATEHOUSE_CLIENTS_FILE": file, "GATEHOUSE_LISTEN": "127.0.0.1:0"}
	write := func(name, content string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	storedClients := func() []storage.Client {
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
		return list
	}
	write("clients.yaml", clientsCmdFileV1)

	// Before any sync: everything would be created, and diff writes
	// nothing, not even the key secrets are hashed with.
	out, err := cliEnv(t, env, "clients", "diff")
	if err != nil {
		t.Fatalf("clients diff: %v\n%s", err, out)
	}
	for _, want := range []string{"create   app (public, none)", "create   secret-app (confidential, client_secret_basic)", "3 to create, 0 to update, 0 to disable"} {
		if !strings.Contains(out, want) {
			t.Errorf("clients diff on an empty store: got %q, want it to contain %q", out, want)
		}
	}
	if got := storedClients(); len(got) != 0 {
		t.Errorf("clients after diff: got %d, want none", len(got))
	}
	if _, err := os.Stat(db + ".kek"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("diff on an empty store created the key file: %v", err)
	}

	_, _, stop := startServe(t, env)
	stop()
	if out, err := cliEnv(t, env, "clients", "diff"); err != nil || !strings.HasSuffix(out, "\nno changes\n") {
		t.Errorf("clients diff after serve applied the file: got %q, %v; want no changes", out, err)
	}

	// A change: diff names every difference, never a secret or its hash,
	// and exits 1, as it would update and disable clients.
	write("clients.yaml", clientsCmdFileV2)
	before := storedClients()
	out, err = cliEnv(t, env, "clients", "diff")
	if exitStatus(err) != diffChanges {
		t.Fatalf("clients diff that would update and disable: got %v (exit status %d), want exit status 1\n%s", err, exitStatus(err), out)
	}
	want := `no revision; the store applied no revision (other clients) at ` + appliedAtBy(t, db) + `
create   new-app (public, none)
update   app
           redirect_uris: [https://app.example/cb] → [https://app.example/cb, https://app.example/cb2]
           skip_consent: false → true
           require_mfa: false → true
           default_acr_values: [] → [https://refeds.org/profile/mfa]
           allowed_groups: [] → [staff, ops]
update   secret-app
           secret changed
disable  gone-app (gone from the file)
1 to create, 2 to update, 1 to disable
`
	if out != want {
		t.Errorf("clients diff:\ngot\n%s\nwant\n%s", out, want)
	}
	for _, secret := range []string{clientsCmdNewSecret, "sha256:"} {
		if strings.Contains(out, secret) {
			t.Errorf("clients diff shows %q:\n%s", secret, out)
		}
	}
	if after := storedClients(); !reflect.DeepEqual(after, before) {
		t.Errorf("clients diff changed the store:\ngot  %+v\nwant %+v", after, before)
	}
	// --file compares another file.
	if out, err := cliEnv(t, env, "clients", "diff", "--file", write("same.yaml", clientsCmdFileV1)); err != nil || !strings.HasSuffix(out, "(the same clients) at "+appliedAtBy(t, db)+"\nno changes\n") {
		t.Errorf("clients diff --file with the applied content: got %q, %v; want no changes", out, err)
	}

	// Apply V2: gone-app is disabled.
	_, _, stop = startServe(t, env)
	stop()
	out, err = cliEnv(t, env, "clients", "list")
	if err != nil {
		t.Fatalf("clients list: %v", err)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		rows[f[0]] = f
	}
	wantRows := map[string][]string{
		"CLIENT_ID":  {"CLIENT_ID", "NAME", "TYPE", "AUTH", "GRANTS", "STATUS", "SKIP_CONSENT", "BACKCHANNEL", "SOURCE"},
		"app":        {"app", "app", "public", "none", "authorization_code", "enabled", "yes", "no", "file"},
		"gone-app":   {"gone-app", "gone-app", "public", "none", "authorization_code", "disabled", "no", "no", "file"},
		"new-app":    {"new-app", "new-app", "public", "none", "authorization_code", "enabled", "no", "no", "file"},
		"secret-app": {"secret-app", "Secret", "App", "confidential", "client_secret_basic", "authorization_code", "enabled", "no", "yes", "file"},
	}
	if !reflect.DeepEqual(rows, wantRows) {
		t.Errorf("clients list:\ngot  %q\nwant %q\n%s", rows, wantRows, out)
	}

	var stored storage.Client
	for _, c := range storedClients() {
		if c.ID == "secret-app" {
			stored = c
		}
	}
	out, err = cliEnv(t, env, "clients", "show", "secret-app")
	if err != nil {
		t.Fatalf("clients show: %v", err)
	}
	for _, want := range []string{"client_id                             secret-app\n", "client_secret_hash                    hmac-sha256:…\n",
		"type                                  confidential\n", "status                                enabled\n",
		"source                                file\n",
		"backchannel_logout_uri                https://secret.example/backchannel\n", "redirect_uris                         [https://secret.example/cb]\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("clients show: got\n%s\nwant it to contain %q", out, want)
		}
	}
	if _, hexHash, _ := strings.Cut(stored.SecretHash, ":"); hexHash == "" || strings.Contains(out, hexHash[:8]) {
		t.Errorf("clients show prints the secret hash %q:\n%s", stored.SecretHash, out)
	}
	out, err = cliEnv(t, env, "clients", "show", "--json", "secret-app")
	if err != nil {
		t.Fatalf("clients show --json: %v", err)
	}
	var shown map[string]any
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("clients show --json: %v\n%s", err, out)
	}
	for k, want := range map[string]any{
		"client_id": "secret-app", "client_name": "Secret App", "client_secret_hash": "hmac-sha256:…", "disabled": false,
		"type": "confidential", "backchannel_logout_uri": "https://secret.example/backchannel", "access_token_format": "jwt",
		"require_mfa": false,
	} {
		if !reflect.DeepEqual(shown[k], want) {
			t.Errorf("clients show --json: %s: got %v, want %v", k, shown[k], want)
		}
	}
	// A list setting is shown as a JSON list, and left out when empty (as
	// for secret-app above).
	for _, k := range []string{"default_acr_values", "allowed_groups"} {
		if _, ok := shown[k]; ok {
			t.Errorf("clients show --json secret-app: got %s %v, want it left out", k, shown[k])
		}
	}
	out, err = cliEnv(t, env, "clients", "show", "--json", "app")
	if err != nil {
		t.Fatalf("clients show --json app: %v", err)
	}
	shown = nil
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("clients show --json app: %v\n%s", err, out)
	}
	if got, want := shown["default_acr_values"], []any{"https://refeds.org/profile/mfa"}; !reflect.DeepEqual(got, want) {
		t.Errorf("clients show --json app: default_acr_values: got %v, want %v", got, want)
	}
	if got, want := shown["allowed_groups"], []any{"staff", "ops"}; !reflect.DeepEqual(got, want) {
		t.Errorf("clients show --json app: allowed_groups: got %v, want %v", got, want)
	}
	if out, err := cliEnv(t, env, "clients", "show", "app"); err != nil || !strings.Contains(out, "allowed_groups                        [staff, ops]\n") {
		t.Errorf("clients show app: got %q, %v; want allowed_groups [staff, ops]", out, err)
	}
	if out, err := cliEnv(t, env, "clients", "show", "gone-app"); err != nil || !strings.Contains(out, "disabled") {
		t.Errorf("clients show of a disabled client: got %q, %v; want it shown as disabled", out, err)
	}

	bad := []struct {
		name string
		args []string
		want string
	}{
		{"unknown client", []string{"clients", "show", "nobody"}, `no client "nobody"`},
		{"missing file", []string{"clients", "diff", "--file", filepath.Join(dir, "nowhere.yaml")}, "no such file"},
		{"syntax error", []string{"clients", "diff", "--file", write("syntax.yaml", "clients:\n  - client_id: [\n")}, "syntax.yaml:2: not valid YAML"},
		{"http redirect to another host", []string{"clients", "diff", "--file", write("http.yaml",
			"clients:\n  - client_id: app\n    token_endpoint_auth_method: none\n    redirect_uris: [http://app.example/cb]\n")},
			"http.yaml:4: clients[0].redirect_uris[0]: must use https"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			out, err := cliEnv(t, env, tc.args...)
			if err == nil || errors.Is(err, errUsage) || !strings.Contains(out+err.Error(), tc.want) {
				t.Errorf("got %q, %v; want an error mentioning %q", out, err, tc.want)
			}
		})
	}
	for _, args := range [][]string{
		{"clients"}, {"clients", "show"}, {"clients", "show", "a", "b"}, {"clients", "list", "extra"}, {"clients", "diff", "extra"},
		{"clients", "list", "--json"}, {"clients", "show", "app", "--file", "x"}, {"clients", "diff", "--nope"}, {"clients", "secret", "extra"},
	} {
		if out, err := cliEnv(t, env, args...); !errors.Is(err, errUsage) {
			t.Errorf("gatehouse %v: got %q, %v; want the usage error", args, out, err)
		}
	}
	if after := storedClients(); len(after) != 4 {
		t.Errorf("clients after the bad commands: got %d, want the 4 applied", len(after))
	}
}

// appliedAtBy returns when and by whom the clients registry in the SQLite
// database db was applied, as diff prints it.
func appliedAtBy(t *testing.T, db string) string {
	t.Helper()
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg, err := st.AppliedClientRegistry(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return reg.AppliedAt.UTC().Format(time.RFC3339) + " by " + reg.AppliedBy
}

// TestClientFieldsCoverStorageClient checks that diff describes a change of
// every client field a sync writes, and that the sync sees each as one.
func TestClientFieldsCoverStorageClient(t *testing.T) {
	base := storage.Client{ID: "app"}
	typ := reflect.TypeFor[storage.Client]()
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		switch name {
		case "ID", "Disabled", "CreatedAt", "UpdatedAt", "Source", "Version":
			continue // not settings, or not in the file
		}
		t.Run(name, func(t *testing.T) {
			changed := base
			v := reflect.ValueOf(&changed).Elem().Field(i)
			switch v.Kind() {
			case reflect.String:
				v.SetString("x")
			case reflect.Bool:
				v.SetBool(true)
			case reflect.Int64:
				v.SetInt(int64(time.Hour))
			case reflect.Slice:
				if v.Type().Elem().Kind() == reflect.Uint8 {
					v.SetBytes([]byte(`{"keys":[]}`))
				} else {
					v.Set(reflect.ValueOf([]string{"x"}))
				}
			default:
				t.Fatalf("field %s of kind %s: teach this test and clientFields about it", name, v.Kind())
			}
			if got := clientChanges(&base, &changed); len(got) != 1 {
				t.Errorf("clientChanges: got %q, want one line for %s", got, name)
			}
			plan, err := storage.PlanClientSync([]storage.Client{base}, []storage.Client{changed})
			if err != nil || len(plan.Update) != 1 {
				t.Errorf("PlanClientSync: got %+v, %v; want %s changed", plan, err, name)
			}
		})
	}
}

// TestEveryCommandHelp runs each command and subcommand with --help (and
// the other spellings): usage with examples on stdout, nothing on stderr,
// success, and nothing opened or created.
func TestEveryCommandHelp(t *testing.T) {
	commands := [][]string{
		{}, {"serve"}, {"migrate"},
		{"users"}, {"users", "add"}, {"users", "list"}, {"users", "passwd"}, {"users", "disable"},
		{"users", "mfa"}, {"users", "mfa", "reset"},
		{"groups"}, {"groups", "create"}, {"groups", "delete"}, {"groups", "list"}, {"groups", "add"},
		{"groups", "remove"}, {"groups", "members"},
		{"sessions"}, {"sessions", "list"}, {"sessions", "revoke"},
		{"keys"}, {"keys", "list"}, {"keys", "rotate"}, {"keys", "revoke"}, {"keys", "rewrap"},
		{"clients"}, {"clients", "secret"}, {"clients", "diff"}, {"clients", "list"}, {"clients", "show"},
		{"audit"},
	}
	dir := t.TempDir()
	env := map[string]string{"GATEHOUSE_DATABASE_URL": filepath.Join(dir, "g.db")}
	for _, cmd := range commands {
		for _, help := range []string{"--help", "-h", "help"} {
			if help == "help" && len(cmd) > 1 {
				continue // help as an argument is only a command's first word
			}
			args := append(append([]string{"gatehouse"}, cmd...), help)
			t.Run(strings.Join(args[1:], " "), func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				err := run(t.Context(), args, func(k string) string { return env[k] }, strings.NewReader(""), &stdout, &stderr)
				if err != nil {
					t.Errorf("got error %v, want none", err)
				}
				if out := stdout.String(); !strings.Contains(out, "Usage") || !strings.Contains(out, "Examples:") {
					t.Errorf("stdout: got %q, want the usage with examples", out)
				}
				if stderr.Len() > 0 {
					t.Errorf("stderr: got %q, want nothing", stderr.String())
				}
			})
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("--help created %v", entries)
	}
}

// TestClientsDiffExitStatus checks diff's exit status, which a deploy script
// stops on: 0 for nothing or only creations, 1 when clients would be
// updated or disabled (clients: [] included), 2 for a file that is invalid
// (empty, comments only, cut short, the demo secret for a public issuer) or
// that serve would refuse (an older revision, the applied revision with
// other clients), 3 when it cannot compare.
func TestClientsDiffExitStatus(t *testing.T) {
	dir := t.TempDir()
	db, file := filepath.Join(dir, "g.db"), filepath.Join(dir, "clients.yaml")
	env := map[string]string{"GATEHOUSE_DATABASE_URL": db, "GATEHOUSE_CLIENTS_FILE": file, "GATEHOUSE_LISTEN": "127.0.0.1:0"}
	write := func(name, content string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	const rev3 = "revision: 3\n" + clientsCmdFileV1
	write("clients.yaml", rev3)
	_, _, stop := startServe(t, env)
	stop()
	extra := "  - client_id: extra-app\n    token_endpoint_auth_method: none\n    redirect_uris: [https://extra.example/cb]\n"
	sample, err := os.ReadFile("../../clients.yaml")
	if err != nil {
		t.Fatal(err)
	}
	header, _, _ := strings.Cut(string(sample), "\nclients:\n")

	for _, tc := range []struct {
		name, file string
		env        map[string]string // added to env
		status     int
		want       string // in the output or the error
	}{
		{"the applied file", rev3, nil, diffNoChange, "revision 3; the store applied revision 3 (the same clients)"},
		{"a client added", "revision: 4\n" + clientsCmdFileV1 + extra, nil, diffNoChange, "create   extra-app"},
		{"a client changed", "revision: 4\n" + strings.Replace(clientsCmdFileV1, "https://app.example/cb", "https://app.example/cb2", 1), nil, diffChanges, "update   app"},
		{"a client removed", "revision: 4\n" + strings.TrimSuffix(clientsCmdFileV1, "  - client_id: gone-app\n    token_endpoint_auth_method: none\n    redirect_uris: [https://gone.example/cb]\n"), nil, diffChanges, "disable  gone-app"},
		{"every client removed on purpose", "revision: 4\nclients: []\n", nil, diffChanges, "0 to create, 0 to update, 3 to disable"},
		{"empty", "", nil, diffInvalid, "holds no clients: list"},
		{"the sample's comment header", header + "\n", nil, diffInvalid, "holds no clients: list"},
		{"cut short after clients:", "revision: 4\nclients:\n", nil, diffInvalid, "clients: has no list under it"},
		{"syntax error", "clients:\n  - client_id: [\n", nil, diffInvalid, "not valid YAML"},
		{"an older revision", "revision: 2\n" + clientsCmdFileV1 + extra, nil, diffInvalid, "clients revision 2 is older than revision 3"},
		{"no revision after revision 3", clientsCmdFileV1, nil, diffInvalid, "clients revision 0 is older than revision 3"},
		{"the applied revision, other clients", rev3 + extra, nil, diffInvalid, "clients revision 3 differs from the revision 3 applied"},
		{"the demo secret, issuer not on loopback", "revision: 4\nclients:\n" + strings.SplitN(string(sample), "\nclients:\n", 2)[1],
			map[string]string{"GATEHOUSE_ISSUER": "https://login.example.com"}, diffInvalid, "is the demo secret published in Gatehouse's repository"},
		{"store unreachable", rev3, map[string]string{"GATEHOUSE_DATABASE_URL": "postgres://127.0.0.1:1/nothing?connect_timeout=2", "GATEHOUSE_KEY_ENCRYPTION_KEY": newKEKText(t)}, diffFailed, "postgres"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := map[string]string{}
			for k, v := range env {
				e[k] = v
			}
			for k, v := range tc.env {
				e[k] = v
			}
			out, err := cliEnv(t, e, "clients", "diff", "--file", write("new.yaml", tc.file))
			if got := exitStatus(err); err != nil && got != tc.status || err == nil && tc.status != 0 {
				t.Errorf("exit status: got %d (%v), want %d\n%s", got, err, tc.status, out)
			}
			if err != nil {
				out += err.Error()
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("got\n%s\nwant it to contain %q", out, tc.want)
			}
		})
	}
	if _, err := cliEnv(t, env, "clients", "diff", "--nope"); exitStatus(err) != diffFailed || !errors.Is(err, errUsage) {
		t.Errorf("clients diff with a bad flag: got %v (exit status %d), want the usage error with exit status %d", err, exitStatus(err), diffFailed)
	}
	if got := exitStatus(errUsage); got != 1 {
		t.Errorf("exit status of other commands' errors: got %d, want 1", got)
	}
}
