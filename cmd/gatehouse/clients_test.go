package main

import (
	"errors"
	"regexp"
	"testing"

	"github.com/gatehouse-idp/gatehouse/provider"
)

func TestClientsSecret(t *testing.T) {
	out, err := cli(t, t.TempDir()+"/g.db", "", "clients", "secret")
	if err != nil {
		t.Fatalf("clients secret: %v", err)
	}
	m := regexp.MustCompile(`(?s)\n  ([A-Za-z0-9_-]{43})\n.*client_secret_hash: (sha256:[0-9a-f]{64})\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("clients secret output: got %q, want a 43-character secret and its hash", out)
	}
	if !provider.VerifyClientSecret(m[2], m[1]) || !provider.ValidClientSecretHash(m[2]) {
		t.Errorf("the printed hash does not verify the printed secret")
	}
	again, _ := cli(t, t.TempDir()+"/g.db", "", "clients", "secret")
	if again == out {
		t.Error("two runs printed the same secret")
	}
	if _, err := cli(t, "", "", "clients", "frobnicate"); !errors.Is(err, errUsage) {
		t.Errorf("clients frobnicate: got %v, want the usage error", err)
	}
}
