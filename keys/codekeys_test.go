package keys

import (
	"context"
	"testing"
	"time"
)

func codeKeyIDs(t *testing.T, m *Manager) (seal string, open []string) {
	t.Helper()
	s, o, err := m.CodeKeys()
	if err != nil {
		t.Fatalf("CodeKeys: %v", err)
	}
	for _, k := range o {
		open = append(open, k.ID)
	}
	return s.ID, open
}

func wantCodeKeys(t *testing.T, what string, m *Manager, seal string, open ...string) {
	t.Helper()
	gs, gopen := codeKeyIDs(t, m)
	if gs != seal || len(gopen) != len(open) {
		t.Fatalf("%s: got seal %s, open %q; want %s, %q", what, gs, gopen, seal, open)
	}
	for i := range open {
		if gopen[i] != open[i] {
			t.Fatalf("%s: got open %q, want %q", what, gopen, open)
		}
	}
}

// TestCodeKeyRotation runs two instances through a code-key rotation with
// the default schedule: daily, two minutes' lead, ten minutes kept.
func TestCodeKeyRotation(t *testing.T) {
	ctx := context.Background()
	store := openSQLite(t)
	kek := newKEK(t)
	clock := newFakeClock()
	a, b := newTestManager(t, store, kek, clock), newTestManager(t, store, kek, clock)
	if _, _, err := a.CodeKeys(); err == nil {
		t.Fatal("CodeKeys before EnsureCodeKeys: got no error")
	}
	for _, m := range []*Manager{a, b} {
		if err := m.Ensure(ctx); err != nil {
			t.Fatal(err)
		}
		if err := m.EnsureCodeKeys(ctx); err != nil {
			t.Fatalf("EnsureCodeKeys: %v", err)
		}
		wantCodeKeys(t, "first start", m, "op-crypto-key", "op-crypto-key")
	}
	sa, _, _ := a.CodeKeys()
	sb, _, _ := b.CodeKeys()
	if sa.Key != sb.Key {
		t.Fatal("two instances disagree on the code key")
	}
	start := clock.Now()

	rotate := func(m *Manager) {
		t.Helper()
		if _, err := m.Rotate(ctx); err != nil {
			t.Fatalf("Rotate: %v", err)
		}
	}
	clock.Set(start.Add(DefaultCodeKeyRotateEvery - DefaultCodeKeyLead - time.Second))
	rotate(a)
	wantCodeKeys(t, "before rotation is due", a, "op-crypto-key", "op-crypto-key")

	due := start.Add(DefaultCodeKeyRotateEvery - DefaultCodeKeyLead)
	clock.Set(due)
	rotate(a)
	rotate(b) // nothing more to do
	if err := b.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Manager{a, b} {
		wantCodeKeys(t, "successor created", m, "op-crypto-key", "op-crypto-key-2", "op-crypto-key")
	}

	active := due.Add(DefaultCodeKeyLead)
	clock.Set(active)
	for _, m := range []*Manager{a, b} {
		wantCodeKeys(t, "successor seals", m, "op-crypto-key-2", "op-crypto-key-2", "op-crypto-key")
	}
	clock.Set(active.Add(DefaultCodeKeyKeep - time.Nanosecond))
	rotate(a)
	wantCodeKeys(t, "end of the kept window", b, "op-crypto-key-2", "op-crypto-key-2", "op-crypto-key")

	clock.Set(active.Add(DefaultCodeKeyKeep))
	wantCodeKeys(t, "after the kept window", b, "op-crypto-key-2", "op-crypto-key-2")
	rotate(b)
	rows, err := store.SecretsByPrefix(ctx, CodeKeyName)
	if err != nil || len(rows) != 1 || rows[0].Name != "op-crypto-key-2" {
		t.Fatalf("stored code keys after the kept window: got %v, %v; want op-crypto-key-2 only", rows, err)
	}

	// A restart does not bring the first key back.
	c := newTestManager(t, store, kek, clock)
	if err := c.EnsureCodeKeys(ctx); err != nil {
		t.Fatal(err)
	}
	wantCodeKeys(t, "restart", c, "op-crypto-key-2", "op-crypto-key-2")

	// The next rotation, a day later, is op-crypto-key-3.
	clock.Set(active.Add(DefaultCodeKeyRotateEvery - DefaultCodeKeyLead))
	rotate(c)
	wantCodeKeys(t, "second rotation", c, "op-crypto-key-2", "op-crypto-key-3", "op-crypto-key-2")
}
