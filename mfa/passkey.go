package mfa

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// Authentication methods of a passkey (RFC 8176 §2): a key kept on one
// device (hwk) or one the authenticator may copy to others, such as a
// synced passkey (swk, from WebAuthn's backup-eligible flag).
const (
	AMRHardwareKey = "hwk"
	AMRSoftwareKey = "swk"
)

// Passkeys runs WebAuthn ceremonies (through github.com/go-webauthn/webauthn)
// for one issuer: its host is the relying-party id, its origin the only
// origin accepted. Attestation is not asked for ("none"); user
// verification is preferred, and required for a sign-in without a
// password.
type Passkeys struct {
	w *webauthn.WebAuthn
}

// NewPasskeys configures ceremonies for issuer (https, or http on a
// loopback host). WebAuthn takes no IP address as relying-party id, so
// an issuer on 127.0.0.1 gets an error: use localhost.
func NewPasskeys(issuer, displayName string) (*Passkeys, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Hostname() == "" {
		return nil, fmt.Errorf("mfa: passkeys: issuer %q has no host", issuer)
	}
	if net.ParseIP(u.Hostname()) != nil {
		return nil, fmt.Errorf("mfa: passkeys: the issuer's host %s is an IP address, which WebAuthn does not take as relying-party id", u.Hostname())
	}
	w, err := webauthn.New(&webauthn.Config{
		RPID:                  u.Hostname(),
		RPDisplayName:         displayName,
		RPOrigins:             []string{u.Scheme + "://" + u.Host},
		AttestationPreference: protocol.PreferNoAttestation,
	})
	if err != nil {
		return nil, fmt.Errorf("mfa: passkeys: %w", err)
	}
	return &Passkeys{w: w}, nil
}

// PasskeyUser is a user as a ceremony sees them: the user handle (the
// user's id), names, and the records of their credentials as stored
// (storage.Passkey.Credential).
type PasskeyUser struct {
	ID          string
	Name        string
	DisplayName string
	Records     [][]byte
}

// webauthnUser adapts a PasskeyUser to webauthn.User.
type webauthnUser struct {
	u     PasskeyUser
	creds []webauthn.Credential
}

func (w *webauthnUser) WebAuthnID() []byte                         { return []byte(w.u.ID) }
func (w *webauthnUser) WebAuthnName() string                       { return w.u.Name }
func (w *webauthnUser) WebAuthnDisplayName() string                { return w.u.DisplayName }
func (w *webauthnUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

func adapt(u PasskeyUser) (*webauthnUser, error) {
	w := &webauthnUser{u: u}
	for _, r := range u.Records {
		var c webauthn.Credential
		if err := json.Unmarshal(r, &c); err != nil {
			return nil, fmt.Errorf("mfa: passkey record: %w", err)
		}
		w.creds = append(w.creds, c)
	}
	return w, nil
}

// BeginRegistration starts adding a passkey for u: the options for the
// browser (navigator.credentials.create, as JSON) and the ceremony's
// state to keep until it answers. u's existing credentials are excluded
// (an authenticator holding one of them refuses), and a discoverable
// credential is preferred, so that it can sign in without a username.
func (p *Passkeys) BeginRegistration(u PasskeyUser) (options, state []byte, err error) {
	wu, err := adapt(u)
	if err != nil {
		return nil, nil, err
	}
	creation, session, err := p.w.BeginRegistration(wu,
		webauthn.WithExclusions(webauthn.Credentials(wu.creds).CredentialDescriptors()),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementPreferred),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementPreferred, UserVerification: protocol.VerificationPreferred,
		}),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("mfa: begin passkey registration: %w", err)
	}
	return marshalPair(creation, session)
}

// NewPasskey is a credential a registration produced.
type NewPasskey struct {
	ID        []byte
	Record    []byte
	SignCount uint32
	// Method is its amr: AMRHardwareKey, or AMRSoftwareKey for a synced
	// (backup-eligible) passkey.
	Method string
}

// ErrPasskey is an answer from the browser that does not verify: another
// origin or relying party, another challenge, a bad signature, a
// credential of someone else, malformed data. Its text says which, for
// the audit trail, never for the page.
var ErrPasskey = errors.New("mfa: passkey refused")

// FinishRegistration checks the browser's answer (the PublicKeyCredential
// as JSON) to the registration whose state BeginRegistration returned.
func (p *Passkeys) FinishRegistration(u PasskeyUser, state, response []byte) (*NewPasskey, error) {
	wu, err := adapt(u)
	if err != nil {
		return nil, err
	}
	var session webauthn.SessionData
	if err := json.Unmarshal(state, &session); err != nil {
		return nil, fmt.Errorf("mfa: passkey ceremony state: %w", err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPasskey, detail(err))
	}
	cred, err := p.w.CreateCredential(wu, session, parsed)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPasskey, detail(err))
	}
	record, err := json.Marshal(cred)
	if err != nil {
		return nil, err
	}
	method := AMRHardwareKey
	if cred.Flags.BackupEligible {
		method = AMRSoftwareKey
	}
	return &NewPasskey{ID: cred.ID, Record: record, SignCount: cred.Authenticator.SignCount, Method: method}, nil
}

// BeginLogin starts an authentication: with u, for u's credentials only
// (a second factor, or a step-up), user verification preferred; with u
// nil, for any discoverable credential (a sign-in without a password),
// user verification required.
func (p *Passkeys) BeginLogin(u *PasskeyUser) (options, state []byte, err error) {
	var (
		assertion *protocol.CredentialAssertion
		session   *webauthn.SessionData
	)
	if u == nil {
		assertion, session, err = p.w.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	} else {
		wu, aerr := adapt(*u)
		if aerr != nil {
			return nil, nil, aerr
		}
		assertion, session, err = p.w.BeginLogin(wu, webauthn.WithUserVerification(protocol.VerificationPreferred))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("mfa: begin passkey sign-in: %w", err)
	}
	return marshalPair(assertion, session)
}

// Assertion is a verified use of a passkey.
type Assertion struct {
	UserID string
	// ID is the credential's id; Record its updated record, SignCount its
	// new counter (store them with storage.Passkeys.UsePasskey).
	ID        []byte
	Record    []byte
	SignCount uint32
	// UserVerified: the authenticator checked a PIN or biometric.
	UserVerified bool
	// Method is the amr of the key: AMRHardwareKey or AMRSoftwareKey.
	Method string
}

// ErrCounterRegression is a passkey whose signature counter did not move
// forward: a sign of a cloned authenticator (WebAuthn §6.1.1). The use is
// refused.
var ErrCounterRegression = errors.New("mfa: passkey signature counter went backwards")

// FinishLogin checks the browser's answer (the PublicKeyCredential as
// JSON) to the authentication whose state BeginLogin returned. With u it
// must be one of u's credentials; without, lookup finds the user the
// credential's user handle names.
func (p *Passkeys) FinishLogin(u *PasskeyUser, lookup func(userID string) (*PasskeyUser, error), state, response []byte) (*Assertion, error) {
	var session webauthn.SessionData
	if err := json.Unmarshal(state, &session); err != nil {
		return nil, fmt.Errorf("mfa: passkey ceremony state: %w", err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPasskey, detail(err))
	}
	var (
		owner *PasskeyUser
		wu    *webauthnUser
		cred  *webauthn.Credential
	)
	if u != nil {
		owner = u
		if wu, err = adapt(*u); err != nil {
			return nil, err
		}
		cred, err = p.w.ValidateLogin(wu, session, parsed)
	} else {
		var lookupErr error
		cred, err = p.w.ValidateDiscoverableLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
			found, err := lookup(string(userHandle))
			if err != nil {
				lookupErr = err
				return nil, err
			}
			owner = found
			return adapt(*found)
		}, session, parsed)
		if lookupErr != nil {
			return nil, lookupErr
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPasskey, detail(err))
	}
	if cred.Authenticator.CloneWarning {
		return nil, ErrCounterRegression
	}
	record, err := json.Marshal(cred)
	if err != nil {
		return nil, err
	}
	a := &Assertion{UserID: owner.ID, ID: cred.ID, Record: record, SignCount: cred.Authenticator.SignCount,
		UserVerified: cred.Flags.UserVerified, Method: AMRHardwareKey}
	if cred.Flags.BackupEligible {
		a.Method = AMRSoftwareKey
	}
	return a, nil
}

// CredentialOwner reads the credential id and user handle an assertion
// answer names, before it is verified: what a sign-in without a password
// needs to find the account to throttle.
func CredentialOwner(response []byte) (id []byte, userHandle string, err error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrPasskey, detail(err))
	}
	return bytes.Clone(parsed.RawID), string(parsed.Response.UserHandle), nil
}

func marshalPair(options, state any) ([]byte, []byte, error) {
	o, err := json.Marshal(options)
	if err != nil {
		return nil, nil, err
	}
	s, err := json.Marshal(state)
	if err != nil {
		return nil, nil, err
	}
	return o, s, nil
}

// detail is the library's explanation of a refusal.
func detail(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.DevInfo != "" {
		return pe.Details + ": " + pe.DevInfo
	}
	return err.Error()
}
