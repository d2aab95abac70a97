package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/proxyarp/proxyarp/capture"
	"github.com/proxyarp/proxyarp/explain"
	"github.com/proxyarp/proxyarp/hostcheck"
	"github.com/proxyarp/proxyarp/metrics"
	"github.com/proxyarp/proxyarp/responder"
	"github.com/proxyarp/proxyarp/routes"
)

const serveUsage = `Usage: proxyarp serve --uplink IFACE [flags]

Answers ARP requests arriving on IFACE for every IPv4 address A that:
  - has a /32 route in the main table, and every lowest-metric /32 route to A
    leaves through a guest interface (name matching --guest-ifaces) that is
    up and has carrier (all nexthops, for a multipath route);
  - is not an address of this host;
  - is inside --allow, when given.
The reply carries IFACE's MAC. Shorter prefixes routed to guests, other
routing tables and policy rules are never answered.

IPv6 (unless --ndp=false or IPv6 is disabled on IFACE): Neighbor
Solicitations arriving on IFACE are answered with a Neighbor Advertisement
for every IPv6 address A with a /128 route through a guest interface, by
the same rule; the solicited-node group of each such A is joined on IFACE.
Guests use the provider's /64 without its on-link route (or a /128) and
"default via fe80::1" (fe80::1/64 on each guest interface). The set follows the
kernel's routing table live (netlink), whoever installs the routes:
vif-route, ip route, or a Proxmox/KVM hook.

Turn the kernel's own proxy ARP (and proxy NDP) off on the uplink once
this runs:
  sysctl -w net.ipv4.conf.IFACE.proxy_arp=0 net.ipv6.conf.IFACE.proxy_ndp=0
An uplink that does not exist yet, or is down, is waited for; one that goes
away is re-attached when it returns. SIGINT or SIGTERM stop it (exit 0).

--dry-run decides, logs, records (--pcap) and counts every request as usual
but sends nothing: run it beside the kernel's proxy_arp before switching
over, and compare proxyarp_replies_suppressed_total{cause="dry-run"} with
what the kernel answers.

--metrics-listen serves Prometheus metrics on /metrics, a health check on
/healthz (503 while the uplink socket is not attached or the routing table
is not synced) and the owned set with counters as JSON on /status, which
"proxyarp status" prints. See docs/metrics.md.

--config FILE reads every flag from a TOML file (docs/config.md; example
in dist/proxyarp.toml); flags on the command line win over the file. SIGHUP
re-reads it without closing the socket and applies the guest globs, the allow
list, the garp settings, the rate limit, defend-dad and the log level; a file that does
not parse keeps the running config (one log line says why). The other keys
need a restart.

Flags:
`

// serveConfig is the parsed command line of serve.
type serveConfig struct {
	uplink    string
	guests    routes.Globs
	allow     []netip.Prefix
	logFormat string
	logLevel  slog.Level
	announce  responder.AnnounceConfig
	pcap      capture.Flags
	// metricsListen are the --metrics-listen addresses (TCP host:port or
	// a unix socket path); dryRun is --dry-run.
	metricsListen []string
	dryRun        bool
	// rateLimit is --rate-limit in replies per second per requester MAC
	// (0: off); maxOwned is --max-owned; configPath is --config.
	rateLimit  float64
	maxOwned   int
	configPath string
	// busyPoll is --busy-poll (0: never spin); keepWarm is --keep-warm
	// (0: never); ring is --read=ring.
	busyPoll time.Duration
	keepWarm time.Duration
	ring     bool
	// ndp is --ndp (answer IPv6 Neighbor Solicitations); defendDAD is
	// --defend-dad.
	ndp       bool
	defendDAD bool
}

// responderConfig is the Decide configuration of cfg.
func (cfg serveConfig) responderConfig() *responder.Config {
	return &responder.Config{Allow: cfg.allow, DefendDAD: cfg.defendDAD}
}

func parseServe(args []string, stdout io.Writer) (serveConfig, error) {
	var (
		cfg       serveConfig
		guests    string
		allow     string
		logFormat string
		logLevel  string
	)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.uplink, "uplink", "", "the `IFACE` the upstream router ARPs on (required)")
	fs.StringVar(&guests, "guest-ifaces", routes.DefaultGlobs, "comma-separated shell `GLOBS` naming guest interfaces")
	fs.StringVar(&allow, "allow", "", "comma-separated IPv4 or IPv6 `PREFIXES`; when set, only addresses inside them are answered")
	fs.IntVar(&cfg.announce.Count, "garp-count", responder.DefaultAnnounce.Count, "send `N` gratuitous ARP announcements when an address becomes owned after start-up (0 disables)")
	fs.DurationVar(&cfg.announce.Interval, "garp-interval", responder.DefaultAnnounce.Interval, "`TIME` between the announcements of one burst")
	fs.IntVar(&cfg.announce.Rate, "garp-rate", responder.DefaultAnnounce.Rate, "at most `N` announcements per second over all addresses (0: no cap)")
	fs.StringVar(&logFormat, "log-format", "text", "log format on stderr: `text` or json")
	fs.StringVar(&logLevel, "log-level", "info", "least severe `LEVEL` logged: debug, info, warn or error")
	cfg.pcap.Register(fs)
	fs.Func("metrics-listen", "serve /metrics, /healthz and /status on `ADDR`: host:port, or a unix socket path (/run/proxyarp/proxyarp.sock, what proxyarp status asks by default); repeatable", func(s string) error {
		if s == "" {
			return errors.New("empty address")
		}
		cfg.metricsListen = append(cfg.metricsListen, s)
		return nil
	})
	fs.BoolVar(&cfg.ndp, "ndp", true, "answer IPv6 Neighbor Solicitations too (and send unsolicited Neighbor Advertisements); --ndp=false: ARP only")
	fs.BoolVar(&cfg.defendDAD, "defend-dad", false, "answer IPv6 duplicate address detection probes for owned addresses (as the kernel's proxy_ndp does), so that another machine does not take a guest's address")
	fs.BoolVar(&cfg.dryRun, "dry-run", false, "decide, log, record and count as usual but send nothing (no replies, no gratuitous ARP)")
	fs.Func("rate-limit", "answer each requester MAC at most `N/s` (a burst of N, then N per second); 0 or off: no limit (default off)", func(s string) error {
		r, err := parseRate(s)
		cfg.rateLimit = r
		return err
	})
	fs.DurationVar(&cfg.busyPoll, "busy-poll", responder.DefaultBusyPoll, "after a request that came within `TIME` of the one before, poll for the next in memory for up to TIME instead of sleeping (0: never)")
	fs.DurationVar(&cfg.keepWarm, "keep-warm", responder.DefaultKeepWarm, "for `TIME` after a request, wake the reading thread every 5 ms so that the next request is answered without waking Go's scheduler first (tens of microseconds sooner; ~300 wake-ups/s while warm); 0: never")
	readMode := "ring"
	fs.StringVar(&readMode, "read", readMode, "how requests are read: `ring` (a memory-mapped receive ring) or recvmmsg (sleeping in the kernel's receive); see docs/BENCHMARKS.md")
	fs.IntVar(&cfg.maxOwned, "max-owned", routes.DefaultMaxOwned, "own at most `N` addresses; beyond, log once and refuse more")
	fs.StringVar(&cfg.configPath, "config", "", "read flags from TOML `FILE` (docs/config.md); command-line flags win; SIGHUP re-reads it")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, serveUsage)
			printFlags(stdout, fs)
			return cfg, errHelp
		}
		return cfg, usagef("serve: %v (see proxyarp serve --help)", err)
	}
	if fs.NArg() > 0 {
		return cfg, usagef("serve: unexpected argument %q (see proxyarp serve --help)", fs.Arg(0))
	}
	var origin *configOrigin
	if cfg.configPath != "" {
		cmdline := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { cmdline[f.Name] = true })
		o, err := applyConfigFile(cfg.configPath, fs, cmdline)
		if err != nil {
			return cfg, err
		}
		origin = o
	}
	opt := origin.name
	if cfg.uplink == "" {
		return cfg, usagef("serve: --uplink is required (the interface the router ARPs on, for example eth0)")
	}
	if len(cfg.uplink) > 15 || strings.ContainsAny(cfg.uplink, "/ \t\n") {
		return cfg, usagef("serve: %s %q is not a valid interface name", opt("uplink"), cfg.uplink)
	}
	g, err := routes.ParseGlobs(guests)
	if err != nil {
		return cfg, usagef("serve: %s: %v", opt("guest-ifaces"), err)
	}
	cfg.guests = g
	if allow != "" {
		for _, s := range strings.Split(allow, ",") {
			s = strings.TrimSpace(s)
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return cfg, usagef("serve: %s: bad prefix %q (want a CIDR like 192.0.2.0/24 or 2001:db8::/64)", opt("allow"), s)
			}
			if p.Addr().Is4In6() || p.Addr().Zone() != "" {
				return cfg, usagef("serve: %s: %q: want an IPv4 prefix or a plain IPv6 one (no mapped IPv4, no zone)", opt("allow"), s)
			}
			cfg.allow = append(cfg.allow, p.Masked())
		}
	}
	if cfg.announce.Count < 0 || cfg.announce.Count > 100 {
		return cfg, usagef("serve: %s %d: want 0 (off) to 100", opt("garp-count"), cfg.announce.Count)
	}
	if cfg.announce.Interval <= 0 && cfg.announce.Count > 1 {
		return cfg, usagef("serve: %s %v: want a positive duration such as 1s", opt("garp-interval"), cfg.announce.Interval)
	}
	if cfg.announce.Rate < 0 {
		return cfg, usagef("serve: %s %d: want 0 (no cap) or more", opt("garp-rate"), cfg.announce.Rate)
	}
	if cfg.busyPoll < 0 || cfg.busyPoll > time.Second {
		return cfg, usagef("serve: %s %v: want 0 (never spin) up to 1s", opt("busy-poll"), cfg.busyPoll)
	}
	if cfg.keepWarm < 0 || cfg.keepWarm > time.Minute {
		return cfg, usagef("serve: %s %v: want 0 (never) up to 1m", opt("keep-warm"), cfg.keepWarm)
	}
	switch readMode {
	case "recvmmsg":
	case "ring":
		cfg.ring = true
	default:
		return cfg, usagef("serve: %s %q: want recvmmsg or ring", opt("read"), readMode)
	}
	if cfg.maxOwned < 1 {
		return cfg, usagef("serve: %s %d: want 1 or more", opt("max-owned"), cfg.maxOwned)
	}
	if err := cfg.pcap.Validate(); err != nil {
		if origin != nil && len(origin.lines) > 0 {
			return cfg, usagef("serve: %v (with %s)", err, origin.file)
		}
		return cfg, usagef("serve: %v", err)
	}
	switch logFormat {
	case "text", "json":
		cfg.logFormat = logFormat
	default:
		return cfg, usagef("serve: %s %q: want text or json", opt("log-format"), logFormat)
	}
	if err := cfg.logLevel.UnmarshalText([]byte(logLevel)); err != nil {
		return cfg, usagef("serve: %s %q: want debug, info, warn or error", opt("log-level"), logLevel)
	}
	return cfg, nil
}

func newLogger(w io.Writer, format string, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serve(args []string, stdout, stderr io.Writer) error {
	cfg, err := parseServe(args, stdout)
	if err != nil {
		return err
	}
	// Catch SIGINT and SIGTERM first: a stop asked for during start-up is
	// a clean stop (exit 0), not the default kill.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	level := new(slog.LevelVar) // SIGHUP may change it
	level.Set(cfg.logLevel)
	log := newLogger(stderr, cfg.logFormat, level)
	// From here on SIGHUP reloads --config instead of killing the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	if err := responder.CheckPermission(); err != nil {
		return err
	}
	// Listen before anything else runs: a taken port fails at once.
	var listeners []net.Listener
	for _, addr := range cfg.metricsListen {
		l, err := metrics.Listen(addr)
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return err
		}
		listeners = append(listeners, l)
	}
	defer func() {
		for _, l := range listeners {
			l.Close() // a second close after Serve's is harmless
		}
	}()
	for _, f := range (hostcheck.Checker{}).Uplink(cfg.uplink) {
		log.Warn(f.Problem, "check", f.Check, "fix", f.Fix)
	}
	if cfg.ndp {
		for _, f := range (hostcheck.Checker{}).Uplink6(cfg.uplink) {
			log.Warn(f.Problem, "check", f.Check, "fix", f.Fix)
		}
	}

	src, err := routes.NewNetlinkSource(nil)
	if err != nil {
		return err
	}
	set := routes.NewSet()
	watcher := &routes.Watcher{
		Source: src,
		Set:    set,
		Guests: cfg.guests,
		Allow:  cfg.allow,
		Uplink: cfg.uplink,
		Log:    log,

		MaxOwned: cfg.maxOwned,
	}
	resp := &responder.Responder{
		Uplink: cfg.uplink,
		Set:    set,
		Config: cfg.responderConfig(),
		Log:    log,
		NDP:    cfg.ndp,

		Announcements: cfg.announce,
		DryRun:        cfg.dryRun,
		RateLimit:     cfg.rateLimit,
		Listen: func(ifi *net.Interface) (responder.Conn, error) {
			return responder.ListenPacketWith(ifi, responder.ListenOptions{BusyPoll: cfg.busyPoll, KeepWarm: cfg.keepWarm, Ring: cfg.ring})
		},
		ListenNDP: func(ifi *net.Interface) (responder.Conn, error) {
			return responder.ListenPacketWith(ifi, responder.ListenOptions{BusyPoll: cfg.busyPoll, KeepWarm: cfg.keepWarm, Ring: cfg.ring, Proto: responder.ProtoNDP})
		},
	}
	// A guest that appears, moves here or gets its carrier back after
	// start-up is announced, so the router need not wait for its entry to
	// expire.
	watcher.OnChange = func(c routes.Change) {
		if c.Owned && !c.Startup {
			resp.Announce(c.Addr)
		}
	}
	// IPv6: the same, plus the solicited-node group of every owned
	// address, joined on the uplink so that solicitations reach it.
	if cfg.ndp {
		watcher.OnChange6 = func(c routes.Change) {
			resp.SetOwned(c.Addr, c.Owned)
			if c.Owned && !c.Startup {
				resp.Announce(c.Addr)
			}
		}
	}
	rec, err := cfg.pcap.NewRecorder(cfg.uplink, cfg.guests, cfg.allow, set, log)
	if err != nil {
		return err
	}
	if rec != nil {
		rec.Attach(resp, watcher) // chains the hooks set above
	}
	var m *metrics.Metrics
	if len(listeners) > 0 {
		src := metrics.Sources{
			Uplink:    cfg.uplink,
			DryRun:    cfg.dryRun,
			Responder: resp,
			Watcher:   watcher,
			Set:       set,
			Devices:   liveDevices,
		}
		if rec != nil {
			src.CaptureDropped = func() uint64 { return rec.Stats().DroppedFrames }
		}
		m = metrics.New(src)
		resp.Latency = m.Latency()
	}
	// The kernel tells the packet socket when the uplink goes down or away,
	// not when it gets a new MAC: every link event makes the responder look.
	watcher.OnLink = func(routes.Link, routes.EventKind) { resp.Recheck() }
	log.Info("starting", "uplink", cfg.uplink, "guest_ifaces", cfg.guests.String(), "allow", prefixList(cfg.allow), "dry_run", cfg.dryRun,
		"rate_limit", rateString(cfg.rateLimit), "max_owned", cfg.maxOwned, "config", cfg.configPath,
		"ndp", cfg.ndp, "defend_dad", cfg.defendDAD)
	if cfg.dryRun {
		log.Warn("dry run: deciding and counting, sending nothing (no replies, no gratuitous ARP)")
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return watcher.Run(gctx) })
	g.Go(func() error { return resp.Run(gctx) })
	// systemd (Type=notify): READY, STATUS, watchdog pings, STOPPING.
	g.Go(func() error {
		return notifySystemd(gctx, log, cfg.uplink, watcher, resp, func() int { return set.Len() + set.Len6() })
	})
	if rec != nil {
		g.Go(func() error { return rec.Run(gctx) })
	}
	g.Go(func() error {
		r := &reloader{args: args, cur: cfg, log: log, level: level, watcher: watcher, resp: resp, rec: rec}
		r.run(gctx, hup)
		return nil
	})
	if m != nil {
		g.Go(func() error { return m.Serve(gctx, log, listeners...) })
	}
	g.Go(func() error {
		select {
		case <-watcher.Ready():
			log.Info("routing table loaded", "owned", set.Len(), "owned6", set.Len6())
		case <-gctx.Done():
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// liveDevices names the interface of each owned address from a fresh
// netlink dump, for /status.
func liveDevices(addrs []netip.Addr) (map[netip.Addr]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h, err := explain.Read(ctx)
	if err != nil {
		return nil, err
	}
	return explain.Devices(h.Snapshot, addrs), nil
}

func prefixList(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "any"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// printFlags lists a flag set's flags GNU-style, as --name VALUE.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			// A switch: no value to give, off unless given.
			fmt.Fprintf(w, "  --%s\n        %s\n", f.Name, usage)
			return
		}
		fmt.Fprintf(w, "  --%s %s\n        %s", f.Name, arg, usage)
		if f.DefValue != "" {
			fmt.Fprintf(w, " (default %q)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}
