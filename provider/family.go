package provider

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"time"
)

// familyRevoker revokes token families (reuse, revocation).
type familyRevoker interface {
	RevokeFamily(ctx context.Context, familyID string, now, keepUntil time.Time) error
}

// A token family is everything one grant issued: the tokens of one code
// redemption and of every refresh that followed it. Its id is derived from
// the code's hash, so that a second redemption of the code can find and
// revoke what the first one issued. Access tokens carry it as the "fam"
// claim (accessClaims.Family); userinfo refuses tokens of a revoked family.

// familyForCode returns the family id of the tokens a code issues.
func familyForCode(codeHash string) string {
	sum := sha256.Sum256([]byte("gatehouse token family\x00" + codeHash))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// revokeFamily revokes a family, remembering it long enough to refuse
// every access token it issued.
func (p *Provider) revokeFamily(ctx context.Context, family string) error {
	now := p.cfg.Now()
	if err := p.families.RevokeFamily(ctx, family, now, now.Add(p.cfg.AccessTokenTTL+5*time.Minute)); err != nil {
		return err
	}
	p.live.familyRevokedHere(family)
	return nil
}
