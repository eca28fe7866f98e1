package provider

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// A token family is everything one grant issued: the tokens of one code
// redemption and of every refresh that followed it. Its id is derived from
// the code's hash, so that a second redemption of the code can find and
// revoke what the first one issued. Access tokens carry it as the "fam"
// claim (accessClaims.Family); userinfo refuses tokens of a revoked family.

// familyForCode returns the family id of the tokens a code issues.
func familyForCode(codeHash string) string {
	sum := sha256.Sum256([]byte("gatehouse token family\x00" + codeHash))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// familyOf returns the family of a token request op is answering.
func familyOf(req op.TokenRequest) string {
	switch r := req.(type) {
	case authRequest:
		return familyForCode(r.r.CodeHash)
	case *refreshRequest:
		return r.g.FamilyID
	}
	return ""
}

// revokeFamily revokes a family, remembering it long enough to refuse
// every access token it issued.
func (p *Provider) revokeFamily(ctx context.Context, family string) error {
	now := p.cfg.Now()
	return p.store.RevokeFamily(ctx, family, now, now.Add(p.cfg.AccessTokenTTL+5*time.Minute))
}

// responseBuffer holds op's answer so that the token endpoint can look at
// it (and keep a copy) before the client gets it.
type responseBuffer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newResponseBuffer(h http.Header) *responseBuffer {
	return &responseBuffer{header: h.Clone(), status: http.StatusOK}
}

func (b *responseBuffer) Header() http.Header         { return b.header }
func (b *responseBuffer) WriteHeader(status int)      { b.status = status }
func (b *responseBuffer) Write(p []byte) (int, error) { return b.body.Write(p) }

// flush sends the buffered answer.
func (b *responseBuffer) flush(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}

// errorCode returns the OAuth error of a buffered JSON error answer.
func (b *responseBuffer) errorCode() string {
	if b.status < 400 {
		return ""
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(b.body.Bytes(), &e); err != nil {
		return ""
	}
	return e.Error
}

func storeUnavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "5")
	httphelper.MarshalJSONWithStatus(w, oidc.ErrServerError().WithDescription("Gatehouse could not complete the request; try again"), http.StatusServiceUnavailable)
}

// refreshGrant answers a refresh by the authenticated client c. A token
// used for the first time rotates through op, and the answer is kept
// (sealed) for c's grace window (client.refreshPolicy). A retry of a used
// token inside the window gets that identical answer; any later use, or
// any second use when c has no window, is a reuse: the whole family is
// revoked, access tokens included.
func (p *Provider) refreshGrant(w http.ResponseWriter, r *http.Request, c *client) {
	ctx := r.Context()
	clientID, grace := c.c.ID, c.refreshPolicy().grace
	token := r.PostForm.Get("refresh_token")
	hash, err := p.refreshTokenHash(token)
	if err != nil {
		op.Exchange(w, r, p.op) // op answers invalid_grant for what is not ours
		return
	}
	g, err := p.store.RefreshGrantByHash(ctx, hash)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		op.Exchange(w, r, p.op)
		return
	case err != nil:
		p.log.ErrorContext(ctx, "token: refresh grant lookup", "err", err)
		storeUnavailable(w)
		return
	}
	if g.ClientID != clientID {
		p.tokenError(w, r, oidc.ErrInvalidGrant().WithDescription("the refresh token was issued to another client"))
		return
	}
	if g.UsedAt != nil || g.RevokedAt != nil {
		p.usedRefreshToken(w, r, g, grace)
		return
	}
	// A grant created while its family was being revoked (two redemptions
	// of one code racing) is not marked itself: the family decides.
	if revoked, err := p.store.FamilyRevoked(ctx, g.FamilyID); err != nil {
		p.log.ErrorContext(ctx, "token: family lookup", "err", err)
		storeUnavailable(w)
		return
	} else if revoked {
		p.tokenError(w, r, oidc.ErrInvalidGrant().WithDescription("the refresh token has been revoked"))
		return
	}
	req, err := p.refreshRequestForGrant(ctx, g)
	if errors.Is(err, op.ErrInvalidRefreshToken) {
		// Rotated by a concurrent request since the lookup above: a retry.
		if g, err := p.store.RefreshGrantByHash(ctx, hash); err == nil && g.UsedAt != nil {
			p.usedRefreshToken(w, r, g, grace)
			return
		}
		op.Exchange(w, r, p.op) // expired, or its user is gone: invalid_grant
		return
	}
	if err != nil {
		p.log.ErrorContext(ctx, "token: refresh token lookup", "err", err)
		storeUnavailable(w)
		return
	}
	pending := &pendingRotation{}
	r = r.WithContext(context.WithValue(ctx, refreshMemoKey{}, refreshMemo{token: token, req: req, pending: pending}))
	buf := newResponseBuffer(w.Header())
	op.Exchange(buf, r, p.op)
	switch {
	case buf.status == http.StatusOK && pending.next != nil:
		// One write stores the rotation and, for the grace window, the
		// answer sealed: until it commits the answer is not sent, and a
		// retry never finds the token used without its answer.
		var sealed []byte
		var until time.Time
		if grace > 0 {
			var err error
			if sealed, err = p.replaySealer.Seal(buf.body.Bytes(), []byte(hash)); err != nil {
				p.log.ErrorContext(ctx, "token: seal the refresh answer", "err", err)
				storeUnavailable(w)
				return
			}
			until = p.cfg.Now().Add(grace)
		}
		err := p.store.RotateRefreshGrantWithReplay(ctx, hash, pending.next, sealed, until, p.cfg.Now())
		if errors.Is(err, storage.ErrNotFound) {
			// Another request rotated this token first: answer as a
			// retry of it.
			if g, err := p.store.RefreshGrantByHash(ctx, hash); err == nil && g.UsedAt != nil {
				p.usedRefreshToken(w, r, g, grace)
				return
			}
			p.tokenError(w, r, oidc.ErrInvalidGrant().WithDescription("the refresh token has already been used or has expired"))
			return
		}
		if err != nil {
			p.log.ErrorContext(ctx, "token: rotate refresh grant", "err", err)
			storeUnavailable(w)
			return
		}
		p.emit(ctx, Event{Kind: EventTokenRefreshed, ClientID: g.ClientID, UserID: g.UserID, Family: g.FamilyID})
	case buf.errorCode() == string(oidc.InvalidGrant):
		// Another request rotated this token in the meantime: answer as
		// a retry of it.
		if g, err := p.store.RefreshGrantByHash(ctx, hash); err == nil && g.UsedAt != nil {
			p.usedRefreshToken(w, r, g, grace)
			return
		}
	}
	buf.flush(w)
}

// replayWait bounds how long a retry waits for the first request's answer.
const replayWait = 2 * time.Second

// usedRefreshToken answers a refresh token that was already rotated or
// revoked, under its client's grace window grace (0: none): a retry
// within grace of the rotation gets the kept answer, anything else
// revokes the family.
func (p *Provider) usedRefreshToken(w http.ResponseWriter, r *http.Request, g *storage.RefreshGrant, grace time.Duration) {
	ctx := r.Context()
	now := p.cfg.Now()
	inGrace := g.RevokedAt == nil && g.UsedAt != nil && grace > 0 && now.Before(g.UsedAt.Add(grace))
	if !inGrace {
		if g.RevokedAt == nil {
			if err := p.revokeFamily(ctx, g.FamilyID); err != nil {
				p.log.ErrorContext(ctx, "token: revoke a reused refresh family", "err", err)
				storeUnavailable(w)
				return
			}
			p.emit(ctx, Event{Kind: EventRefreshReuseDetected, ClientID: g.ClientID, UserID: g.UserID, Family: g.FamilyID})
			p.emit(ctx, Event{Kind: EventFamilyRevoked, ClientID: g.ClientID, UserID: g.UserID, Family: g.FamilyID, Reason: "reuse"})
		}
		p.tokenError(w, r, oidc.ErrInvalidGrant().WithDescription("the refresh token has already been used"))
		return
	}
	// The first request may still be writing its answer.
	deadline := time.Now().Add(replayWait)
	for {
		if g.Replay != nil && now.Before(g.ReplayUntil) {
			body, err := p.replaySealer.Open(g.Replay, []byte(g.TokenHash))
			if err != nil {
				p.log.ErrorContext(ctx, "token: open a kept refresh answer", "err", err)
				storeUnavailable(w)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
			return
		}
		if time.Now().After(deadline) {
			storeUnavailable(w)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(25 * time.Millisecond):
		}
		var err error
		if g, err = p.store.RefreshGrantByHash(ctx, g.TokenHash); err != nil {
			storeUnavailable(w)
			return
		}
		now = p.cfg.Now()
	}
}
