package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `Gatehouse — an OpenID Connect provider in one binary.

Usage:
  gatehouse serve [--config gatehouse.yaml]       run the server
  gatehouse migrate                               bring the database schema up to date
  gatehouse clients secret                        generate a client secret and its hash for clients.yaml
  gatehouse clients diff | list | show CLIENT_ID  what clients.yaml would change; the stored clients
  gatehouse users add USERNAME [--email E] [--name "Full Name"] --password-stdin
  gatehouse users list
  gatehouse users passwd USERNAME --password-stdin
  gatehouse users disable USERNAME
  gatehouse users mfa USERNAME                    a user's second factors
  gatehouse users mfa reset USERNAME --totp | --all  remove them (see gatehouse users)
  gatehouse groups create | delete | members NAME  groups of users (see gatehouse groups)
  gatehouse groups list
  gatehouse groups add | remove NAME USERNAME
  gatehouse sessions list [--user USERNAME] [--full]      who is signed in, where, to which apps
  gatehouse sessions revoke SESSION_ID | --user USERNAME  sign out (see gatehouse sessions)
  gatehouse keys list | rotate | revoke KID | rewrap  signing keys (see gatehouse keys)
  gatehouse audit [--user U] [--client C] [--since 7d] [--json]  the audit trail, newest first
  gatehouse help
  gatehouse COMMAND --help                        what a command does, with examples

users passwd, users disable and users mfa reset also sign the user out
everywhere: sessions end and refresh tokens are revoked.

Every command reads the same configuration: gatehouse.yaml (or --config),
overridden by GATEHOUSE_* environment variables. With none at all,
Gatehouse keeps its state in ./gatehouse.db and serves http://localhost:8080.
In production set GATEHOUSE_DATABASE_URL=postgres://… and
GATEHOUSE_REDIS_URL=redis://…; serve applies pending migrations itself
unless GATEHOUSE_AUTO_MIGRATE=false.

Examples:
  go run ./cmd/gatehouse serve
  echo 'a long passphrase of yours' | gatehouse users add alice --email alice@example.com --password-stdin
`

// errUsage means the command line was wrong; the usage text was printed.
var errUsage = errors.New("invalid command line (see gatehouse help)")

// exitError is an error that ends the process with an exit status of its
// own, for commands whose status tells a script more than failed or not
// (gatehouse clients diff).
type exitError struct {
	status int
	err    error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitStatus is the process's exit status for an error run returned: an
// exitError's own, else 1.
func exitStatus(err error) int {
	if e, ok := errors.AsType[*exitError](err); ok {
		return e.status
	}
	return 1
}

// run is the whole program. Signals cancel its context; serve then drains
// in-flight requests before returning.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	env := environment{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr, readFile: os.ReadFile}
	switch args[1] {
	case "serve":
		return serve(ctx, env, args[2:])
	case "users":
		return users(ctx, env, args[2:])
	case "groups":
		return groupsCommand(ctx, env, args[2:])
	case "sessions":
		return sessionsCommand(ctx, env, args[2:])
	case "migrate":
		return migrate(ctx, env, args[2:])
	case "clients":
		return clients(ctx, env, args[2:])
	case "keys":
		return keysCommand(ctx, env, args[2:])
	case "audit":
		return auditCommand(ctx, env, args[2:])
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[1], usage)
		return errUsage
	}
}

// environment is what a command may touch of the outside world.
type environment struct {
	getenv   func(string) string
	stdin    io.Reader
	stdout   io.Writer
	stderr   io.Writer
	readFile func(string) ([]byte, error)
}

// isHelp reports whether arg asks for a command's usage.
func isHelp(arg string) bool {
	return arg == "help" || arg == "-h" || arg == "-help" || arg == "--help"
}

// newFlagSet returns a flag set for the command name that writes parse
// errors to stderr and leaves the usage to flagError.
func newFlagSet(name string, env environment) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {}
	return fs
}

// flagError answers a flag parsing error of a command whose usage is usage:
// -h or --help print the usage to stdout and succeed; anything else prints
// it to stderr and returns errUsage.
func flagError(env environment, err error, usage string) error {
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(env.stdout, usage)
		return nil
	}
	fmt.Fprint(env.stderr, usage)
	return errUsage
}

// parseNoArgs parses the flags of a command that takes no arguments. done
// means the command is over, with err: after its usage was printed for
// --help or help (nil), or for a bad command line (errUsage).
func parseNoArgs(fs *flag.FlagSet, args []string, env environment, usage string) (done bool, err error) {
	if err := fs.Parse(args); err != nil {
		return true, flagError(env, err, usage)
	}
	switch {
	case fs.NArg() == 0:
		return false, nil
	case fs.NArg() == 1 && isHelp(fs.Arg(0)):
		fmt.Fprint(env.stdout, usage)
		return true, nil
	}
	fmt.Fprint(env.stderr, usage)
	return true, errUsage
}

// configFlag registers --config on fs and returns a loader for after Parse.
func configFlag(fs *flag.FlagSet, env environment) func() (Config, error) {
	path := fs.String("config", "", "configuration file (default gatehouse.yaml if present)")
	return func() (Config, error) {
		given := *path != ""
		p := *path
		if !given {
			p = "gatehouse.yaml"
		}
		return loadConfig(p, given, env.getenv, env.readFile)
	}
}

// parseInterspersed parses flags that may come before or after positional
// arguments ("users add alice --email a@b" as well as "users add --email
// a@b alice") and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

const migrateUsage = `Usage:
  gatehouse migrate [--config gatehouse.yaml]

Brings the database schema up to date and exits; with nothing pending it changes nothing.
On Postgres, serve does the same at start unless GATEHOUSE_AUTO_MIGRATE=false: then run
migrate before starting the new version's instances. SQLite is migrated whenever it opens.

Examples:
  gatehouse migrate
  GATEHOUSE_DATABASE_URL=postgres://gatehouse@db/gatehouse gatehouse migrate
`

// migrate applies pending schema migrations and exits.
func migrate(ctx context.Context, env environment, args []string) error {
	fs := newFlagSet("migrate", env)
	load := configFlag(fs, env)
	if done, err := parseNoArgs(fs, args, env, migrateUsage); done {
		return err
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	st, err := openStores(ctx, cfg, true, sqlOnly) // migrations concern the SQL store only
	if err != nil {
		return err
	}
	st.Close()
	fmt.Fprintf(env.stdout, "%s schema is up to date\n", st.kind)
	return nil
}
