package main

import (
	"path/filepath"
	"testing"

	redisstore "github.com/gatehouse-idp/gatehouse/storage/redis"
	"github.com/gatehouse-idp/gatehouse/storage/redis/redistest"
)

// Passkeys stay in SQL; WebAuthn ceremonies are where the pending sign-ins
// are: Redis when configured, SQL without it, and none for a command that
// opens the SQL store only.
func TestStoresPlacePasskeysAndCeremonies(t *testing.T) {
	for _, tt := range []struct {
		name  string
		redis bool
		use   storeUse
		want  string // where the ceremonies are
	}{
		{"sql", false, withSessions, "sql"},
		{"sql, sql-only command", false, sqlOnly, "sql"},
		{"redis", true, withSessions, "redis"},
		{"redis, sql-only command", true, sqlOnly, "none"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.DatabaseURL = filepath.Join(t.TempDir(), "g.db")
			if tt.redis {
				cfg.RedisURL, cfg.RedisKeyPrefix = redistest.URL(t), redistest.Prefix(t)
			}
			s, err := openStores(t.Context(), cfg, false, tt.use)
			if err != nil {
				t.Fatalf("openStores: %v", err)
			}
			defer s.Close()
			if s.Passkeys != s.sql {
				t.Errorf("Passkeys: got %T, want the SQL store", s.Passkeys)
			}
			var got string
			switch c := s.WebAuthnCeremonies.(type) {
			case nil:
				got = "none"
			case *redisstore.Store:
				if c == s.redis {
					got = "redis"
				}
			default:
				if c == s.sql {
					got = "sql"
				}
			}
			if got != tt.want || any(s.WebAuthnCeremonies) != any(s.PendingSignIns) {
				t.Errorf("WebAuthnCeremonies: got %s (%T), want %s, where the pending sign-ins are (%T)",
					got, s.WebAuthnCeremonies, tt.want, s.PendingSignIns)
			}
		})
	}
}
