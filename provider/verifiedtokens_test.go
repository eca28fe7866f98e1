package provider

import (
	"net/http"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func TestVerifiedTokens(t *testing.T) {
	now := time.Unix(2_000_000_000, 0)
	c := &accessClaims{Expiry: now.Add(time.Minute).Unix()}
	keys := []jose.JSONWebKey{{KeyID: "k1"}, {KeyID: "k2"}}
	v := newVerifiedTokens(2)
	v.put("token-a", "k1", c)
	if got, ok := v.get("token-a", keys, now); !ok || got != c {
		t.Fatalf("cached token: %v %v, want its claims", got, ok)
	}
	if _, ok := v.get("token-b", keys, now); ok {
		t.Error("unknown token answered from the cache")
	}
	if _, ok := v.get("token-a", keys, now.Add(time.Minute)); ok {
		t.Error("expired token answered from the cache")
	}
	if _, ok := v.get("token-a", keys[1:], now); ok {
		t.Error("token of a key no longer published answered from the cache")
	}
	v.put("token-no-kid", "", c)
	if _, ok := v.get("token-no-kid", keys, now); ok {
		t.Error("token without kid (opaque) cached")
	}
	// Full: starts over, never grows past max.
	v.put("token-b", "k2", c)
	v.put("token-c", "k2", c)
	if len(v.entries) > 2 {
		t.Errorf("cache holds %d entries, want at most 2", len(v.entries))
	}
	var nilCache *verifiedTokens
	nilCache.put("x", "k1", c)
	if _, ok := nilCache.get("x", keys, now); ok {
		t.Error("nil cache answered")
	}
}

// A token answered from the cache still goes through every other check:
// a revoked family stops it at once.
func TestVerifiedTokenStillChecksRevocation(t *testing.T) {
	e := newTestEnv(t)
	tr := e.codeFlow(t, "openid offline_access")
	for i := 0; i < 2; i++ { // the second call is answered from the cache
		if got := e.userinfoStatus(tr.AccessToken); got != http.StatusOK {
			t.Fatalf("userinfo %d: %d", i, got)
		}
	}
	form := map[string][]string{"token": {tr.RefreshToken}}
	if rec := e.postAs("web", revokePath, form); rec.Code != http.StatusOK {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
	}
	if got := e.userinfoStatus(tr.AccessToken); got != http.StatusUnauthorized {
		t.Errorf("userinfo with a cached token of a revoked grant: %d, want 401", got)
	}
}
