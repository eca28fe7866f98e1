// Package clientpolicy says what a relying-party client may be registered
// as: the clients.yaml file and its parser (ParseFile), the rules every
// client obeys (Validate), and the redirect URI rules that registration and
// the provider's matching at authorize and end_session share
// (RedirectAllowed, PostLogoutRedirectAllowed), so the two cannot disagree.
// The secret hashing (HashSecret) and the client key rules (ValidateJWKS,
// AllowedJWKSURI) live here for the same reason.
//
// Problems are reported all at once, each with its position and field path
// (Problems).
package clientpolicy

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-idp/gatehouse/keys"
	"github.com/gatehouse-idp/gatehouse/mfa"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// Limits on client fields.
const (
	maxClientIDLen       = 128
	maxClientNameLen     = 200 // characters
	maxRedirectURILen    = 2000
	minClientSecretLen   = 32 // characters of a plain-text secret
	generateSecretAdvice = "generate one with `openssl rand -hex 32`"

	// Bounds of the per-client refresh-token policy. The absolute TTL's
	// upper bound is the server's, MaxRefreshTokenTTL.
	maxRefreshGracePeriod = time.Minute
	minRefreshIdleTTL     = time.Minute
	minRefreshAbsoluteTTL = time.Hour
)

// MaxRefreshTokenTTL is the longest lifetime of a refresh token: the bound
// of a client's refresh_token_absolute_ttl and refresh_token_idle_ttl, and
// of the server's own refresh_token_ttl.
const MaxRefreshTokenTTL = 365 * 24 * time.Hour

// GrantDeviceCode is the device authorization grant's grant type (RFC
// 8628 §3.4): a client listing it in grant_types may start device sign-ins
// at /device_authorization and poll the token endpoint with it.
const GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"

// Client metadata values Gatehouse accepts (RFC 7591 §2).
const (
	grantAuthorizationCode = "authorization_code"
	grantRefreshToken      = "refresh_token"
	grantClientCredentials = "client_credentials"
	authMethodBasic        = "client_secret_basic"
	authMethodPost         = "client_secret_post"
	authMethodNone         = "none"
	authMethodPrivateKey   = "private_key_jwt"
	appTypeWeb             = "web"
	appTypeNative          = "native"
)

// Values of access_token_format in clients.yaml (storage.Client's
// AccessTokenFormat); leaving it out means jwt and is stored as "".
const (
	accessTokenJWT    = "jwt"
	accessTokenOpaque = "opaque"
)

// Validate checks a parsed client against every rule clients.yaml
// enforces, secrets included: a public client (auth method none) has no
// SecretHash; a confidential one has a valid one. ParseFile never
// returns a client for which it fails. The error is a Problems listing
// every problem, each positioned `client "id"` with its field path (such as
// redirect_uris[0]).
func Validate(c storage.Client) error {
	var probs Problems
	pos := fmt.Sprintf("client %q", c.ID)
	bad := func(field, msg string) {
		probs = append(probs, Problem{Pos: pos, Field: field, Msg: msg})
	}
	checkClient(&c, bad)
	switch c.TokenEndpointAuthMethod {
	case authMethodNone:
		if c.SecretHash != "" {
			bad("client_secret", "public clients have no secret")
		}
	case authMethodBasic, authMethodPost:
		if c.ApplicationType != appTypeNative && !ValidSecretHash(c.SecretHash) {
			bad("client_secret_hash", "confidential clients need a valid secret hash")
		}
	case authMethodPrivateKey:
		if c.SecretHash != "" {
			bad("client_secret", "private_key_jwt clients have no secret")
		}
	}
	if len(probs) == 0 {
		return nil
	}
	return probs
}

// checkClient checks every rule of one client except its secret, calling
// bad with a field path relative to the client (such as
// "redirect_uris[0]") for each problem.
func checkClient(c *storage.Client, bad func(field, msg string)) {
	switch {
	case c.ID == "":
		bad("client_id", "missing: every client needs a client_id")
	case len(c.ID) > maxClientIDLen:
		bad("client_id", fmt.Sprintf("is %d characters long, the limit is %d", len(c.ID), maxClientIDLen))
	case strings.IndexFunc(c.ID, func(r rune) bool { return !isClientIDChar(r) }) >= 0:
		bad("client_id", fmt.Sprintf("%q may use only letters, digits and . _ ~ -", c.ID))
	}

	switch {
	case c.Name == "":
		bad("client_name", "must not be empty (leave it out to use the client_id)")
	case !utf8.ValidString(c.Name) || strings.IndexFunc(c.Name, unicode.IsControl) >= 0:
		bad("client_name", "must be text without control characters")
	case utf8.RuneCountInString(c.Name) > maxClientNameLen:
		bad("client_name", fmt.Sprintf("is longer than %d characters", maxClientNameLen))
	}

	switch c.ApplicationType {
	case appTypeWeb, appTypeNative:
	default:
		bad("application_type", fmt.Sprintf("%q is not web or native", c.ApplicationType))
	}

	switch c.TokenEndpointAuthMethod {
	case authMethodBasic, authMethodPost, authMethodNone, authMethodPrivateKey:
		if c.ApplicationType == appTypeNative && c.TokenEndpointAuthMethod != authMethodNone {
			bad("token_endpoint_auth_method", "native apps are public clients: set it to none and use PKCE (RFC 8252 §8.5: a secret shipped inside an app is not a secret)")
		}
	case "client_secret_jwt", "tls_client_auth", "self_signed_tls_client_auth":
		bad("token_endpoint_auth_method", fmt.Sprintf("%q is not supported yet: use client_secret_basic, client_secret_post, private_key_jwt or none", c.TokenEndpointAuthMethod))
	default:
		bad("token_endpoint_auth_method", fmt.Sprintf("%q is not client_secret_basic, client_secret_post, private_key_jwt or none", c.TokenEndpointAuthMethod))
	}
	checkClientKeys(c, bad)

	hasCode := slices.Contains(c.GrantTypes, grantAuthorizationCode)
	hasDevice := slices.Contains(c.GrantTypes, GrantDeviceCode)
	if len(c.GrantTypes) == 0 {
		bad("grant_types", "must list at least one grant type (leave it out for [authorization_code])")
	}
	for i, g := range c.GrantTypes {
		field := fmt.Sprintf("grant_types[%d]", i)
		switch g {
		case grantAuthorizationCode:
		case grantRefreshToken:
			if !hasCode && !hasDevice {
				bad(field, "refresh_token needs authorization_code or "+GrantDeviceCode+" too: refresh tokens are issued with a code exchange or a device sign-in")
			}
		case GrantDeviceCode:
		case grantClientCredentials:
			if c.TokenEndpointAuthMethod == authMethodNone {
				bad(field, "client_credentials needs a confidential client: a public client (auth method none) cannot authenticate itself")
			}
		case "implicit":
			bad(field, "implicit is not supported: the implicit flow is deprecated (RFC 9700 §2.1.2); use authorization_code with PKCE")
		case "password":
			bad(field, "password is not supported: the resource owner password grant must not be used (RFC 9700 §2.4)")
		default:
			bad(field, fmt.Sprintf("%q is not supported: use authorization_code, refresh_token, client_credentials or %s", g, GrantDeviceCode))
		}
		if slices.Index(c.GrantTypes, g) < i {
			bad(field, fmt.Sprintf("%q is listed twice", g))
		}
	}

	if hasCode && len(c.ResponseTypes) == 0 {
		bad("response_types", "must list code (leave it out for [code])")
	}
	for i, rt := range c.ResponseTypes {
		field := fmt.Sprintf("response_types[%d]", i)
		// code needs the authorization_code grant (RFC 7591 §2.1).
		if rt == "code" && !hasCode {
			bad(field, "code needs the authorization_code grant")
		}
		if rt != "code" {
			bad(field, fmt.Sprintf("%q is not supported: only code (the implicit and hybrid flows are not, RFC 9700 §2.1.2)", rt))
		}
		if slices.Index(c.ResponseTypes, rt) < i {
			bad(field, fmt.Sprintf("%q is listed twice", rt))
		}
	}

	if hasCode && len(c.RedirectURIs) == 0 {
		bad("redirect_uris", "required for the authorization_code grant: list every URI the client may be sent back to")
	}
	checkURIList(c.RedirectURIs, "redirect_uris", c.ApplicationType, bad)
	checkURIList(c.PostLogoutRedirectURIs, "post_logout_redirect_uris", c.ApplicationType, bad)
	checkCORSOrigins(c, bad)

	if alg := c.IDTokenSignedResponseAlg; alg != "" && !slices.Contains(keys.KeptAlgorithms(), alg) {
		msg := fmt.Sprintf("%q is not supported: use RS256, ES256 or EdDSA (leave it out for the server's default, RS256)", alg)
		switch i := slices.IndexFunc(keys.KeptAlgorithms(), func(a string) bool { return strings.EqualFold(a, alg) }); {
		case i >= 0:
			msg = fmt.Sprintf("%q: algorithm names are case-sensitive, write %q", alg, keys.KeptAlgorithms()[i])
		case alg == "none":
			msg = `"none" is not allowed: ID tokens are always signed; use RS256, ES256 or EdDSA`
		}
		bad("id_token_signed_response_alg", msg)
	}

	switch format := c.AccessTokenFormat; format {
	case "", accessTokenJWT, accessTokenOpaque:
	default:
		msg := fmt.Sprintf("%q is not supported: use jwt or opaque (leave it out for jwt)", format)
		for _, want := range []string{accessTokenJWT, accessTokenOpaque} {
			if strings.EqualFold(format, want) {
				msg = fmt.Sprintf("%q: values are case-sensitive, write %q", format, want)
			}
		}
		bad("access_token_format", msg)
	}

	checkRefreshPolicy(c, bad)
	checkSignInSettings(c, bad)
	checkProfile(c, bad)

	for i, s := range c.Scopes {
		field := fmt.Sprintf("scope[%d]", i)
		switch {
		case strings.IndexFunc(s, func(r rune) bool { return !isScopeTokenChar(r) }) >= 0:
			bad(field, fmt.Sprintf("%q is not a valid scope (RFC 6749 §3.3: printable ASCII without spaces, \" or \\)", s))
		case s == "openid" || s == "profile" || s == "email" || s == "offline_access":
			bad(field, fmt.Sprintf("%s is always allowed: list only extra scopes here", s))
		}
		if slices.Index(c.Scopes, s) < i {
			bad(field, fmt.Sprintf("%q is listed twice", s))
		}
	}
}

// checkRefreshPolicy checks a client's refresh-token policy: it is only
// for clients with the refresh_token grant; the grace period is a window
// of at most 1m (or NoRefreshGrace); the idle TTL is at least 1m and no
// longer than the absolute TTL (or, with the server's absolute TTL, than
// the longest one allowed); the absolute TTL is from 1h to 365 days. Zero
// means the default and is always allowed.
func checkRefreshPolicy(c *storage.Client, bad func(field, msg string)) {
	if !slices.Contains(c.GrantTypes, grantRefreshToken) {
		for _, f := range []struct {
			key string
			set bool
		}{
			{keyRefreshGrace, c.RefreshGracePeriod != 0},
			{keyRefreshIdle, c.RefreshTokenIdleTTL != 0},
			{keyRefreshAbsolute, c.RefreshTokenAbsoluteTTL != 0},
		} {
			if f.set {
				bad(f.key, "applies only to clients with the refresh_token grant: add refresh_token to grant_types, or remove it")
			}
		}
		return
	}
	if g := c.RefreshGracePeriod; g > maxRefreshGracePeriod {
		bad(keyRefreshGrace, fmt.Sprintf("must be from 0s (no grace window) to %s (got %s)", FormatDuration(maxRefreshGracePeriod), FormatDuration(g)))
	}
	abs := c.RefreshTokenAbsoluteTTL
	switch {
	case abs < 0:
		bad(keyRefreshAbsolute, fmt.Sprintf("must not be negative (got %s)", FormatDuration(abs)))
	case abs > 0 && (abs < minRefreshAbsoluteTTL || abs > MaxRefreshTokenTTL):
		bad(keyRefreshAbsolute, fmt.Sprintf("must be from %s to %s (365 days) (got %s)", FormatDuration(minRefreshAbsoluteTTL), FormatDuration(MaxRefreshTokenTTL), FormatDuration(abs)))
	}
	switch idle := c.RefreshTokenIdleTTL; {
	case idle == 0:
	case idle < 0:
		bad(keyRefreshIdle, fmt.Sprintf("must not be negative (got %s)", FormatDuration(idle)))
	case idle < minRefreshIdleTTL:
		bad(keyRefreshIdle, fmt.Sprintf("must be at least %s (got %s)", FormatDuration(minRefreshIdleTTL), FormatDuration(idle)))
	case abs > 0 && idle > abs:
		bad(keyRefreshIdle, fmt.Sprintf("must not be longer than refresh_token_absolute_ttl (%s; got %s)", FormatDuration(abs), FormatDuration(idle)))
	case idle > MaxRefreshTokenTTL:
		bad(keyRefreshIdle, fmt.Sprintf("must be at most %s (365 days) (got %s)", FormatDuration(MaxRefreshTokenTTL), FormatDuration(idle)))
	}
}

// checkSignInSettings checks the settings that concern users signing in
// through the client: skip_consent, require_mfa, default_acr_values,
// allowed_groups and the logout URIs apply only to clients with the
// authorization_code or the device_code grant, pushed and signed requests
// only to those with authorization_code; the default acr values are checked by
// checkDefaultACRValues, the allowed groups by checkAllowedGroups; each
// *_session_required needs its URI; the URIs are checked by checkLogoutURI; a front-channel
// logout URI has the scheme, host and port of one of the redirect URIs
// (OpenID Connect Front-Channel Logout 1.0 §2) and no iss or sid query
// parameter of its own (Gatehouse adds them), and native apps have none,
// as the OP's page cannot load an app in an iframe.
func checkSignInSettings(c *storage.Client, bad func(field, msg string)) {
	// Pushed and signed authorization requests are requests to /authorize.
	if !slices.Contains(c.GrantTypes, grantAuthorizationCode) {
		for _, f := range []struct {
			key string
			set bool
		}{
			{keyRequirePAR, c.RequirePushedAuthorizationRequests},
			{keyRequestObjectAlg, c.RequestObjectSigningAlg != ""},
		} {
			if f.set {
				bad(f.key, "applies only to clients with the authorization_code grant: add it to grant_types, or remove this")
			}
		}
	}
	if !slices.Contains(c.GrantTypes, grantAuthorizationCode) && !slices.Contains(c.GrantTypes, GrantDeviceCode) {
		for _, f := range []struct {
			key string
			set bool
		}{
			{keySkipConsent, c.SkipConsent},
			{keyRequireMFA, c.RequireMFA},
			{keyDefaultACR, len(c.DefaultACRValues) > 0},
			{keyAllowedGroups, len(c.AllowedGroups) > 0},
			{keyBackchannelURI, c.BackchannelLogoutURI != ""},
			{keyBackchannelSessionReq, c.BackchannelLogoutSessionRequired},
			{keyFrontchannelURI, c.FrontchannelLogoutURI != ""},
			{keyFrontchannelSessReq, c.FrontchannelLogoutSessionRequired},
		} {
			if f.set {
				bad(f.key, "applies only to clients with the authorization_code or device_code grant, through which users sign in: remove it")
			}
		}
		return
	}
	checkDefaultACRValues(c.DefaultACRValues, bad)
	checkAllowedGroups(c.AllowedGroups, bad)
	if c.BackchannelLogoutSessionRequired && c.BackchannelLogoutURI == "" {
		bad(keyBackchannelSessionReq, "needs backchannel_logout_uri: add it, or remove this")
	}
	if c.FrontchannelLogoutSessionRequired && c.FrontchannelLogoutURI == "" {
		bad(keyFrontchannelSessReq, "needs frontchannel_logout_uri: add it, or remove this")
	}
	if uri := c.BackchannelLogoutURI; uri != "" {
		if msg := checkLogoutURI(uri); msg != "" {
			bad(keyBackchannelURI, msg)
		}
	}
	uri := c.FrontchannelLogoutURI
	if uri == "" {
		return
	}
	if c.ApplicationType == appTypeNative {
		bad(keyFrontchannelURI, "native apps cannot be signed out in an iframe of Gatehouse's page: remove it (backchannel_logout_uri reaches a server of yours)")
		return
	}
	if msg := checkLogoutURI(uri); msg != "" {
		bad(keyFrontchannelURI, msg)
		return
	}
	u, _ := url.Parse(uri) // checkLogoutURI parsed it
	if q := u.Query(); q.Has("iss") || q.Has("sid") {
		bad(keyFrontchannelURI, "must not have iss or sid query parameters: Gatehouse adds them")
	}
	sameOrigin := slices.ContainsFunc(c.RedirectURIs, func(r string) bool {
		ru, err := url.Parse(r)
		return err == nil && origin(ru) == origin(u)
	})
	if !sameOrigin && len(c.RedirectURIs) > 0 {
		bad(keyFrontchannelURI, fmt.Sprintf("must have the scheme, host and port of one of the redirect_uris (OpenID Connect Front-Channel Logout 1.0 §2): %s is not among them", origin(u)))
	}
}

// checkDefaultACRValues checks default_acr_values: each is a class
// Gatehouse can satisfy (mfa.ACRValuesSupported), written exactly, and
// listed once. A class Gatehouse does not know would be a wish no sign-in
// ever answers.
func checkDefaultACRValues(values []string, bad func(field, msg string)) {
	for i, v := range values {
		field := fmt.Sprintf("%s[%d]", keyDefaultACR, i)
		if !slices.Contains(mfa.ACRValuesSupported, v) {
			msg := fmt.Sprintf("%q is not an acr value Gatehouse knows: use %s", v, strings.Join(mfa.ACRValuesSupported, " or "))
			if j := slices.IndexFunc(mfa.ACRValuesSupported, func(s string) bool { return strings.EqualFold(s, v) }); j >= 0 {
				msg = fmt.Sprintf("%q: acr values are case-sensitive, write %q", v, mfa.ACRValuesSupported[j])
			}
			bad(field, msg)
		}
		if slices.Index(values, v) < i {
			bad(field, fmt.Sprintf("%q is listed twice", v))
		}
	}
}

// checkAllowedGroups checks allowed_groups: each is a group's name
// (storage.ValidGroupName), listed once. Whether the group exists is not
// checked here: groups live in the store, and a group created later takes
// effect at once.
func checkAllowedGroups(groups []string, bad func(field, msg string)) {
	for i, g := range groups {
		field := fmt.Sprintf("%s[%d]", keyAllowedGroups, i)
		if !storage.ValidGroupName(g) {
			msg := fmt.Sprintf("%q is not a group name: use 1–%d characters from a–z, 0–9 and . _ -", g, storage.MaxGroupNameLen)
			if lower := strings.ToLower(g); lower != g && storage.ValidGroupName(lower) {
				msg = fmt.Sprintf("%q: group names are lowercase, write %q", g, lower)
			}
			bad(field, msg)
			continue
		}
		if slices.Index(groups, g) < i {
			bad(field, fmt.Sprintf("%q is listed twice", g))
		}
	}
}

// checkClientKeys checks jwks and jwks_uri and request_object_signing_alg:
// a private_key_jwt client, and a client with a
// request_object_signing_alg, has exactly one of jwks and jwks_uri, other
// clients neither; jwks holds public signature keys only (ValidateJWKS),
// jwks_uri is https (http only to a loopback address, for tests); the
// request objects' algorithm is one of RequestObjectSigningAlgs.
func checkClientKeys(c *storage.Client, bad func(field, msg string)) {
	hasJWKS, hasURI := len(c.JWKS) > 0, c.JWKSURI != ""
	checkRequestObjectAlg(c.RequestObjectSigningAlg, bad)
	needsKeys := c.TokenEndpointAuthMethod == authMethodPrivateKey || c.RequestObjectSigningAlg != ""
	if !needsKeys {
		const msg = "only private_key_jwt clients and clients with a request_object_signing_alg have keys: set token_endpoint_auth_method: private_key_jwt, or request_object_signing_alg, or remove it"
		if hasJWKS {
			bad("jwks", msg)
		}
		if hasURI {
			bad("jwks_uri", msg)
		}
		return
	}
	switch {
	case hasJWKS && hasURI:
		bad("jwks_uri", "give exactly one of jwks and jwks_uri")
	case !hasJWKS && !hasURI && c.TokenEndpointAuthMethod == authMethodPrivateKey:
		bad("token_endpoint_auth_method", "private_key_jwt clients need their public keys: give jwks (a JWK Set) or jwks_uri")
	case !hasJWKS && !hasURI:
		bad(keyRequestObjectAlg, "request objects are verified with the client's public keys: give jwks (a JWK Set) or jwks_uri")
	}
	if hasJWKS {
		if err := ValidateJWKS(c.JWKS); err != nil {
			bad("jwks", strings.TrimPrefix(err.Error(), "jwks: "))
		}
	}
	if hasURI && !AllowedJWKSURI(c.JWKSURI) {
		bad("jwks_uri", fmt.Sprintf("%q must be an absolute https URL (http only to 127.0.0.1, [::1] or localhost)", c.JWKSURI))
	}
}

// RequestObjectSigningAlgs are the algorithms a client may register as
// its request_object_signing_alg (RFC 9101): asymmetric ones only, never
// none or HS*.
func RequestObjectSigningAlgs() []string {
	return []string{"ES256", "PS256", "RS256", "EdDSA"}
}

// checkRequestObjectAlg checks request_object_signing_alg ("" is none).
func checkRequestObjectAlg(alg string, bad func(field, msg string)) {
	if alg == "" || slices.Contains(RequestObjectSigningAlgs(), alg) {
		return
	}
	msg := fmt.Sprintf("%q is not supported: use ES256, PS256, RS256 or EdDSA", alg)
	switch i := slices.IndexFunc(RequestObjectSigningAlgs(), func(a string) bool { return strings.EqualFold(a, alg) }); {
	case i >= 0:
		msg = fmt.Sprintf("%q: algorithm names are case-sensitive, write %q", alg, RequestObjectSigningAlgs()[i])
	case strings.EqualFold(alg, "none"):
		msg = `"none" is not allowed: request objects must be signed; use ES256, PS256, RS256 or EdDSA`
	case strings.HasPrefix(strings.ToUpper(alg), "HS"):
		msg = fmt.Sprintf("%q is not allowed: Gatehouse keeps no shared secret to verify it with; use ES256, PS256, RS256 or EdDSA", alg)
	}
	bad(keyRequestObjectAlg, msg)
}

// FormatDuration writes d as clients.yaml would, without zero units:
// 1m rather than 1m0s, 8760h rather than 8760h0m0s.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// isClientIDChar reports whether r may appear in a client_id: the
// unreserved characters of RFC 3986, so an id needs no escaping anywhere.
func isClientIDChar(r rune) bool {
	return 'A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9' ||
		r == '.' || r == '_' || r == '~' || r == '-'
}

// isScopeTokenChar reports whether r may appear in a scope token
// (RFC 6749 §3.3: %x21 / %x23-5B / %x5D-7E).
func isScopeTokenChar(r rune) bool {
	return r == 0x21 || 0x23 <= r && r <= 0x5B || 0x5D <= r && r <= 0x7E
}

// ProfileFAPI2 is the profile (clients.yaml profile: fapi2) of a client
// held to the FAPI 2.0 Security Profile: docs/fapi2.md lists what that
// means in Gatehouse, requirement by requirement.
const ProfileFAPI2 = "fapi2"

// FAPI2Algorithms are the signature algorithms the FAPI 2.0 Security
// Profile allows (§5.4.1): those of a fapi2 client's client assertions,
// DPoP proofs and request objects.
func FAPI2Algorithms() []string { return []string{"PS256", "ES256", "EdDSA"} }

// checkProfile checks a client's profile and, for fapi2, what the FAPI 2.0
// Security Profile asks of its registration: a confidential client
// authenticating with private_key_jwt (mutual TLS is not offered), the
// authorization code flow (the device grant is outside the profile), ID
// tokens signed with ES256 or EdDSA (the profile's PS256 is not among
// Gatehouse's signing keys), request objects, if any, not RS256, and
// pushed authorization requests and DPoP-bound tokens required (the
// parser sets both when the file leaves them out). What it asks of each
// request is enforced by the provider (PKCE for every fapi2 client, the
// issuer as the only audience of its client assertions).
func checkProfile(c *storage.Client, bad func(field, msg string)) {
	switch c.Profile {
	case "":
		return
	case ProfileFAPI2:
	default:
		bad(keyProfile, fmt.Sprintf("%q is not a profile Gatehouse knows: use fapi2, or leave it out", c.Profile))
		return
	}
	const fapi = "the FAPI 2.0 Security Profile (profile: fapi2) "
	if c.TokenEndpointAuthMethod != authMethodPrivateKey {
		bad("token_endpoint_auth_method", fapi+"needs private_key_jwt (its other method, mutual TLS, is not offered: Gatehouse does not terminate TLS)")
	}
	if !slices.Contains(c.GrantTypes, grantAuthorizationCode) {
		bad("grant_types", fapi+"is for clients that sign users in: list authorization_code")
	}
	for i, g := range c.GrantTypes {
		if g == GrantDeviceCode {
			bad(fmt.Sprintf("grant_types[%d]", i), fapi+"covers the authorization code flow, not the device grant: use another client for devices")
		}
	}
	switch c.IDTokenSignedResponseAlg {
	case "ES256", "EdDSA":
	default:
		bad("id_token_signed_response_alg", fapi+"allows PS256, ES256 or EdDSA, and Gatehouse signs with ES256 or EdDSA: set one of them")
	}
	if alg := c.RequestObjectSigningAlg; alg != "" && !slices.Contains(FAPI2Algorithms(), alg) {
		bad(keyRequestObjectAlg, fapi+"allows PS256, ES256 or EdDSA, not RS256")
	}
	if !c.RequirePushedAuthorizationRequests {
		bad(keyRequirePAR, fapi+"requires pushed authorization requests: leave this out, or set it to true")
	}
	if !c.DPoPBoundAccessTokens {
		bad(keyDPoPBound, fapi+"requires sender-constrained access tokens (DPoP here): leave this out, or set it to true")
	}
}
