package responder

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// socketInode is the inode of the socket behind rc, as /proc lists it.
func socketInode(t *testing.T, rc syscall.RawConn) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := control(rc, func(fd int) error { return unix.Fstat(fd, &st) }); err != nil {
		t.Fatalf("fstat: %v", err)
	}
	return st.Ino
}

// epollWatches returns the inodes of the files every epoll instance of
// this process watches (the "tfd: ... ino:HEX" lines of its fdinfo).
func epollWatches(t *testing.T) map[uint64]bool {
	t.Helper()
	fds, err := filepath.Glob("/proc/self/fd/*")
	if err != nil {
		t.Fatal(err)
	}
	watched := map[uint64]bool{}
	instances := 0
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err != nil || target != "anon_inode:[eventpoll]" {
			continue
		}
		f, err := os.Open("/proc/self/fdinfo/" + filepath.Base(fd))
		if err != nil {
			continue // closed meanwhile
		}
		instances++
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "tfd:") {
				continue
			}
			i := strings.Index(line, "ino:")
			if i < 0 {
				continue
			}
			var ino uint64
			if _, err := fmt.Sscanf(line[i:], "ino:%x", &ino); err == nil {
				watched[ino] = true
			}
		}
		f.Close()
	}
	if instances == 0 {
		t.Fatal("no epoll instance in this process: Go's netpoller should have one")
	}
	return watched
}

// TestLiveConnOutOfNetpoller: the live Conns' sockets are not in Go's
// netpoller (epoll), so a frame wakes only the reading thread, not also
// the runtime's thread in epoll_wait (see openPacket). A socket opened by
// mdlayher/packet alone, the control, is.
func TestLiveConnOutOfNetpoller(t *testing.T) {
	ns := vethNamespace(t, "pxr-epoll-")
	var ctl *packet.Conn
	if err := inNamespace(ns, func() error {
		ifi, err := net.InterfaceByName("rtr0")
		if err != nil {
			return err
		}
		ctl, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, nil)
		return err
	}); err != nil {
		t.Fatalf("packet.Listen: %v", err)
	}
	t.Cleanup(func() { ctl.Close() })
	ctlRC, err := ctl.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if ino := socketInode(t, ctlRC); !epollWatches(t)[ino] {
		t.Fatalf("control: packet.Listen's socket (inode %d) is not in any epoll instance: the check cannot see registrations", ino)
	}
	for name, o := range liveOptions {
		for _, proto := range []Proto{ProtoARP, ProtoNDP} {
			o.Proto = proto
			c := listenInNamespace(t, ns, "up0", o)
			var rc syscall.RawConn
			switch c := c.(type) {
			case *ringConn:
				rc = c.rc
			case *packetConn:
				rc = c.rc
			default:
				t.Fatalf("%s %v: unexpected Conn %T", name, proto, c)
			}
			if ino := socketInode(t, rc); epollWatches(t)[ino] {
				t.Errorf("%s %v: the socket (inode %d) is in Go's netpoller", name, proto, ino)
			}
			c.Close()
		}
	}
}
