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
	"golang.org/x/net/bpf"
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
// net.core.rmem_max). It is a cap, not an allocation: memory is only taken
// while requests wait to be read. The kernel default of about 208 KiB
// loses much of a request flood before the responder gets to read it; with
// 8 MiB (about 10k queued requests, each costing ~800 bytes of kernel
// memory on veth) an unpaced 50k burst still lost 10% here, while the
// generator outran the responder's 68k replies/s; 32 MiB holds such a
// burst.
const RecvBufferSize = 32 << 20

// pollInterval bounds how long a read sleeps in the kernel (SO_RCVTIMEO,
// or poll's timeout for the ring) before it looks whether Close was called.
const pollInterval = 200 * time.Millisecond

// warmPollInterval is how long a read sleeps in the kernel at most while
// the Conn is warm (ListenOptions.KeepWarm): under the 10 ms after which
// Go's sysmon takes a processor (P) from a thread in a system call.
const warmPollInterval = 5 * time.Millisecond

// packetConn is the live Conn without ListenOptions.Ring: an AF_PACKET SOCK_RAW socket
// bound to one interface for EtherType ARP, with Filter attached before
// bind (mdlayher/packet opens it), or for EtherType IPv6 with NDPFilter
// (ListenOptions.Proto).
//
// Reads go through neither Go's netpoller (what packet.Conn.ReadFrom
// uses: measured on these machines 65-90 us per request, against 23-45 us
// for a thread that blocks in the kernel itself) nor poll(2): the socket is
// in blocking mode, out of the netpoller (openPacket), and ReadFrame's
// (locked) OS thread sleeps in recvmmsg(2) itself, which takes up to readBatch queued frames at once
// (MSG_WAITFORONE) and hands them out one per call. A minimal loop over
// this Conn answered sporadic requests 10-15% sooner than one sleeping in
// poll(2); inside serve, with its other goroutines, the ring (ringConn)
// measured faster, and is serve's default (docs/BENCHMARKS.md).
// SO_RCVTIMEO wakes the thread every pollInterval to notice Close.
//
// After a frame that came within the busy-poll window of the one before
// (ListenOptions.BusyPoll), the next read first spins on non-blocking
// recvmmsg calls for up to the window, so back-to-back requests are
// answered without waking a thread.
//
// Replies are sent with send(2) (see writeRetry): a packet socket bound to
// an interface and protocol needs no destination address.
type packetConn struct {
	f      *os.File // the socket (see openPacket)
	rc     syscall.RawConn
	closed atomic.Bool

	// The functions handed to rc.Control are built once, with their
	// arguments and results in these fields: a closure literal per call
	// would escape to the heap, an allocation per frame.
	//
	// Read state: ReadFrame has one caller at a time (the serve loop).
	readFn    func(fd uintptr)
	rerr      error
	batch     *frameBatch // frames read by one recvmmsg, handed out one by one
	warm      warmth
	spinUntil time.Time     // spin (non-blocking reads) until then, if set
	timeout   time.Duration // the next blocking read's SO_RCVTIMEO
	curTO     time.Duration // the socket's SO_RCVTIMEO now
	w         frameWriter
}

var _ Conn = (*packetConn)(nil)

// ListenPacket opens the live Conn on ifi with the default options (serve's
// defaults): a receive ring, a busy-poll window of DefaultBusyPoll and
// DefaultKeepWarm.
// Errors for missing privileges wrap os.ErrPermission.
func ListenPacket(ifi *net.Interface) (Conn, error) {
	return ListenPacketWith(ifi, ListenOptions{BusyPoll: DefaultBusyPoll, Ring: true, KeepWarm: DefaultKeepWarm})
}

// DefaultBusyPoll is the busy-poll window ListenPacket uses (serve
// --busy-poll): see ListenOptions.BusyPoll.
const DefaultBusyPoll = 2 * time.Millisecond

// ListenOptions tune the live socket ListenPacketWith opens.
type ListenOptions struct {
	// BusyPoll is the longest the reading thread keeps polling the ring in
	// memory for the next frame, instead of sleeping in poll(2), and only
	// after a frame that came less than BusyPoll after the one before it:
	// requests arriving back to back are then answered without waking a
	// thread (a few microseconds instead of tens), while sporadic requests
	// and an idle uplink cost nothing. It costs up to one CPU while
	// requests keep arriving more often than every BusyPoll. Zero never
	// spins.
	BusyPoll time.Duration
	// Ring reads from a memory-mapped receive ring (PACKET_RX_RING,
	// TPACKET_V2) instead of blocking in recvmmsg(2): frames are read
	// without system calls, busy polling spins on memory, and the thread
	// sleeps in poll(2). ListenPacket (and serve) use it. An ARP ring's
	// slots hold 62 bytes of frame (a request is 42, 60 padded), an NDP
	// ring's 958 (a solicitation is 78 to 86 with its usual option).
	Ring bool
	// Proto is what the socket reads: ProtoARP (the zero value) binds it
	// to EtherType ARP with Filter, ProtoNDP to EtherType IPv6 with
	// NDPFilter (Neighbor Solicitations only).
	Proto Proto
	// KeepWarm is how long after a frame the reading thread keeps its
	// sleeps in the kernel short (warmPollInterval, 5 ms, instead of 200
	// ms). Go's scheduler takes the processor (P) from a thread that has
	// been in a system call for 10 ms, and once every P is idle its
	// monitor thread (sysmon) sleeps until woken: the reader woken by a
	// request then first has to wake sysmon (a futex call and, on a
	// virtual machine, an inter-processor interrupt) before it may run Go
	// code and answer. Returning to Go every 5 ms keeps the P: a request
	// that comes within KeepWarm of the one before is answered without
	// waking another thread (measured: docs/BENCHMARKS.md). It costs about
	// 200 wake-ups per second of the reader, plus sysmon's 100, while warm;
	// an idle uplink goes back to the long sleeps after KeepWarm. Zero:
	// never.
	KeepWarm time.Duration
}

// DefaultKeepWarm is the KeepWarm ListenPacket uses (serve --keep-warm).
const DefaultKeepWarm = time.Second

// warmth tracks when the last frame was read, for the busy-poll window and
// KeepWarm.
type warmth struct {
	busyPoll time.Duration
	keepWarm time.Duration
	last     time.Time // when the previous frame was read
	spinNext bool      // it came within busyPoll of the one before
}

// frame records a frame read now.
func (w *warmth) frame() {
	if w.busyPoll <= 0 && w.keepWarm <= 0 {
		return
	}
	now := time.Now()
	// Spin for the next frame only when this one came back to back with
	// the one before: a lone request, or requests further apart than the
	// window, never make the thread spin.
	w.spinNext = w.busyPoll > 0 && !w.last.IsZero() && now.Sub(w.last) <= w.busyPoll
	w.last = now
}

// spinUntil is when spinning for the next frame ends (zero: no spinning).
func (w *warmth) spinUntil() time.Time {
	if !w.spinNext {
		return time.Time{}
	}
	return w.last.Add(w.busyPoll)
}

// sleep is the longest the next sleep in the kernel may last.
func (w *warmth) sleep() time.Duration {
	if w.keepWarm > 0 && !w.last.IsZero() && time.Since(w.last) < w.keepWarm {
		return warmPollInterval
	}
	return pollInterval
}

// ListenPacketWith opens the live Conn on ifi with the given options.
// Errors for missing privileges wrap os.ErrPermission.
func ListenPacketWith(ifi *net.Interface, o ListenOptions) (Conn, error) {
	w := warmth{busyPoll: max(o.BusyPoll, 0), keepWarm: max(o.KeepWarm, 0)}
	if !o.Ring {
		return listenBatch(ifi, o.Proto, w)
	}
	return listenRing(ifi, o.Proto, w)
}

// ListenNDP opens the live Conn for Neighbor Solicitations on ifi with the
// default options (ListenPacket's, with Proto ProtoNDP).
func ListenNDP(ifi *net.Interface) (Conn, error) {
	return ListenPacketWith(ifi, ListenOptions{BusyPoll: DefaultBusyPoll, Ring: true, KeepWarm: DefaultKeepWarm, Proto: ProtoNDP})
}

// openPacket opens the AF_PACKET socket of proto on ifi, its filter
// attached before bind, and takes it out of Go's network poller: the
// socket is read only by a locked thread blocking in the kernel (poll(2) on
// the ring, recvmmsg(2)), never through the netpoller, but mdlayher/packet
// registers it there (epoll), and every frame the filter passes then also
// woke the runtime's thread waiting in epoll_wait. On a host with few CPUs
// that thread competed with the reader for a CPU at the very moment a
// request came in: tens of microseconds per sporadic request (measured:
// docs/BENCHMARKS.md, notes). So the socket is duplicated, the packet.Conn
// closed (Go removes its descriptor from epoll and closes it; the socket
// lives on in the duplicate) and the duplicate, in blocking mode, wrapped
// in an *os.File, which never registers a blocking descriptor with the
// poller. The File's RawConn keeps the descriptor open while a Control
// call runs on it, so Close during a read is safe.
func openPacket(ifi *net.Interface, proto Proto) (*os.File, syscall.RawConn, error) {
	var (
		etherType = uint16(unix.ETH_P_ARP)
		filter    []bpf.RawInstruction
		err       error
	)
	switch proto {
	case ProtoARP:
		filter, err = Filter()
	case ProtoNDP:
		etherType = unix.ETH_P_IPV6
		filter, err = NDPFilter()
	default:
		return nil, nil, fmt.Errorf("open packet socket on %s: unknown protocol %d", ifi.Name, proto)
	}
	if err != nil {
		return nil, nil, err
	}
	c, err := packet.Listen(ifi, packet.Raw, int(etherType), &packet.Config{Filter: filter})
	if err != nil {
		return nil, nil, fmt.Errorf("open %s packet socket on %s: %w", proto, ifi.Name, err)
	}
	f, err := detach(c)
	if err != nil {
		return nil, nil, fmt.Errorf("packet socket on %s: %w", ifi.Name, err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("packet socket on %s: %w", ifi.Name, err)
	}
	return f, rc, nil
}

// detach moves c's socket out of Go's network poller (see openPacket): it
// returns a blocking duplicate of c's descriptor as an *os.File, and
// closes c.
func detach(c *packet.Conn) (*os.File, error) {
	defer c.Close()
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var nfd int
	if err := control(rc, func(fd int) error {
		var err error
		nfd, err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		return os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", err)
	}); err != nil {
		return nil, err
	}
	// O_NONBLOCK belongs to the socket, shared by both descriptors: once
	// it is clear, os.NewFile sees a blocking descriptor and leaves it out
	// of the poller.
	if err := unix.SetNonblock(nfd, false); err != nil {
		unix.Close(nfd)
		return nil, os.NewSyscallError("clear O_NONBLOCK", err)
	}
	return os.NewFile(uintptr(nfd), "packet"), nil
}

// control runs f on rc's file descriptor and returns f's error, or
// Control's when the socket is already closed.
func control(rc syscall.RawConn, f func(fd int) error) error {
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// listenBatch opens the Conn that reads with recvmmsg.
func listenBatch(ifi *net.Interface, proto Proto, warm warmth) (Conn, error) {
	f, rc, err := openPacket(ifi, proto)
	if err != nil {
		return nil, err
	}
	pc := &packetConn{f: f, rc: rc, batch: newFrameBatch(), warm: warm}
	pc.readFn = pc.read
	pc.w.init(rc)
	if err := pc.setRecvBuffer(RecvBufferSize); err != nil {
		f.Close()
		return nil, fmt.Errorf("set receive buffer on %s: %w", ifi.Name, err)
	}
	if err := pc.setRecvTimeout(); err != nil {
		f.Close()
		return nil, fmt.Errorf("packet socket on %s: %w", ifi.Name, err)
	}
	return pc, nil
}

// setRecvTimeout bounds each blocking read (openPacket left the socket in
// blocking mode) with SO_RCVTIMEO, so that the reader notices Close.
func (pc *packetConn) setRecvTimeout() error {
	return control(pc.rc, func(fd int) error {
		if err := setRcvTimeo(fd, pollInterval); err != nil {
			return fmt.Errorf("SO_RCVTIMEO: %w", err)
		}
		pc.curTO = pollInterval
		return nil
	})
}

func setRcvTimeo(fd int, d time.Duration) error {
	tv := unix.NsecToTimeval(d.Nanoseconds())
	return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
}

func (pc *packetConn) setRecvBuffer(size int) error {
	return control(pc.rc, func(fd int) error {
		err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size)
		if errors.Is(err, unix.EPERM) {
			// Without CAP_NET_ADMIN: take what net.core.rmem_max allows.
			err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, size)
		}
		return err
	})
}

func (pc *packetConn) ReadFrame(b []byte) (int, PacketType, error) {
	pc.spinUntil = pc.warm.spinUntil()
	for {
		if pc.closed.Load() {
			return 0, 0, net.ErrClosed
		}
		if n, ptype, ok := pc.batch.pop(b); ok {
			pc.warm.frame()
			return n, ptype, nil
		}
		pc.timeout = pc.warm.sleep()
		if err := sleepResult(pc.rc.Control(pc.readFn), pc.rerr, &pc.closed, "recvmmsg"); err != nil {
			return 0, 0, err
		}
	}
}

// sleepResult is what a live Conn's ReadFrame makes of one sleep in the
// kernel (fn run under RawConn.Control, its result rerr): nil to look for
// frames again (one came, or the sleep timed out or was interrupted),
// net.ErrClosed after Close, else the error, named after syscall.
func sleepResult(cerr, rerr error, closed *atomic.Bool, syscall string) error {
	switch {
	case cerr != nil:
		if closed.Load() {
			return net.ErrClosed
		}
		return cerr
	case rerr == nil || rerr == unix.EAGAIN || rerr == unix.EINTR:
		return nil
	default:
		return os.NewSyscallError(syscall, rerr)
	}
}

// read runs under rc.Control: while spinUntil is ahead, non-blocking
// recvmmsg calls until one brings frames; then (or at once) one blocking
// recvmmsg, which returns the frames queued once the first is there, or
// EAGAIN after timeout (SO_RCVTIMEO, set when it changes). A socket error
// (ENETDOWN when the interface went down or away) ends either.
func (pc *packetConn) read(fd uintptr) {
	for !pc.spinUntil.IsZero() {
		pc.rerr = pc.batch.recv(int(fd), unix.MSG_DONTWAIT)
		if pc.rerr != unix.EAGAIN || pc.closed.Load() {
			return
		}
		if !time.Now().Before(pc.spinUntil) {
			pc.spinUntil = time.Time{}
		}
	}
	if pc.timeout != pc.curTO {
		if pc.rerr = setRcvTimeo(int(fd), pc.timeout); pc.rerr != nil {
			return
		}
		pc.curTO = pc.timeout
	}
	pc.rerr = pc.batch.recv(int(fd), unix.MSG_WAITFORONE)
}

func (pc *packetConn) WriteFrame(b []byte) error { return pc.w.writeFrame(b) }

// frameWriter writes whole frames on a packet socket for both live Conns.
// Replies and announcements are written from two goroutines, hence the
// lock; the function handed to RawConn.Control is built once, with its
// argument and result in fields, so that a write allocates nothing.
type frameWriter struct {
	rc  syscall.RawConn
	mu  sync.Mutex
	fn  func(fd uintptr)
	buf []byte
	err error
}

// init binds w to rc; w must not move after (the Conns hold it by value).
func (w *frameWriter) init(rc syscall.RawConn) {
	w.rc = rc
	w.fn = w.write
}

func (w *frameWriter) writeFrame(b []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = b
	cerr := w.rc.Control(w.fn)
	w.buf = nil
	if cerr != nil {
		return cerr
	}
	if w.err != nil {
		return os.NewSyscallError("send", w.err)
	}
	return nil
}

// write runs under rc.Control.
func (w *frameWriter) write(fd uintptr) { w.err = writeRetry(int(fd), w.buf) }

// writeRetry sends one frame with send(MSG_DONTWAIT), and once more after
// a short wait when the transmit queue is full. MSG_DONTWAIT because the
// socket itself is in blocking mode (for its reads): a reply must never
// wait for room in the transmit queue.
func writeRetry(fd int, b []byte) error {
	var err error
	for try := 0; try < 2; try++ {
		if err = unix.Sendto(fd, b, unix.MSG_DONTWAIT, nil); err == nil {
			return nil
		}
		if err != unix.EAGAIN && err != unix.ENOBUFS {
			return err
		}
		fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		unix.Poll(fds[:], 10)
	}
	return err
}

// SocketStats are a packet socket's counters since they were last read.
type SocketStats struct {
	// Frames is how many frames passed the socket's filter.
	Frames uint64
	// Drops is how many of them were lost because the receive ring or
	// buffer was full.
	Drops uint64
}

// StatsConn is implemented by Conns that can report SocketStats (the live
// ones). Reading the kernel's counters resets them.
type StatsConn interface {
	Stats() (SocketStats, error)
}

// Stats reports the socket's counters (PACKET_STATISTICS).
func (pc *packetConn) Stats() (SocketStats, error) { return socketStats(pc.rc) }

// socketStats reads and resets PACKET_STATISTICS. tp_packets counts the
// dropped frames too.
func socketStats(rc syscall.RawConn) (SocketStats, error) {
	var st *unix.TpacketStats
	err := control(rc, func(fd int) error {
		var err error
		if st, err = unix.GetsockoptTpacketStats(fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err != nil {
			return os.NewSyscallError("getsockopt PACKET_STATISTICS", err)
		}
		return nil
	})
	if err != nil {
		return SocketStats{}, err
	}
	return SocketStats{Frames: uint64(st.Packets), Drops: uint64(st.Drops)}, nil
}

func (pc *packetConn) Close() error {
	pc.closed.Store(true)
	return pc.f.Close()
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
