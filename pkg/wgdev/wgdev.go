// Package wgdev runs userspace WireGuard devices (golang.zx2c4.com/wireguard on a TUN device)
// inside the agent process, for kernels without the WireGuard module. Each device serves the
// UAPI socket /var/run/wireguard/NAME.sock, so wgctrl (and `wg show`) configure and read it
// exactly like a kernel device. A device can live in another network namespace: its TUN, its
// UDP sockets and its link-event socket are all opened from a thread inside that namespace.
package wgdev

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"

	"github.com/go-logr/logr"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/ipc"
	"golang.zx2c4.com/wireguard/tun"
)

// SocketDir is where wireguard-go and wgctrl put and look for UAPI sockets. It is shared by all
// network namespaces, so device names must be unique across namespaces.
const SocketDir = "/var/run/wireguard"

// DefaultMTU is the MTU a device gets when none is asked for (wireguard-go's default, 1420).
const DefaultMTU = device.DefaultMTU

// Manager owns the userspace devices of one agent. Devices live until Remove or Close; the zero
// value is not usable, use NewManager.
type Manager struct {
	log logr.Logger

	mu   sync.Mutex
	devs map[string]*Device
}

// NewManager returns a manager that logs through log (wireguard-go's own messages at V(2)).
func NewManager(log logr.Logger) *Manager {
	return &Manager{log: log, devs: map[string]*Device{}}
}

// Device is one running userspace WireGuard device.
type Device struct {
	name  string
	index int
	ns    netns.NsHandle // our duplicate of the namespace handle; -1 for the agent's own

	dev  *device.Device
	uapi net.Listener

	connMu sync.Mutex
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup // accept loop and UAPI handlers
}

// Name is the interface name.
func (d *Device) Name() string { return d.name }

// Index is the kernel interface index of the device's TUN.
func (d *Device) Index() int { return d.index }

// Create starts a userspace device called name with the given MTU (0: DefaultMTU) in the
// network namespace ns (a closed handle, e.g. netns.None(), means the agent's own). The TUN is
// created down; the caller configures it through wgctrl and sets it up through netlink. It fails
// if the manager already runs a device of that name.
func (m *Manager) Create(ns netns.NsHandle, name string, mtu int) (*Device, error) {
	if mtu == 0 {
		mtu = DefaultMTU
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.devs[name]; ok {
		return nil, fmt.Errorf("wireguard device %s: already running", name)
	}
	own := netns.None()
	if ns.IsOpen() {
		fd, err := unix.FcntlInt(uintptr(ns), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("wireguard device %s: keep namespace handle: %w", name, err)
		}
		own = netns.NsHandle(fd)
	}
	d, err := m.start(own, name, mtu)
	if err != nil {
		if own.IsOpen() {
			own.Close()
		}
		return nil, fmt.Errorf("wireguard device %s: %w", name, err)
	}
	m.devs[name] = d
	return d, nil
}

func (m *Manager) start(ns netns.NsHandle, name string, mtu int) (*Device, error) {
	var t tun.Device
	var index int
	err := Do(ns, func() error {
		var err error
		t, err = tun.CreateTUN(name, mtu)
		if err != nil {
			return fmt.Errorf("create tun: %w", err)
		}
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			t.Close()
			return fmt.Errorf("find tun: %w", err)
		}
		index = ifi.Index
		return nil
	})
	if err != nil {
		return nil, err
	}
	log := m.log.WithValues("interface", name)
	logger := &device.Logger{
		Verbosef: func(format string, args ...any) { log.V(2).Info(fmt.Sprintf(format, args...)) },
		Errorf: func(format string, args ...any) {
			log.V(1).Info("wireguard-go error", "error", fmt.Sprintf(format, args...))
		},
	}
	dev := device.NewDevice(&nsTUN{Device: t, ns: ns}, &nsBind{Bind: conn.NewDefaultBind(), ns: ns}, logger)
	file, err := uapiOpen(name)
	if err != nil {
		dev.Close()
		return nil, fmt.Errorf("open uapi socket: %w", err)
	}
	l, err := ipc.UAPIListen(name, file)
	file.Close() // UAPIListen dups it
	if err != nil {
		dev.Close()
		os.Remove(filepath.Join(SocketDir, name+".sock"))
		return nil, fmt.Errorf("listen on uapi socket: %w", err)
	}
	d := &Device{name: name, index: index, ns: ns, dev: dev, uapi: l, conns: map[net.Conn]struct{}{}}
	d.wg.Add(1)
	go d.serveUAPI()
	return d, nil
}

// serveUAPI hands each UAPI connection to the device. ipc's listener reports exactly two errors
// in its life (socket file gone, listener closed); waiting for both lets its goroutines finish.
func (d *Device) serveUAPI() {
	defer d.wg.Done()
	errs := 0
	for errs < 2 {
		c, err := d.uapi.Accept()
		if err != nil {
			errs++
			continue
		}
		d.connMu.Lock()
		if d.conns == nil { // closing
			d.connMu.Unlock()
			c.Close()
			continue
		}
		d.conns[c] = struct{}{}
		d.connMu.Unlock()
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.dev.IpcHandle(c) // closes c
			d.connMu.Lock()
			delete(d.conns, c)
			d.connMu.Unlock()
		}()
	}
}

// close stops the device: its TUN interface disappears with it.
func (d *Device) close() {
	d.uapi.Close()
	d.connMu.Lock()
	for c := range d.conns {
		c.Close()
	}
	d.conns = nil
	d.connMu.Unlock()
	d.dev.Close()
	d.wg.Wait()
	if d.ns.IsOpen() {
		d.ns.Close()
	}
}

// Get returns the running device called name, or nil.
func (m *Manager) Get(name string) *Device {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.devs[name]
}

// Names lists the running devices, sorted.
func (m *Manager) Names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.devs))
}

// Remove stops the device called name (its interface disappears). It reports whether a device
// was running.
func (m *Manager) Remove(name string) bool {
	m.mu.Lock()
	d := m.devs[name]
	delete(m.devs, name)
	m.mu.Unlock()
	if d == nil {
		return false
	}
	d.close()
	return true
}

// Close stops every device.
func (m *Manager) Close() error {
	for _, n := range m.Names() {
		m.Remove(n)
	}
	return nil
}

// nsBind opens the device's UDP sockets from a thread inside the device's namespace: wireguard-go
// opens them whenever the device goes up or its port changes, from whatever goroutine did that.
type nsBind struct {
	conn.Bind
	ns netns.NsHandle
}

// Open implements conn.Bind.
func (b *nsBind) Open(port uint16) (fns []conn.ReceiveFunc, actual uint16, err error) {
	err = Do(b.ns, func() error {
		var err error
		fns, actual, err = b.Bind.Open(port)
		return err
	})
	return fns, actual, err
}

// nsTUN asks the TUN's MTU from inside its namespace: wireguard-go looks it up by name through
// a socket opened by the calling thread.
type nsTUN struct {
	tun.Device
	ns netns.NsHandle
}

// MTU implements tun.Device.
func (t *nsTUN) MTU() (mtu int, err error) {
	err = Do(t.ns, func() error {
		var err error
		mtu, err = t.Device.MTU()
		return err
	})
	return mtu, err
}

// errTainted marks a thread that could not be moved back to its namespace.
type errTainted struct{ error }

func (e errTainted) Unwrap() error { return e.error }

// Do runs fn on a fresh OS thread inside the network namespace ns and waits for it; with a closed
// handle (netns.None()) it just runs fn. Sockets and TUN devices fn creates stay in ns for their
// life. A thread that cannot be moved back is left locked, so the runtime discards it.
func Do(ns netns.NsHandle, fn func() error) error {
	if !ns.IsOpen() {
		return fn()
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := doLocked(ns, fn)
		var tainted errTainted
		if !errors.As(err, &tainted) {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}

func doLocked(ns netns.NsHandle, fn func() error) error {
	orig, err := netns.Get()
	if err != nil {
		return fmt.Errorf("get thread namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		return fmt.Errorf("enter namespace: %w", err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		return errTainted{errors.Join(ferr, fmt.Errorf("restore thread namespace: %w", err))}
	}
	return ferr
}

// uapiOpen creates the UAPI socket like ipc.UAPIOpen, without its process-wide umask change
// (which would race with files other goroutines of the agent create). The socket is born with
// the process umask, where nobody else may connect (that needs write permission), and is then
// narrowed to 0600. A stale socket nobody answers on is replaced; a live one is an error.
func uapiOpen(name string) (*os.File, error) {
	if err := os.MkdirAll(SocketDir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(SocketDir, name+".sock")
	addr := &net.UnixAddr{Name: path, Net: "unix"}
	l, err := net.ListenUnix("unix", addr)
	if err != nil {
		if c, derr := net.Dial("unix", path); derr == nil {
			c.Close()
			return nil, fmt.Errorf("uapi socket %s is in use", path)
		}
		if rerr := os.Remove(path); rerr != nil && !os.IsNotExist(rerr) {
			return nil, rerr
		}
		if l, err = net.ListenUnix("unix", addr); err != nil {
			return nil, err
		}
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	f, err := l.File()
	l.SetUnlinkOnClose(false) // the socket lives on in f
	l.Close()
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	return f, nil
}
