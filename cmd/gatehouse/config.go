package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gatehouse-idp/gatehouse/mfa"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-idp/gatehouse/clientip"
	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/keys"
	"github.com/gatehouse-idp/gatehouse/mail"
)

// defaultConfigFile is read when no --config path is given, if it exists.
const defaultConfigFile = "gatehouse.yaml"

// Config is Gatehouse's server configuration. It comes from defaultConfig,
// then the YAML file, then GATEHOUSE_* environment variables, in that order
// (see loadConfig). The yaml tags name the file's keys.
type Config struct {
	// Issuer is the OpenID Provider's issuer identifier, exactly as it
	// appears in tokens and discovery: https (http only on a loopback host),
	// no trailing slash, no query or fragment.
	Issuer string `yaml:"issuer"`
	// Listen is the host:port the HTTP server binds; the host localhost is
	// both loopback addresses, 127.0.0.1 and [::1]. Unless set, it follows
	// the issuer: localhost:8080 for an issuer on loopback (only browsers on
	// this machine can use one), :8080 (every interface) for any other.
	Listen string `yaml:"listen"`
	// AdminListen, when set, is the host:port of a second listener that
	// serves /metrics, /healthz and /readyz; /metrics is then not served on
	// Listen. Empty: /metrics is on Listen.
	AdminListen string `yaml:"admin_listen"`
	// AdminPprof serves the Go profiler (net/http/pprof) under
	// /debug/pprof/ on the admin listener, never on Listen. Off by default:
	// a profile costs CPU and shows the program's internals. Requires
	// AdminListen.
	AdminPprof bool `yaml:"admin_pprof"`
	// Console serves the admin console under /admin on Listen, to members
	// of gatehouse-admins signed in with a second factor. On by default.
	Console bool `yaml:"console"`
	// DatabaseURL says where state lives: a SQLite file path, a sqlite: URL,
	// or a postgres:// URL. See databaseKind for the accepted forms.
	DatabaseURL string `yaml:"database_url"`
	// ClientsFile is the path of clients.yaml.
	ClientsFile string `yaml:"clients_file"`
	// KeyEncryptionKey seals signing keys and server secrets at rest: 32
	// bytes in base64 (see keys.ParseKEK). Empty: the embedded store keeps
	// one in a file beside the database.
	KeyEncryptionKey string `yaml:"key_encryption_key"`
	// BootstrapPassword, if set, is the first admin user's password.
	BootstrapPassword string `yaml:"bootstrap_password"`
	// TrustedProxies lists the reverse proxies (CIDR prefixes or single
	// addresses, separated by commas or spaces; in the file also a YAML
	// list) whose Forwarded or X-Forwarded-For header names the client;
	// from any other peer those headers are ignored and the client is the
	// TCP peer (see package clientip). Empty: trust no proxy.
	TrustedProxies string `yaml:"trusted_proxies"`

	// Token lifetimes, written as Go durations ("15m", "720h").
	AccessTokenTTL  time.Duration `yaml:"access_token_ttl"`
	IDTokenTTL      time.Duration `yaml:"id_token_ttl"`
	RefreshTokenTTL time.Duration `yaml:"refresh_token_ttl"`
	// SessionIdleTimeout ends an SSO session not used for that long;
	// SessionAbsoluteTimeout ends it that long after sign-in, however
	// much it is used. The absolute timeout is never shorter than the idle
	// one.
	SessionIdleTimeout     time.Duration `yaml:"session_idle_timeout"`
	SessionAbsoluteTimeout time.Duration `yaml:"session_absolute_timeout"`
	// SessionRememberMe is both timeouts of a session whose user ticked
	// "keep me signed in" (its cookie then outlives the browser); 0 hides
	// the choice.
	SessionRememberMe time.Duration `yaml:"session_remember_me"`
	// SessionKeepOnUserAgentChange keeps a session whose browser's
	// User-Agent changed; by default such a session ends.
	SessionKeepOnUserAgentChange bool `yaml:"session_keep_on_user_agent_change"`
	// RefreshGrace is how long a retry of a just-rotated refresh token
	// gets the same answer again; 0 turns the window off, so any second
	// use revokes the token's family.
	RefreshGrace time.Duration `yaml:"refresh_grace"`
	// AuditRetention is how long audit events are kept; 0 keeps them
	// forever.
	AuditRetention time.Duration `yaml:"audit_retention"`

	// RedisURL, when set, moves browser sessions and authorization
	// requests to Redis: redis:// or rediss://, with extra ?addr=host:port
	// for Cluster, and ?master_name= for Sentinel. Empty keeps them in the
	// SQL store.
	RedisURL string `yaml:"redis_url"`
	// RedisKeyPrefix starts every key Gatehouse writes to Redis.
	RedisKeyPrefix string `yaml:"redis_key_prefix"`
	// RedisConnectTimeout bounds opening a Redis connection (TCP, TLS,
	// HELLO/AUTH); RedisReadTimeout waiting for a reply; RedisWriteTimeout
	// sending a command. A call is bounded by their sum. The defaults and
	// the measurements behind them are in docs/performance.md.
	RedisConnectTimeout time.Duration `yaml:"redis_connect_timeout"`
	RedisReadTimeout    time.Duration `yaml:"redis_read_timeout"`
	RedisWriteTimeout   time.Duration `yaml:"redis_write_timeout"`
	// RedisPoolSize is the Redis connection pool size; 0 takes go-redis's
	// default (10 per CPU).
	RedisPoolSize int `yaml:"redis_pool_size"`
	// DatabaseMaxConns is the Postgres pool size.
	DatabaseMaxConns int `yaml:"database_max_conns"`
	// DatabaseTimeout bounds every SQL store call.
	DatabaseTimeout time.Duration `yaml:"database_timeout"`
	// AutoMigrate applies pending Postgres migrations at serve; when false,
	// serve refuses to start on an outdated schema (run gatehouse migrate).
	AutoMigrate bool `yaml:"auto_migrate"`
	// StartTimeout bounds each step serve waits on before it listens
	// (connecting to each store, opening it, loading keys and secrets,
	// syncing clients, the first user); MigrateTimeout bounds applying
	// migrations, which may take long on a big database or wait for
	// another instance's. A step that runs out of time stops serve with an
	// error naming the step and the store.
	StartTimeout   time.Duration `yaml:"start_timeout"`
	MigrateTimeout time.Duration `yaml:"migrate_timeout"`
	// LogLevel is the least severe level logged: debug, info, warn or
	// error, in any case; empty (the default) means info. At info a token issued or
	// refreshed writes no line (its audit event is logged at debug and
	// stored in the audit trail); sign-ins and other audit events do.
	LogLevel string `yaml:"log_level"`
	// MFA is the second-factor setting: optional (the default: users may
	// set one up, and are asked for it once they have), required (users
	// without one set one up at their next sign-in) or off.
	MFA string `yaml:"mfa"`
	// AdminAPIOnListen serves the admin API (/admin/v1, adminapi) on
	// Listen too, not only on the admin listener: for deployments whose
	// services reach Gatehouse only through its public address. Off by
	// default.
	AdminAPIOnListen bool `yaml:"admin_api_on_listen"`
	// DPoPNonceRequired makes every DPoP proof, at the token endpoint and
	// userinfo, carry a current server nonce (RFC 9449 §8): a proof
	// without one is answered use_dpop_nonce with the nonce to use, which
	// costs the client one round trip every nonce period (5 minutes).
	// Off by default: nonces are still offered (DPoP-Nonce) on every
	// answer to a request with a proof, and checked when a proof has one.
	DPoPNonceRequired bool `yaml:"dpop_nonce_required"`

	// Registration is dynamic client registration (RFC 7591, RFC 7592):
	// off (the default: no registration endpoint, nothing in discovery) or
	// initial_access_token (POST /register with a token minted by
	// `gatehouse clients token`). Open registration, without a token, is
	// not offered: anyone could create clients, each a consent page that
	// names any application its creator likes.
	Registration string `yaml:"registration"`

	// RequirePushedAuthorizationRequests makes every client push its
	// authorization requests (RFC 9126): /authorize then takes only
	// request_uri values from the pushed authorization request endpoint.
	// Off by default; clients.yaml's require_pushed_authorization_requests
	// turns it on for one client.
	RequirePushedAuthorizationRequests bool `yaml:"require_pushed_authorization_requests"`

	// SMTPURL, when set, turns on "Forgot password?": reset links are
	// mailed through this server. smtp://[user:password@]host[:port] with
	// ?tls=starttls (the default, port 587: a server without STARTTLS is
	// refused), ?tls=tls or smtps:// (implicit TLS, port 465), or
	// ?tls=none (plain text, port 25, only to a loopback host). Empty: no
	// mail, no "Forgot password?". The password is never logged.
	SMTPURL string `yaml:"smtp_url"`
	// SMTPFrom is the sender of Gatehouse's mail, an address with an
	// optional name ("Gatehouse <login@example.com>"); required with
	// SMTPURL.
	SMTPFrom string `yaml:"smtp_from"`
	// SMTPTimeout bounds one message, connection to QUIT (at most a
	// minute, what one reset request's whole work gets).
	SMTPTimeout time.Duration `yaml:"smtp_timeout"`
}

// Values of Config.Registration.
const (
	registrationOff                = "off"
	registrationInitialAccessToken = "initial_access_token"
)

// logLevels are the values of Config.LogLevel, least severe first.
var logLevels = []string{"debug", "info", "warn", "error"}

// slogLevel is c.LogLevel as a slog level: info when empty or unknown
// (Validate refuses an unknown one).
func (c Config) slogLevel() slog.Level {
	switch strings.ToLower(c.LogLevel) {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// defaultConfig is the configuration of a bare `gatehouse serve`: a local
// issuer, one SQLite file and clients.yaml in the working directory.
func defaultConfig() Config {
	return Config{
		Issuer:                 "http://localhost:8080",
		Listen:                 "localhost:8080",
		DatabaseURL:            "gatehouse.db",
		ClientsFile:            "clients.yaml",
		AccessTokenTTL:         15 * time.Minute,
		IDTokenTTL:             time.Hour,
		RefreshTokenTTL:        720 * time.Hour,
		SessionIdleTimeout:     8 * time.Hour,
		SessionAbsoluteTimeout: 7 * 24 * time.Hour,
		SessionRememberMe:      30 * 24 * time.Hour,
		RefreshGrace:           10 * time.Second,
		AuditRetention:         90 * 24 * time.Hour,
		Console:                true,
		RedisKeyPrefix:         "gatehouse:",
		RedisConnectTimeout:    2 * time.Second,
		RedisReadTimeout:       time.Second,
		RedisWriteTimeout:      time.Second,
		DatabaseMaxConns:       20,
		DatabaseTimeout:        3 * time.Second,
		AutoMigrate:            true,
		StartTimeout:           30 * time.Second,
		MigrateTimeout:         10 * time.Minute,
		SMTPTimeout:            mail.DefaultTimeout,
	}
}

// configField ties one Config field to its YAML key and environment
// variable.
type configField struct {
	key string // YAML key; also the field name in error messages
	env string
	// set parses v into the field of c; its error says what is wrong with
	// v, without the field name.
	set func(c *Config, v string) error
}

// configFields lists every field loadConfig can set, in documentation order.
func configFields() []configField {
	str := func(field func(*Config) *string) func(*Config, string) error {
		return func(c *Config, v string) error {
			*field(c) = v
			return nil
		}
	}
	dur := func(field func(*Config) *time.Duration) func(*Config, string) error {
		return func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("not a duration: %q (write it like 15m, 1h or 720h)", v)
			}
			*field(c) = d
			return nil
		}
	}
	num := func(field func(*Config) *int) func(*Config, string) error {
		return func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("not a whole number: %q", v)
			}
			*field(c) = n
			return nil
		}
	}
	boolean := func(field func(*Config) *bool) func(*Config, string) error {
		return func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("not true or false: %q", v)
			}
			*field(c) = b
			return nil
		}
	}
	return []configField{
		{"issuer", "GATEHOUSE_ISSUER", str(func(c *Config) *string { return &c.Issuer })},
		{"listen", "GATEHOUSE_LISTEN", str(func(c *Config) *string { return &c.Listen })},
		{"admin_listen", "GATEHOUSE_ADMIN_LISTEN", str(func(c *Config) *string { return &c.AdminListen })},
		{"admin_pprof", "GATEHOUSE_ADMIN_PPROF", boolean(func(c *Config) *bool { return &c.AdminPprof })},
		{"admin_api_on_listen", "GATEHOUSE_ADMIN_API_ON_LISTEN", boolean(func(c *Config) *bool { return &c.AdminAPIOnListen })},
		{"console", "GATEHOUSE_CONSOLE", boolean(func(c *Config) *bool { return &c.Console })},
		{"dpop_nonce_required", "GATEHOUSE_DPOP_NONCE_REQUIRED", boolean(func(c *Config) *bool { return &c.DPoPNonceRequired })},
		{"database_url", "GATEHOUSE_DATABASE_URL", str(func(c *Config) *string { return &c.DatabaseURL })},
		{"clients_file", "GATEHOUSE_CLIENTS_FILE", str(func(c *Config) *string { return &c.ClientsFile })},
		{"key_encryption_key", "GATEHOUSE_KEY_ENCRYPTION_KEY", str(func(c *Config) *string { return &c.KeyEncryptionKey })},
		{"bootstrap_password", "GATEHOUSE_BOOTSTRAP_PASSWORD", str(func(c *Config) *string { return &c.BootstrapPassword })},
		{"trusted_proxies", "GATEHOUSE_TRUSTED_PROXIES", str(func(c *Config) *string { return &c.TrustedProxies })},
		{"access_token_ttl", "GATEHOUSE_ACCESS_TOKEN_TTL", dur(func(c *Config) *time.Duration { return &c.AccessTokenTTL })},
		{"id_token_ttl", "GATEHOUSE_ID_TOKEN_TTL", dur(func(c *Config) *time.Duration { return &c.IDTokenTTL })},
		{"refresh_token_ttl", "GATEHOUSE_REFRESH_TOKEN_TTL", dur(func(c *Config) *time.Duration { return &c.RefreshTokenTTL })},
		{"session_idle_timeout", "GATEHOUSE_SESSION_IDLE_TIMEOUT", dur(func(c *Config) *time.Duration { return &c.SessionIdleTimeout })},
		{"session_absolute_timeout", "GATEHOUSE_SESSION_ABSOLUTE_TIMEOUT", dur(func(c *Config) *time.Duration { return &c.SessionAbsoluteTimeout })},
		{"session_remember_me", "GATEHOUSE_SESSION_REMEMBER_ME", dur(func(c *Config) *time.Duration { return &c.SessionRememberMe })},
		{"session_keep_on_user_agent_change", "GATEHOUSE_SESSION_KEEP_ON_USER_AGENT_CHANGE", boolean(func(c *Config) *bool { return &c.SessionKeepOnUserAgentChange })},
		{"refresh_grace", "GATEHOUSE_REFRESH_GRACE", dur(func(c *Config) *time.Duration { return &c.RefreshGrace })},
		{"audit_retention", "GATEHOUSE_AUDIT_RETENTION", dur(func(c *Config) *time.Duration { return &c.AuditRetention })},
		{"redis_url", "GATEHOUSE_REDIS_URL", str(func(c *Config) *string { return &c.RedisURL })},
		{"redis_key_prefix", "GATEHOUSE_REDIS_KEY_PREFIX", str(func(c *Config) *string { return &c.RedisKeyPrefix })},
		{"redis_connect_timeout", "GATEHOUSE_REDIS_CONNECT_TIMEOUT", dur(func(c *Config) *time.Duration { return &c.RedisConnectTimeout })},
		{"redis_read_timeout", "GATEHOUSE_REDIS_READ_TIMEOUT", dur(func(c *Config) *time.Duration { return &c.RedisReadTimeout })},
		{"redis_write_timeout", "GATEHOUSE_REDIS_WRITE_TIMEOUT", dur(func(c *Config) *time.Duration { return &c.RedisWriteTimeout })},
		{"redis_pool_size", "GATEHOUSE_REDIS_POOL_SIZE", num(func(c *Config) *int { return &c.RedisPoolSize })},
		{"database_max_conns", "GATEHOUSE_DATABASE_MAX_CONNS", num(func(c *Config) *int { return &c.DatabaseMaxConns })},
		{"database_timeout", "GATEHOUSE_DATABASE_TIMEOUT", dur(func(c *Config) *time.Duration { return &c.DatabaseTimeout })},
		{"auto_migrate", "GATEHOUSE_AUTO_MIGRATE", boolean(func(c *Config) *bool { return &c.AutoMigrate })},
		{"start_timeout", "GATEHOUSE_START_TIMEOUT", dur(func(c *Config) *time.Duration { return &c.StartTimeout })},
		{"migrate_timeout", "GATEHOUSE_MIGRATE_TIMEOUT", dur(func(c *Config) *time.Duration { return &c.MigrateTimeout })},
		{"log_level", "GATEHOUSE_LOG_LEVEL", str(func(c *Config) *string { return &c.LogLevel })},
		{"mfa", "GATEHOUSE_MFA", str(func(c *Config) *string { return &c.MFA })},
		{"registration", "GATEHOUSE_REGISTRATION", str(func(c *Config) *string { return &c.Registration })},
		{"require_pushed_authorization_requests", "GATEHOUSE_REQUIRE_PUSHED_AUTHORIZATION_REQUESTS", boolean(func(c *Config) *bool { return &c.RequirePushedAuthorizationRequests })},
		{"smtp_url", "GATEHOUSE_SMTP_URL", str(func(c *Config) *string { return &c.SMTPURL })},
		{"smtp_from", "GATEHOUSE_SMTP_FROM", str(func(c *Config) *string { return &c.SMTPFrom })},
		{"smtp_timeout", "GATEHOUSE_SMTP_TIMEOUT", dur(func(c *Config) *time.Duration { return &c.SMTPTimeout })},
	}
}

// retiredConfigField is a setting Gatehouse no longer reads. Giving one,
// in the file or the environment, is an error whose message says what
// replaced it, rather than silently ignored.
type retiredConfigField struct{ key, env, msg string }

func retiredConfigFields() []retiredConfigField {
	return []retiredConfigField{
		{"session_ttl", "GATEHOUSE_SESSION_TTL", "no longer read: set session_idle_timeout (default 8h) and session_absolute_timeout (default 168h) instead"},
		{"redis_timeout", "GATEHOUSE_REDIS_TIMEOUT", "no longer read: set redis_connect_timeout (default 2s), redis_read_timeout (default 1s) and redis_write_timeout (default 1s) instead"},
	}
}

// loadConfig returns the configuration: defaultConfig, overridden by the
// YAML file, overridden by GATEHOUSE_* environment variables, then checked
// with Validate.
//
// If pathGiven (--config), the file at path must exist. Otherwise path is
// ignored and gatehouse.yaml in the working directory is read if it exists.
// Unknown keys in the file are errors. An environment variable overrides
// its field only when non-empty (getenv cannot tell unset from empty).
//
// A file that cannot be read is returned as a wrapped error. Every other
// problem — YAML syntax, unknown keys, bad durations, Validate's findings —
// is collected and returned at once as a configProblems, each entry saying
// where the value came from (file:line or the variable's name) and which
// field it is. On error the returned Config is the zero value.
func loadConfig(path string, pathGiven bool, getenv func(string) string, readFile func(string) ([]byte, error)) (Config, error) {
	cfg := defaultConfig()
	if !pathGiven {
		path = defaultConfigFile
	}
	var probs configProblems
	// from records where each field's final value came from, so that
	// Validate's findings can point there.
	from := make(map[string]string)

	data, err := readFile(path)
	switch {
	case err == nil:
		probs = append(probs, decodeConfigFile(&cfg, data, path, from)...)
	case !pathGiven && errors.Is(err, fs.ErrNotExist):
		// No config file: defaults and environment only.
	default:
		return Config{}, fmt.Errorf("reading config file: %w", err)
	}

	for _, f := range retiredConfigFields() {
		if getenv(f.env) != "" {
			probs = append(probs, configProblem{Pos: f.env, Field: f.key, Msg: f.msg})
		}
	}
	for _, f := range configFields() {
		v := getenv(f.env)
		if v == "" {
			continue
		}
		from[f.key] = f.env
		if err := f.set(&cfg, v); err != nil {
			probs = append(probs, configProblem{Pos: f.env, Field: f.key, Msg: err.Error()})
		}
	}

	if _, given := from["listen"]; !given && !clientpolicy.IssuerOnLoopback(cfg.Issuer) {
		cfg.Listen = ":8080" // a public issuer: every interface
	}
	if err := cfg.Validate(); err != nil {
		var vp configProblems
		if !errors.As(err, &vp) {
			return Config{}, err
		}
		for _, p := range vp {
			if p.Pos == "" {
				p.Pos = from[p.Field]
			}
			probs = append(probs, p)
		}
	}
	if len(probs) > 0 {
		return Config{}, probs
	}
	return cfg, nil
}

// decodeConfigFile applies the YAML document in data to cfg and records in
// from the position of every field it sets.
func decodeConfigFile(cfg *Config, data []byte, filename string, from map[string]string) configProblems {
	root, prob := clientpolicy.ParseYAMLRoot(data, filename)
	if prob != nil {
		return configProblems{*prob}
	}
	if root == nil {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return configProblems{{Pos: clientpolicy.YAMLPos(filename, root), Msg: "the top level must be a mapping of settings, like `issuer: https://login.example.com`"}}
	}
	fields := configFields()
	var known []string
	for _, f := range fields {
		known = append(known, f.key)
	}
	var probs configProblems
	seen := make(map[string]int)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		pos := clientpolicy.YAMLPos(filename, k)
		if k.Kind != yaml.ScalarNode {
			probs = append(probs, configProblem{Pos: pos, Msg: "keys must be plain strings"})
			continue
		}
		if first, dup := seen[k.Value]; dup {
			probs = append(probs, configProblem{Pos: pos, Field: k.Value, Msg: fmt.Sprintf("set twice (first at line %d)", first)})
			continue
		}
		seen[k.Value] = k.Line
		var field *configField
		for j := range fields {
			if fields[j].key == k.Value {
				field = &fields[j]
			}
		}
		if field == nil {
			msg := "unknown field (known: " + strings.Join(known, ", ") + ")"
			if i := slices.IndexFunc(retiredConfigFields(), func(f retiredConfigField) bool { return f.key == k.Value }); i >= 0 {
				msg = retiredConfigFields()[i].msg
			}
			probs = append(probs, configProblem{Pos: pos, Field: k.Value, Msg: msg})
			continue
		}
		s, msg := clientpolicy.YAMLString(v)
		if v.Kind == yaml.SequenceNode && listConfigKeys[field.key] {
			s, msg = yamlList(v)
		}
		if msg != "" {
			probs = append(probs, configProblem{Pos: clientpolicy.YAMLPos(filename, v), Field: k.Value, Msg: msg})
			continue
		}
		from[field.key] = clientpolicy.YAMLPos(filename, v)
		if err := field.set(cfg, s); err != nil {
			probs = append(probs, configProblem{Pos: clientpolicy.YAMLPos(filename, v), Field: k.Value, Msg: err.Error()})
		}
	}
	return probs
}

// Longest lifetimes Validate accepts.
const (
	maxAccessTokenTTL  = 24 * time.Hour
	maxIDTokenTTL      = 24 * time.Hour
	maxRefreshTokenTTL = clientpolicy.MaxRefreshTokenTTL
	// maxSessionTimeout bounds every session timeout: 400 days, the
	// longest life browsers give a cookie.
	maxSessionTimeout = 400 * 24 * time.Hour
	// minSessionTimeout: a shorter session would end while the user is
	// still signing in.
	minSessionTimeout = time.Minute
)

// Validate reports every problem with c at once, as a configProblems whose
// entries name the field (Pos is empty), or nil if c is usable.
// KeyEncryptionKey, when set, must be what keys.ParseKEK accepts;
// BootstrapPassword is not checked here.
func (c Config) Validate() error {
	var probs configProblems
	bad := func(field, msg string) {
		probs = append(probs, configProblem{Field: field, Msg: msg})
	}

	for _, msg := range checkIssuer(c.Issuer) {
		bad("issuer", msg)
	}

	if c.Listen == "" {
		bad("listen", "must not be empty: give host:port, such as :8080 or 127.0.0.1:8080")
	} else if msg := checkHostPort(c.Listen); msg != "" {
		bad("listen", msg)
	}
	if c.AdminListen != "" {
		if msg := checkHostPort(c.AdminListen); msg != "" {
			bad("admin_listen", msg)
		} else if c.AdminListen == c.Listen && !strings.HasSuffix(c.Listen, ":0") { // port 0: any free one
			bad("admin_listen", fmt.Sprintf("must differ from listen (%s): the admin listener is a second one", c.Listen))
		}
	}
	if c.AdminPprof && c.AdminListen == "" {
		bad("admin_pprof", "requires admin_listen: the profiler is served only on the admin listener")
	}

	if msg := checkDatabaseURL(c.DatabaseURL); msg != "" {
		bad("database_url", msg)
	}

	if c.ClientsFile == "" {
		bad("clients_file", "must not be empty")
	}

	// Empty means the embedded store keeps its own key; checked here too so
	// that a bad key is listed with every other problem.
	if c.KeyEncryptionKey != "" {
		if kek, err := keys.ParseKEK(c.KeyEncryptionKey); err != nil {
			bad("key_encryption_key", strings.TrimPrefix(err.Error(), "keys: "))
		} else {
			clear(kek)
		}
	}

	ttls := []struct {
		field string
		d     time.Duration
		max   time.Duration
	}{
		{"access_token_ttl", c.AccessTokenTTL, maxAccessTokenTTL},
		{"id_token_ttl", c.IDTokenTTL, maxIDTokenTTL},
		{"refresh_token_ttl", c.RefreshTokenTTL, maxRefreshTokenTTL},
	}
	for _, t := range ttls {
		switch {
		case t.d < time.Second:
			// Token times have one-second resolution; less would expire at issue.
			bad(t.field, fmt.Sprintf("must be at least 1s (got %s)", t.d))
		case t.d > t.max:
			bad(t.field, fmt.Sprintf("must be at most %s (got %s)", t.max, t.d))
		}
	}
	if c.AccessTokenTTL >= time.Second && c.RefreshTokenTTL >= time.Second && c.RefreshTokenTTL <= c.AccessTokenTTL {
		bad("refresh_token_ttl", fmt.Sprintf("must be longer than access_token_ttl (%s), or refresh tokens are useless", c.AccessTokenTTL))
	}

	checkSessionTimeouts(c, bad)

	if c.RefreshGrace < 0 || c.RefreshGrace > time.Minute {
		bad("refresh_grace", fmt.Sprintf("must be from 0 (off) to 1m (got %s)", c.RefreshGrace))
	}
	if c.AuditRetention < 0 || (c.AuditRetention > 0 && c.AuditRetention < time.Hour) {
		bad("audit_retention", fmt.Sprintf("must be 0 (keep forever) or at least 1h (got %s)", c.AuditRetention))
	}
	for i, entry := range trustedProxyEntries(c.TrustedProxies) {
		if _, err := clientip.ParsePrefix(entry); err != nil {
			bad("trusted_proxies", fmt.Sprintf("entry %d: %v", i+1, err))
		}
	}
	if c.RedisURL != "" {
		lower := strings.ToLower(c.RedisURL)
		if !strings.HasPrefix(lower, "redis://") && !strings.HasPrefix(lower, "rediss://") {
			bad("redis_url", "must start with redis:// or rediss://")
		}
	}
	if c.RedisKeyPrefix == "" {
		bad("redis_key_prefix", "must not be empty: it keeps Gatehouse's keys apart from others in the same Redis")
	}
	for _, t := range []struct {
		field string
		d     time.Duration
	}{
		{"redis_connect_timeout", c.RedisConnectTimeout}, {"redis_read_timeout", c.RedisReadTimeout}, {"redis_write_timeout", c.RedisWriteTimeout},
	} {
		if t.d < time.Millisecond || t.d > 30*time.Second {
			bad(t.field, fmt.Sprintf("must be between 1ms and 30s (got %s)", t.d))
		}
	}
	if c.RedisPoolSize < 0 || c.RedisPoolSize > 10000 {
		bad("redis_pool_size", fmt.Sprintf("must be from 0 (go-redis's default) to 10000 (got %d)", c.RedisPoolSize))
	}
	if c.DatabaseMaxConns < 1 || c.DatabaseMaxConns > 10000 {
		bad("database_max_conns", fmt.Sprintf("must be from 1 to 10000 (got %d)", c.DatabaseMaxConns))
	}
	if c.DatabaseTimeout < 10*time.Millisecond || c.DatabaseTimeout > time.Minute {
		bad("database_timeout", fmt.Sprintf("must be between 10ms and 1m (got %s)", c.DatabaseTimeout))
	}
	if c.StartTimeout < 10*time.Millisecond || c.StartTimeout > time.Hour {
		bad("start_timeout", fmt.Sprintf("must be between 10ms and 1h (got %s)", c.StartTimeout))
	}
	if c.MigrateTimeout < 10*time.Millisecond || c.MigrateTimeout > 24*time.Hour {
		bad("migrate_timeout", fmt.Sprintf("must be between 10ms and 24h (got %s)", c.MigrateTimeout))
	}
	if c.LogLevel != "" && !slices.Contains(logLevels, strings.ToLower(c.LogLevel)) {
		bad("log_level", fmt.Sprintf("must be one of %s (got %q)", strings.Join(logLevels, ", "), c.LogLevel))
	}
	if _, err := mfa.ParseMode(c.MFA); err != nil {
		bad("mfa", fmt.Sprintf("must be one of optional, required, off (got %q)", c.MFA))
	}
	switch c.Registration {
	case "", registrationOff, registrationInitialAccessToken:
	case "open":
		bad("registration", "open is not offered: anyone could create clients; use initial_access_token and mint tokens with `gatehouse clients token`")
	default:
		bad("registration", fmt.Sprintf("must be off or initial_access_token (got %q)", c.Registration))
	}
	if c.SMTPURL != "" {
		if _, err := mail.ParseURL(c.SMTPURL); err != nil {
			bad("smtp_url", err.Error())
		}
		if c.SMTPFrom == "" {
			bad("smtp_from", "required with smtp_url: the sender address of reset links, such as Gatehouse <login@example.com>")
		}
	} else if c.SMTPFrom != "" {
		bad("smtp_from", "has no effect without smtp_url")
	}
	if c.SMTPFrom != "" {
		if err := mail.CheckAddress(c.SMTPFrom); err != nil {
			bad("smtp_from", err.Error())
		}
	}
	if c.SMTPTimeout <= 0 || c.SMTPTimeout > time.Minute {
		bad("smtp_timeout", fmt.Sprintf("must be above 0 and at most 1m: a reset request's whole work gets a minute (got %s)", c.SMTPTimeout))
	}

	if len(probs) == 0 {
		return nil
	}
	return probs
}

// checkHostPort returns what is wrong with a listen address, or "".
func checkHostPort(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("must be host:port, such as :8080 or 127.0.0.1:8080 (got %q)", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || strconv.FormatUint(n, 10) != port {
		return fmt.Sprintf("port must be a number from 0 to 65535 (got %q)", port)
	}
	return ""
}

// checkSessionTimeouts calls bad for each problem with the session
// timeouts: idle and absolute from 1m to 400 days, absolute at least idle,
// and remember-me 0 (off) or from the absolute timeout to 400 days, so
// that "keep me signed in" never signs anyone out sooner.
func checkSessionTimeouts(c Config, bad func(field, msg string)) {
	inRange := func(d time.Duration) bool { return d >= minSessionTimeout && d <= maxSessionTimeout }
	bounds := fmt.Sprintf("must be from %s to %s (400 days)", clientpolicy.FormatDuration(minSessionTimeout), clientpolicy.FormatDuration(maxSessionTimeout))

	idle, abs, remember := c.SessionIdleTimeout, c.SessionAbsoluteTimeout, c.SessionRememberMe
	if !inRange(idle) {
		bad("session_idle_timeout", fmt.Sprintf("%s (got %s)", bounds, clientpolicy.FormatDuration(idle)))
	}
	switch {
	case !inRange(abs):
		bad("session_absolute_timeout", fmt.Sprintf("%s (got %s)", bounds, clientpolicy.FormatDuration(abs)))
	case inRange(idle) && abs < idle:
		bad("session_absolute_timeout", fmt.Sprintf("must not be shorter than session_idle_timeout (%s; got %s)", clientpolicy.FormatDuration(idle), clientpolicy.FormatDuration(abs)))
	}
	switch {
	case remember == 0:
	case !inRange(remember):
		bad("session_remember_me", fmt.Sprintf("must be 0 (off) or from %s to %s (400 days) (got %s)", clientpolicy.FormatDuration(minSessionTimeout), clientpolicy.FormatDuration(maxSessionTimeout), clientpolicy.FormatDuration(remember)))
	case inRange(abs) && remember < abs:
		bad("session_remember_me", fmt.Sprintf("must be 0 (off) or not shorter than session_absolute_timeout (%s; got %s): \"keep me signed in\" must not sign anyone out sooner", clientpolicy.FormatDuration(abs), clientpolicy.FormatDuration(remember)))
	}
}

// checkIssuer returns what is wrong with an issuer identifier, if anything
// (OpenID Connect Discovery §3: https, no query or fragment; we also refuse
// a trailing slash, because clients compare the issuer as a string).
func checkIssuer(issuer string) []string {
	const shape = "must be an absolute http(s) URL without query or fragment, such as https://login.example.com"
	if issuer == "" {
		return []string{"must not be empty: " + shape}
	}
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(issuer, "#") {
		return []string{shape}
	}
	var msgs []string
	if u.User != nil {
		msgs = append(msgs, "must not contain user info (user@)")
	}
	if u.Scheme == "http" && !clientpolicy.IsLoopbackHost(u.Hostname()) {
		msgs = append(msgs, "must use https (http is only allowed for localhost, 127.0.0.1 and [::1])")
	}
	if strings.HasSuffix(issuer, "/") {
		msgs = append(msgs, "must not end with a slash (tokens carry the issuer verbatim and clients compare it exactly)")
	}
	if s := u.String(); s != issuer || u.Host != strings.ToLower(u.Host) {
		msgs = append(msgs, "must be in normal form: lowercase scheme and host, no needless percent-encoding")
	}
	return msgs
}

// hasURLScheme reports whether s starts with a URL scheme of two or more
// characters and its colon; a single letter (C:) is a Windows drive, so a
// path.
func hasURLScheme(s string) bool {
	i := strings.IndexByte(s, ':')
	if i < 2 {
		return false
	}
	for j, r := range s[:i] {
		alpha := 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
		if !alpha && (j == 0 || !('0' <= r && r <= '9' || r == '+' || r == '.' || r == '-')) {
			return false
		}
	}
	return true
}

// databaseKind classifies a database_url. It returns:
//
//   - ("sqlite", path) for a plain file path ("gatehouse.db", "/var/lib/gatehouse.db",
//     `C:\data\gatehouse.db`) — anything without a URL scheme is a path;
//   - ("sqlite", path) for a sqlite URL; the text after the prefix is the
//     path, taken literally (no percent-decoding, no options):
//     "sqlite:rel.db" → "rel.db", "sqlite:/abs/x.db" → "/abs/x.db",
//     "sqlite://rel.db" → "rel.db", "sqlite://./x.db" → "./x.db",
//     "sqlite:///abs/x.db" → "/abs/x.db";
//   - ("postgres", url) for postgres:// and postgresql:// URLs, unchanged;
//   - ("", url) for anything else (another scheme), which Validate refuses.
//
// The path may be empty ("sqlite:"); Validate refuses that too.
func databaseKind(url string) (kind, path string) {
	lower := strings.ToLower(url)
	switch {
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return "postgres", url
	case strings.HasPrefix(lower, "sqlite://"):
		return "sqlite", url[len("sqlite://"):]
	case strings.HasPrefix(lower, "sqlite:"):
		return "sqlite", url[len("sqlite:"):]
	case hasURLScheme(url):
		return "", url
	default:
		return "sqlite", url
	}
}

// checkDatabaseURL returns what is wrong with a database_url, or "". It
// never quotes the value, which may hold a password.
func checkDatabaseURL(dbURL string) string {
	if dbURL == "" {
		return "must not be empty: give a SQLite file path such as gatehouse.db, or a postgres:// URL"
	}
	kind, path := databaseKind(dbURL)
	switch kind {
	case "sqlite":
		if path == "" {
			return "names no SQLite file: write it like sqlite:gatehouse.db or sqlite:///var/lib/gatehouse/gatehouse.db"
		}
		if strings.HasPrefix(strings.ToLower(dbURL), "sqlite:") && strings.ContainsAny(path, "?#") {
			return "sqlite URLs take no options (no ? or #): give just the file path"
		}
		if strings.ContainsRune(path, 0) {
			return "the SQLite path must not contain a NUL byte"
		}
	case "postgres":
		if _, err := url.Parse(dbURL); err != nil {
			return "is not a valid postgres:// URL"
		}
	default:
		return "unsupported scheme: use a SQLite file path, a sqlite: URL, or a postgres:// URL"
	}
	return ""
}

// trustedProxyEntries splits trusted_proxies at commas and white space.
func trustedProxyEntries(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
}

// trustedProxies returns the prefixes of trusted_proxies (which Validate
// has checked).
func (c Config) trustedProxies() ([]netip.Prefix, error) {
	p, err := clientip.ParsePrefixes(trustedProxyEntries(c.TrustedProxies))
	if err != nil {
		return nil, fmt.Errorf("trusted_proxies: %w", err)
	}
	return p, nil
}

// listConfigKeys are the fields whose value in the file may be a YAML
// list; its items are joined with commas, as in the environment variable.
var listConfigKeys = map[string]bool{"trusted_proxies": true}

// yamlList returns the items of a list of scalars joined with commas. msg
// says why n is not such a list.
func yamlList(n *yaml.Node) (s, msg string) {
	items := make([]string, 0, len(n.Content))
	for i, item := range n.Content {
		v, msg := clientpolicy.YAMLString(item)
		if msg != "" {
			return "", fmt.Sprintf("item %d: %s", i+1, msg)
		}
		if strings.Contains(v, ",") {
			return "", fmt.Sprintf("list items must not contain commas (got %q): give one entry per item", v)
		}
		items = append(items, v)
	}
	return strings.Join(items, ","), ""
}

// The configuration reports its problems as the clients file does: each
// with its position (file:line, or an environment variable's name) and
// field, all of them at once.
type (
	configProblem  = clientpolicy.Problem
	configProblems = clientpolicy.Problems
)
