package routes

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetlinkKernel is the Kernel of the running host (or of one network
// namespace). It speaks rtnetlink itself over one blocking socket, with
// one receive buffer reused for every reply: it is what the hotplug
// command runs once per vif, and vishvananda/netlink's per-request costs
// (a 64 KiB buffer on the stack, full link parsing, the Go network poller)
// were most of that command's own time. It is safe for concurrent use: one
// request at a time.
type NetlinkKernel struct {
	ns *netns.NsHandle

	mu  sync.Mutex
	fd  int
	seq uint32
	buf []byte // receive buffer, guarded by mu
}

var _ Kernel = (*NetlinkKernel)(nil)

// rtnlBufSize is the receive buffer. The kernel sizes the datagrams of a
// dump to the reader's buffer (or NLMSG_GOODSIZE, at most 8 KiB, when that
// is larger), and a link without its statistics takes a few KiB; a reply
// that is larger all the same fails with an error rather than being cut.
const rtnlBufSize = 16 << 10

// Constants of linux/rtnetlink.h and linux/netlink.h that x/sys/unix does
// not have.
const (
	rtextFilterSkipStats = 1 << 3 // RTEXT_FILTER_SKIP_STATS (kernel 4.16+; ignored before)
	nlaTypeMask          = 0x3fff // NLA_TYPE_MASK: the type without NLA_F_NESTED, NLA_F_NET_BYTEORDER
)

// NewNetlinkKernel returns a Kernel for the current network namespace, or
// for ns when it is not nil (the handle must stay open while the Kernel is
// used; no thread of the caller is switched). Close it when done.
func NewNetlinkKernel(ns *netns.NsHandle) (*NetlinkKernel, error) {
	k := &NetlinkKernel{ns: ns, fd: -1}
	err := k.inNamespace(func() error {
		fd, err := openRtnetlink()
		k.fd = fd
		return err
	})
	if err != nil {
		if ns != nil {
			return nil, fmt.Errorf("open netlink socket in namespace %s: %w", ns, err)
		}
		return nil, fmt.Errorf("open netlink socket: %w", err)
	}
	k.buf = make([]byte, rtnlBufSize)
	return k, nil
}

// openRtnetlink opens a blocking NETLINK_ROUTE socket in the calling
// thread's network namespace. Strict checking, when the kernel has it
// (4.20+), lets the kernel filter dumps by table and interface; replies
// are filtered here as well, so older kernels give the same results.
func openRtnetlink() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_GET_STRICT_CHK, 1)
	return fd, nil
}

// inNamespace runs f in the Kernel's namespace: directly without one, else
// on a throw-away OS thread that enters the namespace and is never returned
// to the Go runtime (so its namespace never leaks to other goroutines).
func (k *NetlinkKernel) inNamespace(f func() error) error {
	if k.ns == nil {
		return f()
	}
	errc := make(chan error, 1)
	go func() {
		// No UnlockOSThread: the thread ends with the goroutine.
		runtime.LockOSThread()
		if err := netns.Set(*k.ns); err != nil {
			errc <- fmt.Errorf("enter namespace: %w", err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// Close releases the netlink socket.
func (k *NetlinkKernel) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fd < 0 {
		return nil
	}
	err := unix.Close(k.fd)
	k.fd = -1
	return err
}

// LinkByName implements Kernel with RTM_GETLINK by name.
func (k *NetlinkKernel) LinkByName(name string) (Link, error) {
	if name == "" || len(name) >= unix.IFNAMSIZ || strings.ContainsAny(name, "/\x00") {
		// No device can have this name; the kernel would say EINVAL.
		return Link{}, fmt.Errorf("device %s: %w", name, ErrNoDevice)
	}
	req := ifinfomsg(0, 0, 0)
	req = appendAttr(req, unix.IFLA_IFNAME, append([]byte(name), 0))
	l, err := k.getLink(req)
	if err != nil {
		return Link{}, linkError(name, err)
	}
	return l, nil
}

// linkName returns the name of the link with ifindex index.
func (k *NetlinkKernel) linkName(index int) (string, error) {
	l, err := k.getLink(ifinfomsg(index, 0, 0))
	return l.Name, err
}

// getLink sends the RTM_GETLINK request body req (an ifinfomsg and its
// attributes) and parses the link in the reply. Statistics, which are
// most of a link's attributes, are not asked for.
func (k *NetlinkKernel) getLink(req []byte) (Link, error) {
	req = appendAttr(req, unix.IFLA_EXT_MASK, u32(rtextFilterSkipStats))
	var l Link
	err := k.request(unix.RTM_GETLINK, 0, req, func(typ uint16, m []byte) error {
		if typ != unix.RTM_NEWLINK || len(m) < unix.SizeofIfInfomsg {
			return fmt.Errorf("unexpected netlink message type %d in reply to RTM_GETLINK", typ)
		}
		flags := binary.NativeEndian.Uint32(m[8:12])
		l = Link{
			Index:   int(int32(binary.NativeEndian.Uint32(m[4:8]))),
			Up:      flags&unix.IFF_UP != 0,
			Carrier: flags&unix.IFF_LOWER_UP != 0,
		}
		return eachAttr(m[unix.SizeofIfInfomsg:], func(t uint16, v []byte) {
			if t == unix.IFLA_IFNAME {
				l.Name = cString(v)
			}
		})
	})
	return l, err
}

// linkError wraps a netlink error about device name: ErrNoDevice when the
// kernel says it does not exist.
func linkError(name string, err error) error {
	if errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("device %s: %w", name, ErrNoDevice)
	}
	return err
}

// Addrs implements Kernel with an RTM_GETADDR dump: the link's primary
// IPv4 addresses (secondary ones are left out). A link that is gone has no
// addresses.
func (k *NetlinkKernel) Addrs(l Link) ([]netip.Prefix, error) {
	as, err := k.addrs(l, unix.AF_INET)
	if err != nil {
		return nil, fmt.Errorf("list addresses of %s: %w", l.Name, err)
	}
	var out []netip.Prefix
	for _, a := range as {
		if a.Flags&unix.IFA_F_SECONDARY == 0 {
			out = append(out, a.Prefix)
		}
	}
	return out, nil
}

// Addrs6 implements Kernel with an RTM_GETADDR dump of AF_INET6. A link
// that is gone has no addresses.
func (k *NetlinkKernel) Addrs6(l Link) ([]IfAddr, error) {
	out, err := k.addrs(l, unix.AF_INET6)
	if err != nil {
		return nil, fmt.Errorf("list IPv6 addresses of %s: %w", l.Name, err)
	}
	return out, nil
}

// addrs dumps the addresses of family (AF_INET or AF_INET6) on l, with
// their scope and flags (IFA_FLAGS when the kernel sends it).
func (k *NetlinkKernel) addrs(l Link, family byte) ([]IfAddr, error) {
	req := make([]byte, unix.SizeofIfAddrmsg)
	req[0] = family
	binary.NativeEndian.PutUint32(req[4:8], uint32(l.Index))
	var out []IfAddr
	err := k.dump(unix.RTM_GETADDR, req, func(typ uint16, m []byte) error {
		if typ != unix.RTM_NEWADDR || len(m) < unix.SizeofIfAddrmsg || m[0] != family {
			return nil
		}
		if int(binary.NativeEndian.Uint32(m[4:8])) != l.Index {
			return nil
		}
		a := IfAddr{Scope: int(m[3]), Flags: uint32(m[2])}
		bits := int(m[1])
		var local, address netip.Addr
		err := eachAttr(m[unix.SizeofIfAddrmsg:], func(t uint16, v []byte) {
			switch t {
			case unix.IFA_LOCAL:
				local, _ = netip.AddrFromSlice(v)
			case unix.IFA_ADDRESS:
				address, _ = netip.AddrFromSlice(v)
			case unix.IFA_FLAGS:
				if len(v) == 4 {
					a.Flags = binary.NativeEndian.Uint32(v)
				}
			}
		})
		if err != nil {
			return err
		}
		if !local.IsValid() {
			local = address
		}
		if local.IsValid() && bits <= local.BitLen() && (family == unix.AF_INET) == local.Is4() {
			a.Prefix = netip.PrefixFrom(local, bits)
			out = append(out, a)
		}
		return nil
	})
	return out, err
}

// AddAddr implements Kernel with RTM_NEWADDR and NLM_F_REPLACE. Like
// `ip addr replace`, an IPv4 prefix shorter than /31 gets the broadcast
// address; an IPv6 address is added as `ip addr replace ... nodad`.
func (k *NetlinkKernel) AddAddr(l Link, p netip.Prefix) error {
	req := make([]byte, unix.SizeofIfAddrmsg)
	binary.NativeEndian.PutUint32(req[4:8], uint32(l.Index))
	req[1] = uint8(p.Bits())
	switch a := p.Addr(); {
	case a.Is4():
		req[0] = unix.AF_INET
		a4 := a.As4()
		req = appendAttr(req, unix.IFA_LOCAL, a4[:])
		req = appendAttr(req, unix.IFA_ADDRESS, a4[:])
		if p.Bits() < 31 {
			b := binary.BigEndian.Uint32(a4[:]) | (1<<(32-p.Bits()) - 1)
			req = appendAttr(req, unix.IFA_BROADCAST, binary.BigEndian.AppendUint32(nil, b))
		}
	case a.Is6() && !a.Is4In6() && a.Zone() == "":
		req[0], req[2] = unix.AF_INET6, unix.IFA_F_NODAD
		a16 := a.As16()
		req = appendAttr(req, unix.IFA_ADDRESS, a16[:])
	default:
		return fmt.Errorf("address %s is neither IPv4 nor IPv6", p)
	}
	return linkError(l.Name, k.change(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, req))
}

// SetUp implements Kernel with RTM_NEWLINK on the link's ifindex.
func (k *NetlinkKernel) SetUp(l Link, up bool) error {
	var flags uint32
	if up {
		flags = unix.IFF_UP
	}
	return linkError(l.Name, k.change(unix.RTM_NEWLINK, 0, ifinfomsg(l.Index, flags, unix.IFF_UP)))
}

// Rename implements Kernel with RTM_NEWLINK and IFLA_IFNAME.
func (k *NetlinkKernel) Rename(l Link, name string) error {
	req := appendAttr(ifinfomsg(l.Index, 0, 0), unix.IFLA_IFNAME, append([]byte(name), 0))
	return linkError(l.Name, k.change(unix.RTM_NEWLINK, 0, req))
}

// WriteSysctl implements Kernel. In another namespace it writes from a
// throw-away OS thread that enters the namespace (/proc/sys/net follows
// the writing thread's namespace).
func (k *NetlinkKernel) WriteSysctl(key, value string) error {
	if strings.Contains(key, "..") {
		return fmt.Errorf("sysctl %q: bad key", key)
	}
	path := filepath.Join("/proc/sys", key)
	return k.inNamespace(func() error { return writeProcFile(path, value) })
}

// writeProcFile writes value to an existing /proc file in one write: a
// plain blocking open and write, as `sysctl -w` does.
func writeProcFile(path, value string) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(value)); err != nil {
		return &os.PathError{Op: "write", Path: path, Err: err}
	}
	return nil
}

// RoutesTo implements Kernel with a dump of dst's family.
func (k *NetlinkKernel) RoutesTo(dst netip.Prefix) ([]KernelRoute, error) {
	family := uint8(unix.AF_INET)
	if dst.Addr().Is6() {
		family = unix.AF_INET6
	}
	return k.listRoutes(family, 0, func(r KernelRoute) bool { return r.Dst == dst })
}

// RoutesByProto implements Kernel with one dump of both families.
func (k *NetlinkKernel) RoutesByProto(proto int) ([]KernelRoute, error) {
	return k.listRoutes(unix.AF_UNSPEC, uint8(proto), func(r KernelRoute) bool { return r.Protocol == proto })
}

// listRoutes dumps the routes of family (AF_INET, AF_INET6, or AF_UNSPEC
// for both) of the main table (of protocol proto only, when it is not 0
// and the kernel filters) and returns those keep accepts, with their
// device names.
func (k *NetlinkKernel) listRoutes(family, proto uint8, keep func(KernelRoute) bool) ([]KernelRoute, error) {
	req := make([]byte, unix.SizeofRtMsg)
	req[0], req[4], req[5] = family, unix.RT_TABLE_MAIN, proto
	var out []KernelRoute
	err := k.dump(unix.RTM_GETROUTE, req, func(typ uint16, m []byte) error {
		if typ != unix.RTM_NEWROUTE {
			return nil
		}
		r, ok, err := parseRoute(m)
		if err == nil && ok && keep(r) {
			out = append(out, r)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	names := map[int]string{}
	for i, r := range out {
		if r.LinkIndex == 0 {
			continue
		}
		name, ok := names[r.LinkIndex]
		if !ok {
			if name, err = k.linkName(r.LinkIndex); err != nil {
				name = fmt.Sprintf("#%d", r.LinkIndex)
			}
			names[r.LinkIndex] = name
		}
		out[i].Dev = name
	}
	return out, nil
}

// parseRoute parses an RTM_NEWROUTE message; ok is false for a route that
// is not an IPv4 or IPv6 route of the main table, or is a cached clone.
// LinkIndex is set for a route with one nexthop, Dev is not.
func parseRoute(m []byte) (r KernelRoute, ok bool, err error) {
	if len(m) < unix.SizeofRtMsg {
		return r, false, nil
	}
	var dst netip.Addr
	switch m[0] {
	case unix.AF_INET:
		dst = netip.IPv4Unspecified()
	case unix.AF_INET6:
		dst = netip.IPv6Unspecified()
	default:
		return r, false, nil
	}
	bits, table := int(m[1]), uint32(m[4])
	r.Protocol, r.Type = int(m[5]), int(m[7])
	if binary.NativeEndian.Uint32(m[8:12])&unix.RTM_F_CLONED != 0 || bits > dst.BitLen() {
		return r, false, nil
	}
	is4 := dst.Is4()
	multipath := false
	err = eachAttr(m[unix.SizeofRtMsg:], func(t uint16, v []byte) {
		switch t {
		case unix.RTA_TABLE:
			if len(v) == 4 {
				table = binary.NativeEndian.Uint32(v)
			}
		case unix.RTA_DST:
			if a, ok := netip.AddrFromSlice(v); ok {
				dst = a
			}
		case unix.RTA_PREFSRC:
			r.Src, _ = netip.AddrFromSlice(v)
		case unix.RTA_PRIORITY:
			if len(v) == 4 {
				r.Metric = int(binary.NativeEndian.Uint32(v))
			}
		case unix.RTA_OIF:
			if len(v) == 4 {
				r.LinkIndex = int(binary.NativeEndian.Uint32(v))
			}
		case unix.RTA_MULTIPATH:
			multipath = true
		}
	})
	if err != nil || table != unix.RT_TABLE_MAIN || dst.Is4() != is4 {
		return r, false, err
	}
	if multipath {
		r.LinkIndex = 0
	}
	r.Dst = netip.PrefixFrom(dst, bits)
	return r, true, nil
}

// ReplaceRoute implements Kernel with RTM_NEWROUTE and NLM_F_REPLACE, as
// `ip route replace ... scope link`.
func (k *NetlinkKernel) ReplaceRoute(r KernelRoute) error {
	req := routeMsg(r, unix.RT_SCOPE_LINK, unix.RTN_UNICAST)
	if r.Src.IsValid() {
		req = appendAttr(req, unix.RTA_PREFSRC, r.Src.AsSlice())
	}
	return k.change(unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, req)
}

// DeleteRoute implements Kernel: the kernel matches destination, device,
// metric and protocol (any scope).
func (k *NetlinkKernel) DeleteRoute(r KernelRoute) error {
	return k.change(unix.RTM_DELROUTE, 0, routeMsg(r, unix.RT_SCOPE_NOWHERE, 0))
}

// routeMsg is an rtmsg for r (IPv4 or IPv6, by its destination) in the main table with its destination,
// metric (when not 0) and device (when set).
func routeMsg(r KernelRoute, scope, typ uint8) []byte {
	req := make([]byte, unix.SizeofRtMsg)
	req[0], req[1] = unix.AF_INET, uint8(r.Dst.Bits())
	if r.Dst.Addr().Is6() {
		req[0] = unix.AF_INET6
	}
	req[4], req[5], req[6], req[7] = unix.RT_TABLE_MAIN, uint8(r.Protocol), scope, typ
	req = appendAttr(req, unix.RTA_DST, r.Dst.Addr().AsSlice())
	if r.Metric > 0 {
		req = appendAttr(req, unix.RTA_PRIORITY, u32(uint32(r.Metric)))
	}
	if r.LinkIndex > 0 {
		req = appendAttr(req, unix.RTA_OIF, u32(uint32(r.LinkIndex)))
	}
	return req
}

// change sends a request that changes something (flags beyond
// NLM_F_REQUEST|NLM_F_ACK, such as NLM_F_CREATE) and waits for its
// acknowledgement: nil, or the kernel's error as a unix.Errno.
func (k *NetlinkKernel) change(typ uint16, flags uint16, body []byte) error {
	return k.request(typ, flags|unix.NLM_F_ACK, body, func(uint16, []byte) error { return nil })
}

// request sends one request and passes each reply message that is not
// an acknowledgement to f. It returns once the kernel acknowledged it
// or answered it with a message (a request without NLM_F_ACK).
func (k *NetlinkKernel) request(typ, flags uint16, body []byte, f func(typ uint16, m []byte) error) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	seq, err := k.send(typ, flags, body)
	if err != nil {
		return err
	}
	ack := flags&unix.NLM_F_ACK != 0
	for {
		done := false
		err := k.receive(seq, func(h unix.NlMsghdr, m []byte) error {
			if h.Type == unix.NLMSG_ERROR {
				done = true
				return errorMessage(m)
			}
			done = !ack
			return f(h.Type, m)
		})
		if err != nil || done {
			return err
		}
	}
}

// errDumpInterrupted means the kernel's tables changed during a dump (it
// set NLM_F_DUMP_INTR): the dump is retried.
var errDumpInterrupted = errors.New("netlink dump interrupted")

// dump runs a dump request and passes each message to f, retrying a dump
// the kernel says was interrupted by a change up to maxDumpAttempts times.
func (k *NetlinkKernel) dump(typ uint16, body []byte, f func(typ uint16, m []byte) error) error {
	var err error
	for range maxDumpAttempts {
		if err = k.dumpOnce(typ, body, f); !errors.Is(err, errDumpInterrupted) {
			break
		}
	}
	return err
}

func (k *NetlinkKernel) dumpOnce(typ uint16, body []byte, f func(typ uint16, m []byte) error) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	seq, err := k.send(typ, unix.NLM_F_DUMP, body)
	if err != nil {
		return err
	}
	var ferr error
	interrupted := false
	for {
		done := false
		err := k.receive(seq, func(h unix.NlMsghdr, m []byte) error {
			if h.Flags&unix.NLM_F_DUMP_INTR != 0 {
				interrupted = true
			}
			switch h.Type {
			case unix.NLMSG_DONE:
				done = true
				if len(m) >= 4 {
					if e := int32(binary.NativeEndian.Uint32(m)); e < 0 {
						return unix.Errno(-e)
					}
				}
				return nil
			case unix.NLMSG_ERROR:
				done = true
				return errorMessage(m)
			}
			if ferr == nil {
				ferr = f(h.Type, m) // the rest of the dump is still read
			}
			return nil
		})
		if err != nil {
			return err
		}
		if done {
			break
		}
	}
	if interrupted {
		return errDumpInterrupted
	}
	return ferr
}

// send sends a request with a new sequence number and returns it.
func (k *NetlinkKernel) send(typ, flags uint16, body []byte) (uint32, error) {
	if k.fd < 0 {
		return 0, errors.New("netlink socket closed")
	}
	k.seq++
	b := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(body))
	binary.NativeEndian.PutUint32(b[0:4], uint32(unix.SizeofNlMsghdr+len(body)))
	binary.NativeEndian.PutUint16(b[4:6], typ)
	binary.NativeEndian.PutUint16(b[6:8], flags|unix.NLM_F_REQUEST)
	binary.NativeEndian.PutUint32(b[8:12], k.seq)
	b = append(b, body...)
	if err := unix.Sendto(k.fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, fmt.Errorf("netlink send: %w", err)
	}
	return k.seq, nil
}

// receive reads one datagram from the kernel and passes its messages
// answering seq to f, stopping at f's first error.
func (k *NetlinkKernel) receive(seq uint32, f func(h unix.NlMsghdr, m []byte) error) error {
	var (
		n    int
		from unix.Sockaddr
		err  error
	)
	for {
		n, from, err = unix.Recvfrom(k.fd, k.buf, unix.MSG_TRUNC)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("netlink receive: %w", err)
	}
	if n > len(k.buf) {
		return fmt.Errorf("netlink receive: a %d-byte reply does not fit the %d-byte buffer", n, len(k.buf))
	}
	if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
		return nil // not from the kernel
	}
	b := k.buf[:n]
	for len(b) >= unix.SizeofNlMsghdr {
		h := unix.NlMsghdr{
			Len:   binary.NativeEndian.Uint32(b[0:4]),
			Type:  binary.NativeEndian.Uint16(b[4:6]),
			Flags: binary.NativeEndian.Uint16(b[6:8]),
			Seq:   binary.NativeEndian.Uint32(b[8:12]),
		}
		if h.Len < unix.SizeofNlMsghdr || int(h.Len) > len(b) {
			return fmt.Errorf("netlink receive: malformed message (length %d of %d bytes)", h.Len, len(b))
		}
		if h.Seq == seq {
			if err := f(h, b[unix.SizeofNlMsghdr:h.Len]); err != nil {
				return err
			}
		}
		b = b[min(int(align4(h.Len)), len(b)):]
	}
	return nil
}

// errorMessage returns the error of an NLMSG_ERROR message: nil for an
// acknowledgement.
func errorMessage(m []byte) error {
	if len(m) < 4 {
		return errors.New("netlink: short error message")
	}
	if e := int32(binary.NativeEndian.Uint32(m)); e < 0 {
		return unix.Errno(-e)
	}
	return nil
}

// ifinfomsg is an AF_UNSPEC ifinfomsg for ifindex index.
func ifinfomsg(index int, flags, change uint32) []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(b[4:8], uint32(index))
	binary.NativeEndian.PutUint32(b[8:12], flags)
	binary.NativeEndian.PutUint32(b[12:16], change)
	return b
}

// appendAttr appends a netlink attribute (struct rtattr and its value,
// padded to 4 bytes) to b.
func appendAttr(b []byte, typ uint16, v []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(unix.SizeofRtAttr+len(v)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// eachAttr calls f with the type (without the nested and byte-order
// flags) and value of each attribute in b.
func eachAttr(b []byte, f func(typ uint16, v []byte)) error {
	for len(b) >= unix.SizeofRtAttr {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		if l < unix.SizeofRtAttr || l > len(b) {
			return fmt.Errorf("netlink: malformed attribute (length %d of %d bytes)", l, len(b))
		}
		f(binary.NativeEndian.Uint16(b[2:4])&nlaTypeMask, b[unix.SizeofRtAttr:l])
		b = b[min(int(align4(uint32(l))), len(b)):]
	}
	return nil
}

func align4(n uint32) uint32 { return (n + 3) &^ 3 }

func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

// cString returns b up to its first NUL.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
