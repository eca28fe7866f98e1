package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse-idp/gatehouse/metrics"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/postgres"
	redisstore "github.com/gatehouse-idp/gatehouse/storage/redis"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// stores is every store Gatehouse uses, whichever backend holds each:
// one SQL store (SQLite or Postgres) for everything, or with Redis
// configured, Redis for browser sessions, authorization requests, pushed
// authorization requests, pending sign-ins, WebAuthn ceremonies, device
// sign-ins, login-failure counters and the ids of used DPoP proofs. Consents,
// second factors, passkeys, groups, password-reset links, the logout notice queue and the audit
// trail always stay in SQL.
type stores struct {
	storage.Clients
	storage.ClientWriter
	storage.ClientRegistries
	storage.Users
	storage.UserDeleter
	storage.UserSwapper
	storage.UserImporter
	storage.UserPager
	sessionStore
	storage.AuthRequests
	storage.RefreshGrants
	storage.TokenFamilies
	keyStore
	storage.Secrets
	storage.KeyRotation
	storage.ClientAssertions
	storage.DPoPProofs
	storage.Consents
	storage.LogoutNotices
	storage.LoginThrottle
	storage.AuditLog
	storage.SecondFactors
	storage.PendingSignIns
	storage.Passkeys
	storage.WebAuthnCeremonies
	storage.Groups
	storage.Registrations
	storage.PasswordResets
	storage.PushedRequests
	storage.DeviceAuthorizations

	// sql is the SQL backend; redis is nil without GATEHOUSE_REDIS_URL,
	// or when the command opened the SQL store only (sqlOnly): then
	// sessionStore, AuthRequests, PushedRequests, PendingSignIns,
	// WebAuthnCeremonies, DeviceAuthorizations and LoginThrottle are nil too, so that no command reads them from SQL,
	// where they are not.
	sql   sqlStore
	redis *redisstore.Store
	// kind names the SQL backend: "sqlite" or "postgres"; path is the
	// SQLite file ("" for Postgres).
	kind, path string
}

// sessionStore is what every backend that holds browser sessions offers:
// the sessions, how many are live (the sessions_active metric), and a
// session's re-authentication.
type sessionStore interface {
	storage.Sessions
	storage.SessionCounter
	storage.SessionAuthenticator
}

// keyStore names the embedded storage.SigningKeys so that its field does
// not hide its method of the same name.
type keyStore = storage.SigningKeys

// sqlStore is what both SQL backends offer.
type sqlStore interface {
	storage.TokenFamilies
	storage.Clients
	storage.ClientWriter
	storage.ClientRegistries
	storage.Users
	storage.UserDeleter
	storage.UserSwapper
	storage.UserImporter
	storage.UserPager
	sessionStore
	storage.AuthRequests
	storage.RefreshGrants
	storage.SigningKeys
	storage.Secrets
	storage.KeyRotation
	storage.ClientAssertions
	storage.DPoPProofs
	storage.Consents
	storage.LogoutNotices
	storage.LoginThrottle
	storage.AuditLog
	storage.SecondFactors
	storage.PendingSignIns
	storage.Passkeys
	storage.WebAuthnCeremonies
	storage.Groups
	storage.Registrations
	storage.PasswordResets
	storage.PushedRequests
	storage.DeviceAuthorizations
	storage.Pruner
	Ping(ctx context.Context) error
}

// Ping reports whether every backend answers: readiness.
func (s *stores) Ping(ctx context.Context) error {
	err := s.sql.Ping(ctx)
	if err != nil {
		err = fmt.Errorf("%s: %w", s.kind, err)
	}
	if s.redis != nil {
		if rerr := s.redis.Ping(ctx); rerr != nil {
			err = errors.Join(err, fmt.Errorf("redis: %w", rerr))
		}
	}
	return err
}

// storesCloseWait is how long Close waits for the backends to close.
const storesCloseWait = 2 * time.Second

// Close releases every backend, waiting at most storesCloseWait: a backend
// that takes longer is left closing in the background, so that a stalled
// store does not hold up the exit (pgx gives a connection whose call a
// stalled Postgres never answered up to 15 seconds to close).
func (s *stores) Close() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		switch db := s.sql.(type) {
		case *sqlite.Store:
			db.Close()
		case *postgres.Store:
			db.Close()
		}
		if s.redis != nil {
			s.redis.Close()
		}
	}()
	select {
	case <-done:
	case <-time.After(storesCloseWait):
	}
}

// storeUse says which backends a command opens: a command opens only
// what it uses, so that a store it does not need being down or slow does
// not stop it.
type storeUse int

const (
	// sqlOnly opens the SQL store alone: clients, users, second factors,
	// passkeys, groups, refresh grants, keys and secrets, consents, logout
	// notices and the audit trail.
	sqlOnly storeUse = iota
	// withSessions also opens Redis, when configured: browser sessions,
	// auth requests, pending sign-ins, WebAuthn ceremonies and login
	// throttling.
	withSessions
)

// openStores opens the SQL store and, with use withSessions, Redis when
// configured. On Postgres, pending migrations are applied first when
// migrate is true. Each step has the deadline of the configuration
// (start_timeout, migrate_timeout).
func openStores(ctx context.Context, cfg Config, migrate bool, use storeUse) (*stores, error) {
	return openObservedStores(ctx, cfg, migrate, use, nil, nil)
}

// openObservedStores is openStores with every call to Postgres and Redis
// observed by obs (nil: none), logging what each step waits for and which
// backend holds the sessions (log nil: nothing). SQLite, in-process, is not
// observed.
func openObservedStores(ctx context.Context, cfg Config, migrate bool, use storeUse, log *slog.Logger, obs storage.CallObserver) (*stores, error) {
	steps := startStepsOf(cfg, log)
	s := &stores{}
	kind, path := databaseKind(cfg.DatabaseURL)
	switch kind {
	case "sqlite":
		var db *sqlite.Store
		err := steps.run(ctx, "sqlite", "open", func(ctx context.Context) (err error) {
			db, err = sqlite.Open(ctx, path)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("open database %s: %w", path, err)
		}
		s.sql, s.kind, s.path = db, "sqlite", path
	case "postgres":
		// Connect first, within the start timeout: a database that is not
		// there must not wait for the migration's much longer one.
		err := steps.run(ctx, "postgres", "connect", func(ctx context.Context) error { return postgres.Reachable(ctx, path) })
		if err != nil {
			return nil, err
		}
		if migrate {
			err := steps.migrate(ctx, "postgres", func(ctx context.Context) error { return postgres.Migrate(ctx, path) })
			if err != nil {
				return nil, err
			}
		}
		var db *postgres.Store
		err = steps.run(ctx, "postgres", "open", func(ctx context.Context) (err error) {
			db, err = postgres.Open(ctx, path, postgres.Options{MaxConns: int32(cfg.DatabaseMaxConns), Timeout: cfg.DatabaseTimeout, Observer: obs})
			return err
		})
		if err != nil {
			return nil, err
		}
		s.sql, s.kind = db, "postgres"
	default:
		return nil, fmt.Errorf("database_url: unsupported database")
	}
	s.Clients, s.Users, s.UserDeleter, s.UserSwapper, s.sessionStore, s.AuthRequests = s.sql, s.sql, s.sql, s.sql, s.sql, s.sql
	s.ClientRegistries, s.ClientWriter = s.sql, s.sql
	s.UserImporter, s.UserPager = s.sql, s.sql
	s.RefreshGrants, s.TokenFamilies, s.keyStore, s.Secrets = s.sql, s.sql, s.sql, s.sql
	s.KeyRotation, s.ClientAssertions, s.DPoPProofs = s.sql, s.sql, s.sql
	s.Consents, s.LogoutNotices, s.LoginThrottle, s.AuditLog = s.sql, s.sql, s.sql, s.sql
	s.SecondFactors, s.PendingSignIns = s.sql, s.sql
	s.Passkeys, s.WebAuthnCeremonies, s.Groups, s.PasswordResets = s.sql, s.sql, s.sql, s.sql
	s.Registrations, s.PushedRequests, s.DeviceAuthorizations = s.sql, s.sql, s.sql
	if cfg.RedisURL != "" && use == sqlOnly {
		s.sessionStore, s.AuthRequests, s.PendingSignIns, s.LoginThrottle = nil, nil, nil, nil
		s.WebAuthnCeremonies, s.PushedRequests, s.DeviceAuthorizations, s.DPoPProofs = nil, nil, nil, nil
	}
	if cfg.RedisURL != "" && use == withSessions {
		var r *redisstore.Store
		err := steps.run(ctx, "redis", "connect", func(ctx context.Context) (err error) {
			r, err = redisstore.Open(ctx, redisstore.Options{
				URL: cfg.RedisURL, Prefix: cfg.RedisKeyPrefix, PoolSize: cfg.RedisPoolSize,
				DialTimeout: cfg.RedisConnectTimeout, ReadTimeout: cfg.RedisReadTimeout, WriteTimeout: cfg.RedisWriteTimeout,
				Observer: obs,
			})
			return err
		})
		if err != nil {
			s.Close()
			return nil, err
		}
		s.redis = r
		s.sessionStore, s.AuthRequests, s.PendingSignIns, s.LoginThrottle = r, r, r, r
		s.WebAuthnCeremonies, s.PushedRequests, s.DeviceAuthorizations, s.DPoPProofs = r, r, r, r
	}
	if log != nil {
		where := "sql"
		if s.redis != nil {
			where = "redis"
		}
		log.Info("stores open", "database", s.kind, "sessions", where)
	}
	return s, nil
}

// watch exports in m what the stores report at scrape time: the number of
// active sessions (from whichever store holds them) and the connection
// pools of Postgres and Redis.
func (s *stores) watch(m *metrics.Metrics) {
	if s.sessionStore != nil {
		m.WatchActiveSessions(s.ActiveSessions, time.Now)
	}
	if db, ok := s.sql.(*postgres.Store); ok {
		m.WatchPostgresPool(func() metrics.PostgresPoolStats {
			st := db.PoolStat()
			return metrics.PostgresPoolStats{Acquired: int64(st.AcquiredConns()), Idle: int64(st.IdleConns()),
				Total: int64(st.TotalConns()), Max: int64(st.MaxConns())}
		})
	}
	if s.redis != nil {
		m.WatchRedisPool(func() metrics.RedisPoolStats {
			st := s.redis.PoolStats()
			out := metrics.RedisPoolStats{Hits: int64(st.Hits), Misses: int64(st.Misses), Timeouts: int64(st.Timeouts),
				Total: int64(st.TotalConns), Idle: int64(st.IdleConns)}
			if p := st.PipelineStats; p != nil { // pipelines' own pool, when go-redis keeps one
				out.Hits, out.Misses, out.Timeouts = out.Hits+int64(p.Hits), out.Misses+int64(p.Misses), out.Timeouts+int64(p.Timeouts)
				out.Total, out.Idle = out.Total+int64(p.TotalConns), out.Idle+int64(p.IdleConns)
			}
			return out
		})
	}
}

// openCommandStores loads a command's configuration and opens the stores
// it uses, applying pending migrations when the configuration says so:
// what every CLI command that reads or writes state starts with.
func openCommandStores(ctx context.Context, load func() (Config, error), use storeUse) (Config, *stores, error) {
	cfg, err := load()
	if err != nil {
		return Config{}, nil, err
	}
	store, err := openStores(ctx, cfg, cfg.AutoMigrate, use)
	if err != nil {
		return Config{}, nil, err
	}
	return cfg, store, nil
}
