package adminapi

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
)

// Bounds of a list's page (the limit query parameter).
const (
	defaultLimit = 50
	maxLimit     = 500
)

// page is one page of a list: its items and, when more follow, the
// cursor of the next page and its URL (also sent as a Link header,
// rel="next").
type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
	Next       string `json:"next,omitempty"`
}

// pageQuery is a list request's cursor (decoded: the key after which the
// page starts, "" for the first) and limit.
type pageQuery struct {
	after string
	limit int
}

// readPage reads the cursor and limit parameters; bad ones are listed.
func readPage(q url.Values, bad *[]fieldProblem) pageQuery {
	pq := pageQuery{limit: defaultLimit}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			*bad = append(*bad, fieldProblem{Parameter: "limit", Detail: "want a whole number from 1 to " + strconv.Itoa(maxLimit)})
		} else {
			pq.limit = n
		}
	}
	if v := q.Get("cursor"); v != "" {
		after, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || len(after) == 0 {
			*bad = append(*bad, fieldProblem{Parameter: "cursor", Detail: "not a cursor this API gave out"})
		} else {
			pq.after = string(after)
		}
	}
	return pq
}

// paginate returns the page of items (sorted by key, ascending) that
// follows pq.after, with the next page's link when more follow.
func paginate[T any](r *http.Request, items []T, key func(T) string, pq pageQuery) page[T] {
	start := 0
	if pq.after != "" {
		for start < len(items) && key(items[start]) <= pq.after {
			start++
		}
	}
	end := min(start+pq.limit, len(items))
	p := page[T]{Items: items[start:end]}
	if p.Items == nil {
		p.Items = []T{}
	}
	if end < len(items) {
		p.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(key(items[end-1])))
		p.Next = nextURL(r, p.NextCursor)
	}
	return p
}

// nextURL is the request's URL with its cursor replaced.
func nextURL(r *http.Request, cursor string) string {
	q := r.URL.Query()
	q.Set("cursor", cursor)
	return r.URL.Path + "?" + q.Encode()
}

// writePage answers a page, with a Link header to the next one.
func writePage[T any](w http.ResponseWriter, p page[T]) {
	if p.Next != "" {
		w.Header().Set("Link", "<"+p.Next+`>; rel="next"`)
	}
	writeJSON(w, http.StatusOK, p)
}
