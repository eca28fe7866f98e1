package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-idp/gatehouse/admin"
	"github.com/gatehouse-idp/gatehouse/audit"
	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
	"github.com/gatehouse-idp/gatehouse/storage"
)

const usersImportUsage = `Usage:
  gatehouse users import FILE [--format csv|jsonl] [--create-groups] [--dry-run]

Imports users from another provider, with their password hashes, so that
nobody has to reset a password. FILE is CSV (.csv) or JSON Lines (.jsonl,
.ndjson); --format names the format of a file with another name, and of
standard input, read when FILE is -.

Fields (a CSV file's first line names its columns, in any order; a JSON
Lines file has one object a line, with these keys):
  username        required; stored in its canonical form (lower case):
                  1–128 characters from a–z, 0–9 and . _ - @ +
  email           an email address
  name            the full name
  email_verified  true or false (CSV: empty is false)
  password_hash   an argon2id PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash)
                  or a bcrypt hash ($2a$, $2b$ or $2y$, cost 4 to 16);
                  empty or absent: the user has no password until one is
                  set with gatehouse users passwd
  disabled        true or false (CSV: empty is false)
  groups          the user's groups (CSV: names separated by spaces or ;
                  JSON: an array of names); each must exist, or be created
                  by the import with --create-groups

The whole file is checked first, and every problem is reported with its
line: a bad or missing username, a username twice in the file or already
taken, a hash of another algorithm (MD5, SHA-crypt, scrypt, plain text …)
or a malformed one, a bad true/false, an unknown column or key, a line
that is not JSON, a group that does not exist. With any problem nothing is
written. Otherwise every user, group and membership is written in one
transaction: all of them, or (on a failure) none, so an import can simply
be run again. The import is recorded in the audit trail (users_imported,
with the count and the file name).

A bcrypt hash, or an argon2id one with weaker parameters than Gatehouse's,
is replaced by an argon2id hash at the user's next sign-in. bcrypt reads
only the first 72 bytes of a password: a longer password does not sign in
against a bcrypt hash (set a new one with gatehouse users passwd).

  --dry-run        check the file only; write nothing
  --create-groups  create the groups the file names that do not exist yet

Examples:
  gatehouse users import users.csv --dry-run
  gatehouse users import users.jsonl --create-groups
  export-users | gatehouse users import - --format jsonl
`

// importFields are the columns of an import's CSV and the keys of its
// JSON objects.
var importFields = []string{"username", "email", "name", "email_verified", "password_hash", "disabled", "groups"}

// importRecord is one user of an import file as read.
type importRecord struct {
	line                    int
	username                string // as written
	email, name, hash       string
	emailVerified, disabled bool
	groups                  []string
}

// importProblem is what is wrong with one line of an import file.
type importProblem struct {
	line int
	msg  string
}

// importProblems collects an import file's problems.
type importProblems []importProblem

func (p *importProblems) add(line int, format string, args ...any) {
	*p = append(*p, importProblem{line, fmt.Sprintf(format, args...)})
}

// usersImport is `gatehouse users import FILE`.
func usersImport(ctx context.Context, env environment, args []string) error {
	fs := newFlagSet("users import", env)
	load := configFlag(fs, env)
	format := fs.String("format", "", "csv or jsonl (default: from the file name)")
	dryRun := fs.Bool("dry-run", false, "check the file only")
	createGroups := fs.Bool("create-groups", false, "create the groups named that do not exist")
	pos, err := parseInterspersed(fs, args) // a lone - is an argument, as flag has it
	if err != nil {
		return flagError(env, err, usersImportUsage)
	}
	if len(pos) != 1 {
		fmt.Fprint(env.stderr, "give one file (- for standard input)\n\n"+usersImportUsage)
		return errUsage
	}
	file := pos[0]
	switch {
	case *format == "" && file == "-":
		return errors.New("standard input: give its format with --format csv or --format jsonl")
	case *format == "":
		switch strings.ToLower(filepath.Ext(file)) {
		case ".csv":
			*format = "csv"
		case ".jsonl", ".ndjson":
			*format = "jsonl"
		default:
			return fmt.Errorf("%s: cannot tell the format from the name: give --format csv or --format jsonl", file)
		}
	case *format != "csv" && *format != "jsonl":
		return fmt.Errorf("--format: want csv or jsonl, got %q", *format)
	}

	in, name := env.stdin, "stdin"
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		in, name = f, file
	}
	var (
		records  []importRecord
		problems importProblems
	)
	if *format == "csv" {
		records, err = readImportCSV(in, &problems)
	} else {
		records, err = readImportJSONL(in, &problems)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}

	_, store, err := openCommandStores(ctx, load, sqlOnly)
	if err != nil {
		return err
	}
	defer store.Close()
	imp, stats, err := checkImport(ctx, store, records, *createGroups, &problems)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		slices.SortStableFunc(problems, func(a, b importProblem) int { return a.line - b.line })
		for _, p := range problems {
			fmt.Fprintf(env.stderr, "%s:%d: %s\n", name, p.line, p.msg)
		}
		return fmt.Errorf("%s: %s; nothing was imported", name, plural(len(problems), "problem", "problems"))
	}
	summary := fmt.Sprintf("%s (%d with a bcrypt hash, %d argon2id, %d without a password)",
		plural(len(imp.Users), "user", "users"), stats.bcrypt, stats.argon2id, stats.none)
	var created []string
	for _, g := range imp.Groups {
		created = append(created, g.Name)
	}
	if *dryRun {
		if len(created) > 0 {
			summary += "; groups to create: " + strings.Join(created, ", ")
		}
		fmt.Fprintf(env.stdout, "%s: %s to import; nothing written (--dry-run)\n", name, summary)
		return nil
	}
	if len(created) > 0 {
		summary += "; created groups " + strings.Join(created, ", ")
	}
	start := time.Now()
	if err := store.ImportUsers(ctx, imp); errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%s: a user or group was created or deleted meanwhile (%w); nothing was imported: run the import again", name, err)
	} else if err != nil {
		return fmt.Errorf("%s: %w; nothing was imported", name, err)
	}
	fmt.Fprintf(env.stdout, "%s: imported %s in %s\n", name, summary, time.Since(start).Round(time.Millisecond))
	detail := fmt.Sprintf("count=%d file=%q", len(imp.Users), name)
	if len(created) > 0 {
		detail += " groups_created=" + strings.Join(created, ",")
	}
	if err := appendAudit(ctx, store, storage.AuditEvent{Time: start, Kind: auditUsersImported, Actor: audit.ActorOperator, Detail: detail}); err != nil {
		return fmt.Errorf("the users are imported, but %w", err)
	}
	return nil
}

// importStats counts an import's users by the kind of their hash.
type importStats struct{ bcrypt, argon2id, none int }

// checkImport checks every record against the rules and the store (taken
// usernames, existing groups), adding to problems, and builds what
// ImportUsers stores: each user with a fresh id, the groups to create
// (with createGroups) and the memberships.
func checkImport(ctx context.Context, store *stores, records []importRecord, createGroups bool, problems *importProblems) (storage.UserImport, importStats, error) {
	var (
		imp   storage.UserImport
		stats importStats
	)
	stored, err := store.ListUsers(ctx)
	if err != nil {
		return imp, stats, err
	}
	taken := make(map[string]bool, len(stored))
	for _, u := range stored {
		taken[u.Username] = true
	}
	groups, err := store.ListGroups(ctx)
	if err != nil {
		return imp, stats, err
	}
	exists := make(map[string]bool, len(groups))
	for _, g := range groups {
		exists[g.Name] = true
	}
	now := time.Now().UTC()
	seen := make(map[string]int, len(records)) // canonical username → line
	newGroups := map[string]bool{}
	imp.Users = make([]storage.User, 0, len(records))
	for _, r := range records {
		before := len(*problems)
		username := loginui.CanonicalUsername(r.username)
		switch {
		case strings.TrimSpace(r.username) == "":
			problems.add(r.line, "username is required")
		case !loginui.ValidUsername(username):
			problems.add(r.line, "username %.64q: use 1–128 characters from a–z, 0–9 and . _ - @ +", r.username)
		case seen[username] != 0:
			problems.add(r.line, "username %q is also on line %d", username, seen[username])
		case taken[username]:
			problems.add(r.line, "username %q exists already", username)
		default:
			seen[username] = r.line
		}
		if admin.CheckEmail(r.email) != "" {
			problems.add(r.line, "email %.64q is not an email address (at most %d bytes, with an @)", r.email, admin.MaxEmailBytes)
		}
		if msg := admin.CheckName(r.name); msg != "" {
			problems.add(r.line, "name: %s", msg)
		}
		hash := r.hash
		if hash != "" {
			if err := loginui.CheckPasswordHash(hash); err != nil {
				problems.add(r.line, "password_hash: %s", strings.TrimPrefix(err.Error(), "malformed password hash: "))
			}
		}
		var member []string
		for _, g := range r.groups {
			switch {
			case slices.Contains(member, g):
			case !storage.ValidGroupName(g):
				problems.add(r.line, "group %.64q: use 1–%d characters from a–z, 0–9 and . _ -", g, storage.MaxGroupNameLen)
			case !exists[g] && !createGroups:
				problems.add(r.line, "group %q does not exist: create it with gatehouse groups create, or pass --create-groups", g)
			default:
				member = append(member, g)
			}
		}
		if len(*problems) > before {
			continue
		}
		switch {
		case hash == "":
			stats.none++
			if hash, err = loginui.UnmatchableHash(rand.Reader); err != nil {
				return imp, stats, err
			}
		case strings.HasPrefix(hash, "$argon2id$"):
			stats.argon2id++
		default:
			stats.bcrypt++
		}
		id := make([]byte, 16)
		if _, err := rand.Read(id); err != nil {
			return imp, stats, err
		}
		u := storage.User{
			ID: base64.RawURLEncoding.EncodeToString(id), Username: username,
			Email: r.email, EmailVerified: r.emailVerified, Name: r.name, PasswordHash: hash,
			Disabled: r.disabled, CreatedAt: now, UpdatedAt: now,
		}
		imp.Users = append(imp.Users, u)
		for _, g := range member {
			imp.Members = append(imp.Members, storage.GroupMember{Group: g, UserID: u.ID})
			if !exists[g] && !newGroups[g] {
				newGroups[g] = true
				imp.Groups = append(imp.Groups, storage.Group{Name: g, CreatedAt: now})
			}
		}
	}
	slices.SortFunc(imp.Groups, func(a, b storage.Group) int { return strings.Compare(a.Name, b.Name) })
	return imp, stats, nil
}

// parseImportBool reads a CSV true/false field: empty is false.
func parseImportBool(s string) (bool, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return false, true
	}
	b, err := strconv.ParseBool(s)
	return b, err == nil
}

// withoutBOM returns r without the UTF-8 byte order mark some spreadsheets
// write first.
func withoutBOM(r io.Reader) io.Reader {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(3); err == nil && string(b) == "\uFEFF" {
		br.Discard(3)
	}
	return br
}

// readImportCSV reads a CSV import: a header naming the columns, then a
// user a record. Problems of form are added to problems with their line;
// the error is a failure to read.
func readImportCSV(in io.Reader, problems *importProblems) ([]importRecord, error) {
	r := csv.NewReader(withoutBOM(in))
	r.ReuseRecord = true
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		problems.add(1, "the file is empty: want a header line naming the columns (%s)", strings.Join(importFields, ", "))
		return nil, nil
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		problems.add(pe.Line, "header: %v", pe.Err)
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	column := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		switch {
		case !slices.Contains(importFields, h):
			problems.add(1, "unknown column %.64q: the columns are %s", h, strings.Join(importFields, ", "))
		case column[h] != 0:
			problems.add(1, "column %q is given twice", h)
		default:
			column[h] = i + 1 // 0 is absent
		}
	}
	if column["username"] == 0 {
		problems.add(1, "no username column: it is required")
		return nil, nil
	}
	field := func(rec []string, name string) string {
		if i := column[name]; i != 0 {
			return rec[i-1]
		}
		return ""
	}
	var records []importRecord
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return records, nil
		}
		if errors.As(err, &pe) {
			if errors.Is(pe.Err, csv.ErrFieldCount) {
				problems.add(pe.StartLine, "%d fields, but the header names %d columns (a field with a comma, such as an argon2id hash, goes in double quotes)", len(rec), len(header))
			} else {
				problems.add(pe.Line, "not CSV: %v", pe.Err)
			}
			continue
		} else if err != nil {
			return nil, err
		}
		line, _ := r.FieldPos(0)
		ir := importRecord{
			line: line, username: field(rec, "username"), email: strings.TrimSpace(field(rec, "email")),
			name: field(rec, "name"), hash: strings.TrimSpace(field(rec, "password_hash")),
			groups: strings.FieldsFunc(field(rec, "groups"), func(r rune) bool { return r == ';' || unicode.IsSpace(r) }),
		}
		for _, b := range []struct {
			name string
			to   *bool
		}{{"email_verified", &ir.emailVerified}, {"disabled", &ir.disabled}} {
			v, ok := parseImportBool(field(rec, b.name))
			if !ok {
				problems.add(line, "%s: want true or false, got %.32q", b.name, field(rec, b.name))
			}
			*b.to = v
		}
		records = append(records, ir)
	}
}

// maxImportLine bounds one line of a JSON Lines import.
const maxImportLine = 1 << 20

// readImportJSONL reads a JSON Lines import: one JSON object a line;
// blank lines are skipped. Problems of form are added to problems with
// their line; the error is a failure to read.
func readImportJSONL(in io.Reader, problems *importProblems) ([]importRecord, error) {
	br := bufio.NewReaderSize(withoutBOM(in), 64<<10)
	var records []importRecord
	for n := 1; ; n++ {
		line, err := readLine(br, maxImportLine)
		if errors.Is(err, io.EOF) && line == nil {
			return records, nil
		}
		if errors.Is(err, errLongLine) {
			problems.add(n, "longer than %d bytes", maxImportLine)
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if !utf8.Valid(line) {
			problems.add(n, "not valid UTF-8")
			continue
		}
		if r, ok := parseImportObject(n, line, problems); ok {
			records = append(records, r)
		}
	}
}

var errLongLine = errors.New("line too long")

// readLine returns the next line of br without its line ending; a line
// longer than max is skipped and errLongLine returned. At the end it
// returns the last line (nil if none) with io.EOF.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > max+2 {
			line = nil
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, err
			}
			return []byte{}, errLongLine
		}
		line = append(line, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) && len(line) == 0 {
			return nil, io.EOF
		}
		return bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r")), err
	}
}

// parseImportObject reads one JSON object of a JSON Lines import, adding
// what is wrong with it to problems; ok is false when it is not an object.
func parseImportObject(n int, line []byte, problems *importProblems) (importRecord, bool) {
	r := importRecord{line: n}
	dec := json.NewDecoder(bytes.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		problems.add(n, "not a JSON object")
		return r, false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			problems.add(n, "not JSON: %v", err)
			return r, false
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			problems.add(n, "not JSON: %v", err)
			return r, false
		}
		if seen[key] {
			problems.add(n, "key %.64q is given twice", key)
			continue
		}
		seen[key] = true
		isNull := string(raw) == "null"
		switch key {
		case "username", "email", "name", "password_hash":
			var s string
			if !isNull && json.Unmarshal(raw, &s) != nil {
				problems.add(n, "%s: want a string, got %.32s", key, raw)
				continue
			}
			switch key {
			case "username":
				r.username = s
			case "email":
				r.email = strings.TrimSpace(s)
			case "name":
				r.name = s
			case "password_hash":
				r.hash = strings.TrimSpace(s)
			}
		case "email_verified", "disabled":
			var b bool
			if !isNull && json.Unmarshal(raw, &b) != nil {
				problems.add(n, "%s: want true or false, got %.32s", key, raw)
				continue
			}
			if key == "disabled" {
				r.disabled = b
			} else {
				r.emailVerified = b
			}
		case "groups":
			if !isNull && json.Unmarshal(raw, &r.groups) != nil {
				problems.add(n, "groups: want an array of group names, got %.32s", raw)
			}
		default:
			problems.add(n, "unknown key %.64q: the keys are %s", key, strings.Join(importFields, ", "))
		}
	}
	if _, err := dec.Token(); err != nil {
		problems.add(n, "not JSON: %v", err)
		return r, false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		problems.add(n, "more after the JSON object: one object a line")
		return r, false
	}
	return r, true
}
