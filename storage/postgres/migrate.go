package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// versionTable is goose's record of applied migrations, in the first schema
// of the search_path like every other table.
const versionTable = "goose_db_version"

// Migrate brings the schema of the database at dsn up to date by applying
// the embedded migrations it has not seen yet, each in its own transaction.
// It holds a Postgres advisory lock, keyed on the target schema, while it
// works, so that any number of instances may run it at once: the first
// applies the migrations, the others wait for it and then find nothing to
// do. The target is the first existing schema of the DSN's search_path
// (search_path may be given as a URL query parameter or a keyword); Migrate
// fails if there is none. Migrate is bounded by ctx only, since a migration
// may take long.
func Migrate(ctx context.Context, dsn string) error {
	// The pool's parser strips pool_* settings, which a bare connection
	// would send to the server as unknown parameters.
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	db := stdlib.OpenDB(*cfg.ConnConfig)
	defer db.Close()

	var schema sql.NullString
	if err := db.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if !schema.Valid {
		return errors.New("postgres: migrate: no schema of the search_path exists")
	}
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithDisableGlobalRegistry(true),
		goose.WithTableName(versionTable),
		goose.WithSessionLocker(schemaLock{}))
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("postgres: migrate schema %s: %w", schema.String, err)
	}
	return nil
}

// schemaLock is a goose session locker holding a session-level advisory
// lock keyed on the connection's current schema, so that migrations of one
// schema queue while other schemas of the same database migrate freely.
// Unlike goose's own Postgres locker it waits in pg_advisory_lock, which
// returns as soon as the lock is free (or ctx ends), instead of polling.
type schemaLock struct{}

var _ lock.SessionLocker = schemaLock{}

// lockKey is hashed with the schema name into the advisory lock's key.
const lockKey = "gatehouse migrate "

func (schemaLock) SessionLock(ctx context.Context, conn *sql.Conn) error {
	_, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(hashtextextended($1::text || current_schema(), 0))`, lockKey)
	if err != nil {
		return fmt.Errorf("take migration lock: %w", err)
	}
	return nil
}

func (schemaLock) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	var released bool
	err := conn.QueryRowContext(ctx, `SELECT pg_advisory_unlock(hashtextextended($1::text || current_schema(), 0))`, lockKey).Scan(&released)
	if err != nil {
		return fmt.Errorf("release migration lock: %w", err)
	}
	if !released {
		return errors.New("release migration lock: not held")
	}
	return nil
}
