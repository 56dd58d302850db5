package dnsserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batch is how many datagrams one recvmmsg/sendmmsg call moves.
const batch = 32

// bufSize bounds a UDP query and answer.
const bufSize = 4096

// listenUDP opens n SO_REUSEPORT sockets on addr; the kernel spreads clients over them.
func listenUDP(ctx context.Context, addr string, n int) ([]*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			if serr == nil {
				// A deep receive queue absorbs bursts; failure only costs drops under load.
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	var conns []*net.UDPConn
	for i := 0; i < n; i++ {
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			for _, c := range conns {
				_ = c.Close()
			}
			return nil, fmt.Errorf("listen udp %s: %w", addr, err)
		}
		c := pc.(*net.UDPConn)
		conns = append(conns, c)
		if i == 0 {
			// The other sockets join the port the first one got (addr may say port 0).
			addr = net.JoinHostPort(hostOf(addr), fmt.Sprint(c.LocalAddr().(*net.UDPAddr).Port))
		}
	}
	return conns, nil
}

// worker serves one UDP socket: recvmmsg a batch, answer each datagram, sendmmsg the answers.
// All its buffers are allocated once.
type worker struct {
	h    handler
	conn *net.UDPConn
	raw  syscall.RawConn

	in     [batch][bufSize]byte
	out    [batch][bufSize]byte
	names  [batch]unix.RawSockaddrInet6
	inIov  [batch]unix.Iovec
	outIov [batch]unix.Iovec
	inHdr  [batch]unix.Mmsghdr
	outHdr [batch]unix.Mmsghdr

	nrecv  int
	nsend  int
	sent   int
	err    error
	readFn func(fd uintptr) bool
	sendFn func(fd uintptr) bool
}

func newWorker(s *Server, c *net.UDPConn, shard int) (*worker, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("udp socket: %w", err)
	}
	w := &worker{h: handler{s: s, shard: shard}, conn: c, raw: raw}
	for i := 0; i < batch; i++ {
		w.inIov[i].Base = &w.in[i][0]
		w.inIov[i].SetLen(bufSize)
		w.inHdr[i].Hdr.Iov = &w.inIov[i]
		w.inHdr[i].Hdr.SetIovlen(1)
		w.inHdr[i].Hdr.Name = (*byte)(unsafe.Pointer(&w.names[i]))
		w.outIov[i].Base = &w.out[i][0]
		w.outHdr[i].Hdr.Iov = &w.outIov[i]
		w.outHdr[i].Hdr.SetIovlen(1)
	}
	// The callbacks are made once: a closure per call would allocate.
	w.readFn = w.recv
	w.sendFn = w.send
	return w, nil
}

func (w *worker) recv(fd uintptr) bool {
	for i := 0; i < batch; i++ {
		w.inHdr[i].Hdr.Namelen = uint32(unsafe.Sizeof(w.names[i]))
		w.inHdr[i].Len = 0
	}
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&w.inHdr[0])), batch, unix.MSG_DONTWAIT, 0, 0)
	if errno == unix.EAGAIN || errno == unix.EINTR {
		return false
	}
	if errno != 0 {
		w.err = errno
		return true
	}
	w.nrecv, w.err = int(n), nil
	return true
}

func (w *worker) send(fd uintptr) bool {
	for w.sent < w.nsend {
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&w.outHdr[w.sent])), uintptr(w.nsend-w.sent), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			w.sent += int(n)
		case unix.EAGAIN, unix.EINTR:
			return false
		default:
			// One bad destination must not stall the batch: skip it.
			w.sent++
		}
	}
	return true
}

// run serves until the socket is closed.
func (w *worker) run() {
	for {
		w.nrecv = 0
		if err := w.raw.Read(w.readFn); err != nil {
			return // closed
		}
		if w.err != nil {
			if errors.Is(w.err, unix.EBADF) {
				return
			}
			continue
		}
		start := time.Now()
		w.nsend = 0
		for i := 0; i < w.nrecv; i++ {
			src := sockaddrAddr(&w.names[i])
			n := w.h.handle(w.in[i][:w.inHdr[i].Len], src, w.out[w.nsend][:])
			if n <= 0 {
				continue
			}
			j := w.nsend
			w.names[j], w.names[i] = w.names[i], w.names[j]
			w.outIov[j].SetLen(n)
			w.outHdr[j].Hdr.Name = (*byte)(unsafe.Pointer(&w.names[j]))
			w.outHdr[j].Hdr.Namelen = w.inHdr[i].Hdr.Namelen
			w.nsend++
		}
		if w.nsend > 0 {
			w.sent = 0
			if err := w.raw.Write(w.sendFn); err != nil {
				return
			}
		}
		w.h.s.metrics.lat[w.h.shard].observe(int64(time.Since(start)), w.nrecv)
	}
}

// sockaddrAddr returns the address of a sockaddr filled by the kernel, v4-mapped unmapped.
func sockaddrAddr(sa *unix.RawSockaddrInet6) netip.Addr {
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrFrom4(sa4.Addr)
	case unix.AF_INET6:
		return netip.AddrFrom16(sa.Addr).Unmap()
	}
	return netip.Addr{}
}
