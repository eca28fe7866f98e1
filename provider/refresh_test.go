package provider

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// refreshProvider is enough of a Provider to make and check refresh
// tokens.
func refreshProvider(key []byte) *Provider {
	return &Provider{cfg: Config{RefreshKey: key, Random: rand.Reader}}
}

func TestRefreshTokenMAC(t *testing.T) {
	p := refreshProvider(randomBytes(t, 32))
	other := refreshProvider(randomBytes(t, 32))
	token, err := p.newRefreshToken()
	if err != nil {
		t.Fatalf("newRefreshToken: %v", err)
	}
	if len(token) != refreshTokenLen {
		t.Fatalf("token length: got %d, want %d", len(token), refreshTokenLen)
	}
	hash, err := p.refreshTokenHash(token)
	if err != nil {
		t.Fatalf("refreshTokenHash(valid token): got error %v, want nil", err)
	}
	sum := sha256.Sum256([]byte(token))
	if want := hex.EncodeToString(sum[:]); hash != want {
		t.Errorf("refreshTokenHash: got %q, want the SHA-256 hex %q", hash, want)
	}
	if got := TokenHash(token); got != hash {
		t.Errorf("tokenHash: got %q, want %q", got, hash)
	}
	if second, _ := p.newRefreshToken(); second == token {
		t.Errorf("two refresh tokens: got the same value %q twice", token)
	}

	foreign, err := other.newRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name, token string
	}{
		{"empty", ""},
		{"truncated by one", token[:len(token)-1]},
		{"truncated by four", token[:len(token)-4]},
		{"truncated to the random part", token[:43]},
		{"extended by one", token + "A"},
		{"extended by four", token + "AAAA"},
		{"padded", token + "=="},
		{"MAC'd under another key", foreign},
		{"base64 garbage", strings.Repeat("!", refreshTokenLen)},
		{"standard base64 alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(token)},
		{"all zero", base64.RawURLEncoding.EncodeToString(make([]byte, 48))},
		{"random 48 bytes", base64.RawURLEncoding.EncodeToString(randomBytes(t, 48))},
		{"whitespace", token[:32] + "\n" + token[33:]},
		{"swapped halves", token[32:] + token[:32]},
	}
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range token {
		// Flip every position to a different character of the alphabet.
		c := alphabet[(strings.IndexByte(alphabet, token[i])+1)%len(alphabet)]
		bad = append(bad, struct{ name, token string }{
			"flipped char " + strconv.Itoa(i), token[:i] + string(c) + token[i+1:],
		})
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if tt.token == token {
				t.Skip("variant equals the valid token (no + or / to replace)")
			}
			h, err := p.refreshTokenHash(tt.token)
			if !errors.Is(err, errBadRefreshToken) {
				t.Errorf("refreshTokenHash(%q): got (%q, %v), want errBadRefreshToken", tt.token, h, err)
			}
			if h != "" {
				t.Errorf("refreshTokenHash(%q): got hash %q with the error, want empty", tt.token, h)
			}
		})
	}
}

// FuzzRefreshTokenHash: refreshTokenHash never panics, and whatever it
// accepts is 64 characters long and verifies again to the same hash.
func FuzzRefreshTokenHash(f *testing.F) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	p := refreshProvider(key)
	valid, err := p.newRefreshToken()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		valid, valid[:63], valid + "A", "", "!!!!", strings.Repeat("A", 64), strings.Repeat("=", 64),
		strings.Repeat("\n", 64), "\xff\xfe",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		hash, err := p.refreshTokenHash(token)
		if err != nil {
			if !errors.Is(err, errBadRefreshToken) || hash != "" {
				t.Fatalf("refreshTokenHash(%q): got (%q, %v), want (\"\", errBadRefreshToken)", token, hash, err)
			}
			return
		}
		if len(token) != 64 {
			t.Fatalf("refreshTokenHash(%q): accepted a token of length %d, want 64", token, len(token))
		}
		again, err := p.refreshTokenHash(token)
		if err != nil || again != hash || hash != TokenHash(token) {
			t.Fatalf("refreshTokenHash(%q) again: got (%q, %v), want (%q, nil)", token, again, err, hash)
		}
	})
}
