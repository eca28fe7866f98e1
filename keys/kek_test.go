package keys

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestParseKEK(t *testing.T) {
	// 0xfb 0xff yields '+' and '/' in standard base64, '-' and '_' in URL.
	key := bytes.Repeat([]byte{0xfb, 0xff}, 16)
	tests := []struct {
		name    string
		in      string
		want    []byte
		wantErr string
	}{
		{"std padded", base64.StdEncoding.EncodeToString(key), key, ""},
		{"std raw", base64.RawStdEncoding.EncodeToString(key), key, ""},
		{"url padded", base64.URLEncoding.EncodeToString(key), key, ""},
		{"url raw", base64.RawURLEncoding.EncodeToString(key), key, ""},
		{"trailing newline", base64.StdEncoding.EncodeToString(key) + "\n", key, ""},
		{"empty", "", nil, "empty"},
		{"blank", " \n\t", nil, "empty"},
		{"31 bytes", base64.StdEncoding.EncodeToString(key[:31]), nil, "31 bytes, want 32"},
		{"33 bytes", base64.StdEncoding.EncodeToString(append(bytes.Clone(key), 1)), nil, "33 bytes, want 32"},
		{"not base64", "this is not base64 at all!!", nil, "not valid base64"},
		{"mixed alphabets", strings.Replace(base64.StdEncoding.EncodeToString(key), "/", "_", 1), nil, "not valid base64"},
		{"hex", strings.Repeat("ab", 32), nil, "48 bytes, want 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKEK(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("got no error, want one containing %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got error %q, want it to contain %q", err, tt.wantErr)
				}
				if in := strings.TrimSpace(tt.in); in != "" && strings.Contains(err.Error(), in) {
					t.Errorf("got error %q, which echoes the input", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("got %x, want %x", got, tt.want)
			}
		})
	}
}

func TestLoadOrCreateKEKFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek")

	kek1, created, err := LoadOrCreateKEKFile(path, nil)
	if err != nil {
		t.Fatalf("first call: %v", err)
	}
	if !created {
		t.Errorf("first call: got created false, want true")
	}
	if len(kek1) != KEKSize {
		t.Errorf("got %d bytes, want %d", len(kek1), KEKSize)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("got mode %#o, want 0600", got)
	}
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := base64.StdEncoding.EncodeToString(kek1) + "\n"; string(content) != want {
		t.Errorf("got file content of %d bytes, want the base64 key and a newline", len(content))
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("got %d directory entries, want 1 (temporary file left behind?)", len(entries))
	}

	kek2, created, err := LoadOrCreateKEKFile(path, nil)
	if err != nil {
		t.Fatalf("second call: %v", err)
	}
	if created {
		t.Errorf("second call: got created true, want false")
	}
	if !bytes.Equal(kek1, kek2) {
		t.Errorf("second call: got another key, want the stored one")
	}
}

func TestLoadOrCreateKEKFileExisting(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KEKSize)
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		want    []byte
		wantErr string
	}{
		{"url raw, no newline", base64.RawURLEncoding.EncodeToString(key), 0o600, key, ""},
		{"crlf", base64.StdEncoding.EncodeToString(key) + "\r\n", 0o400, key, ""},
		{"group readable", base64.StdEncoding.EncodeToString(key), 0o640, nil, "must not be accessible by group or others"},
		{"world readable", base64.StdEncoding.EncodeToString(key), 0o604, nil, "must not be accessible by group or others"},
		{"garbage", "not a key", 0o600, nil, "not valid base64"},
		{"empty", "", 0o600, nil, "empty"},
		{"short key", base64.StdEncoding.EncodeToString(key[:16]), 0o600, nil, "16 bytes, want 32"},
		{"huge", strings.Repeat("A", 4096), 0o600, nil, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kek")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			got, created, err := LoadOrCreateKEKFile(path, nil)
			if created {
				t.Errorf("got created true, want false")
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				if tt.content != "" && strings.Contains(err.Error(), tt.content) {
					t.Errorf("got error %q, which echoes the file content", err)
				}
				after, _ := os.ReadFile(path)
				if string(after) != tt.content {
					t.Errorf("the file was changed, want it left alone")
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("got %x, want %x", got, tt.want)
			}
		})
	}
}

func TestLoadOrCreateKEKFileConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek")
	const n = 10
	var (
		wg      sync.WaitGroup
		keys    [n][]byte
		created [n]bool
		errs    [n]error
	)
	for i := range n {
		wg.Go(func() {
			keys[i], created[i], errs[i] = LoadOrCreateKEKFile(path, nil)
		})
	}
	wg.Wait()
	winners := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if created[i] {
			winners++
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Errorf("caller %d: got a different key from caller 0, want the same", i)
		}
	}
	if winners != 1 {
		t.Errorf("got %d callers reporting created, want 1", winners)
	}
	onDisk, _, err := LoadOrCreateKEKFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, keys[0]) {
		t.Errorf("got a file key different from the one returned, want the same")
	}
}

func TestLoadOrCreateKEKFileMissingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "kek")
	if _, _, err := LoadOrCreateKEKFile(path, nil); err == nil {
		t.Errorf("got no error for a missing directory, want one")
	}
}
