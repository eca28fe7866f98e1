package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/provider"
	"github.com/gatehouse-idp/gatehouse/storage"
)

const clientsUsage = `Usage:
  gatehouse clients secret                   generate a client secret and its client_secret_hash
  gatehouse clients diff [--file FILE]       what applying clients.yaml (or FILE) would change
  gatehouse clients list                     every client in the store
  gatehouse clients show CLIENT_ID [--json]  every stored setting of one client
  gatehouse clients token [--expires 24h] [--max-uses N]
                                             mint an initial access token for dynamic registration
  gatehouse clients tokens                   the initial access tokens not yet expired and pruned
  gatehouse clients token revoke ID          revoke an initial access token

secret: give the secret to the application (for example through its secret store) and put only the
hash in clients.yaml, as client_secret_hash. The secret is 256 random bits, base64url-encoded, so it
needs no escaping in HTTP Basic authentication.

diff validates the file (every problem is listed with its line) and compares it with the store
without changing anything: the file's revision against the one the store applied, then the clients
it would create, update (with each changed field; a secret only as "secret changed") and disable.
With nothing to change it prints "no changes". Its exit status is for deploy scripts:
  0  nothing would change, or clients would only be created
  1  clients would be updated, disabled or enabled again: look before you apply
  2  the file is invalid (or cannot be read), or serve would refuse it: its revision is older than
     the one applied, or it has the applied revision with other clients
  3  it could not compare: a bad command line, configuration or store

gatehouse serve applies clients.yaml at start, when the file changes (checked every 2 seconds) and on
SIGHUP; an invalid file is refused and the clients already in the store stay as they are. A file
without a clients: list (empty, only comments, cut short) is invalid: to remove every client write
clients: []. Instances sharing a database apply a file only over an older revision (a top-level
revision: number, raised with every change): see the README's clients.yaml section.

token prints a new initial access token once (256 random bits; only its SHA-256 is stored): whoever
holds it may register clients at POST /register (registration: initial_access_token) until it
expires (--expires, 1m to 8760h) or has registered --max-uses clients (0, the default: no limit).
tokens lists them by ID (not the token) with expiry and uses; revoke deletes one (the clients it
registered stay). Minting and revoking are recorded in the audit trail (actor operator).

list and show read the store: disabled clients (gone from the file) are listed too. show never
prints a secret hash, only its scheme (hmac-sha256:…).

Examples:
  gatehouse clients secret
  gatehouse clients diff
  gatehouse clients diff --file clients.new.yaml
  gatehouse clients diff --file clients.new.yaml || exit    # stop a deploy on 1, 2 or 3
  gatehouse clients list
  gatehouse clients show example-web
  gatehouse clients show example-web --json
  gatehouse clients token --expires 24h --max-uses 1
  gatehouse clients token revoke 3f9c2a1b7d4e
`

// clients handles `gatehouse clients …`.
func clients(ctx context.Context, env environment, args []string) (err error) {
	if len(args) > 0 && args[0] == "diff" {
		defer func() {
			if _, ok := errors.AsType[*exitError](err); err != nil && !ok {
				err = &exitError{diffFailed, err}
			}
		}()
	}
	if len(args) == 0 {
		fmt.Fprint(env.stderr, clientsUsage)
		return errUsage
	}
	if isHelp(args[0]) {
		fmt.Fprint(env.stdout, clientsUsage)
		return nil
	}
	fs := newFlagSet("clients "+args[0], env)
	load := configFlag(fs, env)
	file := fs.String("file", "", "the clients file to compare (diff; default: clients_file of the configuration)")
	asJSON := fs.Bool("json", false, "print JSON (show)")
	expires := fs.Duration("expires", 24*time.Hour, "how long the initial access token is valid (token)")
	maxUses := fs.Int("max-uses", 0, "how many clients the token may register; 0: no limit (token)")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return flagError(env, err, clientsUsage)
	}
	want := map[string]int{"secret": 0, "diff": 0, "list": 0, "show": 1, "token": 0, "tokens": 0}
	revoke := args[0] == "token" && len(pos) == 2 && pos[0] == "revoke"
	if n, known := want[args[0]]; !revoke && (!known || len(pos) != n) {
		fmt.Fprint(env.stderr, clientsUsage)
		return errUsage
	}
	if *file != "" && args[0] != "diff" || *asJSON && args[0] != "show" {
		fmt.Fprint(env.stderr, "--file is for diff and --json for show\n\n"+clientsUsage)
		return errUsage
	}
	if args[0] == "secret" {
		return clientSecret(env)
	}
	if args[0] == "token" && !revoke {
		switch {
		case *expires < time.Minute || *expires > 8760*time.Hour:
			return fmt.Errorf("--expires: must be from 1m to 8760h (got %s)", *expires)
		case *maxUses < 0:
			return fmt.Errorf("--max-uses: must be 0 (no limit) or more (got %d)", *maxUses)
		}
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	store, err := openStores(ctx, cfg, cfg.AutoMigrate, sqlOnly) // clients live in the SQL store
	if err != nil {
		return err
	}
	defer store.Close()
	switch args[0] {
	case "diff":
		if *file != "" {
			cfg.ClientsFile = *file
		}
		return diffClients(ctx, env, cfg, store)
	case "list":
		return listClients(ctx, env, store)
	case "token":
		if revoke {
			return revokeInitialToken(ctx, env, store, pos[1])
		}
		return mintInitialToken(ctx, env, store, *expires, *maxUses)
	case "tokens":
		return listInitialTokens(ctx, env, store)
	default:
		return showClient(ctx, env, store, pos[0], *asJSON)
	}
}

// clientSecret prints a new client secret and its hash.
func clientSecret(env environment) error {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	secret := base64.RawURLEncoding.EncodeToString(b)
	fmt.Fprintf(env.stdout, "client secret (give it to the application; it is shown once):\n  %s\n", secret)
	fmt.Fprintf(env.stdout, "for clients.yaml:\n  client_secret_hash: %s\n", clientpolicy.HashSecret(secret))
	return nil
}

// clientSecretKeyName names the server secret that keys stored client
// secret hashes (see provider.KeyClientSecretHash).
const clientSecretKeyName = "client-secret-key"

// parseKeyedClients parses a clients file (data, read from filename) for a
// server with that issuer, and turns each secret hash into the keyed form
// the store holds, ready for SyncClients. An invalid file gives
// clientpolicy.ParseFile's clientpolicy.Problems.
func parseKeyedClients(data []byte, filename, issuer string, env environment, secretKey []byte) (clientpolicy.File, error) {
	f, err := clientpolicy.ParseFile(data, clientpolicy.Source{Filename: filename, Issuer: issuer, Getenv: env.getenv, ReadFile: env.readFile})
	if err != nil {
		return clientpolicy.File{}, err
	}
	// Only keyed hashes are stored: a copy of the database alone cannot
	// test guesses of a client secret.
	for i := range f.Clients {
		c := &f.Clients[i]
		if c.SecretHash == "" {
			continue
		}
		if c.SecretHash, err = provider.KeyClientSecretHash(secretKey, c.SecretHash); err != nil {
			return clientpolicy.File{}, fmt.Errorf("client %s: %w", c.ID, err)
		}
	}
	return f, nil
}

// Exit statuses of gatehouse clients diff, for deploy scripts.
const (
	diffNoChange = 0 // nothing to change, or only clients to create
	diffChanges  = 1 // would update, disable or re-enable clients
	diffInvalid  = 2 // the file is invalid, or serve would refuse it
	diffFailed   = 3 // could not compare: command line, store
)

// diffClients prints what applying the clients file would change in the
// store, changing nothing. The error carries diff's exit status (see
// clientsUsage): nil when nothing would change but clients created.
func diffClients(ctx context.Context, env environment, cfg Config, store *stores) error {
	data, err := env.readFile(cfg.ClientsFile)
	if err != nil {
		return &exitError{diffInvalid, fmt.Errorf("clients file: %w", err)}
	}
	key, err := storedClientSecretKey(ctx, cfg, store, env)
	if err != nil {
		return err
	}
	defer clear(key)
	f, err := parseKeyedClients(data, cfg.ClientsFile, cfg.Issuer, env, key)
	if err != nil {
		return &exitError{diffInvalid, fmt.Errorf("clients file %s is invalid:\n%w", cfg.ClientsFile, err)}
	}
	applied, err := store.AppliedClientRegistry(ctx)
	if errors.Is(err, storage.ErrNotFound) {
		applied, err = nil, nil
	}
	if err != nil {
		return err
	}
	reg := storage.ClientRegistry{Revision: f.Revision, Digest: clientsDigest(f.Clients)}
	if err := storage.CheckClientRegistry(applied, reg); err != nil {
		fmt.Fprintln(env.stdout, registryLine(reg, applied))
		return &exitError{diffInvalid, fmt.Errorf("serve would not apply %s: %w", cfg.ClientsFile, err)}
	}
	stored, err := store.ListClients(ctx)
	if err != nil {
		return err
	}
	plan, err := storage.PlanClientSync(stored, f.Clients)
	if err != nil {
		return err
	}
	if applied != nil || reg.Revision != 0 {
		fmt.Fprintln(env.stdout, registryLine(reg, applied))
	}
	printClientPlan(env.stdout, plan, stored)
	if len(plan.Update)+len(plan.Disable) > 0 {
		return &exitError{diffChanges, fmt.Errorf("applying %s would update or disable clients (exit status %d)", cfg.ClientsFile, diffChanges)}
	}
	return nil
}

// registryLine describes the file's registry (revision and digest) against
// the one applied in the store (nil: none), for diff.
func registryLine(file storage.ClientRegistry, applied *storage.ClientRegistry) string {
	rev := func(n int64) string {
		if n == 0 {
			return "no revision"
		}
		return fmt.Sprintf("revision %d", n)
	}
	if applied == nil {
		return fmt.Sprintf("%s; the store has applied no clients file yet", rev(file.Revision))
	}
	same := "other clients"
	if file.Digest == applied.Digest {
		same = "the same clients"
	}
	return fmt.Sprintf("%s; the store applied %s (%s) at %s by %s", rev(file.Revision), rev(applied.Revision), same,
		applied.AppliedAt.UTC().Format(time.RFC3339), applied.AppliedBy)
}

// storedClientSecretKey returns the server secret stored client secret
// hashes are keyed with. A store without one yet (serve creates it before
// its first sync) holds no keyed hash: a random key then makes every secret
// compare as changed, as a sync would find it, and nothing is written.
func storedClientSecretKey(ctx context.Context, cfg Config, store *stores, env environment) ([]byte, error) {
	_, err := store.Secret(ctx, clientSecretKeyName)
	if errors.Is(err, storage.ErrNotFound) {
		key := make([]byte, 32)
		_, err := rand.Read(key)
		return key, err
	}
	if err != nil {
		return nil, fmt.Errorf("server secret %s: %w", clientSecretKeyName, err)
	}
	km, err := newKeyManager(cfg, store, newLogger(env.stderr, cfg.slogLevel()))
	if err != nil {
		return nil, err
	}
	key, err := km.Secret(ctx, clientSecretKeyName)
	if err != nil {
		return nil, fmt.Errorf("server secret %s: %w", clientSecretKeyName, err)
	}
	return key, nil
}

// printClientPlan writes the plan for people: one line per client, the
// changed fields of each update under it, and a summary.
func printClientPlan(w io.Writer, plan storage.ClientSyncPlan, stored []storage.Client) {
	rep := plan.Report()
	if len(rep.Created)+len(rep.Updated)+len(rep.Disabled) == 0 {
		fmt.Fprintln(w, "no changes")
		return
	}
	byID := make(map[string]storage.Client, len(stored))
	for _, c := range stored {
		byID[c.ID] = c
	}
	for _, c := range plan.Create {
		fmt.Fprintf(w, "create   %s (%s, %s)\n", c.ID, clientKind(&c), c.TokenEndpointAuthMethod)
	}
	for _, c := range plan.Update {
		fmt.Fprintf(w, "update   %s\n", c.ID)
		old := byID[c.ID]
		if old.Disabled {
			fmt.Fprintln(w, "           enabled again (it is back in the file)")
		}
		for _, line := range clientChanges(&old, &c) {
			fmt.Fprintf(w, "           %s\n", line)
		}
	}
	for _, id := range rep.Disabled {
		fmt.Fprintf(w, "disable  %s (gone from the file)\n", id)
	}
	fmt.Fprintf(w, "%d to create, %d to update, %d to disable\n", len(rep.Created), len(rep.Updated), len(rep.Disabled))
}

// clientField is one setting of a stored client that a sync sets, under
// its clients.yaml name, with its value as people read it.
type clientField struct {
	key   string
	value func(c *storage.Client) string
	// changed, if set, describes a change without the values: a secret
	// hash is never printed, a key set is too long to.
	changed string
}

// clientFields are the settings a sync sets, in the order of clients.yaml:
// every field of storage.Client but ID, Disabled, CreatedAt and UpdatedAt
// (TestClientFieldsCoverStorageClient keeps it so).
func clientFields() []clientField {
	list := func(l []string) string { return "[" + strings.Join(l, ", ") + "]" }
	flag := func(b bool) string { return fmt.Sprint(b) }
	return []clientField{
		{key: "client_name", value: func(c *storage.Client) string { return c.Name }},
		{key: "client_secret", value: func(c *storage.Client) string { return c.SecretHash }, changed: "secret changed"},
		{key: "application_type", value: func(c *storage.Client) string { return c.ApplicationType }},
		{key: "token_endpoint_auth_method", value: func(c *storage.Client) string { return c.TokenEndpointAuthMethod }},
		{key: "redirect_uris", value: func(c *storage.Client) string { return list(c.RedirectURIs) }},
		{key: "post_logout_redirect_uris", value: func(c *storage.Client) string { return list(c.PostLogoutRedirectURIs) }},
		{key: "grant_types", value: func(c *storage.Client) string { return list(c.GrantTypes) }},
		{key: "response_types", value: func(c *storage.Client) string { return list(c.ResponseTypes) }},
		{key: "scope", value: func(c *storage.Client) string { return strings.Join(c.Scopes, " ") }},
		{key: "allowed_cors_origins", value: func(c *storage.Client) string { return list(c.AllowedCORSOrigins) }},
		{key: "id_token_signed_response_alg", value: func(c *storage.Client) string { return orDefault(c.IDTokenSignedResponseAlg, "server default") }},
		{key: "access_token_format", value: func(c *storage.Client) string { return orDefault(c.AccessTokenFormat, "jwt") }},
		{key: "jwks", value: func(c *storage.Client) string { return string(c.JWKS) }, changed: "jwks changed"},
		{key: "jwks_uri", value: func(c *storage.Client) string { return c.JWKSURI }},
		{key: "refresh_token_grace_period", value: func(c *storage.Client) string { return durationSetting(c.RefreshGracePeriod, "server default") }},
		{key: "refresh_token_idle_ttl", value: func(c *storage.Client) string { return durationSetting(c.RefreshTokenIdleTTL, "no idle limit") }},
		{key: "refresh_token_absolute_ttl", value: func(c *storage.Client) string { return durationSetting(c.RefreshTokenAbsoluteTTL, "server default") }},
		{key: "skip_consent", value: func(c *storage.Client) string { return flag(c.SkipConsent) }},
		{key: "require_mfa", value: func(c *storage.Client) string { return flag(c.RequireMFA) }},
		{key: "dpop_bound_access_tokens", value: func(c *storage.Client) string { return flag(c.DPoPBoundAccessTokens) }},
		{key: "profile", value: func(c *storage.Client) string { return orDefault(c.Profile, "none") }},
		{key: "default_acr_values", value: func(c *storage.Client) string { return list(c.DefaultACRValues) }},
		{key: "allowed_groups", value: func(c *storage.Client) string { return list(c.AllowedGroups) }},
		{key: "require_pushed_authorization_requests", value: func(c *storage.Client) string { return flag(c.RequirePushedAuthorizationRequests) }},
		{key: "request_object_signing_alg", value: func(c *storage.Client) string {
			return orDefault(c.RequestObjectSigningAlg, "none: no request objects")
		}},
		{key: "backchannel_logout_uri", value: func(c *storage.Client) string { return c.BackchannelLogoutURI }},
		{key: "backchannel_logout_session_required", value: func(c *storage.Client) string { return flag(c.BackchannelLogoutSessionRequired) }},
		{key: "frontchannel_logout_uri", value: func(c *storage.Client) string { return c.FrontchannelLogoutURI }},
		{key: "frontchannel_logout_session_required", value: func(c *storage.Client) string { return flag(c.FrontchannelLogoutSessionRequired) }},
	}
}

// clientChanges describes how b differs from a, one line per field:
// "redirect_uris: [x] → [x, y]". Secrets and key sets are named, never
// shown.
func clientChanges(a, b *storage.Client) []string {
	var lines []string
	for _, f := range clientFields() {
		was, is := f.value(a), f.value(b)
		switch {
		case was == is:
		case f.changed != "":
			lines = append(lines, f.changed)
		default:
			lines = append(lines, fmt.Sprintf("%s: %s → %s", f.key, orDefault(was, "none"), orDefault(is, "none")))
		}
	}
	return lines
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// durationSetting shows a duration setting of a client as clients.yaml
// writes it; zero (not set) as unset says, and a negative one (the grace
// period's NoRefreshGrace) as 0s.
func durationSetting(d time.Duration, unset string) string {
	switch {
	case d == 0:
		return unset
	case d < 0:
		return "0s"
	}
	return clientpolicy.FormatDuration(d)
}

// clientKind is "public" for clients without a secret or key (auth method
// none), else "confidential".
func clientKind(c *storage.Client) string {
	if c.TokenEndpointAuthMethod == "none" {
		return "public"
	}
	return "confidential"
}

// listClients prints every stored client, disabled ones included.
// clientSource names where a client is declared: file (clients.yaml), api
// (the admin API) or registration (dynamic client registration).
func clientSource(c *storage.Client) string {
	if c.Declared() {
		return storage.ClientSourceFile
	}
	return c.Source
}

func listClients(ctx context.Context, env environment, store *stores) error {
	list, err := store.ListClients(ctx)
	if err != nil {
		return err
	}
	yesNo := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT_ID\tNAME\tTYPE\tAUTH\tGRANTS\tSTATUS\tSKIP_CONSENT\tBACKCHANNEL\tSOURCE")
	for _, c := range list {
		status := "enabled"
		if c.Disabled {
			status = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, printable(c.Name), clientKind(&c), c.TokenEndpointAuthMethod,
			strings.Join(c.GrantTypes, ","), status, yesNo(c.SkipConsent), yesNo(c.BackchannelLogoutURI != ""), clientSource(&c))
	}
	return tw.Flush()
}

// secretScheme shows a stored secret hash by its scheme only
// ("hmac-sha256:…"), or "none".
func secretScheme(hash string) string {
	scheme, _, ok := strings.Cut(hash, ":")
	switch {
	case hash == "":
		return "none"
	case !ok:
		return "…"
	}
	return scheme + ":…"
}

// shownClient is a stored client as show --json prints it, under the names
// of clients.yaml; settings left unset are left out. The secret hash is
// reduced to its scheme.
type shownClient struct {
	ID                                 string          `json:"client_id"`
	Name                               string          `json:"client_name"`
	Type                               string          `json:"type"`
	Disabled                           bool            `json:"disabled"`
	Source                             string          `json:"source"`
	SecretHash                         string          `json:"client_secret_hash,omitempty"`
	ApplicationType                    string          `json:"application_type"`
	TokenEndpointAuthMethod            string          `json:"token_endpoint_auth_method"`
	RedirectURIs                       []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs             []string        `json:"post_logout_redirect_uris,omitempty"`
	GrantTypes                         []string        `json:"grant_types"`
	ResponseTypes                      []string        `json:"response_types"`
	Scope                              string          `json:"scope,omitempty"`
	AllowedCORSOrigins                 []string        `json:"allowed_cors_origins,omitempty"`
	IDTokenSignedResponseAlg           string          `json:"id_token_signed_response_alg,omitempty"`
	AccessTokenFormat                  string          `json:"access_token_format"`
	JWKS                               json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                            string          `json:"jwks_uri,omitempty"`
	RefreshTokenGracePeriod            string          `json:"refresh_token_grace_period,omitempty"`
	RefreshTokenIdleTTL                string          `json:"refresh_token_idle_ttl,omitempty"`
	RefreshTokenAbsoluteTTL            string          `json:"refresh_token_absolute_ttl,omitempty"`
	SkipConsent                        bool            `json:"skip_consent"`
	RequireMFA                         bool            `json:"require_mfa"`
	DPoPBoundAccessTokens              bool            `json:"dpop_bound_access_tokens"`
	Profile                            string          `json:"profile,omitempty"`
	DefaultACRValues                   []string        `json:"default_acr_values,omitempty"`
	AllowedGroups                      []string        `json:"allowed_groups,omitempty"`
	RequirePushedAuthorizationRequests bool            `json:"require_pushed_authorization_requests"`
	RequestObjectSigningAlg            string          `json:"request_object_signing_alg,omitempty"`
	BackchannelLogoutURI               string          `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired   bool            `json:"backchannel_logout_session_required"`
	FrontchannelLogoutURI              string          `json:"frontchannel_logout_uri,omitempty"`
	FrontchannelLogoutSessionRequired  bool            `json:"frontchannel_logout_session_required"`
	CreatedAt                          time.Time       `json:"created_at"`
	UpdatedAt                          time.Time       `json:"updated_at"`
}

// showClient prints every stored setting of the client with that id,
// disabled or not.
func showClient(ctx context.Context, env environment, store *stores, id string, asJSON bool) error {
	list, err := store.ListClients(ctx)
	if err != nil {
		return err
	}
	var c *storage.Client
	for i := range list {
		if list[i].ID == id {
			c = &list[i]
		}
	}
	if c == nil {
		return fmt.Errorf("no client %q (see gatehouse clients list)", id)
	}
	if asJSON {
		s := shownClient{
			ID:                                 c.ID,
			Name:                               c.Name,
			Type:                               clientKind(c),
			Disabled:                           c.Disabled,
			Source:                             clientSource(c),
			ApplicationType:                    c.ApplicationType,
			TokenEndpointAuthMethod:            c.TokenEndpointAuthMethod,
			RedirectURIs:                       c.RedirectURIs,
			PostLogoutRedirectURIs:             c.PostLogoutRedirectURIs,
			GrantTypes:                         c.GrantTypes,
			ResponseTypes:                      c.ResponseTypes,
			Scope:                              strings.Join(c.Scopes, " "),
			AllowedCORSOrigins:                 c.AllowedCORSOrigins,
			IDTokenSignedResponseAlg:           c.IDTokenSignedResponseAlg,
			AccessTokenFormat:                  orDefault(c.AccessTokenFormat, "jwt"),
			JWKS:                               c.JWKS,
			JWKSURI:                            c.JWKSURI,
			RefreshTokenGracePeriod:            durationSetting(c.RefreshGracePeriod, ""),
			RefreshTokenIdleTTL:                durationSetting(c.RefreshTokenIdleTTL, ""),
			RefreshTokenAbsoluteTTL:            durationSetting(c.RefreshTokenAbsoluteTTL, ""),
			SkipConsent:                        c.SkipConsent,
			RequireMFA:                         c.RequireMFA,
			DefaultACRValues:                   c.DefaultACRValues,
			AllowedGroups:                      c.AllowedGroups,
			RequirePushedAuthorizationRequests: c.RequirePushedAuthorizationRequests,
			RequestObjectSigningAlg:            c.RequestObjectSigningAlg,
			BackchannelLogoutURI:               c.BackchannelLogoutURI,
			BackchannelLogoutSessionRequired:   c.BackchannelLogoutSessionRequired,
			FrontchannelLogoutURI:              c.FrontchannelLogoutURI,
			FrontchannelLogoutSessionRequired:  c.FrontchannelLogoutSessionRequired,
			CreatedAt:                          c.CreatedAt.UTC(),
			UpdatedAt:                          c.UpdatedAt.UTC(),
			DPoPBoundAccessTokens:              c.DPoPBoundAccessTokens,
			Profile:                            c.Profile,
		}
		if c.SecretHash != "" {
			s.SecretHash = secretScheme(c.SecretHash)
		}
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	status := "enabled"
	if c.Disabled {
		status = "disabled (gone from clients.yaml)"
	}
	if !c.Declared() {
		status += ", not in clients.yaml"
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("client_id", c.ID)
	row("client_name", printable(c.Name))
	row("type", clientKind(c))
	row("status", status)
	row("source", clientSource(c))
	row("client_secret_hash", secretScheme(c.SecretHash))
	for _, f := range clientFields() {
		switch f.key {
		case "client_name", "client_secret":
		case "jwks":
			row("jwks", orDefault(string(c.JWKS), "none"))
		default:
			row(f.key, orDefault(printable(f.value(c)), "none"))
		}
	}
	row("created_at", c.CreatedAt.UTC().Format(time.RFC3339))
	row("updated_at", c.UpdatedAt.UTC().Format(time.RFC3339))
	return tw.Flush()
}
