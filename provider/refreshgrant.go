package provider

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// refreshGrantStore is what the refresh grant asks of the store.
type refreshGrantStore interface {
	RefreshGrantByHash(ctx context.Context, tokenHash string) (*storage.RefreshGrant, error)
	FamilyRevoked(ctx context.Context, familyID string) (bool, error)
	UserByID(ctx context.Context, id string) (*storage.User, error)
	RotateRefreshGrant(ctx context.Context, oldHash string, next *storage.RefreshGrant, replay []byte, until, now time.Time) error
	ExtendRefreshGrant(ctx context.Context, tokenHash string, expiresAt, now time.Time) error
}

// The refresh_token grant (RFC 6749 §6, OIDC Core §12), read top to bottom
// in refreshGrant. Refresh tokens rotate: each use marks the grant used and
// stores the next one, in one transaction (storage.RotateRefreshGrant), so
// of two uses of one token at most one succeeds. The answer is kept, sealed,
// on the used grant for the client's grace window: a retry inside it (a
// client that lost the answer) gets the same answer again; any other second
// use is a reuse, and the whole family is revoked, access tokens included
// (RFC 9700 §4.14.2).
//
// A FAPI 2.0 client's tokens do not rotate (refreshPolicy): its refresh
// answers carry the token it sent, which stays valid; a client with an
// idle limit has its grant's expiry moved (storage.ExtendRefreshGrant).

// refreshGrant answers a refresh by the authenticated client c, whose
// request carried a DPoP proof by the key of thumbprint jkt ("" for none).
// A refresh token bound to a key (a public client's, RFC 9449 §5) is
// refused without a proof by that key, before anything else is looked at,
// so that a thief without the key cannot even revoke its family; the
// access token is bound to jkt.
func (p *Provider) refreshGrant(w http.ResponseWriter, r *http.Request, c *client, jkt string) {
	ctx := r.Context()
	if !c.hasGrant(string(oidc.GrantTypeRefreshToken)) {
		p.tokenError(w, r, oidc.ErrUnauthorizedClient().WithDescription("the client is not registered for the refresh_token grant"))
		return
	}
	token := r.PostForm.Get("refresh_token")
	if token == "" {
		p.tokenError(w, r, oidc.ErrInvalidRequest().WithDescription("refresh_token is missing"))
		return
	}
	invalid := oidc.ErrInvalidGrant().WithDescription("the refresh token is invalid or has expired")

	// The grant behind the token: ours (its MAC), this client's, unused,
	// its family not revoked, not expired.
	hash, err := p.refreshTokenHash(token)
	if err != nil {
		p.tokenError(w, r, invalid)
		return
	}
	g, err := p.refreshes.RefreshGrantByHash(ctx, hash)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		p.tokenError(w, r, invalid)
		return
	case err != nil:
		p.storeError(w, r, "token: refresh grant lookup", err)
		return
	}
	if g.ClientID != c.c.ID {
		p.tokenError(w, r, oidc.ErrInvalidGrant().WithDescription("the refresh token was issued to another client"))
		return
	}
	if g.DPoPJKT != "" && jkt != g.DPoPJKT {
		p.tokenError(w, r, oidc.ErrInvalidGrant().WithDescription("the refresh token is bound to a DPoP key: send a DPoP proof signed with that key"))
		return
	}
	pol := c.refreshPolicy()
	if g.UsedAt != nil || g.RevokedAt != nil {
		p.usedRefreshToken(w, r, g, pol.grace)
		return
	}
	// A grant created while its family was being revoked (two redemptions
	// of one code racing) is not marked itself: the family decides.
	if revoked, err := p.refreshes.FamilyRevoked(ctx, g.FamilyID); err != nil {
		p.storeError(w, r, "token: family lookup", err)
		return
	} else if revoked {
		p.tokenError(w, r, oidc.ErrInvalidGrant().WithDescription("the refresh token has been revoked"))
		return
	}
	now := p.cfg.Now()
	if !now.Before(g.ExpiresAt) {
		p.tokenError(w, r, invalid)
		return
	}

	// The user must still exist and be enabled.
	u, err := p.refreshes.UserByID(ctx, g.UserID)
	switch {
	case errors.Is(err, storage.ErrNotFound) || (err == nil && u.Disabled):
		p.tokenError(w, r, oidc.ErrInvalidGrant().WithDescription("the user of this refresh token can no longer sign in"))
		return
	case err != nil:
		p.storeError(w, r, "token: load user", err)
		return
	}

	// A refresh may ask for fewer scopes than the family was granted, never
	// for more; the family keeps what it was granted.
	scopes := g.Scopes
	if requested := strings.Fields(r.PostForm.Get("scope")); len(requested) > 0 {
		for _, sc := range requested {
			if !slices.Contains(g.Scopes, sc) {
				p.tokenError(w, r, oidc.ErrInvalidScope().WithDescription("scope %q was not granted to this refresh token", sc))
				return
			}
		}
		scopes = requested
	}

	// A client with allowed_groups admits only their members: a user
	// removed from them gets no more tokens. The family is refused, not
	// revoked: back in a group (or the client's list mended), the user's
	// apps go on where they were. The groups claim reuses the read.
	groups, allowed, err := p.tokenGroups(ctx, c, u.ID, scopes)
	switch {
	case err != nil:
		p.storeError(w, r, "token: load groups", err)
		return
	case !allowed:
		ev := clientEvent(EventAccessDenied, g.ClientID, g.UserID, g.FamilyID, ReasonNotInAllowedGroups)
		p.record(ctx, ev)
		p.tokenError(w, r, oidc.ErrInvalidGrant().WithDescription("the user of this refresh token may no longer use this application"))
		return
	}

	// Build the tokens and the answer.
	access, exp, err := p.accessToken(c, accessGrant{
		subject: g.UserID, audience: g.Audience, scopes: scopes, authTime: g.AuthTime, amr: g.AMR, family: g.FamilyID,
		jkt: jkt,
	})
	if err != nil {
		p.serverError(w, r, "token: access token", err)
		return
	}
	idToken, err := p.idToken(idTokenInput{
		user: u, audience: g.Audience, scopes: scopes, authTime: g.AuthTime, amr: g.AMR, sessionID: g.SessionID, groups: groups,
	}, c, access, "")
	if err != nil {
		p.serverError(w, r, "token: ID token", err)
		return
	}
	refresh := token // kept when tokens do not rotate
	var next *storage.RefreshGrant
	if pol.rotate {
		if refresh, err = p.newRefreshToken(); err != nil {
			p.serverError(w, r, "token: refresh token", err)
			return
		}
		next = nextRefreshGrant(g, TokenHash(refresh), pol, now)
		if next.DPoPJKT == "" && c.public() {
			// A public client's family started without a proof is bound
			// from its first one on.
			next.DPoPJKT = jkt
		}
	}
	body, err := json.Marshal(&oidc.AccessTokenResponse{
		AccessToken:  access,
		IDToken:      idToken,
		RefreshToken: refresh,
		TokenType:    tokenType(jkt),
		ExpiresIn:    expiresIn(exp, now),
		Scope:        scopes,
	})
	if err != nil {
		p.serverError(w, r, "token: encode the answer", err)
		return
	}

	// Store, then answer: the answer is not sent until what it depends on
	// is committed.
	var stored bool
	if pol.rotate {
		stored = p.storeRotation(w, r, hash, next, body, pol, now)
	} else {
		stored = p.storeKeptToken(w, r, g, hash, pol, now)
	}
	if !stored {
		return
	}
	p.record(ctx, clientEvent(EventTokenRefreshed, g.ClientID, g.UserID, g.FamilyID, ""))
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// storeRotation stores, in one call, the rotation of the grant hash to
// next and, for the grace window, the answer body sealed, so that a retry
// never finds the token used without its answer. It reports whether it
// did; if not, it has answered w.
func (p *Provider) storeRotation(w http.ResponseWriter, r *http.Request, hash string, next *storage.RefreshGrant, body []byte, pol refreshPolicy, now time.Time) bool {
	ctx := r.Context()
	var sealed []byte
	var until time.Time
	if pol.grace > 0 {
		var err error
		if sealed, err = p.replaySealer.Seal(body, []byte(hash)); err != nil {
			p.serverError(w, r, "token: seal the refresh answer", err)
			return false
		}
		until = now.Add(pol.grace)
	}
	switch err := p.refreshes.RotateRefreshGrant(ctx, hash, next, sealed, until, now); {
	case errors.Is(err, storage.ErrNotFound):
		// Another request rotated (or revoked) this token since it was
		// read: answer as a retry of it.
		if g, err := p.refreshes.RefreshGrantByHash(ctx, hash); err == nil && (g.UsedAt != nil || g.RevokedAt != nil) {
			p.usedRefreshToken(w, r, g, pol.grace)
			return false
		}
		p.tokenError(w, r, oidc.ErrInvalidGrant().WithDescription("the refresh token has already been used or has expired"))
		return false
	case err != nil:
		p.storeError(w, r, "token: rotate refresh grant", err)
		return false
	}
	return true
}

// storeKeptToken moves the idle deadline of a grant whose token is kept
// (no rotation), if it has one. Without one nothing is written: a
// revocation racing this answer still reaches its access token, which
// names the family. It reports whether the answer may be sent; if not, it
// has answered w.
func (p *Provider) storeKeptToken(w http.ResponseWriter, r *http.Request, g *storage.RefreshGrant, hash string, pol refreshPolicy, now time.Time) bool {
	expires := pol.expiry(now, familyDeadline(g))
	if !expires.After(g.ExpiresAt) {
		return true
	}
	switch err := p.refreshes.ExtendRefreshGrant(r.Context(), hash, expires, now); {
	case errors.Is(err, storage.ErrNotFound):
		p.tokenError(w, r, oidc.ErrInvalidGrant().WithDescription("the refresh token has been revoked or has expired"))
		return false
	case err != nil:
		p.storeError(w, r, "token: extend refresh grant", err)
		return false
	}
	return true
}

// nextRefreshGrant is the grant that replaces g, stored under nextHash.
// Lifetimes follow the client's refresh policy pol: the family's absolute
// deadline is fixed at the code exchange and copied to every rotation, so
// a family cannot slide forever (grants stored before the deadline was
// recorded expire at their own expiry); each token expires after the idle
// TTL, never past that deadline. The family keeps the scopes it was
// granted, even when this refresh asked for fewer, and the DPoP key its
// tokens are bound to.
func nextRefreshGrant(g *storage.RefreshGrant, nextHash string, pol refreshPolicy, now time.Time) *storage.RefreshGrant {
	next := &storage.RefreshGrant{
		TokenHash:         nextHash,
		FamilyID:          g.FamilyID,
		ClientID:          g.ClientID,
		UserID:            g.UserID,
		Scopes:            g.Scopes,
		Audience:          g.Audience,
		AuthTime:          g.AuthTime,
		AMR:               g.AMR,
		SessionID:         g.SessionID,
		DPoPJKT:           g.DPoPJKT,
		CreatedAt:         now,
		AbsoluteExpiresAt: familyDeadline(g),
	}
	next.ExpiresAt = pol.expiry(now, next.AbsoluteExpiresAt)
	return next
}

// familyDeadline is the absolute deadline of g's family: recorded at the
// code exchange, or for a grant stored before it was, the grant's own
// expiry.
func familyDeadline(g *storage.RefreshGrant) time.Time {
	if g.AbsoluteExpiresAt.IsZero() {
		return g.ExpiresAt
	}
	return g.AbsoluteExpiresAt
}

// replayWait bounds how long a retry waits for the first request's answer.
const replayWait = 2 * time.Second

// usedRefreshToken answers a refresh token that was already rotated or
// revoked, under its client's grace window grace (0: none): a retry
// within grace of the rotation gets the kept answer, anything else
// revokes the family.
func (p *Provider) usedRefreshToken(w http.ResponseWriter, r *http.Request, g *storage.RefreshGrant, grace time.Duration) {
	ctx := r.Context()
	now := p.cfg.Now()
	inGrace := g.RevokedAt == nil && g.UsedAt != nil && grace > 0 && now.Before(g.UsedAt.Add(grace))
	if !inGrace {
		if g.RevokedAt == nil {
			if err := p.revokeFamily(ctx, g.FamilyID); err != nil {
				p.storeError(w, r, "token: revoke a reused refresh family", err)
				return
			}
			p.record(ctx, clientEvent(EventRefreshReuseDetected, g.ClientID, g.UserID, g.FamilyID, ""))
			p.record(ctx, clientEvent(EventFamilyRevoked, g.ClientID, g.UserID, g.FamilyID, "reuse"))
		}
		p.tokenError(w, r, oidc.ErrInvalidGrant().WithDescription("the refresh token has already been used"))
		return
	}
	// The first request may still be writing its answer.
	deadline := time.Now().Add(replayWait)
	for {
		if g.Replay != nil && now.Before(g.ReplayUntil) {
			body, err := p.replaySealer.Open(g.Replay, []byte(g.TokenHash))
			if err != nil {
				p.storeError(w, r, "token: open a kept refresh answer", err)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
			return
		}
		if time.Now().After(deadline) {
			p.storeError(w, r, "token: the first answer to a refresh retried in its grace window was not stored in time", errReplayWait)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(25 * time.Millisecond):
		}
		var err error
		if g, err = p.refreshes.RefreshGrantByHash(ctx, g.TokenHash); err != nil {
			p.storeError(w, r, "token: refresh grant lookup", err)
			return
		}
		now = p.cfg.Now()
	}
}

// errReplayWait: a retry waited replayWait for the answer it replays.
var errReplayWait = errors.New("no kept answer within the wait")
