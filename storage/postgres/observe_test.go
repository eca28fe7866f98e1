package postgres

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/storagetest"
)

func TestObserver(t *testing.T) {
	rec := &storagetest.CallRecorder{}
	s := openTest(t, Options{Observer: rec})
	ctx := t.Context()
	sess := storage.Session{ID: "s1", UserID: "u1", ExpiresAt: t0}
	tests := []struct {
		name string
		op   func() error
		want []storagetest.ObservedCall
	}{
		{"CreateSession", func() error { return s.CreateSession(ctx, &sess) }, []storagetest.ObservedCall{{Backend: "postgres", Op: "insert"}}},
		// A refused duplicate and a missing row are answers, not failures.
		{"CreateSession again", func() error { s.CreateSession(ctx, &sess); return nil }, []storagetest.ObservedCall{{Backend: "postgres", Op: "insert"}}},
		{"Session", func() error { s.Session(ctx, "nope", t0); return nil }, []storagetest.ObservedCall{{Backend: "postgres", Op: "select"}}},
		{"AppendAudit", func() error {
			return s.AppendAudit(ctx, []storage.AuditEvent{{Kind: "k", Time: t0}, {Kind: "k", Time: t0}})
		}, []storagetest.ObservedCall{{Backend: "postgres", Op: "batch"}}},
		{"a failing statement", func() error {
			_, err := s.pool.Exec(ctx, "\n\t SELECT 1/0")
			if err == nil {
				t.Error("SELECT 1/0: got no error")
			}
			return nil
		}, []storagetest.ObservedCall{{Backend: "postgres", Op: "select", Failed: true}}},
	}
	rec.Take()
	for _, tt := range tests {
		if err := tt.op(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got := rec.Take()
		if len(got) != len(tt.want) {
			t.Errorf("%s: got calls %v, want %v", tt.name, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s: got calls %v, want %v", tt.name, got, tt.want)
				break
			}
		}
	}
	if st := s.PoolStat(); st.MaxConns() != DefaultMaxConns || st.TotalConns() < 1 {
		t.Errorf("PoolStat: got max %d, total %d; want max %d, total at least 1", st.MaxConns(), st.TotalConns(), DefaultMaxConns)
	}
}

func TestStatementKind(t *testing.T) {
	for sql, want := range map[string]string{
		"SELECT 1":                             "select",
		"\n\t\tinsert INTO x VALUES (1)":       "insert",
		"UPDATE sessions SET":                  "update",
		"DELETE FROM sessions":                 "delete",
		"WITH a AS (SELECT 1) SELECT * FROM a": "with",
		"(SELECT 1) UNION (SELECT 2)":          "select",
		"begin isolation level serializable":   "begin",
		"commit":                               "commit",
		"SELECTx":                              "other",
		"select_things()":                      "other",
		"VACUUM":                               "other",
		"":                                     "other",
		"-- a comment\nSELECT 1":               "other",
	} {
		if got := statementKind(sql); got != want {
			t.Errorf("statementKind(%q): got %q, want %q", sql, got, want)
		}
	}
}

// TestStatementCache: the pool runs statements in pgx's default mode,
// QueryExecModeCacheStatement, so a connection prepares each statement
// the first time it runs it and reuses it after (docs/design.md, "How
// each SQL backend reuses prepared statements").
func TestStatementCache(t *testing.T) {
	s := openTest(t, Options{MaxConns: 1})
	ctx := t.Context()
	if cc := s.pool.Config().ConnConfig; cc.DefaultQueryExecMode != pgx.QueryExecModeCacheStatement || cc.StatementCacheCapacity <= 0 {
		t.Errorf("query exec mode %v with a statement cache of %d; want %v with a cache", cc.DefaultQueryExecMode,
			cc.StatementCacheCapacity, pgx.QueryExecModeCacheStatement)
	}
	for range 3 {
		if _, err := s.Client(ctx, "nobody"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Client: got %v, want ErrNotFound", err)
		}
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	// Prepared by pgx, by name, on the server: once, though run three times.
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_prepared_statements
		WHERE statement LIKE '%FROM clients%' AND statement NOT LIKE '%pg_prepared_statements%'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("statements prepared on the connection that read a client: got %d, want 1", n)
	}
}
