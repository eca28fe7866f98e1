package main

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/gatehouse-idp/gatehouse/admin"
	"github.com/gatehouse-idp/gatehouse/console"
	"github.com/gatehouse-idp/gatehouse/provider"
)

// consoleRoutes returns the admin console's routes for the main
// listener (none with console: false): its pages share the login UI p
// built, its forms call actions (serve's admin.Service, the admin API's
// too) with the signed-in admin as actor. sessionAdmin is the console's
// SessionAdmin, for the admin API on the main listener (nil without the
// console).
func consoleRoutes(cfg Config, p *provider.Provider, store *stores, actions *admin.Service, log *slog.Logger) (routes []func(chi.Router), sessionAdmin func(*http.Request) (string, bool, error), err error) {
	if !cfg.Console {
		return nil, nil, nil
	}
	c, err := console.New(console.Config{
		UI:      p.UI(),
		Store:   store,
		Actions: actions,
		Logger:  log,
	})
	if err != nil {
		return nil, nil, err
	}
	return []func(chi.Router){c.Routes}, c.SessionAdmin, nil
}
