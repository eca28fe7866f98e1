package provider

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// revokeFixture holds genuine tokens of two clients for FuzzRevokeIntrospect:
// web's access, refresh and ID tokens (one family) and the opaque client's
// access token (another family).
type revokeFixture struct {
	tokens   map[string]genuineToken // by placeholder: $AT, $RT, $ID, $OAT
	families map[string]string       // client → family of its tokens
}

func newRevokeFixture(tb testing.TB, e *testEnv) revokeFixture {
	tb.Helper()
	all := issueTokens(tb, e)
	fx := revokeFixture{tokens: map[string]genuineToken{}, families: map[string]string{}}
	for _, g := range all {
		switch {
		case g.client == "web" && g.access:
			fx.tokens["$AT"] = g
		case g.client == "web" && g.refresh:
			fx.tokens["$RT"] = g
		case g.client == "web":
			fx.tokens["$ID"] = g
		case g.client == "opaque":
			fx.tokens["$OAT"] = g
		default:
			continue
		}
		if g.access {
			c, err := e.p.parseAccessToken(g.value)
			if err != nil || c.Family == "" {
				tb.Fatalf("%s: no family (%v)", g.name, err)
			}
			fx.families[g.client] = c.Family
		}
	}
	return fx
}

// FuzzRevokeIntrospect sends arbitrary form bodies and Authorization
// headers to the revocation (RFC 7009) and introspection (RFC 7662)
// endpoints; $AT, $RT, $ID and $OAT in the body stand for genuine tokens
// (web's access, refresh and ID token, the opaque client's access token).
// Whatever the input: no-store, never a 5xx, errors are RFC 6749 codes
// with their status; a 200 only for a client that authenticated with its
// registered method (and, for introspection, a confidential one); an
// active introspection only for a live token of the asking client, and an
// inactive one is exactly {"active":false}; token_type_hint never changes
// an introspection's answer; and a family is revoked only by its own
// client presenting one of its tokens.
func FuzzRevokeIntrospect(f *testing.F) {
	web, post := basicAuth("web", testWebSecret), "client_id=opaque&client_secret="+url.QueryEscape(testOpaqueSecret)
	for _, s := range []struct {
		introspect      bool
		body, authorize string
	}{
		{true, "token=$AT", web},
		{true, "token=$RT&token_type_hint=refresh_token", web},
		{true, "token=$AT&token_type_hint=refresh_token", web},
		{true, "token=$AT&token_type_hint=unknown_hint", web},
		{true, "token=$ID", web},
		{true, "token=$OAT", web},
		{true, "token=$OAT&" + post, ""},
		{true, "token=$AT&" + post, ""},
		{true, "token=$AT&client_id=native", ""},
		{true, "token=$AT", ""},
		{true, "token=$AT&token=$RT", web},
		{true, "token=$AT&" + post, web},
		{true, "token=$AT", basicAuth("web", "wrong")},
		{true, "token=garbage", web},
		{true, "", web},
		{false, "token=$RT&token_type_hint=refresh_token", web},
		{false, "token=$AT&token_type_hint=access_token", web},
		{false, "token=$OAT", web},
		{false, "token=$RT&" + post, ""},
		{false, "token=$OAT&" + post, ""},
		{false, "token=$RT&client_id=native", ""},
		{false, "token=$RT", ""},
		{false, "token=$ID", web},
		{false, "token=x%zz", web},
		{false, "token=$RT&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c", ""},
	} {
		f.Add(s.introspect, s.body, s.authorize)
	}
	e := newLiveFuzzEnv(f)
	clients := clientsByID(testClients()...)
	live := &liveTokens[revokeFixture]{maxAge: 5 * time.Minute, issue: func(tb testing.TB) revokeFixture { return newRevokeFixture(tb, e) }}
	live.get(f)
	f.Fuzz(func(t *testing.T, introspect bool, body, authorization string) {
		fx := live.get(t)
		for ph, g := range fx.tokens {
			body = strings.ReplaceAll(body, ph, g.value)
		}
		path := revokePath
		if introspect {
			path = introspectPath
		}
		revokedBefore := map[string]bool{}
		for client, fam := range fx.families {
			revoked, err := e.store.FamilyRevoked(t.Context(), fam)
			if err != nil {
				t.Fatal(err)
			}
			revokedBefore[client] = revoked
		}
		req := formPost(path, body, authorization)
		rec := e.do(req)
		input := []any{introspect, body, authorization}
		if got := rec.Header().Get("Cache-Control"); got != "no-store" {
			t.Fatalf("Cache-Control %q, want no-store; input %#v", got, input)
		}
		if rec.Code != http.StatusOK {
			checkProtocolError(t, rec, input)
			if _, _, basic := req.BasicAuth(); basic && rec.Code == http.StatusUnauthorized && rec.Header().Get("WWW-Authenticate") == "" {
				t.Fatalf("401 to Basic auth without WWW-Authenticate; input %#v", input)
			}
		} else {
			form, err := url.ParseQuery(body)
			id, ok := authOracle(clients, req, form)
			if err != nil || !ok || len(form["token"]) != 1 {
				t.Fatalf("200 without exactly one token and a client authenticated with its registered method; input %#v", input)
			}
			if introspect {
				checkIntrospection(t, e, fx, clients[id].TokenEndpointAuthMethod != "none", id, form, authorization, rec.Body.String())
			}
		}
		// A family ends only when its own client revokes one of its tokens.
		renew := false
		for client, fam := range fx.families {
			revoked, err := e.store.FamilyRevoked(t.Context(), fam)
			if err != nil {
				t.Fatal(err)
			}
			if !revoked || revokedBefore[client] {
				continue
			}
			form, _ := url.ParseQuery(body)
			id, ok := authOracle(clients, req, form)
			own := false
			for _, g := range fx.tokens {
				own = own || (g.client == client && (g.access || g.refresh) && sameToken(form.Get("token"), g.value))
			}
			if introspect || rec.Code != http.StatusOK || !ok || id != client || !own {
				t.Fatalf("%s's family was revoked by %q (authenticated %v) presenting %q; input %#v", client, id, ok, form.Get("token"), input)
			}
			renew = true
		}
		if renew {
			live.renew()
		}
	})
}

// checkIntrospection checks a 200 introspection answer to client id
// (confidential or not) about form's token, and that the same request
// without token_type_hint gets the same answer.
func checkIntrospection(t *testing.T, e *testEnv, fx revokeFixture, confidential bool, id string, form url.Values, authorization, body string) {
	t.Helper()
	if !confidential {
		t.Fatalf("public client %q got an introspection answer %s", id, body)
	}
	var got introspection
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("introspection body %s: %v", body, err)
	}
	token := form.Get("token")
	if got.Active {
		live := false
		for _, g := range fx.tokens {
			exact := (g.access && sameToken(token, g.value)) || (g.refresh && token == g.value)
			if exact && g.client == id {
				revoked, err := e.store.FamilyRevoked(t.Context(), fx.families[g.client])
				live = err == nil && !revoked
			}
		}
		if !live || got.ClientID != id {
			t.Fatalf("introspection by %q: active for %q: %s", id, token, body)
		}
	} else if strings.TrimSpace(body) != `{"active":false}` {
		t.Fatalf("introspection by %q: inactive answer %s, want exactly {\"active\":false}", id, body)
	}
	if _, ok := form["token_type_hint"]; !ok {
		return
	}
	without := url.Values{}
	for k, v := range form {
		if k != "token_type_hint" {
			without[k] = v
		}
	}
	rec := e.do(formPost(introspectPath, without.Encode(), authorization))
	if rec.Code != http.StatusOK || rec.Body.String() != body {
		t.Fatalf("introspection: token_type_hint %q changed the answer: %s with it, %d %s without", form["token_type_hint"], body, rec.Code, rec.Body)
	}
}
