package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// auditStore is what the audit trail's page reads.
type auditStore interface {
	AuditEvents(ctx context.Context, q storage.AuditQuery) ([]storage.AuditEvent, error)
}

type auditData struct {
	frame
	// The filters as given, shown again in the form.
	Kind, User, Client, Since, Until string
	Events                           []eventRow
	// Next is the address of the next (older) page; "" at the end.
	Next string
}

type eventRow struct {
	storage.AuditEvent
	Username string
}

// minuteLayout is how the filter form writes times (<input
// type=datetime-local>), read as UTC.
const minuteLayout = "2006-01-02T15:04"

// auditPage shows the audit trail newest first, pageSize events at a
// time, filtered by kind, user (username or id), client and time (since,
// until: UTC minutes), with ?before= the cursor of the next page.
func (c *Console) auditPage(v *visit) {
	q := v.r.URL.Query()
	data := auditData{frame: c.frame(v, "Audit trail", "audit"),
		Kind: q.Get("kind"), User: q.Get("user"), Client: q.Get("client"), Since: q.Get("since"), Until: q.Get("until")}
	query, problem, err := c.auditQuery(v.r.Context(), q)
	if err != nil {
		c.serverError(v.w, v.r, "audit user", err)
		return
	}
	if problem != "" {
		data.Kind, data.User, data.Client, data.Since, data.Until = "", "", "", "", ""
		data.Error = problem
		c.render(v.w, v.r, http.StatusBadRequest, "audit", data)
		return
	}
	query.Limit = pageSize + 1
	events, err := c.store.AuditEvents(v.r.Context(), query)
	if err != nil {
		c.serverError(v.w, v.r, "audit events", err)
		return
	}
	if len(events) > pageSize {
		events = events[:pageSize]
		last := events[len(events)-1]
		next := url.Values{}
		for _, k := range []string{"kind", "user", "client", "since", "until"} {
			if q.Get(k) != "" {
				next.Set(k, q.Get(k))
			}
		}
		next.Set("before", storage.AuditCursor{Time: last.Time, ID: last.ID}.String())
		data.Next = "/admin/audit?" + next.Encode()
	}
	data.Events = c.eventRows(v.r.Context(), events, nil)
	c.render(v.w, v.r, http.StatusOK, "audit", data)
}

// auditQuery reads the filters of q into a store query, or says what is
// wrong with them (problem); err is a failed user lookup. Every value is
// parsed here, strictly; nothing of the query string reaches the store but
// as a parameter.
func (c *Console) auditQuery(ctx context.Context, q url.Values) (aq storage.AuditQuery, problem string, err error) {
	if k := q.Get("kind"); k != "" {
		if len(k) > 64 || strings.Trim(k, "abcdefghijklmnopqrstuvwxyz_") != "" {
			return aq, "An event kind is lower-case letters and underscores, such as sign_in.", nil
		}
		aq.Kind = k
	}
	if cl := q.Get("client"); cl != "" {
		if len(cl) > maxQuery {
			return aq, "That client id is too long.", nil
		}
		aq.ClientID = cl
	}
	if u := q.Get("user"); u != "" {
		if len(u) > maxQuery {
			return aq, "That user is too long a name.", nil
		}
		// A username, or else the id itself (a deleted user's events keep
		// their id).
		aq.UserID = u
		switch found, err := c.store.UserByUsername(ctx, loginui.CanonicalUsername(u)); {
		case err == nil:
			aq.UserID = found.ID
		case !errors.Is(err, storage.ErrNotFound):
			return aq, "", err
		}
	}
	if s := q.Get("since"); s != "" {
		if aq.Since, err = time.Parse(minuteLayout, s); err != nil {
			return aq, "“Since” is a date and time such as 2026-12-06T09:30 (UTC).", nil
		}
	}
	if s := q.Get("until"); s != "" {
		until, err := time.Parse(minuteLayout, s)
		if err != nil {
			return aq, "“Until” is a date and time such as 2026-12-06T09:30 (UTC).", nil
		}
		// Every event up to the end of that minute: the cursor of an
		// event after all of them.
		aq.Before = storage.AuditCursor{Time: until.Add(time.Minute), ID: 1}
	}
	if b := q.Get("before"); b != "" {
		cur, ok := storage.ParseAuditCursor(b)
		if !ok || cur.Time.UnixNano() <= 0 {
			return aq, "That page of the audit trail does not exist: start again from the first page.", nil
		}
		if aq.Before.ID == 0 || cur.Time.Before(aq.Before.Time) {
			aq.Before = cur
		}
	}
	return aq, "", nil
}

// eventRows names the users of events: from known (id → username), else
// read once per user; a user gone shows only their id.
func (c *Console) eventRows(ctx context.Context, events []storage.AuditEvent, known map[string]string) []eventRow {
	if known == nil {
		known = map[string]string{}
	}
	rows := make([]eventRow, 0, len(events))
	for _, ev := range events {
		name, ok := known[ev.UserID]
		if !ok && ev.UserID != "" {
			if u, err := c.store.UserByID(ctx, ev.UserID); err == nil {
				name = u.Username
			}
			known[ev.UserID] = name
		}
		rows = append(rows, eventRow{AuditEvent: ev, Username: name})
	}
	return rows
}
