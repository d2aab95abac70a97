package responder

import (
	"net/netip"
	"testing"
	"time"
)

// TestPacketConnBatchedReads queues more frames than one recvmmsg takes
// before reading: ReadFrame hands them out one by one, in order, each with
// its packet type, and reading a queued burst allocates nothing.
func TestPacketConnBatchedReads(t *testing.T) {
	uplink, router := vethConns(t, "pxr-batch-", ListenOptions{})
	const n = readBatch*2 + 3
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = request(t, reqOpts{targetIP: netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)})})
		if err := router.WriteFrame(frames[i]); err != nil {
			t.Fatalf("WriteFrame %d: %v", i, err)
		}
	}
	time.Sleep(50 * time.Millisecond) // all queued: the reads come in batches
	buf := make([]byte, 2048)
	for i := range frames {
		m, ptype, err := uplink.ReadFrame(buf)
		if err != nil {
			t.Fatalf("ReadFrame %d: %v", i, err)
		}
		if string(buf[:m]) != string(frames[i]) || ptype != PacketBroadcast {
			t.Fatalf("frame %d: read %d bytes, type %v; want the %d bytes sent, broadcast", i, m, ptype, len(frames[i]))
		}
	}

	for i := 0; i < readBatch; i++ {
		router.WriteFrame(frames[0])
	}
	time.Sleep(50 * time.Millisecond)
	allocs := testing.AllocsPerRun(readBatch-1, func() {
		if _, _, err := uplink.ReadFrame(buf); err != nil {
			t.Fatalf("ReadFrame: %v", err)
		}
	})
	if allocs != 0 {
		t.Errorf("a batched read allocates %v times, want 0", allocs)
	}
}
