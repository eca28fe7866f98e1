package redis

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// The JSON forms of the records. Field names are short because every byte is
// kept in memory for the record's life; the Lua scripts use the names of
// authRequestJSON's x, d, u, si, at, amr, c and id, sessionJSON's u, x,
// ax, ls, ip, ua, cl, at and amr, and the x of pendingSignInJSON and
// webAuthnCeremonyJSON.
// Empty fields are left out: Redis's cjson would turn an empty list into an
// empty object, and nil and empty lists are interchangeable in package
// storage anyway.

// stamp is a time as Unix seconds and nanoseconds, both exact as Lua numbers;
// nil is the zero time.
type stamp = *[2]int64

type sessionJSON struct {
	UserID    string   `json:"u,omitempty"`
	AuthTime  stamp    `json:"at,omitempty"`
	AMR       []string `json:"amr,omitempty"`
	UserAgent string   `json:"ua,omitempty"`
	IP        string   `json:"ip,omitempty"`
	CreatedAt stamp    `json:"ca,omitempty"`
	LastSeen  stamp    `json:"ls,omitempty"`
	ExpiresAt stamp    `json:"x,omitempty"`
	// AbsoluteExpiresAt caps ExpiresAt in UpdateSession.
	AbsoluteExpiresAt stamp    `json:"ax,omitempty"`
	Remember          bool     `json:"rm,omitempty"`
	Clients           []string `json:"cl,omitempty"`
}

type pendingSignInJSON struct {
	UserID        string   `json:"u,omitempty"`
	BrowserHash   string   `json:"bh,omitempty"`
	AuthRequestID string   `json:"ar,omitempty"`
	SessionID     string   `json:"si,omitempty"`
	Remember      bool     `json:"rm,omitempty"`
	AMR           []string `json:"amr,omitempty"`
	AuthTime      stamp    `json:"at,omitempty"`
	CreatedAt     stamp    `json:"ca,omitempty"`
	ExpiresAt     stamp    `json:"x,omitempty"`
}

// webAuthnCeremonyJSON holds Data as encoding/json writes a []byte:
// base64 in a JSON string, which cjson passes through unchanged.
type webAuthnCeremonyJSON struct {
	Kind      string `json:"k,omitempty"`
	UserID    string `json:"u,omitempty"`
	Binding   string `json:"b,omitempty"`
	Data      []byte `json:"d,omitempty"`
	CreatedAt stamp  `json:"ca,omitempty"`
	ExpiresAt stamp  `json:"x,omitempty"`
}

type authRequestJSON struct {
	ID                  string   `json:"id,omitempty"`
	ClientID            string   `json:"cl,omitempty"`
	RedirectURI         string   `json:"ru,omitempty"`
	Scopes              []string `json:"sc,omitempty"`
	State               string   `json:"st,omitempty"`
	Nonce               string   `json:"n,omitempty"`
	ResponseType        string   `json:"rt,omitempty"`
	ResponseMode        string   `json:"rm,omitempty"`
	CodeChallenge       string   `json:"cc,omitempty"`
	CodeChallengeMethod string   `json:"ccm,omitempty"`
	Prompt              []string `json:"p,omitempty"`
	// MaxAge is a decimal string: cjson rounds numbers past 14 digits.
	MaxAge      *string `json:"ma,omitempty"`
	LoginHint   string  `json:"lh,omitempty"`
	IDTokenHint string  `json:"ith,omitempty"`
	HintSubject string  `json:"hs,omitempty"`
	BrowserHash string  `json:"bh,omitempty"`
	// ACRValues is absent from requests stored before it existed: they
	// decode with none.
	ACRValues []string `json:"acr,omitempty"`
	// DPoPJKT is absent from requests stored before it existed, and from
	// every request not bound to a DPoP key.
	DPoPJKT   string `json:"jkt,omitempty"`
	CreatedAt stamp  `json:"ca,omitempty"`
	ExpiresAt stamp  `json:"x,omitempty"`

	Done      bool     `json:"d,omitempty"`
	UserID    string   `json:"u,omitempty"`
	SessionID string   `json:"si,omitempty"`
	AuthTime  stamp    `json:"at,omitempty"`
	AMR       []string `json:"amr,omitempty"`

	CodeHash string `json:"c,omitempty"`
	// A code key's copy of the request also holds, written only by the
	// claim scripts (see claimCodeLua), k (the claim holding the code), ku
	// (its lease) and rd (redeemed); Go reads rd alone (codeRedeemed).
}

// Bounds of the times a value may hold, in Unix seconds (the starts of the
// years 1 and 10000): past them a time's seconds would need more digits than
// cjson keeps.
const (
	minUnix = -62135596800
	maxUnix = 253402300800
)

// encoder builds JSON forms and keeps the first error.
type encoder struct {
	err error
}

func (e *encoder) time(t time.Time) stamp {
	if t.IsZero() {
		return nil
	}
	if sec := t.Unix(); sec < minUnix || sec >= maxUnix {
		if e.err == nil {
			e.err = fmt.Errorf("time %s is outside the years 1 to 9999", t.UTC().Format(time.RFC3339))
		}
		return nil
	}
	return &[2]int64{t.Unix(), int64(t.Nanosecond())}
}

func decodeTime(st stamp) time.Time {
	if st == nil {
		return time.Time{}
	}
	return time.Unix(st[0], st[1]).UTC()
}

func encodeSession(sess *storage.Session) ([]byte, error) {
	var e encoder
	v := sessionJSON{
		UserID:    sess.UserID,
		AuthTime:  e.time(sess.AuthTime),
		AMR:       sess.AMR,
		UserAgent: sess.UserAgent,
		IP:        sess.IP,
		CreatedAt: e.time(sess.CreatedAt),
		LastSeen:  e.time(sess.LastSeen),
		ExpiresAt: e.time(sess.ExpiresAt),

		AbsoluteExpiresAt: e.time(sess.AbsoluteExpiresAt),
		Remember:          sess.Remember,
		Clients:           sess.Clients,
	}
	if e.err != nil {
		return nil, e.err
	}
	return json.Marshal(&v)
}

// encodeSessionUpdate returns the fields UpdateSession overwrites, as a
// JSON object the update script copies into the stored session (a field
// left out is removed there).
func encodeSessionUpdate(sess *storage.Session) ([]byte, error) {
	var e encoder
	v := sessionJSON{
		UserAgent: sess.UserAgent,
		IP:        sess.IP,
		LastSeen:  e.time(sess.LastSeen),
		ExpiresAt: e.time(sess.ExpiresAt),
		Clients:   sess.Clients,
	}
	if e.err != nil {
		return nil, e.err
	}
	return json.Marshal(&v)
}

func decodeSession(id string, b []byte) (*storage.Session, error) {
	var v sessionJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("decode session: %w", err)
	}
	return &storage.Session{
		ID:        id,
		UserID:    v.UserID,
		AuthTime:  decodeTime(v.AuthTime),
		AMR:       v.AMR,
		UserAgent: v.UserAgent,
		IP:        v.IP,
		CreatedAt: decodeTime(v.CreatedAt),
		LastSeen:  decodeTime(v.LastSeen),
		ExpiresAt: decodeTime(v.ExpiresAt),

		AbsoluteExpiresAt: decodeTime(v.AbsoluteExpiresAt),
		Remember:          v.Remember,
		Clients:           v.Clients,
	}, nil
}

// encodeSessionAuth returns the fields AuthenticateSession sets, as a JSON
// object the script copies into the stored session (a field left out, an
// empty AMR say, is removed there).
func encodeSessionAuth(authTime time.Time, amr []string) ([]byte, error) {
	var e encoder
	v := sessionJSON{AuthTime: e.time(authTime), AMR: amr}
	if e.err != nil {
		return nil, e.err
	}
	return json.Marshal(&v)
}

func encodePendingSignIn(p *storage.PendingSignIn) ([]byte, error) {
	var e encoder
	v := pendingSignInJSON{
		UserID:        p.UserID,
		BrowserHash:   p.BrowserHash,
		AuthRequestID: p.AuthRequestID,
		SessionID:     p.SessionID,
		Remember:      p.Remember,
		AMR:           p.AMR,
		AuthTime:      e.time(p.AuthTime),
		CreatedAt:     e.time(p.CreatedAt),
		ExpiresAt:     e.time(p.ExpiresAt),
	}
	if e.err != nil {
		return nil, e.err
	}
	return json.Marshal(&v)
}

func decodePendingSignIn(id string, b []byte) (*storage.PendingSignIn, error) {
	var v pendingSignInJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("decode pending sign-in: %w", err)
	}
	return &storage.PendingSignIn{
		ID:            id,
		UserID:        v.UserID,
		BrowserHash:   v.BrowserHash,
		AuthRequestID: v.AuthRequestID,
		SessionID:     v.SessionID,
		Remember:      v.Remember,
		AMR:           v.AMR,
		AuthTime:      decodeTime(v.AuthTime),
		CreatedAt:     decodeTime(v.CreatedAt),
		ExpiresAt:     decodeTime(v.ExpiresAt),
	}, nil
}

func encodeWebAuthnCeremony(c *storage.WebAuthnCeremony) ([]byte, error) {
	var e encoder
	v := webAuthnCeremonyJSON{
		Kind:      c.Kind,
		UserID:    c.UserID,
		Binding:   c.Binding,
		Data:      c.Data,
		CreatedAt: e.time(c.CreatedAt),
		ExpiresAt: e.time(c.ExpiresAt),
	}
	if e.err != nil {
		return nil, e.err
	}
	return json.Marshal(&v)
}

func decodeWebAuthnCeremony(id string, b []byte) (*storage.WebAuthnCeremony, error) {
	var v webAuthnCeremonyJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("decode webauthn ceremony: %w", err)
	}
	return &storage.WebAuthnCeremony{
		ID:        id,
		Kind:      v.Kind,
		UserID:    v.UserID,
		Binding:   v.Binding,
		Data:      v.Data,
		CreatedAt: decodeTime(v.CreatedAt),
		ExpiresAt: decodeTime(v.ExpiresAt),
	}, nil
}

func encodeAuthRequest(r *storage.AuthRequest) ([]byte, error) {
	var e encoder
	v := authRequestJSON{
		ID:                  r.ID,
		ClientID:            r.ClientID,
		RedirectURI:         r.RedirectURI,
		Scopes:              r.Scopes,
		State:               r.State,
		Nonce:               r.Nonce,
		ResponseType:        r.ResponseType,
		ResponseMode:        r.ResponseMode,
		CodeChallenge:       r.CodeChallenge,
		CodeChallengeMethod: r.CodeChallengeMethod,
		Prompt:              r.Prompt,
		LoginHint:           r.LoginHint,
		IDTokenHint:         r.IDTokenHint,
		HintSubject:         r.HintSubject,
		BrowserHash:         r.BrowserHash,
		ACRValues:           r.ACRValues,
		DPoPJKT:             r.DPoPJKT,
		CreatedAt:           e.time(r.CreatedAt),
		ExpiresAt:           e.time(r.ExpiresAt),
		Done:                r.Done,
		UserID:              r.UserID,
		SessionID:           r.SessionID,
		AuthTime:            e.time(r.AuthTime),
		AMR:                 r.AMR,
		CodeHash:            r.CodeHash,
	}
	if r.MaxAge != nil {
		ma := strconv.FormatInt(*r.MaxAge, 10)
		v.MaxAge = &ma
	}
	if e.err != nil {
		return nil, e.err
	}
	return json.Marshal(&v)
}

// encodeLogin returns the fields CompleteAuthRequest sets, as a JSON object
// the complete script merges into the stored request.
func encodeLogin(l *storage.Login) ([]byte, error) {
	var e encoder
	v := authRequestJSON{
		Done:      true,
		UserID:    l.UserID,
		SessionID: l.SessionID,
		AuthTime:  e.time(l.AuthTime),
		AMR:       l.AMR,
	}
	if e.err != nil {
		return nil, e.err
	}
	return json.Marshal(&v)
}

func decodeAuthRequest(b []byte) (*storage.AuthRequest, error) {
	var v authRequestJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("decode auth request: %w", err)
	}
	r := &storage.AuthRequest{
		ID:                  v.ID,
		ClientID:            v.ClientID,
		RedirectURI:         v.RedirectURI,
		Scopes:              v.Scopes,
		State:               v.State,
		Nonce:               v.Nonce,
		ResponseType:        v.ResponseType,
		ResponseMode:        v.ResponseMode,
		CodeChallenge:       v.CodeChallenge,
		CodeChallengeMethod: v.CodeChallengeMethod,
		Prompt:              v.Prompt,
		LoginHint:           v.LoginHint,
		IDTokenHint:         v.IDTokenHint,
		HintSubject:         v.HintSubject,
		BrowserHash:         v.BrowserHash,
		ACRValues:           v.ACRValues,
		DPoPJKT:             v.DPoPJKT,
		CreatedAt:           decodeTime(v.CreatedAt),
		ExpiresAt:           decodeTime(v.ExpiresAt),
		Done:                v.Done,
		UserID:              v.UserID,
		SessionID:           v.SessionID,
		AuthTime:            decodeTime(v.AuthTime),
		AMR:                 v.AMR,
		CodeHash:            v.CodeHash,
	}
	if v.MaxAge != nil {
		ma, err := strconv.ParseInt(*v.MaxAge, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("decode auth request: max age: %w", err)
		}
		r.MaxAge = &ma
	}
	return r, nil
}

// codeRedeemed reports whether the code key value b is marked redeemed.
func codeRedeemed(b []byte) bool {
	var v struct {
		Redeemed bool `json:"rd"`
	}
	return json.Unmarshal(b, &v) == nil && v.Redeemed
}

// live reports whether a record expiring at exp is live at now.
func live(exp, now time.Time) bool { return now.Before(exp) }

// nowArgs returns now as the seconds and nanoseconds the scripts compare
// with a stamp.
func nowArgs(now time.Time) (int64, int64) { return now.Unix(), int64(now.Nanosecond()) }
