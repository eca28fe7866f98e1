package storagetest

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

var auditTests = []test{
	{"AppendAndList", testAppendAudit},
	{"Filters", testAuditFilters},
	{"Limit", testAuditLimit},
	{"Cursor", testAuditCursor},
	{"Prune", testPruneAudit},
	{"ConcurrentAppend", testConcurrentAppendAudit},
	{"BadInput", testAuditBadInput},
	{"LargeBatch", testAuditLargeBatch},
	{"UnusualValues", testAuditUnusualValues},
}

// auditEvent is an event with every field set; kind tells events apart.
func auditEvent(kind string, t time.Time, user, client string) storage.AuditEvent {
	return storage.AuditEvent{
		Time: t, Kind: kind, UserID: user, ClientID: client,
		SessionID: "0a1b2c3d", Family: "family-" + kind, IP: "192.0.2.7",
		Actor: "user", Detail: "détail of " + kind + " → ok",
	}
}

func appendAudit(t *testing.T, s Store, events ...storage.AuditEvent) {
	t.Helper()
	check(t, "AppendAudit", s.AppendAudit(t.Context(), events))
}

// kinds lists the kinds of events, in order.
func kinds(events []storage.AuditEvent) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Kind)
	}
	return out
}

// wantAudit queries q and checks the kinds of the answer, in order.
func wantAudit(t *testing.T, s Store, q storage.AuditQuery, want ...string) []storage.AuditEvent {
	t.Helper()
	got, err := s.AuditEvents(t.Context(), q)
	what := fmt.Sprintf("AuditEvents(%+v)", q)
	check(t, what, err)
	wantIDs(t, what, kinds(got), want)
	return got
}

func testAppendAudit(t *testing.T, s Store) {
	wantAudit(t, s, storage.AuditQuery{})
	check(t, "AppendAudit of none", s.AppendAudit(t.Context(), nil))
	check(t, "AppendAudit of an empty list", s.AppendAudit(t.Context(), []storage.AuditEvent{}))
	wantAudit(t, s, storage.AuditQuery{})

	// Appended out of time order, in two calls; two pairs share a time.
	first := []storage.AuditEvent{
		auditEvent("b", at(-time.Minute), "user-1", "app"),
		auditEvent("d", inZone(at(time.Minute)), "user-1", "app"),
		auditEvent("a", at(-time.Hour), "user-2", ""),
		auditEvent("tie-1", t0, "user-1", "app"),
	}
	first[0].ID = 999 // ignored: the store assigns IDs
	appendAudit(t, s, first...)
	bare := storage.AuditEvent{Time: at(-2 * time.Hour), Kind: "bare"} // every optional field empty
	appendAudit(t, s, auditEvent("tie-2", t0, "user-1", "app"), auditEvent("tie-3", t0, "", "app"), bare)

	// Newest first; events at one instant newest ID first.
	got := wantAudit(t, s, storage.AuditQuery{}, "d", "tie-3", "tie-2", "tie-1", "b", "a", "bare")
	seen := make(map[int64]bool)
	for _, e := range got {
		if e.ID <= 0 || seen[e.ID] {
			t.Errorf("AuditEvents: event %s has ID %d, want a positive ID no other event has", e.Kind, e.ID)
		}
		seen[e.ID] = true
	}
	// IDs increase in the order events are appended, within and across calls.
	byKind := func(k string) storage.AuditEvent {
		return got[slices.IndexFunc(got, func(e storage.AuditEvent) bool { return e.Kind == k })]
	}
	order := []string{"b", "d", "a", "tie-1", "tie-2", "tie-3", "bare"}
	for i := 1; i < len(order); i++ {
		if prev, cur := byKind(order[i-1]), byKind(order[i]); cur.ID <= prev.ID {
			t.Errorf("AuditEvents: %s has ID %d, %s appended before it %d; want increasing IDs", cur.Kind, cur.ID, prev.Kind, prev.ID)
		}
	}
	// Every field round-trips.
	for _, want := range append(first[1:], bare) {
		g := byKind(want.Kind)
		want.ID = g.ID
		wantEqual(t, "AuditEvents["+want.Kind+"]", g, want)
	}
	want := first[0]
	want.ID = byKind("b").ID
	wantEqual(t, "AuditEvents[b]", byKind("b"), want)
}

func testAuditFilters(t *testing.T, s Store) {
	appendAudit(t, s,
		auditEvent("u1-app-old", at(-2*time.Hour), "user-1", "app"),
		auditEvent("u1-app", at(-time.Minute), "user-1", "app"),
		auditEvent("u1-other", t0, "user-1", "other"),
		auditEvent("u2-app", at(time.Minute), "user-2", "app"),
		auditEvent("u1-none", at(2*time.Minute), "user-1", ""),
		auditEvent("none-app", at(3*time.Minute), "", "app"),
	)
	for _, tt := range []struct {
		name string
		q    storage.AuditQuery
		want []string
	}{
		{"everything", storage.AuditQuery{}, []string{"none-app", "u1-none", "u2-app", "u1-other", "u1-app", "u1-app-old"}},
		{"user", storage.AuditQuery{UserID: "user-1"}, []string{"u1-none", "u1-other", "u1-app", "u1-app-old"}},
		{"client", storage.AuditQuery{ClientID: "app"}, []string{"none-app", "u2-app", "u1-app", "u1-app-old"}},
		{"user and client", storage.AuditQuery{UserID: "user-1", ClientID: "app"}, []string{"u1-app", "u1-app-old"}},
		{"since, inclusive", storage.AuditQuery{Since: t0}, []string{"none-app", "u1-none", "u2-app", "u1-other"}},
		{"since in another zone", storage.AuditQuery{Since: inZone(at(time.Microsecond))}, []string{"none-app", "u1-none", "u2-app"}},
		{"user since", storage.AuditQuery{UserID: "user-1", Since: at(-time.Hour)}, []string{"u1-none", "u1-other", "u1-app"}},
		{"all three", storage.AuditQuery{UserID: "user-1", ClientID: "app", Since: at(-time.Hour)}, []string{"u1-app"}},
		{"kind", storage.AuditQuery{Kind: "u1-app"}, []string{"u1-app"}},
		{"kind and user", storage.AuditQuery{Kind: "u2-app", UserID: "user-2"}, []string{"u2-app"}},
		{"kind of another user", storage.AuditQuery{Kind: "u2-app", UserID: "user-1"}, nil},
		{"kind is exact", storage.AuditQuery{Kind: "U1-APP"}, nil},
		{"kind is not a prefix", storage.AuditQuery{Kind: "u1"}, nil},
		{"unknown user", storage.AuditQuery{UserID: "nobody"}, nil},
		{"unknown client", storage.AuditQuery{ClientID: "nothing"}, nil},
		{"since after the newest", storage.AuditQuery{Since: at(time.Hour)}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) { wantAudit(t, s, tt.q, tt.want...) })
	}
}

func testAuditLimit(t *testing.T, s Store) {
	const n = storage.MaxAuditLimit + 1
	events := make([]storage.AuditEvent, n)
	for i := range events {
		user := "user-even"
		if i%2 == 1 {
			user = "user-odd"
		}
		events[i] = storage.AuditEvent{Time: at(time.Duration(i) * time.Second), Kind: fmt.Sprint(i), UserID: user}
	}
	appendAudit(t, s, events...)
	newest := func(count, step int) []string {
		var out []string
		for i := n - 1; len(out) < count; i -= step {
			out = append(out, fmt.Sprint(i))
		}
		return out
	}
	for _, tt := range []struct {
		name string
		q    storage.AuditQuery
		want []string
	}{
		{"one", storage.AuditQuery{Limit: 1}, newest(1, 1)},
		{"three", storage.AuditQuery{Limit: 3}, newest(3, 1)},
		{"three of a user", storage.AuditQuery{UserID: "user-even", Limit: 3}, newest(3, 2)},
		{"more than match", storage.AuditQuery{Since: at(time.Duration(n-2) * time.Second), Limit: 5}, newest(2, 1)},
		{"zero is the default", storage.AuditQuery{}, newest(storage.DefaultAuditLimit, 1)},
		{"at most the maximum", storage.AuditQuery{Limit: n + 10}, newest(storage.MaxAuditLimit, 1)},
	} {
		t.Run(tt.name, func(t *testing.T) { wantAudit(t, s, tt.q, tt.want...) })
	}
}

func testPruneAudit(t *testing.T, s Store) {
	before := t0
	// Appended newest first, so that the oldest event has the highest ID.
	appendAudit(t, s,
		auditEvent("after", at(time.Microsecond), "", ""),
		auditEvent("at", inZone(before), "", ""),
		auditEvent("old-2", at(-time.Microsecond), "", ""),
		auditEvent("old-1", at(-time.Hour), "", ""),
		auditEvent("old-0", at(-2*time.Hour), "", ""),
	)
	all := wantAudit(t, s, storage.AuditQuery{}, "after", "at", "old-2", "old-1", "old-0")

	prune := func(batch, want int) {
		t.Helper()
		n, err := s.PruneAudit(t.Context(), before, batch)
		what := fmt.Sprintf("PruneAudit(%s, %d)", before.Format(time.RFC3339Nano), batch)
		check(t, what, err)
		if n != want {
			t.Fatalf("%s: got %d deleted, want %d", what, n, want)
		}
	}
	// Oldest first, at most batch at a time.
	prune(1, 1)
	wantAudit(t, s, storage.AuditQuery{}, "after", "at", "old-2", "old-1")
	prune(5, 2)
	// An event exactly at before is kept.
	wantAudit(t, s, storage.AuditQuery{}, "after", "at")
	prune(5, 0)
	if n, err := s.PruneAudit(t.Context(), time.Time{}, 5); err != nil || n != 0 {
		t.Errorf("PruneAudit(zero time, 5): got %d, %v; want 0, nil", n, err)
	}
	for _, batch := range []int{0, -1} {
		if _, err := s.PruneAudit(t.Context(), before, batch); err == nil {
			t.Errorf("PruneAudit(batch %d): got no error, want one", batch)
		}
	}

	// IDs are never reused, not even those of the newest rows once pruned.
	appendAudit(t, s, auditEvent("new", at(time.Hour), "", ""))
	got := wantAudit(t, s, storage.AuditQuery{}, "new", "after", "at")
	for _, e := range all {
		if got[0].ID <= e.ID {
			t.Errorf("ID of an event appended after a prune: got %d, want more than every earlier ID (%s had %d)", got[0].ID, e.Kind, e.ID)
		}
	}
}

func testConcurrentAppendAudit(t *testing.T, s Store) {
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- s.AppendAudit(t.Context(), []storage.AuditEvent{
				auditEvent(fmt.Sprintf("e%02d", i), at(time.Duration(i)*time.Millisecond), fmt.Sprintf("user-%d", i%5), "app"),
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		check(t, "concurrent AppendAudit", err)
	}
	got, err := s.AuditEvents(t.Context(), storage.AuditQuery{})
	check(t, "AuditEvents", err)
	if len(got) != n {
		t.Fatalf("AuditEvents: got %d events, want %d", len(got), n)
	}
	ids := make(map[int64]string)
	for i, e := range got {
		if want := fmt.Sprintf("e%02d", n-1-i); e.Kind != want {
			t.Errorf("AuditEvents[%d]: got %s, want %s", i, e.Kind, want)
		}
		if other, dup := ids[e.ID]; dup || e.ID <= 0 {
			t.Errorf("AuditEvents: %s has ID %d, which %q has too (or is not positive)", e.Kind, e.ID, other)
		}
		ids[e.ID] = e.Kind
	}
}

func testAuditBadInput(t *testing.T, s Store) {
	ok := auditEvent("ok", t0, "user-1", "app")
	for _, tt := range []struct {
		name  string
		event storage.AuditEvent
	}{
		{"no kind", storage.AuditEvent{Time: t0, UserID: "user-1"}},
		{"no time", storage.AuditEvent{Kind: "sign_in", UserID: "user-1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The whole batch is refused, the valid event with it.
			if err := s.AppendAudit(t.Context(), []storage.AuditEvent{ok, tt.event}); err == nil {
				t.Errorf("AppendAudit: got no error, want one")
			}
			wantAudit(t, s, storage.AuditQuery{})
		})
	}
	if _, err := s.AuditEvents(t.Context(), storage.AuditQuery{Limit: -1}); err == nil {
		t.Errorf("AuditEvents(Limit: -1): got no error, want one")
	}
}

// wantStored reads every stored event (at most storage.MaxAuditLimit) and
// checks that, in the order of their IDs, they are want, each field as
// appended: IDs follow the order of the batch.
func wantStored(t *testing.T, s Store, want []storage.AuditEvent) {
	t.Helper()
	got, err := s.AuditEvents(t.Context(), storage.AuditQuery{Limit: storage.MaxAuditLimit})
	check(t, "AuditEvents", err)
	if len(got) != len(want) {
		t.Fatalf("AuditEvents: got %d events, want %d", len(got), len(want))
	}
	slices.SortFunc(got, func(a, b storage.AuditEvent) int { return cmp.Compare(a.ID, b.ID) })
	for i, w := range want {
		w.ID = got[i].ID
		wantEqual(t, fmt.Sprintf("AuditEvents, event %d by ID", i), got[i], w)
	}
}

// testAuditLargeBatch appends several hundred events in one call, more
// than the server's audit sink ever sends at once, some sharing a time.
func testAuditLargeBatch(t *testing.T, s Store) {
	const n = 700
	events := make([]storage.AuditEvent, n)
	for i := range events {
		events[i] = auditEvent(fmt.Sprintf("k%03d", i), at(time.Duration(i/3)*time.Millisecond),
			fmt.Sprintf("user-%d", i%11), fmt.Sprintf("client-%d", i%5))
		events[i].Detail = strings.Repeat("x", i) // up to 699 bytes
	}
	appendAudit(t, s, events...)
	wantStored(t, s, events)
	wantAudit(t, s, storage.AuditQuery{Limit: 3}, "k699", "k698", "k697")
}

// testAuditUnusualValues appends, in one batch, strings that an encoding
// of the batch could mangle: every kind of Unicode, JSON and SQL
// metacharacters, control characters, text that looks like a number, a
// hex string or a null, long text, and empty optional fields.
func testAuditUnusualValues(t *testing.T, s Store) {
	unusual := []string{
		"€ 日本語 émoji 🔑👩🏽‍💻 e\u0301 עברית \u2028\u2029 \ufeff \ufffd",
		`"quoted" \back\slash\ </script><b>&amp;`,
		"line\nbreak\ttab\r\x01\x1f\x7f",
		"'); DROP TABLE audit_events; --",
		"null", "true", "0", "-1", "1e400", "0x1F", "deadbeef", "[1,2]", `{"a":1}`, "$[0]",
		" leading and trailing spaces ",
		strings.Repeat("ü", 2000),
	}
	var events []storage.AuditEvent
	for i, v := range unusual {
		events = append(events, storage.AuditEvent{Time: at(time.Duration(i) * time.Second), Kind: v, UserID: v,
			ClientID: v, SessionID: v, Family: v, IP: v, Actor: v, Detail: v})
	}
	// Only the required fields set: every optional string empty.
	events = append(events, storage.AuditEvent{Time: inZone(at(-time.Hour)), Kind: "bare"},
		storage.AuditEvent{Time: at(time.Hour), Kind: "only-detail", Detail: "ok"})
	appendAudit(t, s, events...)
	wantStored(t, s, events)
}

// testAuditCursor pages through the trail with Before: every event once,
// in the answer's order, across events that share a Time, with and
// without a filter; an ID-less cursor selects everything.
func testAuditCursor(t *testing.T, s Store) {
	ctx := t.Context()
	var events []storage.AuditEvent
	for i := range 7 {
		// Pairs share a Time, so the cursor must break ties by ID.
		events = append(events, auditEvent(fmt.Sprintf("k%d", i), at(time.Duration(i/2)*time.Second), []string{"u1", "u2"}[i%2], "c1"))
	}
	appendAudit(t, s, events...)
	all, err := s.AuditEvents(ctx, storage.AuditQuery{})
	check(t, "AuditEvents(all)", err)
	for _, q := range []storage.AuditQuery{{Limit: 2}, {Limit: 3, UserID: "u1"}, {Limit: 1, Before: storage.AuditCursor{Time: t0}}} {
		var want []string
		for _, ev := range all {
			if q.UserID == "" || ev.UserID == q.UserID {
				want = append(want, ev.Kind)
			}
		}
		var got []string
		for page := 0; ; page++ {
			list, err := s.AuditEvents(ctx, q)
			check(t, "AuditEvents(page)", err)
			if len(list) == 0 {
				break
			}
			if page > len(all) {
				t.Fatalf("query %+v: more pages than events", q)
			}
			for _, ev := range list {
				got = append(got, ev.Kind)
			}
			last := list[len(list)-1]
			q.Before = storage.AuditCursor{Time: last.Time, ID: last.ID}
		}
		wantEqual(t, fmt.Sprintf("kinds paged with limit %d user %q", q.Limit, q.UserID), got, want)
	}
}
