package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/gatehouse-idp/gatehouse/admin"
	"github.com/gatehouse-idp/gatehouse/adminapi"
	"github.com/gatehouse-idp/gatehouse/audit"
	"github.com/gatehouse-idp/gatehouse/clientip"
	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/console"
	"github.com/gatehouse-idp/gatehouse/keys"
	"github.com/gatehouse-idp/gatehouse/logging"
	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
	"github.com/gatehouse-idp/gatehouse/mail"
	"github.com/gatehouse-idp/gatehouse/metrics"
	"github.com/gatehouse-idp/gatehouse/mfa"
	"github.com/gatehouse-idp/gatehouse/provider"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// newLogger logs lines at level and above (Config.slogLevel), as text to a
// terminal and JSON otherwise; lines logged with a request's context carry
// its request_id (and trace_id, span_id).
func newLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		return slog.New(logging.NewHandler(slog.NewTextHandler(w, opts)))
	}
	return slog.New(logging.NewHandler(slog.NewJSONHandler(w, opts)))
}

// keyEncryptionKey returns the configured key-encryption key or, on the
// embedded store, the one kept in a 0600 file beside the database,
// generating it on first start. Postgres needs it configured: instances
// share one database and must share its key.
func keyEncryptionKey(cfg Config, st *stores, log *slog.Logger) ([]byte, error) {
	if cfg.KeyEncryptionKey != "" {
		kek, err := keys.ParseKEK(cfg.KeyEncryptionKey)
		if err != nil {
			return nil, fmt.Errorf("key_encryption_key: %w", err)
		}
		return kek, nil
	}
	if st.kind != "sqlite" {
		return nil, errors.New("key_encryption_key is required with Postgres: set GATEHOUSE_KEY_ENCRYPTION_KEY to the base64 of 32 random bytes (openssl rand -base64 32), the same on every instance")
	}
	path := st.path + ".kek"
	kek, created, err := keys.LoadOrCreateKEKFile(path, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key file: %w", err)
	}
	if created {
		log.Warn("generated a key-encryption key; back it up with the database, or set GATEHOUSE_KEY_ENCRYPTION_KEY", "file", path)
	}
	return kek, nil
}

const serveUsage = `Usage:
  gatehouse serve [--config gatehouse.yaml]

Runs the OpenID provider and its sign-in pages: reads the configuration (gatehouse.yaml or
--config, then GATEHOUSE_* variables), opens the database, applying pending migrations unless
GATEHOUSE_AUTO_MIGRATE=false, syncs clients.yaml into it, and serves the issuer. It logs one
line per listener, then "gatehouse ready" with the issuer. SIGINT or SIGTERM stop it after
in-flight requests finish (at most 15 seconds).

Every step before it listens that waits on a store (connecting to Postgres and Redis,
migrations, opening the database, signing keys, server secrets, the clients sync, the first
user, code keys) has a deadline: GATEHOUSE_START_TIMEOUT (default 30s) each, migrations
GATEHOUSE_MIGRATE_TIMEOUT (default 10m). A step still waiting after 2 seconds is logged
("waiting for postgres: migrate"), again every 10 seconds; one past its deadline stops serve
with an error naming the step, the store and the setting, and a non-zero exit status.

clients.yaml is applied again on SIGHUP and whenever the file changes (checked every 2
seconds). An invalid file is refused, each problem logged with its line, and the clients
already in the store stay as they are; a file without a clients: list (empty, only comments)
is invalid. Instances sharing a database apply a file only over an older revision (its
top-level revision:); an instance whose file is older serves the newer clients and warns.
Preview a change with gatehouse clients diff.

Prometheus metrics are on /metrics; with GATEHOUSE_ADMIN_LISTEN set they are only on that
second listener, beside /healthz and /readyz.

Examples:
  gatehouse serve
  gatehouse serve --config /etc/gatehouse/gatehouse.yaml
  GATEHOUSE_ISSUER=https://login.example.com GATEHOUSE_LISTEN=:8080 gatehouse serve
  GATEHOUSE_ADMIN_LISTEN=127.0.0.1:9100 gatehouse serve    # metrics on a port of their own
  kill -HUP "$(pidof gatehouse)"    # apply clients.yaml now
`

func serve(ctx context.Context, env environment, args []string) error {
	fs := newFlagSet("serve", env)
	load := configFlag(fs, env)
	if done, err := parseNoArgs(fs, args, env, serveUsage); done {
		return err
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	log := newLogger(env.stderr, cfg.slogLevel())
	// op logs through slog's default logger; give it ours.
	slog.SetDefault(log)
	started := time.Now()

	m := metrics.New()
	store, err := openObservedStores(ctx, cfg, cfg.AutoMigrate, withSessions, log, m)
	if err != nil {
		return err
	}
	defer store.Close()
	store.watch(m)
	// Audit events are stored in the background; stopAudit (deferred, so
	// after the server has drained) writes the last ones. It counts them
	// in m too.
	sink, stopAudit := startAuditSink(ctx, store, log, m)
	defer stopAudit()

	km, err := newKeyManager(cfg, store, log)
	if err != nil {
		return err
	}
	// Every step until serve listens waits on the SQL store: each has a
	// deadline and says in the log what it waits for (startup.go).
	steps := startStepsOf(cfg, log)
	err = steps.run(ctx, store.kind, "signing keys", func(ctx context.Context) error {
		if err := km.Ensure(ctx); err != nil {
			return fmt.Errorf("signing keys: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	m.WatchKeyAges(km.ActiveKeyAges)
	var secrets [3][]byte
	err = steps.run(ctx, store.kind, "server secrets", func(ctx context.Context) (err error) {
		for i, name := range []string{"refresh-token-mac", "csrf-key", "client-secret-key"} {
			if secrets[i], err = km.Secret(ctx, name); err != nil {
				return fmt.Errorf("server secret %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	clientsVersion := clientsFileVersion(cfg, env) // watchClients applies any later change
	clientsW := newClientsWatcher(cfg, env, store, secrets[2], log, m)
	err = steps.run(ctx, store.kind, "client sync", clientsW.applyAtStart)
	if err != nil {
		return err
	}
	err = steps.run(ctx, store.kind, "first user", func(ctx context.Context) error {
		return bootstrapAdmin(ctx, cfg, store, log)
	})
	if err != nil {
		return err
	}

	// The keys that seal authorization codes rotate daily (rotateKeys).
	err = steps.run(ctx, store.kind, "code keys", func(ctx context.Context) error {
		if err := km.EnsureCodeKeys(ctx); err != nil {
			return fmt.Errorf("code keys: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// The client address of each request: the TCP peer, or behind one of
	// trusted_proxies the client its forwarding header names.
	trusted, err := cfg.trustedProxies()
	if err != nil {
		return err
	}
	clientIP := clientip.New(trusted)
	if len(trusted) > 0 {
		log.Info("trusting forwarded client addresses from proxies", "trusted_proxies", cfg.TrustedProxies)
	}
	mfaMode, _ := mfa.ParseMode(cfg.MFA) // validated with the configuration
	pcfg := provider.Config{
		Issuer:            cfg.Issuer,
		AccessTokenTTL:    cfg.AccessTokenTTL,
		IDTokenTTL:        cfg.IDTokenTTL,
		RefreshTokenTTL:   cfg.RefreshTokenTTL,
		RefreshGrace:      cfg.RefreshGrace,
		RefreshKey:        secrets[0],
		ClientSecretKey:   secrets[2],
		CodeKeys:          km,
		Logger:            log,
		Audit:             sink,
		Metrics:           m,
		MetricsOnAdmin:    cfg.AdminListen != "",
		Registration:      cfg.Registration == registrationInitialAccessToken,
		RequirePAR:        cfg.RequirePushedAuthorizationRequests,
		DPoPNonceRequired: cfg.DPoPNonceRequired,
		UI: loginui.Config{
			IdleTimeout:           cfg.SessionIdleTimeout,
			AbsoluteTimeout:       cfg.SessionAbsoluteTimeout,
			RememberFor:           cfg.SessionRememberMe,
			KeepOnUserAgentChange: cfg.SessionKeepOnUserAgentChange,
			CSRFKey:               secrets[1],
			ClientIP:              clientIP,
			MFA:                   mfaMode,
			Logger:                log,
		},
	}
	if cfg.RefreshGrace == 0 {
		pcfg.RefreshGrace = -1 // provider: negative is off, zero the default
	}
	// With a mail server, "Forgot password?" mails reset links.
	if cfg.SMTPURL != "" {
		sender, err := mail.New(mail.Config{URL: cfg.SMTPURL, From: cfg.SMTPFrom, Timeout: cfg.SMTPTimeout})
		if err != nil {
			return err // validated with the configuration; never holds the password
		}
		pcfg.UI.Mailer = sender
		log.Info("password reset by email is on", "smtp", sender.Server().Addr(), "tls", string(sender.Server().TLS))
	}
	p, err := provider.New(ctx, pcfg, store, km)
	if err != nil {
		return err
	}
	// One admin.Service for the admin API and the console: the same
	// actions, recorded by the same sink.
	actions := admin.New(admin.Config{
		Store: store, Keys: km, Record: sink, FamilyKeep: cfg.AccessTokenTTL + 5*time.Minute,
		ClientsChanged: p.InvalidateClients,
		KeySecretHash:  func(h string) (string, error) { return provider.KeyClientSecretHash(secrets[2], h) },
	})
	apiConfig := adminapi.Config{
		Store:          store,
		Actions:        actions,
		Authenticators: []adminapi.Authenticator{adminapi.BearerTokens{Verifier: p}},
		Issuer:         cfg.Issuer,
		Logger:         log,
	}
	api := adminapi.New(apiConfig)
	routes, sessionAdmin, err := consoleRoutes(cfg, p, store, actions, log)
	if err != nil {
		return err
	}
	handler := p.Handler(km.JWKSHandler(), routes...)
	if cfg.AdminAPIOnListen {
		// On the main listener, where the browser's session cookie is
		// sent, an administrator signed in to the console may call the API
		// too (from Gatehouse's own pages only, for changes).
		if sessionAdmin != nil {
			apiConfig.Authenticators = append(apiConfig.Authenticators, adminapi.SessionAdmins{Admin: sessionAdmin, Origin: clientpolicy.WebOrigin(cfg.Issuer)})
		}
		handler = withAdminAPI(handler, adminapi.New(apiConfig))
	}
	shutdownTracing, err := setupTracing(ctx, env.getenv, log)
	if err != nil {
		return err
	}
	if shutdownTracing != nil {
		defer stopTracing(ctx, shutdownTracing, log) // after the server has drained
		handler = traceRequests(handler, clientIP)
	}

	ln, err := listen(cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	adminSrv, adminLn, err := listenAdmin(cfg.AdminListen, withAdminAPI(p.AdminHandler(), api), cfg.AdminPprof, log)
	if err != nil {
		ln.Close()
		return err
	}
	logListener(log, "http", ln.Addr().String())
	if adminSrv != nil {
		logListener(log, "admin", adminLn.Addr().String())
	}
	log.Info("gatehouse ready", "issuer", cfg.Issuer,
		"database", store.kind, "startup", time.Since(started).Round(time.Millisecond).String())

	go prune(ctx, store.sql, cfg.AuditRetention, log)
	go watchClients(ctx, clientsW, p, clientsVersion)
	go rotateKeys(ctx, km, log, sink)
	// Back-channel logout notices are delivered in the background; a
	// delivery cut off by shutdown is retried by any instance later.
	deliveryCtx, stopDelivery := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDelivery()
	delivered := make(chan struct{})
	go func() {
		defer close(delivered)
		p.NewLogoutDelivery(store, provider.LogoutDeliveryOptions{}).Run(deliveryCtx)
	}()
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	if adminSrv != nil {
		go func() { errc <- adminSrv.Serve(adminLn) }()
	}
	select {
	case err := <-errc:
		if adminSrv != nil {
			adminSrv.Close()
		}
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	if adminSrv != nil {
		err = errors.Join(err, adminSrv.Shutdown(shutdownCtx))
	}
	stopDelivery()
	<-delivered
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// logListener logs one line for a listener serve opened: name says what it
// serves ("http": the OpenID provider and its sign-in pages; "admin":
// metrics, liveness and readiness), addr where.
func logListener(log *slog.Logger, name, addr string) {
	log.Info("listening", "listener", name, "addr", addr)
}

// newKeyManager returns the key manager over the stores, with the
// key-encryption key of the configuration.
func newKeyManager(cfg Config, st *stores, log *slog.Logger) (*keys.Manager, error) {
	kek, err := keyEncryptionKey(cfg, st, log)
	if err != nil {
		return nil, err
	}
	sealer, err := keys.NewSealer(kek)
	if err != nil {
		return nil, err
	}
	return keys.NewManager(st, sealer, managerOptions(cfg)), nil
}

// prune deletes expired SQL rows in bounded batches, once a minute, and
// audit events older than auditRetention (0: none). (Redis expires its
// keys by itself.)
func prune(ctx context.Context, store sqlStore, auditRetention time.Duration, log *slog.Logger) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for {
				n, err := store.Prune(ctx, time.Now(), 500)
				if err != nil {
					log.Warn("prune expired rows", "err", err)
					break
				}
				if n < 500 {
					break
				}
			}
			if auditRetention > 0 {
				pruneAudit(ctx, store, time.Now().Add(-auditRetention), log)
			}
		}
	}
}

// bootstrapAdmin creates the first user, admin, when there are none, with
// GATEHOUSE_BOOTSTRAP_PASSWORD or a random password logged once, and makes
// it a member of gatehouse-admins (created if need be), the console's
// group: the console still asks it for a second factor.
func bootstrapAdmin(ctx context.Context, cfg Config, store auditedUsers, log *slog.Logger) error {
	n, err := store.CountUsers(ctx)
	if err != nil {
		return fmt.Errorf("count users: %w", err)
	}
	if n > 0 {
		return nil
	}
	password := cfg.BootstrapPassword
	generated := password == ""
	if generated {
		b := make([]byte, 18)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		password = base64.RawURLEncoding.EncodeToString(b)
	}
	u, err := newUser("admin", "", "Administrator", password)
	if err != nil {
		return fmt.Errorf("bootstrap admin: %w", err)
	}
	err = store.CreateUser(ctx, u)
	if errors.Is(err, storage.ErrConflict) {
		return nil // another instance created it first
	}
	if err != nil {
		return fmt.Errorf("bootstrap admin: %w", err)
	}
	events := []storage.AuditEvent{{Kind: auditUserCreated, UserID: u.ID, Actor: audit.ActorSystem, Detail: "the first user"}}
	err = store.CreateGroup(ctx, &storage.Group{Name: console.AdminGroup, CreatedAt: time.Now()})
	switch {
	case err == nil:
		events = append(events, storage.AuditEvent{Kind: auditGroupCreated, Actor: audit.ActorSystem, Detail: "group=" + console.AdminGroup})
	case !errors.Is(err, storage.ErrConflict):
		return fmt.Errorf("bootstrap admin: %w", err)
	}
	if err := store.AddGroupMember(ctx, console.AdminGroup, u.ID); err != nil {
		return fmt.Errorf("bootstrap admin: %w", err)
	}
	events = append(events, storage.AuditEvent{Kind: auditGroupMemberAdded, UserID: u.ID, Actor: audit.ActorSystem, Detail: "group=" + console.AdminGroup})
	for _, e := range events {
		if err := appendAudit(ctx, store, e); err != nil {
			log.Warn("created the first user, but not recorded in the audit trail", "err", err)
			break
		}
	}
	if generated {
		log.Warn("created the first user; this password is shown once — sign in and change it with `gatehouse users passwd admin --password-stdin`",
			"username", "admin", "password", password)
	} else {
		log.Info("created the first user from GATEHOUSE_BOOTSTRAP_PASSWORD", "username", "admin")
	}
	return nil
}
