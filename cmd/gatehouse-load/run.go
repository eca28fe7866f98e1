package main

import (
	"cmp"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// exampleClients is the ready-made clients.yaml -setup-help prints.
//
//go:embed clients.yaml
var exampleClients string

// Defaults that match the example clients.yaml.
const (
	defaultClient       = "gatehouse-load"
	defaultPublicClient = "gatehouse-load-public"
	defaultRedirectURI  = "http://127.0.0.1/gatehouse-load/callback"
	defaultUser         = "loadtest"
	// demoSecret is the published secret of the example client: it works
	// only against a server started with cmd/gatehouse-load/clients.yaml.
	demoSecret      = "gatehouse-load-demo-secret-local-testing-only"
	examplePassword = "loadtest-password-local-only"
)

// Environment variables read when the flag is not given, so secrets need
// not appear in the process list.
const (
	envSecret   = "GATEHOUSE_LOAD_SECRET"
	envPassword = "GATEHOUSE_LOAD_PASSWORD"
)

// errUsage means the command line was wrong; the problem was printed.
var errUsage = errors.New("invalid command line")

// config is the command line.
type config struct {
	issuer      string
	scenario    string
	concurrency []int
	duration    time.Duration
	warmup      time.Duration
	timeout     time.Duration
	client      string
	secret      string
	public      string
	redirectURI string
	user        string
	password    string
	totpSecrets string
	json        bool
	setupHelp   bool
	serverPID   int
}

// validate reports every problem of cfg, one a line.
func (cfg config) validate() error {
	var probs []string
	if u, err := url.Parse(cfg.issuer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		probs = append(probs, fmt.Sprintf("-issuer: %q is not an http(s) URL", cfg.issuer))
	}
	if u, err := url.Parse(cfg.redirectURI); err != nil || u.Scheme == "" {
		probs = append(probs, fmt.Sprintf("-redirect-uri: %q is not an absolute URI", cfg.redirectURI))
	}
	if cfg.duration <= 0 {
		probs = append(probs, "-d: must be positive")
	}
	if cfg.warmup < 0 {
		probs = append(probs, "-warmup: must not be negative")
	}
	if cfg.timeout <= 0 {
		probs = append(probs, "-timeout: must be positive")
	}
	if cfg.serverPID < 0 {
		probs = append(probs, "-server-pid: must be a process id")
	}
	scs, err := findScenarios(cfg.scenario)
	if err != nil {
		probs = append(probs, err.Error())
	}
	var needUser, needSecret, needTOTPFile []string
	for _, sc := range scs {
		if sc.needsUser {
			needUser = append(needUser, sc.name)
		}
		if sc.needsSecret {
			needSecret = append(needSecret, sc.name)
		}
		if sc.needsTOTPFile {
			needTOTPFile = append(needTOTPFile, sc.name)
		}
	}
	if len(needUser) > 0 && (cfg.user == "" || cfg.password == "") {
		probs = append(probs, fmt.Sprintf("-user and -password (or %s): needed by %s; create the user with `gatehouse users add` (see -setup-help)",
			envPassword, strings.Join(needUser, ", ")))
	}
	if len(needSecret) > 0 && (cfg.client == "" || cfg.secret == "") {
		probs = append(probs, fmt.Sprintf("-client and -secret: needed by %s", strings.Join(needSecret, ", ")))
	}
	if len(needTOTPFile) > 0 && cfg.totpSecrets == "" {
		probs = append(probs, fmt.Sprintf("-totp-secrets FILE: needed by %s, which keeps there the one-time-code secrets of the users it sets up (see -setup-help)",
			strings.Join(needTOTPFile, ", ")))
	}
	if len(probs) > 0 {
		return errors.New(strings.Join(probs, "\n"))
	}
	return nil
}

// parseConcurrency parses "8" or "1,8,32".
func parseConcurrency(s string) ([]int, error) {
	var cs []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-c: %q is not a positive number (give one, or a list like 1,8,32)", f)
		}
		cs = append(cs, n)
	}
	return cs, nil
}

const usageHead = `gatehouse-load drives a running Gatehouse the way its clients do, closed-loop:
each of C workers sends its next request as soon as the previous one answered.

Usage:
  gatehouse-load [flags]
  gatehouse-load -setup-help      how to prepare a server for each scenario

Examples:
  gatehouse-load -scenario discovery -c 1,8,32
  GATEHOUSE_LOAD_PASSWORD=... gatehouse-load -scenario all -c 8 -d 5s
  gatehouse-load -scenario client_credentials -c 32 -server-pid "$(pgrep -x gatehouse)"

With -server-pid (Linux), each run also reports the server's CPU time in the
measured window per successful operation, the cores it kept busy, and its
resident memory after the run (VmRSS, and VmHWM, the peak since it started),
from /proc/PID/stat and /proc/PID/status. CPU time is read in 10 ms ticks
(USER_HZ, 100 on Linux), so give runs of a few seconds.

Scenarios:
`

// parseFlags parses the command line; getenv supplies secrets not given
// as flags.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("gatehouse-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageHead)
		for _, sc := range scenarios() {
			fmt.Fprintf(stderr, "  %-19s %s\n", sc.name, sc.about)
		}
		var apart []string
		for _, sc := range scenarios() {
			if sc.notInAll {
				apart = append(apart, sc.name)
			}
		}
		fmt.Fprintf(stderr, "  %-19s each of the above but %s, in turn\n\nFlags:\n", "all", strings.Join(apart, " and "))
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.issuer, "issuer", "http://localhost:8080", "the Gatehouse issuer URL")
	fs.StringVar(&cfg.scenario, "scenario", "discovery", "what to run: "+strings.Join(scenarioNames(), ", "))
	conc := fs.String("c", "8", "concurrency: closed-loop workers; a list like 1,8,32 runs each and reports the best")
	fs.DurationVar(&cfg.duration, "d", 10*time.Second, "measured duration of each run")
	fs.DurationVar(&cfg.warmup, "warmup", time.Second, "warm-up before each run's measurement, not counted")
	fs.DurationVar(&cfg.timeout, "timeout", 30*time.Second, "timeout of one HTTP request")
	fs.StringVar(&cfg.client, "client", defaultClient, "confidential client (client_secret_basic) for client_credentials, introspect and refresh")
	fs.StringVar(&cfg.secret, "secret", "", "its secret (default $"+envSecret+", else the example clients.yaml's demo secret)")
	fs.StringVar(&cfg.public, "public-client", defaultPublicClient, "public client (PKCE S256) for signin, sso and userinfo")
	fs.StringVar(&cfg.redirectURI, "redirect-uri", defaultRedirectURI, "a redirect URI registered for both clients; never called, the code is read from the Location header")
	fs.StringVar(&cfg.user, "user", defaultUser, "user to sign in as (signin, sso, refresh, userinfo); signin_totp's worker i signs in as <user>-<i>")
	fs.StringVar(&cfg.password, "password", "", "the user's password, the same for signin_totp's users (default $"+envPassword+")")
	fs.StringVar(&cfg.totpSecrets, "totp-secrets", "", "signin_totp: file of the one-time-code secrets of the users it set up, a line \"username secret\" each; created if missing, reused by later runs")
	fs.BoolVar(&cfg.json, "json", false, "print the results as JSON on standard output")
	fs.IntVar(&cfg.serverPID, "server-pid", 0, "the server's process id, on this machine: report its CPU time per operation, and its memory (VmRSS, VmHWM) after each run, read from /proc")
	fs.BoolVar(&cfg.setupHelp, "setup-help", false, "print how to prepare a server for each scenario, and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return cfg, errUsage
	}
	if cfg.secret == "" {
		cfg.secret = cmp.Or(getenv(envSecret), demoSecret)
	}
	if cfg.password == "" {
		cfg.password = getenv(envPassword)
	}
	cs, err := parseConcurrency(*conc)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return cfg, errUsage
	}
	cfg.concurrency = cs
	return cfg, nil
}

// run is the whole program. SIGINT or SIGTERM ends the current run early;
// what it measured is still reported.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := parseFlags(args[1:], getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if cfg.setupHelp {
		writeSetupHelp(stdout)
		return nil
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintln(stderr, err)
		return errUsage
	}
	scs, _ := findScenarios(cfg.scenario)

	g := &generator{
		cfg:          cfg,
		http:         newHTTPClient(slices.Max(cfg.concurrency), cfg.timeout),
		confidential: oauthClient{id: cfg.client, secret: cfg.secret, redirectURI: cfg.redirectURI},
		public:       oauthClient{id: cfg.public, redirectURI: cfg.redirectURI},
		progress:     stderr,
	}
	if cfg.serverPID > 0 {
		p := newServerProcess(cfg.serverPID)
		if _, err := p.cpuTime(); err != nil {
			return fmt.Errorf("-server-pid %d: %w", cfg.serverPID, err)
		}
		if _, err := p.memory(); err != nil {
			return fmt.Errorf("-server-pid %d: %w", cfg.serverPID, err)
		}
		g.server = &p
	}
	if slices.ContainsFunc(scs, func(sc scenario) bool { return sc.needsTOTPFile }) {
		if g.totp, err = loadTOTPUsers(cfg.totpSecrets, time.Now()); err != nil {
			return fmt.Errorf("-totp-secrets: %w", err)
		}
	}
	g.ep, err = discover(ctx, &browser{client: g.http}, cfg.issuer)
	if err != nil {
		return fmt.Errorf("cannot read %s's discovery document (is `gatehouse serve` running there? set -issuer): %w", cfg.issuer, err)
	}

	var groups [][]*runResult
	var failures []error
	for _, sc := range scs {
		runs, failed := runScenario(ctx, g, sc, stdout, stderr)
		groups = append(groups, runs)
		failures = append(failures, failed...)
		if ctx.Err() != nil {
			break
		}
	}
	if cfg.json {
		if err := writeJSON(stdout, g.ep.Issuer, groups); err != nil {
			return err
		}
	}
	return errors.Join(failures...)
}

// runScenario runs sc at each concurrency in turn and prints each result
// (unless -json), then the best of them. It returns the results and what
// went wrong: a scenario that cannot start, an interruption, or a run in
// which nothing succeeded.
func runScenario(ctx context.Context, g *generator, sc scenario, stdout, stderr io.Writer) (runs []*runResult, failures []error) {
	for _, c := range g.cfg.concurrency {
		res, err := g.run(ctx, sc, c)
		if res != nil {
			runs = append(runs, res)
			if !g.cfg.json {
				writeRun(stdout, res)
			}
		}
		switch {
		case ctx.Err() != nil:
			return runs, append(failures, fmt.Errorf("interrupted during scenario %s at c=%d", sc.name, c))
		case errors.Is(err, errCannotStart):
			fmt.Fprintf(stderr, "%v\n(see gatehouse-load -setup-help)\n", err)
			return runs, append(failures, fmt.Errorf("scenario %s could not start", sc.name))
		case err != nil:
			return runs, append(failures, fmt.Errorf("scenario %s at c=%d: %w", sc.name, c, err))
		case res.latency.count() == 0:
			failures = append(failures, fmt.Errorf("scenario %s at c=%d: no iteration succeeded in the measured %v", sc.name, c, g.cfg.duration))
		}
	}
	if len(runs) > 1 && !g.cfg.json {
		writeBest(stdout, runs)
	}
	return runs, failures
}

// writeSetupHelp prints how to prepare a server for every scenario.
func writeSetupHelp(w io.Writer) {
	fmt.Fprintf(w, `Preparing a Gatehouse for gatehouse-load

discovery and jwks need nothing. The other scenarios need two clients and
a user; the defaults of -client, -secret, -public-client and -redirect-uri
match the example file cmd/gatehouse-load/clients.yaml.

1. Start the server with the example clients (or copy its two entries into
   your clients.yaml and restart):

     GATEHOUSE_CLIENTS_FILE=cmd/gatehouse-load/clients.yaml go run ./cmd/gatehouse serve

2. Create the user (passwords are read from standard input, at least 15
   characters), with the same configuration as the server:

     echo '%[1]s' | go run ./cmd/gatehouse users add %[2]s --password-stdin

3. Run:

     GATEHOUSE_LOAD_PASSWORD='%[1]s' go run ./cmd/gatehouse-load -scenario all -c 8 -d 5s

What each scenario needs:

  client_credentials  -client/-secret: a confidential client (client_secret_basic)
                      with grant client_credentials
  introspect          the same client, with a scope (scope: load:read): a
                      service token without scopes is reported inactive
  refresh             the same client with grants authorization_code and
                      refresh_token, skip_consent: true, and -redirect-uri
                      among its redirect_uris; -user/-password
  signin, sso,        -public-client: token_endpoint_auth_method: none,
  userinfo,           skip_consent: true, -redirect-uri among its
  signin_totp         redirect_uris; -user/-password (signin_totp: see
                      below; the others need a user without two-step
                      verification)

signin_totp: a sign-in with a one-time code

  Like signin, but the user has two-step verification: after the password
  the browser lands on /login/factor and posts the current code, which
  gatehouse-load computes from the user's secret (RFC 6238). A code works
  once per user and 30-second step, so each worker signs in as its own
  user: worker i (0 to c-1) as <-user>-<i>, all with -password. Create as
  many as the largest -c (here 32: %[2]s-0 to %[2]s-31):

     for i in $(seq 0 31); do
       echo '%[1]s' | go run ./cmd/gatehouse users add %[2]s-$i --password-stdin
     done

  Before the measured runs, each worker signs in with the password; if its
  user has no one-time code, it sets one up on the account page
  (/account/totp, as a person would) and writes the secret to the file
  -totp-secrets FILE: a line "username secret" each (base32), mode 0600,
  created if missing and rewritten whole when a user is set up. Later runs
  reuse it. A user that has a code whose secret is not in FILE stops the
  preparation; reset it, and the next run sets up a new one:

     go run ./cmd/gatehouse users mfa reset %[2]s-0 --all

  FILE signs in as those users: keep it to load-test accounts.

  Throughput is paced by the code steps, not by the server: a user signs in
  at most once a step (with the current step's code, or the next step's
  once the current one began: Gatehouse allows one step of skew), so about
  c sign-ins per 30 s. Worker i waits for second 1+(i mod 28) of the step,
  so that sign-ins seldom overlap: compare latency with signin at c=1. The
  wait is not measured: a flow's latency runs from its first request. The
  figure to compare with signin is the server's CPU per flow (-server-pid).
  The server's idle CPU in the window is spread over the flows too, about
  30 s/c of it per flow: give many users and a minute or more (-c 32
  -d 60s), and a few seconds of warm-up (-warmup 5s) for the first
  sign-ins of users set up just before. This machine's clock must agree
  with the server's within a second. -scenario all leaves signin_totp out.

     GATEHOUSE_LOAD_PASSWORD='%[1]s' go run ./cmd/gatehouse-load -scenario signin_totp \
       -c 32 -d 60s -warmup 5s -totp-secrets ~/.gatehouse-load-totp -server-pid "$(pgrep -x gatehouse)"

skip_consent: true matters: without it sign-ins stop at the consent page
and gatehouse-load says so. -redirect-uri is never called: the code is read
from the Location header, so nothing needs to listen there.

Keep in mind:
  - a wrong -password makes Gatehouse throttle the account after 5
    failures (up to a minute) and this IP after 20 (up to 15 minutes);
  - signin starts a new session per flow, kept in the store until it
    expires (8 h by default);
  - sign-ins are bounded by argon2id: a few password checks at a time.

The example clients.yaml:

%[3]s`, examplePassword, defaultUser, exampleClients)
}
