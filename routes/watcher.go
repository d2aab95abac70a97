package routes

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Watcher keeps a Set equal to what Rule.Explain says about the kernel's
// routing state, as reported by a Source.
//
// Set the exported fields, then call Run once. The fields must not change
// while Run runs: change the guest globs and the allow list of a running
// Watcher with Reconfigure.
type Watcher struct {
	// Source is the kernel (NewNetlinkSource) or a fake. Required.
	Source Source
	// Set receives the answer set. Required. The Watcher is its only
	// writer.
	Set *Set
	// Guests names the guest interfaces; the zero Globs means
	// DefaultGlobs.
	Guests Globs
	// Allow, when not empty, limits answered addresses to these prefixes.
	Allow []netip.Prefix
	// Uplink, when set, is the interface the responder answers on: routes
	// back out of it never count (see Rule.Uplink), and the gateways of
	// routes via it are never owned (see Set.Gateway).
	Uplink string
	// MaxOwned caps the answer set: beyond it, the Watcher logs once and
	// refuses to own more addresses (they are owned as soon as others
	// leave). Zero means DefaultMaxOwned; negative means no cap.
	MaxOwned int
	// Log receives one line per state change; nil means slog.Default().
	Log *slog.Logger
	// OnChange, when set, is called after every change of an IPv4
	// address's ownership, once the Set already reflects it: for
	// gratuitous ARP and for recording the answer set. It runs on the
	// watcher's goroutine: it must not block. IPv6 changes go to
	// OnChange6 only, so that IPv4-only hooks never see them.
	OnChange func(Change)
	// OnChange6 is OnChange for IPv6 addresses (unsolicited neighbour
	// advertisements). Same rules as OnChange.
	OnChange6 func(Change)
	// OnLink, when set, is called for every link event (update or
	// deletion) after it was applied, so that others can re-check an
	// interface without a netlink subscription of their own. It runs on the
	// watcher's goroutine: it must not block.
	OnLink func(Link, EventKind)

	initOnce  sync.Once
	ready     chan struct{}
	readyOnce sync.Once
	synced    atomic.Bool   // a subscription is live and its sync done
	resyncs   atomic.Uint64 // resyncs after lost events

	// Reconfigure's pending rule, applied by Run's goroutine.
	reconfMu sync.Mutex
	pending  *Rule
	reconf   chan struct{}
	refused  atomic.Int64 // addresses currently refused by MaxOwned

	// Set up by Run, owned by its goroutine.
	rule       Rule
	log        *slog.Logger
	m          *mirror
	notAllowed map[addrKey]struct{} // addresses logged as outside Allow
	gw         map[addrKey]struct{} // the uplink's gateways, as in the Set
	maxOwned   int
	capped     map[addrKey]struct{} // owned by the rule, refused by maxOwned
	capLogged  bool                 // the cap was logged since capped was last empty
	gwDirty    bool                 // an event may have changed the gateways

	// Tests may change these before Run.
	minBackoff, maxBackoff time.Duration
	stableAfter            time.Duration
	verifyDelay            time.Duration // resync this long after a link went down
	hook                   func(string)  // called with "event" or "sync"
}

// Change is one address becoming owned or no longer owned.
type Change struct {
	// Addr is the address.
	Addr netip.Addr
	// Owned is its new state.
	Owned bool
	// Verdict says why: the device and metric when owned, the rule that
	// said no when not.
	Verdict Verdict
	// Startup is true for the changes of the first sync after Run starts:
	// what was already there, not something that just happened.
	Startup bool
}

// DefaultMaxOwned is the answer-set cap when Watcher.MaxOwned is zero.
const DefaultMaxOwned = 1000000

const (
	defaultMinBackoff  = 100 * time.Millisecond
	defaultMaxBackoff  = 30 * time.Second
	defaultVerifyDelay = time.Second
	defaultStableAfter = time.Minute
	// maxDumpAttempts bounds the immediate retries of an interrupted dump
	// before the watcher falls back to its backoff.
	maxDumpAttempts = 10
	// maxLoggedChanges bounds the per-address lines logged by one resync;
	// the rest is summarised in one line.
	maxLoggedChanges = 100
)

func (w *Watcher) init() {
	w.initOnce.Do(func() {
		w.ready = make(chan struct{})
		w.reconf = make(chan struct{}, 1)
	})
}

// Reconfigure replaces the guest globs and the allow list of a running
// Watcher (the zero Globs means DefaultGlobs, as for Guests). It is safe to
// call from any goroutine, before or during Run, and never blocks: Run's
// goroutine applies the latest call with a full re-evaluation of every
// address it knows, logging each change and calling OnChange as usual.
func (w *Watcher) Reconfigure(guests Globs, allow []netip.Prefix) {
	w.init()
	if guests.IsZero() {
		guests = defaultGlobs
	}
	w.reconfMu.Lock()
	w.pending = &Rule{Guests: guests, Allow: slices.Clone(allow), Uplink: w.Uplink}
	w.reconfMu.Unlock()
	select {
	case w.reconf <- struct{}{}:
	default:
	}
}

// takePending installs the rule of the latest Reconfigure, if any, and
// reports whether there was one.
func (w *Watcher) takePending() bool {
	w.reconfMu.Lock()
	p := w.pending
	w.pending = nil
	w.reconfMu.Unlock()
	if p == nil {
		return false
	}
	w.rule = *p
	return true
}

// Refused returns the number of addresses the rule would own that are not
// in the Set because it holds MaxOwned addresses. Safe to call from any
// goroutine.
func (w *Watcher) Refused() int { return int(w.refused.Load()) }

// Ready returns a channel that is closed once Run has completed its first
// full sync: from then on, the Set reflects the kernel. It may be called
// before Run.
func (w *Watcher) Ready() <-chan struct{} {
	w.init()
	return w.ready
}

// Synced reports whether the Set currently follows the kernel: Run's
// subscription is live and its sync is done. It is false before the first
// sync and from the loss of a subscription until the resync that follows.
// Safe to call from any goroutine.
func (w *Watcher) Synced() bool { return w.synced.Load() }

// Resyncs returns the number of full resyncs made because netlink events
// were lost (the subscription failed, for example with ENOBUFS). The
// start-up sync and the routine verification dump after a link went down
// are not counted. Safe to call from any goroutine.
func (w *Watcher) Resyncs() uint64 { return w.resyncs.Load() }

func (w *Watcher) isReady() bool {
	select {
	case <-w.Ready():
		return true
	default:
		return false
	}
}

// Run subscribes to the Source, dumps it, fills the Set and then applies
// events until ctx is done; then it returns nil.
//
// When the subscription is lost (netlink receive error such as ENOBUFS,
// which vishvananda/netlink reports by closing the channel), Run logs
// "netlink events lost, resyncing", subscribes again and resyncs from a
// fresh dump: the mirror is replaced and the new owned set is diffed against
// the old one, each change logged. An interrupted dump is retried at once
// (up to 10 times). A failing subscribe or dump, and repeated losses, are
// retried with exponential backoff (100ms to 30s; the first retry after a
// loss is immediate). Meanwhile the Set keeps its last answers.
//
// Run returns an error only for an invalid Watcher or when the very first
// subscribe or dump fails with a permission error (EPERM, EACCES): that will
// not go away by retrying. After the first sync, every error is retried.
func (w *Watcher) Run(ctx context.Context) error {
	if w.Source == nil {
		return errors.New("routes: Watcher.Source is nil")
	}
	if w.Set == nil {
		return errors.New("routes: Watcher.Set is nil")
	}
	w.setup()

	failures := 0
	for {
		synced, err := w.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if !w.isReady() && errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("watch routes: %w", err)
		}
		if !synced.IsZero() && time.Since(synced) >= w.stableAfter {
			failures = 0
		}
		failures++
		delay := w.backoff(failures)
		if !synced.IsZero() {
			w.log.Warn("netlink events lost, resyncing", "err", err, "retry_in", delay)
		} else {
			w.log.Warn("route watcher failed, retrying", "err", err, "retry_in", delay)
		}
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
	}
}

// setup applies defaults and resets the state, before the first session.
func (w *Watcher) setup() {
	w.init()
	w.rule = Rule{Guests: w.Guests, Allow: w.Allow, Uplink: w.Uplink}
	if w.rule.Guests.IsZero() {
		w.rule.Guests = defaultGlobs
	}
	w.log = w.Log
	if w.log == nil {
		w.log = slog.Default()
	}
	if w.minBackoff == 0 {
		w.minBackoff = defaultMinBackoff
	}
	if w.maxBackoff == 0 {
		w.maxBackoff = defaultMaxBackoff
	}
	if w.stableAfter == 0 {
		w.stableAfter = defaultStableAfter
	}
	if w.verifyDelay == 0 {
		w.verifyDelay = defaultVerifyDelay
	}
	w.takePending()
	w.maxOwned = w.MaxOwned
	if w.maxOwned == 0 {
		w.maxOwned = DefaultMaxOwned
	}
	w.m = newMirror()
	w.notAllowed = make(map[addrKey]struct{})
	w.gw = make(map[addrKey]struct{})
	w.capped = make(map[addrKey]struct{})
}

// backoff returns the delay before attempt n (n >= 1) after a failure:
// nothing for the first, then minBackoff doubling up to maxBackoff.
func (w *Watcher) backoff(n int) time.Duration {
	if n <= 1 {
		return 0
	}
	d := w.minBackoff
	for i := 2; i < n && d < w.maxBackoff; i++ {
		d *= 2
	}
	return min(d, w.maxBackoff)
}

type dumpResult struct {
	m   *mirror
	err error
}

// session runs one subscription: subscribe, dump (buffering events), resync,
// then apply events until the subscription is lost or ctx is done. It
// returns when the sync completed (zero if it did not) and why it ended.
func (w *Watcher) session(ctx context.Context) (synced time.Time, err error) {
	start := time.Now()
	defer w.synced.Store(false)
	sub, err := w.Source.Subscribe(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("subscribe to route, link and address events: %w", err)
	}
	defer sub.Close()
	events := sub.Events()

	m, pending, err := w.dumpBuffered(ctx, sub)
	if err != nil {
		return time.Time{}, err
	}
	why := "start"
	if w.isReady() {
		why = "events lost"
		w.resyncs.Add(1)
	}
	w.resyncMirror(m, pending, start, why)
	synced = time.Now()
	w.synced.Store(true)
	w.readyOnce.Do(func() { close(w.ready) })
	w.callHook("sync")

	// A link that went down or away has had its routes flushed by the
	// kernel without RTM_DELROUTE, and the mirror dropped them. But route,
	// link and address events come over separate sockets, so their relative
	// order is not guaranteed: a route re-added after the link came back
	// may have been applied before the down event and then wrongly dropped.
	// A verification resync shortly after such an event puts that right;
	// the timer is not re-armed while pending, so a storm of link events
	// costs one dump per verifyDelay.
	var verify <-chan time.Time
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return synced, lostErr(sub)
			}
			w.apply(ev)
			if verify == nil && (ev.Kind == LinkDel || (ev.Kind == LinkUpdate && !ev.Link.Up)) {
				verify = time.After(w.verifyDelay)
			}
			w.callHook("event")
		case <-w.reconf:
			if w.takePending() {
				w.reevaluateAll()
				w.callHook("reconfigure")
			}
		case <-verify:
			verify = nil
			start := time.Now()
			m, pending, err := w.dumpBuffered(ctx, sub)
			if err != nil {
				return synced, err
			}
			w.resyncMirror(m, pending, start, "link down")
			w.callHook("sync")
		case <-ctx.Done():
			return synced, ctx.Err()
		}
	}
}

// dumpBuffered dumps the Source into a new mirror while collecting the
// events that arrive meanwhile, to be applied on top of the dump.
//
// The current mirror is dropped first: nothing reads it until the resync
// that replaces it (events are only buffered meanwhile, and a failed dump
// ends the session, whose successor dumps again), and keeping it would
// hold two full mirrors at once at the peak of every resync.
func (w *Watcher) dumpBuffered(ctx context.Context, sub Subscription) (*mirror, []Event, error) {
	w.m = newMirror()
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dumped := make(chan dumpResult, 1)
	go func() {
		m, err := w.dump(dctx)
		dumped <- dumpResult{m, err}
	}()
	events := sub.Events()
	var pending []Event
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return nil, nil, lostErr(sub)
			}
			pending = append(pending, ev)
		case r := <-dumped:
			if r.err != nil {
				return nil, nil, r.err
			}
			return r.m, pending, nil
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

func lostErr(sub Subscription) error {
	if err := sub.Err(); err != nil {
		return err
	}
	return errors.New("event subscription closed")
}

func (w *Watcher) callHook(what string) {
	if w.hook != nil {
		w.hook(what)
	}
}

// dump dumps the Source into a new mirror, retrying at once when the dump
// was interrupted. It runs on its own goroutine and touches nothing but the
// mirror it returns.
func (w *Watcher) dump(ctx context.Context) (*mirror, error) {
	var err error
	for range maxDumpAttempts {
		var m *mirror
		m, err = dumpMirror(ctx, w.Source)
		if err == nil {
			return m, nil
		}
		if !errors.Is(err, ErrDumpInterrupted) || ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("dump links, addresses and routes: %w", err)
}

// dumpMirror reads one dump of src into a new mirror. A streamSource (the
// kernel's) fills it as the dump is read, so the whole dump is never held;
// any other Source goes through its Snapshot.
func dumpMirror(ctx context.Context, src Source) (*mirror, error) {
	m := newMirror()
	if s, ok := src.(streamSource); ok {
		if err := s.dumpStream(ctx, m.sink()); err != nil {
			return nil, err
		}
		return m, nil
	}
	snap, err := src.Dump(ctx)
	if err != nil {
		return nil, err
	}
	m.load(snap)
	return m, nil
}

// resync replaces the mirror with snap plus the events that arrived during
// the dump, recomputes every verdict, swaps the Set and logs the changes.
func (w *Watcher) resync(snap Snapshot, pending []Event, start time.Time, why string) {
	w.m = newMirror() // the old one is not needed while the new one is built
	m := newMirror()
	m.load(snap)
	w.resyncMirror(m, pending, start, why)
}

// resyncMirror is resync with the dump already loaded into m.
func (w *Watcher) resyncMirror(m *mirror, pending []Event, start time.Time, why string) {
	w.takePending()
	w.m = m
	for _, ev := range pending {
		w.applyMirror(ev)
	}
	w.recompute(why, start)
}

// reevaluateAll recomputes every verdict of the current mirror, after
// Reconfigure.
func (w *Watcher) reevaluateAll() {
	w.log.Info("reconfigured, re-evaluating every address", "guest_ifaces", w.rule.Guests.String(), "allow", prefixString(w.rule.Allow))
	w.recompute("reconfigure", time.Now())
}

// recompute recomputes every verdict from the mirror, swaps the Set and
// logs the changes. Addresses owned before keep their place under
// MaxOwned before new ones are admitted.
func (w *Watcher) recompute(why string, start time.Time) {
	w.updateGatewayKeys()
	oldOwned := w.Set.ownedKeys()
	owned := newAddrSet(len(oldOwned.v4))
	local := newAddrSet(len(w.m.local))
	for k := range w.m.local {
		local.add(k)
	}
	oldNotAllowed := w.notAllowed
	w.notAllowed = make(map[addrKey]struct{})
	oldCapped := w.capped
	w.capped = make(map[addrKey]struct{})

	logged, unlogged := 0, 0
	logChange := func(f func()) {
		if logged < maxLoggedChanges {
			logged++
			f()
		} else {
			unlogged++
		}
	}
	// fresh: owned by the rule, not owned before; gone: owned before, not
	// now. Kept as (key, verdict) pairs until the Set holds the new
	// answers: at start-up every address is fresh, and a map of verdicts
	// plus a []Change took ~15 MB at 100k routes.
	var fresh, gone []keyVerdict
	for k := range w.m.routes {
		v := w.verdict(k)
		switch v.Reason {
		case ReasonOwned:
			if was := oldOwned.has(k); was && w.room(owned.len()) {
				owned.add(k)
			} else if was {
				w.capped[k] = struct{}{}
			} else {
				fresh = append(fresh, keyVerdict{k, v})
			}
		case ReasonNotAllowed:
			w.notAllowed[k] = struct{}{}
			if _, was := oldNotAllowed[k]; !was {
				logChange(func() { w.logNotAllowed(k, v) })
			}
		}
	}
	// Which ones the cap refuses does not depend on map order.
	slices.SortFunc(fresh, func(a, b keyVerdict) int { return compareKeys(a.k, b.k) })
	admitted := fresh[:0] // filtered in place
	for _, f := range fresh {
		if !w.room(owned.len()) {
			w.capped[f.k] = struct{}{}
			continue
		}
		owned.add(f.k)
		logChange(func() { w.logOwned(f.k, f.v) })
		admitted = append(admitted, f)
	}
	for k := range oldOwned.all() {
		if !owned.has(k) {
			v := w.verdict(k)
			logChange(func() { w.logNotOwned(k, v) })
			gone = append(gone, keyVerdict{k, v})
		}
	}
	w.Set.replace(owned, local, w.gw)
	if len(oldCapped) == 0 {
		w.capLogged = false
	}
	w.noteCapped()
	if w.OnChange != nil || w.OnChange6 != nil {
		startup := why == "start"
		for _, f := range admitted {
			w.notify(Change{Addr: f.k.addr(), Owned: true, Verdict: f.v, Startup: startup})
		}
		for _, f := range gone {
			w.notify(Change{Addr: f.k.addr(), Owned: false, Verdict: f.v, Startup: startup})
		}
	}
	if unlogged > 0 {
		w.log.Info("more ownership changes not logged individually", "changes", unlogged)
	}
	w.log.Info("resync done", "owned", len(owned.v4), "owned6", len(owned.v6), "why", why, "duration", time.Since(start))
}

// notify calls OnChange or OnChange6, by the family of c.Addr.
func (w *Watcher) notify(c Change) {
	if c.Addr.Is4() {
		if w.OnChange != nil {
			w.OnChange(c)
		}
	} else if w.OnChange6 != nil {
		w.OnChange6(c)
	}
}

// keyVerdict is an address's key with its verdict.
type keyVerdict struct {
	k addrKey
	v Verdict
}

// room reports whether an answer set of n addresses may take one more.
func (w *Watcher) room(n int) bool { return w.maxOwned < 0 || n < w.maxOwned }

// noteCapped publishes the number of refused addresses and logs the cap
// once per episode (from the first refusal until none is refused).
func (w *Watcher) noteCapped() {
	w.refused.Store(int64(len(w.capped)))
	if len(w.capped) == 0 {
		w.capLogged = false
		return
	}
	if !w.capLogged {
		w.capLogged = true
		w.log.Warn("answer set full, refusing to own more addresses (see --max-owned)",
			"max_owned", w.maxOwned, "refused", len(w.capped))
	}
}

// updateGatewayKeys recomputes the uplink's gateways from the mirror and
// returns the addresses that became or stopped being one (nil when the set
// did not change). It does not touch the Set.
func (w *Watcher) updateGatewayKeys() []addrKey {
	w.gwDirty = false
	gw := w.m.gw.gateways(w.m.links, w.rule.Uplink)
	if sameKeys(gw, w.gw) {
		return nil
	}
	var diff []addrKey
	for k := range gw {
		if _, ok := w.gw[k]; !ok {
			diff = append(diff, k)
		}
	}
	for k := range w.gw {
		if _, ok := gw[k]; !ok {
			diff = append(diff, k)
		}
	}
	w.gw = gw
	w.log.Info("uplink gateways, never answered", "dev", w.rule.Uplink, "gateways", keyList(gw))
	return diff
}

// verdict runs the rule for one destination of the mirror; an uplink
// gateway the rule would own is not.
func (w *Watcher) verdict(k addrKey) Verdict {
	v := w.rule.Explain(k.addr(), w.m.routes[k], w.m.links, w.m.isLocal(k))
	if _, gw := w.gw[k]; gw && v.Owned() {
		v.Reason = ReasonUplinkGateway
	}
	return v
}

// applyMirror applies ev to the mirror only. It returns the destinations
// whose verdict may have changed and the host addresses that appeared or
// disappeared.
func (w *Watcher) applyMirror(ev Event) (affected, localChanged []addrKey) {
	if w.m.applyGateways(ev) {
		w.gwDirty = true
	}
	switch ev.Kind {
	case RouteAdd, RouteReplace:
		if k, ok := w.m.addRoute(ev.Route, ev.Kind == RouteReplace); ok {
			affected = append(affected, k)
		}
	case RouteDel:
		if k, ok := w.m.delRoute(ev.Route); ok {
			affected = append(affected, k)
		}
	case LinkUpdate:
		affected = w.m.updateLink(ev.Link)
	case LinkDel:
		affected, localChanged = w.m.delLink(ev.Link.Index)
	case AddrAdd:
		if k, changed := w.m.addAddr(ev.Addr); changed {
			localChanged = append(localChanged, k)
		}
	case AddrDel:
		if k, changed := w.m.delAddr(ev.Addr); changed {
			localChanged = append(localChanged, k)
		}
	}
	return affected, localChanged
}

// apply applies one event after the sync: mirror, then the verdicts of the
// affected addresses only.
func (w *Watcher) apply(ev Event) {
	affected, localChanged := w.applyMirror(ev)
	if w.OnLink != nil && (ev.Kind == LinkUpdate || ev.Kind == LinkDel) {
		defer w.OnLink(ev.Link, ev.Kind)
	}
	if !w.gwDirty {
		// No route with a gateway and no link changed: same gateways.
	} else if gwChanged := w.updateGatewayKeys(); gwChanged != nil {
		w.Set.setGateways(w.gw)
		affected = append(affected, gwChanged...)
	}
	for _, k := range localChanged {
		w.Set.setLocal(k, w.m.isLocal(k))
		w.reevaluate(k)
	}
	for _, k := range affected {
		w.reevaluate(k)
	}
}

// reevaluate recomputes one address, updates the Set and logs a change.
func (w *Watcher) reevaluate(k addrKey) {
	v := w.verdict(k)
	was := w.Set.isOwned(k)
	own := v.Owned()
	if _, capped := w.capped[k]; capped && !own {
		delete(w.capped, k)
		w.noteCapped()
	}
	if own && !was && !w.room(w.Set.lenAll()) {
		if _, capped := w.capped[k]; !capped {
			w.capped[k] = struct{}{}
			w.noteCapped()
		}
		own = false
	}
	if own != was {
		if _, capped := w.capped[k]; capped {
			delete(w.capped, k)
			w.noteCapped()
		}
		w.Set.setOwned(k, own)
		if own {
			w.logOwned(k, v)
		} else {
			w.logNotOwned(k, v)
		}
		w.notify(Change{Addr: k.addr(), Owned: own, Verdict: v})
		if !own {
			w.admitCapped()
		}
	}
	_, wasNotAllowed := w.notAllowed[k]
	switch {
	case v.Reason == ReasonNotAllowed && !wasNotAllowed:
		w.notAllowed[k] = struct{}{}
		w.logNotAllowed(k, v)
	case v.Reason != ReasonNotAllowed && wasNotAllowed:
		delete(w.notAllowed, k)
	}
}

// admitCapped owns one refused address, if any, now that there is room.
func (w *Watcher) admitCapped() {
	if len(w.capped) == 0 || !w.room(w.Set.lenAll()) {
		return
	}
	next, first := addrKey{}, true
	for k := range w.capped {
		if first || compareKeys(k, next) < 0 {
			next, first = k, false
		}
	}
	delete(w.capped, next)
	w.noteCapped()
	w.reevaluate(next)
}

func prefixString(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "any"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func (w *Watcher) logOwned(k addrKey, v Verdict) {
	w.log.Info("address owned", "ip", k.addr(), "dev", v.Dev, "metric", v.Metric)
}

func (w *Watcher) logNotOwned(k addrKey, v Verdict) {
	if v.Dev != "" {
		w.log.Info("address no longer owned", "ip", k.addr(), "reason", v.Reason.String(), "dev", v.Dev)
		return
	}
	w.log.Info("address no longer owned", "ip", k.addr(), "reason", v.Reason.String())
}

func (w *Watcher) logNotAllowed(k addrKey, v Verdict) {
	w.log.Info("routed to guest but outside --allow, not answered", "ip", k.addr(), "dev", v.Dev)
}
