package clientpolicy

import (
	"errors"
	"io/fs"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// Secrets used by the tests; each is at least 32 characters.
const (
	clientsTestSecretPlain = "plain-secret-0123456789abcdefghijklmnop"
	clientsTestSecretEnv   = "env-secret-0123456789abcdefghijklmnopqrs"
	clientsTestSecretFile  = "file-secret-0123456789abcdefghijklmnopqr"
)

// clientsTestValid holds one client of each kind the parser supports.
const clientsTestValid = `clients:
  - client_id: web-app
    client_name: Web App
    client_secret_env: WEB_APP_SECRET
    redirect_uris: [https://app.example.com/callback]
    post_logout_redirect_uris: [https://app.example.com/]
    grant_types: [authorization_code, refresh_token]
    scope: api:read api:write
    id_token_signed_response_alg: ES256
    access_token_format: opaque
  - client_id: post-app
    token_endpoint_auth_method: client_secret_post
    client_secret_file: secrets/post-app
    redirect_uris:
      - https://post.example.com/cb
  - client_id: mobile
    application_type: native
    token_endpoint_auth_method: none
    redirect_uris:
      - com.example.app:/callback
      - http://127.0.0.1/callback
  - client_id: spa
    application_type: web
    token_endpoint_auth_method: none
    redirect_uris: [https://spa.example.com/callback]
    id_token_signed_response_alg: EdDSA
    access_token_format: jwt
  - client_id: plain
    client_secret: ` + clientsTestSecretPlain + `
    redirect_uris: [http://localhost:3000/callback, "http://[::1]:3000/callback"]
`

// testFiles reads files from a map, as Source.ReadFile.
func testFiles(files map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		s, ok := files[name]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		return []byte(s), nil
	}
}

// testEnv reads variables from a map, as Source.Getenv.
func testEnv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// parseFor parses a clients file for a server with that issuer.
func parseFor(data []byte, filename, issuer string, getenv func(string) string, readFile func(string) ([]byte, error)) (File, error) {
	return ParseFile(data, Source{Filename: filename, Issuer: issuer, Getenv: getenv, ReadFile: readFile})
}

// parseOnLoopback parses a clients file for Gatehouse's default issuer,
// http://localhost:8080 (on loopback), and returns its clients.
func parseOnLoopback(data []byte, filename string, getenv func(string) string, readFile func(string) ([]byte, error)) ([]storage.Client, error) {
	f, err := parseFor(data, filename, "http://localhost:8080", getenv, readFile)
	return f.Clients, err
}

func clientsTestEnv() func(string) string {
	return testEnv(map[string]string{"WEB_APP_SECRET": clientsTestSecretEnv})
}

func clientsTestFiles() func(string) ([]byte, error) {
	return testFiles(map[string]string{"conf/secrets/post-app": clientsTestSecretFile + "\n"})
}

func TestParseClientsFileValid(t *testing.T) {
	got, err := parseOnLoopback([]byte(clientsTestValid), "conf/clients.yaml", clientsTestEnv(), clientsTestFiles())
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	want := []storage.Client{
		{
			ID:                       "web-app",
			Name:                     "Web App",
			SecretHash:               HashSecret(clientsTestSecretEnv),
			RedirectURIs:             []string{"https://app.example.com/callback"},
			PostLogoutRedirectURIs:   []string{"https://app.example.com/"},
			GrantTypes:               []string{"authorization_code", "refresh_token"},
			ResponseTypes:            []string{"code"},
			TokenEndpointAuthMethod:  "client_secret_basic",
			ApplicationType:          "web",
			Scopes:                   []string{"api:read", "api:write"},
			IDTokenSignedResponseAlg: "ES256",
			AccessTokenFormat:        "opaque",
		},
		{
			ID:                      "post-app",
			Name:                    "post-app",
			SecretHash:              HashSecret(clientsTestSecretFile),
			RedirectURIs:            []string{"https://post.example.com/cb"},
			GrantTypes:              []string{"authorization_code"},
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "client_secret_post",
			ApplicationType:         "web",
		},
		{
			ID:                      "mobile",
			Name:                    "mobile",
			RedirectURIs:            []string{"com.example.app:/callback", "http://127.0.0.1/callback"},
			GrantTypes:              []string{"authorization_code"},
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "none",
			ApplicationType:         "native",
		},
		{
			ID:                       "spa",
			Name:                     "spa",
			RedirectURIs:             []string{"https://spa.example.com/callback"},
			GrantTypes:               []string{"authorization_code"},
			ResponseTypes:            []string{"code"},
			TokenEndpointAuthMethod:  "none",
			ApplicationType:          "web",
			IDTokenSignedResponseAlg: "EdDSA",
			AccessTokenFormat:        "jwt",
		},
		{
			ID:                      "plain",
			Name:                    "plain",
			SecretHash:              HashSecret(clientsTestSecretPlain),
			RedirectURIs:            []string{"http://localhost:3000/callback", "http://[::1]:3000/callback"},
			GrantTypes:              []string{"authorization_code"},
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "client_secret_basic",
			ApplicationType:         "web",
		},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d clients, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("client %d:\ngot  %+v\nwant %+v", i, got[i], want[i])
		}
		if err := Validate(got[i]); err != nil {
			t.Errorf("Validate(%s) = %v, want nil", got[i].ID, err)
		}
	}
}

// TestParseClientsFileWithoutAList feeds files that list no clients: empty,
// cut down to the sample's comment header, cut short after `clients:`. Each
// must be refused, never read as "no clients" (which disabled every client
// of every instance sharing the database); only an explicit `clients: []`
// means none.
func TestParseClientsFileWithoutAList(t *testing.T) {
	sample, err := os.ReadFile("../clients.yaml")
	if err != nil {
		t.Fatal(err)
	}
	header, _, ok := strings.Cut(string(sample), "\nclients:\n")
	if !ok {
		t.Fatal("the sample clients.yaml has no `clients:` line")
	}
	for _, tc := range []struct {
		name, content, want string
	}{
		{"empty", "", "clients.yaml: holds no clients: list"},
		{"a blank line", "\n", "clients.yaml: holds no clients: list"},
		{"the sample's comment header", header + "\n", "clients.yaml: holds no clients: list"},
		{"a document marker", "---\n", "clients.yaml: holds no clients: list"},
		{"null", "~\n", "clients.yaml: holds no clients: list"},
		{"cut after clients:", "# apps\nclients:\n", "clients.yaml:2: clients: has no list under it"},
		{"cut after clients: with a comment", "clients:\n  # - client_id: web\n", "clients.yaml:1: clients: has no list under it"},
		{"an empty mapping", "{}\n", "clients.yaml:1: clients: missing"},
		{"a revision only", "revision: 4\n", "clients.yaml:1: clients: missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseOnLoopback([]byte(tc.content), "clients.yaml", testEnv(nil), testFiles(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "clients: []") {
				t.Fatalf("got %+v, %v; want an error containing %q that shows `clients: []`", got, err, tc.want)
			}
			if got != nil {
				t.Errorf("got %d clients with the error, want none", len(got))
			}
		})
	}
	for _, content := range []string{"clients: []\n", "# on purpose\nrevision: 3\nclients: []\n"} {
		got, err := parseFor([]byte(content), "clients.yaml", "http://localhost:8080", testEnv(nil), testFiles(nil))
		if err != nil || got.Clients == nil || len(got.Clients) != 0 {
			t.Errorf("file %q: got %+v, %v; want an empty (non-nil) list of clients", content, got, err)
		}
	}
}

// TestParseClientsFileRevision checks the top-level revision: a whole number
// from 1 up, unquoted; anything else is refused with its line.
func TestParseClientsFileRevision(t *testing.T) {
	const list = "clients:\n  - {client_id: a, token_endpoint_auth_method: none, redirect_uris: [\"https://a.example/cb\"]}\n"
	for _, tc := range []struct {
		file string
		want int64
	}{
		{list, 0},
		{"revision: 1\n" + list, 1},
		{list + "revision: 20260301\n", 20260301},
		{"revision: 9223372036854775807\n" + list, 9223372036854775807},
	} {
		got, err := parseFor([]byte(tc.file), "clients.yaml", "http://localhost:8080", testEnv(nil), testFiles(nil))
		if err != nil || got.Revision != tc.want || len(got.Clients) != 1 {
			t.Errorf("file %q: got revision %d, %d clients, %v; want revision %d, 1 client", tc.file, got.Revision, len(got.Clients), err, tc.want)
		}
	}
	for _, tc := range []struct {
		name, revision, want string
	}{
		{"zero", "0", "clients.yaml:1: revision: must be a whole number from 1 up"},
		{"negative", "-3", "clients.yaml:1: revision: must be a whole number from 1 up"},
		{"quoted", `"7"`, `clients.yaml:1: revision: must be a whole number from 1 up, unquoted, raised with every change (like ` + "`revision: 42`" + `) (got "7")`},
		{"a fraction", "1.5", "clients.yaml:1: revision: must be a whole number"},
		{"too big", "9223372036854775808", "clients.yaml:1: revision: must be a whole number"},
		{"a date", "2026-03-01", "clients.yaml:1: revision: must be a whole number"},
		{"null", "", "clients.yaml:1: revision: has no value"},
		{"a list", "[1]", "clients.yaml:1: revision: must be a single value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFor([]byte("revision: "+tc.revision+"\n"+list), "clients.yaml", "http://localhost:8080", testEnv(nil), testFiles(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := parseFor([]byte("revision: 1\nrevision: 2\n"+list), "clients.yaml", "http://localhost:8080", testEnv(nil), testFiles(nil)); err == nil ||
		!strings.Contains(err.Error(), "clients.yaml:2: revision: given twice (first at line 1)") {
		t.Errorf("revision given twice: got %v", err)
	}
}

// TestParseClientsFileErrors checks each bad input yields a problem with
// the right "file:line: field path: " prefix and message.
func TestParseClientsFileErrors(t *testing.T) {
	// head is a valid first client; the bad one is clients[1] starting on line 4.
	const head = "clients:\n" +
		"  - {client_id: ok, token_endpoint_auth_method: none, redirect_uris: [\"https://ok.example/cb\"]}\n" +
		"  # the client under test:\n"
	const refresh = head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n    grant_types: [authorization_code, refresh_token]\n"
	// signIn is a public web client whose next line is line 7.
	const signIn = head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n"
	const service = head + "  - client_id: a\n    client_secret_env: A_SECRET\n    grant_types: [client_credentials]\n"
	const pkjwt = head + "  - client_id: a\n    token_endpoint_auth_method: private_key_jwt\n    redirect_uris: [https://a.example/cb]\n"
	// jarClient is a public client with keys but no request_object_signing_alg yet.
	const jarClient = head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n    jwks: {keys: [" + testJWK + "]}\n"
	tests := []struct {
		name string
		file string
		want string // the error must contain this
	}{
		{"not YAML", "clients: [\n  - a: b\n", "clients.yaml:"},
		{"not YAML tab", "clients:\n\t- client_id: x\n", "clients.yaml:2: not valid YAML: found character that cannot start any token"},
		{"top level a list", "- client_id: x\n", "clients.yaml:1: the top level must be a mapping"},
		{"top level a string", "hello\n", "clients.yaml:1: the top level must be a mapping"},
		{"unknown top-level key", "clients: []\nclient: []\n", "clients.yaml:2: client: unknown field"},
		{"clients not a list", "clients:\n  client_id: x\n", "clients.yaml:1: clients: must be a list"},
		{"clients a string", "clients: web\n", "clients.yaml:1: clients: must be a list"},
		{"item not a mapping", head + "  - web\n", "clients.yaml:4: clients[1]: must be a mapping"},
		{"missing client_id", head + "  - token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n", "clients.yaml:4: clients[1].client_id: missing"},
		{"client_id bad chars", head + "  - client_id: my app\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n", `clients.yaml:4: clients[1].client_id: "my app" may use only`},
		{"client_id slash", head + "  - client_id: a/b\n", "clients.yaml:4: clients[1].client_id:"},
		{"client_id too long", head + "  - client_id: " + strings.Repeat("a", 129) + "\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n", "clients.yaml:4: clients[1].client_id: is 129 characters long, the limit is 128"},
		{"duplicate client_id", head + "  - client_id: ok\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n", `clients.yaml:4: clients[1].client_id: duplicate: "ok" is already used by clients[0] (line 2)`},
		{"unknown client key", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uri: https://a.example/cb\n", "clients.yaml:6: clients[1].redirect_uri: unknown field"},
		{"known but unsupported key", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n    client_uri: https://a.example/\n", "clients.yaml:7: clients[1].client_uri: not supported yet"},
		{"key twice", head + "  - client_id: a\n    client_id: b\n", "clients.yaml:5: clients[1].client_id: given twice (first at line 4)"},
		{"null value", head + "  - client_id:\n", "clients.yaml:4: clients[1].client_id: has no value"},
		{"alias", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: &r [https://a.example/cb]\n    post_logout_redirect_uris: *r\n", "clients.yaml:7: clients[1].post_logout_redirect_uris: must be a list"},
		{"redirect_uris not a list", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: https://a.example/cb\n", "clients.yaml:6: clients[1].redirect_uris: must be a list"},
		{"redirect_uris element a list", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris:\n      - [https://a.example/cb]\n", "clients.yaml:7: clients[1].redirect_uris[0]: must be a single value"},
		{"native loopback port 0", head + "  - client_id: a\n    application_type: native\n    token_endpoint_auth_method: none\n    redirect_uris:\n      - http://127.0.0.1/cb\n      - http://127.0.0.1:0/cb\n", `clients.yaml:9: clients[1].redirect_uris[1]: port "0" is not a TCP port`},
		{"native loopback port 99999", head + "  - client_id: a\n    application_type: native\n    token_endpoint_auth_method: none\n    redirect_uris: [\"http://[::1]:99999/cb\"]\n", `clients.yaml:7: clients[1].redirect_uris[0]: port "99999" is not a TCP port`},
		{"redirect_uris missing", head + "  - client_id: a\n    token_endpoint_auth_method: none\n", "clients.yaml:4: clients[1].redirect_uris: required for the authorization_code grant"},
		{"redirect_uris empty", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: []\n", "clients.yaml:6: clients[1].redirect_uris: required"},
		{"client_credentials for a public client", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n    grant_types: [authorization_code, client_credentials]\n", "clients.yaml:7: clients[1].grant_types[1]: client_credentials needs a confidential client"},
		{"implicit grant", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n    grant_types:\n      - authorization_code\n      - implicit\n", "clients.yaml:9: clients[1].grant_types[1]: implicit is not supported"},
		{"password grant", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n    grant_types: [password]\n", "clients.yaml:7: clients[1].grant_types[0]: password is not supported"},
		{"refresh without code", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n    grant_types: [refresh_token]\n", "clients.yaml:7: clients[1].grant_types[0]: refresh_token needs authorization_code"},
		{"grant twice", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n    grant_types: [authorization_code, authorization_code]\n", `clients.yaml:7: clients[1].grant_types[1]: "authorization_code" is listed twice`},
		{"grant_types empty", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n    grant_types: []\n", "clients.yaml:7: clients[1].grant_types: must list at least one grant type"},
		{"response type token", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n    response_types: [token]\n", `clients.yaml:7: clients[1].response_types[0]: "token" is not supported: only code`},
		{"response type hybrid", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n    response_types: [code id_token]\n", `clients.yaml:7: clients[1].response_types[0]: "code id_token" is not supported`},
		{"unknown auth method", head + "  - client_id: a\n    token_endpoint_auth_method: basic\n    redirect_uris: [https://a.example/cb]\n", `clients.yaml:5: clients[1].token_endpoint_auth_method: "basic" is not client_secret_basic, client_secret_post, private_key_jwt or none`},
		{"unknown id token alg", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n    id_token_signed_response_alg: HS256\n", `clients.yaml:7: clients[1].id_token_signed_response_alg: "HS256" is not supported: use RS256, ES256 or EdDSA`},
		{"id token alg none", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    id_token_signed_response_alg: none\n    redirect_uris: [https://a.example/cb]\n", `clients.yaml:6: clients[1].id_token_signed_response_alg: "none" is not allowed: ID tokens are always signed`},
		{"id token alg lower case", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n    id_token_signed_response_alg: eddsa\n", `clients.yaml:7: clients[1].id_token_signed_response_alg: "eddsa": algorithm names are case-sensitive, write "EdDSA"`},
		{"id token alg empty", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n    id_token_signed_response_alg: ''\n", "clients.yaml:7: clients[1].id_token_signed_response_alg: must not be empty: leave it out for the server's default, RS256"},
		{"id token alg null", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n    id_token_signed_response_alg:\n", "clients.yaml:7: clients[1].id_token_signed_response_alg: has no value"},
		{"id token alg list", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n    id_token_signed_response_alg: [ES256]\n", "clients.yaml:7: clients[1].id_token_signed_response_alg: must be a single value"},
		{"unknown access token format", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n    access_token_format: reference\n", `clients.yaml:7: clients[1].access_token_format: "reference" is not supported: use jwt or opaque (leave it out for jwt)`},
		{"access token format upper case", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    access_token_format: JWT\n    redirect_uris: [https://a.example/cb]\n", `clients.yaml:6: clients[1].access_token_format: "JWT": values are case-sensitive, write "jwt"`},
		{"access token format empty", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n    access_token_format: ''\n", "clients.yaml:7: clients[1].access_token_format: must not be empty: use jwt or opaque, or leave it out for jwt"},
		{"access token format null", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n    access_token_format:\n", "clients.yaml:7: clients[1].access_token_format: has no value"},
		{"access token format list", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n    access_token_format: [opaque]\n", "clients.yaml:7: clients[1].access_token_format: must be a single value"},
		{"access token format a boolean", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n    access_token_format: true\n", `clients.yaml:7: clients[1].access_token_format: "true" is not supported`},
		{"private_key_jwt without keys", head + "  - client_id: a\n    token_endpoint_auth_method: private_key_jwt\n    redirect_uris: [https://a.example/cb]\n", `clients.yaml:5: clients[1].token_endpoint_auth_method: private_key_jwt clients need their public keys: give jwks (a JWK Set) or jwks_uri`},
		{"private_key_jwt with both", pkjwt + "    jwks_uri: https://a.example/jwks\n    jwks: {keys: [" + testJWK + "]}\n", "clients.yaml:7: clients[1].jwks_uri: give exactly one of jwks and jwks_uri"},
		{"private_key_jwt with a secret", pkjwt + "    jwks_uri: https://a.example/jwks\n    client_secret_env: A_SECRET\n", "clients.yaml:8: clients[1].client_secret_env: private_key_jwt clients authenticate with their keys (jwks or jwks_uri), not a secret"},
		{"jwks_uri http", pkjwt + "    jwks_uri: http://a.example/jwks\n", `clients.yaml:7: clients[1].jwks_uri: "http://a.example/jwks" must be an absolute https URL`},
		{"jwks_uri empty", pkjwt + "    jwks_uri: ''\n", "clients.yaml:7: clients[1].jwks_uri: must not be empty"},
		{"jwks private key", pkjwt + "    jwks:\n      keys:\n        - {kty: OKP, crv: Ed25519, x: 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo, d: nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A}\n", `clients.yaml:7: clients[1].jwks: key 0 has the private member "d": give public keys only`},
		{"jwks symmetric key", pkjwt + "    jwks: '{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}'\n", `clients.yaml:7: clients[1].jwks: key 0 has the private member "k"`},
		{"jwks not JSON", pkjwt + "    jwks: '{keys'\n", "clients.yaml:7: clients[1].jwks: is not JSON"},
		{"jwks a list", pkjwt + "    jwks: [" + testJWK + "]\n", "clients.yaml:7: clients[1].jwks: must be a JWK Set"},
		{"jwks empty", pkjwt + "    jwks: {keys: []}\n", "clients.yaml:7: clients[1].jwks: no keys"},
		{"request object alg none", jarClient + "    request_object_signing_alg: none\n", `clients.yaml:8: clients[1].request_object_signing_alg: "none" is not allowed: request objects must be signed`},
		{"request object alg HS256", jarClient + "    request_object_signing_alg: HS256\n", `clients.yaml:8: clients[1].request_object_signing_alg: "HS256" is not allowed: Gatehouse keeps no shared secret`},
		{"request object alg lower case", jarClient + "    request_object_signing_alg: es256\n", `clients.yaml:8: clients[1].request_object_signing_alg: "es256": algorithm names are case-sensitive, write "ES256"`},
		{"request object alg unknown", jarClient + "    request_object_signing_alg: ES512\n", `clients.yaml:8: clients[1].request_object_signing_alg: "ES512" is not supported: use ES256, PS256, RS256 or EdDSA`},
		{"request object alg empty", jarClient + "    request_object_signing_alg: ''\n", `clients.yaml:8: clients[1].request_object_signing_alg: must not be empty`},
		{"request object alg without keys", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n    request_object_signing_alg: ES256\n", `clients.yaml:7: clients[1].request_object_signing_alg: request objects are verified with the client's public keys: give jwks (a JWK Set) or jwks_uri`},
		{"public client keys without request object alg", jarClient, `clients.yaml:7: clients[1].jwks: only private_key_jwt clients and clients with a request_object_signing_alg have keys`},
		{"require PAR not a boolean", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n    require_pushed_authorization_requests: yes\n", `clients.yaml:7: clients[1].require_pushed_authorization_requests:`},
		{"require PAR without code", head + "  - client_id: a\n    client_secret_env: A_SECRET\n    grant_types: [client_credentials]\n    require_pushed_authorization_requests: true\n", `clients[1].require_pushed_authorization_requests: applies only to clients with the authorization_code grant`},
		{"jwks for a secret client", head + "  - client_id: a\n    client_secret_env: A_SECRET\n    redirect_uris: [https://a.example/cb]\n    jwks_uri: https://a.example/jwks\n", "clients.yaml:7: clients[1].jwks_uri: only private_key_jwt clients and clients with a request_object_signing_alg have keys"},
		{"unknown application type", head + "  - client_id: a\n    application_type: mobile\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n", `clients.yaml:5: clients[1].application_type: "mobile" is not web or native`},
		{"native confidential", head + "  - client_id: a\n    application_type: native\n    client_secret_hash: " + HashSecret("x") + "\n    redirect_uris: [com.example.app:/cb]\n", "clients.yaml:4: clients[1].token_endpoint_auth_method: native apps are public clients: set it to none"},
		{"native explicit basic", head + "  - client_id: a\n    application_type: native\n    token_endpoint_auth_method: client_secret_basic\n    redirect_uris: [com.example.app:/cb]\n", "clients.yaml:6: clients[1].token_endpoint_auth_method: native apps are public clients"},
		{"public with secret", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    client_secret_env: A_SECRET\n    redirect_uris: [https://a.example/cb]\n", "clients.yaml:6: clients[1].client_secret_env: public clients (token_endpoint_auth_method: none) have no secret"},
		{"confidential without secret", head + "  - client_id: a\n    redirect_uris: [https://a.example/cb]\n", "clients.yaml:4: clients[1]: confidential client (token_endpoint_auth_method: client_secret_basic) needs a secret"},
		{"two secrets", head + "  - client_id: a\n    client_secret_env: A_SECRET\n    client_secret_hash: " + HashSecret("x") + "\n    redirect_uris: [https://a.example/cb]\n", "clients.yaml:6: clients[1].client_secret_hash: give exactly one secret: client_secret_env is already given"},
		{"short plain secret", head + "  - client_id: a\n    client_secret: hunter2hunter2\n    redirect_uris: [https://a.example/cb]\n", "clients.yaml:5: clients[1].client_secret: the secret is too short (14 characters, need at least 32): generate one with `openssl rand -hex 32`"},
		{"env unset", head + "  - client_id: a\n    client_secret_env: UNSET_SECRET\n    redirect_uris: [https://a.example/cb]\n", "clients.yaml:5: clients[1].client_secret_env: environment variable UNSET_SECRET is not set or is empty"},
		{"env short", head + "  - client_id: a\n    client_secret_env: SHORT_SECRET\n    redirect_uris: [https://a.example/cb]\n", "clients.yaml:5: clients[1].client_secret_env: environment variable SHORT_SECRET is too short (5 characters"},
		{"env bad name", head + "  - client_id: a\n    client_secret_env: $SECRET\n    redirect_uris: [https://a.example/cb]\n", `clients.yaml:5: clients[1].client_secret_env: "$SECRET" is not an environment variable name`},
		{"file missing", head + "  - client_id: a\n    client_secret_file: /run/secrets/nope\n    redirect_uris: [https://a.example/cb]\n", "clients.yaml:5: clients[1].client_secret_file: cannot read the secret: open /run/secrets/nope: file does not exist"},
		{"file empty", head + "  - client_id: a\n    client_secret_file: /run/secrets/empty\n    redirect_uris: [https://a.example/cb]\n", "clients.yaml:5: clients[1].client_secret_file: file /run/secrets/empty is empty"},
		{"file two lines", head + "  - client_id: a\n    client_secret_file: /run/secrets/two-lines\n    redirect_uris: [https://a.example/cb]\n", "clients.yaml:5: clients[1].client_secret_file: file /run/secrets/two-lines holds a line break"},
		{"bad hash", head + "  - client_id: a\n    client_secret_hash: sha256:ABCDEF\n    redirect_uris: [https://a.example/cb]\n", `clients.yaml:5: clients[1].client_secret_hash: must be "sha256:" followed by 64 lowercase hex digits`},
		{"uppercase hash", head + "  - client_id: a\n    client_secret_hash: " + strings.ToUpper(HashSecret("x")) + "\n    redirect_uris: [https://a.example/cb]\n", "clients.yaml:5: clients[1].client_secret_hash: must be"},
		{"scope standard", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n    scope: openid api\n", "clients.yaml:7: clients[1].scope[0]: openid is always allowed"},
		{"scope bad char", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n    scope: 'api \"x\"'\n", `clients.yaml:7: clients[1].scope[1]: "\"x\"" is not a valid scope`},
		{"client_name control", head + "  - client_id: a\n    client_name: \"a\\u0007b\"\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n", "clients.yaml:5: clients[1].client_name: must be text without control characters"},
		{"post logout uri bad", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n    post_logout_redirect_uris:\n      - http://a.example/\n", "clients.yaml:8: clients[1].post_logout_redirect_uris[0]: must use https"},
		{"redirect uri bad, second element", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris:\n      - https://a.example/cb\n      - https://*.a.example/cb\n", "clients.yaml:8: clients[1].redirect_uris[1]: must not contain a wildcard"},
		{"redirect uri twice", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb, https://a.example/cb]\n", `clients.yaml:6: clients[1].redirect_uris[1]: "https://a.example/cb" is listed twice`},
		{"second document", "clients: []\n---\nclients: []\n", "clients.yaml:2: a second YAML document starts here"},
		// Consent and logout settings.
		{"skip_consent quoted", signIn + "    skip_consent: \"true\"\n", `clients.yaml:7: clients[1].skip_consent: must be true or false, unquoted (got "true")`},
		{"skip_consent yes", signIn + "    skip_consent: yes\n", `clients.yaml:7: clients[1].skip_consent: must be true or false, unquoted (got "yes")`},
		{"skip_consent null", signIn + "    skip_consent:\n", "clients.yaml:7: clients[1].skip_consent: has no value: write true or false"},
		{"skip_consent list", signIn + "    skip_consent: [true]\n", "clients.yaml:7: clients[1].skip_consent: must be a single value"},
		{"skip_consent twice", signIn + "    skip_consent: true\n    skip_consent: false\n", "clients.yaml:8: clients[1].skip_consent: given twice (first at line 7)"},
		{"skip_consent for a service", service + "    skip_consent: true\n", "clients.yaml:7: clients[1].skip_consent: applies only to clients with the authorization_code or device_code grant"},
		// require_mfa is a YAML boolean: a quoted string, a word YAML 1.1
		// read as true, a number or nothing is refused.
		{"require_mfa a sentence", signIn + "    require_mfa: \"yes please\"\n", `clients.yaml:7: clients[1].require_mfa: must be true or false, unquoted (got "yes please")`},
		{"require_mfa quoted", signIn + "    require_mfa: 'true'\n", `clients.yaml:7: clients[1].require_mfa: must be true or false, unquoted (got "true")`},
		{"require_mfa yes", signIn + "    require_mfa: yes\n", `clients.yaml:7: clients[1].require_mfa: must be true or false, unquoted (got "yes")`},
		{"require_mfa a number", signIn + "    require_mfa: 1\n", `clients.yaml:7: clients[1].require_mfa: must be true or false, unquoted (got "1")`},
		{"require_mfa null", signIn + "    require_mfa:\n", "clients.yaml:7: clients[1].require_mfa: has no value: write true or false, or leave it out for false"},
		{"require_mfa list", signIn + "    require_mfa: [true]\n", "clients.yaml:7: clients[1].require_mfa: must be a single value"},
		{"require_mfa twice", signIn + "    require_mfa: true\n    require_mfa: true\n", "clients.yaml:8: clients[1].require_mfa: given twice (first at line 7)"},
		{"require_mfa for a service", service + "    require_mfa: true\n", "clients.yaml:7: clients[1].require_mfa: applies only to clients with the authorization_code or device_code grant"},
		// dpop_bound_access_tokens is a YAML boolean too.
		{"dpop_bound_access_tokens quoted", signIn + "    dpop_bound_access_tokens: 'true'\n", `clients.yaml:7: clients[1].dpop_bound_access_tokens: must be true or false, unquoted (got "true")`},
		{"dpop_bound_access_tokens yes", service + "    dpop_bound_access_tokens: yes\n", `clients.yaml:7: clients[1].dpop_bound_access_tokens: must be true or false, unquoted (got "yes")`},
		{"dpop_bound_access_tokens null", signIn + "    dpop_bound_access_tokens:\n", "clients.yaml:7: clients[1].dpop_bound_access_tokens: has no value: write true or false"},
		{"dpop_bound_access_tokens twice", signIn + "    dpop_bound_access_tokens: true\n    dpop_bound_access_tokens: false\n", "clients.yaml:8: clients[1].dpop_bound_access_tokens: given twice (first at line 7)"},
		{"backchannel http", signIn + "    backchannel_logout_uri: http://a.example/logout\n", "clients.yaml:7: clients[1].backchannel_logout_uri: must use https: http is only allowed for the loopback hosts"},
		{"backchannel fragment", signIn + "    backchannel_logout_uri: https://a.example/logout#x\n", "clients.yaml:7: clients[1].backchannel_logout_uri: must not contain a fragment"},
		{"backchannel user info", signIn + "    backchannel_logout_uri: https://user:pw@a.example/logout\n", "clients.yaml:7: clients[1].backchannel_logout_uri: must not contain @"},
		{"backchannel relative", signIn + "    backchannel_logout_uri: /logout\n", "clients.yaml:7: clients[1].backchannel_logout_uri: must be an absolute URI"},
		{"backchannel private scheme", signIn + "    backchannel_logout_uri: com.example.app:/logout\n", `clients.yaml:7: clients[1].backchannel_logout_uri: scheme "com.example.app" is not allowed: use https`},
		{"backchannel not normal", signIn + "    backchannel_logout_uri: HTTPS://a.example/logout\n", "clients.yaml:7: clients[1].backchannel_logout_uri: is not in normal form"},
		{"backchannel empty", signIn + "    backchannel_logout_uri: ''\n", "clients.yaml:7: clients[1].backchannel_logout_uri: must not be empty: leave it out for none"},
		{"backchannel null", signIn + "    backchannel_logout_uri:\n", "clients.yaml:7: clients[1].backchannel_logout_uri: has no value"},
		{"backchannel list", signIn + "    backchannel_logout_uri: [https://a.example/logout]\n", "clients.yaml:7: clients[1].backchannel_logout_uri: must be a single value"},
		{"backchannel for a service", service + "    backchannel_logout_uri: https://a.example/logout\n", "clients.yaml:7: clients[1].backchannel_logout_uri: applies only to clients with the authorization_code or device_code grant"},
		{"backchannel session required without the URI", signIn + "    backchannel_logout_session_required: true\n", "clients.yaml:7: clients[1].backchannel_logout_session_required: needs backchannel_logout_uri: add it, or remove this"},
		{"backchannel session required quoted", signIn + "    backchannel_logout_uri: https://a.example/logout\n    backchannel_logout_session_required: 'false'\n", `clients.yaml:8: clients[1].backchannel_logout_session_required: must be true or false, unquoted (got "false")`},
		{"frontchannel http", signIn + "    frontchannel_logout_uri: http://a.example/logout\n", "clients.yaml:7: clients[1].frontchannel_logout_uri: must use https"},
		{"frontchannel fragment", signIn + "    frontchannel_logout_uri: https://a.example/logout#x\n", "clients.yaml:7: clients[1].frontchannel_logout_uri: must not contain a fragment"},
		{"frontchannel user info", signIn + "    frontchannel_logout_uri: https://a@a.example/logout\n", "clients.yaml:7: clients[1].frontchannel_logout_uri: must not contain @"},
		{"frontchannel relative", signIn + "    frontchannel_logout_uri: logout\n", "clients.yaml:7: clients[1].frontchannel_logout_uri: must be an absolute URI"},
		{"frontchannel other host", signIn + "    frontchannel_logout_uri: https://b.example/logout\n", "clients.yaml:7: clients[1].frontchannel_logout_uri: must have the scheme, host and port of one of the redirect_uris (OpenID Connect Front-Channel Logout 1.0 §2): https://b.example:443 is not among them"},
		{"frontchannel other port", signIn + "    frontchannel_logout_uri: https://a.example:8443/logout\n", "clients.yaml:7: clients[1].frontchannel_logout_uri: must have the scheme, host and port of one of the redirect_uris"},
		{"frontchannel with sid", signIn + "    frontchannel_logout_uri: https://a.example/logout?sid=x\n", "clients.yaml:7: clients[1].frontchannel_logout_uri: must not have iss or sid query parameters"},
		{"frontchannel empty", signIn + "    frontchannel_logout_uri: ''\n", "clients.yaml:7: clients[1].frontchannel_logout_uri: must not be empty"},
		{"frontchannel for a native app", head + "  - client_id: a\n    application_type: native\n    token_endpoint_auth_method: none\n    redirect_uris: [http://127.0.0.1/cb]\n    frontchannel_logout_uri: http://127.0.0.1/logout\n", "clients.yaml:8: clients[1].frontchannel_logout_uri: native apps cannot be signed out in an iframe"},
		{"frontchannel for a service", service + "    frontchannel_logout_uri: https://a.example/logout\n", "clients.yaml:7: clients[1].frontchannel_logout_uri: applies only to clients with the authorization_code or device_code grant"},
		{"frontchannel session required without the URI", signIn + "    frontchannel_logout_session_required: true\n", "clients.yaml:7: clients[1].frontchannel_logout_session_required: needs frontchannel_logout_uri: add it, or remove this"},
		{"frontchannel session required a number", signIn + "    frontchannel_logout_uri: https://a.example/logout\n    frontchannel_logout_session_required: 1\n", `clients.yaml:8: clients[1].frontchannel_logout_session_required: must be true or false, unquoted (got "1")`},
		// The refresh-token policy; refresh is a public client with the
		// refresh_token grant whose next line is line 8.
		{"grace not a duration", refresh + "    refresh_token_grace_period: 10\n", `clients.yaml:8: clients[1].refresh_token_grace_period: not a duration: "10" (write it like 10s, 30m or 720h)`},
		{"grace garbage", refresh + "    refresh_token_grace_period: soon\n", `clients.yaml:8: clients[1].refresh_token_grace_period: not a duration: "soon"`},
		{"grace negative", refresh + "    refresh_token_grace_period: -5s\n", `clients.yaml:8: clients[1].refresh_token_grace_period: must not be negative (got -5s)`},
		{"grace too long", refresh + "    refresh_token_grace_period: 61s\n", "clients.yaml:8: clients[1].refresh_token_grace_period: must be from 0s (no grace window) to 1m (got 1m1s)"},
		{"grace null", refresh + "    refresh_token_grace_period:\n", "clients.yaml:8: clients[1].refresh_token_grace_period: has no value"},
		{"grace list", refresh + "    refresh_token_grace_period: [10s]\n", "clients.yaml:8: clients[1].refresh_token_grace_period: must be a single value"},
		{"idle zero", refresh + "    refresh_token_idle_ttl: 0s\n", "clients.yaml:8: clients[1].refresh_token_idle_ttl: must be at least 1m: leave it out for no idle limit"},
		{"idle too short", refresh + "    refresh_token_idle_ttl: 59s\n", "clients.yaml:8: clients[1].refresh_token_idle_ttl: must be at least 1m (got 59s)"},
		{"idle negative", refresh + "    refresh_token_idle_ttl: -1h\n", "clients.yaml:8: clients[1].refresh_token_idle_ttl: must not be negative"},
		{"idle past absolute", refresh + "    refresh_token_idle_ttl: 25h\n    refresh_token_absolute_ttl: 24h\n", "clients.yaml:8: clients[1].refresh_token_idle_ttl: must not be longer than refresh_token_absolute_ttl (24h; got 25h)"},
		{"idle past the longest absolute", refresh + "    refresh_token_idle_ttl: 8761h\n", "clients.yaml:8: clients[1].refresh_token_idle_ttl: must be at most 8760h (365 days) (got 8761h)"},
		{"absolute too short", refresh + "    refresh_token_absolute_ttl: 59m\n", "clients.yaml:8: clients[1].refresh_token_absolute_ttl: must be from 1h to 8760h (365 days) (got 59m)"},
		{"absolute too long", refresh + "    refresh_token_absolute_ttl: 8761h\n", "clients.yaml:8: clients[1].refresh_token_absolute_ttl: must be from 1h to 8760h (365 days) (got 8761h)"},
		{"absolute zero", refresh + "    refresh_token_absolute_ttl: 0s\n", "clients.yaml:8: clients[1].refresh_token_absolute_ttl: must be at least 1h: leave it out for the server's refresh_token_ttl"},
		{"absolute overflow", refresh + "    refresh_token_absolute_ttl: 9999999999h\n", `clients.yaml:8: clients[1].refresh_token_absolute_ttl: not a duration: "9999999999h"`},
		{"policy without the refresh grant", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n    refresh_token_idle_ttl: 1h\n", "clients.yaml:7: clients[1].refresh_token_idle_ttl: applies only to clients with the refresh_token grant"},
		{"grace off without the refresh grant", head + "  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n    refresh_token_grace_period: 0s\n", "clients.yaml:7: clients[1].refresh_token_grace_period: applies only to clients with the refresh_token grant"},
		{"policy key twice", refresh + "    refresh_token_idle_ttl: 1h\n    refresh_token_idle_ttl: 2h\n", "clients.yaml:9: clients[1].refresh_token_idle_ttl: given twice (first at line 8)"},
	}
	getenv := testEnv(map[string]string{"A_SECRET": clientsTestSecretEnv, "SHORT_SECRET": "s3cr3"})
	readFile := testFiles(map[string]string{"/run/secrets/empty": "\n", "/run/secrets/two-lines": clientsTestSecretFile + "\n" + clientsTestSecretFile + "\n"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOnLoopback([]byte(tt.file), "clients.yaml", getenv, readFile)
			if err == nil {
				t.Fatalf("got %d clients and no error, want an error containing %q", len(got), tt.want)
			}
			if got != nil {
				t.Errorf("got %d clients with the error, want none", len(got))
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error\n%v\nwant it to contain\n%s", err, tt.want)
			}
			for line := range strings.SplitSeq(err.Error(), "\n") {
				if !strings.HasPrefix(line, "clients.yaml:") {
					t.Errorf("got error line %q, want it to start with clients.yaml:", line)
				}
			}
			for _, secret := range []string{clientsTestSecretEnv, clientsTestSecretFile, "hunter2", "s3cr3"} {
				if strings.Contains(err.Error(), secret) && !strings.Contains(tt.file, "client_id: "+secret) {
					t.Errorf("error %q reveals a secret value", err)
				}
			}
		})
	}
}

func TestParseClientsFileReportsEveryProblem(t *testing.T) {
	const file = `clients:
  - client_id: one
    token_endpoint_auth_method: none
    redirect_uris: [http://one.example/cb]
  - client_id: two
    token_endpoint_auth_method: none
    redirect_uris: [https://two.example/cb]
    grant_types: [client_credentials]
  - client_id: three
    client_secret: too-short
    redirect_uris: [https://three.example/cb]
`
	_, err := parseOnLoopback([]byte(file), "clients.yaml", testEnv(nil), testFiles(nil))
	if err == nil {
		t.Fatal("got nil, want three problems")
	}
	want := []string{
		"clients.yaml:4: clients[0].redirect_uris[0]: must use https",
		"clients.yaml:8: clients[1].grant_types[0]: client_credentials needs a confidential client",
		"clients.yaml:10: clients[2].client_secret: the secret is too short (9 characters, need at least 32)",
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d problems:\n%v\nwant %d", len(lines), err, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("problem %d: got %q, want it to start with %q", i, lines[i], w)
		}
	}
	var probs Problems
	if !errors.As(err, &probs) || len(probs) != 3 {
		t.Errorf("got %T with %d problems, want Problems with 3", err, len(probs))
	}
}

func TestParseClientsFileSecretFileRelativeToClientsFile(t *testing.T) {
	const file = "clients:\n  - client_id: a\n    client_secret_file: s/a.txt\n    redirect_uris: [https://a.example/cb]\n"
	for _, tt := range []struct{ clientsFile, secretPath string }{
		{"clients.yaml", "s/a.txt"},
		{"/etc/gatehouse/clients.yaml", "/etc/gatehouse/s/a.txt"},
	} {
		readFile := testFiles(map[string]string{tt.secretPath: clientsTestSecretFile + "\r\n"})
		got, err := parseOnLoopback([]byte(file), tt.clientsFile, testEnv(nil), readFile)
		if err != nil {
			t.Fatalf("%s: %v", tt.clientsFile, err)
		}
		if want := HashSecret(clientsTestSecretFile); got[0].SecretHash != want {
			t.Errorf("%s: got hash %s, want %s (CRLF trimmed)", tt.clientsFile, got[0].SecretHash, want)
		}
	}
}

// A public web client's allowed_cors_origins are parsed and stored; other
// clients may not have any, and each problem names its element and line.
func TestParseClientsFileCORSOrigins(t *testing.T) {
	const spa = "clients:\n  - client_id: spa\n    token_endpoint_auth_method: none\n    redirect_uris: [https://spa.example/cb]\n"
	got, err := parseOnLoopback([]byte(spa+"    allowed_cors_origins: [https://app.example.com, \"http://localhost:5173\"]\n"),
		"clients.yaml", clientsTestEnv(), clientsTestFiles())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"https://app.example.com", "http://localhost:5173"}; !reflect.DeepEqual(got[0].AllowedCORSOrigins, want) {
		t.Errorf("AllowedCORSOrigins: got %q, want %q", got[0].AllowedCORSOrigins, want)
	}
	if err := Validate(got[0]); err != nil {
		t.Errorf("Validate: %v", err)
	}
	for _, tt := range []struct {
		name, file, want string
	}{
		{"path", spa + "    allowed_cors_origins:\n      - https://ok.example\n      - https://app.example.com/cb\n",
			`clients.yaml:7: clients[0].allowed_cors_origins[1]: must be an origin only, without path, query or user info: write "https://app.example.com"`},
		{"wildcard", spa + "    allowed_cors_origins: [\"*\"]\n", "clients.yaml:5: clients[0].allowed_cors_origins[0]: must not contain a wildcard"},
		{"twice", spa + "    allowed_cors_origins: [https://a.example, https://a.example]\n", `clients.yaml:5: clients[0].allowed_cors_origins[1]: "https://a.example" is listed twice`},
		{"not a list", spa + "    allowed_cors_origins: https://a.example\n", "clients.yaml:5: clients[0].allowed_cors_origins: must be a list"},
		{"confidential client", "clients:\n  - client_id: web\n    client_secret_env: A_SECRET\n    redirect_uris: [https://web.example/cb]\n    allowed_cors_origins: [https://web.example]\n",
			"clients.yaml:5: clients[0].allowed_cors_origins: only public web clients"},
		{"native client", "clients:\n  - client_id: app\n    application_type: native\n    token_endpoint_auth_method: none\n    redirect_uris: [com.example.app:/cb]\n    allowed_cors_origins: [https://app.example]\n",
			"clients.yaml:6: clients[0].allowed_cors_origins: only public web clients"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseOnLoopback([]byte(tt.file), "clients.yaml", clientsTestEnv(), clientsTestFiles())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want %q", err, tt.want)
			}
		})
	}
}

// A sign-in client's default_acr_values are parsed and stored in order;
// each must be an acr value Gatehouse knows, listed once, and clients
// without the authorization_code grant may not have any. Each problem
// names its element and line.
func TestParseClientsFileDefaultACRValues(t *testing.T) {
	const (
		acrSFA = "https://refeds.org/profile/sfa"
		acrMFA = "https://refeds.org/profile/mfa"
	)
	const app = "clients:\n  - client_id: app\n    token_endpoint_auth_method: none\n    redirect_uris: [https://app.example/cb]\n"
	const file = `clients:
  - client_id: both
    token_endpoint_auth_method: none
    redirect_uris: [https://a.example/cb]
    default_acr_values: [` + acrMFA + `, "` + acrSFA + `"]
  - client_id: one
    token_endpoint_auth_method: none
    redirect_uris: [https://a.example/cb]
    default_acr_values:
      - ` + acrMFA + `
  - client_id: empty
    token_endpoint_auth_method: none
    redirect_uris: [https://a.example/cb]
    default_acr_values: []
  - client_id: absent
    token_endpoint_auth_method: none
    redirect_uris: [https://a.example/cb]
`
	got, err := parseOnLoopback([]byte(file), "clients.yaml", clientsTestEnv(), clientsTestFiles())
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{acrMFA, acrSFA}, {acrMFA}, {}, nil}
	if len(got) != len(want) {
		t.Fatalf("got %d clients, want %d", len(got), len(want))
	}
	for i, w := range want {
		if !slices.Equal(got[i].DefaultACRValues, w) {
			t.Errorf("client %s: DefaultACRValues: got %q, want %q", got[i].ID, got[i].DefaultACRValues, w)
		}
		if err := Validate(got[i]); err != nil {
			t.Errorf("Validate(%s): %v", got[i].ID, err)
		}
	}
	for _, tt := range []struct {
		name, file, want string
	}{
		{"unknown", app + "    default_acr_values: [" + acrMFA + ", urn:example:loa:3]\n",
			`clients.yaml:5: clients[0].default_acr_values[1]: "urn:example:loa:3" is not an acr value Gatehouse knows: use ` + acrSFA + " or " + acrMFA},
		{"short name", app + "    default_acr_values:\n      - " + acrSFA + "\n      - mfa\n",
			`clients.yaml:7: clients[0].default_acr_values[1]: "mfa" is not an acr value Gatehouse knows`},
		{"other case", app + "    default_acr_values: [HTTPS://REFEDS.ORG/PROFILE/MFA]\n",
			`clients.yaml:5: clients[0].default_acr_values[0]: "HTTPS://REFEDS.ORG/PROFILE/MFA": acr values are case-sensitive, write "` + acrMFA + `"`},
		{"empty value", app + "    default_acr_values: ['']\n", `clients.yaml:5: clients[0].default_acr_values[0]: "" is not an acr value Gatehouse knows`},
		{"null value", app + "    default_acr_values: [" + acrMFA + ", ~]\n", "clients.yaml:5: clients[0].default_acr_values[1]: has no value"},
		{"twice", app + "    default_acr_values: [" + acrMFA + ", " + acrSFA + ", " + acrMFA + "]\n",
			`clients.yaml:5: clients[0].default_acr_values[2]: "` + acrMFA + `" is listed twice`},
		{"not a list", app + "    default_acr_values: " + acrMFA + "\n", "clients.yaml:5: clients[0].default_acr_values: must be a list"},
		{"given twice", app + "    default_acr_values: [" + acrMFA + "]\n    default_acr_values: [" + acrSFA + "]\n",
			"clients.yaml:6: clients[0].default_acr_values: given twice (first at line 5)"},
		{"for a service", "clients:\n  - client_id: svc\n    client_secret_env: A_SECRET\n    grant_types: [client_credentials]\n    default_acr_values: [" + acrMFA + "]\n",
			"clients.yaml:5: clients[0].default_acr_values: applies only to clients with the authorization_code or device_code grant"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseOnLoopback([]byte(tt.file), "clients.yaml", clientsTestEnv(), clientsTestFiles())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want %q", err, tt.want)
			}
		})
	}
}

// A sign-in client's allowed_groups are parsed and stored in order; each
// must be a group name (1–64 characters of a–z, 0–9 and . _ -), listed
// once, and clients without the authorization_code grant may not have any.
// Each problem names its element and line.
func TestParseClientsFileAllowedGroups(t *testing.T) {
	const app = "clients:\n  - client_id: app\n    token_endpoint_auth_method: none\n    redirect_uris: [https://app.example/cb]\n"
	long := strings.Repeat("g", 64)
	file := `clients:
  - client_id: two
    token_endpoint_auth_method: none
    redirect_uris: [https://a.example/cb]
    allowed_groups: [staff, "ops.on-call_2"]
  - client_id: one
    token_endpoint_auth_method: none
    redirect_uris: [https://a.example/cb]
    allowed_groups:
      - ` + long + `
  - client_id: empty
    token_endpoint_auth_method: none
    redirect_uris: [https://a.example/cb]
    allowed_groups: []
  - client_id: absent
    token_endpoint_auth_method: none
    redirect_uris: [https://a.example/cb]
`
	got, err := parseOnLoopback([]byte(file), "clients.yaml", clientsTestEnv(), clientsTestFiles())
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"staff", "ops.on-call_2"}, {long}, {}, nil}
	if len(got) != len(want) {
		t.Fatalf("got %d clients, want %d", len(got), len(want))
	}
	for i, w := range want {
		if !slices.Equal(got[i].AllowedGroups, w) {
			t.Errorf("client %s: AllowedGroups: got %q, want %q", got[i].ID, got[i].AllowedGroups, w)
		}
		if err := Validate(got[i]); err != nil {
			t.Errorf("Validate(%s): %v", got[i].ID, err)
		}
	}
	for _, tt := range []struct {
		name, file, want string
	}{
		{"upper case", app + "    allowed_groups: [staff, Admins]\n",
			`clients.yaml:5: clients[0].allowed_groups[1]: "Admins": group names are lowercase, write "admins"`},
		{"space", app + "    allowed_groups:\n      - staff\n      - \"the admins\"\n",
			`clients.yaml:7: clients[0].allowed_groups[1]: "the admins" is not a group name: use 1–64 characters from a–z, 0–9 and . _ -`},
		{"slash", app + "    allowed_groups: [eng/ops]\n", `clients.yaml:5: clients[0].allowed_groups[0]: "eng/ops" is not a group name`},
		{"not ASCII", app + "    allowed_groups: [équipe]\n", `clients.yaml:5: clients[0].allowed_groups[0]: "équipe" is not a group name`},
		{"too long", app + "    allowed_groups: [" + long + "g]\n", `clients.yaml:5: clients[0].allowed_groups[0]: "` + long + `g" is not a group name: use 1–64 characters`},
		{"empty value", app + "    allowed_groups: ['']\n", `clients.yaml:5: clients[0].allowed_groups[0]: "" is not a group name`},
		{"null value", app + "    allowed_groups: [staff, ~]\n", "clients.yaml:5: clients[0].allowed_groups[1]: has no value"},
		{"twice", app + "    allowed_groups: [staff, ops, staff]\n", `clients.yaml:5: clients[0].allowed_groups[2]: "staff" is listed twice`},
		{"a single name", app + "    allowed_groups: staff\n", "clients.yaml:5: clients[0].allowed_groups: must be a list"},
		{"a mapping", app + "    allowed_groups: {staff: true}\n", "clients.yaml:5: clients[0].allowed_groups: must be a list"},
		{"a true", app + "    allowed_groups: true\n", "clients.yaml:5: clients[0].allowed_groups: must be a list"},
		{"a list in the list", app + "    allowed_groups: [[staff]]\n", "clients.yaml:5: clients[0].allowed_groups[0]: must be a single value, not a list or mapping"},
		{"given twice", app + "    allowed_groups: [staff]\n    allowed_groups: [ops]\n",
			"clients.yaml:6: clients[0].allowed_groups: given twice (first at line 5)"},
		{"for a service", "clients:\n  - client_id: svc\n    client_secret_env: A_SECRET\n    grant_types: [client_credentials]\n    allowed_groups: [staff]\n",
			"clients.yaml:5: clients[0].allowed_groups: applies only to clients with the authorization_code or device_code grant"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseOnLoopback([]byte(tt.file), "clients.yaml", clientsTestEnv(), clientsTestFiles())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want %q", err, tt.want)
			}
		})
	}
	// Every problem is reported, not only the first.
	_, err = parseOnLoopback([]byte(app+"    allowed_groups: [Staff, staff, a b, staff]\n"), "clients.yaml", clientsTestEnv(), clientsTestFiles())
	var probs Problems
	if !errors.As(err, &probs) || len(probs) != 3 {
		t.Errorf("allowed_groups [Staff, staff, a b, staff]: got %v, want 3 problems (Staff, a b, the second staff)", err)
	}
}

func TestValidateClient(t *testing.T) {
	good := storage.Client{
		ID: "a", Name: "a", SecretHash: HashSecret(clientsTestSecretPlain),
		RedirectURIs: []string{"https://a.example/cb"}, GrantTypes: []string{"authorization_code"},
		ResponseTypes: []string{"code"}, TokenEndpointAuthMethod: "client_secret_basic", ApplicationType: "web",
	}
	if err := Validate(good); err != nil {
		t.Fatalf("Validate(good) = %v, want nil", err)
	}
	for _, format := range []string{"jwt", "opaque"} {
		c := good
		c.AccessTokenFormat = format
		if err := Validate(c); err != nil {
			t.Errorf("Validate with access_token_format %s = %v, want nil", format, err)
		}
	}
	tests := []struct {
		name   string
		modify func(*storage.Client)
		want   string
	}{
		{"no hash", func(c *storage.Client) { c.SecretHash = "" }, `client "a": client_secret_hash: confidential clients need a valid secret hash`},
		{"public with hash", func(c *storage.Client) { c.TokenEndpointAuthMethod = "none" }, `client "a": client_secret: public clients have no secret`},
		{"no grants", func(c *storage.Client) { c.GrantTypes = nil }, "grant_types: must list at least one"},
		{"no response types", func(c *storage.Client) { c.ResponseTypes = nil }, "response_types: must list code"},
		{"empty id", func(c *storage.Client) { c.ID = "" }, "client_id: missing"},
		{"unknown id token alg", func(c *storage.Client) { c.IDTokenSignedResponseAlg = "PS256" }, `client "a": id_token_signed_response_alg: "PS256" is not supported`},
		{"unknown access token format", func(c *storage.Client) { c.AccessTokenFormat = "reference" }, `client "a": access_token_format: "reference" is not supported: use jwt or opaque`},
		{"access token format upper case", func(c *storage.Client) { c.AccessTokenFormat = "Opaque" }, `client "a": access_token_format: "Opaque": values are case-sensitive, write "opaque"`},
		{"refresh policy without the grant", func(c *storage.Client) { c.RefreshGracePeriod = storage.NoRefreshGrace }, `client "a": refresh_token_grace_period: applies only to clients with the refresh_token grant`},
		{"grace too long", func(c *storage.Client) { withRefresh(c); c.RefreshGracePeriod = 2 * time.Minute }, "refresh_token_grace_period: must be from 0s (no grace window) to 1m (got 2m)"},
		{"idle negative", func(c *storage.Client) { withRefresh(c); c.RefreshTokenIdleTTL = -time.Hour }, "refresh_token_idle_ttl: must not be negative"},
		{"idle past absolute", func(c *storage.Client) {
			withRefresh(c)
			c.RefreshTokenIdleTTL, c.RefreshTokenAbsoluteTTL = 3*time.Hour, 2*time.Hour
		}, "refresh_token_idle_ttl: must not be longer than refresh_token_absolute_ttl (2h; got 3h)"},
		{"absolute negative", func(c *storage.Client) { withRefresh(c); c.RefreshTokenAbsoluteTTL = -time.Hour }, "refresh_token_absolute_ttl: must not be negative"},
		{"backchannel http", func(c *storage.Client) { c.BackchannelLogoutURI = "http://a.example/logout" }, `client "a": backchannel_logout_uri: must use https`},
		{"backchannel session required alone", func(c *storage.Client) { c.BackchannelLogoutSessionRequired = true }, `client "a": backchannel_logout_session_required: needs backchannel_logout_uri`},
		{"frontchannel other origin", func(c *storage.Client) { c.FrontchannelLogoutURI = "https://b.example/logout" }, `client "a": frontchannel_logout_uri: must have the scheme, host and port`},
		{"frontchannel session required alone", func(c *storage.Client) { c.FrontchannelLogoutSessionRequired = true }, `client "a": frontchannel_logout_session_required: needs frontchannel_logout_uri`},
		{"skip consent without the code grant", func(c *storage.Client) {
			c.GrantTypes, c.ResponseTypes, c.RedirectURIs, c.SkipConsent = []string{"client_credentials"}, nil, nil, true
		}, `client "a": skip_consent: applies only to clients with the authorization_code or device_code grant`},
		{"require mfa without the code grant", func(c *storage.Client) {
			c.GrantTypes, c.ResponseTypes, c.RedirectURIs, c.RequireMFA = []string{"client_credentials"}, nil, nil, true
		}, `client "a": require_mfa: applies only to clients with the authorization_code or device_code grant`},
		{"default acr values without the code grant", func(c *storage.Client) {
			c.GrantTypes, c.ResponseTypes, c.RedirectURIs = []string{"client_credentials"}, nil, nil
			c.DefaultACRValues = []string{"https://refeds.org/profile/mfa"}
		}, `client "a": default_acr_values: applies only to clients with the authorization_code or device_code grant`},
		{"default acr value unknown", func(c *storage.Client) { c.DefaultACRValues = []string{"urn:example:loa:3"} },
			`client "a": default_acr_values[0]: "urn:example:loa:3" is not an acr value Gatehouse knows`},
		{"default acr value twice", func(c *storage.Client) {
			c.DefaultACRValues = []string{"https://refeds.org/profile/sfa", "https://refeds.org/profile/sfa"}
		}, `client "a": default_acr_values[1]: "https://refeds.org/profile/sfa" is listed twice`},
		{"allowed groups without the code grant", func(c *storage.Client) {
			c.GrantTypes, c.ResponseTypes, c.RedirectURIs = []string{"client_credentials"}, nil, nil
			c.AllowedGroups = []string{"staff"}
		}, `client "a": allowed_groups: applies only to clients with the authorization_code or device_code grant`},
		{"allowed group not a name", func(c *storage.Client) { c.AllowedGroups = []string{"staff", "Ops!"} },
			`client "a": allowed_groups[1]: "Ops!" is not a group name`},
		{"allowed group twice", func(c *storage.Client) { c.AllowedGroups = []string{"staff", "staff"} },
			`client "a": allowed_groups[1]: "staff" is listed twice`},
	}
	for _, tt := range tests {
		c := good
		tt.modify(&c)
		err := Validate(c)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

// TestParseClientsFileSignInSettings checks skip_consent, require_mfa and
// the logout settings: given values land in the storage.Client fields, absent ones
// leave them zero, and the edges of the URI rules are allowed.
func TestParseClientsFileSignInSettings(t *testing.T) {
	const file = `clients:
  - client_id: first-party
    client_secret: ` + clientsTestSecretPlain + `
    redirect_uris: [https://app.example.com/callback]
    skip_consent: true
    require_mfa: true
    backchannel_logout_uri: https://app.example.com/logout/backchannel?tenant=1
    backchannel_logout_session_required: true
    frontchannel_logout_uri: https://app.example.com:443/logout/frontchannel
    frontchannel_logout_session_required: true
  - client_id: local
    token_endpoint_auth_method: none
    redirect_uris: [http://localhost:3000/callback]
    skip_consent: false
    require_mfa: false
    backchannel_logout_uri: http://127.0.0.1:3001/backchannel
    frontchannel_logout_uri: http://localhost:3000/logout
    frontchannel_logout_session_required: false
  - client_id: native-backchannel
    application_type: native
    token_endpoint_auth_method: none
    redirect_uris: [com.example.app:/cb]
    require_mfa: true
    dpop_bound_access_tokens: true
    backchannel_logout_uri: https://api.example.com/logout
  - client_id: plain
    token_endpoint_auth_method: none
    redirect_uris: [https://plain.example.com/cb]
`
	got, err := parseOnLoopback([]byte(file), "clients.yaml", testEnv(nil), testFiles(nil))
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	type settings struct {
		skip          bool
		mfa           bool
		backURI       string
		backRequired  bool
		frontURI      string
		frontRequired bool
		dpop          bool
	}
	want := []settings{
		{true, true, "https://app.example.com/logout/backchannel?tenant=1", true, "https://app.example.com:443/logout/frontchannel", true, false},
		{false, false, "http://127.0.0.1:3001/backchannel", false, "http://localhost:3000/logout", false, false},
		{false, true, "https://api.example.com/logout", false, "", false, true},
		{},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d clients, want %d", len(got), len(want))
	}
	for i, w := range want {
		c := got[i]
		g := settings{c.SkipConsent, c.RequireMFA, c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired, c.FrontchannelLogoutURI, c.FrontchannelLogoutSessionRequired, c.DPoPBoundAccessTokens}
		if g != w {
			t.Errorf("client %s: got %+v, want %+v", c.ID, g, w)
		}
		if err := Validate(c); err != nil {
			t.Errorf("Validate(%s): %v", c.ID, err)
		}
	}
}

func withRefresh(c *storage.Client) {
	c.GrantTypes = []string{"authorization_code", "refresh_token"}
}

// TestParseClientsFileRefreshPolicy checks the per-client refresh-token
// policy: given values are kept exactly, 0s turns the grace window off
// (storage.NoRefreshGrace), absent keys leave the server's defaults (zero),
// and the bounds themselves are allowed.
func TestParseClientsFileRefreshPolicy(t *testing.T) {
	const file = `clients:
  - client_id: policy
    token_endpoint_auth_method: none
    redirect_uris: [https://a.example/cb]
    grant_types: [authorization_code, refresh_token]
    refresh_token_grace_period: 10s
    refresh_token_idle_ttl: 36h30m
    refresh_token_absolute_ttl: 2160h
  - client_id: no-grace
    token_endpoint_auth_method: none
    redirect_uris: [https://a.example/cb]
    grant_types: [authorization_code, refresh_token]
    refresh_token_grace_period: 0s
  - client_id: bounds
    token_endpoint_auth_method: none
    redirect_uris: [https://a.example/cb]
    grant_types: [authorization_code, refresh_token]
    refresh_token_grace_period: 1m
    refresh_token_idle_ttl: 1m
    refresh_token_absolute_ttl: 1h
  - client_id: longest
    token_endpoint_auth_method: none
    redirect_uris: [https://a.example/cb]
    grant_types: [authorization_code, refresh_token]
    refresh_token_idle_ttl: 8760h
    refresh_token_absolute_ttl: 8760h
  - client_id: idle-only
    token_endpoint_auth_method: none
    redirect_uris: [https://a.example/cb]
    grant_types: [authorization_code, refresh_token]
    refresh_token_idle_ttl: 720h
  - client_id: defaults
    token_endpoint_auth_method: none
    redirect_uris: [https://a.example/cb]
    grant_types: [authorization_code, refresh_token]
`
	got, err := parseOnLoopback([]byte(file), "clients.yaml", testEnv(nil), testFiles(nil))
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	want := []struct {
		id                    string
		grace, idle, absolute time.Duration
	}{
		{"policy", 10 * time.Second, 36*time.Hour + 30*time.Minute, 90 * 24 * time.Hour},
		{"no-grace", storage.NoRefreshGrace, 0, 0},
		{"bounds", time.Minute, time.Minute, time.Hour},
		{"longest", 0, 365 * 24 * time.Hour, 365 * 24 * time.Hour},
		{"idle-only", 0, 30 * 24 * time.Hour, 0},
		{"defaults", 0, 0, 0},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d clients, want %d", len(got), len(want))
	}
	for i, w := range want {
		c := got[i]
		if c.ID != w.id || c.RefreshGracePeriod != w.grace || c.RefreshTokenIdleTTL != w.idle || c.RefreshTokenAbsoluteTTL != w.absolute {
			t.Errorf("client %d: got %s grace=%v idle=%v absolute=%v, want %s grace=%v idle=%v absolute=%v",
				i, c.ID, c.RefreshGracePeriod, c.RefreshTokenIdleTTL, c.RefreshTokenAbsoluteTTL, w.id, w.grace, w.idle, w.absolute)
		}
		if err := Validate(c); err != nil {
			t.Errorf("Validate(%s): %v", c.ID, err)
		}
	}
}

// TestShippedClientsFile parses the repository's clients.yaml exactly as a
// bare `gatehouse serve` does: no environment, no secret files.
func TestShippedClientsFile(t *testing.T) {
	const path = "../clients.yaml"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	noFiles := func(name string) ([]byte, error) {
		t.Errorf("read %s: the shipped clients.yaml must need no secret files", name)
		return nil, os.ErrNotExist
	}
	got, err := parseOnLoopback(data, path, testEnv(nil), noFiles)
	if err != nil {
		t.Fatalf("the shipped clients.yaml does not parse:\n%v", err)
	}
	want := []storage.Client{
		{
			ID:                      "example-web",
			Name:                    "Example web app",
			SecretHash:              HashSecret("example-web-demo-secret-local-testing-only"),
			RedirectURIs:            []string{"http://localhost:3000/callback", "http://127.0.0.1:3000/callback"},
			PostLogoutRedirectURIs:  []string{"http://localhost:3000/"},
			GrantTypes:              []string{"authorization_code", "refresh_token"},
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "client_secret_basic",
			ApplicationType:         "web",
			BackchannelLogoutURI:    "http://localhost:3000/backchannel-logout",
		},
		{
			ID:                      "example-native",
			Name:                    "Example mobile app",
			RedirectURIs:            []string{"com.example.app:/oauth2redirect", "http://127.0.0.1/callback"},
			GrantTypes:              []string{"authorization_code", "refresh_token"},
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "none",
			ApplicationType:         "native",
		},
		{
			ID:                      "example-spa",
			Name:                    "Example single-page app",
			RedirectURIs:            []string{"http://localhost:5173/callback"},
			GrantTypes:              []string{"authorization_code"},
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "none",
			ApplicationType:         "web",
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// FuzzParseClientsFile checks, for any file, that the parser either refuses
// it (every problem naming the file, no clients returned) or returns clients
// that validate, with distinct ids, from a file that really lists them under
// clients: (a file without the list must never read as "no clients"), with
// the revision the file declares, never a published demo secret for a public
// issuer, and a digest that ignores the clients' order.
//
// The seeds are small on purpose, one client each: Go's fuzzer minimizes
// every input that finds new coverage with a number of runs that grows with
// the square of its length, so a seed like the 6.5 KB commented sample
// clients.yaml kept the workers minimizing instead of fuzzing (58 runs in a
// minute). Multi-client files are covered by short seeds with two clients.
func FuzzParseClientsFile(f *testing.F) {
	for _, seed := range singleClientFiles(clientsTestValid) {
		f.Add([]byte(seed))
	}
	if data, err := os.ReadFile("../clients.yaml"); err == nil {
		for _, seed := range singleClientFiles(string(data)) {
			f.Add([]byte(seed))
		}
	}
	f.Add([]byte(""))
	f.Add([]byte("# only a comment\n"))
	f.Add([]byte("clients:\n"))
	f.Add([]byte("clients: []\n"))
	f.Add([]byte("revision: 3\nclients: []\n"))
	f.Add([]byte("revision: '3'\nclients: []\n"))
	f.Add([]byte("clients: [\n"))
	f.Add([]byte("- a\n"))
	f.Add([]byte("clients:\n  - client_id: a\n    redirect_uris: [http://a.example/cb]\n"))
	f.Add([]byte("clients:\n  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: &x [https://a/cb]\n    post_logout_redirect_uris: *x\n"))
	f.Add([]byte("clients:\n  - {client_id: a, client_id: b}\n  - client_id: a\n---\n"))
	f.Add([]byte("clients:\n  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a/cb]\n    allowed_cors_origins: [https://b.example, \"http://[::1]:3000\", https://c:443/x]\n"))
	f.Add([]byte("revision: 7\nclients:\n  - {client_id: a, token_endpoint_auth_method: none, redirect_uris: [\"https://a/cb\"]}\n  - {client_id: b, token_endpoint_auth_method: none, redirect_uris: [\"https://b/cb\"]}\n"))
	f.Add([]byte("clients:\n  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a/cb]\n    grant_types: [authorization_code, refresh_token]\n    refresh_token_grace_period: 0s\n    refresh_token_idle_ttl: 1h\n    refresh_token_absolute_ttl: 24h\n"))
	f.Add([]byte("clients:\n  - client_id: a\n    client_secret: example-web-demo-secret-local-testing-only\n    redirect_uris: [https://a/cb]\n"))
	const file = "conf/clients.yaml" // clientsTestFiles holds conf/secrets/post-app
	f.Fuzz(func(t *testing.T, data []byte) {
		parsed, err := parseFor(data, file, "http://localhost:8080", clientsTestEnv(), clientsTestFiles())
		if err != nil {
			if parsed.Clients != nil || parsed.Revision != 0 {
				t.Fatalf("got %+v with error %v, want nothing", parsed, err)
			}
			for line := range strings.SplitSeq(err.Error(), "\n") {
				if !strings.HasPrefix(line, file) {
					t.Fatalf("got error line %q without the file name", line)
				}
			}
			return
		}
		public, perr := parseFor(data, file, "https://login.example.com", clientsTestEnv(), clientsTestFiles())
		// The file lists its clients under clients:, as a list.
		var doc map[string]any
		if yerr := yaml.Unmarshal(data, &doc); yerr != nil {
			t.Fatalf("accepted a file yaml.Unmarshal refuses: %v", yerr)
		}
		if _, isList := doc["clients"].([]any); !isList || parsed.Clients == nil {
			t.Fatalf("accepted a file without a clients list (clients: %#v) as %d clients", doc["clients"], len(parsed.Clients))
		}
		if rev, given := doc["revision"]; given && (rev != parsed.Revision && rev != int(parsed.Revision) || parsed.Revision < 1) {
			t.Fatalf("revision: got %d, the file says %v", parsed.Revision, rev)
		} else if !given && parsed.Revision != 0 {
			t.Fatalf("revision: got %d from a file without one", parsed.Revision)
		}
		ids := make(map[string]bool)
		var demo []string
		for _, c := range parsed.Clients {
			if err := Validate(c); err != nil {
				t.Fatalf("ParseFile accepted a client that fails Validate: %v", err)
			}
			if ids[c.ID] {
				t.Fatalf("client_id %q returned twice", c.ID)
			}
			ids[c.ID] = true
			if slices.Contains(publishedSecretHashes(), c.SecretHash) {
				demo = append(demo, c.ID)
			}
		}
		if !slices.Equal(demo, parsed.DemoSecret) {
			t.Fatalf("DemoSecret: got %v, want %v", parsed.DemoSecret, demo)
		}
		if (perr == nil) != (len(demo) == 0) {
			t.Fatalf("for a public issuer: got error %v with demo secrets %v; want refused exactly when there are some", perr, demo)
		}
		if perr == nil && !reflect.DeepEqual(public, parsed) {
			t.Fatalf("the issuer changed what was parsed: %+v, %+v", public, parsed)
		}
	})
}

// singleClientFiles splits a clients file into files of one client each,
// without comments or blank lines: small fuzz seeds.
func singleClientFiles(file string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, "clients:\n"+cur.String())
			cur.Reset()
		}
	}
	_, list, _ := strings.Cut("\n"+file, "\nclients:\n")
	for line := range strings.SplitSeq(list, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.HasPrefix(line, "  - ") {
			flush()
		}
		cur.WriteString(line + "\n")
	}
	flush()
	return out
}

func TestParseClientsFileServiceClient(t *testing.T) {
	file := "clients:\n  - client_id: reporting-job\n    client_secret: 0123456789abcdef0123456789abcdef\n    grant_types: [client_credentials]\n    scope: reports:read\n"
	got, err := parseOnLoopback([]byte(file), "clients.yaml", testEnv(nil), testFiles(nil))
	if err != nil {
		t.Fatalf("a client_credentials-only client: %v", err)
	}
	if len(got) != 1 || len(got[0].ResponseTypes) != 0 || len(got[0].RedirectURIs) != 0 ||
		!slices.Equal(got[0].GrantTypes, []string{"client_credentials"}) || !slices.Equal(got[0].Scopes, []string{"reports:read"}) {
		t.Errorf("got %+v, want a service client with no response types or redirect URIs", got)
	}
	bad := file + "    response_types: [code]\n"
	if _, err := parseOnLoopback([]byte(bad), "clients.yaml", testEnv(nil), testFiles(nil)); err == nil ||
		!strings.Contains(err.Error(), "code needs the authorization_code grant") {
		t.Errorf("response_types code without the code grant: got %v", err)
	}
}

// testJWK is RFC 8037's Ed25519 public key, as a YAML flow mapping.
const testJWK = "{kty: OKP, crv: Ed25519, x: 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo}"

func TestParseClientsFilePrivateKeyJWT(t *testing.T) {
	file := `clients:
  - client_id: inline
    token_endpoint_auth_method: private_key_jwt
    grant_types: [client_credentials]
    jwks:
      keys:
        - kty: OKP
          crv: Ed25519
          x: 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo
          kid: k1
  - client_id: json
    token_endpoint_auth_method: private_key_jwt
    redirect_uris: [https://json.example/cb]
    jwks: '{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}'
  - client_id: uri
    token_endpoint_auth_method: private_key_jwt
    grant_types: [client_credentials]
    jwks_uri: https://uri.example/jwks.json
  - client_id: loopback
    token_endpoint_auth_method: private_key_jwt
    grant_types: [client_credentials]
    jwks_uri: http://127.0.0.1:8081/jwks.json
`
	got, err := parseOnLoopback([]byte(file), "clients.yaml", testEnv(nil), testFiles(nil))
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	if len(got) != 4 {
		t.Fatalf("got %d clients, want 4", len(got))
	}
	for _, c := range got {
		if c.TokenEndpointAuthMethod != "private_key_jwt" || c.SecretHash != "" {
			t.Errorf("client %s: got method %q and secret hash %q, want private_key_jwt without secret", c.ID, c.TokenEndpointAuthMethod, c.SecretHash)
		}
		if err := Validate(c); err != nil {
			t.Errorf("Validate(%s): %v", c.ID, err)
		}
	}
	if want := `{"keys":[{"crv":"Ed25519","kid":"k1","kty":"OKP","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`; string(got[0].JWKS) != want || got[0].JWKSURI != "" {
		t.Errorf("inline jwks: got %s %q, want %s", got[0].JWKS, got[0].JWKSURI, want)
	}
	if want := `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`; string(got[1].JWKS) != want {
		t.Errorf("JSON jwks: got %s, want %s", got[1].JWKS, want)
	}
	if got[2].JWKSURI != "https://uri.example/jwks.json" || got[2].JWKS != nil {
		t.Errorf("jwks_uri: got %q %s", got[2].JWKSURI, got[2].JWKS)
	}
	if got[3].JWKSURI != "http://127.0.0.1:8081/jwks.json" {
		t.Errorf("loopback jwks_uri: got %q", got[3].JWKSURI)
	}
	// A private_key_jwt client must not carry a secret hash.
	c := got[2]
	c.SecretHash = HashSecret("x")
	if err := Validate(c); err == nil {
		t.Error("Validate accepted a private_key_jwt client with a secret hash")
	}
}

// TestParseClientsFileDemoSecret feeds the secrets published in this
// repository (the sample's example-web and the load generator's), in every
// form a file can give a secret: refused unless the issuer is on loopback,
// with the line and what to do; accepted on loopback, and named in
// DemoSecret so that serve can warn.
func TestParseClientsFileDemoSecret(t *testing.T) {
	const demo = "example-web-demo-secret-local-testing-only"
	const load = "gatehouse-load-demo-secret-local-testing-only"
	client := func(secretLine string) string {
		return "clients:\n  - client_id: web\n    " + secretLine + "\n    redirect_uris: [https://web.example/cb]\n"
	}
	env := testEnv(map[string]string{"DEMO": demo})
	files := testFiles(map[string]string{"demo.secret": load + "\n"})
	for _, tc := range []struct{ name, file string }{
		{"client_secret_hash", client("client_secret_hash: " + HashSecret(demo))},
		{"client_secret", client("client_secret: " + demo)},
		{"client_secret_env", client("client_secret_env: DEMO")},
		{"client_secret_file, the load generator's", client("client_secret_file: demo.secret")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, issuer := range []string{"https://login.example.com", "http://192.168.1.20:8080", "https://localhost.example.com"} {
				_, err := parseFor([]byte(tc.file), "clients.yaml", issuer, env, files)
				if err == nil || !strings.Contains(err.Error(), "clients.yaml:3: clients[0].client_secret") ||
					!strings.Contains(err.Error(), "is the demo secret published in Gatehouse's repository") ||
					!strings.Contains(err.Error(), "the issuer is "+issuer) || !strings.Contains(err.Error(), "gatehouse clients secret") {
					t.Errorf("issuer %s: got %v, want the demo secret refused at line 3", issuer, err)
				}
				if err != nil && (strings.Contains(err.Error(), demo) || strings.Contains(err.Error(), load)) {
					t.Errorf("issuer %s: the error shows the secret: %v", issuer, err)
				}
			}
			for _, issuer := range []string{"http://localhost:8080", "http://127.0.0.1:9000", "http://[::1]:8080", "https://localhost"} {
				f, err := parseFor([]byte(tc.file), "clients.yaml", issuer, env, files)
				if err != nil || !reflect.DeepEqual(f.DemoSecret, []string{"web"}) {
					t.Errorf("issuer %s: got %+v, %v; want web accepted and named in DemoSecret", issuer, f, err)
				}
			}
		})
	}
	// The sample clients.yaml, as shipped, for a public issuer.
	sample, err := os.ReadFile("../clients.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseFor(sample, "clients.yaml", "https://login.example.com", env, files); err == nil || !strings.Contains(err.Error(), "clients[0].client_secret_hash: is the demo secret") {
		t.Errorf("the sample clients.yaml for https://login.example.com: got %v, want example-web's demo secret refused", err)
	}
	// Every published hash is the hash of a published secret.
	for _, s := range []string{demo, load} {
		if !slices.Contains(publishedSecretHashes(), HashSecret(s)) {
			t.Errorf("publishedSecretHashes lacks the hash of %s", s)
		}
	}
}

// TestParseRequestObjectClient checks that a public client with keys, a
// request_object_signing_alg and require_pushed_authorization_requests
// parses into the storage.Client fields.
func TestParseRequestObjectClient(t *testing.T) {
	file := "clients:\n  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: [https://a.example/cb]\n" +
		"    jwks: {keys: [" + testJWK + "]}\n    request_object_signing_alg: EdDSA\n    require_pushed_authorization_requests: true\n"
	got, err := parseOnLoopback([]byte(file), "clients.yaml", func(string) string { return "" }, testFiles(nil))
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	if len(got) != 1 || got[0].RequestObjectSigningAlg != "EdDSA" || !got[0].RequirePushedAuthorizationRequests || len(got[0].JWKS) == 0 {
		t.Errorf("got %+v, want one client with request_object_signing_alg EdDSA, PAR required and its jwks", got)
	}
}

// TestParseClientsFileDeviceClient: a device-only client (a TV app, a
// command-line tool) is public or confidential, needs no redirect URI, may
// have refresh tokens and the sign-in settings; refresh_token alone is
// still refused.
func TestParseClientsFileDeviceClient(t *testing.T) {
	const device = "urn:ietf:params:oauth:grant-type:device_code"
	for _, tt := range []struct {
		name, file string
		grants     []string
	}{
		{"public, device only", "clients:\n  - client_id: tv\n    token_endpoint_auth_method: none\n    grant_types: [" + device + "]\n", []string{device}},
		{"public, with refresh and sign-in settings", "clients:\n  - client_id: cli\n    token_endpoint_auth_method: none\n    grant_types: [" + device + ", refresh_token]\n    require_mfa: true\n    allowed_groups: [staff]\n",
			[]string{device, "refresh_token"}},
		{"confidential, with the code flow", "clients:\n  - client_id: web\n    client_secret: 0123456789abcdef0123456789abcdef\n    redirect_uris: [https://a.example/cb]\n    grant_types: [authorization_code, " + device + "]\n",
			[]string{"authorization_code", device}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOnLoopback([]byte(tt.file), "clients.yaml", testEnv(nil), testFiles(nil))
			if err != nil {
				t.Fatalf("got %v, want the client accepted", err)
			}
			if !slices.Equal(got[0].GrantTypes, tt.grants) {
				t.Errorf("got grant types %q, want %q", got[0].GrantTypes, tt.grants)
			}
		})
	}
	for _, tt := range []struct{ name, file, want string }{
		{"refresh alone", "clients:\n  - client_id: tv\n    token_endpoint_auth_method: none\n    grant_types: [refresh_token]\n",
			"clients.yaml:4: clients[0].grant_types[0]: refresh_token needs authorization_code or " + device},
		{"device twice", "clients:\n  - client_id: tv\n    token_endpoint_auth_method: none\n    grant_types: [" + device + ", " + device + "]\n",
			"clients[0].grant_types[1]: \"" + device + "\" is listed twice"},
		{"a misspelt grant", "clients:\n  - client_id: tv\n    token_endpoint_auth_method: none\n    grant_types: [device_code]\n",
			`clients[0].grant_types[0]: "device_code" is not supported: use authorization_code, refresh_token, client_credentials or ` + device},
		{"response type code without the code grant", "clients:\n  - client_id: tv\n    token_endpoint_auth_method: none\n    grant_types: [" + device + "]\n    response_types: [code]\n",
			"code needs the authorization_code grant"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseOnLoopback([]byte(tt.file), "clients.yaml", testEnv(nil), testFiles(nil))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want %q", err, tt.want)
			}
		})
	}
}
