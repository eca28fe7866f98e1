package console

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse-idp/gatehouse/admin"
	"github.com/gatehouse-idp/gatehouse/keys"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// keyStore is what the keys' page reads.
type keyStore interface {
	SigningKeys(ctx context.Context, now time.Time) ([]storage.SigningKey, error)
}

type keysData struct {
	frame
	Keys []keyRow
}

type keyRow struct {
	ID, Algorithm, State string
	Published            bool
	Created, Publish     time.Time
	Activate, Retire     time.Time
	Delete               time.Time
}

// keysPage lists the signing keys still stored, oldest first, with their
// state now and their schedule.
func (c *Console) keysPage(v *visit) {
	now := c.now()
	list, err := c.store.SigningKeys(v.r.Context(), now)
	if err != nil {
		c.serverError(v.w, v.r, "signing keys", err)
		return
	}
	data := keysData{frame: c.frame(v, "Signing keys", "keys")}
	data.Notice = notice(v.r)
	for _, k := range list {
		data.Keys = append(data.Keys, keyRow{
			ID: k.ID, Algorithm: k.Algorithm, State: keys.State(k, now).String(), Published: keys.Published(k, now),
			Created: k.CreatedAt, Publish: k.PublishAt, Activate: k.ActivateAt, Retire: k.RetireAt, Delete: k.DeleteAt,
		})
	}
	c.render(v.w, v.r, http.StatusOK, "keys", data)
}

// rotateKeys starts a rotation now (admin.RotateKeys).
func (c *Console) rotateKeys(v *visit) {
	created, err := c.actions.RotateKeys(v.r.Context(), v.actor())
	if errors.Is(err, admin.ErrNoKeyManager) || (err != nil && created == nil) {
		c.serverError(v.w, v.r, "rotate keys", err)
		return
	}
	if err != nil {
		c.actionFailed(v, "rotate keys", "/admin/keys", err)
		return
	}
	if len(created) == 0 {
		done(v, "/admin/keys", "rotated-none")
		return
	}
	done(v, "/admin/keys", "rotated")
}
