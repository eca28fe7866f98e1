package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/gatehouse-idp/gatehouse/provider"
)

const clientsUsage = `Usage:
  gatehouse clients secret    generate a client secret and its client_secret_hash

Give the secret to the application (for example through its secret store) and put only the hash in
clients.yaml, as client_secret_hash. The secret is 256 random bits, base64url-encoded, so it needs no
escaping in HTTP Basic authentication.
`

// clients handles `gatehouse clients …`.
func clients(env environment, args []string) error {
	if len(args) != 1 || args[0] != "secret" {
		fmt.Fprint(env.stderr, clientsUsage)
		return errUsage
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	secret := base64.RawURLEncoding.EncodeToString(b)
	fmt.Fprintf(env.stdout, "client secret (give it to the application; it is shown once):\n  %s\n", secret)
	fmt.Fprintf(env.stdout, "for clients.yaml:\n  client_secret_hash: %s\n", provider.HashClientSecret(secret))
	return nil
}
