package provider

import (
	"net/http"
	"strings"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

const userinfoPath = "/userinfo"

// userinfo is the UserInfo endpoint (OIDC Core §5.3). Unlike op's, it takes
// the access token from the Authorization header only (a token in the URL
// leaks into logs and history), and its errors carry WWW-Authenticate as
// RFC 6750 §3 requires. A DPoP-bound token (cnf.jkt) is accepted only as
// "Authorization: DPoP" with a proof by its key carrying the token's hash
// (RFC 9449 §7.1); presented as Bearer it is refused with a DPoP challenge
// (§7.2).
func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	ctx := r.Context()
	if r.URL.Query().Has("access_token") {
		bearerError(w, http.StatusBadRequest, "invalid_request", "access tokens are accepted in the Authorization header only")
		return
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	isDPoP := strings.EqualFold(scheme, "DPoP")
	if !ok || !(isDPoP || strings.EqualFold(scheme, "Bearer")) || token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
		w.Header().Add("WWW-Authenticate", `DPoP algs="`+dpopAlgs+`"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	invalid := func(description string) {
		if isDPoP {
			dpopChallenge(w, "invalid_token", description)
			return
		}
		bearerError(w, http.StatusUnauthorized, "invalid_token", description)
	}
	// Only Gatehouse's access tokens (at+jwt or opaque) pass; ID tokens
	// and service tokens (no user behind them) are refused.
	claims, err := p.parseAccessToken(token)
	if err != nil || claims.GrantType != "" || len(claims.scopes()) == 0 {
		invalid("the access token is invalid or expired")
		return
	}
	switch jkt := claims.boundTo(); {
	case !isDPoP && jkt != "":
		dpopChallenge(w, "invalid_token", "the access token is bound to a DPoP key: send it as Authorization: DPoP with a DPoP proof")
		return
	case isDPoP:
		proof, f := p.checkDPoP(ctx, w, r, userinfoPath, token, nil)
		switch {
		case f != nil:
			p.dpopError(w, r, f)
			return
		case proof == nil:
			dpopChallenge(w, errInvalidDPoPProof, "a DPoP proof is required with Authorization: DPoP")
			return
		case proof.JKT != jkt:
			invalid("the access token is not bound to the key of the DPoP proof")
			return
		}
	}
	if fam := claims.Family; fam != "" {
		revoked, err := p.familyRevoked(ctx, fam)
		if err != nil {
			p.storeError(w, r, "userinfo: family lookup", err)
			return
		}
		if revoked {
			invalid("the access token is invalid or expired")
			return
		}
	}
	u, err := p.activeUser(ctx, claims.Subject)
	if err != nil {
		p.storeError(w, r, "userinfo: load user", err)
		return
	}
	if u == nil {
		invalid("the access token is invalid or expired")
		return
	}
	groups, err := p.userGroups(ctx, u.ID, claims.scopes())
	if err != nil {
		p.storeError(w, r, "userinfo: load groups", err)
		return
	}
	info := new(oidc.UserInfo)
	setUserClaims(info, u, claims.scopes(), groups)
	httphelper.MarshalJSON(w, info)
}

func bearerError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse", error="`+code+`", error_description="`+description+`"`)
	httphelper.MarshalJSONWithStatus(w, map[string]string{"error": code, "error_description": description}, status)
}
