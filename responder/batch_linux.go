package responder

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// readBatch is how many frames one recvmmsg(2) may return. Under a flood
// one system call (and one wakeup) then serves up to readBatch requests;
// with one request in flight it returns one frame, like recvfrom.
const readBatch = 32

// batchSlot is the size of each frame buffer of a batch, the serve loop's
// read buffer: ARP frames are 42 to 64 bytes, and a longer one is
// truncated as recvfrom into that buffer truncated it (64 KiB in all).
const batchSlot = 2048

// frameBatch is the preallocated state of recvmmsg: headers, iovecs,
// sockaddr_ll per message and the frame buffers, built once so that a read
// allocates nothing.
type frameBatch struct {
	msgs  [readBatch]unix.Mmsghdr
	iovs  [readBatch]unix.Iovec
	addrs [readBatch]unix.RawSockaddrLinklayer
	bufs  [readBatch][batchSlot]byte
	n     int // frames in the batch
	next  int // next frame ReadFrame returns
}

func newFrameBatch() *frameBatch {
	b := new(frameBatch)
	for i := range b.msgs {
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(batchSlot)
		h := &b.msgs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&b.addrs[i]))
		h.Iov = &b.iovs[i]
		h.SetIovlen(1)
	}
	return b
}

// recv fills the batch with one recvmmsg(flags): MSG_DONTWAIT returns
// EAGAIN at once when nothing is queued; MSG_WAITFORONE on the blocking
// socket sleeps until the first frame (or the receive timeout: EAGAIN),
// then takes what else is queued without waiting.
func (b *frameBatch) recv(fd int, flags int) error {
	for i := range b.msgs {
		b.msgs[i].Hdr.Namelen = unix.SizeofSockaddrLinklayer
		b.msgs[i].Hdr.Flags = 0
		b.msgs[i].Len = 0
	}
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd),
		uintptr(unsafe.Pointer(&b.msgs[0])), readBatch, uintptr(flags), 0, 0)
	b.next = 0
	if errno != 0 {
		b.n = 0
		return errno
	}
	b.n = int(n)
	return nil
}

// pop copies the next frame of the batch into dst.
func (b *frameBatch) pop(dst []byte) (int, PacketType, bool) {
	if b.next >= b.n {
		return 0, 0, false
	}
	i := b.next
	b.next++
	l := min(int(b.msgs[i].Len), batchSlot)
	return copy(dst, b.bufs[i][:l]), PacketType(b.addrs[i].Pkttype), true
}
