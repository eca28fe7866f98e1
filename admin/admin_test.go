package admin_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/admin"
	"github.com/gatehouse-idp/gatehouse/audit"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

func newService(t *testing.T) (*admin.Service, *sqlite.Store, *[]storage.AuditEvent) {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var events []storage.AuditEvent
	return admin.New(admin.Config{Store: store, FamilyKeep: time.Hour,
		Record: audit.RecorderFunc(func(_ context.Context, evs ...storage.AuditEvent) error {
			events = append(events, evs...)
			return nil
		})}), store, &events
}

// Two updates from one read: the second is refused (ErrChanged) and
// changes nothing; every change is recorded with its actor.
func TestUpdateUserCompareAndSet(t *testing.T) {
	ops, store, events := newService(t)
	ctx := t.Context()
	who := admin.Actor{Kind: audit.ActorClient, ID: "admin-job"}
	u, err := ops.CreateUser(ctx, who, admin.NewUser{Username: "Alice", Password: "correct horse battery staple"})
	if err != nil {
		t.Fatal(err)
	}
	read, err := store.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	name, other := "Alice L.", "Mallory"
	if _, err := ops.UpdateUser(ctx, who, read, admin.UserChange{Name: &name}); err != nil {
		t.Fatalf("first update: %v", err)
	}
	if _, err := ops.UpdateUser(ctx, who, read, admin.UserChange{Name: &other}); !errors.Is(err, admin.ErrChanged) {
		t.Fatalf("second update from the same read: got %v, want ErrChanged", err)
	}
	if got, _ := store.UserByID(ctx, u.ID); got.Name != name {
		t.Errorf("name: got %q, want %q", got.Name, name)
	}
	var kinds []string
	for _, ev := range *events {
		kinds = append(kinds, ev.Kind+" "+ev.Actor+" "+ev.Detail)
	}
	want := "user_created client by=client:admin-job\nuser_updated client name by=client:admin-job"
	if got := strings.Join(kinds, "\n"); got != want {
		t.Errorf("events:\n%s\nwant\n%s", got, want)
	}
}

// Bad input is refused with every problem, and nothing is stored.
func TestCreateUserProblems(t *testing.T) {
	ops, store, events := newService(t)
	_, err := ops.CreateUser(t.Context(), admin.Operator, admin.NewUser{Username: "bob smith", Password: "short", Email: "nope", Name: strings.Repeat("x", 300)})
	var bad admin.Invalid
	if !errors.As(err, &bad) || len(bad) != 4 {
		t.Fatalf("got %v, want four problems (username, email, name, password)", err)
	}
	if n, _ := store.CountUsers(t.Context()); n != 0 || len(*events) != 0 {
		t.Errorf("%d users and %d events after refused input, want none", n, len(*events))
	}
}
