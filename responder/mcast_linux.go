package responder

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// GroupJoiner joins and leaves the solicited-node multicast groups of the
// answered IPv6 addresses on one interface (the uplink), with
// IPV6_JOIN_GROUP and IPV6_LEAVE_GROUP on AF_INET6 sockets. The kernel then
// sends the MLD reports that make MLD-snooping switches forward the
// solicitations for those addresses to the uplink, and lets the NIC's
// multicast filter pass them (33:33:ff:XX:XX:XX).
//
// Groups are refcounted: several addresses share a group (the low 24 bits),
// and the group is left when its last address is. A socket holds as many
// memberships as net.core.optmem_max allows (some thousands); when one is
// full (ENOMEM, ENOBUFS) another is opened.
//
// A GroupJoiner is safe for concurrent use. It lives in the network
// namespace of the thread that created it: the sockets it opens later are
// opened there too, whatever thread asks for them.
type GroupJoiner struct {
	ifindex int
	ns      netns.NsHandle // where to open more sockets

	mu     sync.Mutex
	fds    []int                      // sockets, the last one the one being filled
	groups map[netip.Addr]*membership // by solicited-node group
	closed bool
}

type membership struct {
	refs int
	fd   int // the socket holding it
}

// NewGroupJoiner opens a GroupJoiner for the interface with index ifindex,
// in the calling thread's network namespace.
func NewGroupJoiner(ifindex int) (*GroupJoiner, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("group joiner: network namespace: %w", err)
	}
	fd, err := socket6()
	if err != nil {
		ns.Close()
		return nil, err
	}
	return &GroupJoiner{ifindex: ifindex, ns: ns, fds: []int{fd}, groups: map[netip.Addr]*membership{}}, nil
}

func socket6() (int, error) {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return -1, fmt.Errorf("open IPv6 socket for multicast groups: %w", err)
	}
	return fd, nil
}

// open opens one more socket, in the joiner's namespace: from a thread that
// enters it and then exits with its goroutine (never handed back to the
// scheduler in a namespace not its own).
func (g *GroupJoiner) open() (int, error) {
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with us
		if err := netns.Set(g.ns); err != nil {
			ch <- result{-1, fmt.Errorf("group joiner: enter network namespace: %w", err)}
			return
		}
		fd, err := socket6()
		ch <- result{fd, err}
	}()
	r := <-ch
	if r.err != nil {
		return -1, r.err
	}
	g.fds = append(g.fds, r.fd)
	return r.fd, nil
}

// Join joins the solicited-node group of addr (SolicitedNode), unless an
// address sharing it joined it already. It fails for an address that is
// not IPv6 and when the kernel refuses (ENODEV: IPv6 is disabled on the
// interface or it is gone).
func (g *GroupJoiner) Join(addr netip.Addr) error {
	grp := SolicitedNode(addr)
	if !grp.IsValid() {
		return fmt.Errorf("join solicited-node group of %v: not an IPv6 address", addr)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return fmt.Errorf("join %v: %w", grp, errClosed)
	}
	if m, ok := g.groups[grp]; ok {
		m.refs++
		return nil
	}
	mreq := unix.IPv6Mreq{Multiaddr: grp.As16(), Interface: uint32(g.ifindex)}
	fd := g.fds[len(g.fds)-1]
	err := unix.SetsockoptIPv6Mreq(fd, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, &mreq)
	if errors.Is(err, unix.ENOMEM) || errors.Is(err, unix.ENOBUFS) {
		// This socket is full: carry on with a new one.
		if fd, err = g.open(); err != nil {
			return err
		}
		err = unix.SetsockoptIPv6Mreq(fd, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, &mreq)
	}
	if err != nil {
		return fmt.Errorf("join %v on ifindex %d: %w", grp, g.ifindex, err)
	}
	g.groups[grp] = &membership{refs: 1, fd: fd}
	return nil
}

// Leave undoes one Join of addr: the group is left when no joined address
// shares it any more. Leaving an address that was not joined does nothing.
func (g *GroupJoiner) Leave(addr netip.Addr) error {
	grp := SolicitedNode(addr)
	g.mu.Lock()
	defer g.mu.Unlock()
	m, ok := g.groups[grp]
	if !ok || g.closed {
		return nil
	}
	if m.refs--; m.refs > 0 {
		return nil
	}
	delete(g.groups, grp)
	mreq := unix.IPv6Mreq{Multiaddr: grp.As16(), Interface: uint32(g.ifindex)}
	if err := unix.SetsockoptIPv6Mreq(m.fd, unix.IPPROTO_IPV6, unix.IPV6_LEAVE_GROUP, &mreq); err != nil {
		return fmt.Errorf("leave %v on ifindex %d: %w", grp, g.ifindex, err)
	}
	return nil
}

// Groups returns the number of groups joined.
func (g *GroupJoiner) Groups() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.groups)
}

// Close leaves every group (closing the sockets does) and releases the
// sockets. Further joins fail.
func (g *GroupJoiner) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	var errs []error
	for _, fd := range g.fds {
		errs = append(errs, unix.Close(fd))
	}
	errs = append(errs, g.ns.Close())
	g.fds, g.groups = nil, nil
	return errors.Join(errs...)
}

var errClosed = errors.New("group joiner closed")
