package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

var registryTests = []test{
	{"NoneApplied", testRegistryNoneApplied},
	{"FirstApplyRecords", testRegistryFirstApply},
	{"NewerRevisionApplies", testRegistryNewer},
	{"OlderRevisionRefused", testRegistryOlder},
	{"SameRevisionOtherClientsRefused", testRegistrySameRevisionOther},
	{"SameRegistryKeepsRecord", testRegistrySameAgain},
	{"UnrevisionedReplacesUnrevisioned", testRegistryUnrevisioned},
	{"ConcurrentAppliesKeepNewest", testRegistryConcurrent},
}

// apply applies clients as registry (revision, digest) by instance at now.
func apply(t *testing.T, s Store, revision int64, digest, by string, now time.Time, clients ...storage.Client) (storage.SyncReport, *storage.ClientRegistry, error) {
	t.Helper()
	reg := storage.ClientRegistry{Revision: revision, Digest: digest, AppliedBy: by}
	return s.ApplyClientRegistry(t.Context(), reg, clients, now)
}

// wantApplied checks the registry the store says it applied last.
func wantApplied(t *testing.T, s Store, want storage.ClientRegistry) {
	t.Helper()
	got, err := s.AppliedClientRegistry(t.Context())
	check(t, "AppliedClientRegistry", err)
	wantEqual(t, "AppliedClientRegistry", *got, want)
}

// wantRefused checks that err is a *storage.RegistryRefusedError wrapping
// ErrConflict, older or not, that names applied.
func wantRefused(t *testing.T, what string, err error, older bool, applied storage.ClientRegistry) {
	t.Helper()
	wantErr(t, what, err, storage.ErrConflict)
	var refused *storage.RegistryRefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("%s: got error %T (%v), want *storage.RegistryRefusedError", what, err, err)
	}
	if refused.Older() != older {
		t.Errorf("%s: Older() = %v, want %v", what, refused.Older(), older)
	}
	wantEqual(t, what+": the applied registry in the error", refused.Applied, applied)
}

func testRegistryNoneApplied(t *testing.T, s Store) {
	_, err := s.AppliedClientRegistry(t.Context())
	wantErr(t, "AppliedClientRegistry on an empty store", err, storage.ErrNotFound)
	// A plain sync records no registry.
	syncClients(t, s, t0, newClient("a"))
	_, err = s.AppliedClientRegistry(t.Context())
	wantErr(t, "AppliedClientRegistry after SyncClients", err, storage.ErrNotFound)
}

func testRegistryFirstApply(t *testing.T, s Store) {
	a, b := newClient("a"), newClient("b")
	rep, prev, err := apply(t, s, 7, "digest-7", "host-a (pid 1)", inZone(t0), b, a)
	check(t, "ApplyClientRegistry", err)
	if prev != nil {
		t.Errorf("previous registry on an empty store: got %+v, want nil", *prev)
	}
	wantReport(t, rep, []string{"a", "b"}, nil, nil)
	wantClients(t, s, stamped(a, t0, t0, false), stamped(b, t0, t0, false))
	wantApplied(t, s, storage.ClientRegistry{Revision: 7, Digest: "digest-7", AppliedAt: t0, AppliedBy: "host-a (pid 1)"})
}

func testRegistryNewer(t *testing.T, s Store) {
	a, b := newClient("a"), newClient("b")
	_, _, err := apply(t, s, 1, "d1", "host-a", t0, a, b)
	check(t, "apply revision 1", err)
	t1 := at(time.Minute)
	rep, prev, err := apply(t, s, 2, "d2", "host-b", t1, b)
	check(t, "apply revision 2", err)
	wantReport(t, rep, nil, nil, []string{"a"})
	wantEqual(t, "previous registry", *prev, storage.ClientRegistry{Revision: 1, Digest: "d1", AppliedAt: t0, AppliedBy: "host-a"})
	wantApplied(t, s, storage.ClientRegistry{Revision: 2, Digest: "d2", AppliedAt: t1, AppliedBy: "host-b"})
	wantClients(t, s, stamped(a, t0, t1, true), stamped(b, t0, t0, false))
}

// testRegistryOlder: an instance still holding an older file (or a file
// without a revision) changes nothing, even one that would disable every
// client.
func testRegistryOlder(t *testing.T, s Store) {
	a, b := newClient("a"), newClient("b")
	_, _, err := apply(t, s, 5, "d5", "host-new", t0, a, b)
	check(t, "apply revision 5", err)
	applied := storage.ClientRegistry{Revision: 5, Digest: "d5", AppliedAt: t0, AppliedBy: "host-new"}

	for _, old := range []struct {
		name     string
		revision int64
	}{{"revision 4", 4}, {"no revision", 0}} {
		rep, prev, err := apply(t, s, old.revision, "d-old", "host-old", at(time.Minute))
		wantRefused(t, "apply "+old.name+" over revision 5", err, true, applied)
		wantReport(t, rep, nil, nil, nil)
		if prev == nil {
			t.Fatalf("apply %s: got no previous registry, want revision 5", old.name)
		}
		wantEqual(t, "previous registry", *prev, applied)
	}
	wantApplied(t, s, applied)
	wantClients(t, s, stamped(a, t0, t0, false), stamped(b, t0, t0, false))
}

func testRegistrySameRevisionOther(t *testing.T, s Store) {
	a := newClient("a")
	_, _, err := apply(t, s, 3, "d3", "host-a", t0, a)
	check(t, "apply revision 3", err)
	applied := storage.ClientRegistry{Revision: 3, Digest: "d3", AppliedAt: t0, AppliedBy: "host-a"}
	changed := a
	changed.Name = "Changed"
	_, _, err = apply(t, s, 3, "d3-other", "host-b", at(time.Minute), changed, newClient("b"))
	wantRefused(t, "apply revision 3 with other clients", err, false, applied)
	wantApplied(t, s, applied)
	wantClients(t, s, stamped(a, t0, t0, false))
}

// testRegistrySameAgain: applying the applied registry again (another
// instance with the same file, or a restart) syncs, so it heals a store
// changed behind its back, but keeps who applied it first.
func testRegistrySameAgain(t *testing.T, s Store) {
	a, b := newClient("a"), newClient("b")
	_, _, err := apply(t, s, 3, "d3", "host-a", t0, a, b)
	check(t, "apply revision 3", err)
	t1 := at(time.Minute)
	syncClients(t, s, t1, a) // disables b, outside any registry
	t2 := at(2 * time.Minute)
	rep, prev, err := apply(t, s, 3, "d3", "host-b", t2, a, b)
	check(t, "apply revision 3 again", err)
	wantReport(t, rep, nil, []string{"b"}, nil)
	applied := storage.ClientRegistry{Revision: 3, Digest: "d3", AppliedAt: t0, AppliedBy: "host-a"}
	wantEqual(t, "previous registry", *prev, applied)
	wantApplied(t, s, applied)
	wantClients(t, s, stamped(a, t0, t0, false), versioned(b, t0, t2, false, 3)) // b disabled, then enabled
}

// testRegistryUnrevisioned: files without a revision replace one another
// (a single instance's edits), and the caller learns what it replaced.
func testRegistryUnrevisioned(t *testing.T, s Store) {
	_, _, err := apply(t, s, 0, "first", "host-a", t0, newClient("a"))
	check(t, "apply the first file without revision", err)
	t1 := at(time.Minute)
	rep, prev, err := apply(t, s, 0, "second", "host-b", t1, newClient("b"))
	check(t, "apply the second file without revision", err)
	wantReport(t, rep, []string{"b"}, nil, []string{"a"})
	wantEqual(t, "previous registry", *prev, storage.ClientRegistry{Revision: 0, Digest: "first", AppliedAt: t0, AppliedBy: "host-a"})
	wantApplied(t, s, storage.ClientRegistry{Revision: 0, Digest: "second", AppliedAt: t1, AppliedBy: "host-b"})
	// A revision replaces a file without one.
	_, _, err = apply(t, s, 1, "third", "host-a", at(2*time.Minute), newClient("c"))
	check(t, "apply revision 1 over a file without revision", err)
}

// testRegistryConcurrent applies revisions 1..n at once, each with clients
// of its own: whatever the order the store runs them in, it ends with the
// highest revision and exactly its clients; older ones arriving after a
// newer one are refused, never applied over it.
func testRegistryConcurrent(t *testing.T, s Store) {
	const n = 8
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make([]error, n+1)
	for rev := 1; rev <= n; rev++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			c := newClient(fmt.Sprintf("rev-%d", rev))
			_, _, errs[rev] = apply(t, s, int64(rev), fmt.Sprintf("d%d", rev), "host", t0, c)
		}()
	}
	close(start)
	wg.Wait()
	for rev := 1; rev <= n; rev++ {
		var refused *storage.RegistryRefusedError
		if errs[rev] != nil && !(errors.As(errs[rev], &refused) && refused.Older()) {
			t.Errorf("apply revision %d: got %v, want nil or an older-revision refusal", rev, errs[rev])
		}
	}
	if errs[n] != nil {
		t.Errorf("apply revision %d, the newest: got %v, want nil", n, errs[n])
	}
	wantApplied(t, s, storage.ClientRegistry{Revision: n, Digest: fmt.Sprintf("d%d", n), AppliedAt: t0, AppliedBy: "host"})
	got, err := s.ListClients(t.Context())
	check(t, "ListClients", err)
	var enabled []string
	for _, c := range got {
		if !c.Disabled {
			enabled = append(enabled, c.ID)
		}
	}
	wantIDs(t, "enabled clients", enabled, []string{fmt.Sprintf("rev-%d", n)})
}
