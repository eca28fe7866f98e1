package provider

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// codeGrantStore is what the code grant asks of the store.
type codeGrantStore interface {
	ClaimCode(ctx context.Context, codeHash, claim string, now time.Time, lease time.Duration) (*storage.AuthRequest, error)
	RedeemCode(ctx context.Context, codeHash, claim string, now time.Time) error
	ReleaseCode(ctx context.Context, codeHash, claim string) error
	UserByID(ctx context.Context, id string) (*storage.User, error)
	CreateRefreshGrant(ctx context.Context, g *storage.RefreshGrant) error
}

// The authorization_code grant (RFC 6749 §4.1.3, OIDC Core §3.1.3), read
// top to bottom in codeGrant. It is Gatehouse's own, not op's: op reads a
// code with one call that turns every store error into invalid_grant, and
// consumes the code before the tokens are stored, so a store failure at the
// wrong moment would tell the client its code is bad, or burn it.
//
// Here the code is claimed (storage.AuthRequests.ClaimCode) for a short
// lease, everything else is checked and stored, and only then is the code
// redeemed, right before the answer is sent. Any failure before that gives
// the code back (ReleaseCode), so a client that got a 5xx can retry with the
// same code and verifier once the stores answer again; if even the release
// fails, the claim lapses with its lease. Of concurrent redemptions one
// claims the code; the others get 503 and, on their retry, find the code
// redeemed (invalid_grant, and the family revoked as for any reuse: the
// store remembers a redeemed code until its expiry; an unknown or expired
// code is invalid_grant and revokes nothing).

const (
	// codeClaimLease bounds how long one redemption attempt holds a code:
	// longer than the attempt's store calls (codeGrantBudget), short
	// enough that a client whose attempt died with its claim retries soon.
	codeClaimLease = 5 * time.Second
	// codeGrantBudget bounds the store calls of one attempt, so that it
	// ends before its claim could lapse.
	codeGrantBudget = 4 * time.Second
	// redeemAttempts is how often the redemption itself is tried: it is
	// idempotent for its claim, so a retry answers a lost reply.
	redeemAttempts = 3
)

// codeGrant answers an authorization_code grant by the authenticated
// client c. With jkt (a DPoP key's thumbprint) the access token is bound to
// that key, and so is a public client's refresh token (RFC 9449 §5).
func (p *Provider) codeGrant(w http.ResponseWriter, r *http.Request, c *client, jkt string) {
	ctx, cancel := context.WithTimeout(r.Context(), codeGrantBudget)
	defer cancel()
	code, verifier := r.PostForm.Get("code"), r.PostForm.Get("code_verifier")
	if code == "" {
		p.tokenError(w, r, oidc.ErrInvalidRequest().WithDescription("code is missing"))
		return
	}
	if !slices.Contains(c.c.GrantTypes, string(oidc.GrantTypeCode)) {
		p.tokenError(w, r, oidc.ErrUnauthorizedClient().WithDescription("the client is not registered for the authorization_code grant"))
		return
	}
	// A code is a compact JWE, base64url parts and dots, and opens under a
	// code key still kept, or it is not ours (or too old): no store lookup
	// for garbage, nor for another spelling of a code (go-jose skips white
	// space), which could never match its stored hash.
	requestID, err := "", errBadCode
	if strings.Trim(code, base64URLChars+".") == "" {
		requestID, err = p.op.Crypto().Decrypt(code)
	}
	if err != nil {
		p.tokenError(w, r, oidc.ErrInvalidGrant().WithDescription("the authorization code is invalid or has expired"))
		return
	}
	hash := TokenHash(code)

	// Claim the code for this attempt.
	claim, err := randomID(p.cfg.Random)
	if err != nil {
		p.serverError(w, r, "token: claim id", err)
		return
	}
	ar, err := p.codes.ClaimCode(ctx, hash, claim, p.cfg.Now(), codeClaimLease)
	switch {
	case errors.Is(err, storage.ErrRedeemed):
		// A second use revokes what the first one issued (RFC 6749
		// §4.1.2, RFC 9700 §4.2.4).
		p.revokeCodeFamily(ctx, hash)
		p.tokenError(w, r, oidc.ErrInvalidGrant().WithDescription("the authorization code has already been used or has expired"))
		return
	case errors.Is(err, storage.ErrNotFound):
		p.tokenError(w, r, oidc.ErrInvalidGrant().WithDescription("the authorization code has already been used or has expired"))
		return
	case errors.Is(err, storage.ErrConflict):
		w.Header().Set("Retry-After", "2")
		httphelper.MarshalJSONWithStatus(w, oidc.ErrServerError().WithDescription("another request is redeeming this authorization code; try again"), http.StatusServiceUnavailable)
		return
	case err != nil:
		p.storeError(w, r, "token: claim code", err)
		return
	}
	redeemed := false
	defer func() {
		if !redeemed {
			p.releaseCode(ctx, hash, claim)
		}
	}()

	// The request behind the code: this client's, this redirect URI, the
	// verifier of its challenge, the DPoP key it names.
	if ar.ID != requestID || !ar.Done || ar.UserID == "" {
		p.tokenError(w, r, oidc.ErrInvalidGrant().WithDescription("the authorization code is invalid"))
		return
	}
	if ar.ClientID != c.c.ID {
		p.tokenError(w, r, oidc.ErrInvalidGrant().WithDescription("the authorization code was issued to another client"))
		return
	}
	if r.PostForm.Get("redirect_uri") != ar.RedirectURI {
		p.tokenError(w, r, oidc.ErrInvalidGrant().WithDescription("redirect_uri does not match the authorization request"))
		return
	}
	if e := checkCodeVerifier(ar, verifier, c.public()); e != nil {
		p.tokenError(w, r, e)
		return
	}
	// A code whose request named a DPoP key (dpop_jkt, RFC 9449 §10) is
	// redeemed only with a proof by that key; the refusal gives the code
	// back like every failure before redemption.
	if ar.DPoPJKT != "" && jkt != ar.DPoPJKT {
		p.tokenError(w, r, oidc.ErrInvalidGrant().WithDescription("the authorization code is bound to a DPoP key: send a DPoP proof signed with that key"))
		return
	}

	// The user must still exist and be enabled.
	u, err := p.codes.UserByID(ctx, ar.UserID)
	switch {
	case errors.Is(err, storage.ErrNotFound) || (err == nil && u.Disabled):
		p.tokenError(w, r, oidc.ErrInvalidGrant().WithDescription("the user of this authorization code can no longer sign in"))
		return
	case err != nil:
		p.storeError(w, r, "token: load user", err)
		return
	}
	// A client with allowed_groups admits only their members: checked at
	// the sign-in, and again here, so that a user removed from them in
	// the code's last seconds gets no tokens.
	groups, allowed, err := p.tokenGroups(ctx, c, u.ID, ar.Scopes)
	switch {
	case err != nil:
		p.storeError(w, r, "token: load groups", err)
		return
	case !allowed:
		p.record(ctx, clientEvent(EventAccessDenied, c.c.ID, u.ID, "", ReasonNotInAllowedGroups))
		p.tokenError(w, r, oidc.ErrInvalidGrant().WithDescription("the user of this authorization code may no longer use this application"))
		return
	}

	// Build the tokens.
	now := p.cfg.Now()
	access, exp, err := p.accessToken(c, accessGrant{
		subject: ar.UserID, audience: []string{ar.ClientID}, scopes: ar.Scopes, authTime: ar.AuthTime, amr: ar.AMR,
		family: familyForCode(hash), jkt: jkt,
	})
	if err != nil {
		p.serverError(w, r, "token: access token", err)
		return
	}
	idToken, err := p.idToken(idTokenInput{
		user: u, audience: []string{ar.ClientID}, scopes: ar.Scopes, authTime: ar.AuthTime, amr: ar.AMR,
		nonce: ar.Nonce, sessionID: ar.SessionID, groups: groups,
	}, c, access, code)
	if err != nil {
		p.serverError(w, r, "token: ID token", err)
		return
	}
	var refresh string
	var grant *storage.RefreshGrant
	if issuesRefreshToken(ar, c) {
		if refresh, err = p.newRefreshToken(); err != nil {
			p.serverError(w, r, "token: refresh token", err)
			return
		}
		pol := c.refreshPolicy()
		grant = &storage.RefreshGrant{
			TokenHash: TokenHash(refresh),
			FamilyID:  familyForCode(hash),
			ClientID:  c.c.ID,
			UserID:    ar.UserID,
			Scopes:    ar.Scopes,
			Audience:  []string{ar.ClientID},
			AuthTime:  ar.AuthTime,
			AMR:       ar.AMR,
			SessionID: ar.SessionID,
			CreatedAt: now,
		}
		if c.public() {
			grant.DPoPJKT = jkt
		}
		grant.AbsoluteExpiresAt = now.Add(pol.absolute)
		grant.ExpiresAt = pol.expiry(now, grant.AbsoluteExpiresAt)
	}

	// Store, then redeem: until the redemption the code is only claimed, and
	// a refresh grant stored by an attempt that fails after this point is
	// never handed out.
	if grant != nil {
		if err := p.codes.CreateRefreshGrant(ctx, grant); err != nil {
			p.storeError(w, r, "token: store refresh grant", err)
			return
		}
	}
	switch err := p.redeemCode(ctx, hash, claim); {
	case errors.Is(err, storage.ErrNotFound):
		// The lease lapsed and another attempt took the code over.
		p.tokenError(w, r, oidc.ErrInvalidGrant().WithDescription("the authorization code was redeemed by another request"))
		return
	case err != nil:
		p.storeError(w, r, "token: redeem code", err)
		return
	}
	redeemed = true

	p.record(ctx, tokenIssued(c.c.ID, ar.UserID, familyForCode(hash), string(oidc.GrantTypeCode)))
	httphelper.MarshalJSON(w, &oidc.AccessTokenResponse{
		AccessToken:  access,
		IDToken:      idToken,
		RefreshToken: refresh,
		TokenType:    tokenType(jkt),
		ExpiresIn:    expiresIn(exp, now),
		Scope:        ar.Scopes,
	})
}

// checkCodeVerifier checks the PKCE verifier against the request's
// challenge (RFC 7636 §4.6). A request without a challenge (a confidential
// client that sent none) must not get a verifier; a public client's request
// always has one (authorize requires it).
func checkCodeVerifier(ar *storage.AuthRequest, verifier string, public bool) *oidc.Error {
	challenge := authRequest{ar}.GetCodeChallenge()
	switch {
	case challenge == nil && verifier != "":
		return oidc.ErrInvalidRequest().WithDescription("code_verifier sent, but the authorization request had no code_challenge")
	case challenge == nil && public:
		return oidc.ErrInvalidGrant().WithDescription("the authorization request had no code_challenge")
	case challenge == nil:
		return nil
	case verifier == "":
		return oidc.ErrInvalidRequest().WithDescription("code_verifier is missing")
	case !validVerifier(verifier) || !oidc.VerifyCodeChallenge(challenge, verifier):
		return oidc.ErrInvalidGrant().WithDescription("code_verifier does not match the code_challenge")
	}
	return nil
}

// errBadCode: a code that is not a compact JWE.
var errBadCode = errors.New("malformed authorization code")

// base64URLChars is the base64url alphabet (RFC 4648 §5).
const base64URLChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// validVerifier reports whether v is a PKCE code verifier: 43 to 128
// unreserved characters (RFC 7636 §4.1).
func validVerifier(v string) bool {
	const unreserved = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
	return len(v) >= 43 && len(v) <= 128 && strings.Trim(v, unreserved) == ""
}

// issuesRefreshToken reports whether a code exchange gets a refresh token:
// offline_access was granted (authorize grants it only to clients with
// the refresh_token grant) and the client still has that grant.
func issuesRefreshToken(ar *storage.AuthRequest, c *client) bool {
	return slices.Contains(ar.Scopes, oidc.ScopeOfflineAccess) &&
		slices.Contains(c.c.GrantTypes, string(oidc.GrantTypeRefreshToken))
}

// redeemCode redeems the code claim holds, trying again when the store did
// not answer: a redemption whose reply was lost succeeds again for the
// same claim. ErrNotFound means another attempt took the code over.
func (p *Provider) redeemCode(ctx context.Context, hash, claim string) error {
	var err error
	for range redeemAttempts {
		err = p.codes.RedeemCode(ctx, hash, claim, p.cfg.Now())
		if err == nil || errors.Is(err, storage.ErrNotFound) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// releaseCode gives back a code whose redemption failed, so that the
// client's retry can claim it at once. It runs even when the request was
// cancelled; if it fails, the claim lapses with its lease.
func (p *Provider) releaseCode(ctx context.Context, hash, claim string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	if err := p.codes.ReleaseCode(ctx, hash, claim); err != nil {
		p.log.WarnContext(ctx, "token: give back an unredeemed code (its claim lapses by itself)", "err", err)
	}
}

// revokeCodeFamily revokes the family a code's first redemption started,
// when the code is used again.
func (p *Provider) revokeCodeFamily(ctx context.Context, hash string) {
	family := familyForCode(hash)
	if err := p.revokeFamily(ctx, family); err != nil {
		p.log.ErrorContext(ctx, "token: revoke the family of a reused code", "err", err)
		return
	}
	p.record(ctx, clientEvent(EventCodeReuseDetected, "", "", family, ""))
	p.record(ctx, clientEvent(EventFamilyRevoked, "", "", family, "code_reuse"))
}
