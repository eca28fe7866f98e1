package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const auditUsage = `Usage:
  gatehouse audit [--user USERNAME] [--client CLIENT_ID] [--since DURATION|TIME] [--limit N] [--json]

Prints the audit trail, newest first: sign-ins (failed and throttled ones too),
sign-outs and ended sessions, consents given and withdrawn, tokens issued and
refreshed, refresh token and code reuse, revoked token families, back-channel
logout deliveries, signing key rotations, and what operators did with
gatehouse users, sessions and keys, and clients.yaml syncs. Each line: the time
(UTC), the kind of event, who caused it (user, client, operator or system), the
user (username, or id when unknown), the client, the first 8 characters of the
session id, the IP address and details.

  --user USERNAME     only events of this user
  --client CLIENT_ID  only events of this client
  --since D|TIME      only events since then: a time back from now (90m, 24h, 7d),
                      an RFC 3339 time (2025-01-31T09:30:00Z) or a date (2025-01-31, UTC)
  --limit N           at most N events (default 100, at most 10000)
  --json              one JSON object per line instead of a table

The server keeps events for audit_retention (default 2160h, 90 days); every
event is also in the server's log.

Examples:
  gatehouse audit
  gatehouse audit --user alice --since 7d
  gatehouse audit --client my-app --since 2025-01-31T00:00:00Z --limit 1000
  gatehouse audit --json --since 24h | jq 'select(.kind == "sign_in_failed")'
`

// auditCommandLimit is how many events gatehouse audit prints by default.
const auditCommandLimit = 100

func auditCommand(ctx context.Context, env environment, args []string) error {
	fs := newFlagSet("audit", env)
	load := configFlag(fs, env)
	username := fs.String("user", "", "only events of this user")
	clientID := fs.String("client", "", "only events of this client")
	since := fs.String("since", "", "only events since then")
	limit := fs.Int("limit", auditCommandLimit, "at most this many events")
	asJSON := fs.Bool("json", false, "JSON lines")
	if done, err := parseNoArgs(fs, args, env, auditUsage); done {
		return err
	}
	now := time.Now()
	q := storage.AuditQuery{ClientID: *clientID, Limit: *limit}
	if *limit < 1 || *limit > storage.MaxAuditLimit {
		return fmt.Errorf("--limit %d: give a number from 1 to %d", *limit, storage.MaxAuditLimit)
	}
	if *since != "" {
		var err error
		if q.Since, err = parseSince(*since, now); err != nil {
			return err
		}
	}
	_, store, err := openCommandStores(ctx, load, sqlOnly)
	if err != nil {
		return err
	}
	defer store.Close()

	if *username != "" {
		u, err := userByName(ctx, store, *username)
		if err != nil {
			return err
		}
		q.UserID = u.ID
	}
	events, err := store.AuditEvents(ctx, q)
	if err != nil {
		return err
	}
	// A client that no longer exists (deleted through the admin API or its
	// registration) still has its events; an id that names no client and
	// no event is most likely mistyped.
	if q.ClientID != "" && len(events) == 0 {
		clients, err := store.ListClients(ctx)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(clients, func(c storage.Client) bool { return c.ID == q.ClientID }) {
			return fmt.Errorf("no client %q, and no events of one (disabled clients count too)", q.ClientID)
		}
	}
	names := usernames(ctx, store)
	if *asJSON {
		return printAuditJSON(env, events, names)
	}
	return printAuditTable(env, events, names)
}

// parseSince reads --since: a positive duration back from now (Go's
// syntax, or whole days with a d suffix), an RFC 3339 time, or a date
// (midnight UTC).
func parseSince(s string, now time.Time) (time.Time, error) {
	bad := func(why string) error {
		return fmt.Errorf("--since %q: %s; give a time back from now (90m, 24h, 7d) or an RFC 3339 time (2025-01-31T00:00:00Z)", s, why)
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n > 100*365 {
			return time.Time{}, bad("not a number of days up to 36500")
		}
		d = time.Duration(n) * 24 * time.Hour
	} else if v, err := time.ParseDuration(s); err == nil {
		d = v
	} else if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	} else if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil // midnight UTC
	} else {
		return time.Time{}, bad("not a duration or a time")
	}
	if d <= 0 {
		return time.Time{}, bad("the duration must be more than 0")
	}
	return now.Add(-d), nil
}

// usernames returns a lookup of the username of a user id that remembers
// its answers; an id that names no user (or a failed lookup) is its own
// answer.
func usernames(ctx context.Context, store *stores) func(id string) string {
	known := make(map[string]string)
	return func(id string) string {
		if id == "" {
			return ""
		}
		name, ok := known[id]
		if !ok {
			name = id
			if u, err := store.UserByID(ctx, id); err == nil {
				name = u.Username
			}
			known[id] = name
		}
		return name
	}
}

// printAuditTable prints events as a table; text that came from browsers
// or clients is made safe for a terminal.
func printAuditTable(env environment, events []storage.AuditEvent, username func(string) string) error {
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tKIND\tACTOR\tUSER\tCLIENT\tSESSION\tIP\tDETAIL")
	for _, e := range events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.UTC().Format(time.RFC3339),
			printable(e.Kind), orDash(printable(e.Actor)), orDash(printable(username(e.UserID))),
			orDash(printable(e.ClientID)), orDash(printable(e.SessionID)), orDash(printable(e.IP)),
			orDash(shorten(printable(e.Detail), 100)))
	}
	return tw.Flush()
}

// auditLine is one event of gatehouse audit --json.
type auditLine struct {
	ID        int64  `json:"id"`
	Time      string `json:"time"`
	Kind      string `json:"kind"`
	Actor     string `json:"actor"`
	UserID    string `json:"user_id,omitempty"`
	Username  string `json:"username,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	SIDPrefix string `json:"sid_prefix,omitempty"`
	Family    string `json:"family,omitempty"`
	IP        string `json:"ip,omitempty"`
	Detail    string `json:"detail,omitempty"`
}

// printAuditJSON prints events as JSON lines, newest first.
func printAuditJSON(env environment, events []storage.AuditEvent, username func(string) string) error {
	enc := json.NewEncoder(env.stdout)
	enc.SetEscapeHTML(false)
	for _, e := range events {
		line := auditLine{
			ID: e.ID, Time: e.Time.UTC().Format(time.RFC3339Nano), Kind: e.Kind, Actor: e.Actor,
			UserID: e.UserID, ClientID: e.ClientID, SIDPrefix: e.SessionID, Family: e.Family, IP: e.IP, Detail: e.Detail,
		}
		if name := username(e.UserID); name != e.UserID {
			line.Username = name
		}
		if err := enc.Encode(line); err != nil {
			return err
		}
	}
	return nil
}
