package storage

import (
	"bytes"
	"fmt"
	"slices"
)

// ClientSyncPlan is what a backend's SyncClients must write to make the
// store hold exactly the given clients: the decision, shared by every
// backend, apart from the writing.
type ClientSyncPlan struct {
	// Create and Update hold the given clients to insert, or to overwrite
	// and enable; Disable the ids of stored enabled clients to disable.
	Create  []Client
	Update  []Client
	Disable []string
}

// Report is the SyncReport of the plan, with sorted lists.
func (p ClientSyncPlan) Report() SyncReport {
	var r SyncReport
	for _, c := range p.Create {
		r.Created = append(r.Created, c.ID)
	}
	for _, c := range p.Update {
		r.Updated = append(r.Updated, c.ID)
	}
	r.Disabled = slices.Clone(p.Disable)
	slices.Sort(r.Created)
	slices.Sort(r.Updated)
	slices.Sort(r.Disabled)
	return r
}

// PlanClientSync compares the stored clients with the given ones, which
// are declared in clients.yaml. A client given twice, or given with the id
// of a stored client of another source, is an error wrapping ErrConflict.
// An unchanged enabled client is in no list; a disabled one that is given
// again is updated. Stored clients of other sources are never disabled.
func PlanClientSync(stored, given []Client) (ClientSyncPlan, error) {
	var p ClientSyncPlan
	seen := make(map[string]bool, len(given))
	for _, c := range given {
		if seen[c.ID] {
			return ClientSyncPlan{}, fmt.Errorf("client %q given twice: %w", c.ID, ErrConflict)
		}
		seen[c.ID] = true
	}
	byID := make(map[string]*Client, len(stored))
	for i := range stored {
		byID[stored[i].ID] = &stored[i]
	}
	for _, c := range given {
		old, ok := byID[c.ID]
		if ok && !old.Declared() {
			return ClientSyncPlan{}, fmt.Errorf("client %q is already registered through %s, not clients.yaml: %w",
				c.ID, sourceName(old.Source), ErrConflict)
		}
		switch {
		case !ok:
			p.Create = append(p.Create, c)
		case old.Disabled || !sameClient(old, &c):
			p.Update = append(p.Update, c)
		}
	}
	for _, old := range stored {
		if !seen[old.ID] && !old.Disabled && old.Declared() {
			p.Disable = append(p.Disable, old.ID)
		}
	}
	return p, nil
}

// Declared reports whether the client comes from clients.yaml.
func (c *Client) Declared() bool {
	return c.Source == "" || c.Source == ClientSourceFile
}

// sourceName is how an error names a client's source.
func sourceName(source string) string {
	switch source {
	case ClientSourceAPI:
		return "the admin API"
	case ClientSourceRegistration:
		return "dynamic client registration"
	}
	return source
}

// sameClient reports whether a and b agree on everything a sync sets.
func sameClient(a, b *Client) bool {
	return a.SecretHash == b.SecretHash &&
		a.Name == b.Name &&
		slices.Equal(a.RedirectURIs, b.RedirectURIs) &&
		slices.Equal(a.PostLogoutRedirectURIs, b.PostLogoutRedirectURIs) &&
		slices.Equal(a.GrantTypes, b.GrantTypes) &&
		slices.Equal(a.ResponseTypes, b.ResponseTypes) &&
		a.TokenEndpointAuthMethod == b.TokenEndpointAuthMethod &&
		a.ApplicationType == b.ApplicationType &&
		slices.Equal(a.Scopes, b.Scopes) &&
		slices.Equal(a.AllowedCORSOrigins, b.AllowedCORSOrigins) &&
		a.IDTokenSignedResponseAlg == b.IDTokenSignedResponseAlg &&
		a.AccessTokenFormat == b.AccessTokenFormat &&
		bytes.Equal(a.JWKS, b.JWKS) &&
		a.JWKSURI == b.JWKSURI &&
		a.RefreshGracePeriod == b.RefreshGracePeriod &&
		a.RefreshTokenIdleTTL == b.RefreshTokenIdleTTL &&
		a.RefreshTokenAbsoluteTTL == b.RefreshTokenAbsoluteTTL &&
		a.SkipConsent == b.SkipConsent &&
		a.RequireMFA == b.RequireMFA &&
		a.DPoPBoundAccessTokens == b.DPoPBoundAccessTokens &&
		a.Profile == b.Profile &&
		slices.Equal(a.DefaultACRValues, b.DefaultACRValues) &&
		slices.Equal(a.AllowedGroups, b.AllowedGroups) &&
		a.RequirePushedAuthorizationRequests == b.RequirePushedAuthorizationRequests &&
		a.RequestObjectSigningAlg == b.RequestObjectSigningAlg &&
		a.BackchannelLogoutURI == b.BackchannelLogoutURI &&
		a.BackchannelLogoutSessionRequired == b.BackchannelLogoutSessionRequired &&
		a.FrontchannelLogoutURI == b.FrontchannelLogoutURI &&
		a.FrontchannelLogoutSessionRequired == b.FrontchannelLogoutSessionRequired
}
