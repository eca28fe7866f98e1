package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// One-time codes as Gatehouse checks them: RFC 6238 with HMAC-SHA1, 6
// digits and 30-second steps.
const totpPeriod = 30

// totpStep returns the step at t (RFC 6238's T).
func totpStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// totpStepStart returns when step begins.
func totpStepStart(step int64) time.Time { return time.Unix(step*totpPeriod, 0) }

// totpCode returns the 6-digit code of key for step: HMAC-SHA1 of the step
// as 8 big-endian bytes, RFC 4226 §5.3's dynamic truncation, the last six
// decimal digits.
func totpCode(key []byte, step int64) string {
	mac := hmac.New(sha1.New, key)
	mac.Write(binary.BigEndian.AppendUint64(nil, uint64(step)))
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	n := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fff_ffff
	return fmt.Sprintf("%06d", n%1_000_000)
}

// decodeTOTPSecret decodes a secret as the set-up page shows it: base32,
// in groups separated by spaces, without padding.
func decodeTOTPSecret(s string) ([]byte, error) {
	s = strings.TrimRight(strings.ToUpper(strings.ReplaceAll(s, " ", "")), "=")
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil || len(key) == 0 {
		return nil, errors.New("a one-time-code secret is not base32") // not shown: it is a secret
	}
	return key, nil
}

// signin_totp: each worker signs in as its own user, who has a one-time
// code. A code works once per user and step, so a user signs in at most
// once a step; worker i gives its codes at its own second of the step
// (totpSlot), so that the workers' sign-ins seldom overlap.

// clockMargin is how far into a step the earliest worker waits before it
// gives the next step's code: the server takes it from the moment its own
// clock is in that step, so the two clocks must agree within this.
const clockMargin = time.Second

// totpSlots is how many seconds of a step the workers are spread over.
const totpSlots = totpPeriod - 2

// nextTOTP returns the step whose code a user who spent the code of step
// spent gives next, and when worker may give it: the current step's code
// at once, or the next step's (Gatehouse takes codes one step ahead) at
// worker's second of the current step. Never a step at or before spent:
// Gatehouse refuses its code as a replay.
func nextTOTP(spent int64, now time.Time, worker int) (step int64, at time.Time) {
	step = max(spent+1, totpStep(now))
	return step, totpSlot(step-1, worker)
}

// totpSlot returns worker's moment in step.
func totpSlot(step int64, worker int) time.Time {
	return totpStepStart(step).Add(clockMargin + time.Duration(worker%totpSlots)*time.Second)
}

// totpUser is a signin_totp user the generator knows the secret of.
type totpUser struct {
	name string
	key  []byte
	// spent is the newest step whose code may have been used: the next
	// sign-in gives a later one.
	spent int64
}

// totpUsers are signin_totp's users: the secrets file (-totp-secrets) and
// what each user has spent. Workers of a run sign in as different users,
// and runs follow one another, so a *totpUser is used by one worker at a
// time.
type totpUsers struct {
	path string
	// started is the step when the generator started: a user it did not
	// set up may have spent codes up to the one after it, as Gatehouse
	// takes none further ahead.
	started int64
	mu      sync.Mutex
	secrets map[string]string // the file: username → base32 secret
	users   map[string]*totpUser
}

// loadTOTPUsers reads the secrets file at path; a missing file is an empty
// one, created when the first user is set up.
func loadTOTPUsers(path string, now time.Time) (*totpUsers, error) {
	t := &totpUsers{path: path, started: totpStep(now), secrets: map[string]string{}, users: map[string]*totpUser{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, err
	}
	var probs []string
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			probs = append(probs, fmt.Sprintf("%s:%d: want \"username secret\", got %d fields", path, i+1, len(f)))
			continue
		}
		if _, err := decodeTOTPSecret(f[1]); err != nil {
			probs = append(probs, fmt.Sprintf("%s:%d: %s's secret is not base32", path, i+1, f[0]))
			continue
		}
		t.secrets[f[0]] = f[1]
	}
	if len(probs) > 0 {
		return nil, errors.New(strings.Join(probs, "\n"))
	}
	return t, nil
}

// known returns name's state, for a user whose sign-in asked for a code:
// nil if the file has no secret for name.
func (t *totpUsers) known(name string) *totpUser {
	t.mu.Lock()
	defer t.mu.Unlock()
	if u := t.users[name]; u != nil {
		return u
	}
	secret, ok := t.secrets[name]
	if !ok {
		return nil
	}
	key, _ := decodeTOTPSecret(secret) // checked by loadTOTPUsers
	u := &totpUser{name: name, key: key, spent: t.started + 1}
	t.users[name] = u
	return u
}

// setUp records the secret name was just set up with, proven with the code
// of step, and writes the file.
func (t *totpUsers) setUp(name, secret string, step int64) (*totpUser, error) {
	key, err := decodeTOTPSecret(secret)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.secrets[name] = secret
	if err := t.write(); err != nil {
		return nil, fmt.Errorf("-totp-secrets: %w (user %s has a new one-time code: if its secret does not reach the file, reset it with gatehouse users mfa reset %s --all)", err, name, name)
	}
	u := &totpUser{name: name, key: key, spent: step}
	t.users[name] = u
	return u, nil
}

// write replaces the file with t.secrets, readable by its owner alone,
// through a temporary file renamed over it: a crash leaves the old one.
func (t *totpUsers) write() error {
	var b strings.Builder
	b.WriteString("# gatehouse-load -totp-secrets: the one-time-code secrets (base32) of the users it set up.\n")
	b.WriteString("# They sign in as these users: keep this file to load-test accounts, and private.\n")
	for _, name := range slices.Sorted(maps.Keys(t.secrets)) {
		fmt.Fprintf(&b, "%s %s\n", name, t.secrets[name])
	}
	f, err := os.CreateTemp(filepath.Dir(t.path), "."+filepath.Base(t.path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after the rename, a no-op
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), t.path)
}

// prepareSignInTOTP readies worker number worker of signin_totp: its user
// <-user>-<worker> gets a one-time code if it has none, and each iteration
// waits for the user's next code (not measured) and signs in with it.
func prepareSignInTOTP(ctx context.Context, g *generator, b *browser, worker int) (work, error) {
	who := account{username: fmt.Sprintf("%s-%d", g.cfg.user, worker), password: g.cfg.password}
	u, err := g.ensureTOTP(ctx, b, who)
	if err != nil {
		return work{}, err
	}
	first := true
	return work{
		pace: func(ctx context.Context) error {
			step, at := nextTOTP(u.spent, time.Now(), worker)
			if wait := time.Until(at); first && worker == 0 && wait > 2*time.Second {
				fmt.Fprintf(g.progress, "signin_totp: %s waits %v for its next one-time code (a code works once per 30-second step)\n", who.username, wait.Round(time.Second))
			}
			first = false
			if !sleepUntil(ctx, at) {
				return ctx.Err()
			}
			u.spent = step // spent even if the sign-in fails before giving it
			who.code = totpCode(u.key, step)
			return nil
		},
		iteration: func(ctx context.Context) error {
			_, err := g.signIn(ctx, b, g.public, signInScope, who)
			return err
		},
	}, nil
}

// ensureTOTP makes sure who has a one-time code whose secret the generator
// knows: it signs in with the password; a sign-in that asks for a code
// needs the secret in the file, and one that does not sets up a code on
// the account page, with the fresh session it opened.
func (g *generator) ensureTOTP(ctx context.Context, b *browser, who account) (*totpUser, error) {
	_, err := g.signIn(ctx, b, g.public, signInScope, who)
	if se := asStepError(err); se != nil && se.reason == reasonSecondStep {
		if u := g.totp.known(who.username); u != nil {
			return u, nil
		}
		return nil, fmt.Errorf("user %s already has two-step verification, and its secret is not in %s, so gatehouse-load cannot sign in as it: reset it with gatehouse users mfa reset %s --all, and the next run sets up a new one",
			who.username, g.totp.path, who.username)
	}
	if err != nil {
		return nil, err
	}
	secret, step, err := g.setUpTOTP(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("setting up a one-time code for %s: %w", who.username, err)
	}
	return g.totp.setUp(who.username, secret, step)
}

// setUpTOTP sets up a one-time code on the account page as a user does,
// in a browser signed in moments ago (the page asks for a sign-in within
// 5 minutes): it reads the key the page shows, and proves it with the
// code of the current step. It returns the secret and that step.
func (g *generator) setUpTOTP(ctx context.Context, b *browser) (string, int64, error) {
	pageURL, err := url.Parse(g.ep.Issuer)
	if err == nil {
		pageURL, err = pageURL.Parse("/account/totp")
	}
	if err != nil {
		return "", 0, &stepError{step: "set-up page", reason: "bad URL", detail: err.Error()}
	}
	page, err := b.do(ctx, request{step: "set-up page", method: http.MethodGet, url: pageURL.String(), want: []int{http.StatusOK}})
	if err != nil {
		return "", 0, err
	}
	m := totpSecretTag.FindSubmatch(page.body)
	if m == nil {
		return "", 0, &stepError{step: "set-up page", reason: "no key", detail: `the set-up page shows no <code id="totp-secret">`}
	}
	secret := strings.ReplaceAll(html.UnescapeString(string(m[1])), " ", "")
	key, err := decodeTOTPSecret(secret)
	if err != nil {
		return "", 0, &stepError{step: "set-up page", reason: "bad key", detail: err.Error()}
	}
	fields := hiddenFields(page.body)
	if fields.Get("csrf_token") == "" || fields.Get("enrolment") == "" {
		return "", 0, &stepError{step: "set-up page", reason: "no csrf_token or enrolment", detail: "the set-up form lacks a hidden field"}
	}
	action, err := formAction(page.body, pageURL)
	if err != nil {
		return "", 0, &stepError{step: "set-up page", reason: "bad form action", detail: err.Error()}
	}
	step := totpStep(time.Now())
	fields.Set("code", totpCode(key, step))
	done, err := b.do(ctx, request{step: "set-up", method: http.MethodPost, url: action.String(), form: fields, sameSite: true,
		want: []int{http.StatusOK, http.StatusSeeOther, http.StatusFound}})
	if err != nil {
		return "", 0, err
	}
	switch {
	case done.status == http.StatusOK && bytes.Contains(done.body, []byte(`id="recovery-codes"`)):
		// Set up: the new recovery codes are shown once.
	case done.status != http.StatusOK && done.location != nil && done.location.Path == "/account":
		// Set up; the user still had recovery codes.
	default:
		detail := pageAlert(done.body)
		if done.location != nil {
			detail = "redirect to " + done.location.String()
		}
		return "", 0, &stepError{step: "set-up", reason: "not set up", detail: detail}
	}
	return secret, step, nil
}

var totpSecretTag = regexp.MustCompile(`<code id="totp-secret">([^<]*)</code>`)
