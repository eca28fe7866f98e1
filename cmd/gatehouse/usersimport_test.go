package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/postgres"
	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// importStore is what the import tests read back.
type importStore interface {
	storage.Users
	storage.Groups
	storage.AuditLog
}

// importBackends opens a fresh database of each SQL backend: its URL for
// the command, and a store on it for the test's own checks. Postgres is
// skipped when unreachable (pgtest).
func importBackends(t *testing.T) map[string]func(t *testing.T) (string, importStore) {
	return map[string]func(t *testing.T) (string, importStore){
		"sqlite": func(t *testing.T) (string, importStore) {
			db := filepath.Join(t.TempDir(), "g.db")
			st, err := sqlite.Open(t.Context(), db)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return db, st
		},
		"postgres": func(t *testing.T) (string, importStore) {
			dsn := pgtest.DSN(t)
			if err := postgres.Migrate(t.Context(), dsn); err != nil {
				t.Fatal(err)
			}
			st, err := postgres.Open(t.Context(), dsn, postgres.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(st.Close)
			return dsn, st
		},
	}
}

// writeFile writes content to name in a temporary directory and returns
// its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func testBcrypt(t testing.TB, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// importedUser returns the stored user and their groups.
func importedUser(t *testing.T, st importStore, username string) (*storage.User, []string) {
	t.Helper()
	u, err := st.UserByUsername(context.Background(), username)
	if err != nil {
		t.Fatalf("user %s: %v", username, err)
	}
	groups, err := st.UserGroups(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return u, groups
}

// importEvents returns the users_imported events, oldest first.
func importEvents(t *testing.T, st importStore) []storage.AuditEvent {
	t.Helper()
	all, err := st.AuditEvents(context.Background(), storage.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var got []storage.AuditEvent
	for _, e := range all {
		if e.Kind == auditUsersImported {
			got = append(got, e)
		}
	}
	slices.Reverse(got) // AuditEvents lists the newest first
	return got
}

// TestUsersImport: a CSV file and a JSON Lines one (and the same on
// standard input) are imported on SQLite and Postgres with every field,
// bcrypt and argon2id hashes kept as given, a user without a hash given
// one no password matches, groups joined (and created with
// --create-groups), and one audit event each. --dry-run writes nothing.
func TestUsersImport(t *testing.T) {
	argon, err := loginui.HashPassword("argon password", loginui.Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}, strings.NewReader(strings.Repeat("s", 16)))
	if err != nil {
		t.Fatal(err)
	}
	bc := testBcrypt(t, "alice's password")
	for name, open := range importBackends(t) {
		t.Run(name, func(t *testing.T) {
			db, st := open(t)
			if _, err := cli(t, db, "", "groups", "create", "staff"); err != nil {
				t.Fatal(err)
			}
			csvFile := writeFile(t, "users.csv", "\uFEFFusername,Email,name,email_verified,password_hash,disabled,groups\r\n"+
				"Alice,alice@example.com,\"Liddell, Alice\",true,"+bc+",,staff\r\n"+
				"bob,,Bob,false,\""+argon+"\",true,\r\n"+
				"carol,carol@example.com,,,,false,\r\n")
			out, err := cli(t, db, "", "users", "import", csvFile, "--dry-run")
			if err != nil || !strings.Contains(out, "3 users (1 with a bcrypt hash, 1 argon2id, 1 without a password) to import; nothing written") {
				t.Fatalf("--dry-run: %q, %v", out, err)
			}
			if n, _ := st.CountUsers(t.Context()); n != 0 {
				t.Fatalf("--dry-run stored %d users", n)
			}
			out, err = cli(t, db, "", "users", "import", csvFile)
			if err != nil || !strings.Contains(out, "imported 3 users (1 with a bcrypt hash, 1 argon2id, 1 without a password)") {
				t.Fatalf("import CSV: %q, %v", out, err)
			}
			alice, groups := importedUser(t, st, "alice")
			if alice.Email != "alice@example.com" || alice.Name != "Liddell, Alice" || !alice.EmailVerified || alice.Disabled ||
				alice.PasswordHash != bc || !slices.Equal(groups, []string{"staff"}) || len(alice.ID) != 22 || alice.CreatedAt.IsZero() {
				t.Errorf("alice: %+v in %q", alice, groups)
			}
			bob, groups := importedUser(t, st, "bob")
			if bob.Email != "" || bob.Name != "Bob" || bob.EmailVerified || !bob.Disabled || bob.PasswordHash != argon || len(groups) != 0 {
				t.Errorf("bob: %+v in %q", bob, groups)
			}
			carol, _ := importedUser(t, st, "carol")
			if !strings.HasPrefix(carol.PasswordHash, "$argon2id$") || loginui.CheckPasswordHash(carol.PasswordHash) != nil {
				t.Errorf("carol's hash: %q, want an argon2id hash nothing matches", carol.PasswordHash)
			}
			for _, pw := range []string{"", "alice's password", "argon password"} {
				if ok, _ := loginui.VerifyPassword(carol.PasswordHash, pw); ok {
					t.Errorf("carol, imported without a password, matches %q", pw)
				}
			}
			if ok, err := loginui.VerifyPassword(alice.PasswordHash, "alice's password"); !ok || err != nil {
				t.Errorf("alice's imported hash: VerifyPassword got (%v, %v), want (true, nil)", ok, err)
			}
			if alice.ID == bob.ID || bob.ID == carol.ID {
				t.Errorf("ids: %s %s %s, want each its own", alice.ID, bob.ID, carol.ID)
			}

			jsonl := `{"username":"dave","email":"dave@example.com","name":"Dave","email_verified":true,"password_hash":"` + testBcrypt(t, "dave") + `","disabled":false,"groups":["staff","new"]}` + "\n" +
				"\n" + // blank lines are skipped
				`{"username":"erin","groups":null,"password_hash":null}` + "\n"
			out, err = cli(t, db, "", "users", "import", writeFile(t, "more.ndjson", jsonl), "--create-groups")
			if err != nil || !strings.Contains(out, "imported 2 users") || !strings.Contains(out, "created groups new") {
				t.Fatalf("import JSON Lines: %q, %v", out, err)
			}
			dave, groups := importedUser(t, st, "dave")
			if dave.Email != "dave@example.com" || !dave.EmailVerified || !slices.Equal(groups, []string{"new", "staff"}) {
				t.Errorf("dave: %+v in %q", dave, groups)
			}
			out, err = cli(t, db, `{"username":"frank","disabled":true}`+"\n", "users", "import", "-", "--format", "jsonl")
			if frank, _ := importedUser(t, st, "frank"); err != nil || !frank.Disabled {
				t.Errorf("import from stdin: %q, %v, frank %+v", out, err, frank)
			}
			out, err = cli(t, db, "username\ngina\n", "users", "import", "-", "--format", "csv")
			if err != nil || !strings.Contains(out, "stdin: imported 1 user ") {
				t.Errorf("CSV from stdin: %q, %v", out, err)
			}

			evs := importEvents(t, st)
			want := []string{`count=3 file="` + csvFile + `"`, `count=2 file="`, `count=1 file="stdin"`, `count=1 file="stdin"`}
			if len(evs) != len(want) {
				t.Fatalf("users_imported events: got %+v, want %d", evs, len(want))
			}
			for i, e := range evs {
				if !strings.HasPrefix(e.Detail, want[i]) || e.Actor != "operator" {
					t.Errorf("event %d: %+v, want detail %q… by operator", i, e, want[i])
				}
			}
			if !strings.HasSuffix(evs[1].Detail, "groups_created=new") {
				t.Errorf("event of the JSON Lines import: %q, want the group it created", evs[1].Detail)
			}
		})
	}
}

// TestUsersImportBadInput: every kind of bad line is reported with its
// line number, all problems of a file at once, and nothing is written:
// no user, no group, no audit event.
func TestUsersImportBadInput(t *testing.T) {
	db := filepath.Join(t.TempDir(), "g.db")
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := cli(t, db, "correct horse battery staple\n", "users", "add", "zoe", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli(t, db, "", "groups", "create", "staff"); err != nil {
		t.Fatal(err)
	}
	bc := testBcrypt(t, "x")
	for _, tt := range []struct {
		name, file, content string
		args                []string
		want                []string // each "LINE: message", or a whole message for the file
	}{
		{"bad username", "u.csv", "username\nalice\nBob Smith\n", nil, []string{`:3: username "Bob Smith": use 1–128 characters`}},
		{"no username", "u.csv", "username,email\nalice,a@x\n,b@x\n", nil, []string{":3: username is required"}},
		{"username twice", "u.csv", "username\nalice\nbob\nALICE\n", nil, []string{`:4: username "alice" is also on line 2`}},
		{"username stored", "u.jsonl", `{"username":"bob"}` + "\n" + `{"username":"Zoe"}` + "\n", nil, []string{`:2: username "zoe" exists already`}},
		{"bcrypt cut short", "u.csv", "username,password_hash\nalice," + bc[:50] + "\n", nil, []string{":2: password_hash: bcrypt: want $2b$, a two-digit cost"}},
		{"bcrypt too costly", "u.csv", "username,password_hash\nalice,$2b$20$" + bc[7:] + "\n", nil, []string{":2: password_hash: bcrypt: cost 20 is above 16"}},
		{"MD5-crypt", "u.csv", "username,password_hash\nalice,$1$saltsalt$qjXMvbEw8oaL.CzflDugX/\n", nil, []string{`:2: password_hash: unknown algorithm "1" (MD5-crypt)`}},
		{"plain text", "u.jsonl", `{"username":"alice","password_hash":"hunter2"}` + "\n", nil, []string{":1: password_hash: not a hash in PHC or bcrypt form"}},
		{"MD5 hex", "u.csv", "username,password_hash\nalice,5f4dcc3b5aa765d61d8327deb882cf99\n", nil, []string{":2: password_hash: not a hash in PHC or bcrypt form"}},
		{"scrypt", "u.csv", "username,password_hash\nalice,\"$scrypt$ln=16,r=8,p=1$c2FsdA$aGFzaA\"\n", nil, []string{`:2: password_hash: unknown algorithm "scrypt"`}},
		{"argon2id bad", "u.csv", "username,password_hash\nalice,\"$argon2id$v=19$m=4194304,t=1,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG\"\n", nil, []string{":2: password_hash: argon2id: parameters out of bounds"}},
		{"bad bool CSV", "u.csv", "username,email_verified,disabled\nalice,yes,\nbob,,maybe\n", nil, []string{`:2: email_verified: want true or false, got "yes"`, `:3: disabled: want true or false, got "maybe"`}},
		{"bad bool JSON", "u.jsonl", `{"username":"alice","disabled":"true"}` + "\n", nil, []string{`:1: disabled: want true or false, got "true"`}},
		{"unknown column", "u.csv", "username,colour\nalice,red\n", nil, []string{`:1: unknown column "colour": the columns are username, email`}},
		{"column twice", "u.csv", "username,email,email\nalice,a@x,b@x\n", nil, []string{`:1: column "email" is given twice`}},
		{"no username column", "u.csv", "email\na@x\n", nil, []string{":1: no username column"}},
		{"empty CSV", "u.csv", "", nil, []string{":1: the file is empty"}},
		{"field count", "u.csv", "username,email\nalice,a@x\nbob\n", nil, []string{":3: 1 fields, but the header names 2 columns"}},
		{"argon2id unquoted", "u.csv", "username,password_hash\nalice,$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG\n", nil,
			[]string{":2: 4 fields, but the header names 2 columns (a field with a comma, such as an argon2id hash, goes in double quotes)"}},
		{"bad quote", "u.csv", "username,name\nalice,\"Al\"ice\"\n", nil, []string{`:2: not CSV:`}},
		{"unknown key", "u.jsonl", `{"username":"alice","colour":"red"}` + "\n", nil, []string{`:1: unknown key "colour": the keys are username`}},
		{"key twice", "u.jsonl", `{"username":"alice","username":"root"}` + "\n", nil, []string{`:1: key "username" is given twice`}},
		{"not JSON", "u.jsonl", `{"username":"alice"}` + "\nusername: bob\n", nil, []string{":2: not a JSON object"}},
		{"broken JSON", "u.jsonl", `{"username":"alice",}` + "\n", nil, []string{":1: not JSON: invalid character '}'"}},
		{"two objects", "u.jsonl", `{"username":"alice"} {"username":"bob"}` + "\n", nil, []string{":1: more after the JSON object"}},
		{"JSON array", "u.jsonl", `[{"username":"alice"}]` + "\n", nil, []string{":1: not a JSON object"}},
		{"wrong type", "u.jsonl", `{"username":42,"groups":"staff"}` + "\n", nil, []string{":1: username: want a string, got 42", `:1: groups: want an array of group names, got "staff"`}},
		{"invalid UTF-8", "u.jsonl", "{\"username\":\"al\xffice\"}\n", nil, []string{":1: not valid UTF-8"}},
		{"bad email", "u.csv", "username,email\nalice,alice.example.com\n", nil, []string{`:2: email "alice.example.com" is not an email address`}},
		{"unknown group", "u.csv", "username,groups\nalice,staff;admins\n", nil, []string{`:2: group "admins" does not exist: create it with gatehouse groups create, or pass --create-groups`}},
		{"bad group name", "u.csv", "username,groups\nalice,Staff!\n", nil, []string{`:2: group "Staff!": use 1–64 characters`}},
		{"every problem at once", "u.csv", "username,disabled,password_hash\nalice,,\nbad name,perhaps,$1$x$y\nALICE,,\n", nil,
			[]string{`:3: disabled: want true or false, got "perhaps"`, `:3: username "bad name"`, `:3: password_hash: unknown algorithm "1"`, `:4: username "alice" is also on line 2`, "4 problems; nothing was imported"}},
		{"unknown extension", "u.txt", "username\nalice\n", nil, []string{"cannot tell the format from the name: give --format csv or --format jsonl"}},
		{"stdin without a format", "-", "username\nalice\n", nil, []string{"standard input: give its format with --format"}},
		{"unknown format", "u.csv", "username\nalice\n", []string{"--format", "xml"}, []string{`--format: want csv or jsonl, got "xml"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			file, stdin := tt.file, ""
			if file == "-" {
				stdin = tt.content
			} else {
				file = writeFile(t, tt.file, tt.content)
			}
			out, err := cli(t, db, stdin, append([]string{"users", "import", file}, tt.args...)...)
			if err == nil {
				t.Fatalf("import of %q: got %q and no error, want one", tt.content, out)
			}
			all := out + err.Error()
			for _, w := range tt.want {
				if strings.HasPrefix(w, ":") {
					w = file + w
				}
				if !strings.Contains(all, w) {
					t.Errorf("import of %q: got %q, want %q in it", tt.content, all, w)
				}
			}
			if n, _ := st.CountUsers(t.Context()); n != 1 {
				t.Errorf("after the refused import: %d users, want 1 (zoe)", n)
			}
			if g, _ := st.ListGroups(t.Context()); len(g) != 1 {
				t.Errorf("after the refused import: groups %+v, want staff only", g)
			}
			if evs := importEvents(t, st); len(evs) != 0 {
				t.Errorf("after the refused import: events %+v, want none", evs)
			}
		})
	}
}

// TestUsersImportAtomic: a file of 20,000 good users whose last line is
// bad writes none of them, on both backends; without that line all are
// written.
func TestUsersImportAtomic(t *testing.T) {
	var b strings.Builder
	b.WriteString("username,email,password_hash,groups\n")
	hash := testBcrypt(t, "x")
	for i := range 20_000 {
		fmt.Fprintf(&b, "user%05d,user%05d@example.com,%s,staff\n", i, i, hash)
	}
	good := b.String()
	bad := good + "user00007,again@example.com,,\n"
	for name, open := range importBackends(t) {
		t.Run(name, func(t *testing.T) {
			db, st := open(t)
			if _, err := cli(t, db, "", "groups", "create", "staff"); err != nil {
				t.Fatal(err)
			}
			out, err := cli(t, db, "", "users", "import", writeFile(t, "bad.csv", bad))
			if err == nil || !strings.Contains(out, `bad.csv:20002: username "user00007" is also on line 9`) {
				t.Fatalf("bad last line: %q, %v", out, err)
			}
			if n, _ := st.CountUsers(t.Context()); n != 0 {
				t.Fatalf("after the refused import: %d users, want 0", n)
			}
			start := time.Now()
			out, err = cli(t, db, "", "users", "import", writeFile(t, "good.csv", good))
			if err != nil {
				t.Fatalf("good file: %q, %v", out, err)
			}
			t.Logf("%s: 20,000 users imported in %s", name, time.Since(start))
			if n, _ := st.CountUsers(t.Context()); n != 20_000 {
				t.Errorf("after the import: %d users, want 20000", n)
			}
			members, err := st.GroupMembers(t.Context(), "staff")
			if err != nil || len(members) != 20_000 {
				t.Errorf("staff: %d members, %v; want 20000", len(members), err)
			}
			// The same file again: every username is taken now.
			out, err = cli(t, db, "", "users", "import", writeFile(t, "good.csv", good))
			if err == nil || !strings.Contains(out, `good.csv:20001: username "user19999" exists already`) || !strings.Contains(err.Error(), "20000 problems; nothing was imported") {
				t.Errorf("the same file again: %.300q, %v", out, err)
			}
		})
	}
}
