package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// Pruner is a SQL store with its Prune.
type Pruner interface {
	storage.RefreshGrants
	storage.TokenFamilies
	Prune(ctx context.Context, now time.Time, batch int) (int, error)
}

// PruneClearsRefreshReplays checks that Prune drops the kept answer of a
// rotated refresh token once its grace window has passed, and keeps
// everything reuse detection needs: the grant, its hash and its use.
func PruneClearsRefreshReplays(t *testing.T, s Pruner) {
	ctx := t.Context()
	now := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	old := &storage.RefreshGrant{TokenHash: "replay-old", FamilyID: "fam-r", ClientID: "c", UserID: "u",
		CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour), AbsoluteExpiresAt: now.Add(24 * time.Hour)}
	if err := s.CreateRefreshGrant(ctx, old); err != nil {
		t.Fatal(err)
	}
	next := *old
	next.TokenHash = "replay-next"
	if err := s.RotateRefreshGrant(ctx, old.TokenHash, &next, []byte("sealed answer"), now.Add(10*time.Second), now); err != nil {
		t.Fatal(err)
	}
	// Within the window the answer is kept.
	if _, err := s.Prune(ctx, now.Add(9*time.Second), 100); err != nil {
		t.Fatal(err)
	}
	g, err := s.RefreshGrantByHash(ctx, old.TokenHash)
	if err != nil || string(g.Replay) != "sealed answer" {
		t.Fatalf("inside the grace window: %+v %v, want the kept answer", g, err)
	}
	// After it, the answer goes; the used grant stays.
	n, err := s.Prune(ctx, now.Add(11*time.Second), 100)
	if err != nil || n != 1 {
		t.Fatalf("prune after the window: %d %v, want 1 row changed", n, err)
	}
	g, err = s.RefreshGrantByHash(ctx, old.TokenHash)
	if err != nil || g.Replay != nil || !g.ReplayUntil.IsZero() || g.UsedAt == nil || g.FamilyID != "fam-r" {
		t.Fatalf("after the window: %+v %v, want the used grant without its answer", g, err)
	}
	if n, err := s.Prune(ctx, now.Add(12*time.Second), 100); err != nil || n != 0 {
		t.Errorf("second prune: %d %v, want nothing to do", n, err)
	}
}
