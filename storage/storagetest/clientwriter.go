package storagetest

import (
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// clientWriterTests check storage.ClientWriter and how it and SyncClients
// keep out of each other's clients.
var clientWriterTests = []test{
	{"CreateRoundTrips", testCreateClient},
	{"CreateConflicts", testCreateClientConflicts},
	{"UpdateIfVersion", testUpdateClient},
	{"NeverTouchesDeclared", testWriterLeavesDeclared},
	{"SyncLeavesOthers", testSyncLeavesOthers},
	{"DeleteTakesGrantsAndConsents", testDeleteClient},
}

// apiClient is newClient as the admin API would create it.
func apiClient(id string) storage.Client {
	c := newClient(id)
	c.Source = storage.ClientSourceAPI
	return c
}

func testCreateClient(t *testing.T, s Store) {
	a, r := apiClient("a"), newClient("r")
	r.Source = storage.ClientSourceRegistration
	// The store ignores the version, times and disabled flag it is given.
	a.Version, a.Disabled, a.CreatedAt = 7, true, at(-time.Hour)
	now := inZone(t0)
	check(t, "CreateClient(a)", s.CreateClient(t.Context(), &a, now))
	check(t, "CreateClient(r)", s.CreateClient(t.Context(), &r, now))
	if a.Version != 1 || a.Disabled || !a.CreatedAt.Equal(t0) || !a.UpdatedAt.Equal(t0) {
		t.Errorf("CreateClient set version %d, disabled %v, created %s, updated %s; want 1, false, %s twice",
			a.Version, a.Disabled, a.CreatedAt, a.UpdatedAt, t0)
	}
	wantA := apiClient("a")
	wantA.Version, wantA.CreatedAt, wantA.UpdatedAt = 1, t0, t0
	wantR := newClient("r")
	wantR.Source, wantR.Version, wantR.CreatedAt, wantR.UpdatedAt = storage.ClientSourceRegistration, 1, t0, t0
	wantClient(t, s, wantA)
	wantClients(t, s, wantA, wantR)
}

func testCreateClientConflicts(t *testing.T, s Store) {
	syncClients(t, s, t0, newClient("declared"), newClient("gone"))
	syncClients(t, s, t0, newClient("declared")) // disables gone
	a := apiClient("api")
	check(t, "CreateClient(api)", s.CreateClient(t.Context(), &a, t0))
	// Bad input tried: the id of a declared client, of a disabled declared
	// one, of a client created before; and a client claiming to come from
	// clients.yaml (or from nowhere).
	for _, id := range []string{"declared", "gone", "api"} {
		c := apiClient(id)
		wantErr(t, "CreateClient("+id+") with a taken id", s.CreateClient(t.Context(), &c, at(time.Minute)), storage.ErrConflict)
	}
	for _, source := range []string{storage.ClientSourceFile, ""} {
		c := newClient("new")
		c.Source = source
		if err := s.CreateClient(t.Context(), &c, t0); err == nil {
			t.Errorf("CreateClient with source %q: no error, want a refusal", source)
		}
	}
	if _, err := s.Client(t.Context(), "new"); err == nil {
		t.Error("a refused CreateClient stored the client")
	}
}

func testUpdateClient(t *testing.T, s Store) {
	a := apiClient("a")
	check(t, "CreateClient(a)", s.CreateClient(t.Context(), &a, t0))

	b := apiClient("a")
	b.Name, b.RedirectURIs, b.RequireMFA = "Renamed", []string{"https://a.example/new"}, false
	b.CreatedAt, b.Disabled = at(time.Hour), true // ignored
	t1 := at(time.Minute)
	check(t, "UpdateClient(a) at version 1", s.UpdateClient(t.Context(), &b, 1, t1))
	if b.Version != 2 || !b.UpdatedAt.Equal(t1) {
		t.Errorf("UpdateClient set version %d, updated %s; want 2, %s", b.Version, b.UpdatedAt, t1)
	}
	want := apiClient("a")
	want.Name, want.RedirectURIs, want.RequireMFA = "Renamed", []string{"https://a.example/new"}, false
	want.Version, want.CreatedAt, want.UpdatedAt = 2, t0, t1
	wantClient(t, s, want)

	// A writer holding version 1 (a stale ETag) changes nothing.
	stale := apiClient("a")
	stale.Name = "Stale"
	wantErr(t, "UpdateClient(a) at version 1 again", s.UpdateClient(t.Context(), &stale, 1, at(2*time.Minute)), storage.ErrStale)
	wantErr(t, "UpdateClient(a) at version 3", s.UpdateClient(t.Context(), &stale, 3, at(2*time.Minute)), storage.ErrStale)
	wantClient(t, s, want)

	// Unknown ids, and the right id under another source, are not found.
	nope := apiClient("nope")
	wantErr(t, "UpdateClient(nope)", s.UpdateClient(t.Context(), &nope, 1, t1), storage.ErrNotFound)
	other := newClient("a")
	other.Source = storage.ClientSourceRegistration
	wantErr(t, "UpdateClient(a) as registered", s.UpdateClient(t.Context(), &other, 2, t1), storage.ErrNotFound)
	wantClient(t, s, want)
}

func testWriterLeavesDeclared(t *testing.T, s Store) {
	d := newClient("d")
	syncClients(t, s, t0, d)
	want := stamped(d, t0, t0, false)

	// Bad input tried: updating and deleting a declared client, under its
	// own source, under "" and as if it came from the API.
	for _, source := range []string{storage.ClientSourceFile, "", storage.ClientSourceAPI} {
		c := newClient("d")
		c.Source, c.Name = source, "Hijacked"
		wantErr(t, "UpdateClient(d) with source "+source, s.UpdateClient(t.Context(), &c, 1, at(time.Minute)), storage.ErrNotFound)
		deleted, err := s.DeleteClient(t.Context(), "d", source)
		check(t, "DeleteClient(d) with source "+source, err)
		if deleted {
			t.Errorf("DeleteClient(d, %q) deleted a declared client", source)
		}
	}
	wantClient(t, s, want)
}

func testSyncLeavesOthers(t *testing.T, s Store) {
	a := apiClient("a")
	check(t, "CreateClient(a)", s.CreateClient(t.Context(), &a, t0))
	d := newClient("d")
	t1 := at(time.Minute)
	rep := syncClients(t, s, t1, d)
	wantReport(t, rep, []string{"d"}, nil, nil) // a is not disabled
	rep = syncClients(t, s, at(2*time.Minute))
	wantReport(t, rep, nil, nil, []string{"d"})

	// Bad input tried: clients.yaml declaring the id of a client the API
	// created. The sync refuses and changes nothing.
	_, err := s.SyncClients(t.Context(), []storage.Client{newClient("x"), newClient("a")}, at(3*time.Minute))
	wantErr(t, "SyncClients declaring an API client's id", err, storage.ErrConflict)
	wantA := apiClient("a")
	wantA.Version, wantA.CreatedAt, wantA.UpdatedAt = 1, t0, t0
	wantClients(t, s, wantA, stamped(d, t1, at(2*time.Minute), true))
}

func testDeleteClient(t *testing.T, s Store) {
	a, b := apiClient("a"), apiClient("b")
	check(t, "CreateClient(a)", s.CreateClient(t.Context(), &a, t0))
	check(t, "CreateClient(b)", s.CreateClient(t.Context(), &b, t0))
	for _, c := range []string{"a", "b"} {
		g := newGrant("grant-" + c)
		g.ClientID, g.FamilyID = c, "family-"+c
		createGrant(t, s, g)
		check(t, "SaveConsent("+c+")", s.SaveConsent(t.Context(), &storage.Consent{
			UserID: "user-1", ClientID: c, Scopes: []string{"openid"}, CreatedAt: t0, UpdatedAt: t0,
		}))
	}

	deleted, err := s.DeleteClient(t.Context(), "a", storage.ClientSourceRegistration)
	check(t, "DeleteClient(a) under the wrong source", err)
	if deleted {
		t.Fatal("DeleteClient(a, registration) deleted a client the API created")
	}
	deleted, err = s.DeleteClient(t.Context(), "a", storage.ClientSourceAPI)
	check(t, "DeleteClient(a)", err)
	if !deleted {
		t.Fatal("DeleteClient(a): not deleted")
	}
	deleted, err = s.DeleteClient(t.Context(), "a", storage.ClientSourceAPI)
	check(t, "DeleteClient(a) again", err)
	if deleted {
		t.Error("DeleteClient(a) again: reported a deletion")
	}
	_, err = s.Client(t.Context(), "a")
	wantErr(t, "Client(a) after delete", err, storage.ErrNotFound)
	_, err = s.RefreshGrant(t.Context(), "grant-a", t0)
	wantErr(t, "RefreshGrant of the deleted client", err, storage.ErrNotFound)
	_, err = s.Consent(t.Context(), "user-1", "a")
	wantErr(t, "Consent for the deleted client", err, storage.ErrNotFound)

	// The other client keeps its grant and consent; a new client with the
	// deleted one's id starts with nothing.
	_, err = s.RefreshGrant(t.Context(), "grant-b", t0)
	check(t, "RefreshGrant of the other client", err)
	_, err = s.Consent(t.Context(), "user-1", "b")
	check(t, "Consent for the other client", err)
	again := apiClient("a")
	check(t, "CreateClient(a) again", s.CreateClient(t.Context(), &again, at(time.Minute)))
	_, err = s.Consent(t.Context(), "user-1", "a")
	wantErr(t, "Consent for the new client a", err, storage.ErrNotFound)
}
