package adminapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/gatehouse-idp/gatehouse/admin"
	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// Problem types (RFC 9457 §3.1.1): URNs that say what went wrong, the
// same for every endpoint.
const (
	typeUnauthorized     = "urn:gatehouse:problem:unauthorized"
	typeForbidden        = "urn:gatehouse:problem:forbidden"
	typeNotFound         = "urn:gatehouse:problem:not-found"
	typeMethod           = "urn:gatehouse:problem:method-not-allowed"
	typeInvalidBody      = "urn:gatehouse:problem:invalid-body"
	typeInvalidQuery     = "urn:gatehouse:problem:invalid-query"
	typeConflict         = "urn:gatehouse:problem:conflict"
	typePrecondition     = "urn:gatehouse:problem:precondition-failed"
	typeIfMatchRequired  = "urn:gatehouse:problem:if-match-required"
	typeUnsupportedMedia = "urn:gatehouse:problem:unsupported-media-type"
	typeReadOnly         = "urn:gatehouse:problem:read-only"
	typeUnavailable      = "urn:gatehouse:problem:unavailable"
)

// problemDoc is an RFC 9457 problem details object; Errors lists every
// problem of a request body or query, each with a JSON pointer (RFC 6901)
// into the body, or the query parameter's name.
type problemDoc struct {
	Type     string         `json:"type"`
	Title    string         `json:"title"`
	Status   int            `json:"status"`
	Detail   string         `json:"detail,omitempty"`
	Instance string         `json:"instance,omitempty"`
	Errors   []fieldProblem `json:"errors,omitempty"`
}

type fieldProblem struct {
	Pointer   string `json:"pointer,omitempty"`
	Parameter string `json:"parameter,omitempty"`
	Detail    string `json:"detail"`
}

func (a *API) problem(w http.ResponseWriter, r *http.Request, status int, typ, detail string, errs ...fieldProblem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(problemDoc{
		Type: typ, Title: http.StatusText(status), Status: status, Detail: detail,
		Instance: r.URL.Path, Errors: errs,
	})
}

// storeError answers a failure of the store (or of anything the API
// cannot help): 503 with Retry-After, and no internal text.
func (a *API) storeError(w http.ResponseWriter, r *http.Request, what string, err error) {
	a.log.ErrorContext(r.Context(), "admin api: "+what, "err", err, "path", r.URL.Path)
	w.Header().Set("Retry-After", "5")
	a.problem(w, r, http.StatusServiceUnavailable, typeUnavailable, "The store did not answer; try again shortly.")
}

// actionError answers the error of an admin action: its Invalid problems
// as 422, a conflict as 409, not found as 404, a stale version as 412, and
// anything else as a store failure. A change made but not recorded is
// reported as a failure too: the caller should know the trail lacks it.
func (a *API) actionError(w http.ResponseWriter, r *http.Request, what string, err error) {
	var bad admin.Invalid
	switch {
	case errors.As(err, &bad):
		a.problem(w, r, http.StatusUnprocessableEntity, typeInvalidBody, "The request body has problems; each is listed.", pointerProblems(bad)...)
	case errors.Is(err, admin.ErrChanged), errors.Is(err, storage.ErrStale):
		a.problem(w, r, http.StatusPreconditionFailed, typePrecondition, "It changed since the version your If-Match names: read it again.")
	case errors.Is(err, storage.ErrNotFound):
		a.problem(w, r, http.StatusNotFound, typeNotFound, "There is no such "+what+".")
	case errors.Is(err, storage.ErrConflict):
		a.problem(w, r, http.StatusConflict, typeConflict, "A "+what+" with that name exists already.")
	default:
		a.storeError(w, r, what, err)
	}
}

// fieldPath matches one step of a clientpolicy field path: a name, or
// [index].
var fieldPath = regexp.MustCompile(`[^.\[\]]+|\[\d+\]`)

// pointerProblems turns problems with field paths ("redirect_uris[0]")
// into JSON pointers ("/redirect_uris/0").
func pointerProblems(ps clientpolicy.Problems) []fieldProblem {
	out := make([]fieldProblem, len(ps))
	for i, p := range ps {
		out[i] = fieldProblem{Pointer: pointer(p.Field), Detail: p.Msg}
	}
	return out
}

func pointer(field string) string {
	var b strings.Builder
	for _, step := range fieldPath.FindAllString(field, -1) {
		step = strings.Trim(step, "[]")
		b.WriteString("/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(step))
	}
	return b.String()
}

// maxBody bounds a request body.
const maxBody = 64 << 10

// readObject reads the request body, which must be one JSON object
// (Content-Type application/json), and returns its members. Duplicate
// and unknown members (not in known; nil knows every name) are problems, each listed; a body
// that is not a JSON object is answered here (ok false).
func (a *API) readObject(w http.ResponseWriter, r *http.Request, known ...string) (members map[string]json.RawMessage, bad []fieldProblem, ok bool) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		a.problem(w, r, http.StatusUnsupportedMediaType, typeUnsupportedMedia, "Send the body as application/json.")
		return nil, nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		a.problem(w, r, http.StatusRequestEntityTooLarge, typeInvalidBody, fmt.Sprintf("The body is larger than %d bytes.", maxBody))
		return nil, nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		a.problem(w, r, http.StatusBadRequest, typeInvalidBody, "The body is not a JSON object.", fieldProblem{Pointer: "", Detail: "want a JSON object"})
		return nil, nil, false
	}
	members = map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			break
		}
		name, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			a.problem(w, r, http.StatusBadRequest, typeInvalidBody, "The body is not valid JSON.", fieldProblem{Pointer: pointer(name), Detail: "not valid JSON"})
			return nil, nil, false
		}
		switch _, dup := members[name]; {
		case dup:
			bad = append(bad, fieldProblem{Pointer: pointer(name), Detail: "given twice"})
		case known != nil && !slices.Contains(known, name):
			bad = append(bad, fieldProblem{Pointer: pointer(name), Detail: "unknown member; known: " + strings.Join(known, ", ")})
		}
		members[name] = v
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		a.problem(w, r, http.StatusBadRequest, typeInvalidBody, "The body is not valid JSON.", fieldProblem{Pointer: "", Detail: "not valid JSON"})
		return nil, nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		a.problem(w, r, http.StatusBadRequest, typeInvalidBody, "The body has something after its JSON object.", fieldProblem{Pointer: "", Detail: "one JSON object only"})
		return nil, nil, false
	}
	return members, bad, true
}

// member decodes members[name] into *v when present (it reports whether
// it was), adding a problem when it is null or of another JSON type.
func member[T any](members map[string]json.RawMessage, name, want string, v *T, bad *[]fieldProblem) bool {
	raw, ok := members[name]
	if !ok {
		return false
	}
	if string(raw) == "null" || json.Unmarshal(raw, v) != nil {
		*bad = append(*bad, fieldProblem{Pointer: pointer(name), Detail: "want " + want})
		return false
	}
	return true
}

// writeJSON answers v with status as application/json.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
