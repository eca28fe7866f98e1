package storagetest

import (
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

var clientTests = []test{
	{"UnknownClient", testUnknownClient},
	{"SyncCreatesAndRoundTrips", testSyncCreates},
	{"SyncUpdatesChangedOnly", testSyncUpdates},
	{"SyncDisablesAbsent", testSyncDisables},
	{"SyncReenables", testSyncReenables},
	{"SyncEmptyDisablesAll", testSyncEmpty},
}

// newClient returns a client with every field set, its slices of different
// lengths, including one empty and one nil.
func newClient(id string) storage.Client {
	return storage.Client{
		ID:                       id,
		SecretHash:               "sha256:" + id,
		Name:                     "Client " + id,
		RedirectURIs:             []string{"https://" + id + ".example/cb", "https://" + id + ".example/cb2", "http://127.0.0.1/cb"},
		PostLogoutRedirectURIs:   []string{"https://" + id + ".example/bye"},
		GrantTypes:               []string{"authorization_code", "refresh_token"},
		ResponseTypes:            []string{"code"},
		TokenEndpointAuthMethod:  "client_secret_basic",
		ApplicationType:          "web",
		Scopes:                   []string{},
		AllowedCORSOrigins:       []string{"https://" + id + ".example:8443", "http://localhost:3000"},
		IDTokenSignedResponseAlg: "ES256",
		AccessTokenFormat:        "jwt",
		RefreshGracePeriod:       10 * time.Second,
		RefreshTokenIdleTTL:      36*time.Hour + time.Nanosecond,
		RefreshTokenAbsoluteTTL:  90 * 24 * time.Hour,

		SkipConsent:                        true,
		RequireMFA:                         true,
		DefaultACRValues:                   []string{"https://refeds.org/profile/mfa", "https://refeds.org/profile/sfa"},
		AllowedGroups:                      []string{"staff", "ops.on-call_2"},
		RequirePushedAuthorizationRequests: true,
		RequestObjectSigningAlg:            "PS256",
		BackchannelLogoutURI:               "https://" + id + ".example/backchannel-logout",
		BackchannelLogoutSessionRequired:   true,
		FrontchannelLogoutURI:              "https://" + id + ".example/frontchannel-logout?x=1",
		FrontchannelLogoutSessionRequired:  true,
		DPoPBoundAccessTokens:              true,
		Profile:                            "fapi2",
	}
}

// stamped returns c as the store should hold it after a sync: declared in
// clients.yaml, at version 1 if it was never changed after it was created,
// else at version 2 (one change).
func stamped(c storage.Client, created, updated time.Time, disabled bool) storage.Client {
	version := int64(2)
	if updated.Equal(created) {
		version = 1
	}
	return versioned(c, created, updated, disabled, version)
}

// versioned is stamped at a given version.
func versioned(c storage.Client, created, updated time.Time, disabled bool, version int64) storage.Client {
	c.CreatedAt, c.UpdatedAt, c.Disabled = created, updated, disabled
	c.Source, c.Version = storage.ClientSourceFile, version
	return c
}

func syncClients(t *testing.T, s Store, now time.Time, clients ...storage.Client) storage.SyncReport {
	t.Helper()
	rep, err := s.SyncClients(t.Context(), clients, now)
	check(t, "SyncClients", err)
	return rep
}

func wantReport(t *testing.T, got storage.SyncReport, created, updated, disabled []string) {
	t.Helper()
	wantIDs(t, "SyncReport.Created", got.Created, created)
	wantIDs(t, "SyncReport.Updated", got.Updated, updated)
	wantIDs(t, "SyncReport.Disabled", got.Disabled, disabled)
}

// wantClients checks ListClients against want, which must be sorted by id.
func wantClients(t *testing.T, s Store, want ...storage.Client) {
	t.Helper()
	got, err := s.ListClients(t.Context())
	check(t, "ListClients", err)
	if len(got) != len(want) {
		t.Fatalf("ListClients: got %d clients, want %d", len(got), len(want))
	}
	for i := range want {
		wantEqual(t, "ListClients["+want[i].ID+"]", got[i], want[i])
	}
}

func wantClient(t *testing.T, s Store, want storage.Client) {
	t.Helper()
	got, err := s.Client(t.Context(), want.ID)
	check(t, "Client("+want.ID+")", err)
	wantEqual(t, "Client("+want.ID+")", *got, want)
}

func testUnknownClient(t *testing.T, s Store) {
	_, err := s.Client(t.Context(), "nope")
	wantErr(t, "Client on empty store", err, storage.ErrNotFound)
	got, err := s.ListClients(t.Context())
	check(t, "ListClients", err)
	if len(got) != 0 {
		t.Errorf("ListClients on empty store: got %d clients, want 0", len(got))
	}

	syncClients(t, s, t0, newClient("a"))
	_, err = s.Client(t.Context(), "b")
	wantErr(t, "Client(b)", err, storage.ErrNotFound)
	_, err = s.Client(t.Context(), "A")
	wantErr(t, "Client(A) with only a stored", err, storage.ErrNotFound)
}

func testSyncCreates(t *testing.T, s Store) {
	a, b, c := newClient("a"), newClient("b"), newClient("c")
	b.SecretHash, b.TokenEndpointAuthMethod, b.ApplicationType = "", "none", "native"
	b.PostLogoutRedirectURIs, b.Scopes = nil, []string{"offline_access", "api:read"}
	b.AllowedCORSOrigins, c.AllowedCORSOrigins = nil, []string{}
	// Default acr values: none round-trips as none, one alone as itself,
	// two in their order (a).
	b.DefaultACRValues, c.DefaultACRValues = nil, []string{"https://refeds.org/profile/sfa"}
	// Allowed groups: none round-trips as none (everyone may sign in), one
	// alone as itself, two in their order (a).
	b.AllowedGroups, c.AllowedGroups = nil, []string{"admins"}
	// "" (the server's default algorithm) round-trips as "", EdDSA as EdDSA.
	b.IDTokenSignedResponseAlg, c.IDTokenSignedResponseAlg = "", "EdDSA"
	// Access token format: "" (jwt) round-trips as "", jwt as jwt (a),
	// opaque as opaque.
	b.AccessTokenFormat, c.AccessTokenFormat = "", "opaque"
	b.TokenEndpointAuthMethod, b.JWKS = "private_key_jwt", []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`)
	c.TokenEndpointAuthMethod, c.JWKSURI = "private_key_jwt", "https://c.example/jwks.json"
	// Refresh policy: unset (zero) round-trips as zero, "no grace window"
	// as negative, odd nanoseconds exactly.
	b.RefreshGracePeriod, b.RefreshTokenIdleTTL, b.RefreshTokenAbsoluteTTL = 0, 0, 0
	c.RefreshGracePeriod, c.RefreshTokenIdleTTL, c.RefreshTokenAbsoluteTTL = storage.NoRefreshGrace, time.Minute+1, 365*24*time.Hour-1
	// Consent, second factor and logout: unset round-trips as unset, and
	// each flag apart from its URI.
	b.SkipConsent, b.RequireMFA, b.BackchannelLogoutURI, b.BackchannelLogoutSessionRequired = false, false, "", false
	b.FrontchannelLogoutURI, b.FrontchannelLogoutSessionRequired = "", false
	c.BackchannelLogoutSessionRequired, c.FrontchannelLogoutURI = false, ""
	// The store ignores the timestamps and the disabled flag it is given.
	c.CreatedAt, c.UpdatedAt, c.Disabled = at(-time.Hour), at(-time.Hour), true

	now := inZone(t0)
	rep := syncClients(t, s, now, c, a, b)
	wantReport(t, rep, []string{"a", "b", "c"}, nil, nil)

	want := []storage.Client{stamped(a, t0, t0, false), stamped(b, t0, t0, false), stamped(c, t0, t0, false)}
	for _, w := range want {
		wantClient(t, s, w)
	}
	wantClients(t, s, want...)
}

func testSyncUpdates(t *testing.T, s Store) {
	// Each mutation changes one field of its own client; the client "same"
	// is synced again unchanged and must be in no list of the report.
	mutations := []struct {
		id     string
		mutate func(*storage.Client)
	}{
		{"secret", func(c *storage.Client) { c.SecretHash = "sha256:other" }},
		{"secret-removed", func(c *storage.Client) { c.SecretHash = "" }},
		{"name", func(c *storage.Client) { c.Name = "Renamed" }},
		{"redirect-added", func(c *storage.Client) { c.RedirectURIs = append(c.RedirectURIs, "https://new.example/cb") }},
		{"redirect-reordered", func(c *storage.Client) { slices.Reverse(c.RedirectURIs) }},
		{"post-logout", func(c *storage.Client) { c.PostLogoutRedirectURIs = nil }},
		{"grant-types", func(c *storage.Client) { c.GrantTypes = []string{"client_credentials"} }},
		{"response-types", func(c *storage.Client) { c.ResponseTypes = []string{"code", "id_token"} }},
		{"auth-method", func(c *storage.Client) { c.TokenEndpointAuthMethod = "client_secret_post" }},
		{"app-type", func(c *storage.Client) { c.ApplicationType = "native" }},
		{"scopes", func(c *storage.Client) { c.Scopes = []string{"api"} }},
		{"cors-origins", func(c *storage.Client) { c.AllowedCORSOrigins = append(c.AllowedCORSOrigins, "https://new.example") }},
		{"cors-origins-reordered", func(c *storage.Client) { slices.Reverse(c.AllowedCORSOrigins) }},
		{"cors-origins-removed", func(c *storage.Client) { c.AllowedCORSOrigins = nil }},
		{"id-token-alg", func(c *storage.Client) { c.IDTokenSignedResponseAlg = "EdDSA" }},
		{"id-token-alg-removed", func(c *storage.Client) { c.IDTokenSignedResponseAlg = "" }},
		{"access-token-format", func(c *storage.Client) { c.AccessTokenFormat = "opaque" }},
		{"access-token-format-removed", func(c *storage.Client) { c.AccessTokenFormat = "" }},
		{"jwks", func(c *storage.Client) { c.JWKS = []byte(`{"keys":[]}`) }},
		{"jwks-uri", func(c *storage.Client) { c.JWKSURI = "https://rp.example/jwks" }},
		{"refresh-grace", func(c *storage.Client) { c.RefreshGracePeriod = storage.NoRefreshGrace }},
		{"refresh-grace-removed", func(c *storage.Client) { c.RefreshGracePeriod = 0 }},
		{"refresh-idle", func(c *storage.Client) { c.RefreshTokenIdleTTL += time.Nanosecond }},
		{"refresh-idle-removed", func(c *storage.Client) { c.RefreshTokenIdleTTL = 0 }},
		{"refresh-absolute", func(c *storage.Client) { c.RefreshTokenAbsoluteTTL = time.Hour }},
		{"refresh-absolute-removed", func(c *storage.Client) { c.RefreshTokenAbsoluteTTL = 0 }},
		{"skip-consent-removed", func(c *storage.Client) { c.SkipConsent = false }},
		{"require-mfa-removed", func(c *storage.Client) { c.RequireMFA = false }},
		{"dpop-bound-removed", func(c *storage.Client) { c.DPoPBoundAccessTokens = false }},
		{"profile-removed", func(c *storage.Client) { c.Profile = "" }},
		{"default-acr", func(c *storage.Client) { c.DefaultACRValues = []string{"https://refeds.org/profile/mfa"} }},
		{"default-acr-reordered", func(c *storage.Client) { slices.Reverse(c.DefaultACRValues) }},
		{"default-acr-removed", func(c *storage.Client) { c.DefaultACRValues = nil }},
		{"allowed-groups", func(c *storage.Client) { c.AllowedGroups = append(c.AllowedGroups, "admins") }},
		{"allowed-groups-reordered", func(c *storage.Client) { slices.Reverse(c.AllowedGroups) }},
		{"allowed-groups-removed", func(c *storage.Client) { c.AllowedGroups = nil }},
		{"require-par-removed", func(c *storage.Client) { c.RequirePushedAuthorizationRequests = false }},
		{"request-object-alg", func(c *storage.Client) { c.RequestObjectSigningAlg = "ES256" }},
		{"request-object-alg-removed", func(c *storage.Client) { c.RequestObjectSigningAlg = "" }},
		{"backchannel-uri", func(c *storage.Client) { c.BackchannelLogoutURI = "https://rp.example/bcl" }},
		{"backchannel-uri-removed", func(c *storage.Client) { c.BackchannelLogoutURI = "" }},
		{"backchannel-sid-removed", func(c *storage.Client) { c.BackchannelLogoutSessionRequired = false }},
		{"frontchannel-uri", func(c *storage.Client) { c.FrontchannelLogoutURI = "https://rp.example/fcl" }},
		{"frontchannel-uri-removed", func(c *storage.Client) { c.FrontchannelLogoutURI = "" }},
		{"frontchannel-sid-removed", func(c *storage.Client) { c.FrontchannelLogoutSessionRequired = false }},
	}
	var first, second []storage.Client
	var updated []string
	for _, m := range mutations {
		c := newClient(m.id)
		first = append(first, c)
		c.RedirectURIs = slices.Clone(c.RedirectURIs)
		c.AllowedCORSOrigins = slices.Clone(c.AllowedCORSOrigins)
		c.DefaultACRValues = slices.Clone(c.DefaultACRValues)
		c.AllowedGroups = slices.Clone(c.AllowedGroups)
		m.mutate(&c)
		second = append(second, c)
		updated = append(updated, m.id)
	}
	same := newClient("same")
	first, second = append(first, same), append(second, same)
	slices.Sort(updated)

	syncClients(t, s, t0, first...)
	t1 := at(time.Minute)
	rep := syncClients(t, s, t1, second...)
	wantReport(t, rep, nil, updated, nil)

	for _, c := range second {
		want := stamped(c, t0, t1, false)
		if c.ID == "same" {
			want = stamped(c, t0, t0, false)
		}
		wantClient(t, s, want)
	}

	// A third sync with the same list changes nothing.
	rep = syncClients(t, s, at(2*time.Minute), second...)
	wantReport(t, rep, nil, nil, nil)
	wantClient(t, s, stamped(second[0], t0, t1, false))
}

// testSyncDisables checks disabling, and that a disabled client keeps
// every field (those of consent and logout included) as it was.
func testSyncDisables(t *testing.T, s Store) {
	a, b, c := newClient("a"), newClient("b"), newClient("c")
	c.SkipConsent, c.BackchannelLogoutSessionRequired = false, false
	syncClients(t, s, t0, a, b, c)

	t1 := at(time.Minute)
	rep := syncClients(t, s, t1, b)
	wantReport(t, rep, nil, nil, []string{"a", "c"})

	for _, id := range []string{"a", "c"} {
		_, err := s.Client(t.Context(), id)
		wantErr(t, "Client("+id+") after it was disabled", err, storage.ErrNotFound)
	}
	wantClient(t, s, stamped(b, t0, t0, false))
	wantClients(t, s, stamped(a, t0, t1, true), stamped(b, t0, t0, false), stamped(c, t0, t1, true))

	// Disabled clients that stay absent are not reported again.
	rep = syncClients(t, s, at(2*time.Minute), b)
	wantReport(t, rep, nil, nil, nil)
	wantClients(t, s, stamped(a, t0, t1, true), stamped(b, t0, t0, false), stamped(c, t0, t1, true))
}

func testSyncReenables(t *testing.T, s Store) {
	a, b, c := newClient("a"), newClient("b"), newClient("c")
	syncClients(t, s, t0, a, b, c)
	syncClients(t, s, at(time.Minute), a)

	// b comes back unchanged, c comes back changed, d is new.
	c.Name = "Changed"
	d := newClient("d")
	t2 := at(2 * time.Minute)
	rep := syncClients(t, s, t2, d, c, b, a)
	wantReport(t, rep, []string{"d"}, []string{"b", "c"}, nil)

	want := []storage.Client{
		stamped(a, t0, t0, false),
		versioned(b, t0, t2, false, 3), // disabled, then enabled
		versioned(c, t0, t2, false, 3),
		stamped(d, t2, t2, false),
	}
	for _, w := range want {
		wantClient(t, s, w)
	}
	wantClients(t, s, want...)
}

func testSyncEmpty(t *testing.T, s Store) {
	rep := syncClients(t, s, t0)
	wantReport(t, rep, nil, nil, nil)

	a, b := newClient("a"), newClient("b")
	syncClients(t, s, t0, a, b)
	t1 := at(time.Minute)
	rep = syncClients(t, s, t1)
	wantReport(t, rep, nil, nil, []string{"a", "b"})
	wantClients(t, s, stamped(a, t0, t1, true), stamped(b, t0, t1, true))
}
