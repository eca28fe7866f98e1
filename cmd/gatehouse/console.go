package main

import (
	"log/slog"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/gatehouse-idp/gatehouse/admin"
	"github.com/gatehouse-idp/gatehouse/audit"
	"github.com/gatehouse-idp/gatehouse/console"
	"github.com/gatehouse-idp/gatehouse/keys"
	"github.com/gatehouse-idp/gatehouse/provider"
)

// consoleRoutes returns the admin console's routes for the main
// listener (none with console: false): its pages share the login UI p
// built, its actions are recorded by the server's audit sink with the
// signed-in admin as actor.
func consoleRoutes(cfg Config, p *provider.Provider, store *stores, km *keys.Manager, sink audit.Recorder, log *slog.Logger) ([]func(chi.Router), error) {
	if !cfg.Console {
		return nil, nil
	}
	c, err := console.New(console.Config{
		UI:    p.UI(),
		Store: store,
		Actions: admin.New(admin.Config{
			Store: store, Keys: km, Record: sink, FamilyKeep: cfg.AccessTokenTTL + 5*time.Minute,
		}),
		Logger: log,
	})
	if err != nil {
		return nil, err
	}
	return []func(chi.Router){c.Routes}, nil
}
