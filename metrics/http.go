package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/proxyarp/proxyarp/responder"
)

// Status is the JSON document of GET /status, which proxyarp status prints.
type Status struct {
	// Uplink is the uplink's name; Attached says whether the packet socket
	// is open on it, UplinkMAC with which MAC (empty while not attached).
	Uplink    string `json:"uplink"`
	Attached  bool   `json:"attached"`
	UplinkMAC string `json:"uplink_mac,omitempty"`
	// RoutesSynced says whether the answer set follows the kernel.
	RoutesSynced bool `json:"routes_synced"`
	// DryRun is serve --dry-run: nothing is sent.
	DryRun bool `json:"dry_run"`
	// Owned lists the owned addresses, ascending, with their interface
	// when known.
	Owned []Owned `json:"owned"`
	// DevicesError says why the interfaces could not be read, if so.
	DevicesError string   `json:"devices_error,omitempty"`
	Counters     Counters `json:"counters"`
}

// Owned is one owned address and the guest interface it is routed to.
type Owned struct {
	IP  netip.Addr `json:"ip"`
	Dev string     `json:"dev,omitempty"`
}

// Counters are the metrics' counters, by the same names without the
// proxyarp_ prefix and _total suffix.
type Counters struct {
	Requests          uint64            `json:"requests"`
	RepliesSent       uint64            `json:"replies_sent"`
	Drops             map[string]uint64 `json:"drops"`
	RepliesSuppressed map[string]uint64 `json:"replies_suppressed"`
	GARPsSent         uint64            `json:"garps_sent"`
	Conflicts         uint64            `json:"conflicts"`
	NetlinkResyncs    uint64            `json:"netlink_resyncs"`
	CaptureDropped    uint64            `json:"capture_dropped"`
	ReadErrors        uint64            `json:"read_errors"`
	WriteErrors       uint64            `json:"write_errors"`
}

// Status assembles the status document.
func (m *Metrics) Status() Status {
	src := m.src
	st := src.Responder.Stats()
	s := Status{
		Uplink:       src.Uplink,
		Attached:     src.Responder.Attached(),
		RoutesSynced: src.Watcher.Synced(),
		DryRun:       src.DryRun,
		Owned:        []Owned{},
		Counters: Counters{
			Requests:          st.Frames,
			RepliesSent:       st.Replies,
			Drops:             map[string]uint64{},
			RepliesSuppressed: map[string]uint64{CauseDryRun: st.DryRunReplies, CauseRateLimit: st.RateLimitedReplies},
			GARPsSent:         st.GARPsSent,
			Conflicts:         st.Conflicts,
			NetlinkResyncs:    src.Watcher.Resyncs(),
			ReadErrors:        st.ReadErrors,
			WriteErrors:       st.WriteErrors,
		},
	}
	if mac, ok := src.Responder.UplinkMAC(); ok {
		s.UplinkMAC = mac.String()
	}
	for _, r := range responder.DropReasons() {
		s.Counters.Drops[r.String()] = st.Decisions[r]
	}
	if src.CaptureDropped != nil {
		s.Counters.CaptureDropped = src.CaptureDropped()
	}
	addrs := ownedAddrs(src.Set)
	var devs map[netip.Addr]string
	if src.Devices != nil && len(addrs) > 0 {
		var err error
		if devs, err = src.Devices(addrs); err != nil {
			s.DevicesError = err.Error()
		}
	}
	for _, a := range addrs {
		s.Owned = append(s.Owned, Owned{IP: a, Dev: devs[a]})
	}
	return s
}

// Health says what keeps the daemon from answering: "" when the uplink
// socket is attached and the answer set follows the kernel.
func (m *Metrics) Health() string {
	var why []string
	if !m.src.Responder.Attached() {
		why = append(why, fmt.Sprintf("uplink %s not attached", m.src.Uplink))
	}
	if !m.src.Watcher.Synced() {
		why = append(why, "routing table not synced")
	}
	return strings.Join(why, "; ")
}

// Handler serves /metrics (Prometheus text or protobuf), /healthz (200
// "ok", or 503 with the reason) and /status (JSON, Status).
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if why := m.Health(); why != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, why)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(m.Status())
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "proxyarp: /metrics /healthz /status")
	})
	return mux
}

// IsUnixAddr reports whether a --metrics-listen address names a unix
// socket: "unix:PATH" or an absolute path.
func IsUnixAddr(addr string) bool {
	return strings.HasPrefix(addr, "unix:") || strings.HasPrefix(addr, "/")
}

// UnixPath returns the socket path of a unix address.
func UnixPath(addr string) string { return strings.TrimPrefix(addr, "unix:") }

// Listen opens one --metrics-listen address: host:port for TCP, or a unix
// socket ("unix:PATH" or "/PATH"). A stale socket file at PATH (left by a
// daemon that was killed) is removed first; any other file there is an
// error. The socket is unlinked when the listener is closed.
func Listen(addr string) (net.Listener, error) {
	if !IsUnixAddr(addr) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("metrics listen %s: %w", addr, err)
		}
		return l, nil
	}
	path := UnixPath(addr)
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("metrics listen %s: exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("metrics listen %s: another process is listening there", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("metrics listen %s: remove stale socket: %w", path, err)
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("metrics listen %s: %w", path, err)
	}
	return l, nil
}

// Serve serves Handler on the listeners until ctx is done, then shuts the
// server down (waiting up to 2 s for requests in flight) and returns nil.
// It closes the listeners.
func (m *Metrics) Serve(ctx context.Context, log *slog.Logger, ls ...net.Listener) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv := &http.Server{
		Handler:           m.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, len(ls))
	for _, l := range ls {
		log.Info("metrics listening", "addr", l.Addr().String())
		go func() { errc <- srv.Serve(l) }()
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			for _, l := range ls {
				l.Close()
			}
			return fmt.Errorf("metrics server: %w", err)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return nil
}

// UnixClient returns an HTTP client that sends every request to the unix
// socket at path, whatever the URL's host.
func UnixClient(path string) *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", path)
			},
		},
	}
}
