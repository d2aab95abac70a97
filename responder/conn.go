package responder

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// Conn is the responder's view of a raw packet socket on the uplink: it
// reads whole Ethernet frames with the kernel's packet type and writes
// whole frames. ListenPacket returns the live implementation; tests use a
// simulated one.
type Conn interface {
	// ReadFrame blocks until a frame arrives, copies it into b and returns
	// its length and packet type. After Close it returns net.ErrClosed.
	ReadFrame(b []byte) (n int, t PacketType, err error)
	// WriteFrame sends one complete Ethernet frame out of the interface.
	WriteFrame(b []byte) error
	// Close releases the socket and unblocks ReadFrame.
	Close() error
}

// RecvBufferSize is the receive buffer ListenPacket asks for (with
// SO_RCVBUFFORCE, which needs CAP_NET_ADMIN; otherwise SO_RCVBUF, capped by
// net.core.rmem_max). The kernel default of about 208 KiB loses much of a
// request flood before the responder gets to read it.
const RecvBufferSize = 8 << 20

// pollInterval bounds how long ReadFrame sleeps in poll(2) before it looks
// whether Close was called.
const pollInterval = 200 * time.Millisecond

// packetConn is the live Conn: an AF_PACKET SOCK_RAW socket bound to one
// interface for EtherType ARP, with Filter attached before bind.
//
// Reads do not go through Go's netpoller (what packet.Conn.ReadFrom uses):
// measured on these machines that costs 65-90 us per request, against
// 23-45 us for a thread that blocks in the kernel itself. ReadFrame
// therefore blocks its (locked) OS thread in poll(2) and reads what is
// queued with one recvmmsg(2), up to readBatch frames, handing them out one
// per call. Replies are written with write(2): a packet socket bound to an
// interface and protocol needs no destination address.
type packetConn struct {
	c      *packet.Conn
	rc     syscall.RawConn
	closed atomic.Bool

	// The functions handed to rc.Control are built once, with their
	// arguments and results in these fields: a closure literal per call
	// would escape to the heap, an allocation per frame.
	//
	// Read state: ReadFrame has one caller at a time (the serve loop).
	readFn func(fd uintptr)
	rerr   error
	batch  *frameBatch // frames read by one recvmmsg, handed out one by one
	// Write state: replies and announcements are written from two
	// goroutines.
	wmu     sync.Mutex
	writeFn func(fd uintptr)
	wbuf    []byte
	werr    error
}

var _ Conn = (*packetConn)(nil)

// ListenPacket opens the live Conn on ifi. Errors for missing privileges
// wrap os.ErrPermission.
func ListenPacket(ifi *net.Interface) (Conn, error) {
	filter, err := Filter()
	if err != nil {
		return nil, err
	}
	c, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, &packet.Config{Filter: filter})
	if err != nil {
		return nil, fmt.Errorf("open packet socket on %s: %w", ifi.Name, err)
	}
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("packet socket on %s: %w", ifi.Name, err)
	}
	pc := &packetConn{c: c, rc: rc, batch: newFrameBatch()}
	pc.readFn, pc.writeFn = pc.read, pc.write
	if err := pc.setRecvBuffer(RecvBufferSize); err != nil {
		c.Close()
		return nil, fmt.Errorf("set receive buffer on %s: %w", ifi.Name, err)
	}
	return pc, nil
}

func (pc *packetConn) setRecvBuffer(size int) error {
	var serr error
	err := pc.rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size)
		if errors.Is(serr, unix.EPERM) {
			// Without CAP_NET_ADMIN: take what net.core.rmem_max allows.
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, size)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

func (pc *packetConn) ReadFrame(b []byte) (int, PacketType, error) {
	for {
		if pc.closed.Load() {
			return 0, 0, net.ErrClosed
		}
		if n, ptype, ok := pc.batch.pop(b); ok {
			return n, ptype, nil
		}
		cerr := pc.rc.Control(pc.readFn)
		rerr := pc.rerr
		switch {
		case cerr != nil:
			if pc.closed.Load() {
				return 0, 0, net.ErrClosed
			}
			return 0, 0, cerr
		case rerr == nil || rerr == unix.EAGAIN || rerr == unix.EINTR:
			continue
		default:
			return 0, 0, os.NewSyscallError("recvmmsg", rerr)
		}
	}
}

// read runs under rc.Control: poll(2) until a frame is queued or
// pollInterval passes, then one recvmmsg(2) into the batch. Under a flood
// poll returns at once and each recvmmsg brings up to readBatch frames;
// with one request in flight it is two system calls per request where
// recvfrom(MSG_DONTWAIT), poll, recvfrom made three.
func (pc *packetConn) read(fd uintptr) {
	fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if _, perr := unix.Poll(fds[:], int(pollInterval/time.Millisecond)); perr != nil {
		pc.rerr = perr
		return
	}
	if fds[0].Revents == 0 {
		pc.rerr = unix.EAGAIN
		return
	}
	// On POLLERR recvmmsg reports the socket error (ENETDOWN).
	pc.rerr = pc.batch.recv(int(fd))
}

func (pc *packetConn) WriteFrame(b []byte) error {
	pc.wmu.Lock()
	defer pc.wmu.Unlock()
	pc.wbuf = b
	cerr := pc.rc.Control(pc.writeFn)
	pc.wbuf = nil
	if cerr != nil {
		return cerr
	}
	if pc.werr != nil {
		return os.NewSyscallError("write", pc.werr)
	}
	return nil
}

// write runs under rc.Control: write(2), and once more after a short wait
// when the transmit queue is full.
func (pc *packetConn) write(fd uintptr) {
	for try := 0; try < 2; try++ {
		_, pc.werr = unix.Write(int(fd), pc.wbuf)
		if pc.werr != unix.EAGAIN && pc.werr != unix.ENOBUFS {
			return
		}
		fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		unix.Poll(fds[:], 10)
	}
}

func (pc *packetConn) Close() error {
	pc.closed.Store(true)
	return pc.c.Close()
}

// CheckPermission opens and closes an unbound packet socket, so that a
// missing CAP_NET_RAW is reported at start-up, before the uplink exists,
// instead of after a wait. It returns an error wrapping ErrPermission when
// the socket is refused for lack of privilege.
func CheckPermission() error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return ErrPermission
		}
		return fmt.Errorf("open packet socket: %w", err)
	}
	unix.Close(fd)
	return nil
}
