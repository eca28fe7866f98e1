package main

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// testdata/login.html is a real Gatehouse login page, and the
// *_response.txt files the headers of real answers (sign-in, sign-out),
// captured from a running server.

func TestHiddenFieldsOfLoginPage(t *testing.T) {
	page, err := os.ReadFile(filepath.Join("testdata", "login.html"))
	if err != nil {
		t.Fatal(err)
	}
	got := hiddenFields(page)
	want := url.Values{
		"csrf_token": {"3FKryLkm5wKtRh18op-T5MYuZIldPNTjmwvt_q2-wGY"},
		"id":         {"9rwbRdKaz0Pvf9s2AJ8tsA"},
	}
	if got.Encode() != want.Encode() {
		t.Errorf("hidden fields: got %v, want %v (visible inputs and the checkbox left out)", got, want)
	}
	base, _ := url.Parse("http://localhost:8080/login?id=9rwbRdKaz0Pvf9s2AJ8tsA")
	action, err := formAction(page, base)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := action.String(), "http://localhost:8080/login"; got != want {
		t.Errorf("form action: got %s, want %s", got, want)
	}
}

func TestHiddenFieldsParsing(t *testing.T) {
	cases := []struct {
		name, page string
		want       url.Values
	}{
		{"entities decoded", `<input type="hidden" name="csrf_token" value="a&#43;b&amp;c&#61;">`, url.Values{"csrf_token": {"a+b&c="}}},
		{"attribute order and case", `<INPUT value="v1" NAME="id" Type="HIDDEN">`, url.Values{"id": {"v1"}}},
		{"across lines", "<input\n type=\"hidden\"\n name=\"id\"\n value=\"x\">", url.Values{"id": {"x"}}},
		{"not hidden", `<input type="text" name="username" value="alice">`, url.Values{}},
		{"no name", `<input type="hidden" value="x">`, url.Values{}},
		{"empty value", `<input type="hidden" name="id" value="">`, url.Values{"id": {""}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := hiddenFields([]byte(tc.page)); got.Encode() != tc.want.Encode() {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// readResponse parses a captured response (status line and headers).
func readResponse(t *testing.T, name string) *http.Response {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	resp, err := http.ReadResponse(bufio.NewReader(f), nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestKeepCookies(t *testing.T) {
	jar := map[string]string{"__Host-gatehouse-browser": "before-sign-in"}
	keepCookies(jar, readResponse(t, "login_response.txt"))
	want := map[string]string{
		"__Host-gatehouse-session": "CUv7dMfHJZBrniZ2RrAwXMwpM6hMsN-wKHM7M671Rr8",
		"__Host-gatehouse-browser": "3PzQdPMxlEbUfouRpjRmeYawDmbMmlqDLd8F0Al3LjY",
	}
	if !equalMaps(jar, want) {
		t.Fatalf("after sign-in: got %v, want %v (new session, browser binding renewed)", jar, want)
	}
	keepCookies(jar, readResponse(t, "logout_response.txt"))
	delete(want, "__Host-gatehouse-session")
	if !equalMaps(jar, want) {
		t.Errorf("after sign-out: got %v, want %v (the session cookie cleared)", jar, want)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// The browser sends its __Host- cookies back over plain http, which
// net/http/cookiejar would not, and sends none once a flow starts afresh.
func TestBrowserSendsCookiesOverHTTP(t *testing.T) {
	var gotCookie []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotCookie = append(gotCookie, r.Header.Get("Cookie"))
		http.SetCookie(w, &http.Cookie{Name: "__Host-gatehouse-session", Value: "s1", Path: "/", Secure: true, HttpOnly: true})
		http.Redirect(w, r, "/next", http.StatusFound)
	}))
	defer srv.Close()
	b := &browser{client: newHTTPClient(1, 0)}
	b.newFlow()
	ctx := context.Background()
	for range 2 {
		a, err := b.do(ctx, request{step: "test", method: http.MethodGet, url: srv.URL + "/", want: []int{http.StatusFound}})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := a.location.String(), srv.URL+"/next"; got != want {
			t.Errorf("location: got %s, want %s (resolved, not followed)", got, want)
		}
	}
	b.newFlow()
	if _, err := b.do(ctx, request{step: "test", method: http.MethodGet, url: srv.URL + "/", want: []int{http.StatusFound}}); err != nil {
		t.Fatal(err)
	}
	want := []string{"", "__Host-gatehouse-session=s1", ""}
	if strings.Join(gotCookie, "|") != strings.Join(want, "|") {
		t.Errorf("Cookie headers: got %q, want %q", gotCookie, want)
	}
	if b.requests != 3 {
		t.Errorf("requests: got %d, want 3", b.requests)
	}
}

func TestUnexpectedAnswerKinds(t *testing.T) {
	page, err := os.ReadFile(filepath.Join("testdata", "login.html"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		a        answer
		wantKind string
		wantText string
	}{
		{"oauth error", answer{status: 400, body: []byte(`{"error":"invalid_grant","error_description":"code used"}`)},
			"HTTP 400 invalid_grant at token", "code used"},
		{"html page", answer{status: 403, body: page}, "HTTP 403 at token", "Sign in"},
		{"bare status", answer{status: 503}, "HTTP 503 at token", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := unexpected("token", tc.a)
			if got := errorKind(err); got != tc.wantKind {
				t.Errorf("kind: got %q, want %q", got, tc.wantKind)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("message %q does not contain %q", err.Error(), tc.wantText)
			}
		})
	}
	refused := &transportError{step: "token", err: &url.Error{Op: "Post", URL: "http://x", Err: errors.New("boom")}}
	if got, want := errorKind(refused), "transport error at token"; got != want {
		t.Errorf("transport kind: got %q, want %q", got, want)
	}
}

func TestParseConcurrency(t *testing.T) {
	cases := []struct {
		in   string
		want []int
		ok   bool
	}{
		{"8", []int{8}, true},
		{"1,8,32", []int{1, 8, 32}, true},
		{" 2 , 4", []int{2, 4}, true},
		{"0", nil, false},
		{"1,,2", nil, false},
		{"x", nil, false},
	}
	for _, tc := range cases {
		got, err := parseConcurrency(tc.in)
		if (err == nil) != tc.ok || !slices.Equal(got, tc.want) {
			t.Errorf("parseConcurrency(%q): got %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
