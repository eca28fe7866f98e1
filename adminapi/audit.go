package adminapi

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// eventView is one audit event.
type eventView struct {
	ID        int64  `json:"id"`
	Time      string `json:"time"`
	Kind      string `json:"kind"`
	Actor     string `json:"actor"`
	UserID    string `json:"user_id,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	SessionID string `json:"session_id,omitempty"`
	Family    string `json:"family,omitempty"`
	IP        string `json:"ip,omitempty"`
	Detail    string `json:"detail,omitempty"`
}

// maxAuditPage bounds one page of the audit trail.
const maxAuditPage = 1000

// queryAudit answers the audit trail, newest first, filtered by user_id,
// client_id and since, a page at a time: the cursor is the last event's
// time and id.
func (a *API) queryAudit(w http.ResponseWriter, r *http.Request) {
	qv := r.URL.Query()
	var bad []fieldProblem
	q := storage.AuditQuery{UserID: qv.Get("user_id"), ClientID: qv.Get("client_id"), Limit: defaultLimit}
	if v := qv.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			bad = append(bad, fieldProblem{Parameter: "since", Detail: "want an RFC 3339 time, such as 2026-01-02T15:04:05Z"})
		}
		q.Since = t
	}
	if v := qv.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAuditPage {
			bad = append(bad, fieldProblem{Parameter: "limit", Detail: "want a whole number from 1 to " + strconv.Itoa(maxAuditPage)})
		}
		q.Limit = n
	}
	if v := qv.Get("cursor"); v != "" {
		c, ok := parseAuditCursor(v)
		if !ok {
			bad = append(bad, fieldProblem{Parameter: "cursor", Detail: "not a cursor this API gave out"})
		}
		q.Before = c
	}
	for name := range qv {
		switch name {
		case "user_id", "client_id", "since", "limit", "cursor":
		default:
			bad = append(bad, fieldProblem{Parameter: name, Detail: "unknown parameter; known: user_id, client_id, since, limit, cursor"})
		}
	}
	if bad != nil {
		a.problem(w, r, http.StatusBadRequest, typeInvalidQuery, "The query has problems; each is listed.", bad...)
		return
	}
	events, err := a.cfg.Store.AuditEvents(r.Context(), q)
	if err != nil {
		a.storeError(w, r, "audit events", err)
		return
	}
	p := page[eventView]{Items: make([]eventView, len(events))}
	for i, e := range events {
		p.Items[i] = eventView{ID: e.ID, Time: stamp(e.Time), Kind: e.Kind, Actor: e.Actor, UserID: e.UserID,
			ClientID: e.ClientID, SessionID: e.SessionID, Family: e.Family, IP: e.IP, Detail: e.Detail}
	}
	// A full page may have more after it; the next page says if not.
	if len(events) == q.Limit {
		last := events[len(events)-1]
		p.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(storage.AuditCursor{Time: last.Time, ID: last.ID}.String()))
		p.Next = nextURL(r, p.NextCursor)
	}
	writePage(w, p)
}

func parseAuditCursor(v string) (storage.AuditCursor, bool) {
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return storage.AuditCursor{}, false
	}
	return storage.ParseAuditCursor(string(b))
}
