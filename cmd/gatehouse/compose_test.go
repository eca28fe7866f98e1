package main

// Config-level checks of the Docker Compose stack (compose.yaml,
// gatehouse.env.example, Dockerfile at the repository root): nothing here
// runs Docker. The checks are functions over the parsed files that return
// every problem found, so that the real files and deliberately broken
// copies go through the same code.

import (
	"encoding/base64"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/keys"
)

// composeRequiredEnv are the GATEHOUSE_* variables the production stack
// must set on the gatehouse service.
var composeRequiredEnv = []string{
	"GATEHOUSE_ISSUER",
	"GATEHOUSE_LISTEN",
	"GATEHOUSE_DATABASE_URL",
	"GATEHOUSE_REDIS_URL",
	"GATEHOUSE_CLIENTS_FILE",
}

const (
	composeKEKEnv      = "GATEHOUSE_KEY_ENCRYPTION_KEY"
	composePostgresDir = "/var/lib/postgresql/data"
)

// composeRepoFile reads a file from the repository root (the test runs in
// cmd/gatehouse).
func composeRepoFile(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(name)))
}

// loadComposeDoc parses ../../compose.yaml.
func loadComposeDoc(t *testing.T) map[string]any {
	t.Helper()
	data, err := composeRepoFile("compose.yaml")
	if err != nil {
		t.Fatalf("reading compose.yaml: %v", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("parsing compose.yaml: %v", err)
	}
	return doc
}

// copyComposeDoc returns a deep copy of doc, for mutating.
func copyComposeDoc(t *testing.T, doc map[string]any) map[string]any {
	t.Helper()
	data, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := yaml.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func composeMapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func composeListOf(v any) []any {
	l, _ := v.([]any)
	return l
}

// composeScalar renders a YAML scalar (string, number, bool) as Compose
// does; nil is "".
func composeScalar(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// composeEnv returns a service's environment, in map or list form. A
// variable without a value (Compose takes it from the shell running
// `docker compose`) is a problem: the stack must not depend on that shell.
func composeEnv(svc map[string]any) (env map[string]string, probs []string) {
	env = make(map[string]string)
	switch e := svc["environment"].(type) {
	case nil:
	case map[string]any:
		for k, v := range e {
			if v == nil {
				probs = append(probs, fmt.Sprintf("environment: got %s with no value (taken from the shell running docker compose), want a value", k))
				continue
			}
			env[k] = composeScalar(v)
		}
	case []any:
		for _, item := range e {
			k, v, ok := strings.Cut(composeScalar(item), "=")
			if !ok {
				probs = append(probs, fmt.Sprintf("environment: got %s with no value (taken from the shell running docker compose), want KEY=VALUE", k))
				continue
			}
			env[k] = v
		}
	default:
		probs = append(probs, fmt.Sprintf("environment: got a %T, want a mapping or a list", e))
	}
	return env, probs
}

// composeEnvFiles returns the paths a service's env_file names (a string,
// a list of strings, or a list of {path: …}).
func composeEnvFiles(svc map[string]any) []string {
	switch e := svc["env_file"].(type) {
	case string:
		return []string{e}
	case []any:
		var files []string
		for _, item := range e {
			if m := composeMapOf(item); m != nil {
				files = append(files, composeScalar(m["path"]))
			} else {
				files = append(files, composeScalar(item))
			}
		}
		return files
	}
	return nil
}

type composeMount struct {
	source, target string
	readOnly       bool
}

// composeMounts returns a service's volumes, in short ("src:dst[:ro]") or
// long syntax.
func composeMounts(svc map[string]any) []composeMount {
	var mounts []composeMount
	for _, item := range composeListOf(svc["volumes"]) {
		if m := composeMapOf(item); m != nil {
			mounts = append(mounts, composeMount{
				source:   composeScalar(m["source"]),
				target:   composeScalar(m["target"]),
				readOnly: composeScalar(m["read_only"]) == "true",
			})
			continue
		}
		parts := strings.Split(composeScalar(item), ":")
		var mt composeMount
		switch len(parts) {
		case 1:
			mt.target = parts[0] // anonymous volume
		default:
			mt.source, mt.target = parts[0], parts[1]
			if len(parts) > 2 {
				mt.readOnly = slices.Contains(strings.Split(parts[2], ","), "ro")
			}
		}
		mounts = append(mounts, mt)
	}
	return mounts
}

type composePort struct {
	published, target string
}

// composePorts returns a service's published ports, in short
// ("[ip:]host:container[/proto]") or long syntax.
func composePorts(svc map[string]any) []composePort {
	var ports []composePort
	for _, item := range composeListOf(svc["ports"]) {
		if m := composeMapOf(item); m != nil {
			ports = append(ports, composePort{published: composeScalar(m["published"]), target: composeScalar(m["target"])})
			continue
		}
		s, _, _ := strings.Cut(composeScalar(item), "/")
		parts := strings.Split(s, ":")
		p := composePort{target: parts[len(parts)-1]}
		if len(parts) > 1 {
			p.published = parts[len(parts)-2]
		}
		ports = append(ports, p)
	}
	return ports
}

// composeDependsOn returns the services a service depends on and the
// condition of each ("" for the list form, which waits only for start).
func composeDependsOn(svc map[string]any) map[string]string {
	deps := make(map[string]string)
	switch d := svc["depends_on"].(type) {
	case []any:
		for _, name := range d {
			deps[composeScalar(name)] = ""
		}
	case map[string]any:
		for name, v := range d {
			deps[name] = composeScalar(composeMapOf(v)["condition"])
		}
	}
	return deps
}

// composeHealthcheck returns a service's healthcheck command as one string,
// or "" if it has none or it is disabled.
func composeHealthcheck(svc map[string]any) string {
	hc := composeMapOf(svc["healthcheck"])
	if hc == nil || composeScalar(hc["disable"]) == "true" {
		return ""
	}
	var words []string
	switch test := hc["test"].(type) {
	case string:
		words = []string{test}
	case []any:
		for _, w := range test {
			words = append(words, composeScalar(w))
		}
	}
	if len(words) == 0 || words[0] == "NONE" {
		return ""
	}
	return strings.Join(words, " ")
}

// composeIgnores reports whether an ignore file (.gitignore,
// .dockerignore) lists name at the repository root.
func composeIgnores(ignoreFile []byte, name string) bool {
	for line := range strings.Lines(string(ignoreFile)) {
		line = strings.TrimSpace(line)
		if line == name || line == "/"+name {
			return true
		}
	}
	return false
}

// checkCompose returns every problem with the parsed compose.yaml doc;
// readRepoFile reads the files it refers to (env files, the clients file,
// .gitignore) from the repository root.
func checkCompose(doc map[string]any, readRepoFile func(string) ([]byte, error)) []string {
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }

	if _, ok := doc["version"]; ok {
		bad("top level: got version:, want none (obsolete in the Compose Specification)")
	}
	services := composeMapOf(doc["services"])
	var names []string
	for name := range services {
		names = append(names, name)
	}
	slices.Sort(names)
	var missing bool
	for _, want := range []string{"postgres", "redis", "gatehouse"} {
		if composeMapOf(services[want]) == nil {
			bad("services: got %v, want a service named %s", names, want)
			missing = true
		}
	}
	if missing {
		return probs
	}
	pg := composeMapOf(services["postgres"])
	redis := composeMapOf(services["redis"])
	gh := composeMapOf(services["gatehouse"])

	// The gatehouse service's environment: only variables Gatehouse reads,
	// and every one production needs.
	env, envProbs := composeEnv(gh)
	for _, p := range envProbs {
		bad("gatehouse: %s", p)
	}
	var known []string
	for _, f := range configFields() {
		known = append(known, f.env)
	}
	var envNames []string
	for k := range env {
		envNames = append(envNames, k)
	}
	slices.Sort(envNames)
	for _, k := range envNames {
		if strings.HasPrefix(k, "GATEHOUSE_") && !slices.Contains(known, k) {
			bad("gatehouse: environment: got %s, want only variables Gatehouse reads (%s)", k, strings.Join(known, ", "))
		}
		if strings.Contains(strings.ReplaceAll(env[k], "$$", ""), "$") {
			bad("gatehouse: environment: %s contains $, which Compose interpolates; want $$ for a literal $", k)
		}
	}
	for _, k := range composeRequiredEnv {
		if env[k] == "" {
			bad("gatehouse: environment: got no %s, want it set", k)
		}
	}

	// The key-encryption key: from an env file, never inline.
	if _, inline := env[composeKEKEnv]; inline {
		bad("gatehouse: environment: got %s inline in compose.yaml, want it only in the env_file", composeKEKEnv)
	}
	envFiles := composeEnvFiles(gh)
	if !slices.Contains(envFiles, "gatehouse.env") {
		bad("gatehouse: env_file: got %q, want gatehouse.env", envFiles)
	} else {
		checkComposeEnvExample(readRepoFile, bad)
	}

	// Postgres: the URL points at the postgres service, with its
	// credentials and database.
	pgEnv, pgProbs := composeEnv(pg)
	for _, p := range pgProbs {
		bad("postgres: %s", p)
	}
	if dbURL := env["GATEHOUSE_DATABASE_URL"]; dbURL != "" {
		u, err := url.Parse(dbURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			bad("GATEHOUSE_DATABASE_URL: got scheme %q (parse error: %v), want a postgres:// URL", schemeOf(u), err)
		} else {
			if got := u.Hostname(); got != "postgres" {
				bad("GATEHOUSE_DATABASE_URL: got host %q, want the postgres service, %q", got, "postgres")
			}
			if got := u.Port(); got != "5432" {
				bad("GATEHOUSE_DATABASE_URL: got port %q, want 5432", got)
			}
			password, _ := u.User.Password()
			for _, c := range []struct{ what, got, pgVar string }{
				{"user", u.User.Username(), "POSTGRES_USER"},
				{"password", password, "POSTGRES_PASSWORD"},
				{"database", strings.TrimPrefix(u.Path, "/"), "POSTGRES_DB"},
			} {
				if want := pgEnv[c.pgVar]; want == "" {
					bad("postgres: environment: got no %s, want it set", c.pgVar)
				} else if c.got != want {
					bad("GATEHOUSE_DATABASE_URL: got %s %q, want the postgres service's %s %q", c.what, c.got, c.pgVar, want)
				}
			}
		}
	}

	// Redis: the URL points at the redis service.
	if redisURL := env["GATEHOUSE_REDIS_URL"]; redisURL != "" {
		u, err := url.Parse(redisURL)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			bad("GATEHOUSE_REDIS_URL: got scheme %q (parse error: %v), want redis://", schemeOf(u), err)
		} else {
			if got := u.Hostname(); got != "redis" {
				bad("GATEHOUSE_REDIS_URL: got host %q, want the redis service, %q", got, "redis")
			}
			if got := u.Port(); got != "" && got != "6379" {
				bad("GATEHOUSE_REDIS_URL: got port %q, want 6379", got)
			}
		}
	}

	// The published port reaches what Gatehouse listens on, and the issuer
	// (on a loopback host) names the published port.
	ports := composePorts(gh)
	if listen := env["GATEHOUSE_LISTEN"]; listen != "" {
		host, port, err := net.SplitHostPort(listen)
		switch {
		case err != nil:
			bad("GATEHOUSE_LISTEN: got %q, want host:port", listen)
		case host != "" && host != "0.0.0.0" && host != "::":
			bad("GATEHOUSE_LISTEN: got host %q, want all interfaces (:%s): a container's loopback is unreachable through a published port", host, port)
		}
		if err == nil {
			var targets []string
			for _, p := range ports {
				targets = append(targets, p.target)
			}
			if len(targets) != 1 || targets[0] != port {
				bad("gatehouse: ports: got container ports %q, want exactly one, GATEHOUSE_LISTEN's port %s", targets, port)
			}
		}
	}
	if iss, err := url.Parse(env["GATEHOUSE_ISSUER"]); err == nil && clientpolicy.IsLoopbackHost(iss.Hostname()) && len(ports) == 1 {
		want := iss.Port()
		if want == "" {
			want = map[string]string{"http": "80", "https": "443"}[iss.Scheme]
		}
		if ports[0].published != want {
			bad("gatehouse: ports: got published port %q, want the issuer's port %q (browsers are sent to the issuer)", ports[0].published, want)
		}
	}

	// Postgres keeps its data in a declared named volume.
	topVolumes := composeMapOf(doc["volumes"])
	var pgVolume string
	for _, m := range composeMounts(pg) {
		if m.target == composePostgresDir {
			pgVolume = m.source
		}
	}
	switch {
	case pgVolume == "" || strings.HasPrefix(pgVolume, ".") || strings.HasPrefix(pgVolume, "/"):
		bad("postgres: volumes: got source %q for %s, want a named volume", pgVolume, composePostgresDir)
	default:
		if _, declared := topVolumes[pgVolume]; !declared {
			bad("volumes: got no %q at the top level, want the postgres data volume declared", pgVolume)
		}
	}

	// Healthchecks, and gatehouse starts only once both are healthy.
	if hc := composeHealthcheck(pg); !strings.Contains(hc, "pg_isready") {
		bad("postgres: healthcheck: got %q, want a pg_isready check", hc)
	}
	if hc := composeHealthcheck(redis); !strings.Contains(hc, "redis-cli") || !strings.Contains(hc, "ping") {
		bad("redis: healthcheck: got %q, want a redis-cli ping check", hc)
	}
	deps := composeDependsOn(gh)
	for _, dep := range []string{"postgres", "redis"} {
		if got, ok := deps[dep]; !ok || got != "service_healthy" {
			bad("gatehouse: depends_on %s: got condition %q (listed: %v), want service_healthy", dep, got, ok)
		}
	}

	// The clients file is mounted, read-only, where GATEHOUSE_CLIENTS_FILE
	// says, from a file that exists and is valid.
	if clientsFile := env["GATEHOUSE_CLIENTS_FILE"]; clientsFile != "" {
		var mount *composeMount
		var targets []string
		for _, m := range composeMounts(gh) {
			targets = append(targets, m.target)
			if m.target == clientsFile {
				mount = &m
			}
		}
		switch {
		case mount == nil:
			bad("gatehouse: volumes: got targets %q, want one at GATEHOUSE_CLIENTS_FILE %q", targets, clientsFile)
		case !mount.readOnly:
			bad("gatehouse: volumes: got %s mounted read-write, want :ro", clientsFile)
		case !strings.HasPrefix(mount.source, "./"):
			bad("gatehouse: volumes: got source %q for %s, want a file in this directory (./…)", mount.source, clientsFile)
		default:
			src := path.Clean(mount.source)
			data, err := readRepoFile(src)
			if err != nil {
				bad("gatehouse: volumes: got source %q, which cannot be read (%v), want the clients file", mount.source, err)
			} else if _, err := clientpolicy.ParseFile(data, clientpolicy.Source{Filename: src, Issuer: defaultConfig().Issuer, Getenv: composeGetenv(env), ReadFile: readRepoFile}); err != nil {
				bad("gatehouse: clients file %s: got errors\n%v\nwant none", src, err)
			}
		}
	}

	if b := composeScalar(gh["build"]); b != "." && composeScalar(composeMapOf(gh["build"])["context"]) != "." {
		bad("gatehouse: build: got %v, want . (the Dockerfile at the repository root)", gh["build"])
	}
	if got := composeScalar(gh["restart"]); got != "unless-stopped" {
		bad("gatehouse: restart: got %q, want unless-stopped", got)
	}

	// Finally Gatehouse itself must accept the environment, with a valid
	// key standing in for the env file's.
	withKEK := make(map[string]string, len(env)+1)
	for k, v := range env {
		withKEK[k] = v
	}
	if _, inline := withKEK[composeKEKEnv]; !inline {
		withKEK[composeKEKEnv] = base64.StdEncoding.EncodeToString(make([]byte, keys.KEKSize))
	}
	noFile := func(string) ([]byte, error) { return nil, fs.ErrNotExist }
	cfg, err := loadConfig("", false, composeGetenv(withKEK), noFile)
	if err != nil {
		bad("gatehouse: environment: loadConfig got errors\n%v\nwant none", err)
	} else {
		if kind, _ := databaseKind(cfg.DatabaseURL); kind != "postgres" {
			bad("gatehouse: loaded config: got database kind %q, want postgres", kind)
		}
		if cfg.RedisURL == "" {
			bad("gatehouse: loaded config: got no redis_url, want sessions in Redis")
		}
	}
	return probs
}

// checkComposeEnvExample checks gatehouse.env.example: it sets exactly the
// key-encryption key, to a placeholder Gatehouse refuses (so a copied
// example never becomes a published key); and gatehouse.env is kept out of
// git and of the Docker build context.
func checkComposeEnvExample(readRepoFile func(string) ([]byte, error), bad func(string, ...any)) {
	data, err := readRepoFile("gatehouse.env.example")
	if err != nil {
		bad("gatehouse.env.example: got %v, want the file", err)
		return
	}
	var set []string
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		set = append(set, k)
		if k == composeKEKEnv {
			if kek, err := keys.ParseKEK(v); err == nil {
				clear(kek)
				bad("gatehouse.env.example: got a valid %s, want a placeholder Gatehouse refuses (a published key is no secret)", composeKEKEnv)
			}
		}
	}
	if !slices.Equal(set, []string{composeKEKEnv}) {
		bad("gatehouse.env.example: got variables %q, want exactly [%s]", set, composeKEKEnv)
	}
	for _, ignoreFile := range []string{".gitignore", ".dockerignore"} {
		data, err := readRepoFile(ignoreFile)
		if err != nil || !composeIgnores(data, "gatehouse.env") {
			bad("%s: got no gatehouse.env line (err %v), want the secrets file ignored", ignoreFile, err)
		}
	}
}

func composeGetenv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func schemeOf(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.Scheme
}

// checkDockerfile returns every problem with the Dockerfile's text: it
// builds ./cmd/gatehouse statically, runs it as a non-root user and
// exposes the listen port.
func checkDockerfile(text, listenPort string) []string {
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	// Join continuation lines and drop comments.
	var lines []string
	var cur strings.Builder
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			continue
		}
		if s, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		if cur.Len() > 0 {
			lines = append(lines, cur.String())
		}
		cur.Reset()
	}

	var build string
	lastFrom := -1
	for i, l := range lines {
		if strings.Contains(l, "go build") {
			build = l
		}
		if strings.HasPrefix(strings.ToUpper(l), "FROM ") {
			lastFrom = i
		}
	}
	switch {
	case build == "":
		bad("Dockerfile: got no go build, want one")
	default:
		if !strings.Contains(build, "CGO_ENABLED=0") {
			bad("Dockerfile: got %q, want CGO_ENABLED=0 (the final image has no libc)", build)
		}
		if !strings.Contains(build, "./cmd/gatehouse") {
			bad("Dockerfile: got %q, want it to build ./cmd/gatehouse", build)
		}
	}
	if lastFrom < 0 {
		bad("Dockerfile: got no FROM, want a build and a final stage")
		return probs
	}
	final := lines[lastFrom:]
	var exposed, entrypoint, user []string
	for _, l := range final {
		word, rest, _ := strings.Cut(l, " ")
		switch strings.ToUpper(word) {
		case "EXPOSE":
			for _, p := range strings.Fields(rest) {
				exposed = append(exposed, strings.TrimSuffix(p, "/tcp"))
			}
		case "ENTRYPOINT":
			entrypoint = append(entrypoint, strings.TrimSpace(rest))
		case "USER":
			user = append(user, strings.TrimSpace(rest))
		}
	}
	if !slices.Contains(exposed, listenPort) {
		bad("Dockerfile: got EXPOSE %q in the final stage, want the listen port %s", exposed, listenPort)
	}
	if !slices.Equal(entrypoint, []string{`["/gatehouse"]`}) {
		bad(`Dockerfile: got ENTRYPOINT %q, want ["/gatehouse"]`, entrypoint)
	}
	if len(user) == 0 || slices.ContainsFunc(user, func(u string) bool {
		name, _, _ := strings.Cut(u, ":")
		return name == "root" || name == "0"
	}) {
		bad("Dockerfile: got USER %q in the final stage, want a non-root user", user)
	}
	return probs
}

func TestComposeFile(t *testing.T) {
	doc := loadComposeDoc(t)
	for _, p := range checkCompose(doc, composeRepoFile) {
		t.Error(p)
	}
}

func TestDockerfile(t *testing.T) {
	data, err := composeRepoFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	env, _ := composeEnv(composeMapOf(composeMapOf(loadComposeDoc(t)["services"])["gatehouse"]))
	_, port, err := net.SplitHostPort(env["GATEHOUSE_LISTEN"])
	if err != nil {
		t.Fatalf("compose.yaml: GATEHOUSE_LISTEN: got %q, want host:port", env["GATEHOUSE_LISTEN"])
	}
	text := string(data)
	for _, p := range checkDockerfile(text, port) {
		t.Error(p)
	}

	// The checker must catch mistakes.
	for _, tc := range []struct{ old, new, want string }{
		{"CGO_ENABLED=0", "CGO_ENABLED=1", "CGO_ENABLED=0"},
		{"./cmd/gatehouse", "./cmd/other", "./cmd/gatehouse"},
		{"EXPOSE " + port, "EXPOSE 9999", "listen port"},
		{"USER 65532:65532", "USER root", "non-root"},
	} {
		if !strings.Contains(text, tc.old) {
			t.Errorf("Dockerfile: got no %q to mutate, want it present", tc.old)
			continue
		}
		probs := checkDockerfile(strings.ReplaceAll(text, tc.old, tc.new), port)
		if !slices.ContainsFunc(probs, func(p string) bool { return strings.Contains(p, tc.want) }) {
			t.Errorf("Dockerfile with %q replaced by %q: got problems %q, want one mentioning %q", tc.old, tc.new, probs, tc.want)
		}
	}
}

// TestComposeCheckerCatchesMistakes breaks copies of compose.yaml (and of
// the files it refers to) one way at a time and expects checkCompose to
// say so.
func TestComposeCheckerCatchesMistakes(t *testing.T) {
	orig := loadComposeDoc(t)
	svc := func(doc map[string]any, name string) map[string]any {
		return composeMapOf(composeMapOf(doc["services"])[name])
	}
	env := func(doc map[string]any, name string) map[string]any {
		return composeMapOf(svc(doc, name)["environment"])
	}
	if env(orig, "gatehouse") == nil || env(orig, "postgres") == nil {
		t.Fatal("compose.yaml: got environment lists, want mappings (the mutations below edit mappings)")
	}
	tests := []struct {
		name   string
		mutate func(doc map[string]any)
		files  map[string]string // repository files replaced
		want   string            // a substring of one of the problems
	}{
		{name: "missing redis service",
			mutate: func(d map[string]any) { delete(composeMapOf(d["services"]), "redis") },
			want:   "want a service named redis"},
		{name: "unknown GATEHOUSE_ variable",
			mutate: func(d map[string]any) { env(d, "gatehouse")["GATEHOUSE_LISTEN_ADDR"] = ":8080" },
			want:   "got GATEHOUSE_LISTEN_ADDR, want only variables Gatehouse reads"},
		{name: "REDIS_URL missing",
			mutate: func(d map[string]any) { delete(env(d, "gatehouse"), "GATEHOUSE_REDIS_URL") },
			want:   "got no GATEHOUSE_REDIS_URL"},
		{name: "database host not the postgres service",
			mutate: func(d map[string]any) {
				e := env(d, "gatehouse")
				e["GATEHOUSE_DATABASE_URL"] = strings.Replace(e["GATEHOUSE_DATABASE_URL"].(string), "@postgres:", "@localhost:", 1)
			},
			want: `got host "localhost"`},
		{name: "database port",
			mutate: func(d map[string]any) {
				e := env(d, "gatehouse")
				e["GATEHOUSE_DATABASE_URL"] = strings.Replace(e["GATEHOUSE_DATABASE_URL"].(string), ":5432/", ":5433/", 1)
			},
			want: `got port "5433"`},
		{name: "postgres password changed on one side only",
			mutate: func(d map[string]any) { env(d, "postgres")["POSTGRES_PASSWORD"] = "something-else" },
			want:   "got password"},
		{name: "postgres database changed on one side only",
			mutate: func(d map[string]any) { env(d, "postgres")["POSTGRES_DB"] = "other" },
			want:   "got database"},
		{name: "database URL not postgres",
			mutate: func(d map[string]any) { env(d, "gatehouse")["GATEHOUSE_DATABASE_URL"] = "gatehouse.db" },
			want:   "want a postgres:// URL"},
		{name: "redis host",
			mutate: func(d map[string]any) { env(d, "gatehouse")["GATEHOUSE_REDIS_URL"] = "redis://cache:6379/0" },
			want:   `got host "cache"`},
		{name: "published port differs from listen port",
			mutate: func(d map[string]any) { svc(d, "gatehouse")["ports"] = []any{"8080:9090"} },
			want:   "want exactly one, GATEHOUSE_LISTEN's port 8080"},
		{name: "published port differs from issuer port",
			mutate: func(d map[string]any) { svc(d, "gatehouse")["ports"] = []any{"9090:8080"} },
			want:   "want the issuer's port"},
		{name: "listen on container loopback",
			mutate: func(d map[string]any) { env(d, "gatehouse")["GATEHOUSE_LISTEN"] = "127.0.0.1:8080" },
			want:   `got host "127.0.0.1"`},
		{name: "key-encryption key inline",
			mutate: func(d map[string]any) {
				env(d, "gatehouse")[composeKEKEnv] = base64.StdEncoding.EncodeToString(make([]byte, 32))
			},
			want: "inline in compose.yaml"},
		{name: "no env_file",
			mutate: func(d map[string]any) { delete(svc(d, "gatehouse"), "env_file") },
			want:   "env_file"},
		{name: "env example sets more",
			mutate: func(map[string]any) {},
			files:  map[string]string{"gatehouse.env.example": composeKEKEnv + "=x\nGATEHOUSE_BOOTSTRAP_PASSWORD=y\n"},
			want:   "want exactly [GATEHOUSE_KEY_ENCRYPTION_KEY]"},
		{name: "env example holds a real key",
			mutate: func(map[string]any) {},
			files:  map[string]string{"gatehouse.env.example": composeKEKEnv + "=" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n"},
			want:   "want a placeholder"},
		{name: "gatehouse.env not git-ignored",
			mutate: func(map[string]any) {},
			files:  map[string]string{".gitignore": "/gatehouse.db\n"},
			want:   ".gitignore: got no gatehouse.env line"},
		{name: "postgres data on an undeclared volume",
			mutate: func(d map[string]any) { delete(composeMapOf(d["volumes"]), "pgdata") },
			want:   "want the postgres data volume declared"},
		{name: "postgres data on a bind mount",
			mutate: func(d map[string]any) { svc(d, "postgres")["volumes"] = []any{"./pg:" + composePostgresDir} },
			want:   "want a named volume"},
		{name: "postgres without healthcheck",
			mutate: func(d map[string]any) { delete(svc(d, "postgres"), "healthcheck") },
			want:   "want a pg_isready check"},
		{name: "redis healthcheck disabled",
			mutate: func(d map[string]any) { svc(d, "redis")["healthcheck"] = map[string]any{"disable": true} },
			want:   "want a redis-cli ping check"},
		{name: "depends_on without condition",
			mutate: func(d map[string]any) { svc(d, "gatehouse")["depends_on"] = []any{"postgres", "redis"} },
			want:   "want service_healthy"},
		{name: "clients file mounted elsewhere",
			mutate: func(d map[string]any) {
				svc(d, "gatehouse")["volumes"] = []any{"./clients.yaml:/etc/clients.yaml:ro"}
			},
			want: "want one at GATEHOUSE_CLIENTS_FILE"},
		{name: "clients file writable",
			mutate: func(d map[string]any) {
				svc(d, "gatehouse")["volumes"] = []any{"./clients.yaml:/etc/gatehouse/clients.yaml"}
			},
			want: "want :ro"},
		{name: "clients file invalid",
			mutate: func(map[string]any) {},
			files:  map[string]string{"clients.yaml": "clients:\n  - client_id: x\n    redirect_uris: [http://example.com/cb]\n"},
			want:   "clients file clients.yaml: got errors"},
		{name: "issuer typo fails loadConfig",
			mutate: func(d map[string]any) { env(d, "gatehouse")["GATEHOUSE_ISSUER"] = "htp://localhost:8080" },
			want:   "loadConfig got errors"},
		{name: "bad duration fails loadConfig",
			mutate: func(d map[string]any) { env(d, "gatehouse")["GATEHOUSE_ACCESS_TOKEN_TTL"] = "15" },
			want:   "GATEHOUSE_ACCESS_TOKEN_TTL: access_token_ttl: not a duration"},
		{name: "unescaped $",
			mutate: func(d map[string]any) {
				e := env(d, "gatehouse")
				e["GATEHOUSE_BOOTSTRAP_PASSWORD"] = "pa$word-long-enough-to-pass"
			},
			want: "contains $"},
		{name: "obsolete version key",
			mutate: func(d map[string]any) { d["version"] = "3.8" },
			want:   "want none (obsolete"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := copyComposeDoc(t, orig)
			tc.mutate(doc)
			read := func(name string) ([]byte, error) {
				if s, ok := tc.files[name]; ok {
					return []byte(s), nil
				}
				return composeRepoFile(name)
			}
			probs := checkCompose(doc, read)
			if !slices.ContainsFunc(probs, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("got problems %q, want one containing %q", probs, tc.want)
			}
		})
	}

	// The mutations worked on copies: the original still passes.
	if probs := checkCompose(orig, composeRepoFile); len(probs) != 0 {
		t.Errorf("original compose.yaml after the mutations: got problems %q, want none", probs)
	}
}

// TestComposeCheckerMissingServices: without the three services nothing
// else can be checked, and each missing one is named.
func TestComposeCheckerMissingServices(t *testing.T) {
	doc := map[string]any{"services": map[string]any{}}
	if probs := checkCompose(doc, composeRepoFile); len(probs) != 3 {
		t.Errorf("no services: got problems %q, want 3 (one per missing service)", probs)
	}
}
