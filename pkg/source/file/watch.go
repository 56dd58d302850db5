package file

import (
	"context"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// watchChanges asks inotify to report changes to path (the directory itself, or the directory
// holding the file, because editors and config management replace files by rename). Every event
// is a hint to poll now; polling every Interval stays the fallback, so a failed or lost watch
// (path missing at start, directory replaced) only delays a reload. The returned channel is
// closed when the watch ends; stop releases it.
func watchChanges(ctx context.Context, path string) (<-chan struct{}, func()) {
	dir := path
	if st, err := os.Stat(path); err != nil || !st.IsDir() {
		dir = filepath.Dir(path)
	}
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, func() {}
	}
	const mask = unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_CREATE |
		unix.IN_DELETE | unix.IN_ATTRIB | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF
	if _, err := unix.InotifyAddWatch(fd, dir, mask); err != nil {
		unix.Close(fd)
		return nil, func() {}
	}
	// A non-blocking descriptor goes through Go's poller, so Close interrupts Read.
	f := os.NewFile(uintptr(fd), "inotify:"+dir)
	ch := make(chan struct{}, 1)
	go func() {
		defer close(ch)
		buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
		for {
			if _, err := f.Read(buf); err != nil {
				return
			}
			select {
			case ch <- struct{}{}:
			default: // a poll is already pending
			}
		}
	}()
	stopCtx := context.AfterFunc(ctx, func() { f.Close() })
	return ch, func() {
		stopCtx()
		f.Close()
		for range ch {
		}
	}
}
