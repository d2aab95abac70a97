package responder

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// fakeConn simulates the uplink socket: frames pushed into in are read,
// frames written come out of out.
type fakeConn struct {
	in      chan fakeFrame
	out     chan []byte
	closed  chan struct{}
	closeMu sync.Once
}

type fakeFrame struct {
	b     []byte
	ptype PacketType
	err   error
}

func newFakeConn() *fakeConn {
	return &fakeConn{in: make(chan fakeFrame, 16), out: make(chan []byte, 16), closed: make(chan struct{})}
}

func (c *fakeConn) ReadFrame(b []byte) (int, PacketType, error) {
	select {
	case <-c.closed:
		return 0, 0, net.ErrClosed
	case f := <-c.in:
		if f.err != nil {
			return 0, 0, f.err
		}
		return copy(b, f.b), f.ptype, nil
	}
}

func (c *fakeConn) WriteFrame(b []byte) error {
	select {
	case <-c.closed:
		return net.ErrClosed
	case c.out <- append([]byte(nil), b...):
		return nil
	}
}

func (c *fakeConn) Close() error {
	c.closeMu.Do(func() { close(c.closed) })
	return nil
}

// fakeHost is the world the responder sees: which links exist and what
// Listen does.
type fakeHost struct {
	mu      sync.Mutex
	links   map[string]*net.Interface
	listenE error
	conns   chan *fakeConn
}

func newFakeHost() *fakeHost {
	return &fakeHost{links: map[string]*net.Interface{}, conns: make(chan *fakeConn, 8)}
}

func (h *fakeHost) setLink(ifi *net.Interface) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ifi == nil {
		delete(h.links, "eth0")
		return
	}
	h.links[ifi.Name] = ifi
}

func (h *fakeHost) lookup(name string) (*net.Interface, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ifi, ok := h.links[name]; ok {
		return ifi, nil
	}
	return nil, fmt.Errorf("route ip+net: no such network interface")
}

func (h *fakeHost) listen(ifi *net.Interface) (Conn, error) {
	h.mu.Lock()
	err := h.listenE
	h.mu.Unlock()
	if err != nil {
		return nil, err
	}
	c := newFakeConn()
	h.conns <- c
	return c, nil
}

var eth0 = &net.Interface{Index: 2, Name: "eth0", Flags: net.FlagUp | net.FlagBroadcast, HardwareAddr: uplinkMAC[:]}

func startResponder(t *testing.T, h *fakeHost) (*Responder, chan error) {
	t.Helper()
	return runResponder(t, &Responder{Uplink: "eth0", Set: testSet(), Listen: h.listen, LookupLink: h.lookup})
}

// runResponder runs r until the test ends.
func runResponder(t *testing.T, r *Responder) (*Responder, chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return within 5 s of cancel")
		}
	})
	return r, done
}

func nextConn(t *testing.T, h *fakeHost) *fakeConn {
	t.Helper()
	select {
	case c := <-h.conns:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("responder did not open a socket within 5 s")
		return nil
	}
}

func expectReply(t *testing.T, c *fakeConn) []byte {
	t.Helper()
	select {
	case b := <-c.out:
		return b
	case <-time.After(5 * time.Second):
		t.Fatal("no reply within 5 s")
		return nil
	}
}

func TestRunAnswersOwnedAndCountsDrops(t *testing.T) {
	h := newFakeHost()
	h.setLink(eth0)
	r, _ := startResponder(t, h)
	c := nextConn(t, h)

	c.in <- fakeFrame{b: request(t, reqOpts{targetIP: unroutedIP}), ptype: PacketBroadcast}
	c.in <- fakeFrame{b: request(t, reqOpts{targetIP: hostIP}), ptype: PacketBroadcast}
	c.in <- fakeFrame{b: request(t, reqOpts{}), ptype: PacketOtherHost}
	c.in <- fakeFrame{b: request(t, reqOpts{}), ptype: PacketBroadcast}
	got := expectReply(t, c)
	want := Decide(request(t, reqOpts{}), Ingress{MAC: uplinkMAC, Type: PacketBroadcast}, testSet(), nil).AppendReply(nil)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reply (-want +got):\n%s", diff)
	}
	select {
	case b := <-c.out:
		t.Errorf("a second frame was written: % x", b)
	case <-time.After(50 * time.Millisecond):
	}
	st := r.Stats()
	wantDecisions := map[Reason]uint64{Answer: 1, NotOwned: 1, OwnAddress: 1, NotForUs: 1}
	for reason, n := range st.Decisions {
		if n != wantDecisions[reason] {
			t.Errorf("Decisions[%v] = %d, want %d", reason, n, wantDecisions[reason])
		}
	}
	if st.Frames != 4 || st.Replies != 1 {
		t.Errorf("Frames, Replies = %d, %d; want 4, 1", st.Frames, st.Replies)
	}
	if !r.Attached() {
		t.Error("Attached() = false while serving")
	}
}

func TestRunWaitsForMissingUplink(t *testing.T) {
	h := newFakeHost()
	r, _ := startResponder(t, h)
	time.Sleep(150 * time.Millisecond)
	select {
	case <-h.conns:
		t.Fatal("opened a socket with no uplink")
	default:
	}
	if r.Attached() {
		t.Error("Attached() = true with no uplink")
	}
	down := *eth0
	down.Flags &^= net.FlagUp
	h.setLink(&down)
	time.Sleep(150 * time.Millisecond)
	select {
	case <-h.conns:
		t.Fatal("opened a socket on a down uplink")
	default:
	}
	h.setLink(eth0)
	c := nextConn(t, h)
	c.in <- fakeFrame{b: request(t, reqOpts{}), ptype: PacketBroadcast}
	expectReply(t, c)
}

func TestRunReattachesAfterUplinkLoss(t *testing.T) {
	h := newFakeHost()
	h.setLink(eth0)
	startResponder(t, h)
	c1 := nextConn(t, h)
	// The kernel reports ENETDOWN once when the bound link goes away.
	c1.in <- fakeFrame{err: os.NewSyscallError("recvfrom", unix.ENETDOWN)}
	c2 := nextConn(t, h)
	select {
	case <-c1.closed:
	default:
		t.Error("the old socket was not closed")
	}
	c2.in <- fakeFrame{b: request(t, reqOpts{}), ptype: PacketBroadcast}
	expectReply(t, c2)
}

func TestRunRetriesTransientReadErrors(t *testing.T) {
	h := newFakeHost()
	h.setLink(eth0)
	r, _ := startResponder(t, h)
	c := nextConn(t, h)
	c.in <- fakeFrame{err: os.NewSyscallError("recvfrom", unix.ENOMEM)}
	c.in <- fakeFrame{b: request(t, reqOpts{}), ptype: PacketBroadcast}
	expectReply(t, c)
	if got := r.Stats().ReadErrors; got != 1 {
		t.Errorf("ReadErrors = %d, want 1", got)
	}
	select {
	case <-h.conns:
		t.Error("a transient error reopened the socket")
	default:
	}
}

func TestRunFailsWithoutPermission(t *testing.T) {
	h := newFakeHost()
	h.setLink(eth0)
	h.listenE = fmt.Errorf("open packet socket on eth0: %w", os.NewSyscallError("socket", unix.EPERM))
	_, done := startResponder(t, h)
	select {
	case err := <-done:
		if !errors.Is(err, ErrPermission) {
			t.Errorf("Run = %v, want ErrPermission", err)
		}
		done <- err // for the cleanup
	case <-time.After(5 * time.Second):
		t.Fatal("Run kept retrying without permission")
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	h := newFakeHost()
	h.setLink(eth0)
	r := &Responder{Uplink: "eth0", Set: testSet(), Listen: h.listen, LookupLink: h.lookup}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	c := nextConn(t, h)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
	select {
	case <-c.closed:
	default:
		t.Error("socket left open after stop")
	}
}

func TestRecheckFollowsNewUplinkMAC(t *testing.T) {
	h := newFakeHost()
	h.setLink(eth0)
	r, _ := startResponder(t, h)
	c1 := nextConn(t, h)

	// A recheck with nothing changed keeps the socket.
	r.Recheck()
	c1.in <- fakeFrame{b: request(t, reqOpts{}), ptype: PacketBroadcast}
	expectReply(t, c1)
	select {
	case <-h.conns:
		t.Fatal("an unchanged uplink was re-attached")
	case <-time.After(50 * time.Millisecond):
	}

	newMAC := MAC{0x02, 0, 0, 0, 0, 0x42}
	moved := *eth0
	moved.HardwareAddr = newMAC[:]
	h.setLink(&moved)
	r.Recheck()
	c2 := nextConn(t, h)
	c2.in <- fakeFrame{b: request(t, reqOpts{}), ptype: PacketBroadcast}
	got := expectReply(t, c2)
	if MAC(got[6:12]) != newMAC || MAC(got[22:28]) != newMAC {
		t.Errorf("reply after the MAC change says % x / % x, want %v", got[6:12], got[22:28], newMAC)
	}
}
