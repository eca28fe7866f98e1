package provider

import (
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzTokenEndpoint sends arbitrary bodies, Authorization headers, query
// strings and content types to the token endpoint (the whole handler). It
// checks what must hold whatever the input: every answer is no-store; an
// error is a JSON RFC 6749 §5.2 code with its status (invalid_client 401,
// the others 400), with WWW-Authenticate on a 401 to Basic auth; nothing
// is a 5xx (the store is healthy); parameters in the query, a repeated
// parameter or two authentication methods are refused; and a 200 only
// ever answers a client_credentials request whose client authenticated
// with its registered method and secret (no code or refresh token can be
// forged here), with a token of that client within its registered scopes.
func FuzzTokenEndpoint(f *testing.F) {
	svc := basicAuth("service", testServiceSecret)
	cc := "grant_type=client_credentials"
	for _, s := range [][4]string{
		{cc + "&scope=reports%3Aread", svc, "", ""},
		{cc, basicAuth(oddClientID, oddClientSecret), "", ""},
		{cc + "&client_id=es256&client_secret=" + url.QueryEscape(testES256Secret), "", "", ""},
		{cc + "&client_id=es256&client_secret=" + url.QueryEscape(testES256Secret) + "&client_secret=x", "", "", ""},
		{cc + "&scope=reports%3Aread+admin", svc, "", ""},
		{cc + "&client_secret=" + url.QueryEscape(testServiceSecret), svc, "", ""},
		{cc + "&client_id=web", svc, "", ""},
		{cc, "Basic " + base64.StdEncoding.EncodeToString([]byte("service:"+testServiceSecret)), "client_id=service", ""},
		{cc, "Basic " + base64.StdEncoding.EncodeToString([]byte("service")), "", ""},
		{cc, "Basic !!!", "", ""},
		{cc, "Bearer x", "", ""},
		{cc + "&grant_type=client_credentials", svc, "", ""},
		{"grant_type=authorization_code&code=abc&redirect_uri=" + url.QueryEscape(webRedirect) + "&code_verifier=" + strings.Repeat("v", 43), basicAuth("web", testWebSecret), "", ""},
		{"grant_type=refresh_token&refresh_token=" + strings.Repeat("A", 64), basicAuth("web", testWebSecret), "", ""},
		{"grant_type=authorization_code&client_id=native&code=x&code_verifier=y", "", "", ""},
		{"grant_type=password&username=alice&password=x", svc, "", ""},
		{"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=a.b.c", svc, "", ""},
		{cc + "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=e30.e30.", "", "", ""},
		{cc + "&client_assertion_type=x&client_assertion=a.b.c", svc, "", ""},
		{cc, svc, "", "application/json"},
		{`{"grant_type":"client_credentials"}`, svc, "", "application/json"},
		{"%zz&grant_type=client_credentials", svc, "", ""},
		{cc + ";scope=x", svc, "", "application/x-www-form-urlencoded; charset=utf-8"},
		{"", "", "", ""},
		{"grant_type=client_credentials&scope=" + strings.Repeat("a ", 200), svc, "", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	e := newFuzzEnv(f, oddClient())
	clients := clientsByID(append(testClients(), oddClient())...)
	if rec := e.do(formPost(tokenPath, cc, svc)); rec.Code != http.StatusOK {
		f.Fatalf("the service client with its secret: got %d %s, want 200", rec.Code, rec.Body)
	}
	f.Fuzz(func(t *testing.T, body, authorization, query, contentType string) {
		req := formPost(tokenPath, body, authorization)
		req.URL.RawQuery = query
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		input := [4]string{body, authorization, query, contentType}
		rec := e.do(req)
		if got := rec.Header().Get("Cache-Control"); got != "no-store" {
			t.Fatalf("Cache-Control %q, want no-store; input %#v", got, input)
		}
		form, formErr := url.ParseQuery(body)
		mediaType, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
		isForm := mediaType == "application/x-www-form-urlencoded"
		if rec.Code != http.StatusOK {
			code := checkProtocolError(t, rec, input)
			_, _, basic := req.BasicAuth()
			if rec.Code == http.StatusUnauthorized && basic && rec.Header().Get("WWW-Authenticate") == "" {
				t.Fatalf("401 to Basic auth without WWW-Authenticate; input %#v", input)
			}
			dup := false
			for _, name := range tokenParams {
				dup = dup || len(form[name]) > 1
			}
			if (query != "" || (isForm && (formErr != nil || dup))) && code != "invalid_request" {
				t.Fatalf("got %s, want invalid_request for query parameters, an unparsable body or a repeated parameter; input %#v", code, input)
			}
			return
		}
		// A success: the request must have been a well-formed
		// client_credentials request of an authenticated client.
		if query != "" || !isForm || formErr != nil || form.Get("grant_type") != "client_credentials" {
			t.Fatalf("200 for a request that is not a form-encoded client_credentials grant; input %#v", input)
		}
		for _, name := range tokenParams {
			if len(form[name]) > 1 {
				t.Fatalf("200 with %s repeated; input %#v", name, input)
			}
		}
		id, ok := authOracle(clients, req, form)
		if !ok {
			t.Fatalf("200 without the right credentials; input %#v; body %s", input, rec.Body)
		}
		var tr struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &tr); err != nil || tr.AccessToken == "" || tr.TokenType != "Bearer" {
			t.Fatalf("200 body %s: want a Bearer access token (%v)", rec.Body, err)
		}
		claims, err := e.p.parseAccessToken(tr.AccessToken)
		if err != nil {
			t.Fatalf("issued access token does not parse: %v", err)
		}
		if claims.ClientID != id || !subset(claims.scopes(), clients[id].Scopes) {
			t.Fatalf("token for client %q with scopes %q, want client %q within %q; input %#v",
				claims.ClientID, claims.Scope, id, clients[id].Scopes, input)
		}
	})
}

// FuzzTokenBasicAuth checks client_secret_basic's decoding (RFC 6749
// §2.3.1: the client id and secret are form-urlencoded before they are
// joined by a colon and base64-encoded). With encode, id and secret are
// encoded as the RFC says, and the request succeeds exactly when they are
// a registered client_credentials client's id and secret — the odd client
// holds + / = : % and spaces in both. Without, they are sent raw, as a
// careless client does; then the request succeeds only if the raw form
// decodes to the right pair. Whatever fails is 401 invalid_client with a
// Basic challenge.
func FuzzTokenBasicAuth(f *testing.F) {
	for _, s := range []struct {
		id, secret string
		encode     bool
	}{
		{"service", testServiceSecret, true},
		{"service", testServiceSecret, false},
		{oddClientID, oddClientSecret, true},
		{oddClientID, oddClientSecret, false},
		{"svc%3Aa%2Bb%2Fc%3Dd%25e+f", url.QueryEscape(oddClientSecret), false},
		{"svc:a b/c=d%e f", oddClientSecret, true},
		{"service", testServiceSecret + " ", true},
		{"service", "", true},
		{"", testServiceSecret, true},
		{"service:" + testServiceSecret, "", false},
		{"web", testWebSecret, true},
		{"%", "%", false},
		{"service\x00", testServiceSecret, true},
	} {
		f.Add(s.id, s.secret, s.encode)
	}
	e := newFuzzEnv(f, oddClient())
	f.Fuzz(func(t *testing.T, id, secret string, encode bool) {
		header := basicAuth(id, secret)
		wantID, wantSecret := id, secret
		if !encode {
			header = "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
			// What a server decoding per RFC 6749 reads from raw input.
			user, pass, _ := strings.Cut(id+":"+secret, ":")
			var err1, err2 error
			wantID, err1 = url.QueryUnescape(user)
			wantSecret, err2 = url.QueryUnescape(pass)
			if err1 != nil || err2 != nil {
				wantID, wantSecret = "", ""
			}
		}
		rec := e.do(formPost(tokenPath, "grant_type=client_credentials", header))
		input := []any{id, secret, encode}
		if got := rec.Header().Get("Cache-Control"); got != "no-store" {
			t.Fatalf("Cache-Control %q, want no-store; input %#v", got, input)
		}
		right := (wantID == "service" || wantID == oddClientID) && registeredSecrets[wantID] == wantSecret
		if right {
			if rec.Code != http.StatusOK {
				t.Fatalf("the right id and secret: got %d %s, want 200; input %#v", rec.Code, rec.Body, input)
			}
			var tr struct {
				AccessToken string `json:"access_token"`
			}
			_ = json.Unmarshal(rec.Body.Bytes(), &tr)
			claims, err := e.p.parseAccessToken(tr.AccessToken)
			if err != nil || claims.ClientID != wantID {
				t.Fatalf("token of the right pair: got %+v (%v), want one of client %q", claims, err, wantID)
			}
			return
		}
		if rec.Code == http.StatusOK {
			t.Fatalf("200 for id %q secret %q (sent encoded=%v); body %s", wantID, wantSecret, encode, rec.Body)
		}
		code := checkProtocolError(t, rec, input)
		// The web client's right secret authenticates, but web has no
		// client_credentials grant.
		if wantID == "web" && wantSecret == testWebSecret {
			if code != "unauthorized_client" {
				t.Fatalf("web with its secret: got %s, want unauthorized_client", code)
			}
			return
		}
		if code != "invalid_client" || rec.Header().Get("WWW-Authenticate") == "" {
			t.Fatalf("wrong credentials: got %d %s (WWW-Authenticate %q), want 401 invalid_client with a challenge; input %#v",
				rec.Code, code, rec.Header().Get("WWW-Authenticate"), input)
		}
	})
}
