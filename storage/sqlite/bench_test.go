package sqlite

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/storagetest"
)

func BenchmarkClient(b *testing.B) {
	s := openTemp(b)
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
}

func BenchmarkUserByUsername(b *testing.B) {
	s := openTemp(b)
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
}

// BenchmarkCodeFlow is one sign-in's worth of auth request writes: create,
// complete, save the code, take the code.
func BenchmarkCodeFlow(b *testing.B) {
	s := openTemp(b)
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
}

func BenchmarkRotateRefreshGrant(b *testing.B) {
	s := openTemp(b)
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
}

func BenchmarkAppendAudit(b *testing.B) { storagetest.AppendAuditBatch(b, openTemp(b)) }
