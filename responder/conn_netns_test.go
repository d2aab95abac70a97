package responder

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/vishvananda/netns"
)

// inNamespace runs f on a fresh OS thread that enters namespace ns and is
// never switched back (it dies with its goroutine), so that the sockets f
// opens live in ns.
func inNamespace(ns string, f func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with us
		h, err := netns.GetFromName(ns)
		if err != nil {
			ch <- err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			ch <- err
			return
		}
		ch <- f()
	}()
	return <-ch
}

// listenInNamespace opens ListenPacketWith(o) on ifname inside namespace
// ns; the socket stays in ns.
func listenInNamespace(t *testing.T, ns, ifname string, o ListenOptions) Conn {
	t.Helper()
	var c Conn
	err := inNamespace(ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		c, err = ListenPacketWith(ifi, o)
		return err
	})
	if err != nil {
		t.Fatalf("listen on %s in %s: %v", ifname, ns, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// vethConns creates namespace PREFIX<random> (deleted at cleanup) holding a
// veth pair and returns live Conns on its two ends: the uplink up0 and the
// router rtr0, the uplink's opened with o. It skips the test unless run as
// root.
func vethConns(t *testing.T, prefix string, o ListenOptions) (uplink, router Conn) {
	t.Helper()
	ns := vethNamespace(t, prefix)
	return listenInNamespace(t, ns, "up0", o), listenInNamespace(t, ns, "rtr0", ListenOptions{})
}

// vethNamespace creates namespace PREFIX<random> (deleted at cleanup)
// holding the veth pair up0 - rtr0, both up, and returns its name. It skips
// the test unless run as root.
func vethNamespace(t *testing.T, prefix string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root to create a network namespace and packet sockets")
	}
	var b [4]byte
	rand.Read(b[:])
	ns := prefix + hex.EncodeToString(b[:])
	ipIn(t, "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	ipIn(t, "-n", ns, "link", "add", "up0", "type", "veth", "peer", "name", "rtr0")
	ipIn(t, "-n", ns, "link", "set", "up0", "up")
	ipIn(t, "-n", ns, "link", "set", "rtr0", "up")
	return ns
}

// ipIn runs ip(8) with args, failing the test on error.
func ipIn(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %v: %v: %s", args, err, out)
	}
}

// TestPacketConnLiveFramesWithoutAllocation sends frames between the two
// ends of a veth pair in a namespace: the live Conn reads them with their
// packet type and neither reading nor writing allocates, with the receive
// ring (spinning or not) and with recvmmsg.
func TestPacketConnLiveFramesWithoutAllocation(t *testing.T) {
	for name, o := range liveOptions {
		t.Run(name, func(t *testing.T) { testLiveFrames(t, o) })
	}
}

// liveOptions are the ways ListenPacketWith reads, for tests that must
// hold for each.
var liveOptions = map[string]ListenOptions{
	"recvmmsg":          {},
	"recvmmsg-busypoll": {BusyPoll: DefaultBusyPoll},
	"ring":              {Ring: true},
	"ring-busypoll":     {Ring: true, BusyPoll: DefaultBusyPoll},
}

func testLiveFrames(t *testing.T, o ListenOptions) {
	uplink, router := vethConns(t, "pxr-conn-", o)
	frame := request(t, reqOpts{}) // broadcast who-has 192.0.2.2
	buf := make([]byte, 2048)

	if err := router.WriteFrame(frame); err != nil {
		t.Fatalf("WriteFrame: %v", err)
	}
	n, ptype, err := uplink.ReadFrame(buf)
	if err != nil {
		t.Fatalf("ReadFrame: %v", err)
	}
	if string(buf[:n]) != string(frame) || ptype != PacketBroadcast {
		t.Fatalf("read %d bytes, type %v; want the %d bytes sent, broadcast", n, ptype, len(frame))
	}

	allocs := testing.AllocsPerRun(200, func() {
		if err := router.WriteFrame(frame); err != nil {
			t.Fatalf("WriteFrame: %v", err)
		}
		if _, _, err := uplink.ReadFrame(buf); err != nil {
			t.Fatalf("ReadFrame: %v", err)
		}
	})
	if allocs != 0 {
		t.Errorf("a write and a read allocate %v times, want 0", allocs)
	}
}

// TestPacketConnNDPLive opens the NDP socket (ListenOptions.Proto
// ProtoNDP) on a veth end in a namespace: it reads Neighbor Solicitations,
// not ARP or other ICMPv6, and neither reading nor writing allocates, with
// each way of reading.
func TestPacketConnNDPLive(t *testing.T) {
	for name, o := range liveOptions {
		t.Run(name, func(t *testing.T) {
			o.Proto = ProtoNDP
			netns := vethNamespace(t, "pxr-n6c-")
			// Keep the kernel's own solicitations (DAD of rtr0's
			// link-local address) off the wire as far as possible.
			ipIn(t, "netns", "exec", netns, "sysctl", "-qw", "net.ipv6.conf.rtr0.disable_ipv6=1")
			uplink := listenInNamespace(t, netns, "up0", o)
			router := listenInNamespace(t, netns, "rtr0", ListenOptions{})
			sol := ns(t, nsOpts{target: guest2IP6})
			buf := make([]byte, 2048)
			for _, f := range [][]byte{
				request(t, reqOpts{}),                          // ARP: other socket
				AppendUnsolicitedNA(nil, routerMAC, routerIP6), // ICMPv6, not an NS
				sol,
			} {
				if err := router.WriteFrame(f); err != nil {
					t.Fatalf("WriteFrame: %v", err)
				}
			}
			for i := 0; ; i++ {
				n, ptype, err := uplink.ReadFrame(buf)
				if err != nil {
					t.Fatalf("ReadFrame: %v", err)
				}
				if string(buf[:n]) == string(sol) {
					if ptype != PacketMulticast {
						t.Errorf("packet type %v, want multicast", ptype)
					}
					break
				}
				if buf[12] != 0x86 || buf[13] != 0xdd || buf[ndpOff] != icmpTypeNS || i > 10 {
					t.Fatalf("read a frame the NDP filter should have dropped: % x", buf[:min(n, 64)])
				}
			}
			allocs := testing.AllocsPerRun(200, func() {
				if err := router.WriteFrame(sol); err != nil {
					t.Fatalf("WriteFrame: %v", err)
				}
				if _, _, err := uplink.ReadFrame(buf); err != nil {
					t.Fatalf("ReadFrame: %v", err)
				}
			})
			if allocs != 0 {
				t.Errorf("a write and a read allocate %v times, want 0", allocs)
			}
		})
	}
}
