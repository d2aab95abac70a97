package capture

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/proxyarp/proxyarp/responder"
	"github.com/proxyarp/proxyarp/routes"
)

// SnapLen is the number of bytes of each frame recorded: more than the 42
// (46 with a VLAN tag) Decide reads, so replay sees what the responder saw.
const SnapLen = 128

// Defaults of the Recorder.
const (
	DefaultMaxSize = 100 << 20 // bytes per file
	DefaultFiles   = 5         // files kept, FILE included
	DefaultBuffer  = 4096      // records queued between the hooks and Run
)

// flushInterval bounds how long a record waits in a buffer.
const flushInterval = time.Second

// Recorder writes a capture of every decided frame, every reply and every
// answer-set change; see the package documentation for the files. Set its
// fields, connect OnDecision and OnChange (or call Attach), then run Run.
// The fields must not change once Run started.
type Recorder struct {
	// Path is the capture file, FILE. Required.
	Path string
	// MaxSize is the size at which FILE is rotated; 0 means
	// DefaultMaxSize.
	MaxSize int64
	// Files is the number of capture files kept, FILE included; 0 means
	// DefaultFiles.
	Files int
	// Uplink, Guests and Allow are recorded in the state (serve's
	// --uplink, --guest-ifaces and --allow).
	Uplink string
	Guests routes.Globs
	Allow  []netip.Prefix
	// Set is the live answer set (a *routes.Set), read at start, after
	// change records were lost, and once a second for host addresses.
	// Required.
	Set Snapshotter
	// Log receives start, rotation, failure and stop lines; nil discards.
	Log *slog.Logger
	// Buffer is the capacity of the record queue; 0 means DefaultBuffer.
	Buffer int
	// Now returns the time stamped on records; nil means time.Now. Tests
	// use fixed clocks for reproducible files.
	Now func() time.Time

	ch             chan record
	started        atomic.Bool
	frames         atomic.Uint64
	droppedFrames  atomic.Uint64
	droppedChanges atomic.Uint64
	files          atomic.Uint64

	// Owned by Run.
	w         *fileSet
	mirror    mirrorState
	reported  uint64 // droppedFrames already written as epb_dropcount
	resynced  uint64 // droppedChanges already covered by a full record
	nextFrame int    // number of the next packet in the current file
}

// mirrorState is the state as recorded so far: what the head of the next
// file must say.
type mirrorState struct {
	uplinkMAC responder.MAC
	owned     map[netip.Addr]struct{}
	local     []netip.Addr
	gateways  []netip.Addr
}

type recordKind uint8

const (
	recFrame recordKind = iota + 1
	recChange
	recAnnounce
	recConfig
)

// record is what the hooks queue: fixed size, no allocation.
type record struct {
	kind   recordKind
	t      time.Time
	n      int // bytes in data
	length int // frame length on the wire
	data   [SnapLen]byte
	in     responder.Ingress
	d      responder.Decision
	werr   error
	addr   netip.Addr
	owned  bool
	// recConfig: the configuration after a reload.
	guests routes.Globs
	allow  []netip.Prefix
}

func (r *Recorder) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Recorder) queue() chan record {
	if r.ch == nil {
		n := r.Buffer
		if n <= 0 {
			n = DefaultBuffer
		}
		r.ch = make(chan record, n)
	}
	return r.ch
}

// OnDecision is the responder's hook (responder.Responder.OnDecision): it
// copies the frame and decision into the queue, or counts a drop when the
// queue is full. It never blocks and does not allocate. Init (or Attach)
// must have been called first; records queued before Run starts are
// written when it does.
func (r *Recorder) OnDecision(frame []byte, in responder.Ingress, d responder.Decision, werr error) {
	rec := record{kind: recFrame, t: r.now(), length: len(frame), in: in, d: d, werr: werr}
	rec.n = copy(rec.data[:], frame)
	select {
	case r.ch <- rec:
	default:
		r.droppedFrames.Add(1)
	}
}

// OnAnnounce is the responder's gratuitous ARP hook
// (responder.Responder.OnAnnounce): it queues the announcement sent, as an
// outbound frame; one that could not be written is not recorded. It never
// blocks and does not allocate.
func (r *Recorder) OnAnnounce(frame []byte, addr netip.Addr, werr error) {
	if werr != nil {
		return
	}
	rec := record{kind: recAnnounce, t: r.now(), length: len(frame), addr: addr}
	rec.n = copy(rec.data[:], frame)
	select {
	case r.ch <- rec:
	default:
		r.droppedFrames.Add(1)
	}
}

// Reconfigure records that serve's --guest-ifaces and --allow changed (a
// config reload), in order with the frames: those decided after it replay
// with the new values. It never blocks; a full queue counts a lost change,
// which makes Run record the full state again.
func (r *Recorder) Reconfigure(guests routes.Globs, allow []netip.Prefix) {
	select {
	case r.ch <- record{kind: recConfig, t: r.now(), guests: guests, allow: slices.Clone(allow)}:
	default:
		r.droppedChanges.Add(1)
	}
}

// OnChange is the route watcher's hook (routes.Watcher.OnChange): it queues
// the ownership change, or, when the queue is full, counts it, and Run
// then records the whole owned set again from Set. It never blocks.
func (r *Recorder) OnChange(c routes.Change) {
	select {
	case r.ch <- record{kind: recChange, t: r.now(), addr: c.Addr, owned: c.Owned}:
	default:
		r.droppedChanges.Add(1)
	}
}

// Attach connects the recorder to a responder (OnDecision, OnAnnounce) and
// a watcher (OnChange and OnChange6), keeping any hook already set: the existing one runs
// first. Call it after the other hooks are set.
func (r *Recorder) Attach(resp *responder.Responder, w *routes.Watcher) {
	r.queue()
	if prev := resp.OnDecision; prev != nil {
		resp.OnDecision = func(frame []byte, in responder.Ingress, d responder.Decision, werr error) {
			prev(frame, in, d, werr)
			r.OnDecision(frame, in, d, werr)
		}
	} else {
		resp.OnDecision = r.OnDecision
	}
	if prev := resp.OnAnnounce; prev != nil {
		resp.OnAnnounce = func(frame []byte, addr netip.Addr, werr error) {
			prev(frame, addr, werr)
			r.OnAnnounce(frame, addr, werr)
		}
	} else {
		resp.OnAnnounce = r.OnAnnounce
	}
	if prev := w.OnChange; prev != nil {
		w.OnChange = func(c routes.Change) {
			prev(c)
			r.OnChange(c)
		}
	} else {
		w.OnChange = r.OnChange
	}
	// IPv6 ownership changes come through OnChange6.
	if prev := w.OnChange6; prev != nil {
		w.OnChange6 = func(c routes.Change) {
			prev(c)
			r.OnChange(c)
		}
	} else {
		w.OnChange6 = r.OnChange
	}
}

// announceComment is the packet comment of an announcement of addr.
func announceComment(addr netip.Addr) string {
	if addr.Is4() {
		return "proxyarp gratuitous ARP for " + addr.String()
	}
	return "proxyarp unsolicited NA for " + addr.String()
}

// RecorderStats are a Recorder's counters.
type RecorderStats struct {
	// Frames counts packets written (received frames and replies).
	Frames uint64
	// DroppedFrames counts frames not recorded because the queue was full.
	DroppedFrames uint64
	// DroppedChanges counts ownership changes not queued; each loss was
	// made good by recording the full owned set again.
	DroppedChanges uint64
	// Files counts the capture files opened.
	Files uint64
}

// Stats returns the counters; safe to call while Run runs.
func (r *Recorder) Stats() RecorderStats {
	return RecorderStats{
		Frames:         r.frames.Load(),
		DroppedFrames:  r.droppedFrames.Load(),
		DroppedChanges: r.droppedChanges.Load(),
		Files:          r.files.Load(),
	}
}

// Init prepares the queue so that the hooks may be called before Run. Attach
// calls it; call it yourself when you assign the hooks by hand.
func (r *Recorder) Init() { r.queue() }

// Run opens FILE (rotating an existing one away), records until ctx is
// done, then writes what is still queued, flushes and closes, and returns
// nil. It returns an error when FILE cannot be created at start. A later
// failure (disk full, a rotation that fails) is logged and stops the
// recording, not the responder: Run returns nil and the hooks keep
// dropping records into the full queue.
func (r *Recorder) Run(ctx context.Context) error {
	if r.Path == "" {
		return errors.New("capture: Recorder.Path is empty")
	}
	if r.Set == nil {
		return errors.New("capture: Recorder.Set is nil")
	}
	if !r.started.CompareAndSwap(false, true) {
		return errors.New("capture: Recorder.Run called twice")
	}
	ch := r.queue()
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r.mirror = mirrorState{owned: map[netip.Addr]struct{}{}}
	for _, a := range ownedOf(r.Set) {
		r.mirror.owned[a] = struct{}{}
	}
	r.mirror.local = localOf(r.Set)
	r.mirror.gateways = gatewaysOf(r.Set)
	if err := r.open(true, r.now()); err != nil {
		return err
	}
	log.Info("capture started", "file", r.Path, "max_size", r.maxSize(), "files", r.maxFiles())

	tick := time.NewTicker(flushInterval)
	defer tick.Stop()
	err := func() error {
		for {
			select {
			case rec := <-ch:
				if err := r.write(rec, log); err != nil {
					return err
				}
			case <-tick.C:
				if err := r.poll(); err != nil {
					return err
				}
				if err := r.w.flush(); err != nil {
					return err
				}
			case <-ctx.Done():
				for {
					select {
					case rec := <-ch:
						if err := r.write(rec, log); err != nil {
							return err
						}
					default:
						return nil
					}
				}
			}
		}
	}()
	if r.w != nil {
		if cerr := r.w.close(); err == nil {
			err = cerr
		}
	}
	st := r.Stats()
	if err != nil {
		// The responder goes on: its hooks keep dropping records.
		log.Error("capture failed, recording stopped", "file", r.Path, "err", err)
		return nil
	}
	log.Info("capture stopped", "file", r.Path, "frames", st.Frames, "dropped_frames", st.DroppedFrames, "dropped_changes", st.DroppedChanges)
	return nil
}

func (r *Recorder) maxSize() int64 {
	if r.MaxSize > 0 {
		return r.MaxSize
	}
	return DefaultMaxSize
}

func (r *Recorder) maxFiles() int {
	if r.Files > 0 {
		return r.Files
	}
	return DefaultFiles
}

// open rotates the files and starts a new FILE with the full state. At
// start, an existing FILE is rotated away rather than overwritten.
func (r *Recorder) open(start bool, t time.Time) error {
	if r.w != nil {
		if err := r.w.close(); err != nil {
			return err
		}
		r.w = nil
	}
	if err := rotate(r.Path, r.maxFiles(), start); err != nil {
		return err
	}
	w, err := createFileSet(r.Path, r.Uplink)
	if err != nil {
		return err
	}
	r.w = w
	r.files.Add(1)
	r.nextFrame = 1
	if err := r.writeState(r.fullRecord(), t); err != nil {
		return err
	}
	// The full state goes to disk at once: a capture whose disk fills up
	// later still replays as far as it got.
	if err := w.state.Flush(); err != nil {
		return fmt.Errorf("flush capture state %s: %w", StatePath(w.path), err)
	}
	return nil
}

func (r *Recorder) fullRecord() StateRecord {
	rec := StateRecord{
		Kind:        KindFull,
		Uplink:      r.Uplink,
		GuestIfaces: r.Guests.String(),
		Allow:       r.Allow,
		Owned:       sortedKeys(r.mirror.owned),
		Local:       r.mirror.local,
		Gateways:    r.mirror.gateways,
	}
	if !r.mirror.uplinkMAC.IsZero() {
		rec.UplinkMAC = r.mirror.uplinkMAC.String()
	}
	return rec
}

func (r *Recorder) writeState(rec StateRecord, t time.Time) error {
	rec.FromFrame = r.nextFrame
	rec.Time = t.UTC()
	return r.w.writeState(rec)
}

// poll records changes of the host addresses, which the watcher does not
// report, and makes good lost change records.
func (r *Recorder) poll() error {
	if lost := r.droppedChanges.Load(); lost != r.resynced {
		r.resynced = lost
		r.mirror.owned = map[netip.Addr]struct{}{}
		for _, a := range ownedOf(r.Set) {
			r.mirror.owned[a] = struct{}{}
		}
		r.mirror.local = localOf(r.Set)
		r.mirror.gateways = gatewaysOf(r.Set)
		return r.writeState(r.fullRecord(), r.now())
	}
	if local := localOf(r.Set); !slices.Equal(local, r.mirror.local) {
		r.mirror.local = local
		if err := r.writeState(StateRecord{Kind: KindLocal, Local: local}, r.now()); err != nil {
			return err
		}
	}
	return r.pollGateways(r.now())
}

// pollGateways records the uplink's gateways when they changed.
func (r *Recorder) pollGateways(t time.Time) error {
	if gws := gatewaysOf(r.Set); !slices.Equal(gws, r.mirror.gateways) {
		r.mirror.gateways = gws
		return r.writeState(StateRecord{Kind: KindGateways, Gateways: gws}, t)
	}
	return nil
}

// write records one queued record, rotating first when FILE is full.
func (r *Recorder) write(rec record, log *slog.Logger) error {
	if rec.kind == recConfig {
		// The full state again, with the new configuration: frames from
		// here on were decided with it.
		r.Guests, r.Allow = rec.guests, rec.allow
		return r.writeState(r.fullRecord(), rec.t)
	}
	if rec.kind == recChange {
		if _, was := r.mirror.owned[rec.addr]; was == rec.owned {
			return nil
		}
		kind := KindUnowned
		if rec.owned {
			kind = KindOwned
			r.mirror.owned[rec.addr] = struct{}{}
		} else {
			delete(r.mirror.owned, rec.addr)
		}
		return r.writeState(StateRecord{Kind: kind, Owned: []netip.Addr{rec.addr}}, rec.t)
	}
	if r.w.size >= r.maxSize() {
		if err := r.open(false, rec.t); err != nil {
			return err
		}
		log.Info("capture rotated", "file", r.Path, "files", r.maxFiles())
	}
	if rec.kind == recAnnounce {
		opts := pcapgo.NgPacketOptions{
			Flags:    flagsFor(responder.PacketOutgoing),
			Comments: []string{announceComment(rec.addr)},
		}
		if err := r.w.writePacket(rec.t, rec.data[:rec.n], rec.length, opts); err != nil {
			return err
		}
		r.nextFrame++
		r.frames.Add(1)
		return nil
	}
	if rec.in.MAC != r.mirror.uplinkMAC {
		r.mirror.uplinkMAC = rec.in.MAC
		if err := r.writeState(StateRecord{Kind: KindUplink, Uplink: r.Uplink, UplinkMAC: rec.in.MAC.String()}, rec.t); err != nil {
			return err
		}
	}
	if localStale(rec.d, r.mirror.local) {
		// The decision contradicts the recorded host addresses: they
		// changed since the last poll (at start, before the watcher had
		// loaded them). Record them before the frame.
		if local := localOf(r.Set); !slices.Equal(local, r.mirror.local) {
			r.mirror.local = local
			if err := r.writeState(StateRecord{Kind: KindLocal, Local: local}, rec.t); err != nil {
				return err
			}
		}
	}
	if gatewayStale(rec.d, r.mirror.gateways) {
		// Likewise for the uplink's gateways.
		if err := r.pollGateways(rec.t); err != nil {
			return err
		}
	}
	opts := pcapgo.NgPacketOptions{
		Flags:    flagsFor(rec.in.Type),
		Comments: []string{decisionComment(rec.d.Reason, rec.werr)},
	}
	if dropped := r.droppedFrames.Load(); dropped != r.reported {
		n := dropped - r.reported
		opts.DropCount = &n
		r.reported = dropped
	}
	if err := r.w.writePacket(rec.t, rec.data[:rec.n], rec.length, opts); err != nil {
		return err
	}
	r.nextFrame++
	r.frames.Add(1)
	if rec.d.Reason == responder.Answer && rec.werr == nil {
		var buf [responder.ReplyLen]byte
		reply := rec.d.AppendReply(buf[:0])
		if err := r.w.writePacket(rec.t, reply, len(reply), pcapgo.NgPacketOptions{Flags: flagsFor(responder.PacketOutgoing)}); err != nil {
			return err
		}
		r.nextFrame++
		r.frames.Add(1)
	}
	return nil
}

// localStale reports whether d, decided by the live responder, disagrees
// with the host addresses local: Decide got as far as asking the answer set
// whether the target is a host address and got another answer.
func localStale(d responder.Decision, local []netip.Addr) bool {
	switch d.Reason {
	case responder.OwnAddress, responder.OutsideAllow, responder.NotOwned, responder.Answer:
		_, found := slices.BinarySearchFunc(local, d.Request.TargetIP, netip.Addr.Compare)
		return found != (d.Reason == responder.OwnAddress)
	}
	return false
}

// gatewayStale reports whether d disagrees with the recorded gateways:
// Decide asked whether the target is an uplink gateway and got another
// answer than they give.
func gatewayStale(d responder.Decision, gws []netip.Addr) bool {
	switch d.Reason {
	case responder.UplinkGateway, responder.OutsideAllow, responder.NotOwned, responder.Answer:
		_, found := slices.BinarySearchFunc(gws, d.Request.TargetIP, netip.Addr.Compare)
		return found != (d.Reason == responder.UplinkGateway)
	}
	return false
}

// rotate shifts FILE.(n-2) to FILE.(n-1), ..., FILE to FILE.1, with their
// state files, dropping what falls off the end. Missing files are fine.
// Unless force, it only runs when FILE exists.
func rotate(path string, files int, force bool) error {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) && !force {
		return nil
	}
	name := func(i int) string {
		if i == 0 {
			return path
		}
		return fmt.Sprintf("%s.%d", path, i)
	}
	for _, p := range []string{name(files - 1), StatePath(name(files - 1))} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rotate capture: %w", err)
		}
	}
	for i := files - 2; i >= 0; i-- {
		for _, pair := range [][2]string{{name(i), name(i + 1)}, {StatePath(name(i)), StatePath(name(i + 1))}} {
			if err := os.Rename(pair[0], pair[1]); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("rotate capture: %w", err)
			}
		}
	}
	return nil
}

// fileSet is one capture file and its state file.
type fileSet struct {
	path      string
	f, sf     *os.File
	ng        *pcapgo.NgWriter
	state     *bufio.Writer
	stateJSON *json.Encoder
	size      int64 // bytes of the capture file, buffered included
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func createFileSet(path, uplink string) (*fileSet, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open capture: %w", err)
	}
	sf, err := os.OpenFile(StatePath(path), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open capture state: %w", err)
	}
	cw := &countingWriter{w: f}
	ng, err := newNgWriter(cw, uplink)
	if err == nil {
		err = ng.Flush()
	}
	if err != nil {
		f.Close()
		sf.Close()
		return nil, fmt.Errorf("write capture header %s: %w", path, err)
	}
	fsw := &fileSet{path: path, f: f, sf: sf, ng: ng, state: bufio.NewWriter(sf), size: cw.n}
	fsw.stateJSON = json.NewEncoder(fsw.state)
	return fsw, nil
}

// newNgWriter starts a pcapng file: a section header naming proxyarp and an
// Ethernet interface block named after the uplink. It writes nothing that
// depends on the machine, so generated files are reproducible.
func newNgWriter(w io.Writer, uplink string) (*pcapgo.NgWriter, error) {
	return pcapgo.NewNgWriterInterface(w, pcapgo.NgInterface{
		Name:       uplink,
		LinkType:   layers.LinkTypeEthernet,
		SnapLength: SnapLen,
	}, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{
		Application: "proxyarp",
		Comment:     "proxyarp capture; answer-set state in the .state.json file beside it",
	}})
}

func (w *fileSet) writePacket(t time.Time, data []byte, length int, opts pcapgo.NgPacketOptions) error {
	ci := gopacket.CaptureInfo{Timestamp: t, CaptureLength: len(data), Length: length}
	if err := w.ng.WritePacketWithOptions(ci, data, opts); err != nil {
		return fmt.Errorf("write capture %s: %w", w.path, err)
	}
	w.size += epbLen(len(data), opts)
	return nil
}

// epbLen is the size of the enhanced packet block pcapgo writes.
func epbLen(n int, opts pcapgo.NgPacketOptions) int64 {
	pad := func(n int) int { return (n + 3) &^ 3 }
	l := 32 + pad(n)
	o := 0
	for _, c := range opts.Comments {
		o += 4 + pad(len(c))
	}
	if opts.Flags != nil {
		o += 8
	}
	if opts.DropCount != nil {
		o += 12
	}
	if o > 0 {
		o += 4
	}
	return int64(l + o)
}

func (w *fileSet) writeState(rec StateRecord) error {
	if err := w.stateJSON.Encode(rec); err != nil {
		return fmt.Errorf("write capture state %s: %w", StatePath(w.path), err)
	}
	return nil
}

// flush writes the state before the frames: frames without the state they
// were decided in cannot be replayed, state without frames is harmless.
func (w *fileSet) flush() error {
	if err := w.state.Flush(); err != nil {
		return fmt.Errorf("flush capture state %s: %w", StatePath(w.path), err)
	}
	if err := w.ng.Flush(); err != nil {
		return fmt.Errorf("flush capture %s: %w", w.path, err)
	}
	return nil
}

func (w *fileSet) close() error {
	err := w.flush()
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close capture %s: %w", w.path, cerr)
	}
	if cerr := w.sf.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close capture state %s: %w", StatePath(w.path), cerr)
	}
	return err
}
