package provider

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// The device_code grant (RFC 8628 §3.4, §3.5), read top to bottom in
// deviceGrant. Every poll is recorded in one atomic step on the device
// sign-in (storage.DeviceAuthorizations.PollDeviceAuthorization), which
// also raises the interval of a device that polls too soon. An approved
// sign-in's tokens are built and stored first; only then is the sign-in
// redeemed, under a random claim, so a store failure burns nothing (the
// device's retry finds it still approved) and a lost reply is redeemed
// again by the same claim; of concurrent polls one redeems it and the
// others get invalid_grant, their stored refresh grants never handed out.

// familyForDevice returns the family id of the tokens a device sign-in
// issues.
func familyForDevice(deviceCodeHash string) string {
	sum := sha256.Sum256([]byte("gatehouse device family\x00" + deviceCodeHash))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// deviceGrant answers a device_code grant by the authenticated client c.
// With jkt (a DPoP key's thumbprint) the access token is bound to that key,
// and so is a public client's refresh token, as in the code grant.
func (p *Provider) deviceGrant(w http.ResponseWriter, r *http.Request, c *client, jkt string) {
	ctx, cancel := context.WithTimeout(r.Context(), codeGrantBudget)
	defer cancel()
	deviceCode := r.PostForm.Get("device_code")
	if deviceCode == "" {
		p.tokenError(w, r, oidc.ErrInvalidRequest().WithDescription("device_code is missing"))
		return
	}
	if !c.hasGrant(clientpolicy.GrantDeviceCode) {
		p.tokenError(w, r, oidc.ErrUnauthorizedClient().WithDescription("the client is not registered for the device_code grant"))
		return
	}
	hash := TokenHash(deviceCode)

	// Record the poll; the sign-in's state decides the answer.
	now := p.cfg.Now()
	d, slow, err := p.devices.PollDeviceAuthorization(ctx, hash, now, deviceSlowDown)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		p.tokenError(w, r, oidc.ErrInvalidGrant().WithDescription("the device code is invalid or has expired"))
		return
	case err != nil:
		p.storeError(w, r, "token: poll device code", err)
		return
	}
	switch {
	case d.ClientID != c.c.ID:
		p.tokenError(w, r, oidc.ErrInvalidGrant().WithDescription("the device code was issued to another client"))
		return
	case d.Status == storage.DeviceRedeemed:
		p.tokenError(w, r, oidc.ErrInvalidGrant().WithDescription("the device code has already been used"))
		return
	case !now.Before(d.ExpiresAt):
		p.tokenError(w, r, oidc.ErrExpiredDeviceCode().WithDescription("the device code has expired; start again"))
		return
	case d.Status == storage.DeviceDenied:
		p.tokenError(w, r, oidc.ErrAccessDenied().WithDescription("the user denied the request"))
		return
	case d.Status == storage.DevicePending && slow:
		p.tokenError(w, r, oidc.ErrSlowDown().WithDescription("poll at most every %d seconds", int(d.Interval.Seconds())))
		return
	case d.Status == storage.DevicePending:
		p.tokenError(w, r, oidc.ErrAuthorizationPending())
		return
	case d.Status != storage.DeviceApproved || d.UserID == "":
		p.tokenError(w, r, oidc.ErrInvalidGrant().WithDescription("the device code is invalid"))
		return
	}

	// The user must still exist, be enabled and be admitted by the client.
	u, err := p.codes.UserByID(ctx, d.UserID)
	switch {
	case errors.Is(err, storage.ErrNotFound) || (err == nil && u.Disabled):
		p.tokenError(w, r, oidc.ErrInvalidGrant().WithDescription("the user of this device code can no longer sign in"))
		return
	case err != nil:
		p.storeError(w, r, "token: load user", err)
		return
	}
	groups, allowed, err := p.tokenGroups(ctx, c, u.ID, d.Scopes)
	switch {
	case err != nil:
		p.storeError(w, r, "token: load groups", err)
		return
	case !allowed:
		p.record(ctx, clientEvent(EventAccessDenied, c.c.ID, u.ID, "", ReasonNotInAllowedGroups))
		p.tokenError(w, r, accessDenied())
		return
	}

	// Build the tokens.
	family := familyForDevice(hash)
	access, exp, err := p.accessToken(c, accessGrant{
		subject: u.ID, audience: []string{c.c.ID}, scopes: d.Scopes, authTime: d.AuthTime, amr: d.AMR, family: family, jkt: jkt,
	})
	if err != nil {
		p.serverError(w, r, "token: access token", err)
		return
	}
	idToken, err := p.idToken(idTokenInput{
		user: u, audience: []string{c.c.ID}, scopes: d.Scopes, authTime: d.AuthTime, amr: d.AMR,
		sessionID: d.SessionID, groups: groups,
	}, c, access, "")
	if err != nil {
		p.serverError(w, r, "token: ID token", err)
		return
	}
	var refresh string
	if slices.Contains(d.Scopes, oidc.ScopeOfflineAccess) && c.hasGrant(string(oidc.GrantTypeRefreshToken)) {
		if refresh, err = p.newRefreshToken(); err != nil {
			p.serverError(w, r, "token: refresh token", err)
			return
		}
		pol := c.refreshPolicy()
		grant := &storage.RefreshGrant{
			TokenHash: TokenHash(refresh), FamilyID: family, ClientID: c.c.ID, UserID: u.ID,
			Scopes: d.Scopes, Audience: []string{c.c.ID}, AuthTime: d.AuthTime, AMR: d.AMR,
			SessionID: d.SessionID, CreatedAt: now,
		}
		if c.public() {
			grant.DPoPJKT = jkt
		}
		grant.AbsoluteExpiresAt = now.Add(pol.absolute)
		grant.ExpiresAt = pol.expiry(now, grant.AbsoluteExpiresAt)
		if err := p.codes.CreateRefreshGrant(ctx, grant); err != nil {
			p.storeError(w, r, "token: store refresh grant", err)
			return
		}
	}

	// Redeem, then answer: until the redemption the sign-in stays
	// approved, and a refresh grant stored by an attempt that fails after
	// this point is never handed out.
	claim, err := randomID(p.cfg.Random)
	if err != nil {
		p.serverError(w, r, "token: claim id", err)
		return
	}
	for range redeemAttempts {
		err = p.devices.RedeemDeviceAuthorization(ctx, hash, claim, p.cfg.Now())
		if err == nil || errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrRedeemed) || ctx.Err() != nil {
			break
		}
	}
	switch {
	case errors.Is(err, storage.ErrRedeemed):
		p.tokenError(w, r, oidc.ErrInvalidGrant().WithDescription("the device code has already been used"))
		return
	case errors.Is(err, storage.ErrNotFound):
		p.tokenError(w, r, oidc.ErrExpiredDeviceCode().WithDescription("the device code has expired; start again"))
		return
	case err != nil:
		p.storeError(w, r, "token: redeem device code", err)
		return
	}

	p.record(ctx, tokenIssued(c.c.ID, u.ID, family, string(oidc.GrantTypeDeviceCode)))
	httphelper.MarshalJSON(w, &oidc.AccessTokenResponse{
		AccessToken:  access,
		IDToken:      idToken,
		RefreshToken: refresh,
		TokenType:    tokenType(jkt),
		ExpiresIn:    expiresIn(exp, now),
		Scope:        d.Scopes,
	})
}
