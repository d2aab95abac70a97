package main

// Raw AF_PACKET sockets for the generator and the reference responder:
// opened, filtered and bound without Go's netpoller, so that every read is
// a blocking (or polled) syscall on the calling thread.

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

const (
	ethTypeARP = 0x0806
	arpRequest = 1
	arpReply   = 2
	frameLen   = 60 // Ethernet minimum without FCS
)

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// filterARP passes ARP frames (and, when op is not 0, only that ARP
// opcode), 128 bytes of each.
func filterARP(op uint16) []bpf.RawInstruction {
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 12, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: ethTypeARP, SkipTrue: 3},
		bpf.LoadAbsolute{Off: 20, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(op), SkipTrue: 1},
		bpf.RetConstant{Val: 128},
		bpf.RetConstant{Val: 0},
	}
	if op == 0 {
		prog = []bpf.Instruction{
			bpf.LoadAbsolute{Off: 12, Size: 2},
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: ethTypeARP, SkipTrue: 1},
			bpf.RetConstant{Val: 128},
			bpf.RetConstant{Val: 0},
		}
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		panic(err)
	}
	return raw
}

// openPacket opens an AF_PACKET SOCK_RAW socket on ifi for proto
// (ETH_P_ARP, ETH_P_ALL, or 0 for a send-only socket). The filter is
// attached before bind, so no frame of another kind is ever queued. rcvbuf
// > 0 forces the receive buffer (SO_RCVBUFFORCE, CAP_NET_ADMIN).
func openPacket(ifi *net.Interface, proto uint16, filter []bpf.RawInstruction, rcvbuf int) (int, error) {
	// Protocol 0 at creation: nothing is queued until bind names the real one.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("packet socket: %w", err)
	}
	fail := func(what string, err error) (int, error) {
		unix.Close(fd)
		return -1, fmt.Errorf("%s on %s: %w", what, ifi.Name, err)
	}
	if filter != nil {
		f := make([]unix.SockFilter, len(filter))
		for i, ins := range filter {
			f[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
		}
		prog := unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]}
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
			return fail("attach filter", err)
		}
	}
	if rcvbuf > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf); err != nil {
			return fail("SO_RCVBUFFORCE", err)
		}
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(proto), Ifindex: ifi.Index}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	return fd, nil
}

// stats reads and resets the socket's PACKET_STATISTICS.
func stats(fd int) (packets, drops uint32) {
	st, err := unix.GetsockoptTpacketStats(fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return 0, 0
	}
	return st.Packets, st.Drops
}

// recvFrom is a raw recvfrom(2) into b with a stack sockaddr: no allocation.
func recvFrom(fd int, b []byte, flags int) (int, uint8, error) {
	var sa unix.RawSockaddrLinklayer
	salen := uint32(unix.SizeofSockaddrLinklayer)
	n, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd),
		uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(flags),
		uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&salen)))
	if errno != 0 {
		return 0, 0, errno
	}
	return int(n), sa.Pkttype, nil
}

func write(fd int, b []byte) error {
	_, _, errno := unix.Syscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if errno != 0 {
		return errno
	}
	return nil
}

// tsReader reads frames with their kernel receive timestamp (SO_TIMESTAMPNS).
type tsReader struct {
	fd  int
	oob []byte
	iov unix.Iovec
	msg unix.Msghdr
	sa  unix.RawSockaddrLinklayer
}

func newTSReader(fd int) (*tsReader, error) {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return nil, fmt.Errorf("SO_TIMESTAMPNS: %w", err)
	}
	return &tsReader{fd: fd, oob: make([]byte, 128)}, nil
}

// read waits at most wait for one frame; ok is false on timeout.
func (r *tsReader) read(b []byte, wait time.Duration) (n int, ptype uint8, ts time.Time, ok bool, err error) {
	for {
		r.iov.Base = &b[0]
		r.iov.SetLen(len(b))
		r.msg = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&r.sa)), Namelen: unix.SizeofSockaddrLinklayer,
			Iov: &r.iov, Iovlen: 1, Control: &r.oob[0]}
		r.msg.SetControllen(len(r.oob))
		m, _, errno := unix.Syscall(unix.SYS_RECVMSG, uintptr(r.fd), uintptr(unsafe.Pointer(&r.msg)), unix.MSG_DONTWAIT)
		if errno == 0 {
			ts := parseTS(r.oob[:r.msg.Controllen])
			return int(m), r.sa.Pkttype, ts, true, nil
		}
		if errno != unix.EAGAIN && errno != unix.EINTR {
			return 0, 0, time.Time{}, false, errno
		}
		if wait <= 0 {
			return 0, 0, time.Time{}, false, nil
		}
		ms := int((wait + time.Millisecond - 1) / time.Millisecond)
		start := time.Now()
		fds := [1]unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}}
		nready, perr := unix.Poll(fds[:], ms)
		if perr != nil && perr != unix.EINTR {
			return 0, 0, time.Time{}, false, perr
		}
		wait -= time.Since(start)
		if nready == 0 && wait <= 0 {
			return 0, 0, time.Time{}, false, nil
		}
	}
}

func parseTS(oob []byte) time.Time {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
			return time.Unix(sec, nsec)
		}
	}
	return time.Time{}
}

// arpFields are the parts of an Ethernet+ARP frame the bench looks at.
type arpFields struct {
	ethDst, ethSrc net.HardwareAddr
	op             uint16
	sha, tha       net.HardwareAddr
	spa, tpa       netip.Addr
}

// parseARP parses an Ethernet II + Ethernet/IPv4 ARP frame without
// allocating (the MAC slices alias b).
func parseARP(b []byte) (arpFields, bool) {
	if len(b) < 42 || binary.BigEndian.Uint16(b[12:14]) != ethTypeARP {
		return arpFields{}, false
	}
	a := b[14:]
	if binary.BigEndian.Uint16(a[0:2]) != 1 || binary.BigEndian.Uint16(a[2:4]) != 0x0800 || a[4] != 6 || a[5] != 4 {
		return arpFields{}, false
	}
	return arpFields{
		ethDst: b[0:6], ethSrc: b[6:12],
		op:  binary.BigEndian.Uint16(a[6:8]),
		sha: a[8:14], spa: netip.AddrFrom4([4]byte(a[14:18])),
		tha: a[18:24], tpa: netip.AddrFrom4([4]byte(a[24:28])),
	}, true
}

// buildARP writes an Ethernet+ARP frame padded to 60 bytes.
func buildARP(ethDst, ethSrc net.HardwareAddr, op uint16, sha net.HardwareAddr, spa netip.Addr, tha net.HardwareAddr, tpa netip.Addr) []byte {
	b := make([]byte, frameLen)
	copy(b[0:6], ethDst)
	copy(b[6:12], ethSrc)
	binary.BigEndian.PutUint16(b[12:14], ethTypeARP)
	a := b[14:]
	binary.BigEndian.PutUint16(a[0:2], 1)
	binary.BigEndian.PutUint16(a[2:4], 0x0800)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:8], op)
	copy(a[8:14], sha)
	s, t := spa.As4(), tpa.As4()
	copy(a[14:18], s[:])
	if tha != nil {
		copy(a[18:24], tha)
	}
	copy(a[24:28], t[:])
	return b
}

var broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
