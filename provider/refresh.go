package provider

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// A refresh token is base64url(32 random bytes || first 16 bytes of
// HMAC-SHA256(RefreshKey, those random bytes)): opaque to clients, but a
// forged or garbage token is refused by its MAC before any store lookup.
// The store keeps only the SHA-256 of the whole token.
const (
	refreshRandomLen = 32
	refreshMACLen    = 16
	refreshTokenLen  = 64 // base64url length of 48 bytes
)

func (p *Provider) newRefreshToken() (string, error) {
	b := make([]byte, refreshRandomLen, refreshRandomLen+refreshMACLen)
	if _, err := io.ReadFull(p.cfg.Random, b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	b = append(b, p.refreshMAC(b)...)
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func (p *Provider) refreshMAC(random []byte) []byte {
	m := hmac.New(sha256.New, p.cfg.RefreshKey)
	m.Write(random)
	return m.Sum(nil)[:refreshMACLen]
}

// errBadRefreshToken means the token was not made by this Gatehouse.
var errBadRefreshToken = errors.New("malformed refresh token")

// refreshTokenHash checks the token's MAC and returns the hash it is
// stored under.
func (p *Provider) refreshTokenHash(token string) (string, error) {
	if len(token) != refreshTokenLen {
		return "", errBadRefreshToken
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != refreshRandomLen+refreshMACLen {
		return "", errBadRefreshToken
	}
	if !hmac.Equal(p.refreshMAC(b[:refreshRandomLen]), b[refreshRandomLen:]) {
		return "", errBadRefreshToken
	}
	return TokenHash(token), nil
}

// TokenHash is the stored form of codes, refresh tokens, device codes,
// pushed request references and initial and registration access tokens:
// the hex SHA-256 of the token.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func joinScopes(s []string) string { return strings.Join(s, " ") }
