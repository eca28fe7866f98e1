// Package admin is the one implementation of operator actions: creating,
// changing, disabling and deleting users, changing groups, ending
// sessions, rotating and revoking signing keys, withdrawing consents. The
// CLI (cmd/gatehouse), the admin API (adminapi) and the console call it;
// each action records its audit event with the Actor who asked, so that a
// change made through any of them reads the same in the trail.
package admin

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"time"

	"github.com/gatehouse-idp/gatehouse/audit"
	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/signout"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// Kinds of audit event the actions record.
const (
	EventUserCreated         = "user_created"
	EventUserPasswordChanged = "user_password_changed"
	EventUserDisabled        = "user_disabled"
	EventUserEnabled         = "user_enabled"
	EventUserUpdated         = "user_updated" // Detail: what changed
	EventUserDeleted         = "user_deleted" // Detail: username=NAME
	EventGroupCreated        = "group_created"
	EventGroupDeleted        = "group_deleted"
	EventGroupMemberAdded    = "group_member_added" // Detail: group=NAME; UserID: the member's
	EventGroupMemberRemoved  = "group_member_removed"
	EventKeyRotated          = "key_rotated" // Detail: kid=KID
	EventKeyRevoked          = "key_revoked" // Detail: kid=KID [replacement=KID]
	EventConsentRevoked      = "consent_revoked"
	EventFactorsReset        = "user_factors_reset" // Detail: totp=0|1 recovery_codes=N passkeys=N
)

// Actor is who asks for an action: the CLI's operator (Kind
// audit.ActorOperator, no ID), an application with an admin scope (Kind
// audit.ActorClient, ID its client id) or a person (audit.ActorUser, ID
// their sub). The audit event's Actor is Kind, and its Detail ends with
// "by=client:ID" or "by=user:ID" when there is an ID.
type Actor struct {
	Kind string
	ID   string
}

// Operator is the CLI's actor.
var Operator = Actor{Kind: audit.ActorOperator}

// String is how the actor is named in audit details: "client:ID",
// "user:ID", or the kind alone.
func (a Actor) String() string {
	if a.ID == "" {
		return a.Kind
	}
	return a.Kind + ":" + a.ID
}

// event stamps ev with the actor.
func (a Actor) event(ev storage.AuditEvent) storage.AuditEvent {
	ev.Actor = a.Kind
	if a.ID != "" {
		by := "by=" + a.String()
		if ev.Detail == "" {
			ev.Detail = by
		} else {
			ev.Detail += " " + by
		}
	}
	return ev
}

// ErrChanged is what an update given a stale read gets: someone changed
// the record since (it wraps storage.ErrConflict).
var ErrChanged = errors.Join(errors.New("changed since it was read"), storage.ErrConflict)

// Invalid reports every problem of an action's input, each with its Field
// (a JSON member name, "username", or clientpolicy's field path).
type Invalid = clientpolicy.Problems

// Store is what the actions read and change.
type Store interface {
	CreateUser(ctx context.Context, u *storage.User) error
	UserByID(ctx context.Context, id string) (*storage.User, error)
	storage.UserSwapper
	storage.UserDeleter
	storage.Groups
	Consent(ctx context.Context, userID, clientID string) (*storage.Consent, error)
	DeleteConsent(ctx context.Context, userID, clientID string) error
	DeleteTOTP(ctx context.Context, userID string) (bool, error)
	DeleteRecoveryCodes(ctx context.Context, userID string) (int, error)
	DeleteUserPasskeys(ctx context.Context, userID string) (int, error)
	signout.Store
	Client(ctx context.Context, id string) (*storage.Client, error)
	storage.ClientWriter
}

// KeyManager rotates and revokes signing keys (keys.Manager).
type KeyManager interface {
	ForceRotate(ctx context.Context) (created []string, err error)
	Revoke(ctx context.Context, kid string) (replacement string, err error)
}

// Config configures a Service. Store and Record are required.
type Config struct {
	Store Store
	// Keys rotates and revokes signing keys; nil refuses those actions.
	Keys KeyManager
	// Record records every action's events: serve's audit sink, or the
	// CLI's recorder that appends at once (its error is the action's).
	Record audit.Recorder
	// FamilyKeep is how long a revoked token family is remembered: at
	// least an access token's life.
	FamilyKeep time.Duration
	// Queued wakes the delivery of back-channel logout notices; nil wakes
	// nothing (the server finds them within a second).
	Queued func()
	// KeySecretHash turns a client secret hash of clientpolicy.HashSecret's
	// form into the form stored (provider.KeyClientSecretHash under
	// serve's key), as serve does with those of clients.yaml; nil stores
	// it as given.
	KeySecretHash func(hash string) (string, error)
	// ClientsChanged is called after a client was created, changed or
	// deleted (provider.Provider.InvalidateClients); nil calls nothing.
	ClientsChanged func()
	// Now and Random default to time.Now and crypto/rand.
	Now    func() time.Time
	Random io.Reader
}

// Service performs the actions. Create it with New.
type Service struct {
	cfg   Config
	ender *signout.Ender
}

// New returns a Service with cfg.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Random == nil {
		cfg.Random = rand.Reader
	}
	return &Service{cfg: cfg, ender: signout.New(signout.Config{
		Store: cfg.Store, Clients: cfg.Store.Client, Record: cfg.Record, Queued: cfg.Queued,
		FamilyKeep: cfg.FamilyKeep, Now: cfg.Now, Random: cfg.Random,
	})}
}

// record records the events of an action by who; its error says the
// change is made but not recorded.
func (s *Service) record(ctx context.Context, who Actor, events ...storage.AuditEvent) error {
	for i := range events {
		events[i] = who.event(events[i])
	}
	if err := s.cfg.Record.Record(ctx, events...); err != nil {
		return errors.Join(ErrNotRecorded, err)
	}
	return nil
}

// ErrNotRecorded is joined to the error of an action that was done but
// whose audit event may not be in the trail.
var ErrNotRecorded = errors.New("the change is made, but not recorded in the audit trail")
