package provider

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-idp/gatehouse/logging"
)

// documentedRequestID is the X-Request-Id Gatehouse takes from a caller, as
// README documents it: 1 to 64 characters of A-Z a-z 0-9 . _ -.
var documentedRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// FuzzRequestID sends zero, one or two X-Request-Id values through the
// request-id middleware to a handler that logs one line. It checks: the
// response carries exactly one id; a single value of the documented form
// is kept as it is, anything else (another form, or two values) is
// replaced by a generated id (22 base64url characters); and the log holds
// exactly the handler's one line, with the response's id as request_id
// and nothing of a replaced value.
func FuzzRequestID(f *testing.F) {
	for _, s := range []struct {
		a, b string
		n    uint8
	}{
		{"lb-7f3a.9_Z", "", 1},
		{strings.Repeat("a", 64), "", 1},
		{strings.Repeat("a", 65), "", 1},
		{"", "", 1},
		{"", "", 0},
		{"a b", "", 1},
		{"a\nb", "", 1},
		{"req\n{\"msg\":\"forged\",\"level\":\"ERROR\"}", "", 1},
		{`a","admin":true`, "", 1},
		{"one-id-value", "two-id-value", 2},
		{"ünïcödé-request", "", 1},
		{"\x00\x1b[31mred", "", 1},
		{"%0a%0d", "", 1},
	} {
		f.Add(s.a, s.b, s.n)
	}
	e := newFuzzEnv(f)
	var logs bytes.Buffer
	log := slog.New(logging.NewHandler(slog.NewJSONHandler(&logs, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{} // the time could hold any short id by chance
			}
			return a
		},
	})))
	h := e.p.withRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.InfoContext(r.Context(), "fuzz request")
	}))
	f.Fuzz(func(t *testing.T, a, b string, n uint8) {
		values := []string{a, b}[:n%3]
		req := httptest.NewRequest(http.MethodGet, testIssuer+"/healthz", nil)
		for _, v := range values {
			req.Header.Add(requestIDHeader, v)
		}
		logs.Reset()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Header().Values(requestIDHeader)
		if len(got) != 1 {
			t.Fatalf("X-Request-Id values %q for %q, want one", got, values)
		}
		id := got[0]
		kept := len(values) == 1 && documentedRequestID.MatchString(values[0])
		switch {
		case kept && id != values[0]:
			t.Fatalf("X-Request-Id %q replaced by %q, want it kept", values[0], id)
		case !kept && !generatedRequestID.MatchString(id):
			t.Fatalf("X-Request-Id %q for %q, want a generated id", id, values)
		}
		// The one line the handler logs, and nothing of a replaced value.
		quoted, _ := json.Marshal(id)
		if want := `{"level":"INFO","msg":"fuzz request","request_id":` + string(quoted) + "}\n"; logs.String() != want {
			t.Fatalf("log for X-Request-Id %q: got %q, want %q", values, logs.String(), want)
		}
	})
}
