// Package audit is how Gatehouse records what happened for its audit
// trail. An event is a storage.AuditEvent, the record the trail stores and
// `gatehouse audit` prints; whoever reports one (the provider, the login
// UI, signout, the CLI) sets every field it stores, Actor and Detail
// included, and hands it to the one Recorder it was given at construction.
// serve's recorder is its audit sink, which logs each event and stores it
// in the background; the CLI's appends at once.
package audit

import (
	"context"
	"log/slog"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// Actors of events (storage.AuditEvent.Actor).
const (
	ActorUser     = "user"     // a person, in a browser
	ActorClient   = "client"   // an application, at the token or revocation endpoint
	ActorOperator = "operator" // the CLI
	ActorSystem   = "system"   // Gatehouse itself
)

// Recorder records audit events. A zero Time is the time of the call. An
// error means the events may not be in the trail; a recorder that stores
// in the background never returns one (it logs what the store never got).
type Recorder interface {
	Record(ctx context.Context, events ...storage.AuditEvent) error
}

// RecorderFunc is a function that is a Recorder.
type RecorderFunc func(ctx context.Context, events ...storage.AuditEvent) error

// Record calls f.
func (f RecorderFunc) Record(ctx context.Context, events ...storage.AuditEvent) error {
	return f(ctx, events...)
}

// Log writes the log line of an event at level: "audit: KIND", the actor
// and the other fields that are set. It builds nothing for a line the
// logger would not write.
func Log(ctx context.Context, log *slog.Logger, level slog.Level, ev storage.AuditEvent) {
	if !log.Enabled(ctx, level) {
		return
	}
	attrs := []any{"actor", ev.Actor}
	for _, f := range []struct{ key, value string }{
		{"user", ev.UserID}, {"client", ev.ClientID}, {"sid_prefix", ev.SessionID},
		{"family", ev.Family}, {"ip", ev.IP}, {"detail", ev.Detail},
	} {
		if f.value != "" {
			attrs = append(attrs, f.key, f.value)
		}
	}
	log.Log(ctx, level, "audit: "+ev.Kind, attrs...)
}

// LogOnly is a Recorder that only logs each event (Log), at the level
// Level gives it (nil: Info), with the first 8 characters of its session
// id at most: for a provider or a login UI that keeps no trail (tests).
type LogOnly struct {
	Logger *slog.Logger
	Level  func(storage.AuditEvent) slog.Level
}

// Record logs the events; it never fails.
func (l LogOnly) Record(ctx context.Context, events ...storage.AuditEvent) error {
	for _, ev := range events {
		level := slog.LevelInfo
		if l.Level != nil {
			level = l.Level(ev)
		}
		if len(ev.SessionID) > 8 {
			ev.SessionID = ev.SessionID[:8]
		}
		Log(ctx, l.Logger, level, ev)
	}
	return nil
}
