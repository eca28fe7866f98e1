package adminapi

import (
	_ "embed"
	"net/http"

	"github.com/go-chi/chi/v5"
)

// Prefix is where the API lives.
const Prefix = "/admin/v1"

//go:embed openapi.json
var openAPIDocument []byte

// Handler returns the API's whole URL surface, under Prefix. The OpenAPI
// document is public; everything else needs a principal (authenticate).
func (a *API) Handler() http.Handler {
	r := chi.NewRouter()
	r.NotFound(func(w http.ResponseWriter, req *http.Request) {
		a.problem(w, req, http.StatusNotFound, typeNotFound, "There is no such endpoint; see "+Prefix+"/openapi.json.")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		a.problem(w, req, http.StatusMethodNotAllowed, typeMethod, req.Method+" is not allowed here; see "+Prefix+"/openapi.json.")
	})
	r.Route(Prefix, func(r chi.Router) {
		r.Get("/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(openAPIDocument)
		})
		r.Group(func(r chi.Router) {
			r.Use(a.authenticate)
			r.Get("/clients", a.listClients)
			r.Post("/clients", a.createClient)
			r.Get("/clients/{id}", a.getClient)
			r.Put("/clients/{id}", a.updateClient)
			r.Delete("/clients/{id}", a.deleteClient)

			r.Get("/users", a.listUsers)
			r.Post("/users", a.createUser)
			r.Get("/users/{id}", a.getUser)
			r.Patch("/users/{id}", a.updateUser)
			r.Delete("/users/{id}", a.deleteUser)
			r.Get("/users/{id}/sessions", a.listSessions)
			r.Delete("/users/{id}/sessions", a.endUserSessions)
			r.Delete("/users/{id}/sessions/{sid}", a.endSession)
			r.Post("/users/{id}/factors/reset", a.resetFactors)
			r.Get("/users/{id}/consents", a.listConsents)
			r.Delete("/users/{id}/consents/{client}", a.revokeConsent)

			r.Get("/groups", a.listGroups)
			r.Post("/groups", a.createGroup)
			r.Get("/groups/{name}", a.getGroup)
			r.Delete("/groups/{name}", a.deleteGroup)
			r.Put("/groups/{name}/members/{user}", a.addMember)
			r.Delete("/groups/{name}/members/{user}", a.removeMember)

			r.Get("/keys", a.listKeys)
			r.Post("/keys/rotate", a.rotateKeys)
			r.Post("/keys/{kid}/revoke", a.revokeKey)

			r.Get("/audit", a.queryAudit)
		})
	})
	return r
}
