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
	"unsafe"

	"golang.org/x/sys/unix"
)

// Receive ring geometry (PACKET_RX_RING, TPACKET_V2). A slot holds one
// frame: the 32-byte tpacket2_hdr, the sockaddr_ll, padding to the MAC
// offset (66: the network header lands 16-byte aligned at 80), then the
// frame, truncated to what is left of the slot. ARP requests are 42 bytes,
// 60 with Ethernet padding: the ARP ring's 128-byte slots hold 62 bytes of
// frame (Decide reads 42), and its 32768 slots (4 MiB, locked in memory
// when RLIMIT_MEMLOCK allows) hold about as many requests as 32 MiB of the
// plain socket's receive buffer (a queued request costs ~800 bytes there).
// A Neighbor Solicitation is 78 bytes, 86 with the source link-layer
// address option, and a truncated one would fail its checksum: the NDP
// ring's 1024-byte slots hold 958 bytes of frame, room for any option a
// solicitation carries (4096 slots, 4 MiB). Both rings are mapped whole
// (MAP_POPULATE), so they count in serve's resident memory: 8 MiB.
const (
	ringSlotSize     = 128
	ringSlots        = 32768
	ringSlotSizeNDP  = 1024
	ringSlotsNDP     = 4096
	ringBlockSize    = 1 << 16
	ringMaxSlotBytes = ringSlotSizeNDP // the largest slot, for scratch buffers
)

// Offsets in a ring slot (linux/if_packet.h): tp_status at 0, tp_snaplen
// at 8, tp_mac at 12, then struct sockaddr_ll at TPACKET_ALIGN(32), whose
// sll_pkttype is its 11th byte.
const (
	slotSnaplen = 8
	slotMac     = 12
	slotPkttype = 32 + 10
)

// ringConn is the live Conn with ListenOptions.Ring: the socket of packetConn (opened
// by mdlayher/packet with Filter attached before bind, then taken out of
// Go's netpoller: see openPacket), plus a TPACKET_V2
// receive ring mapped into memory. The kernel writes each frame that
// passes the filter into the next free slot and marks it TP_STATUS_USER;
// ReadFrame copies it out and hands the slot back (TP_STATUS_KERNEL).
// With a frame already in the ring a read costs no system call at all;
// otherwise the thread spins for up to the busy-poll window (see
// ListenOptions.BusyPoll), then sleeps in poll(2), for at most 5 ms at a
// time while warm (ListenOptions.KeepWarm), else 200 ms.
//
// Replies go out as with packetConn (frameWriter).
type ringConn struct {
	f      *os.File // the socket (see openPacket)
	rc     syscall.RawConn
	closed atomic.Bool

	ring     []byte // the mapped ring: slots slots of slotSize bytes
	slotSize int
	slots    int
	next     int // the slot the next frame will be in

	warm    warmth
	timeout int // the next poll's timeout in milliseconds

	// mu orders Close against a read in progress: the ring is unmapped
	// by whichever of the two comes last.
	mu      sync.Mutex
	reading bool

	pollFn func(fd uintptr)
	rerr   error

	w frameWriter
}

var _ Conn = (*ringConn)(nil)

// listenRing opens the Conn that reads from a receive ring.
func listenRing(ifi *net.Interface, proto Proto, warm warmth) (Conn, error) {
	f, rc, err := openPacket(ifi, proto)
	if err != nil {
		return nil, err
	}
	rg := &ringConn{f: f, rc: rc, warm: warm, slotSize: ringSlotSize, slots: ringSlots}
	if proto == ProtoNDP {
		rg.slotSize, rg.slots = ringSlotSizeNDP, ringSlotsNDP
	}
	rg.pollFn = rg.poll
	rg.w.init(rc)
	if err := rg.setup(); err != nil {
		f.Close()
		return nil, fmt.Errorf("receive ring on %s: %w", ifi.Name, err)
	}
	return rg, nil
}

// setup switches the socket to TPACKET_V2, maps a receive ring and drains
// what reached the plain receive queue between bind and now: poll(2)
// reports those too, and would never sleep while they are queued.
func (rg *ringConn) setup() error {
	return control(rg.rc, func(s int) error {
		if err := unix.SetsockoptInt(s, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
			return fmt.Errorf("PACKET_VERSION: %w", err)
		}
		req := unix.TpacketReq{
			Block_size: ringBlockSize,
			Block_nr:   uint32(rg.slots * rg.slotSize / ringBlockSize),
			Frame_size: uint32(rg.slotSize),
			Frame_nr:   uint32(rg.slots),
		}
		if err := unix.SetsockoptTpacketReq(s, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
			return fmt.Errorf("PACKET_RX_RING: %w", err)
		}
		var err error
		rg.ring, err = unix.Mmap(s, 0, rg.slots*rg.slotSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_LOCKED|unix.MAP_POPULATE)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EPERM) {
			// RLIMIT_MEMLOCK too small to lock it: an unlocked ring works
			// the same while it stays in memory.
			rg.ring, err = unix.Mmap(s, 0, rg.slots*rg.slotSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		}
		if err != nil {
			return fmt.Errorf("mmap: %w", err)
		}
		var b [ringMaxSlotBytes]byte
		for i := 0; i < 4*rg.slots; i++ {
			if _, _, err := unix.Recvfrom(s, b[:], unix.MSG_DONTWAIT); err != nil {
				break
			}
		}
		return nil
	})
}

// status returns the address of slot i's tp_status word.
func (rg *ringConn) status(i int) *uint32 {
	return (*uint32)(unsafe.Pointer(&rg.ring[i*rg.slotSize]))
}

// take copies the frame of the next slot into b and hands the slot back,
// if the kernel has filled it.
func (rg *ringConn) take(b []byte) (int, PacketType, bool) {
	st := rg.status(rg.next)
	if atomic.LoadUint32(st)&unix.TP_STATUS_USER == 0 {
		return 0, 0, false
	}
	slot := rg.ring[rg.next*rg.slotSize : (rg.next+1)*rg.slotSize]
	mac := int(*(*uint16)(unsafe.Pointer(&slot[slotMac])))
	snap := int(*(*uint32)(unsafe.Pointer(&slot[slotSnaplen])))
	var n int
	if mac < len(slot) {
		n = copy(b, slot[mac:min(mac+snap, len(slot))])
	}
	ptype := PacketType(slot[slotPkttype])
	atomic.StoreUint32(st, unix.TP_STATUS_KERNEL)
	rg.next = (rg.next + 1) % rg.slots
	return n, ptype, true
}

func (rg *ringConn) ReadFrame(b []byte) (int, PacketType, error) {
	if !rg.enter() {
		return 0, 0, net.ErrClosed
	}
	defer rg.exit()
	spinUntil := rg.warm.spinUntil()
	for {
		if rg.closed.Load() {
			return 0, 0, net.ErrClosed
		}
		if n, ptype, ok := rg.take(b); ok {
			rg.warm.frame()
			return n, ptype, nil
		}
		if !spinUntil.IsZero() {
			if rg.spin(spinUntil) {
				continue
			}
			spinUntil = time.Time{}
		}
		rg.timeout = int(rg.warm.sleep() / time.Millisecond)
		if err := sleepResult(rg.rc.Control(rg.pollFn), rg.rerr, &rg.closed, "recvfrom"); err != nil {
			return 0, 0, err
		}
	}
}

// enter marks a read in progress, so that Close leaves the ring mapped
// until it is over; false after Close.
func (rg *ringConn) enter() bool {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	if rg.closed.Load() {
		rg.unmapLocked()
		return false
	}
	rg.reading = true
	return true
}

// exit ends a read; the last one after Close unmaps the ring.
func (rg *ringConn) exit() {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	rg.reading = false
	if rg.closed.Load() {
		rg.unmapLocked()
	}
}

func (rg *ringConn) unmapLocked() {
	if rg.ring != nil {
		unix.Munmap(rg.ring)
		rg.ring = nil
	}
}

// spin polls the next slot in memory until it is filled or Close was
// called (true), or until passes (false).
func (rg *ringConn) spin(until time.Time) bool {
	st := rg.status(rg.next)
	for i := 0; ; i++ {
		if atomic.LoadUint32(st)&unix.TP_STATUS_USER != 0 {
			return true
		}
		// The clock is read every 64 loads: a vDSO call is ~20 ns.
		if i&63 == 63 && !time.Now().Before(until) {
			return false
		}
		if rg.closed.Load() {
			return true
		}
	}
}

// poll runs under rc.Control: poll(2) until the ring has a frame or
// timeout passes. On POLLERR a recvfrom(2) collects the socket error
// (ENETDOWN when the interface went down or away).
func (rg *ringConn) poll(fd uintptr) {
	fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if _, perr := unix.Poll(fds[:], rg.timeout); perr != nil {
		rg.rerr = perr
		return
	}
	if fds[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) == 0 {
		rg.rerr = unix.EAGAIN
		return
	}
	var b [64]byte // only the error matters
	_, _, rg.rerr = unix.Recvfrom(int(fd), b[:], unix.MSG_DONTWAIT)
	if rg.rerr == nil {
		rg.rerr = unix.EAGAIN
	}
}

func (rg *ringConn) WriteFrame(b []byte) error { return rg.w.writeFrame(b) }

// Close closes the socket and unmaps the ring, at once when no read is in
// progress, else when that read returns (net.ErrClosed).
func (rg *ringConn) Close() error {
	rg.mu.Lock()
	rg.closed.Store(true)
	if !rg.reading {
		rg.unmapLocked()
	}
	rg.mu.Unlock()
	return rg.f.Close()
}

// Stats reports the socket's counters (PACKET_STATISTICS): frames the
// filter passed and frames lost because the ring was full. Reading them
// resets the kernel's counters.
func (rg *ringConn) Stats() (SocketStats, error) {
	return socketStats(rg.rc)
}
