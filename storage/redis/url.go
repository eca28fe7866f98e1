package redis

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// ParseURL turns a Redis URL into go-redis options for NewUniversalClient:
//
//	redis://[user[:password]@]host[:port][/db][?param=value&...]
//
// The scheme rediss means TLS (1.2 or later, the server's name checked
// against each address dialed). The port defaults to 6379 and db to 0.
// Parameters:
//
//	addr=host:port          another address; repeatable. With it, the URL
//	                        names a Redis Cluster (all addresses are seed
//	                        nodes, and db must be 0)...
//	master_name=NAME        ...or, with this, a Sentinel setup: the addresses
//	                        are the sentinels', NAME the monitored master.
//	cluster=true            a Cluster reached through one address (such as
//	                        a managed service's configuration endpoint).
//	sentinel_username=U,
//	sentinel_password=P     credentials for the sentinels themselves, when
//	                        they differ from the master's.
//
// Any other parameter is an error. Errors never contain the password.
// Timeouts and pool size are not taken from the URL: Open sets them from
// Options.
func ParseURL(rawURL string) (*goredis.UniversalOptions, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, parseError(rawURL)
	}
	o := &goredis.UniversalOptions{}
	switch u.Scheme {
	case "redis":
	case "rediss":
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	case "":
		return nil, errors.New("url: no scheme, want redis:// or rediss://")
	default:
		return nil, fmt.Errorf("url: scheme %q, want redis or rediss", u.Scheme)
	}
	if u.Opaque != "" {
		return nil, errors.New("url: want redis://host, not redis:host")
	}
	if u.User != nil {
		o.Username = u.User.Username()
		o.Password, _ = u.User.Password()
	}
	addr, err := hostPort(u.Host)
	if err != nil {
		return nil, err
	}
	o.Addrs = []string{addr}

	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 || strings.HasPrefix(db, "+") {
			return nil, fmt.Errorf("url: database %q, want a number >= 0", db)
		}
		o.DB = n
	}

	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, errors.New("url: malformed query")
	}
	cluster := false
	for name, values := range q {
		switch name {
		case "addr":
			for _, v := range values {
				a, err := hostPort(v)
				if err != nil {
					return nil, fmt.Errorf("%w (in addr=)", err)
				}
				o.Addrs = append(o.Addrs, a)
			}
		case "master_name", "sentinel_username", "sentinel_password", "cluster":
			if len(values) != 1 {
				return nil, fmt.Errorf("url: parameter %s given %d times, want once", name, len(values))
			}
			v := values[0]
			switch name {
			case "master_name":
				if v == "" {
					return nil, errors.New("url: empty master_name")
				}
				o.MasterName = v
			case "sentinel_username":
				o.SentinelUsername = v
			case "sentinel_password":
				o.SentinelPassword = v
			case "cluster":
				if cluster, err = strconv.ParseBool(v); err != nil {
					return nil, fmt.Errorf("url: cluster=%q, want true or false", v)
				}
			}
		default:
			return nil, fmt.Errorf("url: unknown parameter %q", name)
		}
	}
	switch {
	case o.MasterName != "" && cluster:
		return nil, errors.New("url: master_name and cluster=true together, want one")
	case o.MasterName == "" && (o.SentinelUsername != "" || o.SentinelPassword != ""):
		return nil, errors.New("url: sentinel credentials without master_name")
	case o.MasterName == "" && (cluster || len(o.Addrs) > 1):
		if o.DB != 0 {
			return nil, fmt.Errorf("url: database %d on a Cluster, which has only database 0", o.DB)
		}
		o.IsClusterMode = true
	}
	return o, nil
}

// hostPort checks an address and adds the default port if it has none.
func hostPort(hp string) (string, error) {
	if hp == "" {
		return "", errors.New("url: no host")
	}
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		// No port: the whole thing is the host (IPv6 in brackets).
		host, port = strings.TrimSuffix(strings.TrimPrefix(hp, "["), "]"), "6379"
		if strings.Contains(hp, ":") && !strings.HasPrefix(hp, "[") {
			return "", fmt.Errorf("url: address %q, want host:port", hp)
		}
	}
	if host == "" {
		return "", fmt.Errorf("url: address %q has no host", hp)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("url: address %q, want a port from 1 to 65535", hp)
	}
	return net.JoinHostPort(host, port), nil
}

// parseError explains why url.Parse refused rawURL without repeating the
// user information, which holds the password: it parses the URL again with
// that part replaced, and reports either the error that remains or that the
// user information itself is malformed.
func parseError(rawURL string) error {
	i := strings.Index(rawURL, "://")
	if i < 0 {
		return errors.New("url: malformed, want redis://host or rediss://host")
	}
	// Up to the last @ anywhere: a password may hold an unescaped / or ?.
	redacted, rest := rawURL, rawURL[i+3:]
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		redacted = rawURL[:i+3] + "redacted@" + rest[at+1:]
	}
	_, err := url.Parse(redacted)
	var ue *url.Error
	switch {
	case err == nil:
		return errors.New("url: malformed user or password (percent-encode special characters)")
	case errors.As(err, &ue):
		return fmt.Errorf("url: %w", ue.Err)
	default:
		return errors.New("url: malformed")
	}
}
