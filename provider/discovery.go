package provider

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/gatehouse-idp/gatehouse/mfa"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/dpop"
)

// discoveryDocument is op's discovery configuration plus the metadata op
// does not know about.
type discoveryDocument struct {
	*oidc.DiscoveryConfiguration
	// RFC 9207: every authorization response carries iss.
	AuthorizationResponseIssParameterSupported bool `json:"authorization_response_iss_parameter_supported"`
	// OpenID Front-Channel Logout 1.0 §3 (op's type has no fields for it).
	FrontChannelLogoutSupported        bool `json:"frontchannel_logout_supported"`
	FrontChannelLogoutSessionSupported bool `json:"frontchannel_logout_session_supported"`
	// RFC 9126 §5 (op's type has no fields for it).
	PushedAuthorizationRequestEndpoint string `json:"pushed_authorization_request_endpoint"`
	RequirePushedAuthorizationRequests bool   `json:"require_pushed_authorization_requests"`
	// RFC 9449 §5.1: the algorithms DPoP proofs may be signed with.
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported"`
}

// buildDiscovery renders the discovery document once: it depends only on
// configuration and on the signing algorithms, so it is served
// pre-serialized.
func (p *Provider) buildDiscovery(ctx context.Context) ([]byte, error) {
	ctx = op.ContextWithIssuer(ctx, p.cfg.Issuer)
	// op reads Config.SupportedScopes and SupportedClaims only through a
	// *op.Provider type assertion, so pass the inner provider: through the
	// opServer wrapper op would advertise its defaults (phone, address…).
	d := op.CreateDiscoveryConfig(ctx, p.op.Provider, p.op.Storage())
	// Advertise only what Gatehouse serves.
	d.IntrospectionEndpoint = p.cfg.Issuer + introspectPath
	d.RevocationEndpoint = p.cfg.Issuer + revokePath
	d.DeviceAuthorizationEndpoint = ""
	d.CheckSessionIframe = ""
	algs := make([]string, 0, len(clientpolicy.AssertionSigningAlgs()))
	for _, a := range clientpolicy.AssertionSigningAlgs() {
		algs = append(algs, string(a))
	}
	d.IntrospectionEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodPrivateKeyJWT}
	d.IntrospectionEndpointAuthSigningAlgValuesSupported = algs
	d.RevocationEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodPrivateKeyJWT, oidc.AuthMethodNone}
	d.RevocationEndpointAuthSigningAlgValuesSupported = algs
	d.TokenEndpointAuthSigningAlgValuesSupported = algs
	// Request objects by value (RFC 9101), signed with a client's
	// registered algorithm. request_uri is taken only from the pushed
	// authorization request endpoint, never fetched from a client's URL,
	// which is what request_uri_parameter_supported advertises.
	d.RequestObjectSigningAlgValuesSupported = clientpolicy.RequestObjectSigningAlgs()
	d.RequestParameterSupported = true
	d.RequestURIParameterSupported = false
	d.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeClientCredentials, oidc.GrantTypeDeviceCode}
	d.DeviceAuthorizationEndpoint = p.cfg.Issuer + deviceAuthorizationPath
	d.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	d.ResponseModesSupported = []string{string(oidc.ResponseModeQuery), string(oidc.ResponseModeFormPost)}
	d.TokenEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodPrivateKeyJWT, oidc.AuthMethodNone}
	d.CodeChallengeMethodsSupported = []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256}
	d.SubjectTypesSupported = []string{"public"}
	d.ClaimsParameterSupported = false
	d.ACRValuesSupported = mfa.ACRValuesSupported
	if p.cfg.UI.MFA == mfa.Off {
		d.ACRValuesSupported = []string{mfa.ACRSingleFactor}
	}
	if p.cfg.Registration {
		d.RegistrationEndpoint = p.cfg.Issuer + registerPath
	}
	d.BackChannelLogoutSupported = true
	d.BackChannelLogoutSessionSupported = true
	return json.Marshal(discoveryDocument{
		DiscoveryConfiguration:                     d,
		AuthorizationResponseIssParameterSupported: true,
		FrontChannelLogoutSupported:                true,
		FrontChannelLogoutSessionSupported:         true,
		PushedAuthorizationRequestEndpoint:         p.cfg.Issuer + parPath,
		RequirePushedAuthorizationRequests:         p.cfg.RequirePAR,
		DPoPSigningAlgValuesSupported:              dpop.AlgorithmNames(),
	})
}

func (p *Provider) discoveryHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(p.discovery)
}
