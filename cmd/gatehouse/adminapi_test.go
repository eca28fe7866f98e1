package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/gatehouse-idp/gatehouse/adminapi/apitest"
)

// adminClients declares the admin API's callers: one with gatehouse:admin
// (and opaque tokens, to check both token forms), one with
// gatehouse:admin.read, one with only an unrelated scope.
const adminClients = `clients:
  - client_id: admin-job
    client_secret: 0123456789abcdef0123456789abcdef
    grant_types: [client_credentials]
    scope: gatehouse:admin
  - client_id: admin-opaque
    client_secret: 1123456789abcdef0123456789abcdef
    grant_types: [client_credentials]
    scope: gatehouse:admin
    access_token_format: opaque
  - client_id: auditor
    client_secret: 2123456789abcdef0123456789abcdef
    grant_types: [client_credentials]
    scope: gatehouse:admin.read
  - client_id: reporting-job
    client_secret: 3123456789abcdef0123456789abcdef
    grant_types: [client_credentials]
    scope: reports:read
`

// adminServer is a running serve with the admin listener, and tokens
// obtained at its token endpoint as a service gets them.
type adminServer struct {
	t              *testing.T
	addr, admin    string
	full, opaque   string // gatehouse:admin, JWT and opaque
	read, unscoped string
	schemas        map[string]*jsonschema.Schema
}

func startAdminServer(t *testing.T) *adminServer {
	dir := t.TempDir()
	file := filepath.Join(dir, "clients.yaml")
	if err := os.WriteFile(file, []byte(adminClients), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"GATEHOUSE_CLIENTS_FILE": file, "GATEHOUSE_LISTEN": "127.0.0.1:0", "GATEHOUSE_ADMIN_LISTEN": "127.0.0.1:0",
		"GATEHOUSE_DATABASE_URL": filepath.Join(dir, "g.db"), "GATEHOUSE_BOOTSTRAP_PASSWORD": "bootstrap password 0123",
	}
	checkRedisPrefix(t, env)
	logs, addr, _ := startServe(t, env)
	m := regexp.MustCompile(`"msg":"listening","listener":"admin","addr":"([^"]+)"`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no admin listener logged:\n%s", logs)
	}
	s := &adminServer{t: t, addr: addr, admin: m[1]}
	s.full = s.token("admin-job", "0123456789abcdef0123456789abcdef", "gatehouse:admin")
	s.opaque = s.token("admin-opaque", "1123456789abcdef0123456789abcdef", "gatehouse:admin")
	s.read = s.token("auditor", "2123456789abcdef0123456789abcdef", "gatehouse:admin.read")
	s.unscoped = s.token("reporting-job", "3123456789abcdef0123456789abcdef", "reports:read")
	if !strings.HasPrefix(s.opaque, "gho_") {
		t.Fatalf("admin-opaque got %q, want an opaque token", s.opaque)
	}
	status, _, body := s.call("", http.MethodGet, "/admin/v1/openapi.json", "", nil)
	if status != http.StatusOK {
		t.Fatalf("GET openapi.json: %d", status)
	}
	var err error
	if s.schemas, err = apitest.CompileSchemas(body); err != nil {
		t.Fatal(err)
	}
	return s
}

// token gets an access token by client_credentials at the token endpoint.
func (s *adminServer) token(id, secret, scope string) string {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.addr+"/oauth/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
		Scope       string `json:"scope"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || tr.AccessToken == "" || tr.Scope != scope {
		s.t.Fatalf("token for %s: %d, %+v, %v", id, resp.StatusCode, tr, err)
	}
	return tr.AccessToken
}

// call makes a request to the admin listener with the token ("" for
// none), a JSON body ("" for none) and extra headers.
func (s *adminServer) call(token, method, path, body string, header map[string]string) (int, http.Header, []byte) {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+s.admin+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// want calls and checks the status, and that the answer matches the
// documented schema (a problem for every error).
func (s *adminServer) want(token, method, path, body string, header map[string]string, status int, schema string) (http.Header, map[string]any) {
	s.t.Helper()
	got, h, b := s.call(token, method, path, body, header)
	if got != status {
		s.t.Fatalf("%s %s %s: got %d %s, want %d", method, path, body, got, b, status)
	}
	if status >= 400 {
		schema = "Problem"
		if ct := h.Get("Content-Type"); ct != "application/problem+json" {
			s.t.Errorf("%s %s: Content-Type %q, want application/problem+json", method, path, ct)
		}
	}
	var v map[string]any
	if len(b) == 0 {
		return h, nil
	}
	if err := json.Unmarshal(b, &v); err != nil {
		s.t.Fatalf("%s %s: %v: %s", method, path, err, b)
	}
	if schema != "" {
		inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err := s.schemas[schema].Validate(inst); err != nil {
			s.t.Errorf("%s %s: the answer does not match schema %s: %v\n%s", method, path, schema, err, b)
		}
	}
	return h, v
}

// pointers returns the JSON pointers (or parameters) of a problem's errors.
func pointers(problem map[string]any) []string {
	var out []string
	errs, _ := problem["errors"].([]any)
	for _, e := range errs {
		m := e.(map[string]any)
		p, _ := m["pointer"].(string)
		if p == "" {
			p, _ = m["parameter"].(string)
		}
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

func TestAdminAPI(t *testing.T) {
	s := startAdminServer(t)
	const pw = "correct horse battery staple"

	// A user, a group and an API client to name in the paths below.
	h, alice := s.want(s.full, "POST", "/admin/v1/users", `{"username":"Alice","password":"`+pw+`","email":"alice@example.com","name":"Alice"}`, nil, 201, "User")
	aliceID := alice["id"].(string)
	if alice["username"] != "alice" || h.Get("ETag") == "" || h.Get("Location") != "/admin/v1/users/"+aliceID {
		t.Fatalf("created user: %v, headers %v", alice, h)
	}
	s.want(s.full, "POST", "/admin/v1/groups", `{"name":"staff"}`, nil, 201, "Group")

	endpoints := []struct {
		method, path, body string
		write              bool
	}{
		{"GET", "/admin/v1/clients", "", false},
		{"POST", "/admin/v1/clients", `{}`, true},
		{"GET", "/admin/v1/clients/admin-job", "", false},
		{"PUT", "/admin/v1/clients/admin-job", `{}`, true},
		{"DELETE", "/admin/v1/clients/admin-job", "", true},
		{"GET", "/admin/v1/users", "", false},
		{"POST", "/admin/v1/users", `{}`, true},
		{"GET", "/admin/v1/users/" + aliceID, "", false},
		{"PATCH", "/admin/v1/users/" + aliceID, `{}`, true},
		{"DELETE", "/admin/v1/users/" + aliceID, "", true},
		{"GET", "/admin/v1/users/" + aliceID + "/sessions", "", false},
		{"DELETE", "/admin/v1/users/" + aliceID + "/sessions", "", true},
		{"DELETE", "/admin/v1/users/" + aliceID + "/sessions/x", "", true},
		{"POST", "/admin/v1/users/" + aliceID + "/factors/reset", "", true},
		{"GET", "/admin/v1/users/" + aliceID + "/consents", "", false},
		{"DELETE", "/admin/v1/users/" + aliceID + "/consents/admin-job", "", true},
		{"GET", "/admin/v1/groups", "", false},
		{"POST", "/admin/v1/groups", `{}`, true},
		{"GET", "/admin/v1/groups/staff", "", false},
		{"DELETE", "/admin/v1/groups/staff", "", true},
		{"PUT", "/admin/v1/groups/staff/members/" + aliceID, "", true},
		{"DELETE", "/admin/v1/groups/staff/members/" + aliceID, "", true},
		{"GET", "/admin/v1/keys", "", false},
		{"POST", "/admin/v1/keys/rotate", "", true},
		{"POST", "/admin/v1/keys/nokey/revoke", "", true},
		{"GET", "/admin/v1/audit", "", false},
	}
	t.Run("Refusals", func(t *testing.T) {
		for _, e := range endpoints {
			// No token, a forged one, and an ID token's worth of garbage: 401 with a challenge.
			for _, tok := range []string{"", "not-a-token", s.full[:len(s.full)-4] + "AAAA"} {
				got, h, b := s.call(tok, e.method, e.path, e.body, nil)
				if got != 401 || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer ") || !bytes.Contains(b, []byte(`"status":401`)) {
					t.Errorf("%s %s with token %.12q: got %d %q %s, want 401 with a Bearer challenge", e.method, e.path, tok, got, h.Get("WWW-Authenticate"), b)
				}
			}
			// A live token without an admin scope: 403.
			if got, h, _ := s.call(s.unscoped, e.method, e.path, e.body, nil); got != 403 || !strings.Contains(h.Get("WWW-Authenticate"), "insufficient_scope") {
				t.Errorf("%s %s with reports:read: got %d %q, want 403 insufficient_scope", e.method, e.path, got, h.Get("WWW-Authenticate"))
			}
			// The read scope: never a write.
			got, _, _ := s.call(s.read, e.method, e.path, e.body, nil)
			if e.write && got != 403 {
				t.Errorf("%s %s with gatehouse:admin.read: got %d, want 403", e.method, e.path, got)
			}
			if !e.write && got != 200 {
				t.Errorf("%s %s with gatehouse:admin.read: got %d, want 200", e.method, e.path, got)
			}
		}
		// A token in the URL is no credential.
		s.want("", "GET", "/admin/v1/users?access_token="+url.QueryEscape(s.full), "", nil, 401, "")
		// The main listener does not serve the API without admin_api_on_listen.
		if code, _ := get(t, s.addr, "/admin/v1/openapi.json"); code != 404 {
			t.Errorf("main listener: GET /admin/v1/openapi.json: %d, want 404", code)
		}
	})

	t.Run("Users", func(t *testing.T) {
		// Every problem of a body is listed, with its pointer.
		for _, bad := range []struct {
			method, path, body string
			header             map[string]string
			status             int
			want               []string
		}{
			{"POST", "/admin/v1/users", `{"username":"bob smith","password":"short","email":"nope","nick":"b","name":7}`, nil, 422, []string{"/name", "/nick"}},
			{"POST", "/admin/v1/users", `{"username":"bob smith","password":"short","email":"nope"}`, nil, 422, []string{"/email", "/password", "/username"}},
			{"POST", "/admin/v1/users", `{"email":"bob@example.com"}`, nil, 422, []string{"/password", "/username"}},
			{"POST", "/admin/v1/users", `{"username":"bob","username":"rob","password":"` + pw + `"}`, nil, 422, []string{"/username"}},
			{"POST", "/admin/v1/users", `{"username":"bob","password":"` + pw + `","disabled":true}`, nil, 422, []string{"/disabled"}},
			{"POST", "/admin/v1/users", `[1,2]`, nil, 400, []string{""}},
			{"POST", "/admin/v1/users", `{"username":"bob"} {}`, nil, 400, []string{""}},
			{"POST", "/admin/v1/users", `{"username":"alice","password":"` + pw + `"}`, nil, 409, nil},
			{"PATCH", "/admin/v1/users/" + aliceID, `{"username":"eve","email":"x","disabled":"yes","password":"short"}`, map[string]string{"If-Match": "*"}, 422, []string{"/disabled", "/username"}},
			{"PATCH", "/admin/v1/users/" + aliceID, `{"email":"x","password":"short"}`, map[string]string{"If-Match": "*"}, 422, []string{"/email", "/password"}},
			{"PATCH", "/admin/v1/users/nobody", `{"name":"x"}`, map[string]string{"If-Match": "*"}, 404, nil},
			{"GET", "/admin/v1/users?limit=0&cursor=%25%25", "", nil, 400, []string{"cursor", "limit"}},
			{"GET", "/admin/v1/users?q=" + strings.Repeat("a", 257), "", nil, 400, []string{"q"}},
			{"GET", "/admin/v1/users?q=%ff", "", nil, 400, []string{"q"}},
		} {
			_, p := s.want(s.full, bad.method, bad.path, bad.body, bad.header, bad.status, "")
			if got := pointers(p); bad.want != nil && !slices.Equal(got, bad.want) {
				t.Errorf("%s %s: problems at %q, want %q (%v)", bad.method, bad.body, got, bad.want, p)
			}
		}
		// A body that is not JSON is refused as such.
		got, _, _ := s.call(s.full, "POST", "/admin/v1/users", "", map[string]string{"Content-Type": "text/plain"})
		if got != 415 {
			t.Errorf("POST without a JSON body: got %d, want 415", got)
		}

		h, _ := s.want(s.full, "GET", "/admin/v1/users/"+aliceID, "", nil, 200, "User")
		etag := h.Get("ETag")
		s.want(s.full, "PATCH", "/admin/v1/users/"+aliceID, `{"name":"Alice L."}`, nil, 428, "")
		h, u := s.want(s.full, "PATCH", "/admin/v1/users/"+aliceID, `{"name":"Alice L.","email_verified":true}`, map[string]string{"If-Match": etag}, 200, "User")
		if u["name"] != "Alice L." || u["email_verified"] != true || h.Get("ETag") == etag {
			t.Errorf("PATCH: %v, ETag %q (was %q)", u, h.Get("ETag"), etag)
		}
		// The version read before is stale now, even for the same change.
		s.want(s.full, "PATCH", "/admin/v1/users/"+aliceID, `{"name":"Mallory"}`, map[string]string{"If-Match": etag}, 412, "")
		s.want(s.opaque, "PATCH", "/admin/v1/users/"+aliceID, `{"disabled":true}`, map[string]string{"If-Match": h.Get("ETag")}, 200, "User")

		// Pages: one user a page, followed by next links, reach every user once.
		s.want(s.full, "POST", "/admin/v1/users", `{"username":"bob","password":"`+pw+`"}`, nil, 201, "User")
		var names []string
		next := "/admin/v1/users?limit=1"
		for next != "" && len(names) < 10 {
			h, p := s.want(s.read, "GET", next, "", nil, 200, "UserPage")
			for _, it := range p["items"].([]any) {
				names = append(names, it.(map[string]any)["username"].(string))
			}
			next, _ = p["next"].(string)
			if next != "" && !strings.Contains(h.Get("Link"), `rel="next"`) {
				t.Errorf("page without a Link header: %v", h)
			}
		}
		if !slices.Equal(names, []string{"admin", "alice", "bob"}) {
			t.Errorf("paged usernames: %q, want admin, alice, bob", names)
		}
		// A search, in any case, pages too: "B" is in bob alone (and in
		// no name or email of the others).
		next = "/admin/v1/users?limit=1&q=B"
		names = nil
		for next != "" && len(names) < 10 {
			_, p := s.want(s.read, "GET", next, "", nil, 200, "UserPage")
			for _, it := range p["items"].([]any) {
				names = append(names, it.(map[string]any)["username"].(string))
			}
			next, _ = p["next"].(string)
		}
		if !slices.Equal(names, []string{"bob"}) {
			t.Errorf("users holding B: %q, want bob", names)
		}

		// A delete may name the version read: a stale one deletes nothing.
		h, carol := s.want(s.full, "POST", "/admin/v1/users", `{"username":"carol","password":"`+pw+`"}`, nil, 201, "User")
		carolPath := "/admin/v1/users/" + carol["id"].(string)
		s.want(s.full, "PATCH", carolPath, `{"name":"Carol"}`, map[string]string{"If-Match": h.Get("ETag")}, 200, "User")
		s.want(s.full, "DELETE", carolPath, "", map[string]string{"If-Match": h.Get("ETag")}, 412, "")
		h, _ = s.want(s.read, "GET", carolPath, "", nil, 200, "User")
		s.want(s.full, "DELETE", carolPath, "", map[string]string{"If-Match": h.Get("ETag")}, 204, "")
		s.want(s.read, "GET", carolPath, "", nil, 404, "")
	})

	t.Run("GroupsSessionsConsentsKeys", func(t *testing.T) {
		s.want(s.full, "PUT", "/admin/v1/groups/staff/members/"+aliceID, "", nil, 201, "Membership")
		s.want(s.full, "PUT", "/admin/v1/groups/staff/members/"+aliceID, "", nil, 200, "Membership")
		_, g := s.want(s.read, "GET", "/admin/v1/groups/staff", "", nil, 200, "Group")
		if members, _ := g["members"].([]any); len(members) != 1 || members[0] != aliceID {
			t.Errorf("staff: %v, want alice its one member", g)
		}
		s.want(s.full, "PUT", "/admin/v1/groups/nogroup/members/"+aliceID, "", nil, 404, "")
		s.want(s.full, "PUT", "/admin/v1/groups/staff/members/nobody", "", nil, 404, "")
		s.want(s.full, "POST", "/admin/v1/groups", `{"name":"staff"}`, nil, 409, "")
		_, p := s.want(s.full, "POST", "/admin/v1/groups", `{"name":"Bad Name!","extra":1}`, nil, 422, "")
		if got := pointers(p); !slices.Equal(got, []string{"/extra", "/name"}) {
			t.Errorf("group body problems: %q", got)
		}
		_, p = s.want(s.full, "POST", "/admin/v1/groups", `{"name":"Bad Name!"}`, nil, 422, "")
		if got := pointers(p); !slices.Equal(got, []string{"/name"}) {
			t.Errorf("group name problems: %q", got)
		}
		s.want(s.full, "DELETE", "/admin/v1/groups/staff/members/"+aliceID, "", nil, 204, "")
		s.want(s.full, "DELETE", "/admin/v1/groups/staff/members/"+aliceID, "", nil, 404, "")
		s.want(s.full, "DELETE", "/admin/v1/groups/staff", "", nil, 204, "")
		s.want(s.full, "DELETE", "/admin/v1/groups/staff", "", nil, 404, "")

		s.want(s.read, "GET", "/admin/v1/users/"+aliceID+"/sessions", "", nil, 200, "SessionPage")
		s.want(s.full, "DELETE", "/admin/v1/users/"+aliceID+"/sessions?revoke_tokens=maybe", "", nil, 400, "")
		s.want(s.full, "DELETE", "/admin/v1/users/"+aliceID+"/sessions?revoke_tokens=true", "", nil, 200, "Ended")
		s.want(s.full, "DELETE", "/admin/v1/users/"+aliceID+"/sessions/nosuchsession", "", nil, 404, "")
		s.want(s.full, "POST", "/admin/v1/users/nosuchuser/factors/reset", "", nil, 404, "")
		if _, got := s.want(s.full, "POST", "/admin/v1/users/"+aliceID+"/factors/reset", "", nil, 200, "FactorsReset"); got["totp"] != false || got["passkeys"] != float64(0) {
			t.Errorf("factors reset of a user without factors: %v", got)
		}
		s.want(s.read, "GET", "/admin/v1/users/"+aliceID+"/consents", "", nil, 200, "ConsentPage")
		s.want(s.full, "DELETE", "/admin/v1/users/"+aliceID+"/consents/admin-job", "", nil, 404, "")

		_, keys := s.want(s.read, "GET", "/admin/v1/keys", "", nil, 200, "KeyPage")
		_, rot := s.want(s.full, "POST", "/admin/v1/keys/rotate", "", nil, 200, "Rotated")
		if len(keys["items"].([]any)) == 0 || len(rot["created"].([]any)) == 0 {
			t.Errorf("keys %v, rotation %v", keys, rot)
		}
		s.want(s.full, "POST", "/admin/v1/keys/nokey/revoke", "", nil, 404, "")
	})

	t.Run("Clients", func(t *testing.T) {
		_, list := s.want(s.read, "GET", "/admin/v1/clients", "", nil, 200, "ClientPage")
		for _, it := range list["items"].([]any) {
			if c := it.(map[string]any); c["source"] != "file" || c["read_only"] != true {
				t.Errorf("a clients.yaml client: %v, want source file, read only", c)
			}
		}
		h, _ := s.want(s.read, "GET", "/admin/v1/clients/admin-job", "", nil, 200, "Client")
		s.want(s.full, "PUT", "/admin/v1/clients/admin-job", `{"client_name":"x"}`, map[string]string{"If-Match": h.Get("ETag")}, 409, "")
		s.want(s.full, "DELETE", "/admin/v1/clients/admin-job", "", nil, 409, "")

		_, p := s.want(s.full, "POST", "/admin/v1/clients", `{"client_id":"app","client_secret_env":"HOME","redirect_uris":["http://app.example/cb"],"grant_types":["authorization_code"],"colour":"red","token_endpoint_auth_method":"client_secret_basic"}`, nil, 422, "")
		if got := pointers(p); !slices.Contains(got, "/client_secret_env") {
			t.Errorf("client body problems: %q, want /client_secret_env", got)
		}
		_, p = s.want(s.full, "POST", "/admin/v1/clients", `{"client_id":"app","client_secret":"4123456789abcdef0123456789abcdef","redirect_uris":["http://app.example/cb"],"grant_types":["authorization_code"],"colour":"red"}`, nil, 422, "")
		if got := pointers(p); !slices.Contains(got, "/redirect_uris/0") || !slices.Contains(got, "/colour") {
			t.Errorf("client body problems: %q, want /redirect_uris/0 and /colour", got)
		}
		body := `{"client_id":"app","client_name":"App","client_secret":"4123456789abcdef0123456789abcdef","redirect_uris":["https://app.example/cb"],"grant_types":["authorization_code"],"response_types":["code"]}`
		h, c := s.want(s.full, "POST", "/admin/v1/clients", body, nil, 201, "Client")
		if c["source"] != "api" || c["read_only"] != false || h.Get("ETag") != `"v1"` {
			t.Errorf("created client: %v %v", c, h)
		}
		s.want(s.full, "POST", "/admin/v1/clients", body, nil, 409, "")
		renamed := strings.Replace(body, `"App"`, `"App 2"`, 1)
		s.want(s.full, "PUT", "/admin/v1/clients/app", renamed, nil, 428, "")
		s.want(s.full, "PUT", "/admin/v1/clients/app", renamed, map[string]string{"If-Match": `"v7"`}, 412, "")
		s.want(s.full, "PUT", "/admin/v1/clients/app", `{"client_id":"other"}`, map[string]string{"If-Match": `"v1"`}, 422, "")
		h, c = s.want(s.full, "PUT", "/admin/v1/clients/app", `{"client_name":"App 2","redirect_uris":["https://app.example/cb"],"grant_types":["authorization_code"],"response_types":["code"]}`, map[string]string{"If-Match": `"v1"`}, 200, "Client")
		if c["client_name"] != "App 2" || h.Get("ETag") != `"v2"` {
			t.Errorf("updated client: %v %v", c, h)
		}
		s.want(s.full, "PUT", "/admin/v1/clients/app", renamed, map[string]string{"If-Match": `"v1"`}, 412, "")
		s.want(s.full, "DELETE", "/admin/v1/clients/app", "", map[string]string{"If-Match": `"v1"`}, 412, "")
		s.want(s.read, "GET", "/admin/v1/clients/app", "", nil, 200, "Client")
		s.want(s.full, "DELETE", "/admin/v1/clients/app", "", nil, 204, "")
		s.want(s.read, "GET", "/admin/v1/clients/app", "", nil, 404, "")
	})

	t.Run("Audit", func(t *testing.T) {
		s.want(s.read, "GET", "/admin/v1/audit?since=yesterday&limit=5000&colour=red", "", nil, 400, "")
		var kinds []string
		by := map[string]string{}
		collect := func() {
			kinds, by = nil, map[string]string{}
			next := "/admin/v1/audit?limit=3"
			for page := 0; next != "" && page < 50; page++ {
				_, p := s.want(s.read, "GET", next, "", nil, 200, "EventPage")
				for _, it := range p["items"].([]any) {
					e := it.(map[string]any)
					kinds = append(kinds, e["kind"].(string))
					if d, _ := e["detail"].(string); strings.Contains(d, "by=client:") {
						by[e["kind"].(string)] = e["actor"].(string) + " " + d[strings.Index(d, "by="):]
					}
				}
				next, _ = p["next"].(string)
			}
		}
		// The audit sink writes in the background (within 200 ms).
		eventually(t, "the API's changes in the audit trail", func() bool {
			collect()
			return by["client_deleted"] != "" && by["key_rotated"] != ""
		})
		// Paged by three, the trail is the one page of a large limit.
		_, all := s.want(s.read, "GET", "/admin/v1/audit?limit=1000", "", nil, 200, "EventPage")
		var allKinds []string
		for _, it := range all["items"].([]any) {
			allKinds = append(allKinds, it.(map[string]any)["kind"].(string))
		}
		if !slices.Equal(kinds, allKinds) {
			t.Errorf("paged kinds %q, want %q", kinds, allKinds)
		}
		for kind, want := range map[string]string{
			"user_created": "client by=client:admin-job", "user_updated": "client by=client:admin-job",
			"user_disabled": "client by=client:admin-opaque", "group_created": "client by=client:admin-job",
			"group_member_added": "client by=client:admin-job", "key_rotated": "client by=client:admin-job",
			"client_created": "client by=client:admin-job", "client_changed": "client by=client:admin-job",
			"client_deleted": "client by=client:admin-job",
		} {
			if by[kind] != want {
				t.Errorf("audit %s: %q, want %q (kinds %q)", kind, by[kind], want, kinds)
			}
		}
	})
}
