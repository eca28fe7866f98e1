package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-idp/gatehouse/keys"
	"github.com/gatehouse-idp/gatehouse/provider"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// Limits on client fields.
const (
	maxClientIDLen       = 128
	maxClientNameLen     = 200 // characters
	maxRedirectURILen    = 2000
	minClientSecretLen   = 32 // characters of a plain-text secret
	generateSecretAdvice = "generate one with `openssl rand -hex 32`"

	// Bounds of the per-client refresh-token policy. The absolute TTL's
	// upper bound is the server's, maxRefreshTokenTTL.
	maxRefreshGracePeriod = time.Minute
	minRefreshIdleTTL     = time.Minute
	minRefreshAbsoluteTTL = time.Hour
)

// Keys of the consent and logout settings in clients.yaml.
const (
	keySkipConsent           = "skip_consent"
	keyBackchannelURI        = "backchannel_logout_uri"
	keyBackchannelSessionReq = "backchannel_logout_session_required"
	keyFrontchannelURI       = "frontchannel_logout_uri"
	keyFrontchannelSessReq   = "frontchannel_logout_session_required"
)

// keyCORSOrigins lists the web origins, besides those of its redirect
// URIs, from which a public web client may call the token, revocation and
// userinfo endpoints in a browser.
const keyCORSOrigins = "allowed_cors_origins"

// Keys of the per-client refresh-token policy in clients.yaml: durations
// like 10s, 30m or 720h.
const (
	keyRefreshGrace    = "refresh_token_grace_period"
	keyRefreshIdle     = "refresh_token_idle_ttl"
	keyRefreshAbsolute = "refresh_token_absolute_ttl"
)

// Client metadata values Gatehouse accepts (RFC 7591 §2).
const (
	grantAuthorizationCode = "authorization_code"
	grantRefreshToken      = "refresh_token"
	grantClientCredentials = "client_credentials"
	authMethodBasic        = "client_secret_basic"
	authMethodPost         = "client_secret_post"
	authMethodNone         = "none"
	authMethodPrivateKey   = "private_key_jwt"
	appTypeWeb             = "web"
	appTypeNative          = "native"
)

// Values of access_token_format in clients.yaml (storage.Client's
// AccessTokenFormat); leaving it out means jwt and is stored as "".
const (
	accessTokenJWT    = "jwt"
	accessTokenOpaque = "opaque"
)

// secretKeys are the ways clients.yaml can give a confidential client's
// secret; exactly one is required.
func secretKeys() []string {
	return []string{"client_secret", "client_secret_env", "client_secret_file", "client_secret_hash"}
}

// clientsFile is a clients.yaml as parsed: its clients, ready for
// storage.Clients.SyncClients, and its revision.
type clientsFile struct {
	// Revision is the file's top-level revision, 0 when it declares none.
	Revision int64
	// Clients are in file order; an explicit `clients: []` gives none.
	Clients []storage.Client
	// DemoSecret lists the clients whose secret is one published in
	// Gatehouse's repository (see publishedSecretHashes): accepted only for
	// an issuer on loopback, and worth a warning even then.
	DemoSecret []string
}

// parseClientsFile parses clients.yaml (data, read from filename) into
// clients ready for storage.Clients.SyncClients, as for the default issuer
// (on loopback): see parseClientsFileFor.
func parseClientsFile(data []byte, filename string, getenv func(string) string, readFile func(string) ([]byte, error)) ([]storage.Client, error) {
	f, err := parseClientsFileFor(data, filename, defaultConfig().Issuer, getenv, readFile)
	return f.Clients, err
}

// parseClientsFileFor parses clients.yaml (data, read from filename) for a
// server whose issuer is issuer.
//
// The file is a mapping with a clients key holding a list of client
// metadata mappings named as in RFC 7591 (see the shipped clients.yaml),
// and optionally a revision: a whole number from 1 up that the operator
// raises with every change, so that instances sharing a database never
// apply an older file over a newer one (see storage.CheckClientRegistry).
// The clients list is required: an empty file, a file of comments only, a
// file without clients: or with `clients:` and nothing under it is an
// error, as such a file is far more often cut short than meant to remove
// every client; that takes an explicit `clients: []`.
//
// A client with the refresh_token grant may set its own refresh-token
// policy: refresh_token_grace_period (0s: no grace window; absent: the
// server's refresh_grace), refresh_token_idle_ttl (absent: no idle limit)
// and refresh_token_absolute_ttl (absent: the server's refresh_token_ttl),
// stored in the storage.Client fields of the same names (a grace period of
// 0s as storage.NoRefreshGrace).
//
// skip_consent, backchannel_logout_session_required and
// frontchannel_logout_session_required are YAML booleans (true or false,
// unquoted); backchannel_logout_uri and frontchannel_logout_uri are checked
// as redirect URIs are (see checkLogoutURIs).
//
// Secrets come from client_secret (hashed here), client_secret_env
// (getenv), client_secret_file (readFile; a relative path is relative to
// filename's directory; one trailing newline is trimmed) or
// client_secret_hash (stored as is). Only the hash is kept. A secret
// published in Gatehouse's repository (the sample file's demo secret) is
// refused unless issuer is on a loopback host: anyone can read it.
//
// Every problem in the file is reported, not only the first: the error is
// a configProblems whose entries read
// "clients.yaml:14: clients[1].redirect_uris[0]: message". Messages never
// contain secret values. On error the clientsFile is empty.
func parseClientsFileFor(data []byte, filename, issuer string, getenv func(string) string, readFile func(string) ([]byte, error)) (clientsFile, error) {
	root, prob := parseYAMLRoot(data, filename)
	if prob != nil {
		return clientsFile{}, configProblems{*prob}
	}
	if root == nil {
		return clientsFile{}, configProblems{{Pos: filename, Msg: "holds no clients: list (it is empty or only comments, perhaps cut short); " + noClientsAdvice}}
	}
	p := &clientsFileParser{filename: filename, getenv: getenv, readFile: readFile, issuer: issuer}
	if root.Kind != yaml.MappingNode {
		p.bad(root.Line, "", "the top level must be a mapping with a clients list, like `clients: [...]`")
		return clientsFile{}, p.probs
	}
	var (
		list     *yaml.Node
		hasList  bool
		revision int64
	)
	seen := make(map[string]int)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.bad(k.Line, "", "keys must be plain strings")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			p.bad(k.Line, k.Value, fmt.Sprintf("given twice (first at line %d)", first))
			continue
		}
		seen[k.Value] = k.Line
		switch k.Value {
		case "clients":
			hasList = true
			switch {
			case v.Kind == yaml.SequenceNode:
				list = v
			case v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null":
				p.bad(k.Line, "clients", "has no list under it (perhaps the file was cut short); "+noClientsAdvice)
			default:
				p.bad(k.Line, "clients", "must be a list of clients, each item starting with `- client_id: ...`")
			}
		case "revision":
			n, msg := yamlRevision(v)
			if msg != "" {
				p.bad(v.Line, "revision", msg)
				continue
			}
			revision = n
		default:
			p.bad(k.Line, k.Value, "unknown field: the file holds only `revision:` and `clients:`")
		}
	}
	if !hasList {
		p.bad(root.Line, "clients", "missing (perhaps the file was cut short); "+noClientsAdvice)
	}

	clients := []storage.Client{}
	var demo []string
	if list != nil {
		firstUse := make(map[string]string) // client_id → field path and line of its first use
		for i, item := range list.Content {
			c, ok := p.parseClient(item, i)
			if !ok {
				continue
			}
			if c.ID != "" {
				if first, dup := firstUse[c.ID]; dup {
					p.bad(p.lastIDLine, fmt.Sprintf("clients[%d].client_id", i), fmt.Sprintf("duplicate: %q is already used by %s", c.ID, first))
				} else {
					firstUse[c.ID] = fmt.Sprintf("clients[%d] (line %d)", i, p.lastIDLine)
				}
			}
			if slices.Contains(publishedSecretHashes(), c.SecretHash) {
				demo = append(demo, c.ID)
			}
			clients = append(clients, c)
		}
	}
	if len(p.probs) > 0 {
		return clientsFile{}, p.probs
	}
	return clientsFile{Revision: revision, Clients: clients, DemoSecret: demo}, nil
}

// noClientsAdvice ends the message for a clients file without a clients
// list.
const noClientsAdvice = "list the clients under `clients:`, or write `clients: []` to remove every client on purpose"

// yamlRevision reads clients.yaml's revision: a whole number from 1 up,
// unquoted. msg says what else n is.
func yamlRevision(n *yaml.Node) (rev int64, msg string) {
	const want = "must be a whole number from 1 up, unquoted, raised with every change (like `revision: 42`)"
	s, msg := yamlString(n)
	switch {
	case msg != "":
		return 0, msg
	case n.ShortTag() == "!!null":
		return 0, "has no value: " + want + ", or leave it out"
	case n.ShortTag() != "!!int":
		return 0, fmt.Sprintf("%s (got %q)", want, s)
	}
	if err := n.Decode(&rev); err != nil || rev < 1 {
		return 0, fmt.Sprintf("%s (got %s)", want, s)
	}
	return rev, ""
}

// publishedSecretHashes are the SHA-256 hashes (client_secret_hash form) of
// the client secrets published in Gatehouse's repository, which anyone can
// read: the sample clients.yaml's example-web demo secret
// (example-web-demo-secret-local-testing-only) and the load generator's
// (gatehouse-load-demo-secret-local-testing-only).
func publishedSecretHashes() []string {
	return []string{
		"sha256:bf18685f35f4eac9541e7eedb863831b9781c756514c00163c10031c2a3ae3c5",
		"sha256:e73cec7e7083bf49ae66a1be4be18e24a460e3d6420235580899c0947c2131a9",
	}
}

// issuerOnLoopback reports whether the issuer URL's host is one of the
// loopback hosts (localhost, 127.0.0.1, [::1]): only browsers and apps on
// the same machine can use such an issuer.
func issuerOnLoopback(issuer string) bool {
	u, err := url.Parse(issuer)
	return err == nil && isLoopbackHostname(u.Hostname())
}

// clientsFileParser collects the problems of one clients file.
type clientsFileParser struct {
	filename string
	getenv   func(string) string
	readFile func(string) ([]byte, error)
	// issuer is the server's; on loopback it allows the published demo
	// secrets.
	issuer string
	probs  configProblems
	// lastIDLine is the line of the client_id of the client parsed last.
	lastIDLine int
}

func (p *clientsFileParser) bad(line int, field, msg string) {
	p.probs = append(p.probs, configProblem{Pos: p.filename + ":" + strconv.Itoa(line), Field: field, Msg: msg})
}

// parseClient parses clients[index]. ok is false when item is not a
// mapping at all; otherwise the client is returned even if problems were
// recorded, so that duplicate ids are still found.
func (p *clientsFileParser) parseClient(item *yaml.Node, index int) (c storage.Client, ok bool) {
	prefix := fmt.Sprintf("clients[%d]", index)
	if item.Kind != yaml.MappingNode {
		p.bad(item.Line, prefix, "must be a mapping of client fields, starting with `- client_id: ...`")
		return c, false
	}

	// lines maps field paths (relative to the client) to their line, so
	// that problems found after parsing point at the right place.
	lines := make(map[string]int)
	strs := make(map[string]string)
	lists := make(map[string][]string)
	durs := make(map[string]time.Duration)
	bools := make(map[string]bool)
	var secretsGiven []string // secret keys present, in file order
	var jwks []byte           // the jwks given, as compact JSON
	for i := 0; i+1 < len(item.Content); i += 2 {
		k, v := item.Content[i], item.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.bad(k.Line, prefix, "keys must be plain strings")
			continue
		}
		key := k.Value
		field := prefix + "." + key
		if first, dup := lines[key]; dup {
			p.bad(k.Line, field, fmt.Sprintf("given twice (first at line %d)", first))
			continue
		}
		lines[key] = k.Line
		switch key {
		case "client_id", "client_name", "token_endpoint_auth_method", "application_type", "scope",
			"id_token_signed_response_alg", "access_token_format", "jwks_uri",
			keyBackchannelURI, keyFrontchannelURI,
			"client_secret", "client_secret_env", "client_secret_file", "client_secret_hash":
			s, msg := yamlString(v)
			if msg != "" {
				p.bad(v.Line, field, msg)
				continue
			}
			if v.ShortTag() == "!!null" {
				p.bad(k.Line, field, "has no value")
				continue
			}
			strs[key] = s
			lines[key] = v.Line
			if slices.Contains(secretKeys(), key) {
				secretsGiven = append(secretsGiven, key)
			}
		case keySkipConsent, keyBackchannelSessionReq, keyFrontchannelSessReq:
			b, msg := yamlBool(v)
			if msg != "" {
				p.bad(v.Line, field, msg)
				continue
			}
			bools[key] = b
			lines[key] = v.Line
		case keyRefreshGrace, keyRefreshIdle, keyRefreshAbsolute:
			str, msg := yamlString(v)
			if msg == "" && v.ShortTag() == "!!null" {
				msg = "has no value: give a duration like 10s, 30m or 720h, or leave it out"
			}
			if msg != "" {
				p.bad(v.Line, field, msg)
				continue
			}
			lines[key] = v.Line
			d, err := time.ParseDuration(str)
			switch {
			case err != nil:
				p.bad(v.Line, field, fmt.Sprintf("not a duration: %q (write it like 10s, 30m or 720h)", str))
			case d < 0:
				p.bad(v.Line, field, fmt.Sprintf("must not be negative (got %s)", str))
			default:
				durs[key] = d
			}
		case "jwks":
			raw, msg := yamlJWKS(v)
			if msg != "" {
				p.bad(k.Line, field, msg)
				continue
			}
			jwks = raw
		case "redirect_uris", "post_logout_redirect_uris", "grant_types", "response_types", keyCORSOrigins:
			list, ok := p.stringList(v, field, lines, key)
			if ok {
				lists[key] = list
			}
		default:
			msg := "unknown field"
			if slices.Contains(unsupportedClientFields(), key) {
				msg = "not supported yet"
			}
			p.bad(k.Line, field, msg)
		}
	}

	c.ID = strs["client_id"]
	if _, given := lines["client_id"]; !given {
		lines["client_id"] = item.Line
	}
	p.lastIDLine = lines["client_id"]
	c.Name = c.ID
	if name, given := strs["client_name"]; given {
		c.Name = name
	}
	c.RedirectURIs = lists["redirect_uris"]
	c.PostLogoutRedirectURIs = lists["post_logout_redirect_uris"]
	c.AllowedCORSOrigins = lists[keyCORSOrigins]
	c.GrantTypes = []string{grantAuthorizationCode}
	if gt, given := lists["grant_types"]; given {
		c.GrantTypes = gt
	}
	// A client without the code grant (a service on client_credentials)
	// has no response types by default (RFC 7591 §2.1).
	c.ResponseTypes = []string{"code"}
	if !slices.Contains(c.GrantTypes, grantAuthorizationCode) {
		c.ResponseTypes = nil
	}
	if rt, given := lists["response_types"]; given {
		c.ResponseTypes = rt
	}
	c.TokenEndpointAuthMethod = authMethodBasic
	if m, given := strs["token_endpoint_auth_method"]; given {
		c.TokenEndpointAuthMethod = m
	}
	c.ApplicationType = appTypeWeb
	if t, given := strs["application_type"]; given {
		c.ApplicationType = t
	}
	if scope := strings.Fields(strs["scope"]); len(scope) > 0 {
		c.Scopes = scope
	}
	c.JWKS = jwks
	if uri, given := strs["jwks_uri"]; given {
		c.JWKSURI = uri
		if uri == "" {
			p.bad(lines["jwks_uri"], prefix+".jwks_uri", "must not be empty")
		}
	}
	if alg, given := strs["id_token_signed_response_alg"]; given {
		c.IDTokenSignedResponseAlg = alg
		if alg == "" {
			p.bad(lines["id_token_signed_response_alg"], prefix+".id_token_signed_response_alg",
				"must not be empty: leave it out for the server's default, RS256")
		}
	}
	if format, given := strs["access_token_format"]; given {
		c.AccessTokenFormat = format
		if format == "" {
			p.bad(lines["access_token_format"], prefix+".access_token_format",
				"must not be empty: use jwt or opaque, or leave it out for jwt")
		}
	}

	c.SkipConsent = bools[keySkipConsent]
	c.BackchannelLogoutSessionRequired = bools[keyBackchannelSessionReq]
	c.FrontchannelLogoutSessionRequired = bools[keyFrontchannelSessReq]
	for _, f := range []struct {
		key string
		uri *string
	}{
		{keyBackchannelURI, &c.BackchannelLogoutURI},
		{keyFrontchannelURI, &c.FrontchannelLogoutURI},
	} {
		if v, given := strs[f.key]; given {
			*f.uri = v
			if v == "" {
				p.bad(lines[f.key], prefix+"."+f.key, "must not be empty: leave it out for none")
			}
		}
	}

	if d, given := durs[keyRefreshGrace]; given {
		c.RefreshGracePeriod = d
		if d == 0 {
			c.RefreshGracePeriod = storage.NoRefreshGrace
		}
	}
	if d, given := durs[keyRefreshIdle]; given {
		c.RefreshTokenIdleTTL = d
		if d == 0 {
			p.bad(lines[keyRefreshIdle], prefix+"."+keyRefreshIdle,
				fmt.Sprintf("must be at least %s: leave it out for no idle limit", fmtDuration(minRefreshIdleTTL)))
		}
	}
	if d, given := durs[keyRefreshAbsolute]; given {
		c.RefreshTokenAbsoluteTTL = d
		if d == 0 {
			p.bad(lines[keyRefreshAbsolute], prefix+"."+keyRefreshAbsolute,
				fmt.Sprintf("must be at least %s: leave it out for the server's refresh_token_ttl", fmtDuration(minRefreshAbsoluteTTL)))
		}
	}

	// A list key that was given but could not be read must not be replaced
	// by its default or reported again as missing.
	_, badRedirects := lines["redirect_uris"]
	badRedirects = badRedirects && lists["redirect_uris"] == nil
	checkClient(&c, func(field, msg string) {
		if field == "redirect_uris" && badRedirects {
			return
		}
		line, ok := lines[field]
		if !ok {
			line, ok = lines[strings.SplitN(field, "[", 2)[0]]
		}
		if !ok {
			line = item.Line
		}
		p.bad(line, prefix+"."+field, msg)
	})
	p.resolveSecret(&c, prefix, item.Line, lines, strs, secretsGiven)
	return c, true
}

// stringList reads a list of strings, recording the line of each element
// as key[i] in lines. ok is false if v is not a list of strings. A null
// value is an empty list.
func (p *clientsFileParser) stringList(v *yaml.Node, field string, lines map[string]int, key string) (list []string, ok bool) {
	switch {
	case v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null":
		return []string{}, true
	case v.Kind != yaml.SequenceNode:
		p.bad(v.Line, field, "must be a list, like `[a, b]` or one `- item` per line")
		return nil, false
	}
	list = make([]string, 0, len(v.Content))
	ok = true
	for i, e := range v.Content {
		elemField := fmt.Sprintf("%s[%d]", field, i)
		s, msg := yamlString(e)
		if msg == "" && e.ShortTag() == "!!null" {
			msg = "has no value"
		}
		if msg != "" {
			p.bad(e.Line, elemField, msg)
			ok = false
			continue
		}
		lines[fmt.Sprintf("%s[%d]", key, i)] = e.Line
		list = append(list, s)
	}
	if !ok {
		return nil, false
	}
	return list, true
}

// resolveSecret turns the one secret key of a confidential client into
// c.SecretHash, and checks that public clients have none.
func (p *clientsFileParser) resolveSecret(c *storage.Client, prefix string, itemLine int, lines map[string]int, strs map[string]string, given []string) {
	switch c.TokenEndpointAuthMethod {
	case authMethodNone:
		for _, key := range given {
			p.bad(lines[key], prefix+"."+key, "public clients (token_endpoint_auth_method: none) have no secret: remove it")
		}
		return
	case authMethodPrivateKey:
		for _, key := range given {
			p.bad(lines[key], prefix+"."+key, "private_key_jwt clients authenticate with their keys (jwks or jwks_uri), not a secret: remove it")
		}
		return
	case authMethodBasic, authMethodPost:
	default:
		return // checkClient reported the method
	}
	if c.ApplicationType == appTypeNative {
		return // checkClient reported that native clients must be public
	}
	switch len(given) {
	case 0:
		p.bad(itemLine, prefix, fmt.Sprintf("confidential client (token_endpoint_auth_method: %s) needs a secret: give one of client_secret_hash, client_secret_env, client_secret_file or client_secret", c.TokenEndpointAuthMethod))
		return
	case 1:
	default:
		for _, key := range given[1:] {
			p.bad(lines[key], prefix+"."+key, fmt.Sprintf("give exactly one secret: %s is already given", given[0]))
		}
		return
	}

	key := given[0]
	field, line, v := prefix+"."+key, lines[key], strs[key]
	var secret, source string
	switch key {
	case "client_secret_hash":
		if !provider.ValidClientSecretHash(v) {
			p.bad(line, field, `must be "sha256:" followed by 64 lowercase hex digits: the SHA-256 of the secret, as printed by printf %s "$SECRET" | sha256sum`)
			return
		}
		c.SecretHash = v
		p.refusePublished(c, line, field)
		return
	case "client_secret":
		secret, source = v, "the secret"
	case "client_secret_env":
		if !validEnvName(v) {
			p.bad(line, field, fmt.Sprintf("%q is not an environment variable name", v))
			return
		}
		secret, source = p.getenv(v), "environment variable "+v
		if secret == "" {
			p.bad(line, field, fmt.Sprintf("environment variable %s is not set or is empty", v))
			return
		}
	case "client_secret_file":
		path := v
		if path == "" {
			p.bad(line, field, "must name a file")
			return
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(p.filename), path)
		}
		data, err := p.readFile(path)
		if err != nil {
			p.bad(line, field, fmt.Sprintf("cannot read the secret: %v", err))
			return
		}
		secret = strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
		source = "file " + path
		if secret == "" {
			p.bad(line, field, fmt.Sprintf("file %s is empty", path))
			return
		}
	}
	if strings.ContainsAny(secret, "\r\n") {
		p.bad(line, field, fmt.Sprintf("%s holds a line break inside the secret", source))
		return
	}
	if n := utf8.RuneCountInString(secret); n < minClientSecretLen {
		p.bad(line, field, fmt.Sprintf("%s is too short (%d characters, need at least %d): %s", source, n, minClientSecretLen, generateSecretAdvice))
		return
	}
	c.SecretHash = provider.HashClientSecret(secret)
	p.refusePublished(c, line, field)
}

// refusePublished reports c's secret, given as field at line, when it is
// one published in Gatehouse's repository and the issuer is not on
// loopback: such a server is meant to be reached from other machines, and
// anyone can read the secret.
func (p *clientsFileParser) refusePublished(c *storage.Client, line int, field string) {
	if issuerOnLoopback(p.issuer) || !slices.Contains(publishedSecretHashes(), c.SecretHash) {
		return
	}
	p.bad(line, field, fmt.Sprintf("is the demo secret published in Gatehouse's repository, which anyone can read: "+
		"it is accepted only while the issuer is on loopback (localhost, 127.0.0.1 or [::1]), and the issuer is %s. "+
		"Give this client a secret of its own: `gatehouse clients secret` prints one and its client_secret_hash", p.issuer))
}

// validEnvName reports whether s is a portable environment variable name.
func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || 'A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || i > 0 && '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}

// checkClientKeys checks jwks and jwks_uri: a private_key_jwt client has
// exactly one of them, other clients neither; jwks holds public signature
// keys only (provider.ValidateJWKS), jwks_uri is https (http only to a
// loopback address, for tests).
func checkClientKeys(c *storage.Client, bad func(field, msg string)) {
	hasJWKS, hasURI := len(c.JWKS) > 0, c.JWKSURI != ""
	if c.TokenEndpointAuthMethod != authMethodPrivateKey {
		if hasJWKS {
			bad("jwks", "only private_key_jwt clients have keys: set token_endpoint_auth_method: private_key_jwt or remove it")
		}
		if hasURI {
			bad("jwks_uri", "only private_key_jwt clients have keys: set token_endpoint_auth_method: private_key_jwt or remove it")
		}
		return
	}
	switch {
	case hasJWKS && hasURI:
		bad("jwks_uri", "give exactly one of jwks and jwks_uri")
	case !hasJWKS && !hasURI:
		bad("token_endpoint_auth_method", "private_key_jwt clients need their public keys: give jwks (a JWK Set) or jwks_uri")
	}
	if hasJWKS {
		if err := provider.ValidateJWKS(c.JWKS); err != nil {
			bad("jwks", strings.TrimPrefix(err.Error(), "jwks: "))
		}
	}
	if hasURI && !provider.AllowedJWKSURI(c.JWKSURI) {
		bad("jwks_uri", fmt.Sprintf("%q must be an absolute https URL (http only to 127.0.0.1, [::1] or localhost)", c.JWKSURI))
	}
}

// yamlJWKS reads clients.yaml's jwks: a mapping with keys: [...], or a
// string holding the JWK Set as JSON. It returns the set as compact JSON,
// or a message for the problem.
func yamlJWKS(v *yaml.Node) ([]byte, string) {
	var raw []byte
	switch v.Kind {
	case yaml.MappingNode:
		var m map[string]any
		if err := v.Decode(&m); err != nil {
			return nil, fmt.Sprintf("cannot be read: %v", err)
		}
		b, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Sprintf("cannot be turned into JSON: %v", err)
		}
		raw = b
	case yaml.ScalarNode:
		if v.ShortTag() != "!!str" {
			return nil, "must be a JWK Set: a mapping with `keys: [...]`, or a string holding its JSON"
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, []byte(v.Value)); err != nil {
			return nil, fmt.Sprintf("is not JSON: %v", err)
		}
		raw = buf.Bytes()
	default:
		return nil, "must be a JWK Set: a mapping with `keys: [...]`, or a string holding its JSON"
	}
	return raw, ""
}

// unsupportedClientFields are client metadata names Gatehouse knows but
// does not implement yet; they get a clearer message than unknown keys.
func unsupportedClientFields() []string {
	return []string{
		"client_uri", "logo_uri", "policy_uri", "tos_uri", "contacts",
	}
}

// validateClient checks a parsed client against every rule clients.yaml
// enforces, secrets included: a public client (auth method none) has no
// SecretHash; a confidential one has a valid one. parseClientsFile never
// returns a client for which it fails. The error is a configProblems.
func validateClient(c storage.Client) error {
	var probs configProblems
	pos := fmt.Sprintf("client %q", c.ID)
	bad := func(field, msg string) {
		probs = append(probs, configProblem{Pos: pos, Field: field, Msg: msg})
	}
	checkClient(&c, bad)
	switch c.TokenEndpointAuthMethod {
	case authMethodNone:
		if c.SecretHash != "" {
			bad("client_secret", "public clients have no secret")
		}
	case authMethodBasic, authMethodPost:
		if c.ApplicationType != appTypeNative && !provider.ValidClientSecretHash(c.SecretHash) {
			bad("client_secret_hash", "confidential clients need a valid secret hash")
		}
	case authMethodPrivateKey:
		if c.SecretHash != "" {
			bad("client_secret", "private_key_jwt clients have no secret")
		}
	}
	if len(probs) == 0 {
		return nil
	}
	return probs
}

// checkClient checks every rule of one client except its secret, calling
// bad with a field path relative to the client (such as
// "redirect_uris[0]") for each problem.
func checkClient(c *storage.Client, bad func(field, msg string)) {
	switch {
	case c.ID == "":
		bad("client_id", "missing: every client needs a client_id")
	case len(c.ID) > maxClientIDLen:
		bad("client_id", fmt.Sprintf("is %d characters long, the limit is %d", len(c.ID), maxClientIDLen))
	case strings.IndexFunc(c.ID, func(r rune) bool { return !isClientIDChar(r) }) >= 0:
		bad("client_id", fmt.Sprintf("%q may use only letters, digits and . _ ~ -", c.ID))
	}

	switch {
	case c.Name == "":
		bad("client_name", "must not be empty (leave it out to use the client_id)")
	case !utf8.ValidString(c.Name) || strings.IndexFunc(c.Name, unicode.IsControl) >= 0:
		bad("client_name", "must be text without control characters")
	case utf8.RuneCountInString(c.Name) > maxClientNameLen:
		bad("client_name", fmt.Sprintf("is longer than %d characters", maxClientNameLen))
	}

	switch c.ApplicationType {
	case appTypeWeb, appTypeNative:
	default:
		bad("application_type", fmt.Sprintf("%q is not web or native", c.ApplicationType))
	}

	switch c.TokenEndpointAuthMethod {
	case authMethodBasic, authMethodPost, authMethodNone, authMethodPrivateKey:
		if c.ApplicationType == appTypeNative && c.TokenEndpointAuthMethod != authMethodNone {
			bad("token_endpoint_auth_method", "native apps are public clients: set it to none and use PKCE (RFC 8252 §8.5: a secret shipped inside an app is not a secret)")
		}
	case "client_secret_jwt", "tls_client_auth", "self_signed_tls_client_auth":
		bad("token_endpoint_auth_method", fmt.Sprintf("%q is not supported yet: use client_secret_basic, client_secret_post, private_key_jwt or none", c.TokenEndpointAuthMethod))
	default:
		bad("token_endpoint_auth_method", fmt.Sprintf("%q is not client_secret_basic, client_secret_post, private_key_jwt or none", c.TokenEndpointAuthMethod))
	}
	checkClientKeys(c, bad)

	hasCode := slices.Contains(c.GrantTypes, grantAuthorizationCode)
	if len(c.GrantTypes) == 0 {
		bad("grant_types", "must list at least one grant type (leave it out for [authorization_code])")
	}
	for i, g := range c.GrantTypes {
		field := fmt.Sprintf("grant_types[%d]", i)
		switch g {
		case grantAuthorizationCode:
		case grantRefreshToken:
			if !hasCode {
				bad(field, "refresh_token needs authorization_code too: refresh tokens are issued with a code exchange")
			}
		case grantClientCredentials:
			if c.TokenEndpointAuthMethod == authMethodNone {
				bad(field, "client_credentials needs a confidential client: a public client (auth method none) cannot authenticate itself")
			}
		case "implicit":
			bad(field, "implicit is not supported: the implicit flow is deprecated (RFC 9700 §2.1.2); use authorization_code with PKCE")
		case "password":
			bad(field, "password is not supported: the resource owner password grant must not be used (RFC 9700 §2.4)")
		default:
			bad(field, fmt.Sprintf("%q is not supported: use authorization_code, refresh_token or client_credentials", g))
		}
		if slices.Index(c.GrantTypes, g) < i {
			bad(field, fmt.Sprintf("%q is listed twice", g))
		}
	}

	if hasCode && len(c.ResponseTypes) == 0 {
		bad("response_types", "must list code (leave it out for [code])")
	}
	for i, rt := range c.ResponseTypes {
		field := fmt.Sprintf("response_types[%d]", i)
		// code needs the authorization_code grant (RFC 7591 §2.1).
		if rt == "code" && !hasCode {
			bad(field, "code needs the authorization_code grant")
		}
		if rt != "code" {
			bad(field, fmt.Sprintf("%q is not supported: only code (the implicit and hybrid flows are not, RFC 9700 §2.1.2)", rt))
		}
		if slices.Index(c.ResponseTypes, rt) < i {
			bad(field, fmt.Sprintf("%q is listed twice", rt))
		}
	}

	if hasCode && len(c.RedirectURIs) == 0 {
		bad("redirect_uris", "required for the authorization_code grant: list every URI the client may be sent back to")
	}
	checkURIList(c.RedirectURIs, "redirect_uris", c.ApplicationType, bad)
	checkURIList(c.PostLogoutRedirectURIs, "post_logout_redirect_uris", c.ApplicationType, bad)
	checkCORSOrigins(c, bad)

	if alg := c.IDTokenSignedResponseAlg; alg != "" && !slices.Contains(keys.KeptAlgorithms(), alg) {
		msg := fmt.Sprintf("%q is not supported: use RS256, ES256 or EdDSA (leave it out for the server's default, RS256)", alg)
		switch i := slices.IndexFunc(keys.KeptAlgorithms(), func(a string) bool { return strings.EqualFold(a, alg) }); {
		case i >= 0:
			msg = fmt.Sprintf("%q: algorithm names are case-sensitive, write %q", alg, keys.KeptAlgorithms()[i])
		case alg == "none":
			msg = `"none" is not allowed: ID tokens are always signed; use RS256, ES256 or EdDSA`
		}
		bad("id_token_signed_response_alg", msg)
	}

	switch format := c.AccessTokenFormat; format {
	case "", accessTokenJWT, accessTokenOpaque:
	default:
		msg := fmt.Sprintf("%q is not supported: use jwt or opaque (leave it out for jwt)", format)
		for _, want := range []string{accessTokenJWT, accessTokenOpaque} {
			if strings.EqualFold(format, want) {
				msg = fmt.Sprintf("%q: values are case-sensitive, write %q", format, want)
			}
		}
		bad("access_token_format", msg)
	}

	checkRefreshPolicy(c, bad)
	checkSignInSettings(c, bad)

	for i, s := range c.Scopes {
		field := fmt.Sprintf("scope[%d]", i)
		switch {
		case strings.IndexFunc(s, func(r rune) bool { return !isScopeTokenChar(r) }) >= 0:
			bad(field, fmt.Sprintf("%q is not a valid scope (RFC 6749 §3.3: printable ASCII without spaces, \" or \\)", s))
		case s == "openid" || s == "profile" || s == "email" || s == "offline_access":
			bad(field, fmt.Sprintf("%s is always allowed: list only extra scopes here", s))
		}
		if slices.Index(c.Scopes, s) < i {
			bad(field, fmt.Sprintf("%q is listed twice", s))
		}
	}
}

// checkRefreshPolicy checks a client's refresh-token policy: it is only
// for clients with the refresh_token grant; the grace period is a window
// of at most 1m (or NoRefreshGrace); the idle TTL is at least 1m and no
// longer than the absolute TTL (or, with the server's absolute TTL, than
// the longest one allowed); the absolute TTL is from 1h to 365 days. Zero
// means the default and is always allowed.
func checkRefreshPolicy(c *storage.Client, bad func(field, msg string)) {
	if !slices.Contains(c.GrantTypes, grantRefreshToken) {
		for _, f := range []struct {
			key string
			set bool
		}{
			{keyRefreshGrace, c.RefreshGracePeriod != 0},
			{keyRefreshIdle, c.RefreshTokenIdleTTL != 0},
			{keyRefreshAbsolute, c.RefreshTokenAbsoluteTTL != 0},
		} {
			if f.set {
				bad(f.key, "applies only to clients with the refresh_token grant: add refresh_token to grant_types, or remove it")
			}
		}
		return
	}
	if g := c.RefreshGracePeriod; g > maxRefreshGracePeriod {
		bad(keyRefreshGrace, fmt.Sprintf("must be from 0s (no grace window) to %s (got %s)", fmtDuration(maxRefreshGracePeriod), fmtDuration(g)))
	}
	abs := c.RefreshTokenAbsoluteTTL
	switch {
	case abs < 0:
		bad(keyRefreshAbsolute, fmt.Sprintf("must not be negative (got %s)", fmtDuration(abs)))
	case abs > 0 && (abs < minRefreshAbsoluteTTL || abs > maxRefreshTokenTTL):
		bad(keyRefreshAbsolute, fmt.Sprintf("must be from %s to %s (365 days) (got %s)", fmtDuration(minRefreshAbsoluteTTL), fmtDuration(maxRefreshTokenTTL), fmtDuration(abs)))
	}
	switch idle := c.RefreshTokenIdleTTL; {
	case idle == 0:
	case idle < 0:
		bad(keyRefreshIdle, fmt.Sprintf("must not be negative (got %s)", fmtDuration(idle)))
	case idle < minRefreshIdleTTL:
		bad(keyRefreshIdle, fmt.Sprintf("must be at least %s (got %s)", fmtDuration(minRefreshIdleTTL), fmtDuration(idle)))
	case abs > 0 && idle > abs:
		bad(keyRefreshIdle, fmt.Sprintf("must not be longer than refresh_token_absolute_ttl (%s; got %s)", fmtDuration(abs), fmtDuration(idle)))
	case idle > maxRefreshTokenTTL:
		bad(keyRefreshIdle, fmt.Sprintf("must be at most %s (365 days) (got %s)", fmtDuration(maxRefreshTokenTTL), fmtDuration(idle)))
	}
}

// checkSignInSettings checks the settings that concern users signing in
// through the client: skip_consent and the logout URIs apply only to
// clients with the authorization_code grant; each *_session_required
// needs its URI; the URIs are checked by checkLogoutURI; a front-channel
// logout URI has the scheme, host and port of one of the redirect URIs
// (OpenID Connect Front-Channel Logout 1.0 §2) and no iss or sid query
// parameter of its own (Gatehouse adds them), and native apps have none,
// as the OP's page cannot load an app in an iframe.
func checkSignInSettings(c *storage.Client, bad func(field, msg string)) {
	if !slices.Contains(c.GrantTypes, grantAuthorizationCode) {
		for _, f := range []struct {
			key string
			set bool
		}{
			{keySkipConsent, c.SkipConsent},
			{keyBackchannelURI, c.BackchannelLogoutURI != ""},
			{keyBackchannelSessionReq, c.BackchannelLogoutSessionRequired},
			{keyFrontchannelURI, c.FrontchannelLogoutURI != ""},
			{keyFrontchannelSessReq, c.FrontchannelLogoutSessionRequired},
		} {
			if f.set {
				bad(f.key, "applies only to clients with the authorization_code grant, through which users sign in: remove it")
			}
		}
		return
	}
	if c.BackchannelLogoutSessionRequired && c.BackchannelLogoutURI == "" {
		bad(keyBackchannelSessionReq, "needs backchannel_logout_uri: add it, or remove this")
	}
	if c.FrontchannelLogoutSessionRequired && c.FrontchannelLogoutURI == "" {
		bad(keyFrontchannelSessReq, "needs frontchannel_logout_uri: add it, or remove this")
	}
	if uri := c.BackchannelLogoutURI; uri != "" {
		if msg := checkLogoutURI(uri); msg != "" {
			bad(keyBackchannelURI, msg)
		}
	}
	uri := c.FrontchannelLogoutURI
	if uri == "" {
		return
	}
	if c.ApplicationType == appTypeNative {
		bad(keyFrontchannelURI, "native apps cannot be signed out in an iframe of Gatehouse's page: remove it (backchannel_logout_uri reaches a server of yours)")
		return
	}
	if msg := checkLogoutURI(uri); msg != "" {
		bad(keyFrontchannelURI, msg)
		return
	}
	u, _ := url.Parse(uri) // checkLogoutURI parsed it
	if q := u.Query(); q.Has("iss") || q.Has("sid") {
		bad(keyFrontchannelURI, "must not have iss or sid query parameters: Gatehouse adds them")
	}
	sameOrigin := slices.ContainsFunc(c.RedirectURIs, func(r string) bool {
		ru, err := url.Parse(r)
		return err == nil && origin(ru) == origin(u)
	})
	if !sameOrigin && len(c.RedirectURIs) > 0 {
		bad(keyFrontchannelURI, fmt.Sprintf("must have the scheme, host and port of one of the redirect_uris (OpenID Connect Front-Channel Logout 1.0 §2): %s is not among them", origin(u)))
	}
}

// checkCORSOrigins checks allowed_cors_origins: only a public web client
// (token_endpoint_auth_method none, application_type web) has any, as a
// confidential client's secret must never be in a browser and a native app
// is no web page; each is an origin as a browser sends it in Origin
// (checkCORSOrigin), listed once.
func checkCORSOrigins(c *storage.Client, bad func(field, msg string)) {
	if len(c.AllowedCORSOrigins) == 0 {
		return
	}
	if c.TokenEndpointAuthMethod != authMethodNone || c.ApplicationType != appTypeWeb {
		bad(keyCORSOrigins, "only public web clients (token_endpoint_auth_method none, application_type web) are called from browsers: "+
			"a confidential client's secret must stay on its server, and a native app is no web page; remove it")
		return
	}
	for i, o := range c.AllowedCORSOrigins {
		field := fmt.Sprintf("%s[%d]", keyCORSOrigins, i)
		if msg := checkCORSOrigin(o); msg != "" {
			bad(field, msg)
		}
		if slices.Index(c.AllowedCORSOrigins, o) < i {
			bad(field, fmt.Sprintf("%q is listed twice", o))
		}
	}
}

// checkCORSOrigin returns what is wrong with an allowed CORS origin, or
// "": it must be written exactly as browsers send Origin (RFC 6454 §6.2:
// scheme://host with the port only when not the scheme's default, no
// path, not even /), be https, or http on a loopback host, and name one
// origin: no wildcard, no null.
func checkCORSOrigin(raw string) string {
	switch {
	case raw == "":
		return "must not be empty"
	case strings.Contains(raw, "*"):
		return "must not contain a wildcard (*): list every origin in full; they are compared exactly"
	case raw == "null":
		return `"null" is the origin of sandboxed and file pages, shared by all of them: it cannot be allowed`
	case strings.IndexFunc(raw, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0:
		return "must be ASCII without spaces or control characters"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "must be an origin: scheme://host[:port], such as https://app.example.com"
	}
	if u.User != nil || u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(raw, "?#@") {
		return fmt.Sprintf("must be an origin only, without path, query or user info: write %q", u.Scheme+"://"+u.Host)
	}
	if port := u.Port(); strings.HasSuffix(u.Host, ":") || (port != "" && !provider.ValidRedirectPort(port)) {
		return fmt.Sprintf("port %q is not a TCP port: write 1 to 65535 without leading zeros", port)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopbackHostname(u.Hostname()) {
			return "must use https: http is only allowed for the loopback hosts 127.0.0.1, [::1] and localhost"
		}
	default:
		return fmt.Sprintf("scheme %q is not allowed: use https (or http on a loopback host)", u.Scheme)
	}
	host := u.Host
	if port := u.Port(); (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		host = strings.TrimSuffix(host, ":"+port)
	}
	if norm := u.Scheme + "://" + strings.ToLower(host); norm != raw {
		return fmt.Sprintf("is not written as browsers send it in Origin: write %q", norm)
	}
	return ""
}

// origin returns scheme://host:port of an http(s) URL, the port written
// out even when it is the scheme's default.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return u.Scheme + "://" + net.JoinHostPort(u.Hostname(), port)
}

// checkLogoutURI returns what is wrong with a back- or front-channel
// logout URI, or "": the rules of redirect URIs for web clients (absolute,
// normal form, https except on a loopback host, no fragment, no user
// info), never a private-use scheme.
func checkLogoutURI(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" && u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Sprintf("scheme %q is not allowed: use https (or http on the loopback hosts 127.0.0.1, [::1] and localhost)", u.Scheme)
	}
	return checkRedirectURI(raw, appTypeWeb)
}

// yamlBool reads a YAML boolean: true or false, unquoted. msg says what
// else n is.
func yamlBool(n *yaml.Node) (b bool, msg string) {
	s, msg := yamlString(n)
	switch {
	case msg != "":
		return false, msg
	case n.ShortTag() == "!!null":
		return false, "has no value: write true or false, or leave it out for false"
	case n.ShortTag() != "!!bool":
		return false, fmt.Sprintf("must be true or false, unquoted (got %q)", s)
	}
	if err := n.Decode(&b); err != nil {
		return false, fmt.Sprintf("must be true or false (got %q)", s)
	}
	return b, ""
}

// fmtDuration writes d as clients.yaml would, without zero units:
// 1m rather than 1m0s, 8760h rather than 8760h0m0s.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// isClientIDChar reports whether r may appear in a client_id: the
// unreserved characters of RFC 3986, so an id needs no escaping anywhere.
func isClientIDChar(r rune) bool {
	return 'A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9' ||
		r == '.' || r == '_' || r == '~' || r == '-'
}

// isScopeTokenChar reports whether r may appear in a scope token
// (RFC 6749 §3.3: %x21 / %x23-5B / %x5D-7E).
func isScopeTokenChar(r rune) bool {
	return r == 0x21 || 0x23 <= r && r <= 0x5B || 0x5D <= r && r <= 0x7E
}

// checkURIList checks each URI of a redirect URI list and that none is
// listed twice.
func checkURIList(uris []string, key, appType string, bad func(field, msg string)) {
	for i, u := range uris {
		field := fmt.Sprintf("%s[%d]", key, i)
		if msg := checkRedirectURI(u, appType); msg != "" {
			bad(field, msg)
		}
		if slices.Index(uris, u) < i {
			bad(field, fmt.Sprintf("%q is listed twice", u))
		}
	}
}

// checkRedirectURI returns what is wrong with a redirect URI registered
// for a client of appType, or "". Redirect URIs are compared as exact
// strings, so a registered URI must be in the normal form a client would
// send; anything ambiguous is refused.
//
// Allowed: https with a host; http only on a loopback host (127.0.0.1,
// [::1], localhost), for native apps (RFC 8252 §7.3) and local development
// of web apps; for native apps, also a private-use scheme that is a
// reverse domain name (RFC 8252 §7.1, §8.4), like com.example.app:/cb.
func checkRedirectURI(raw, appType string) string {
	switch {
	case raw == "":
		return "must not be empty"
	case len(raw) > maxRedirectURILen:
		return fmt.Sprintf("is longer than %d characters", maxRedirectURILen)
	case strings.Contains(raw, "*"):
		return "must not contain a wildcard (*): register every redirect URI in full; they are compared exactly"
	case strings.Contains(raw, "#"):
		return "must not contain a fragment (#) (RFC 6749 §3.1.2)"
	case strings.Contains(raw, "@"):
		return "must not contain @: user info in a URI hides its real host"
	case strings.Contains(raw, `\`):
		return `must not contain a backslash (\)`
	case strings.IndexFunc(raw, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0:
		return "must be ASCII without spaces or control characters (percent-encode the rest)"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "is not a valid URI"
	}
	if u.Scheme == "" {
		return "must be an absolute URI with a scheme, such as https://app.example.com/callback"
	}
	if s := u.String(); s != raw {
		return fmt.Sprintf("is not in normal form: write it as %q", s)
	}
	if u.Host != strings.ToLower(u.Host) {
		return "the host must be lowercase"
	}
	if strings.HasSuffix(u.Host, ":") {
		return "has an empty port: leave out the colon"
	}
	if port := u.Port(); port != "" && !provider.ValidRedirectPort(port) {
		return fmt.Sprintf("port %q is not a TCP port: write 1 to 65535 without leading zeros (a native app's loopback redirect may leave it out: any port matches, RFC 8252 §7.3)", port)
	}
	if msg := checkPercentEncoding(raw); msg != "" {
		return msg
	}
	path := u.EscapedPath()
	if u.Opaque != "" {
		path = u.Opaque
	}
	for seg := range strings.SplitSeq(path, "/") {
		if seg == "." || seg == ".." || strings.HasPrefix(seg, ".;") || strings.HasPrefix(seg, "..;") {
			return "must not contain dot segments (. or ..) in its path"
		}
	}

	switch u.Scheme {
	case "https":
		if u.Hostname() == "" {
			return "must have a host, such as https://app.example.com/callback"
		}
	case "http":
		if u.Hostname() == "" {
			return "must have a host"
		}
		if !isLoopbackHostname(u.Hostname()) {
			return "must use https: http is only allowed for the loopback hosts 127.0.0.1, [::1] and localhost"
		}
	default:
		if appType != appTypeNative {
			return fmt.Sprintf("scheme %q is not allowed for web clients: use https (or http on a loopback host); private-use schemes are for application_type native", u.Scheme)
		}
		if !strings.Contains(u.Scheme, ".") {
			return fmt.Sprintf("private-use scheme %q must be a reverse domain name you control, such as com.example.app (RFC 8252 §7.1, §8.4)", u.Scheme)
		}
	}
	return ""
}

// checkPercentEncoding refuses percent-encoding that is not in RFC 3986
// normal form (lowercase hex, encoded unreserved characters) or that hides
// a path separator.
func checkPercentEncoding(raw string) string {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '%' {
			continue
		}
		if i+2 >= len(raw) {
			return "has an incomplete percent-encoding"
		}
		hex := raw[i+1 : i+3]
		b, err := strconv.ParseUint(hex, 16, 8)
		if err != nil {
			return "has an invalid percent-encoding"
		}
		c := rune(b)
		switch {
		case hex != strings.ToUpper(hex):
			return "percent-encoding must use uppercase hex digits (RFC 3986 §6.2.2.1)"
		case isClientIDChar(c): // the unreserved characters
			return fmt.Sprintf("must not percent-encode %q: write it plainly (RFC 3986 §6.2.2.2)", c)
		case c == '/' || c == '\\':
			return "must not percent-encode / or \\"
		}
		i += 2
	}
	return ""
}
