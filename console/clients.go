package console

import (
	"context"
	"net/http"
	"slices"

	"github.com/go-chi/chi/v5"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// clientStore is what the clients' pages read.
type clientStore interface {
	ListClients(ctx context.Context) ([]storage.Client, error)
}

type clientsData struct {
	frame
	Clients []clientRow
}

type clientRow struct {
	storage.Client
	// Where says where the client is declared, for people.
	Where string
	// Public: no client secret or key (token_endpoint_auth_method none).
	Public bool
}

// sources says where each source of client is kept.
var sources = map[string]string{
	storage.ClientSourceFile:         "clients.yaml",
	storage.ClientSourceAPI:          "admin API",
	storage.ClientSourceRegistration: "dynamic registration",
}

func row(cl storage.Client) clientRow {
	src := cl.Source
	if src == "" {
		src = storage.ClientSourceFile
	}
	cl.Source = src
	return clientRow{Client: cl, Where: sources[src], Public: cl.TokenEndpointAuthMethod == "none"}
}

// clientsPage lists every client, disabled ones included, with where
// each is declared. The console changes no client: declared ones change
// in clients.yaml, the others through the admin API.
func (c *Console) clientsPage(v *visit) {
	list, err := c.store.ListClients(v.r.Context())
	if err != nil {
		c.serverError(v.w, v.r, "list clients", err)
		return
	}
	data := clientsData{frame: c.frame(v, "Clients", "clients")}
	for _, cl := range list {
		data.Clients = append(data.Clients, row(cl))
	}
	c.render(v.w, v.r, http.StatusOK, "clients", data)
}

type clientData struct {
	frame
	Client clientRow
	JWKS   string
}

func (c *Console) clientPage(v *visit) {
	id := chi.URLParam(v.r, "id")
	list, err := c.store.ListClients(v.r.Context())
	if err != nil {
		c.serverError(v.w, v.r, "list clients", err)
		return
	}
	i := slices.IndexFunc(list, func(cl storage.Client) bool { return cl.ID == id })
	if i < 0 {
		c.notFound(v, "There is no such client.")
		return
	}
	data := clientData{frame: c.frame(v, "Client "+id, "clients"), Client: row(list[i]), JWKS: string(list[i].JWKS)}
	c.render(v.w, v.r, http.StatusOK, "client", data)
}
