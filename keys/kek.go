package keys

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// KEKSize is the length in bytes of a key-encryption key (AES-256).
const KEKSize = 32

// maxKEKFileSize bounds how much of a KEK file is read; a valid file is
// 45 bytes (44 base64 characters and a newline).
const maxKEKFileSize = 1024

// ParseKEK decodes a key-encryption key given as base64: standard or URL
// alphabet, padded or not, surrounding white space ignored. It returns the
// 32 key bytes, or an error if the text is empty, is not base64 or does not
// decode to exactly 32 bytes. Errors never contain the text itself.
func ParseKEK(b64 string) ([]byte, error) {
	s := strings.TrimSpace(b64)
	if s == "" {
		return nil, errors.New("keys: KEK is empty")
	}
	encodings := [...]*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding,
		base64.URLEncoding, base64.RawURLEncoding,
	}
	for _, enc := range encodings {
		kek, err := enc.Strict().DecodeString(s)
		if err != nil {
			continue
		}
		if len(kek) != KEKSize {
			clear(kek)
			return nil, fmt.Errorf("keys: KEK decodes to %d bytes, want %d (generate one with: openssl rand -base64 32)", len(kek), KEKSize)
		}
		return kek, nil
	}
	// The decoder's error would only add an offset into the secret.
	return nil, errors.New("keys: KEK is not valid base64 (standard or URL alphabet, padded or not)")
}

// LoadOrCreateKEKFile returns the key-encryption key stored as base64 in the
// file at path (a trailing newline is fine), creating the file with a new
// random key if it does not exist. created reports whether this call created
// it. random supplies the new key's bytes; nil means crypto/rand.
//
// The file is created atomically and exclusively: the key is written and
// synced to a temporary file (mode 0600) in the same directory, which is then
// hard-linked to path; linking fails if path exists. So a reader never sees a
// partly written file, and of several processes racing to create it exactly
// one wins while the others read and return the winner's key.
//
// On systems other than Windows, an existing file whose permissions grant
// anything to group or others (mode wider than 0600) is refused with an
// error: a key readable by other accounts is not a secret, and failing loudly
// is the only way an operator notices. Fix it with chmod 600. A KEK delivered
// through a world-readable mount (for example a Kubernetes secret with its
// default mode) should be passed to ParseKEK through configuration instead.
func LoadOrCreateKEKFile(path string, random io.Reader) (kek []byte, created bool, err error) {
	if random == nil {
		random = rand.Reader
	}
	kek, err = readKEKFile(path)
	if err == nil {
		return kek, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}

	kek = make([]byte, KEKSize)
	if _, err := io.ReadFull(random, kek); err != nil {
		return nil, false, fmt.Errorf("keys: generate KEK: %w", err)
	}
	won, err := createKEKFile(path, kek)
	if err != nil {
		clear(kek)
		return nil, false, err
	}
	if !won {
		clear(kek)
		kek, err = readKEKFile(path)
		if err != nil {
			return nil, false, err
		}
		return kek, false, nil
	}
	return kek, true, nil
}

// readKEKFile reads and parses the KEK file; a missing file is reported with
// an error wrapping fs.ErrNotExist.
func readKEKFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keys: open KEK file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keys: KEK file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("keys: KEK file %s is not a regular file", path)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keys: KEK file %s has mode %#o; it must not be accessible by group or others (run: chmod 600 %s)", path, fi.Mode().Perm(), path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKEKFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("keys: read KEK file %s: %w", path, err)
	}
	defer clear(b)
	if len(b) > maxKEKFileSize {
		return nil, fmt.Errorf("keys: KEK file %s is larger than %d bytes", path, maxKEKFileSize)
	}
	kek, err := ParseKEK(string(bytes.TrimSpace(b)))
	if err != nil {
		return nil, fmt.Errorf("keys: KEK file %s: %w", path, err)
	}
	return kek, nil
}

// createKEKFile writes kek to path unless path exists. won is false, with a
// nil error, when another writer created path first.
func createKEKFile(path string, kek []byte) (won bool, err error) {
	dir := filepath.Dir(path)
	tmpName, err := writeTempKEK(path, kek)
	if err != nil {
		return false, err
	}
	defer os.Remove(tmpName) // after the link, path keeps the data

	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, fmt.Errorf("keys: create KEK file (the directory must support hard links): %w", err)
	}
	// A KEK that vanishes in a crash would orphan every key sealed under it.
	if err := syncDir(dir); err != nil {
		return false, fmt.Errorf("keys: sync directory of KEK file: %w", err)
	}
	return true, nil
}

func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for syncing there
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ReplaceKEKFile writes kek as base64 to the file at path, replacing
// whatever the file held, atomically: the key is written and synced to a
// temporary file (mode 0600) in the same directory, which is then renamed
// over path, and the directory is synced. A reader, or a crash, sees either
// the old file or the new one, never a mix. It is how `gatehouse keys
// rewrap` hands the embedded store's KEK file its new key, after the
// database holds everything under it.
func ReplaceKEKFile(path string, kek []byte) error {
	if len(kek) != KEKSize {
		return fmt.Errorf("keys: KEK is %d bytes, want %d", len(kek), KEKSize)
	}
	tmpName, err := writeTempKEK(path, kek)
	if err != nil {
		return err
	}
	defer os.Remove(tmpName) // a no-op once renamed
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("keys: replace KEK file: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("keys: sync directory of KEK file: %w", err)
	}
	return nil
}

// writeTempKEK writes kek, base64 and a newline, to a new synced 0600 file
// beside path and returns its name; the caller removes it.
func writeTempKEK(path string, kek []byte) (string, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("keys: create KEK file: %w", err)
	}
	tmpName := tmp.Name()
	line := make([]byte, base64.StdEncoding.EncodedLen(len(kek))+1)
	base64.StdEncoding.Encode(line, kek)
	line[len(line)-1] = '\n'
	defer clear(line)
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(line)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmpName)
		return "", fmt.Errorf("keys: write KEK file: %w", err)
	}
	return tmpName, nil
}
