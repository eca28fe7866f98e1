package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/keys"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// cliEnv runs gatehouse in-process with exactly the environment env.
func cliEnv(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"gatehouse"}, args...), func(k string) string { return env[k] },
		strings.NewReader(""), &out, &errOut)
	return out.String() + errOut.String(), err
}

func newKEKText(t *testing.T) string {
	t.Helper()
	b := make([]byte, keys.KEKSize)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// sealerFor is a Sealer for the base64 KEK b64.
func sealerFor(t *testing.T, b64 string) *keys.Sealer {
	t.Helper()
	kek, err := keys.ParseKEK(b64)
	if err != nil {
		t.Fatal(err)
	}
	s, err := keys.NewSealer(kek)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func kekID(t *testing.T, b64 string) string {
	t.Helper()
	return sealerFor(t, b64).KEKID()
}

// sealedUnder opens the database and returns the KEK id of every signing
// key, secret and one-time-code secret, by kid, name or user id.
func sealedUnder(t *testing.T, db string) map[string]string {
	t.Helper()
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	out := map[string]string{}
	ks, err := st.SigningKeys(t.Context(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		out["key "+k.ID] = k.KEKID
	}
	secs, err := st.SecretsByPrefix(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secs {
		out["secret "+s.Name] = s.KEKID
	}
	totps, err := st.TOTPCredentials(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range totps {
		out["totp "+c.UserID] = c.KEKID
	}
	return out
}

// setTOTP opens the database and gives a new user userID a one-time-code
// generator whose secret plain is sealed under kek, as the login UI seals
// it.
func setTOTP(t *testing.T, db, kek, userID string, plain []byte) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u := storage.User{ID: userID, Username: userID, Email: userID + "@example.com", CreatedAt: time.Now()}
	if err := st.CreateUser(t.Context(), &u); err != nil {
		t.Fatal(err)
	}
	sealed, err := sealerFor(t, kek).Seal(plain, storage.TOTPAssociatedData(userID))
	if err != nil {
		t.Fatal(err)
	}
	c := storage.TOTPCredential{UserID: userID, SealedSecret: sealed, KEKID: kekID(t, kek), CreatedAt: time.Now()}
	if err := st.SetTOTP(t.Context(), &c); err != nil {
		t.Fatal(err)
	}
}

// openTOTP opens the database and the user's one-time-code secret under
// kek.
func openTOTP(t *testing.T, db, kek, userID string) ([]byte, error) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := st.TOTP(t.Context(), userID)
	if err != nil {
		t.Fatal(err)
	}
	return sealerFor(t, kek).Open(c.SealedSecret, storage.TOTPAssociatedData(userID))
}

func allUnder(t *testing.T, what string, rows map[string]string, kekID string, n int) {
	t.Helper()
	if len(rows) != n {
		t.Fatalf("%s: got %d rows %v, want %d", what, len(rows), rows, n)
	}
	for name, id := range rows {
		if id != kekID {
			t.Errorf("%s: %s is under KEK %s, want %s", what, name, id, kekID)
		}
	}
}

// managerFor opens the database with a Manager under kek.
func managerFor(t *testing.T, db, kek string) (*keys.Manager, func()) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	return keys.NewManager(st, sealerFor(t, kek), keys.Options{}), func() { st.Close() }
}

func TestKeysRewrap(t *testing.T) {
	db := filepath.Join(t.TempDir(), "g.db")
	oldKEK, newKEK, otherKEK := newKEKText(t), newKEKText(t), newKEKText(t)
	oldEnv := map[string]string{"GATEHOUSE_DATABASE_URL": db, "GATEHOUSE_KEY_ENCRYPTION_KEY": oldKEK}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}

	// Active and pending keys of every algorithm, and two secrets.
	for range 2 {
		if out, err := cliEnv(t, oldEnv, "keys", "rotate"); err != nil {
			t.Fatalf("keys rotate: %q, %v", out, err)
		}
	}
	km, done := managerFor(t, db, oldKEK)
	csrf, err := km.Secret(t.Context(), "csrf-key")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := km.Secret(t.Context(), "op-crypto-key"); err != nil {
		t.Fatal(err)
	}
	done()
	// And a user who set up a one-time code.
	totpSecret := []byte("alice's one-time-code secret")
	setTOTP(t, db, oldKEK, "alice", totpSecret)
	allUnder(t, "before rewrap", sealedUnder(t, db), kekID(t, oldKEK), 9)

	// A missing or malformed new key is refused before anything changes,
	// and never echoed.
	for _, bad := range []string{"", "not base64 at all!", base64.StdEncoding.EncodeToString([]byte("sixteen bytes...")), oldKEK[:20]} {
		out, err := cliEnv(t, with(oldEnv, newKEKVar, bad), "keys", "rewrap")
		if err == nil || !strings.Contains(err.Error(), newKEKVar) {
			t.Errorf("rewrap with new key %q: got %q, %v; want an error naming %s", bad, out, err, newKEKVar)
		}
		if bad != "" && (strings.Contains(out, bad) || err != nil && strings.Contains(err.Error(), bad)) {
			t.Errorf("rewrap with a bad new key echoed it: %q, %v", out, err)
		}
	}
	allUnder(t, "after refused rewraps", sealedUnder(t, db), kekID(t, oldKEK), 9)

	// The rewrap.
	out, err := cliEnv(t, with(oldEnv, newKEKVar, newKEK), "keys", "rewrap")
	if err != nil || !strings.Contains(out, "re-sealed 6 signing keys, 2 secrets and 1 one-time-code secrets") ||
		!strings.Contains(out, "GATEHOUSE_KEY_ENCRYPTION_KEY") {
		t.Fatalf("keys rewrap: got %q, %v; want 6 keys, 2 secrets and 1 one-time-code secret moved and the switch explained", out, err)
	}
	if strings.Contains(out, newKEK) || strings.Contains(out, oldKEK) {
		t.Errorf("keys rewrap printed a key: %q", out)
	}
	allUnder(t, "after rewrap", sealedUnder(t, db), kekID(t, newKEK), 9)
	// Alice's code still works: her secret opens under the new KEK.
	if got, err := openTOTP(t, db, newKEK, "alice"); err != nil || !bytes.Equal(got, totpSecret) {
		t.Errorf("alice's one-time-code secret under the new KEK: got %q, %v; want %q", got, err, totpSecret)
	}

	// The old KEK no longer loads anything, and says why.
	out, err = cliEnv(t, oldEnv, "keys", "rotate")
	if err == nil || !strings.Contains(err.Error(), "wrong KEK") {
		t.Errorf("keys rotate with the old KEK: got %q, %v; want a wrong-KEK error", out, err)
	}
	km, done = managerFor(t, db, oldKEK)
	if err := km.Ensure(t.Context()); err == nil || !strings.Contains(err.Error(), "wrong KEK") {
		t.Errorf("Ensure with the old KEK: got %v, want a wrong-KEK error", err)
	}
	if _, err := km.Secret(t.Context(), "csrf-key"); err == nil || !strings.Contains(err.Error(), "wrong KEK") {
		t.Errorf("Secret with the old KEK: got %v, want a wrong-KEK error", err)
	}
	done()
	// The new one loads everything.
	newEnv := with(oldEnv, "GATEHOUSE_KEY_ENCRYPTION_KEY", newKEK)
	if out, err := cliEnv(t, newEnv, "keys", "rotate"); err != nil || !strings.Contains(out, "nothing to do") {
		t.Errorf("keys rotate with the new KEK: got %q, %v; want nothing to do", out, err)
	}
	km, done = managerFor(t, db, newKEK)
	if err := km.Ensure(t.Context()); err != nil {
		t.Errorf("Ensure with the new KEK: %v", err)
	}
	if got, err := km.Secret(t.Context(), "csrf-key"); err != nil || !bytes.Equal(got, csrf) {
		t.Errorf("Secret with the new KEK: got %x, %v; want the same secret %x", got, err, csrf)
	}
	done()

	// Running it again is a no-op.
	out, err = cliEnv(t, with(oldEnv, newKEKVar, newKEK), "keys", "rewrap")
	if err != nil || !strings.Contains(out, "re-sealed 0 signing keys, 0 secrets and 0 one-time-code secrets") ||
		!strings.Contains(out, "6 signing keys, 2 secrets and 1 one-time-code secrets were under") {
		t.Errorf("keys rewrap again: got %q, %v; want nothing moved", out, err)
	}
	allUnder(t, "after the second rewrap", sealedUnder(t, db), kekID(t, newKEK), 9)

	// A third key, with rows under neither the configured nor the new KEK,
	// is refused before anything changes.
	out, err = cliEnv(t, with(oldEnv, newKEKVar, otherKEK), "keys", "rewrap")
	if err == nil || !strings.Contains(err.Error(), "neither") {
		t.Errorf("keys rewrap to a third KEK: got %q, %v; want a refusal", out, err)
	}
	allUnder(t, "after the refused rewrap", sealedUnder(t, db), kekID(t, newKEK), 9)

	// A one-time code an instance still on the old KEK set up after the
	// rewrap: running it again moves that alone.
	setTOTP(t, db, oldKEK, "bob", []byte("bob's secret"))
	out, err = cliEnv(t, with(oldEnv, newKEKVar, newKEK), "keys", "rewrap")
	if err != nil || !strings.Contains(out, "re-sealed 0 signing keys, 0 secrets and 1 one-time-code secrets") {
		t.Errorf("keys rewrap after bob set up a code: got %q, %v; want his secret moved", out, err)
	}
	allUnder(t, "after bob's code was moved", sealedUnder(t, db), kekID(t, newKEK), 10)
}

func TestKeysRewrapKEKFile(t *testing.T) {
	db := filepath.Join(t.TempDir(), "g.db")
	env := map[string]string{"GATEHOUSE_DATABASE_URL": db}
	if out, err := cliEnv(t, env, "keys", "rotate"); err != nil {
		t.Fatalf("keys rotate: %q, %v", out, err)
	}
	oldFile, err := os.ReadFile(db + ".kek")
	if err != nil {
		t.Fatal(err)
	}
	newKEK := newKEKText(t)
	env[newKEKVar] = newKEK
	out, err := cliEnv(t, env, "keys", "rewrap")
	if err != nil || !strings.Contains(out, "re-sealed 3 signing keys") || !strings.Contains(out, "wrote the new key-encryption key") {
		t.Fatalf("keys rewrap: got %q, %v", out, err)
	}
	checkFile := func(what string) {
		t.Helper()
		b, err := os.ReadFile(db + ".kek")
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(b)) != newKEK {
			t.Errorf("%s: the KEK file does not hold the new key", what)
		}
		if fi, err := os.Stat(db + ".kek"); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: KEK file mode %v, %v; want 0600", what, fi.Mode(), err)
		}
	}
	checkFile("after rewrap")
	delete(env, newKEKVar)
	if out, err := cliEnv(t, env, "keys", "rotate"); err != nil || strings.Count(out, "created key") != 3 {
		t.Errorf("keys rotate after rewrap: got %q, %v; want three new keys", out, err)
	}
	allUnder(t, "after rewrap", sealedUnder(t, db), kekID(t, newKEK), 6)

	// A crash after the commit and before the file was replaced: the file
	// still holds the old key, which loads nothing; running rewrap again
	// moves nothing and writes the file.
	if err := os.WriteFile(db+".kek", oldFile, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := cliEnv(t, env, "keys", "rotate"); err == nil || !strings.Contains(err.Error(), "wrong KEK") {
		t.Errorf("keys rotate with the old file: got %q, %v; want a wrong-KEK error", out, err)
	}
	env[newKEKVar] = newKEK
	out, err = cliEnv(t, env, "keys", "rewrap")
	if err != nil || !strings.Contains(out, "re-sealed 0 signing keys") || !strings.Contains(out, "wrote the new key-encryption key") {
		t.Fatalf("keys rewrap after the crash: got %q, %v", out, err)
	}
	checkFile("after the second rewrap")
	delete(env, newKEKVar)
	if out, err := cliEnv(t, env, "keys", "rotate"); err != nil || !strings.Contains(out, "nothing to do") {
		t.Errorf("keys rotate after the second rewrap: got %q, %v; want nothing to do", out, err)
	}
}
