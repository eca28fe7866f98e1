package main

import (
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gatehouse-idp/gatehouse/console"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// TestBootstrapAdminJoinsAdmins: the first user, admin, is a member of
// gatehouse-admins (the console's group), which is created with it, and
// both are in the audit trail; a second start changes nothing, and a
// group made by hand before the first start is kept.
func TestBootstrapAdminJoinsAdmins(t *testing.T) {
	for _, pre := range []bool{false, true} {
		t.Run(map[bool]string{false: "new", true: "group exists"}[pre], func(t *testing.T) {
			ctx := t.Context()
			st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			if pre {
				if err := st.CreateGroup(ctx, &storage.Group{Name: console.AdminGroup}); err != nil {
					t.Fatal(err)
				}
			}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			cfg := Config{BootstrapPassword: "bootstrap password 0123"}
			for range 2 {
				if err := bootstrapAdmin(ctx, cfg, st, log); err != nil {
					t.Fatalf("bootstrapAdmin: %v", err)
				}
			}
			u, err := st.UserByUsername(ctx, "admin")
			if err != nil {
				t.Fatal(err)
			}
			members, err := st.GroupMembers(ctx, console.AdminGroup)
			if err != nil || !slices.Equal(members, []string{u.ID}) {
				t.Fatalf("%s members: %v, %v; want only admin (%s)", console.AdminGroup, members, err, u.ID)
			}
			events, err := st.AuditEvents(ctx, storage.AuditQuery{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, e := range events {
				kinds = append(kinds, e.Kind)
			}
			slices.Sort(kinds)
			want := []string{auditGroupCreated, auditGroupMemberAdded, auditUserCreated}
			if pre {
				want = []string{auditGroupMemberAdded, auditUserCreated}
			}
			if !slices.Equal(kinds, want) {
				t.Errorf("audit events %v, want %v", kinds, want)
			}
		})
	}
}
