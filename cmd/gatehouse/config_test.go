package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// configTestFiles returns a readFile over an in-memory set of files.
func configTestFiles(files map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		s, ok := files[name]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		return []byte(s), nil
	}
}

// configTestEnv returns a getenv over an in-memory environment.
func configTestEnv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func TestLoadConfigDefaults(t *testing.T) {
	var asked []string
	readFile := func(name string) ([]byte, error) {
		asked = append(asked, name)
		return configTestFiles(nil)(name)
	}
	got, err := loadConfig("", false, configTestEnv(nil), readFile)
	if err != nil {
		t.Fatalf("loadConfig with no file and no env: %v", err)
	}
	want := Config{
		Issuer:                 "http://localhost:8080",
		Listen:                 "localhost:8080",
		DatabaseURL:            "gatehouse.db",
		ClientsFile:            "clients.yaml",
		AccessTokenTTL:         15 * time.Minute,
		IDTokenTTL:             time.Hour,
		RefreshTokenTTL:        720 * time.Hour,
		SessionIdleTimeout:     8 * time.Hour,
		SessionAbsoluteTimeout: 168 * time.Hour,
		SessionRememberMe:      720 * time.Hour,
		RefreshGrace:           10 * time.Second,
		AuditRetention:         2160 * time.Hour,
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
		SMTPTimeout:            10 * time.Second,
	}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got != defaultConfig() {
		t.Errorf("got %+v, want defaultConfig() %+v", got, defaultConfig())
	}
	if len(asked) != 1 || asked[0] != "gatehouse.yaml" {
		t.Errorf("read files %q, want [gatehouse.yaml]", asked)
	}
}

func TestLoadConfigFileThenEnv(t *testing.T) {
	file := `# comment
issuer: https://file.example.com
listen: 127.0.0.1:9000
admin_listen: 127.0.0.1:9100
database_url: sqlite:///var/lib/gatehouse/gh.db
access_token_ttl: 5m
session_idle_timeout: 2h
session_absolute_timeout: 12h
session_keep_on_user_agent_change: true
key_encryption_key: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
audit_retention: 720h
`
	env := map[string]string{
		"GATEHOUSE_ISSUER":               "https://env.example.com",
		"GATEHOUSE_SESSION_IDLE_TIMEOUT": "30m",
		"GATEHOUSE_SESSION_REMEMBER_ME":  "0s",
		"GATEHOUSE_CLIENTS_FILE":         "/etc/gatehouse/clients.yaml",
		"GATEHOUSE_BOOTSTRAP_PASSWORD":   "correct horse battery staple",
		"GATEHOUSE_ID_TOKEN_TTL":         "10m",
		"GATEHOUSE_AUDIT_RETENTION":      "0",
		"GATEHOUSE_LISTEN":               "", // empty: does not override
	}
	got, err := loadConfig("custom.yaml", true, configTestEnv(env), configTestFiles(map[string]string{"custom.yaml": file}))
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	want := Config{
		Issuer:                       "https://env.example.com",
		Listen:                       "127.0.0.1:9000",
		AdminListen:                  "127.0.0.1:9100",
		DatabaseURL:                  "sqlite:///var/lib/gatehouse/gh.db",
		ClientsFile:                  "/etc/gatehouse/clients.yaml",
		KeyEncryptionKey:             "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		BootstrapPassword:            "correct horse battery staple",
		AccessTokenTTL:               5 * time.Minute,
		IDTokenTTL:                   10 * time.Minute,
		RefreshTokenTTL:              720 * time.Hour,
		SessionIdleTimeout:           30 * time.Minute,
		SessionAbsoluteTimeout:       12 * time.Hour,
		SessionRememberMe:            0,
		SessionKeepOnUserAgentChange: true,
		RefreshGrace:                 10 * time.Second,
		AuditRetention:               0,
		Console:                      true,
		RedisKeyPrefix:               "gatehouse:",
		RedisConnectTimeout:          2 * time.Second,
		RedisReadTimeout:             time.Second,
		RedisWriteTimeout:            time.Second,
		DatabaseMaxConns:             20,
		DatabaseTimeout:              3 * time.Second,
		AutoMigrate:                  true,
		StartTimeout:                 30 * time.Second,
		MigrateTimeout:               10 * time.Minute,
		SMTPTimeout:                  10 * time.Second,
	}
	if got != want {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestLoadConfigEveryEnvVariable(t *testing.T) {
	env := map[string]string{
		"GATEHOUSE_ISSUER":                                "https://login.example.com",
		"GATEHOUSE_LISTEN":                                ":9999",
		"GATEHOUSE_ADMIN_LISTEN":                          "127.0.0.1:9100",
		"GATEHOUSE_ADMIN_PPROF":                           "true",
		"GATEHOUSE_DATABASE_URL":                          "postgres://gh@db/gh",
		"GATEHOUSE_CLIENTS_FILE":                          "c.yaml",
		"GATEHOUSE_KEY_ENCRYPTION_KEY":                    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
		"GATEHOUSE_BOOTSTRAP_PASSWORD":                    "pw",
		"GATEHOUSE_TRUSTED_PROXIES":                       "10.0.0.0/8, 192.168.1.5",
		"GATEHOUSE_ACCESS_TOKEN_TTL":                      "1m",
		"GATEHOUSE_ID_TOKEN_TTL":                          "2m",
		"GATEHOUSE_REFRESH_TOKEN_TTL":                     "3h",
		"GATEHOUSE_SESSION_IDLE_TIMEOUT":                  "4h",
		"GATEHOUSE_SESSION_ABSOLUTE_TIMEOUT":              "24h",
		"GATEHOUSE_SESSION_REMEMBER_ME":                   "336h",
		"GATEHOUSE_SESSION_KEEP_ON_USER_AGENT_CHANGE":     "true",
		"GATEHOUSE_REFRESH_GRACE":                         "5s",
		"GATEHOUSE_AUDIT_RETENTION":                       "8760h",
		"GATEHOUSE_REDIS_URL":                             "rediss://cache:6380/2",
		"GATEHOUSE_REDIS_KEY_PREFIX":                      "gh:",
		"GATEHOUSE_REDIS_CONNECT_TIMEOUT":                 "150ms",
		"GATEHOUSE_REDIS_READ_TIMEOUT":                    "1500ms",
		"GATEHOUSE_REDIS_WRITE_TIMEOUT":                   "250ms",
		"GATEHOUSE_REDIS_POOL_SIZE":                       "30",
		"GATEHOUSE_DATABASE_MAX_CONNS":                    "40",
		"GATEHOUSE_DATABASE_TIMEOUT":                      "2s",
		"GATEHOUSE_AUTO_MIGRATE":                          "false",
		"GATEHOUSE_START_TIMEOUT":                         "45s",
		"GATEHOUSE_MIGRATE_TIMEOUT":                       "1h",
		"GATEHOUSE_LOG_LEVEL":                             "debug",
		"GATEHOUSE_MFA":                                   "required",
		"GATEHOUSE_CONSOLE":                               "false",
		"GATEHOUSE_ADMIN_API_ON_LISTEN":                   "true",
		"GATEHOUSE_REGISTRATION":                          "initial_access_token",
		"GATEHOUSE_DPOP_NONCE_REQUIRED":                   "true",
		"GATEHOUSE_REQUIRE_PUSHED_AUTHORIZATION_REQUESTS": "true",
		"GATEHOUSE_SMTP_URL":                              "smtps://mailer:s3cret@mail.example.com",
		"GATEHOUSE_SMTP_FROM":                             "Gatehouse <login@example.com>",
		"GATEHOUSE_SMTP_TIMEOUT":                          "20s",
	}
	got, err := loadConfig("", false, configTestEnv(env), configTestFiles(nil))
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	want := Config{"https://login.example.com", ":9999", "127.0.0.1:9100", true, false, "postgres://gh@db/gh", "c.yaml", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", "pw", "10.0.0.0/8, 192.168.1.5",
		time.Minute, 2 * time.Minute, 3 * time.Hour, 4 * time.Hour, 24 * time.Hour, 336 * time.Hour, true, 5 * time.Second, 8760 * time.Hour,
		"rediss://cache:6380/2", "gh:", 150 * time.Millisecond, 1500 * time.Millisecond, 250 * time.Millisecond, 30, 40, 2 * time.Second, false, 45 * time.Second, time.Hour, "debug", "required", true, true, "initial_access_token", true,
		"smtps://mailer:s3cret@mail.example.com", "Gatehouse <login@example.com>", 20 * time.Second}
	if got != want {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name      string
		path      string
		pathGiven bool
		files     map[string]string
		env       map[string]string
		want      []string // substrings of the error, in order of appearance
	}{
		{
			name:  "unknown mfa mode",
			files: map[string]string{"gatehouse.yaml": "issuer: https://a.example\nmfa: on\n"},
			want:  []string{`gatehouse.yaml:2: mfa: must be one of optional, required, off (got "on")`},
		},
		{
			name:  "smtp settings",
			files: map[string]string{"gatehouse.yaml": "issuer: https://a.example\nsmtp_url: smtp://u:s3cret@mail.example.com?tls=none\nsmtp_timeout: 0s\n"},
			env:   map[string]string{"GATEHOUSE_SMTP_FROM": "login@example.com\r\nBcc: x@example.com"},
			want: []string{
				`gatehouse.yaml:2: smtp_url: tls=none sends mail and passwords in plain text: only allowed for a loopback host, not "mail.example.com"`,
				`GATEHOUSE_SMTP_FROM: smtp_from: mail: bad header value: "login@example.com\r\nBcc: x@example.com" has a line break or control character`,
				`gatehouse.yaml:3: smtp_timeout: must be above 0 and at most 1m: a reset request's whole work gets a minute (got 0s)`,
			},
		},
		{
			name:  "smtp_url without smtp_from",
			files: map[string]string{"gatehouse.yaml": "issuer: https://a.example\nsmtp_url: smtp://mail.example.com?tls=ssl\n"},
			want: []string{
				`gatehouse.yaml:2: smtp_url: tls="ssl": want starttls, tls or none`,
				`smtp_from: required with smtp_url`,
			},
		},
		{
			name:  "smtp_from without smtp_url",
			files: map[string]string{"gatehouse.yaml": "issuer: https://a.example\nsmtp_from: login@example.com\n"},
			want:  []string{`gatehouse.yaml:2: smtp_from: has no effect without smtp_url`},
		},
		{
			name:  "unknown key",
			files: map[string]string{"gatehouse.yaml": "issuer: https://a.example\ncolour: blue\n"},
			want:  []string{"gatehouse.yaml:2: colour: unknown field (known: issuer, listen"},
		},
		{
			name:      "config path given but missing",
			path:      "nope.yaml",
			pathGiven: true,
			want:      []string{"reading config file: open nope.yaml: file does not exist"},
		},
		{
			name:  "not YAML",
			files: map[string]string{"gatehouse.yaml": "issuer: [unclosed\n"},
			want:  []string{"gatehouse.yaml:", "not valid YAML"},
		},
		{
			name:  "top level is a list",
			files: map[string]string{"gatehouse.yaml": "- issuer\n"},
			want:  []string{"gatehouse.yaml:1: the top level must be a mapping"},
		},
		{
			name:  "bad duration in file",
			files: map[string]string{"gatehouse.yaml": "issuer: https://a.example\n\naccess_token_ttl: 900\n"},
			want:  []string{`gatehouse.yaml:3: access_token_ttl: not a duration: "900"`},
		},
		{
			name: "bad duration in env",
			env:  map[string]string{"GATEHOUSE_REFRESH_TOKEN_TTL": "forever"},
			want: []string{`GATEHOUSE_REFRESH_TOKEN_TTL: refresh_token_ttl: not a duration: "forever"`},
		},
		{
			name:  "validation problem points at the file line",
			files: map[string]string{"gatehouse.yaml": "listen: :8080\nissuer: http://login.example.com\n"},
			want:  []string{"gatehouse.yaml:2: issuer: must use https"},
		},
		{
			name: "validation problem points at the env variable",
			env:  map[string]string{"GATEHOUSE_ISSUER": "https://login.example.com/"},
			want: []string{"GATEHOUSE_ISSUER: issuer: must not end with a slash"},
		},
		{
			name:  "key given twice",
			files: map[string]string{"gatehouse.yaml": "listen: :1\nlisten: :2\n"},
			want:  []string{"gatehouse.yaml:2: listen: set twice (first at line 1)"},
		},
		{
			name:  "list value",
			files: map[string]string{"gatehouse.yaml": "listen: [a, b]\n"},
			want:  []string{"gatehouse.yaml:1: listen: must be a single value"},
		},
		{
			name: "every bad trusted proxy, from the environment",
			env:  map[string]string{"GATEHOUSE_TRUSTED_PROXIES": "10.0.0.0/8 proxy.example,10.1.2.3/8 0.0.0.0/0"},
			want: []string{
				`GATEHOUSE_TRUSTED_PROXIES: trusted_proxies: entry 2: "proxy.example" is not an IP address or CIDR prefix`,
				`GATEHOUSE_TRUSTED_PROXIES: trusted_proxies: entry 3: "10.1.2.3/8" has bits set past its length: did you mean 10.0.0.0/8?`,
				`GATEHOUSE_TRUSTED_PROXIES: trusted_proxies: entry 4: "0.0.0.0/0" would trust every address`,
			},
		},
		{
			name:  "bad trusted proxy in a file list",
			files: map[string]string{"gatehouse.yaml": "trusted_proxies:\n  - 10.0.0.0/8\n  - 10.0.0.256\n"},
			want:  []string{`gatehouse.yaml:2: trusted_proxies: entry 2: "10.0.0.256" is not an IP address`},
		},
		{
			name:  "trusted proxies list holding a mapping",
			files: map[string]string{"gatehouse.yaml": "trusted_proxies:\n  - {a: b}\n"},
			want:  []string{"gatehouse.yaml:2: trusted_proxies: item 1: must be a single value"},
		},
		{
			name:  "second document",
			files: map[string]string{"gatehouse.yaml": "listen: :1\n---\nlisten: :2\n"},
			want:  []string{"gatehouse.yaml:2: a second YAML document starts here"},
		},
		{
			name: "every problem at once",
			files: map[string]string{"gatehouse.yaml": "" +
				"issuer: ftp://x\n" +
				"bogus: 1\n" +
				"id_token_ttl: 0s\n"},
			env: map[string]string{"GATEHOUSE_DATABASE_URL": "mysql://db/x", "GATEHOUSE_SESSION_IDLE_TIMEOUT": "soon"},
			want: []string{
				"gatehouse.yaml:2: bogus: unknown field",
				"GATEHOUSE_SESSION_IDLE_TIMEOUT: session_idle_timeout: not a duration",
				"gatehouse.yaml:1: issuer: must be an absolute http(s) URL",
				"GATEHOUSE_DATABASE_URL: database_url: unsupported scheme",
				"gatehouse.yaml:3: id_token_ttl: must be at least 1s",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(tt.path, tt.pathGiven, configTestEnv(tt.env), configTestFiles(tt.files))
			if err == nil {
				t.Fatalf("got no error (config %+v), want one containing %q", cfg, tt.want)
			}
			if cfg != (Config{}) {
				t.Errorf("got config %+v with the error, want the zero Config", cfg)
			}
			msg := err.Error()
			rest := msg
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("got error\n%s\nwant it to contain (in order) %q", msg, w)
				}
				rest = rest[i+len(w):]
			}
			if tt.pathGiven && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("got %v, want an error wrapping fs.ErrNotExist", err)
			}
		})
	}
}

func TestLoadConfigUnreadableDefaultFile(t *testing.T) {
	readFile := func(string) ([]byte, error) { return nil, fs.ErrPermission }
	if _, err := loadConfig("", false, configTestEnv(nil), readFile); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("got %v, want an error wrapping fs.ErrPermission: only a missing default file is skipped", err)
	}
}

func TestLoadConfigEmptyFile(t *testing.T) {
	for _, content := range []string{"", "# only a comment\n", "---\n", "~\n"} {
		got, err := loadConfig("", false, configTestEnv(nil), configTestFiles(map[string]string{"gatehouse.yaml": content}))
		if err != nil || got != defaultConfig() {
			t.Errorf("file %q: got %+v, %v; want the defaults, no error", content, got, err)
		}
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	c := Config{
		Issuer:                 "https://login.example.com?x=1",
		Listen:                 "",
		DatabaseURL:            "",
		ClientsFile:            "",
		AccessTokenTTL:         48 * time.Hour,
		IDTokenTTL:             -time.Second,
		RefreshTokenTTL:        0,
		SessionIdleTimeout:     time.Millisecond,
		SessionAbsoluteTimeout: -time.Hour,
		SessionRememberMe:      -time.Hour,
		// Not base64; the text must not appear in the error.
		KeyEncryptionKey: "secret-kek-text!",
	}
	err := c.Validate()
	if err == nil {
		t.Fatal("got nil, want problems")
	}
	var probs configProblems
	if !errors.As(err, &probs) {
		t.Fatalf("got %T, want configProblems", err)
	}
	fields := []string{"issuer", "listen", "database_url", "clients_file", "key_encryption_key", "access_token_ttl", "id_token_ttl", "refresh_token_ttl", "session_idle_timeout", "session_absolute_timeout", "session_remember_me"}
	if strings.Contains(err.Error(), c.KeyEncryptionKey) {
		t.Errorf("got\n%s\nwhich reveals key_encryption_key", err)
	}
	for _, f := range fields {
		if !strings.Contains(err.Error(), "\n"+f+": ") && !strings.HasPrefix(err.Error(), f+": ") {
			t.Errorf("got\n%s\nwant a line starting with %q", err, f+": ")
		}
	}
	if got, want := len(strings.Split(err.Error(), "\n")), len(probs); got != want {
		t.Errorf("got %d lines, want one per problem (%d)", got, want)
	}
}

func TestValidateDefaults(t *testing.T) {
	if err := defaultConfig().Validate(); err != nil {
		t.Errorf("defaultConfig().Validate() = %v, want nil", err)
	}
}

func TestValidateIssuer(t *testing.T) {
	tests := []struct {
		issuer string
		want   string // "" means valid
	}{
		{"https://login.example.com", ""},
		{"https://login.example.com/tenant", ""},
		{"https://login.example.com:8443", ""},
		{"http://localhost:8080", ""},
		{"http://127.0.0.1:8080", ""},
		{"http://[::1]:8080", ""},
		{"", "must not be empty"},
		{"login.example.com", "must be an absolute http(s) URL"},
		{"/relative", "must be an absolute http(s) URL"},
		{"ftp://login.example.com", "must be an absolute http(s) URL"},
		{"https://login.example.com?tenant=1", "without query or fragment"},
		{"https://login.example.com?", "without query or fragment"},
		{"https://login.example.com#x", "without query or fragment"},
		{"https://login.example.com/", "must not end with a slash"},
		{"http://login.example.com", "must use https"},
		{"http://localhost.example.com", "must use https"},
		{"http://127.0.0.2", "must use https"},
		{"https://user@login.example.com", "user info"},
		{"HTTPS://login.example.com", "normal form"},
		{"https://Login.Example.com", "normal form"},
	}
	for _, tt := range tests {
		c := defaultConfig()
		c.Issuer = tt.issuer
		err := c.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("issuer %q: got %v, want nil", tt.issuer, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), "issuer: "+tt.want) && !strings.Contains(err.Error(), tt.want)):
			t.Errorf("issuer %q: got %v, want an issuer error containing %q", tt.issuer, err, tt.want)
		}
	}
}

func TestValidateListenAndTTLs(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{"listen without port", func(c *Config) { c.Listen = "localhost" }, "listen: must be host:port"},
		{"listen bad port", func(c *Config) { c.Listen = ":http" }, "listen: port must be a number"},
		{"listen port too big", func(c *Config) { c.Listen = ":65536" }, "listen: port must be a number"},
		{"admin listen without port", func(c *Config) { c.AdminListen = "localhost" }, "admin_listen: must be host:port"},
		{"admin listen bad port", func(c *Config) { c.AdminListen = ":9l00" }, "admin_listen: port must be a number"},
		{"admin listen same as listen", func(c *Config) { c.Listen, c.AdminListen = ":9000", ":9000" }, "admin_listen: must differ from listen (:9000)"},
		{"admin listen same host as listen", func(c *Config) { c.Listen, c.AdminListen = "127.0.0.1:9000", "127.0.0.1:9000" }, "admin_listen: must differ from listen"},
		{"admin pprof without admin listen", func(c *Config) { c.AdminPprof = true }, "admin_pprof: requires admin_listen"},
		{"access too long", func(c *Config) { c.AccessTokenTTL = 25 * time.Hour }, "access_token_ttl: must be at most 24h0m0s"},
		{"id too long", func(c *Config) { c.IDTokenTTL = 25 * time.Hour }, "id_token_ttl: must be at most"},
		{"refresh too long", func(c *Config) { c.RefreshTokenTTL = 400 * 24 * time.Hour }, "refresh_token_ttl: must be at most"},
		{"refresh not longer than access", func(c *Config) { c.RefreshTokenTTL = 10 * time.Minute }, "refresh_token_ttl: must be longer than access_token_ttl"},
		{"kek not base64", func(c *Config) { c.KeyEncryptionKey = "not base64!" }, "key_encryption_key: KEK is not valid base64"},
		{"kek too short", func(c *Config) { c.KeyEncryptionKey = "c2hvcnQ=" }, "key_encryption_key: KEK decodes to 5 bytes, want 32"},
		{"audit retention negative", func(c *Config) { c.AuditRetention = -time.Hour }, "audit_retention: must be 0 (keep forever) or at least 1h (got -1h0m0s)"},
		{"audit retention too short", func(c *Config) { c.AuditRetention = time.Minute }, "audit_retention: must be 0 (keep forever) or at least 1h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultConfig()
			tt.modify(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestValidateSessionTimeouts checks the bounds of the session settings:
// idle and absolute from 1m to 400 days, absolute never shorter than idle,
// remember-me 0 (off) or from the absolute timeout to 400 days.
func TestValidateSessionTimeouts(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		name                     string
		idle, absolute, remember time.Duration
		want                     string // "" means valid
	}{
		{"defaults", 8 * time.Hour, 7 * day, 30 * day, ""},
		{"remember me off", 8 * time.Hour, 7 * day, 0, ""},
		{"idle equals absolute", 12 * time.Hour, 12 * time.Hour, 0, ""},
		{"remember equals absolute", time.Hour, day, day, ""},
		{"shortest", time.Minute, time.Minute, time.Minute, ""},
		{"longest", 400 * day, 400 * day, 400 * day, ""},
		{"idle zero", 0, 7 * day, 30 * day, "session_idle_timeout: must be from 1m to 9600h (400 days) (got 0s)"},
		{"idle negative", -time.Hour, 7 * day, 30 * day, "session_idle_timeout: must be from 1m to 9600h (400 days) (got -1h)"},
		{"idle too short", 30 * time.Second, 7 * day, 30 * day, "session_idle_timeout: must be from 1m"},
		{"idle too long", 401 * day, 400 * day, 0, "session_idle_timeout: must be from 1m to 9600h (400 days) (got 9624h)"},
		{"absolute zero", 8 * time.Hour, 0, 30 * day, "session_absolute_timeout: must be from 1m"},
		{"absolute negative", 8 * time.Hour, -day, 30 * day, "session_absolute_timeout: must be from 1m"},
		{"absolute too long", 8 * time.Hour, 401 * day, 0, "session_absolute_timeout: must be from 1m to 9600h (400 days) (got 9624h)"},
		{"idle past absolute", 9 * time.Hour, 8 * time.Hour, 30 * day, "session_absolute_timeout: must not be shorter than session_idle_timeout (9h; got 8h)"},
		{"remember negative", 8 * time.Hour, 7 * day, -time.Hour, "session_remember_me: must be 0 (off) or from 1m to 9600h (400 days) (got -1h)"},
		{"remember too long", 8 * time.Hour, 7 * day, 401 * day, "session_remember_me: must be 0 (off) or from 1m"},
		{"remember too short", 8 * time.Hour, 7 * day, 30 * time.Second, "session_remember_me: must be 0 (off) or from 1m"},
		{"remember shorter than absolute", 8 * time.Hour, 7 * day, 24 * time.Hour, "session_remember_me: must be 0 (off) or not shorter than session_absolute_timeout (168h; got 24h)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultConfig()
			c.SessionIdleTimeout, c.SessionAbsoluteTimeout, c.SessionRememberMe = tt.idle, tt.absolute, tt.remember
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
			if err != nil && strings.Count(err.Error(), "\n") > 0 {
				t.Errorf("got several problems\n%v\nwant one: a bad value must not be reported again through the rules that compare it", err)
			}
		})
	}
}

// TestLoadConfigRetiredSessionTTL checks that the replaced session_ttl is
// refused, in the file and in the environment, with what replaced it.
func TestLoadConfigRetiredSessionTTL(t *testing.T) {
	_, err := loadConfig("", false, configTestEnv(map[string]string{"GATEHOUSE_SESSION_TTL": "8h"}),
		configTestFiles(map[string]string{"gatehouse.yaml": "issuer: https://a.example\nsession_ttl: 8h\n"}))
	if err == nil {
		t.Fatal("got nil, want session_ttl refused")
	}
	for _, want := range []string{
		"gatehouse.yaml:2: session_ttl: no longer read: set session_idle_timeout",
		"GATEHOUSE_SESSION_TTL: session_ttl: no longer read: set session_idle_timeout",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got\n%v\nwant it to contain %q", err, want)
		}
	}
}

func TestDatabaseKind(t *testing.T) {
	tests := []struct {
		url      string
		kind     string
		path     string
		validErr string // "" when Validate accepts it
	}{
		{"gatehouse.db", "sqlite", "gatehouse.db", ""},
		{"./data/gatehouse.db", "sqlite", "./data/gatehouse.db", ""},
		{"/var/lib/gatehouse.db", "sqlite", "/var/lib/gatehouse.db", ""},
		{`C:\data\gatehouse.db`, "sqlite", `C:\data\gatehouse.db`, ""},
		{"sqlite:relative.db", "sqlite", "relative.db", ""},
		{"sqlite:/abs/path.db", "sqlite", "/abs/path.db", ""},
		{"sqlite:///abs/path.db", "sqlite", "/abs/path.db", ""},
		{"sqlite://./x.db", "sqlite", "./x.db", ""},
		{"sqlite://x.db", "sqlite", "x.db", ""},
		{"SQLite:x.db", "sqlite", "x.db", ""},
		{"postgres://gh:pw@db:5432/gh?sslmode=require", "postgres", "postgres://gh:pw@db:5432/gh?sslmode=require", ""},
		{"postgresql://db/gh", "postgres", "postgresql://db/gh", ""},
		{"sqlite:", "sqlite", "", "names no SQLite file"},
		{"sqlite://", "sqlite", "", "names no SQLite file"},
		{"sqlite:x.db?_pragma=foreign_keys(1)", "sqlite", "x.db?_pragma=foreign_keys(1)", "take no options"},
		{"mysql://db/x", "", "mysql://db/x", "unsupported scheme"},
		{"file:x.db", "", "file:x.db", "unsupported scheme"},
		{"", "sqlite", "", "must not be empty"},
	}
	for _, tt := range tests {
		kind, path := databaseKind(tt.url)
		if kind != tt.kind || path != tt.path {
			t.Errorf("databaseKind(%q) = %q, %q; want %q, %q", tt.url, kind, path, tt.kind, tt.path)
		}
		c := defaultConfig()
		c.DatabaseURL = tt.url
		err := c.Validate()
		switch {
		case tt.validErr == "" && err != nil:
			t.Errorf("database_url %q: got %v, want valid", tt.url, err)
		case tt.validErr != "" && (err == nil || !strings.Contains(err.Error(), "database_url: ") || !strings.Contains(err.Error(), tt.validErr)):
			t.Errorf("database_url %q: got %v, want a database_url error containing %q", tt.url, err, tt.validErr)
		}
		if err != nil && strings.Contains(tt.url, "pw") && strings.Contains(err.Error(), "pw") {
			t.Errorf("database_url error %q repeats the URL, which may hold a password", err)
		}
	}
}

func FuzzLoadConfig(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("issuer: https://login.example.com\nlisten: :443\ndatabase_url: sqlite:gh.db\naccess_token_ttl: 5m\n"))
	f.Add([]byte("issuer: http://login.example.com/\nbogus: 1\n"))
	f.Add([]byte("listen: [a\n"))
	f.Add([]byte("- a\n- b\n"))
	f.Add([]byte("a: &x 1\nb: *x\n"))
	f.Add([]byte("session_idle_timeout: 1h\n---\nsession_idle_timeout: 2h\n"))
	f.Add([]byte("session_idle_timeout: 9h\nsession_absolute_timeout: 8h\nsession_remember_me: 0s\nsession_keep_on_user_agent_change: yes\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := loadConfig("gatehouse.yaml", true, configTestEnv(nil), configTestFiles(map[string]string{"gatehouse.yaml": string(data)}))
		if err != nil {
			if cfg != (Config{}) {
				t.Fatalf("got config %+v with error %v, want the zero Config", cfg, err)
			}
			if err.Error() == "" {
				t.Fatal("got an error with empty text")
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("loadConfig returned a config that fails Validate: %v", err)
		}
	})
}

// trusted_proxies is a YAML list or a string in the file, a list separated
// by commas or spaces in the environment; both give the same prefixes.
func TestLoadConfigTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		env   map[string]string
	}{
		{"file list", map[string]string{"gatehouse.yaml": "trusted_proxies:\n  - 10.0.0.0/8\n  - 2001:db8:ffff::/48\n  - 192.168.1.5\n"}, nil},
		{"file flow list", map[string]string{"gatehouse.yaml": "trusted_proxies: [10.0.0.0/8, '2001:db8:ffff::/48', 192.168.1.5]\n"}, nil},
		{"file string", map[string]string{"gatehouse.yaml": "trusted_proxies: 10.0.0.0/8, 2001:db8:ffff::/48 192.168.1.5\n"}, nil},
		{"environment", nil, map[string]string{"GATEHOUSE_TRUSTED_PROXIES": " 10.0.0.0/8,2001:db8:ffff::/48\t192.168.1.5 "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadConfig("", false, configTestEnv(tc.env), configTestFiles(tc.files))
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			got, err := cfg.trustedProxies()
			if err != nil || fmt.Sprint(got) != "[10.0.0.0/8 2001:db8:ffff::/48 192.168.1.5/32]" {
				t.Errorf("trustedProxies: got %v, %v; want [10.0.0.0/8 2001:db8:ffff::/48 192.168.1.5/32]", got, err)
			}
		})
	}
	cfg, err := loadConfig("", false, configTestEnv(nil), configTestFiles(nil))
	if got, perr := cfg.trustedProxies(); err != nil || perr != nil || len(got) != 0 {
		t.Errorf("default: got %v, %v, %v; want no trusted proxy", got, err, perr)
	}
}

func TestLoadConfigLogLevel(t *testing.T) {
	for _, tt := range []struct {
		name  string
		file  string
		env   string
		want  slog.Level
		error string // a substring of the error; "" for none
	}{
		{name: "default", want: slog.LevelInfo},
		{name: "debug from the file", file: "log_level: debug\n", want: slog.LevelDebug},
		{name: "info from the file", file: "log_level: info\n", want: slog.LevelInfo},
		{name: "warn from the environment", env: "warn", want: slog.LevelWarn},
		{name: "error from the environment", env: "error", want: slog.LevelError},
		{name: "any case", env: "DEBUG", want: slog.LevelDebug},
		{name: "the environment over the file", file: "log_level: error\n", env: "debug", want: slog.LevelDebug},
		{name: "unknown in the file", file: "issuer: https://a.example\nlog_level: verbose\n",
			error: `gatehouse.yaml:2: log_level: must be one of debug, info, warn, error (got "verbose")`},
		{name: "slog's warning spelling", env: "warning",
			error: `GATEHOUSE_LOG_LEVEL: log_level: must be one of debug, info, warn, error (got "warning")`},
		{name: "a number", env: "-4", error: `log_level: must be one of debug, info, warn, error (got "-4")`},
		{name: "a list", file: "log_level: [debug]\n", error: "gatehouse.yaml:1: log_level: must be a single value"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{}
			if tt.file != "" {
				files["gatehouse.yaml"] = tt.file
			}
			cfg, err := loadConfig("", false, configTestEnv(map[string]string{"GATEHOUSE_LOG_LEVEL": tt.env}), configTestFiles(files))
			if tt.error != "" {
				if err == nil || !strings.Contains(err.Error(), tt.error) {
					t.Fatalf("got error %v, want one containing %q", err, tt.error)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			if got := cfg.slogLevel(); got != tt.want {
				t.Errorf("got level %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoadConfigRegistration(t *testing.T) {
	for _, tt := range []struct {
		env   string
		error string // a substring of the error; "" for none
	}{
		{env: ""},
		{env: "off"},
		{env: "initial_access_token"},
		// Bad input tried: open registration, a wrong case, a boolean.
		{env: "open", error: `GATEHOUSE_REGISTRATION: registration: open is not offered: anyone could create clients`},
		{env: "Initial_Access_Token", error: `registration: must be off or initial_access_token (got "Initial_Access_Token")`},
		{env: "true", error: `registration: must be off or initial_access_token (got "true")`},
	} {
		t.Run(tt.env, func(t *testing.T) {
			_, err := loadConfig("", false, configTestEnv(map[string]string{"GATEHOUSE_REGISTRATION": tt.env}), configTestFiles(nil))
			switch {
			case tt.error == "" && err != nil:
				t.Fatalf("got error %v, want none", err)
			case tt.error != "" && (err == nil || !strings.Contains(err.Error(), tt.error)):
				t.Fatalf("got error %v, want one containing %q", err, tt.error)
			}
		})
	}
}

// TestConfigHidesSMTPPassword: whatever is wrong with smtp_url, the
// error does not repeat its password.
func TestConfigHidesSMTPPassword(t *testing.T) {
	for _, u := range []string{
		"smtp://u:hunter2-secret@mail.example.com?tls=none",
		"smtp://u:hunter2-secret@mail.example.com?tls=bogus",
		"smtp://u:hunter2-secret@mail.example.com:99999",
		"smtp://u:hunter2-secret@mail example.com",
		"http://u:hunter2-secret@mail.example.com",
		"smtp://u:hunter2-secret@mail.example.com/path#frag",
	} {
		env := map[string]string{"GATEHOUSE_ISSUER": "https://a.example", "GATEHOUSE_SMTP_URL": u}
		_, err := loadConfig("", false, configTestEnv(env), configTestFiles(nil))
		if err == nil || !strings.Contains(err.Error(), "smtp_url") {
			t.Errorf("smtp_url %s: got %v, want an error about smtp_url", u, err)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("smtp_url %s: error %q holds the password", u, err)
		}
	}
}
