package postgres

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/storagetest"
)

// reportOps adds throughput to a benchmark's output.
func reportOps(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

func BenchmarkClient(b *testing.B) {
	s := openTest(b, Options{})
	c := storage.Client{ID: "web", Name: "Web", RedirectURIs: []string{"https://rp.example/cb"},
		GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"}}
	if _, err := s.SyncClients(b.Context(), []storage.Client{c}, t0); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Client(b.Context(), "web"); err != nil {
			b.Fatal(err)
		}
	}
	reportOps(b)
}

// BenchmarkClientParallel is BenchmarkClient from GOMAXPROCS goroutines
// sharing the pool, as concurrent requests do.
func BenchmarkClientParallel(b *testing.B) {
	s := openTest(b, Options{})
	c := storage.Client{ID: "web", Name: "Web", RedirectURIs: []string{"https://rp.example/cb"}}
	if _, err := s.SyncClients(b.Context(), []storage.Client{c}, t0); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Client(b.Context(), "web"); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportOps(b)
}

func BenchmarkUserByUsername(b *testing.B) {
	s := openTest(b, Options{})
	for i := range 1000 {
		u := storage.User{ID: fmt.Sprintf("u%d", i), Username: fmt.Sprintf("user%d", i), PasswordHash: "$argon2id$..."}
		if err := s.CreateUser(b.Context(), &u); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if _, err := s.UserByUsername(b.Context(), "user500"); err != nil {
			b.Fatal(err)
		}
	}
	reportOps(b)
}

// BenchmarkCodeFlow is one sign-in's worth of auth request writes: create,
// complete, save the code, take the code.
func BenchmarkCodeFlow(b *testing.B) {
	s := openTest(b, Options{})
	ctx := b.Context()
	login := storage.Login{UserID: "u1", SessionID: "s1", AuthTime: t0, AMR: []string{"pwd"}}
	i := 0
	for b.Loop() {
		i++
		id, code := fmt.Sprintf("r%d", i), fmt.Sprintf("c%d", i)
		r := storage.AuthRequest{ID: id, ClientID: "web", RedirectURI: "https://rp.example/cb",
			Scopes: []string{"openid", "profile"}, State: "st", Nonce: "n", ResponseType: "code",
			CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", CodeChallengeMethod: "S256",
			CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
		if err := s.CreateAuthRequest(ctx, &r); err != nil {
			b.Fatal(err)
		}
		if err := s.CompleteAuthRequest(ctx, id, login, t0); err != nil {
			b.Fatal(err)
		}
		if err := s.SaveCode(ctx, id, code, t0.Add(time.Minute), t0); err != nil {
			b.Fatal(err)
		}
		if _, err := s.ClaimCode(ctx, code, "bench", t0, 10*time.Second); err != nil {
			b.Fatal(err)
		}
		if err := s.RedeemCode(ctx, code, "bench", t0); err != nil {
			b.Fatal(err)
		}
	}
	reportOps(b)
}

func BenchmarkRotateRefreshGrant(b *testing.B) {
	s := openTest(b, Options{})
	ctx := b.Context()
	grant := func(i int) *storage.RefreshGrant {
		return &storage.RefreshGrant{TokenHash: fmt.Sprintf("h%d", i), FamilyID: "f1", ClientID: "web", UserID: "u1",
			Scopes: []string{"openid", "offline_access"}, Audience: []string{"web"}, AuthTime: t0,
			AMR: []string{"pwd"}, CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour)}
	}
	if err := s.CreateRefreshGrant(ctx, grant(0)); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		if err := s.RotateRefreshGrant(ctx, fmt.Sprintf("h%d", i), grant(i+1), nil, time.Time{}, t0); err != nil {
			b.Fatal(err)
		}
		i++
	}
	reportOps(b)
}

// BenchmarkSession creates a session and reads it back, as a sign-in and
// the next request do.
func BenchmarkSession(b *testing.B) {
	s := openTest(b, Options{})
	ctx := b.Context()
	i := 0
	for b.Loop() {
		i++
		id := fmt.Sprintf("s%d", i)
		sess := storage.Session{ID: id, UserID: "u1", AuthTime: t0, AMR: []string{"pwd"},
			UserAgent: "Mozilla/5.0", IP: "192.0.2.1", CreatedAt: t0, LastSeen: t0, ExpiresAt: t0.Add(time.Hour)}
		if err := s.CreateSession(ctx, &sess); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Session(ctx, id, t0); err != nil {
			b.Fatal(err)
		}
	}
	reportOps(b)
}

func BenchmarkAppendAudit(b *testing.B) { storagetest.AppendAuditBatch(b, openTest(b, Options{})) }
