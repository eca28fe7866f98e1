package admin

import (
	"context"
	"fmt"
	"strconv"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// Kinds of audit event of clients kept outside clients.yaml (the clients
// file's sync records client_created, client_changed and client_disabled
// itself, with actor system or operator).
const (
	EventClientCreated = "client_created"
	EventClientChanged = "client_changed"
	EventClientDeleted = "client_deleted"
)

// CreateClient stores c, which clientpolicy.Validate must accept
// (Invalid otherwise; its secret hash in clientpolicy.HashSecret's form,
// which Config.KeySecretHash then keys), as a client of source
// (storage.ClientSourceAPI or storage.ClientSourceRegistration), and
// records client_created. A taken id, whatever its source, is
// storage.ErrConflict.
func (s *Service) CreateClient(ctx context.Context, who Actor, c *storage.Client, source string) error {
	if err := s.checkClient(c, ""); err != nil {
		return err
	}
	c.Source = source
	now := s.cfg.Now()
	if err := s.cfg.Store.CreateClient(ctx, c, now); err != nil {
		return err
	}
	s.clientsChanged()
	return s.record(ctx, who, storage.AuditEvent{Time: now, Kind: EventClientCreated, ClientID: c.ID, Detail: "source=" + source})
}

// UpdateClient replaces the client c.ID of source c.Source with c if its
// version is still ifVersion (storage.ErrStale otherwise; ErrNotFound for
// a client of clients.yaml, which only the file changes), and records
// client_changed. c's secret hash is checked and keyed as CreateClient's,
// unless keptHash, the stored (keyed) hash of the client, is given: then
// c keeps that secret.
func (s *Service) UpdateClient(ctx context.Context, who Actor, c *storage.Client, ifVersion int64, keptHash string) error {
	if err := s.checkClient(c, keptHash); err != nil {
		return err
	}
	now := s.cfg.Now()
	if err := s.cfg.Store.UpdateClient(ctx, c, ifVersion, now); err != nil {
		return err
	}
	s.clientsChanged()
	return s.record(ctx, who, storage.AuditEvent{Time: now, Kind: EventClientChanged, ClientID: c.ID,
		Detail: "version=" + strconv.FormatInt(c.Version, 10)})
}

// DeleteClient deletes the client of that id and source with its refresh
// grants and consents, and records client_deleted;
// storage.ErrNotFound when there is none (a client of clients.yaml is
// never deleted here).
func (s *Service) DeleteClient(ctx context.Context, who Actor, id, source string) error {
	deleted, err := s.cfg.Store.DeleteClient(ctx, id, source)
	if err != nil {
		return err
	}
	if !deleted {
		return fmt.Errorf("no client %q of source %s: %w", id, source, storage.ErrNotFound)
	}
	s.clientsChanged()
	return s.record(ctx, who, storage.AuditEvent{Kind: EventClientDeleted, ClientID: id, Detail: "source=" + source})
}

// checkClient validates c (Invalid) and keys its secret hash, or gives
// it keptHash.
func (s *Service) checkClient(c *storage.Client, keptHash string) error {
	check := *c
	if keptHash != "" {
		// The stored hash was checked when it was stored; Validate knows
		// only the unkeyed form.
		check.SecretHash = clientpolicy.HashSecret("kept")
	}
	if err := clientpolicy.Validate(check); err != nil {
		return invalidClient(err)
	}
	switch {
	case keptHash != "":
		c.SecretHash = keptHash
	case c.SecretHash != "" && s.cfg.KeySecretHash != nil:
		keyed, err := s.cfg.KeySecretHash(c.SecretHash)
		if err != nil {
			return err
		}
		c.SecretHash = keyed
	}
	return nil
}

func (s *Service) clientsChanged() {
	if s.cfg.ClientsChanged != nil {
		s.cfg.ClientsChanged()
	}
}

// invalidClient strips the position clientpolicy.Validate gives each
// problem (`client "id"`), leaving the field paths.
func invalidClient(err error) error {
	ps, ok := err.(clientpolicy.Problems)
	if !ok {
		return err
	}
	out := make(Invalid, len(ps))
	for i, p := range ps {
		out[i] = clientpolicy.Problem{Field: p.Field, Msg: p.Msg}
	}
	return out
}
