package responder

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ringFrame is a distinct broadcast request per i: its target cycles
// through 192.0.2.10-209.
func ringFrame(t *testing.T, i int) []byte {
	return request(t, reqOpts{targetIP: netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i%200)})})
}

// TestRingWrapsAround reads more frames than the ring has slots, a burst
// at a time: every frame comes out once, whole and in order, across the
// end of the ring.
func TestRingWrapsAround(t *testing.T) {
	uplink, router := vethConns(t, "pxr-ringw-", ListenOptions{Ring: true})
	frames := make([][]byte, 200)
	for i := range frames {
		frames[i] = ringFrame(t, i)
	}
	buf := make([]byte, 2048)
	const burst = 64
	for sent := 0; sent < ringSlots+3*burst; sent += burst {
		for i := sent; i < sent+burst; i++ {
			if err := router.WriteFrame(frames[i%200]); err != nil {
				t.Fatalf("WriteFrame %d: %v", i, err)
			}
		}
		for i := sent; i < sent+burst; i++ {
			n, ptype, err := uplink.ReadFrame(buf)
			if err != nil {
				t.Fatalf("ReadFrame %d: %v", i, err)
			}
			if string(buf[:n]) != string(frames[i%200]) || ptype != PacketBroadcast {
				t.Fatalf("frame %d: read %d bytes, type %v; want frame %d (%d bytes), broadcast", i, n, ptype, i%200, len(frames[i%200]))
			}
		}
	}
	st, err := uplink.(StatsConn).Stats()
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(ringSlots + 3*burst); st.Frames != want || st.Drops != 0 {
		t.Errorf("stats %+v, want %d frames, no drops", st, want)
	}
}

// TestRingOverflowCountsDrops fills the ring without reading: what does
// not fit is counted as dropped, the frames that fit come out in order, and
// the ring takes new frames again once read.
func TestRingOverflowCountsDrops(t *testing.T) {
	uplink, router := vethConns(t, "pxr-ringo-", ListenOptions{Ring: true})
	const extra = 300
	for i := 0; i < ringSlots+extra; i++ {
		if err := router.WriteFrame(ringFrame(t, i)); err != nil {
			t.Fatalf("WriteFrame %d: %v", i, err)
		}
	}
	st, err := uplink.(StatsConn).Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Drops == 0 || st.Drops > st.Frames {
		t.Fatalf("stats after %d frames into %d slots: %+v, want some dropped", ringSlots+extra, ringSlots, st)
	}
	buf := make([]byte, 2048)
	for i := 0; i < int(st.Frames-st.Drops); i++ {
		n, _, err := uplink.ReadFrame(buf)
		if err != nil {
			t.Fatalf("ReadFrame %d: %v", i, err)
		}
		if want := ringFrame(t, i); string(buf[:n]) != string(want) {
			t.Fatalf("frame %d out of order or damaged", i)
		}
	}
	last := ringFrame(t, 7)
	if err := router.WriteFrame(last); err != nil {
		t.Fatal(err)
	}
	n, _, err := uplink.ReadFrame(buf)
	if err != nil || string(buf[:n]) != string(last) {
		t.Fatalf("after draining a full ring: read %d bytes, %v; want the new frame", n, err)
	}
}

// TestCloseEndsRead closes the Conn while ReadFrame sleeps in the kernel
// and while it spins, for both kinds of live Conn: the reads return
// net.ErrClosed within pollInterval, and so does every read after.
func TestCloseEndsRead(t *testing.T) {
	for _, c := range []struct{ ring, spinning bool }{{false, false}, {false, true}, {true, false}, {true, true}} {
		name := map[bool]string{false: "recvmmsg", true: "ring"}[c.ring] + "-" + map[bool]string{false: "sleeping", true: "spinning"}[c.spinning]
		spinning := c.spinning
		t.Run(name, func(t *testing.T) {
			o := ListenOptions{Ring: c.ring}
			if spinning {
				o.BusyPoll = time.Minute // spins until closed
			}
			uplink, router := vethConns(t, "pxr-ringc-", o)
			buf := make([]byte, 2048)
			if spinning {
				// Two frames back to back arm the spin for the next read.
				for i := 0; i < 2; i++ {
					router.WriteFrame(ringFrame(t, i))
					if _, _, err := uplink.ReadFrame(buf); err != nil {
						t.Fatal(err)
					}
				}
			}
			done := make(chan error, 1)
			go func() {
				_, _, err := uplink.ReadFrame(buf)
				done <- err
			}()
			time.Sleep(50 * time.Millisecond)
			start := time.Now()
			uplink.Close()
			select {
			case err := <-done:
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("read ended with %v, want net.ErrClosed", err)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("read still blocked 2 s after Close")
			}
			if d := time.Since(start); d > pollInterval+100*time.Millisecond {
				t.Errorf("read took %v to end after Close", d)
			}
			if _, _, err := uplink.ReadFrame(buf); !errors.Is(err, net.ErrClosed) {
				t.Errorf("read after Close: %v, want net.ErrClosed", err)
			}
		})
	}
}

// TestLinkDownEndsRead takes the uplink down under a sleeping read, for
// both kinds of live Conn: the read reports ENETDOWN, which the responder
// takes as its cue to re-attach.
func TestLinkDownEndsRead(t *testing.T) {
	for name, o := range liveOptions {
		t.Run(name, func(t *testing.T) { testLinkDownEndsRead(t, o) })
	}
}

func testLinkDownEndsRead(t *testing.T, o ListenOptions) {
	ns := vethNamespace(t, "pxr-ringd-")
	uplink := listenInNamespace(t, ns, "up0", o)
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 2048)
		_, _, err := uplink.ReadFrame(buf)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	ipIn(t, "-n", ns, "link", "set", "up0", "down")
	select {
	case err := <-done:
		if !errors.Is(err, unix.ENETDOWN) || !linkGone(err) {
			t.Errorf("read ended with %v, want ENETDOWN", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("read still blocked 2 s after the link went down")
	}
}

// TestKeepWarmWakesReader: after a frame, a read with KeepWarm sleeps in
// the kernel for warmPollInterval at a time (its thread wakes about every
// 5 ms: dozens of times in 300 ms), one without it for pollInterval (at
// most a couple of wake-ups), for both kinds of live Conn.
func TestKeepWarmWakesReader(t *testing.T) {
	for _, ring := range []bool{false, true} {
		for _, warm := range []time.Duration{0, time.Minute} {
			name := fmt.Sprintf("%s-keepwarm-%v", map[bool]string{false: "recvmmsg", true: "ring"}[ring], warm)
			t.Run(name, func(t *testing.T) {
				uplink, router := vethConns(t, "pxr-warm-", ListenOptions{Ring: ring, KeepWarm: warm})
				buf := make([]byte, 2048)
				router.WriteFrame(ringFrame(t, 0))
				tid := make(chan int, 1)
				done := make(chan error, 2)
				go func() {
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					tid <- unix.Gettid()
					if _, _, err := uplink.ReadFrame(buf); err != nil {
						done <- err
						return
					}
					_, _, err := uplink.ReadFrame(buf) // sleeps until Close
					done <- err
				}()
				id := <-tid
				time.Sleep(20 * time.Millisecond) // the first frame read
				before := voluntarySwitches(t, id)
				time.Sleep(300 * time.Millisecond)
				wakeups := voluntarySwitches(t, id) - before
				uplink.Close()
				if err := <-done; !errors.Is(err, net.ErrClosed) {
					t.Fatalf("read: %v, want net.ErrClosed after Close", err)
				}
				if warm > 0 && wakeups < 15 {
					t.Errorf("KeepWarm %v: the reader woke %d times in 300 ms, want about 60 (every %v)", warm, wakeups, warmPollInterval)
				}
				if warm == 0 && wakeups > 4 {
					t.Errorf("KeepWarm 0: the reader woke %d times in 300 ms, want at most a couple (every %v)", wakeups, pollInterval)
				}
			})
		}
	}
}

// voluntarySwitches reads voluntary_ctxt_switches of thread tid of this
// process: how many times it slept.
func voluntarySwitches(t *testing.T, tid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/status", tid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no voluntary_ctxt_switches in /proc status")
	return 0
}

// TestRingSlotRoom: an ARP ring slot holds a padded request (60 bytes)
// whole; a longer frame comes out cut to the slot's 62 bytes of frame,
// which still holds all Decide reads, so it is answered all the same.
func TestRingSlotRoom(t *testing.T) {
	uplink, router := vethConns(t, "pxr-ringr-", ListenOptions{Ring: true})
	req := request(t, reqOpts{})
	padded := append(append([]byte(nil), req...), make([]byte, 60-len(req))...)
	long := append(append([]byte(nil), req...), make([]byte, 200-len(req))...)
	buf := make([]byte, 2048)
	for _, c := range []struct {
		name  string
		frame []byte
		want  int
	}{{"padded", padded, 60}, {"long", long, 62}} {
		if err := router.WriteFrame(c.frame); err != nil {
			t.Fatalf("%s: WriteFrame: %v", c.name, err)
		}
		n, ptype, err := uplink.ReadFrame(buf)
		if err != nil {
			t.Fatalf("%s: ReadFrame: %v", c.name, err)
		}
		if n != c.want || string(buf[:n]) != string(c.frame[:c.want]) {
			t.Errorf("%s: read %d bytes %x, want the first %d of %x", c.name, n, buf[:n], c.want, c.frame)
		}
		d := Decide(buf[:n], Ingress{Name: "up0", MAC: uplinkMAC, Type: ptype}, testSet(), nil)
		if d.Reason != Answer {
			t.Errorf("%s: Decide: %v, want answer", c.name, d.Reason)
		}
	}
}
