package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gatehouse-idp/gatehouse/audit"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/metrics"
	"github.com/gatehouse-idp/gatehouse/provider"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// clientsPollInterval is how often serve looks at clients.yaml for a
// change, and compares it with the registry applied in the store.
const clientsPollInterval = 2 * time.Second

// driftWarnEvery is how often a lasting difference between this instance's
// clients file and the registry applied in the store is logged again; the
// metrics follow it at every check.
const driftWarnEvery = time.Minute

// clientsStore is what applying a clients file needs: the clients, the
// registry applied last, and the audit trail.
type clientsStore interface {
	storage.Clients
	storage.ClientRegistries
	storage.AuditLog
	// ListGroups lets an apply warn of allowed_groups naming no group.
	ListGroups(ctx context.Context) ([]storage.Group, error)
}

// errClientsUnreadable: the clients file could not be read.
var errClientsUnreadable = errors.New("the clients file cannot be read")

// watchClients applies clients.yaml to the store again, as w.applyAtStart
// did, whenever the process gets SIGHUP or the file changes from seen (its
// version before that apply, see clientsFileVersion), until ctx ends (see
// clientsWatcher.watch). After an apply the provider drops the clients it
// caches, so the change applies to the next request.
func watchClients(ctx context.Context, w *clientsWatcher, p *provider.Provider, seen fileVersion) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	w.log.Info("watching the clients file: a change or SIGHUP applies it", "file", w.file, "every", clientsPollInterval.String())
	w.applied = func(context.Context, storage.SyncReport) { p.InvalidateClients() }
	w.watch(ctx, hup, clientsPollInterval, seen)
}

// clientsFileVersion returns the version of the clients file now. Taken
// before the apply at start, it lets watchClients apply any change made
// since, even one made while serve was starting.
func clientsFileVersion(cfg Config, env environment) fileVersion {
	_, v := readVersion(cfg.ClientsFile, os.Stat, env.readFile)
	return v
}

// clientsWatcher applies this instance's clients file to the store — at
// start, on SIGHUP and when the file changes — through the store's clients
// registry (storage.ClientRegistries), and at every check compares the file
// with the registry applied, which another instance sharing the store may
// have replaced with its own file.
//
// Instances holding different files (a rolling deploy) settle on the newest
// revision: a file is applied only over an older revision; an older one is
// not applied (the instance serves the newer clients and warns); a file with
// the applied revision but other clients is refused (two files claim one
// revision). Files without a revision replace one another, the last one
// applied winning, which suits a single instance; with several, every
// instance whose file is not the applied one warns and reports it in
// gatehouse_clients_file_differs. Nothing flaps: an instance applies its
// file only at start, on SIGHUP and when the file changes, never because
// the store changed.
type clientsWatcher struct {
	file   string
	issuer string      // the server's: the demo secrets need one on loopback
	env    environment // readFile and getenv, for the file and its secrets
	stat   func(string) (fs.FileInfo, error)
	store  clientsStore
	// secretKey keys the secret hashes stored (provider.KeyClientSecretHash).
	secretKey []byte
	log       *slog.Logger
	metrics   *metrics.Metrics // nil: none
	// instance names this instance in the registries it applies (AppliedBy).
	instance string
	now      func() time.Time // nil: time.Now
	// applied, if set, is called after every successful apply.
	applied func(ctx context.Context, rep storage.SyncReport)

	// mine is this instance's file as last acted on; nil while it is
	// missing (absent), unreadable or invalid.
	mine   *storage.ClientRegistry
	absent bool
	// drift is the difference from the applied registry last logged, at
	// driftLogged.
	drift       string
	driftLogged time.Time
}

// newClientsWatcher returns the watcher of cfg's clients file over store.
func newClientsWatcher(cfg Config, env environment, store clientsStore, secretKey []byte, log *slog.Logger, m *metrics.Metrics) *clientsWatcher {
	return &clientsWatcher{
		file: cfg.ClientsFile, issuer: cfg.Issuer, env: env, stat: os.Stat, store: store,
		secretKey: secretKey, log: log, metrics: m, instance: instanceName(), now: time.Now,
	}
}

// instanceName names this serve in the registries it applies: its host
// name, process id and a random tag, which tells apart two serves of one
// process (tests) and a process id reused after a restart.
func instanceName() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown host"
	}
	return fmt.Sprintf("%s (pid %d, %s)", host, os.Getpid(), rand.Text()[:6])
}

// fileVersion tells versions of a file apart: a change of content, size or
// modification time (touch) is a new version. err is set when the file
// could not be read; missing when it does not exist.
type fileVersion struct {
	modTime int64
	size    int64
	sum     [sha256.Size]byte
	err     string
	missing bool
}

// read returns the file's content and version.
func (w *clientsWatcher) read() ([]byte, fileVersion) {
	return readVersion(w.file, w.stat, w.env.readFile)
}

// readVersion returns the content and version of file.
func readVersion(file string, stat func(string) (fs.FileInfo, error), readFile func(string) ([]byte, error)) ([]byte, fileVersion) {
	var v fileVersion
	info, err := stat(file)
	if err == nil {
		v.modTime, v.size = info.ModTime().UnixNano(), info.Size()
	}
	data, rerr := readFile(file)
	if err == nil {
		err = rerr
	}
	if err != nil {
		v.err, v.missing = err.Error(), errors.Is(err, fs.ErrNotExist)
		return nil, v
	}
	v.sum = sha256.Sum256(data)
	return data, v
}

// applyAtStart applies the clients file as serve starts. A missing default
// file (clients.yaml in the working directory) applies nothing: the store
// keeps the clients it has. A file whose revision is older than the registry
// applied is not applied either, and serve starts with the applied clients
// (an old instance restarted during a rolling deploy must not undo the new
// file). Any other refusal (a file that cannot be read, is invalid, or has
// the applied revision with other clients) or a store failure is the error,
// and serve does not start.
func (w *clientsWatcher) applyAtStart(ctx context.Context) error {
	data, v := w.read()
	if v.missing && w.file == defaultConfig().ClientsFile {
		w.log.Warn("no clients.yaml found: the clients in the store are kept as they are (none on a new database: no application can sign in until you add the file)", "path", w.file)
		w.mine, w.absent = nil, true
		return nil
	}
	err := w.apply(ctx, data, v, audit.ActorSystem)
	var refused *storage.RegistryRefusedError
	var probs clientpolicy.Problems
	switch {
	case err == nil:
		return nil
	case errors.As(err, &refused) && refused.Older():
		w.logRefusal(err)
		return nil
	case errors.As(err, &probs):
		return fmt.Errorf("clients file %s is invalid:\n%w", w.file, err)
	case errors.As(err, &refused):
		return fmt.Errorf("clients file %s refused: %w; serve did not start. Raise the revision of the newer file (both cannot be revision %d), or make the files equal",
			w.file, err, refused.Given.Revision)
	case errors.Is(err, errClientsUnreadable):
		return fmt.Errorf("clients file: %s", v.err)
	}
	return fmt.Errorf("sync clients: %w", err)
}

// watch applies the file on every value from hup, and when a check, every
// interval, finds a version other than seen, the one last applied. A new
// version is applied once the next check finds it unchanged, so that a file
// caught half-written is not applied. A version is acted on once, applied
// or refused, unless the store failed: then the checks try again. Every
// check also compares the file with the registry applied (checkDrift).
func (w *clientsWatcher) watch(ctx context.Context, hup <-chan os.Signal, interval time.Duration, seen fileVersion) {
	var pending *fileVersion
	act := func(data []byte, v fileVersion) {
		seen, pending = v, nil
		err := w.apply(ctx, data, v, audit.ActorOperator)
		if err == nil {
			return
		}
		w.logRefusal(err)
		var probs clientpolicy.Problems
		var refused *storage.RegistryRefusedError
		if !errors.As(err, &probs) && !errors.As(err, &refused) && !errors.Is(err, errClientsUnreadable) {
			seen = fileVersion{} // the store failed: the checks apply it again
		}
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			data, v := w.read()
			w.log.Info("SIGHUP: applying the clients file", "file", w.file)
			act(data, v)
		case <-t.C:
			data, v := w.read()
			var now bool
			if now, pending = settled(seen, pending, v); now {
				w.log.Info("the clients file changed: applying it", "file", w.file)
				act(data, v)
			}
			w.checkDrift(ctx)
		}
	}
}

// settled decides at a check that found version v of the file whether to
// act on it now, given the version last acted on (seen) and the new one the
// previous check found (pending, nil if none); it returns the pending
// version for the next check. A new version is acted on when two checks in
// a row find it.
func settled(seen fileVersion, pending *fileVersion, v fileVersion) (now bool, next *fileVersion) {
	switch {
	case v == seen:
		return false, nil
	case pending == nil || *pending != v:
		return false, &v
	}
	return true, nil
}

// apply validates data, read as version v, and applies it as actor through
// the store's clients registry. On success it logs what changed, records it
// in the audit trail and calls w.applied. Otherwise nothing changes, and the
// error says why, to be logged (logRefusal) or returned: errClientsUnreadable,
// the file's clientpolicy.Problems, a *storage.RegistryRefusedError (recorded in the
// audit trail when it is a conflict), or a store failure.
func (w *clientsWatcher) apply(ctx context.Context, data []byte, v fileVersion, actor string) error {
	w.absent = v.missing
	if v.err != "" {
		w.mine = nil
		w.metrics.ClientsFileRefused(metrics.ClientsFileInvalid)
		w.metrics.ClientsFileDiffers(true)
		return fmt.Errorf("%w: %s", errClientsUnreadable, v.err)
	}
	f, err := parseKeyedClients(data, w.file, w.issuer, w.env, w.secretKey)
	if err != nil {
		w.mine = nil
		w.metrics.ClientsFileRefused(metrics.ClientsFileInvalid)
		w.metrics.ClientsFileDiffers(true)
		return err
	}
	reg := storage.ClientRegistry{Revision: f.Revision, Digest: clientsDigest(f.Clients), AppliedBy: w.instance}
	w.mine = &reg
	rep, prev, err := w.store.ApplyClientRegistry(ctx, reg, f.Clients, w.clock())
	var refused *storage.RegistryRefusedError
	if errors.As(err, &refused) {
		w.metrics.ClientsFile(true, reg.Revision, refused.Applied.Revision)
		if refused.Older() {
			w.metrics.ClientsFileRefused(metrics.ClientsFileOlder)
			return err
		}
		w.metrics.ClientsFileRefused(metrics.ClientsFileConflict)
		if aerr := appendAudit(ctx, w.store, storage.AuditEvent{Kind: auditClientsFileRefused, Actor: actor,
			Detail: fmt.Sprintf("%s on %s: %v", w.file, w.instance, err)}); aerr != nil {
			w.log.Warn("clients file refused, but not recorded in the audit trail", "err", aerr)
		}
		return err
	}
	if err != nil {
		return err
	}
	w.metrics.ClientsFile(false, reg.Revision, reg.Revision)
	w.drift = ""
	w.log.Info("clients synced", "file", w.file, "revision", reg.Revision, "clients", len(f.Clients),
		"created", rep.Created, "updated", rep.Updated, "disabled", rep.Disabled)
	if prev != nil && prev.Revision == 0 && reg.Revision == 0 && prev.Digest != reg.Digest && prev.AppliedBy != w.instance {
		w.log.Warn("this clients file replaced other clients, applied "+prev.AppliedAt.UTC().Format(time.RFC3339)+
			" by another instance (or by this one before a restart); without a revision the last file applied wins: "+
			"instances sharing the database should hold the same file, with a revision (`revision: 1`, raised with every change)",
			"file", w.file, "replaced_applied_by", prev.AppliedBy)
	}
	if len(f.DemoSecret) > 0 {
		w.log.Warn("clients.yaml gives clients the demo secret published in Gatehouse's repository: accepted only because the issuer is on loopback; for local testing only",
			"clients", f.DemoSecret, "issuer", w.issuer)
	}
	w.warnUnknownGroups(ctx, f.Clients)
	if err := auditClientSync(ctx, w.store, rep, actor); err != nil {
		w.log.Warn("clients synced, but not recorded in the audit trail", "err", err)
	}
	if w.applied != nil {
		w.applied(ctx, rep)
	}
	return nil
}

// warnUnknownGroups warns of the clients whose allowed_groups name a group
// that does not exist (yet): nobody is in it, so a misspelt name keeps its
// members out. It is a warning, not a refusal: the file may come before
// `gatehouse groups create`, and a group created later takes effect at
// once.
func (w *clientsWatcher) warnUnknownGroups(ctx context.Context, clients []storage.Client) {
	if !slices.ContainsFunc(clients, func(c storage.Client) bool { return len(c.AllowedGroups) > 0 }) {
		return
	}
	groups, err := w.store.ListGroups(ctx)
	if err != nil {
		w.log.Warn("clients synced, but their allowed_groups could not be checked against the groups", "err", err)
		return
	}
	exists := make(map[string]bool, len(groups))
	for _, g := range groups {
		exists[g.Name] = true
	}
	for _, c := range clients {
		var unknown []string
		for _, g := range c.AllowedGroups {
			if !exists[g] {
				unknown = append(unknown, g)
			}
		}
		if len(unknown) > 0 {
			w.log.Warn("a client's allowed_groups name groups that do not exist: nobody is in them, so only members of its other allowed groups may sign in to it; create them with `gatehouse groups create`, or correct the names",
				"client", c.ID, "groups", unknown)
		}
	}
}

// logRefusal logs why apply did not apply the file; the clients in the
// store stay as they are.
func (w *clientsWatcher) logRefusal(err error) {
	var (
		probs   clientpolicy.Problems
		refused *storage.RegistryRefusedError
	)
	switch {
	case errors.Is(err, errClientsUnreadable):
		w.log.Error("clients file refused: it cannot be read; the clients in the store are kept", "file", w.file, "err", err)
	case errors.As(err, &probs):
		for _, p := range probs {
			w.log.Error("clients file problem", "file", w.file, "problem", p.Error())
		}
		w.log.Error("clients file refused: fix it and save it again (or send SIGHUP); the clients in the store are kept",
			"file", w.file, "err", plural(len(probs), "problem", "problems"))
	case errors.As(err, &refused) && refused.Older():
		w.log.Warn("clients file not applied: its revision is older than the clients registry applied in the store; this instance serves the applied clients: update its file",
			registryAttrs(w.file, refused.Given, &refused.Applied)...)
	case errors.As(err, &refused):
		w.log.Error("clients file refused: the store applied this revision with other clients (two files claim one revision); the clients in the store are kept: raise the revision of the newer file, or make the files equal",
			registryAttrs(w.file, refused.Given, &refused.Applied)...)
	default:
		w.log.Error("clients file not applied: the store failed; the clients in the store are kept, and the file is tried again", "file", w.file, "err", err)
	}
}

// registryAttrs are the log attributes comparing this instance's file
// (mine) with the registry applied in the store.
func registryAttrs(file string, mine storage.ClientRegistry, applied *storage.ClientRegistry) []any {
	attrs := []any{"file", file, "revision", mine.Revision}
	if applied != nil {
		attrs = append(attrs, "applied_revision", applied.Revision,
			"applied_at", applied.AppliedAt.UTC().Format(time.RFC3339), "applied_by", applied.AppliedBy)
	}
	return attrs
}

// checkDrift compares this instance's file, as last acted on, with the
// registry applied in the store, sets the metrics, and while they differ
// logs a warning: when the difference is new, then every driftWarnEvery.
// A store that cannot be read is left to readiness (/readyz).
func (w *clientsWatcher) checkDrift(ctx context.Context) {
	applied, err := w.store.AppliedClientRegistry(ctx)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		applied = nil
	case err != nil:
		return
	}
	var mineRev, appliedRev int64
	if w.mine != nil {
		mineRev = w.mine.Revision
	}
	if applied != nil {
		appliedRev = applied.Revision
	}
	msg := driftMessage(w.mine, w.absent, applied)
	w.metrics.ClientsFile(msg != "", mineRev, appliedRev)
	if msg == "" {
		w.drift = ""
		return
	}
	now := w.clock()
	key := fmt.Sprintf("%s|%+v", msg, applied)
	if key == w.drift && now.Sub(w.driftLogged) < driftWarnEvery {
		return
	}
	w.drift, w.driftLogged = key, now
	mine := storage.ClientRegistry{}
	if w.mine != nil {
		mine = *w.mine
	}
	w.log.Warn(msg, registryAttrs(w.file, mine, applied)...)
}

// driftMessage says how this instance's file (mine; nil when absent,
// unreadable or invalid) differs from the registry applied in the store
// (nil: none), or "" when it is the applied one, or when neither exists.
func driftMessage(mine *storage.ClientRegistry, absent bool, applied *storage.ClientRegistry) string {
	const serves = "this instance serves the clients applied in the store, not its file's"
	switch {
	case mine == nil && absent && applied == nil:
		return ""
	case mine == nil && absent:
		return "there is no clients file: " + serves
	case mine == nil:
		return "the clients file was refused (see the errors logged when it was read): " + serves
	case applied == nil:
		return "the clients file is not applied: the store holds no clients registry yet"
	case mine.Revision == applied.Revision && mine.Digest == applied.Digest:
		return ""
	case mine.Revision < applied.Revision:
		return "the clients file is older than the clients registry applied in the store (by another instance): " + serves + "; update its file"
	case mine.Revision > applied.Revision:
		return "the clients file is newer than the clients registry applied in the store, but not applied (the store failed?): send SIGHUP or save it again"
	case mine.Revision > 0:
		return "the clients file has the revision applied in the store, with other clients (two files claim one revision): " + serves + "; raise the revision of the newer file, or make the files equal"
	}
	return "the clients file differs from the clients another instance applied (neither has a revision, and the last applied wins): " + serves +
		"; give every instance the same file, with a revision (`revision: 1`, raised with every change)"
}

func (w *clientsWatcher) clock() time.Time {
	if w.now == nil {
		return time.Now()
	}
	return w.now()
}

// clientsDigest identifies a set of clients as the store would hold them,
// whatever the file's layout: the SHA-256, in hex, of each client's fields
// as JSON, sorted by id, without the fields a sync sets (CreatedAt,
// UpdatedAt, Disabled) and without those left at their zero value, so that
// a field added in a later version of Gatehouse does not change the digest
// of clients that do not use it (nil and empty lists alike).
func clientsDigest(clients []storage.Client) string {
	sorted := slices.SortedFunc(slices.Values(clients), func(a, b storage.Client) int { return strings.Compare(a.ID, b.ID) })
	h := sha256.New()
	for _, c := range sorted {
		v := reflect.ValueOf(c)
		fields := make(map[string]any)
		for i := range v.NumField() {
			name, f := v.Type().Field(i).Name, v.Field(i)
			switch {
			case name == "CreatedAt", name == "UpdatedAt", name == "Disabled":
			case f.IsZero(), f.Kind() == reflect.Slice && f.Len() == 0:
			default:
				fields[name] = f.Interface()
			}
		}
		// Strings, lists, numbers, booleans and bytes marshal without
		// error, map keys sorted.
		canonical, _ := json.Marshal(fields)
		h.Write(canonical)
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}
