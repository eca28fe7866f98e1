package main

import (
	"log/slog"

	"github.com/go-chi/chi/v5"

	"github.com/gatehouse-idp/gatehouse/admin"
	"github.com/gatehouse-idp/gatehouse/console"
	"github.com/gatehouse-idp/gatehouse/provider"
)

// consoleRoutes returns the admin console's routes for the main
// listener (none with console: false): its pages share the login UI p
// built, its forms call actions (serve's admin.Service, the admin API's
// too) with the signed-in admin as actor.
func consoleRoutes(cfg Config, p *provider.Provider, store *stores, actions *admin.Service, log *slog.Logger) ([]func(chi.Router), error) {
	if !cfg.Console {
		return nil, nil
	}
	c, err := console.New(console.Config{
		UI:      p.UI(),
		Store:   store,
		Actions: actions,
		Logger:  log,
	})
	if err != nil {
		return nil, err
	}
	return []func(chi.Router){c.Routes}, nil
}
