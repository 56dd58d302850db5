// Package persist stores a source's last good answer in the state directory so that a restart
// without the control plane converges to the same state. Writes are crash-safe: the JSON goes to
// a temporary file in the same directory, is fsynced, renamed over the old file, and the
// directory is fsynced, so a reader sees either the old answer or the new one, never a mix.
package persist

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// staleTemp is how old a leftover temporary file must be before Save removes it; younger ones
// may belong to a concurrent Save of the same name.
const staleTemp = 10 * time.Minute

// Path returns the file that Save writes for name in dir: <dir>/<name>.json.
func Path(dir, name string) string {
	return filepath.Join(dir, name+".json")
}

func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return fmt.Errorf("persist: invalid name %q: must be a plain file name not starting with '.'", name)
	}
	return nil
}

// Save writes v as JSON to <dir>/<name>.json atomically and durably. dir is created (mode 0700)
// if missing; the file is mode 0600 because answers may hold secrets.
func Save(dir, name string, v any) error {
	if err := checkName(name); err != nil {
		return err
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("persist %s: encode: %w", name, err)
	}
	data = append(data, '\n')
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("persist %s: create state dir: %w", name, err)
	}
	tmp, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("persist %s: create temp file: %w", name, err)
	}
	tmpName := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("persist %s: chmod temp file: %w", name, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("persist %s: write temp file: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("persist %s: fsync temp file: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("persist %s: close temp file: %w", name, err)
	}
	if err := os.Rename(tmpName, Path(dir, name)); err != nil {
		return fmt.Errorf("persist %s: rename into place: %w", name, err)
	}
	ok = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("persist %s: fsync state dir: %w", name, err)
	}
	removeStaleTemps(dir, name)
	return nil
}

// syncDir makes the rename durable: without it a power loss can forget the new directory entry.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// removeStaleTemps deletes temporary files a crashed Save left behind. Errors are ignored: the
// leftovers are harmless because Load never reads them.
func removeStaleTemps(dir, name string) {
	matches, _ := filepath.Glob(filepath.Join(dir, "."+name+".tmp-*"))
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil && time.Since(st.ModTime()) > staleTemp {
			os.Remove(m)
		}
	}
}

// Load reads <dir>/<name>.json into v. It returns found=false and no error when nothing was
// saved yet; a file that exists but does not decode is an error (found=true) so that callers can
// tell "never saved" from "damaged".
func Load(dir, name string, v any) (found bool, err error) {
	if err := checkName(name); err != nil {
		return false, err
	}
	data, err := os.ReadFile(Path(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("persist %s: read: %w", name, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return true, fmt.Errorf("persist %s: decode %s: %w", name, Path(dir, name), err)
	}
	return true, nil
}
