package birdprotocol

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// fileState is what is on disk at one managed path.
type fileState struct {
	content []byte
	exists  bool
	// managed says the first line carries edgeagent's header for this very key.
	managed bool
	// adoptable says the file carries a header of another manager the operator allowed us to
	// take over (AdoptHeaders); it may be overwritten but is never removed as an orphan.
	adoptable bool
}

// readFile reads path and classifies it.
func (r *Reconciler) readFile(path, key string) (fileState, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fileState{}, nil
	}
	if err != nil {
		return fileState{}, fmt.Errorf("read %s: %w", path, err)
	}
	first, _, _ := bytes.Cut(b, []byte("\n"))
	fs := fileState{content: b, exists: true}
	fs.managed = headerKey(string(first)) == key
	if !fs.managed {
		for _, h := range r.opts.AdoptHeaders {
			if h != "" && strings.Contains(string(first), h) {
				fs.adoptable = true
			}
		}
	}
	return fs, nil
}

// headerKey returns the key named by an edgeagent header line, or "".
func headerKey(line string) string {
	k, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), headerPrefix)
	if !ok {
		return ""
	}
	return strings.TrimSpace(k)
}

// managedKeys lists the keys of the managed files in dir: <key>.conf whose first line is the
// header naming that same key.
func managedKeys(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var keys []string
	for _, e := range ents {
		key, ok := strings.CutSuffix(e.Name(), ".conf")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // vanished or unreadable: not ours to judge
		}
		line, _ := bufio.NewReader(f).ReadString('\n')
		f.Close()
		if headerKey(line) == key {
			keys = append(keys, key)
		}
	}
	return keys, nil
}

// writeAtomic replaces path with data through a temporary file in the same directory and a
// rename, so BIRD never reads a half-written file. The temporary name does not end in .conf, so
// an include glob never matches it. It does not fsync: a batch syncs its directory's filesystem
// once (syncDir), because one fsync per file made a 1,000-file batch take seconds.
func writeAtomic(path string, data []byte) error {
	dir, base := filepath.Split(path)
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// removeFile removes path; a missing file is not an error.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

// syncDir flushes the filesystem holding dir (syncfs), making a whole batch of writes durable
// with one call.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
