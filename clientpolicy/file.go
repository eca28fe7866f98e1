package clientpolicy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// Keys of the sign-in, consent and logout settings in clients.yaml.
const (
	keySkipConsent           = "skip_consent"
	keyRequireMFA            = "require_mfa"
	keyDefaultACR            = "default_acr_values"
	keyAllowedGroups         = "allowed_groups"
	keyBackchannelURI        = "backchannel_logout_uri"
	keyBackchannelSessionReq = "backchannel_logout_session_required"
	keyFrontchannelURI       = "frontchannel_logout_uri"
	keyFrontchannelSessReq   = "frontchannel_logout_session_required"
	keyRequirePAR            = "require_pushed_authorization_requests"
	keyRequestObjectAlg      = "request_object_signing_alg"
)

// keyDPoPBound makes every token request of the client carry a DPoP proof
// (RFC 9449 §5.2), so that all its access tokens are bound to a key.
const keyDPoPBound = "dpop_bound_access_tokens"

// keyProfile names a security profile the client is held to (profile:
// fapi2, ProfileFAPI2).
const keyProfile = "profile"

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

// secretKeys are the ways clients.yaml can give a confidential client's
// secret; exactly one is required.
func secretKeys() []string {
	return []string{"client_secret", "client_secret_env", "client_secret_file", "client_secret_hash"}
}

// File is a clients.yaml as parsed: its clients, ready for
// storage.Clients.SyncClients, and its revision.
type File struct {
	// Revision is the file's top-level revision, 0 when it declares none.
	Revision int64
	// Clients are in file order; an explicit `clients: []` gives none.
	Clients []storage.Client
	// DemoSecret lists the clients whose secret is one published in
	// Gatehouse's repository (see publishedSecretHashes): accepted only for
	// an issuer on loopback, and worth a warning even then.
	DemoSecret []string
}

// Source says where a clients file comes from and what its secret
// references resolve against.
type Source struct {
	// Filename names the file in the problems' positions
	// ("clients.yaml:14"); a relative client_secret_file is relative to its
	// directory.
	Filename string
	// Issuer is the server's issuer URL: only while it is on a loopback
	// host are the secrets published in Gatehouse's repository accepted.
	Issuer string
	// Getenv resolves client_secret_env, ReadFile client_secret_file. Nil
	// means no variable is set and no file can be read.
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
}

// ParseFile parses clients.yaml (data, read from src.Filename) for a server
// whose issuer is src.Issuer, into clients ready for
// storage.Clients.SyncClients, each of which Validate accepts.
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
// skip_consent, require_mfa, dpop_bound_access_tokens,
// backchannel_logout_session_required and
// frontchannel_logout_session_required are YAML booleans (true or false,
// unquoted; absent means false); backchannel_logout_uri and
// frontchannel_logout_uri are checked as redirect URIs are (see
// checkLogoutURI). default_acr_values is a list of the acr values
// Gatehouse knows (mfa.ACRValuesSupported), in order of preference, each
// once; absent or empty means none. allowed_groups is a list of group
// names (storage.ValidGroupName), each once: only members of one of them
// may sign in to the client; absent or empty means every user may.
//
// require_pushed_authorization_requests (a boolean) makes /authorize take
// the client's requests only through the pushed authorization request
// endpoint (RFC 9126). request_object_signing_alg (ES256, PS256, RS256 or
// EdDSA) makes the client send every authorization request as a request
// object signed with that algorithm (RFC 9101) by one of its keys (jwks or
// jwks_uri, which such a client needs whatever its
// token_endpoint_auth_method).
//
// Secrets come from client_secret (hashed here, see HashSecret),
// client_secret_env (src.Getenv), client_secret_file (src.ReadFile; a
// relative path is relative to src.Filename's directory; one trailing
// newline is trimmed) or client_secret_hash (stored as is). Only the hash is
// kept. A secret published in Gatehouse's repository (the sample file's demo
// secret) is refused unless the issuer is on a loopback host: anyone can
// read it.
//
// Every problem in the file is reported, not only the first: the error is
// a Problems whose entries read
// "clients.yaml:14: clients[1].redirect_uris[0]: message". Messages never
// contain secret values. On error the File is empty.
func ParseFile(data []byte, src Source) (File, error) {
	filename := src.Filename
	root, prob := ParseYAMLRoot(data, filename)
	if prob != nil {
		return File{}, Problems{*prob}
	}
	if root == nil {
		return File{}, Problems{{Pos: filename, Msg: "holds no clients: list (it is empty or only comments, perhaps cut short); " + noClientsAdvice}}
	}
	p := &fileParser{filename: filename, getenv: src.Getenv, readFile: src.ReadFile, issuer: src.Issuer}
	if p.getenv == nil {
		p.getenv = func(string) string { return "" }
	}
	if p.readFile == nil {
		p.readFile = func(name string) ([]byte, error) {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
	}
	if root.Kind != yaml.MappingNode {
		p.bad(root.Line, "", "the top level must be a mapping with a clients list, like `clients: [...]`")
		return File{}, p.probs
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
		return File{}, p.probs
	}
	return File{Revision: revision, Clients: clients, DemoSecret: demo}, nil
}

// noClientsAdvice ends the message for a clients file without a clients
// list.
const noClientsAdvice = "list the clients under `clients:`, or write `clients: []` to remove every client on purpose"

// yamlRevision reads clients.yaml's revision: a whole number from 1 up,
// unquoted. msg says what else n is.
func yamlRevision(n *yaml.Node) (rev int64, msg string) {
	const want = "must be a whole number from 1 up, unquoted, raised with every change (like `revision: 42`)"
	s, msg := YAMLString(n)
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

// fileParser collects the problems of one clients file.
type fileParser struct {
	filename string
	getenv   func(string) string
	readFile func(string) ([]byte, error)
	// issuer is the server's; on loopback it allows the published demo
	// secrets.
	issuer string
	probs  Problems
	// lastIDLine is the line of the client_id of the client parsed last.
	lastIDLine int
}

func (p *fileParser) bad(line int, field, msg string) {
	p.probs = append(p.probs, Problem{Pos: p.filename + ":" + strconv.Itoa(line), Field: field, Msg: msg})
}

// parseClient parses clients[index]. ok is false when item is not a
// mapping at all; otherwise the client is returned even if problems were
// recorded, so that duplicate ids are still found.
func (p *fileParser) parseClient(item *yaml.Node, index int) (c storage.Client, ok bool) {
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
			"id_token_signed_response_alg", "access_token_format", "jwks_uri", keyRequestObjectAlg, keyProfile,
			keyBackchannelURI, keyFrontchannelURI,
			"client_secret", "client_secret_env", "client_secret_file", "client_secret_hash":
			s, msg := YAMLString(v)
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
		case keySkipConsent, keyRequireMFA, keyBackchannelSessionReq, keyFrontchannelSessReq, keyRequirePAR, keyDPoPBound:
			b, msg := yamlBool(v)
			if msg != "" {
				p.bad(v.Line, field, msg)
				continue
			}
			bools[key] = b
			lines[key] = v.Line
		case keyRefreshGrace, keyRefreshIdle, keyRefreshAbsolute:
			str, msg := YAMLString(v)
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
		case "redirect_uris", "post_logout_redirect_uris", "grant_types", "response_types", keyCORSOrigins, keyDefaultACR, keyAllowedGroups:
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
	c.RequireMFA = bools[keyRequireMFA]
	c.RequirePushedAuthorizationRequests = bools[keyRequirePAR]
	if alg, given := strs[keyRequestObjectAlg]; given {
		c.RequestObjectSigningAlg = alg
		if alg == "" {
			p.bad(lines[keyRequestObjectAlg], prefix+"."+keyRequestObjectAlg,
				"must not be empty: name ES256, PS256, RS256 or EdDSA, or leave it out")
		}
	}
	c.DPoPBoundAccessTokens = bools[keyDPoPBound]
	if profile, given := strs[keyProfile]; given {
		c.Profile = profile
		// The profile implies what it requires; said false outright, the
		// setting is a problem (checkProfile).
		if profile == ProfileFAPI2 {
			if _, said := bools[keyRequirePAR]; !said {
				c.RequirePushedAuthorizationRequests = true
			}
			if _, said := bools[keyDPoPBound]; !said {
				c.DPoPBoundAccessTokens = true
			}
		}
	}
	c.DefaultACRValues = lists[keyDefaultACR]
	c.AllowedGroups = lists[keyAllowedGroups]
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
				fmt.Sprintf("must be at least %s: leave it out for no idle limit", FormatDuration(minRefreshIdleTTL)))
		}
	}
	if d, given := durs[keyRefreshAbsolute]; given {
		c.RefreshTokenAbsoluteTTL = d
		if d == 0 {
			p.bad(lines[keyRefreshAbsolute], prefix+"."+keyRefreshAbsolute,
				fmt.Sprintf("must be at least %s: leave it out for the server's refresh_token_ttl", FormatDuration(minRefreshAbsoluteTTL)))
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
func (p *fileParser) stringList(v *yaml.Node, field string, lines map[string]int, key string) (list []string, ok bool) {
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
		s, msg := YAMLString(e)
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
func (p *fileParser) resolveSecret(c *storage.Client, prefix string, itemLine int, lines map[string]int, strs map[string]string, given []string) {
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
		if !ValidSecretHash(v) {
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
	c.SecretHash = HashSecret(secret)
	p.refusePublished(c, line, field)
}

// refusePublished reports c's secret, given as field at line, when it is
// one published in Gatehouse's repository and the issuer is not on
// loopback: such a server is meant to be reached from other machines, and
// anyone can read the secret.
func (p *fileParser) refusePublished(c *storage.Client, line int, field string) {
	if IssuerOnLoopback(p.issuer) || !slices.Contains(publishedSecretHashes(), c.SecretHash) {
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

// yamlBool reads a YAML boolean: true or false, unquoted. msg says what
// else n is.
func yamlBool(n *yaml.Node) (b bool, msg string) {
	s, msg := YAMLString(n)
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
