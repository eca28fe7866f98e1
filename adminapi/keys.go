package adminapi

import (
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/gatehouse-idp/gatehouse/keys"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// keyView is a signing key's public facts and schedule; never its key.
type keyView struct {
	KID        string `json:"kid"`
	Algorithm  string `json:"alg"`
	State      string `json:"state"`
	CreatedAt  string `json:"created_at,omitempty"`
	PublishAt  string `json:"publish_at,omitempty"`
	ActivateAt string `json:"activate_at,omitempty"`
	RetireAt   string `json:"retire_at,omitempty"`
	DeleteAt   string `json:"delete_at,omitempty"`
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request) {
	now := a.cfg.Now()
	list, err := a.cfg.Store.SigningKeys(r.Context(), now)
	if err != nil {
		a.storeError(w, r, "signing keys", err)
		return
	}
	views := make([]keyView, len(list))
	for i, k := range list {
		views[i] = keyView{
			KID: k.ID, Algorithm: k.Algorithm, State: keys.State(k, now).String(), CreatedAt: stamp(k.CreatedAt),
			PublishAt: stamp(k.PublishAt), ActivateAt: stamp(k.ActivateAt), RetireAt: stamp(k.RetireAt), DeleteAt: stamp(k.DeleteAt),
		}
	}
	writeJSON(w, http.StatusOK, page[keyView]{Items: views})
}

// rotateKeys starts a normal rotation now; created lists the new keys.
func (a *API) rotateKeys(w http.ResponseWriter, r *http.Request) {
	created, err := a.cfg.Actions.RotateKeys(r.Context(), principal(r).Actor)
	if err != nil {
		a.storeError(w, r, "rotate keys", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]string{"created": orEmpty(created)})
}

// revokeKey takes a compromised key out of the JWKS at once.
func (a *API) revokeKey(w http.ResponseWriter, r *http.Request) {
	kid := chi.URLParam(r, "kid")
	repl, err := a.cfg.Actions.RevokeKey(r.Context(), principal(r).Actor, kid)
	if errors.Is(err, storage.ErrNotFound) {
		a.problem(w, r, http.StatusNotFound, typeNotFound, "There is no such signing key.")
		return
	}
	if err != nil {
		a.storeError(w, r, "revoke key", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"revoked": kid, "replacement": repl})
}
