package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/proxyarp/proxyarp/sdnotify"
)

// notifySystemd reports serve's state to systemd (Type=notify) until ctx is
// done, then sends STOPPING=1. It does nothing without $NOTIFY_SOCKET. It
// never fails serve: a notification that cannot be sent is logged.
func notifySystemd(ctx context.Context, log *slog.Logger, uplink string, w readyWatcher, r attachedResponder, owned func() int) error {
	n, err := sdnotify.New()
	if err != nil {
		log.Warn("not notifying systemd", "err", err)
		return nil
	}
	if n == nil {
		return nil
	}
	wd, err := sdnotify.WatchdogInterval()
	if err != nil {
		log.Warn("systemd watchdog disabled", "err", err)
	}
	s := &systemdState{
		send:     n.Send,
		log:      log,
		uplink:   uplink,
		watcher:  w,
		resp:     r,
		owned:    owned,
		uplinkUp: uplinkUp,
		watchdog: wd,
	}
	s.run(ctx)
	return nil
}

// readyWatcher and attachedResponder are what the notifier needs of
// routes.Watcher and responder.Responder.
type readyWatcher interface {
	Ready() <-chan struct{}
	Synced() bool
}

type attachedResponder interface{ Attached() bool }

// uplinkUp reports whether the uplink exists, is up and has an Ethernet
// MAC, so that the responder can attach to it: while it cannot, an
// unattached responder is waiting as it should, not stuck.
func uplinkUp(name string) bool {
	ifi, err := net.InterfaceByName(name)
	return err == nil && ifi.Flags&net.FlagUp != 0 && len(ifi.HardwareAddr) == 6
}

// systemdState is the notifier's loop. It samples the watcher and the
// responder (atomic loads) every tick rather than hooking into them: the
// state it reports is coarse and a second late is fine.
type systemdState struct {
	send     func(states ...string) error
	log      *slog.Logger
	uplink   string
	watcher  readyWatcher
	resp     attachedResponder
	owned    func() int
	uplinkUp func(string) bool
	// watchdog is the WATCHDOG=1 interval (half of WatchdogSec); 0: none.
	watchdog time.Duration
	// tick is how often the state is sampled (default 1s, or less when
	// the watchdog interval is shorter); attachGrace how long READY waits
	// for the socket attach after the first sync (default 2s).
	tick, attachGrace time.Duration
	// detachGrace is how long the uplink may be up without the socket
	// attached before the watchdog pings stop (default 3s: the responder
	// retries every 2s at most, so an uplink that comes up between two
	// tries is attached within that).
	detachGrace time.Duration

	// Owned by run.
	ready         bool
	syncedAt      time.Time // when the first sync was seen
	lastStatus    string
	lastUnhealthy string
	lastPing      time.Time
	detachedSince time.Time // since when the uplink is up and not attached
}

// run sends, in order: a start-up STATUS; READY=1 once the routing table
// is loaded and the uplink socket attached, or once it is clear the uplink
// is missing or down (READY with a STATUS saying it waits, so that boot
// does not hang on it); a new STATUS whenever the state it describes
// changes; WATCHDOG=1 every watchdog interval while healthy; STOPPING=1
// when ctx is done.
func (s *systemdState) run(ctx context.Context) {
	tick := s.tick
	if tick == 0 {
		tick = time.Second
	}
	if s.watchdog > 0 {
		tick = min(tick, s.watchdog/4)
	}
	if s.attachGrace == 0 {
		s.attachGrace = 2 * time.Second
	}
	if s.detachGrace == 0 {
		s.detachGrace = 3 * time.Second
	}
	s.notify(sdnotify.Status("starting: loading the routing table"))
	s.lastPing = time.Now()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		s.step(time.Now())
		next := t.C
		var synced <-chan struct{}
		switch {
		case s.ready:
		case s.syncedAt.IsZero():
			synced = s.watcher.Ready()
		default:
			// Synced, waiting for the attach: look closely.
			next = time.After(20 * time.Millisecond)
		}
		select {
		case <-ctx.Done():
			s.notify(sdnotify.Stopping, sdnotify.Status("stopping"))
			return
		case <-synced:
		case <-next:
		}
	}
}

// step sends what the state at now calls for.
func (s *systemdState) step(now time.Time) {
	if !s.ready {
		select {
		case <-s.watcher.Ready():
			if s.syncedAt.IsZero() {
				s.syncedAt = now
			}
			// The responder attaches within one try when the uplink is
			// up; give it a moment before saying it waits.
			if s.resp.Attached() || !s.uplinkUp(s.uplink) || now.Sub(s.syncedAt) >= s.attachGrace {
				s.ready = true
				s.lastStatus = s.status()
				s.notify(sdnotify.Ready, sdnotify.Status(s.lastStatus))
			}
		default:
		}
	} else if st := s.status(); st != s.lastStatus {
		s.lastStatus = st
		s.notify(sdnotify.Status(st))
	}
	if s.watchdog == 0 {
		return
	}
	if why := s.unhealthy(now); why != "" {
		if why != s.lastUnhealthy {
			s.log.Warn("withholding systemd watchdog ping", "reason", why)
			s.lastUnhealthy = why
		}
		return
	}
	if s.lastUnhealthy != "" {
		s.log.Info("systemd watchdog pings resumed")
		s.lastUnhealthy = ""
	}
	if now.Sub(s.lastPing) >= s.watchdog {
		s.notify(sdnotify.Watchdog)
		s.lastPing = now
	}
}

// status describes the current state in one line.
func (s *systemdState) status() string {
	owned := s.owned()
	switch {
	case !s.watcher.Synced():
		return fmt.Sprintf("routing table not synced, resyncing (netlink); %d addresses answered from the last sync", owned)
	case s.resp.Attached():
		return fmt.Sprintf("answering on %s for %d addresses", s.uplink, owned)
	case !s.uplinkUp(s.uplink):
		return fmt.Sprintf("waiting for uplink %s (missing, down or not Ethernet); %d addresses owned", s.uplink, owned)
	default:
		return fmt.Sprintf("attaching to uplink %s; %d addresses owned", s.uplink, owned)
	}
}

// unhealthy says why no watchdog ping should be sent now, or "" when one
// may be. Before the first sync, start-up is TimeoutStartSec's business.
// A responder that is not attached while the uplink is missing or down is
// waiting, as it should; attached, or the uplink up but the responder not
// attached to it for longer than detachGrace (it retries every 2 s at
// most), tells.
func (s *systemdState) unhealthy(now time.Time) string {
	select {
	case <-s.watcher.Ready():
	default:
		return ""
	}
	if !s.watcher.Synced() {
		return "routing table not synced"
	}
	if s.resp.Attached() || !s.uplinkUp(s.uplink) {
		s.detachedSince = time.Time{}
		return ""
	}
	if s.detachedSince.IsZero() {
		s.detachedSince = now
	}
	if now.Sub(s.detachedSince) >= s.detachGrace {
		return "uplink is up but its socket is not attached"
	}
	return ""
}

func (s *systemdState) notify(states ...string) {
	if err := s.send(states...); err != nil {
		s.log.Warn("notifying systemd failed", "err", err)
	}
}
