package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gatehouse-idp/gatehouse/provider"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// clientsPollInterval is how often serve looks at clients.yaml for a
// change.
const clientsPollInterval = 2 * time.Second

// watchClients applies clients.yaml to the store again, as syncClients did
// at start, whenever the process gets SIGHUP or the file changes from seen
// (its version before that sync, see clientsFileVersion), until ctx ends. A
// file that is not valid, or cannot be read (removed, say), is refused, each
// of its problems logged at Error, and the clients in the store stay as they
// are. After an apply the provider drops the clients it caches, so the
// change applies to the next request, and the audit trail records it.
//
// Every instance applies its own file; instances sharing a database should
// hold the same one (a sync that changes nothing writes nothing).
func watchClients(ctx context.Context, cfg Config, env environment, store *stores, secretKey []byte, p *provider.Provider, seen fileVersion, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	log.Info("watching the clients file: a change or SIGHUP applies it", "file", cfg.ClientsFile, "every", clientsPollInterval.String())
	w := &clientsWatcher{
		file: cfg.ClientsFile, env: env, stat: os.Stat, store: store, secretKey: secretKey, log: log,
		applied: func(ctx context.Context, rep storage.SyncReport) {
			p.InvalidateClients()
			if err := auditClientSync(ctx, store, rep, actorOperator); err != nil {
				log.Warn("clients synced, but not recorded in the audit trail", "err", err)
			}
		},
	}
	w.watch(ctx, hup, clientsPollInterval, seen)
}

// clientsFileVersion returns the version of the clients file now. Taken
// before the sync at start, it lets watchClients apply any change made
// since, even one made while serve was starting.
func clientsFileVersion(cfg Config, env environment) fileVersion {
	_, v := readVersion(cfg.ClientsFile, os.Stat, env.readFile)
	return v
}

// clientsWatcher applies one clients file to the store when asked or when
// the file changes.
type clientsWatcher struct {
	file      string
	env       environment // readFile and getenv, for the file and its secrets
	stat      func(string) (fs.FileInfo, error)
	store     storage.Clients
	secretKey []byte
	log       *slog.Logger
	// applied, if set, is called after every successful apply.
	applied func(ctx context.Context, rep storage.SyncReport)
}

// fileVersion tells versions of a file apart: a change of content, size or
// modification time (touch) is a new version. err is set when the file
// could not be read.
type fileVersion struct {
	modTime int64
	size    int64
	sum     [sha256.Size]byte
	err     string
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
		v.err = err.Error()
		return nil, v
	}
	v.sum = sha256.Sum256(data)
	return data, v
}

// watch applies the file on every value from hup, and when a check, every
// interval, finds a version other than seen, the one last applied. A new
// version is applied once the next check finds it unchanged, so that a file
// caught half-written is not applied. A version is acted on once, applied
// or refused, unless the store failed: then the checks try again.
func (w *clientsWatcher) watch(ctx context.Context, hup <-chan os.Signal, interval time.Duration, seen fileVersion) {
	var pending *fileVersion
	act := func(data []byte, v fileVersion) {
		seen, pending = v, nil
		if w.apply(ctx, data, v) {
			seen = fileVersion{} // unknown: the checks apply it again
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

// apply validates data, read as version v, and makes the store match it,
// logging the outcome. It reports retry when the file is valid but the store
// failed: the same version is worth applying again.
func (w *clientsWatcher) apply(ctx context.Context, data []byte, v fileVersion) (retry bool) {
	if v.err != "" {
		w.log.Error("clients file refused: it cannot be read; the clients in the store are kept", "file", w.file, "err", v.err)
		return false
	}
	clients, err := parseKeyedClients(data, w.file, w.env, w.secretKey)
	if err != nil {
		var probs configProblems
		if errors.As(err, &probs) {
			for _, p := range probs {
				w.log.Error("clients file problem", "file", w.file, "problem", p.Error())
			}
			err = errors.New(plural(len(probs), "problem", "problems"))
		}
		w.log.Error("clients file refused: fix it and save it again (or send SIGHUP); the clients in the store are kept", "file", w.file, "err", err)
		return false
	}
	rep, err := w.store.SyncClients(ctx, clients, time.Now())
	if err != nil {
		if ctx.Err() == nil {
			w.log.Error("clients file not applied: the store failed; the clients in the store are kept, and the file is tried again", "file", w.file, "err", err)
		}
		return true
	}
	w.log.Info("clients synced", "file", w.file, "clients", len(clients),
		"created", rep.Created, "updated", rep.Updated, "disabled", rep.Disabled)
	if w.applied != nil {
		w.applied(ctx, rep)
	}
	return false
}
