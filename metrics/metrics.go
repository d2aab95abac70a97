// Package metrics is serve's window for operators: Prometheus metrics read
// from the responder, the answer set and the route watcher at scrape time,
// a health check and a JSON status, all served over HTTP on the addresses
// of serve --metrics-listen (TCP or a unix socket).
//
// Nothing here is on the answer path except the reply latency histogram,
// which the responder observes itself (prometheus.Histogram.Observe does
// not allocate). Everything else is read when scraped: counters are the
// responder's own atomic counters, not a second set kept per packet.
//
// Metric names are a contract (issue 14):
//
//	proxyarp_requests_total                  ARP frames read on the uplink and decided
//	proxyarp_replies_sent_total              replies written
//	proxyarp_drops_total{reason}             frames not answered, by Decide's reason
//	proxyarp_replies_suppressed_total{cause} answers decided but not sent: dry-run, rate-limit
//	proxyarp_owned_addresses                 addresses answered for now
//	proxyarp_netlink_resyncs_total           full resyncs after lost netlink events
//	proxyarp_uplink_up                       1 while the packet socket is attached
//	proxyarp_garps_sent_total                gratuitous ARP announcements written
//	proxyarp_conflicts_total                 frames showing another machine using an owned address
//	proxyarp_capture_dropped_total           frames serve --pcap could not record
//	proxyarp_reply_latency_seconds           frame read to reply written (histogram)
//
// Every reason and cause label exists from the start, at 0.
package metrics

import (
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/proxyarp/proxyarp/responder"
)

// Suppression causes, the cause label of proxyarp_replies_suppressed_total.
const (
	CauseDryRun    = "dry-run"
	CauseRateLimit = "rate-limit"
)

// Responder is what the metrics read from the responder;
// *responder.Responder implements it.
type Responder interface {
	Stats() responder.Stats
	Attached() bool
	UplinkMAC() (responder.MAC, bool)
}

// Watcher is what the metrics read from the route watcher; *routes.Watcher
// implements it.
type Watcher interface {
	Synced() bool
	Resyncs() uint64
	// Refused is the number of addresses that would be owned but are
	// refused because the answer set is at --max-owned.
	Refused() int
}

// OwnedSet is what the metrics read from the answer set; *routes.Set
// implements it. A set that also implements OwnedSet6 has its IPv6
// addresses counted and listed too.
type OwnedSet interface {
	Len() int
	Addrs() []netip.Addr
}

// OwnedSet6 is the IPv6 side of an OwnedSet (*routes.Set implements it).
type OwnedSet6 interface {
	Len6() int
	Addrs6() []netip.Addr
}

// ownedLen is the number of owned addresses of both families.
func ownedLen(s OwnedSet) int {
	n := s.Len()
	if s6, ok := s.(OwnedSet6); ok {
		n += s6.Len6()
	}
	return n
}

// ownedAddrs lists the owned addresses, IPv4 first, each family ascending.
func ownedAddrs(s OwnedSet) []netip.Addr {
	a := s.Addrs()
	if s6, ok := s.(OwnedSet6); ok {
		a = append(a, s6.Addrs6()...)
	}
	return a
}

// Sources are the daemon's parts the endpoints read. Responder, Watcher and
// Set are required.
type Sources struct {
	// Uplink is the uplink's name, for /status and /healthz.
	Uplink string
	// DryRun is serve --dry-run, for /status.
	DryRun    bool
	Responder Responder
	Watcher   Watcher
	Set       OwnedSet
	// CaptureDropped, when set, returns the frames serve --pcap dropped.
	CaptureDropped func() uint64
	// Devices, when set, returns the interface each owned address is
	// routed to, for /status (it may read the kernel: it is called once
	// per /status request, never per scrape).
	Devices func(addrs []netip.Addr) (map[netip.Addr]string, error)
}

// LatencyBuckets are the reply latency histogram's upper bounds, in
// seconds: 5 us doubling to about 82 ms. A userspace responder answers in
// tens of microseconds; the kernel's proxy_delay is 0.8 s.
var LatencyBuckets = prometheus.ExponentialBuckets(5e-6, 2, 15)

// Metrics is the registry of one daemon: the collector over Sources, the
// reply latency histogram, and the Go runtime and process collectors.
type Metrics struct {
	src     Sources
	reg     *prometheus.Registry
	latency prometheus.Histogram
}

// New returns the metrics of a daemon, in a registry of their own.
func New(src Sources) *Metrics {
	m := &Metrics{
		src: src,
		reg: prometheus.NewRegistry(),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "proxyarp_reply_latency_seconds",
			Help:    "Time from reading an answered ARP request to writing its reply.",
			Buckets: LatencyBuckets,
		}),
	}
	m.reg.MustRegister(
		&collector{src: src},
		m.latency,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Latency is the histogram to set as responder.Responder.Latency.
func (m *Metrics) Latency() prometheus.Histogram { return m.latency }

// Registry returns the registry, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

var (
	descRequests = prometheus.NewDesc("proxyarp_requests_total",
		"ARP and NDP frames read on the uplink and decided (answered or dropped).", nil, nil)
	descReplies = prometheus.NewDesc("proxyarp_replies_sent_total",
		"ARP replies and Neighbor Advertisements written on the uplink.", nil, nil)
	descDrops = prometheus.NewDesc("proxyarp_drops_total",
		"ARP and NDP frames not answered, by Decide's reason.", []string{"reason"}, nil)
	descSuppressed = prometheus.NewDesc("proxyarp_replies_suppressed_total",
		"Requests decided to be answered whose reply was not sent, by cause.", []string{"cause"}, nil)
	descOwned = prometheus.NewDesc("proxyarp_owned_addresses",
		"Addresses answered for now.", nil, nil)
	descResyncs = prometheus.NewDesc("proxyarp_netlink_resyncs_total",
		"Full resyncs of the routing state after netlink events were lost.", nil, nil)
	descUplinkUp = prometheus.NewDesc("proxyarp_uplink_up",
		"1 while the packet socket is attached to the uplink, else 0.", nil, nil)
	descGARPs = prometheus.NewDesc("proxyarp_garps_sent_total",
		"Gratuitous ARP announcements written on the uplink.", nil, nil)
	descGARPsSuppressed = prometheus.NewDesc("proxyarp_garps_suppressed_total",
		"Gratuitous ARP announcements not sent, by cause.", []string{"cause"}, nil)
	descConflicts = prometheus.NewDesc("proxyarp_conflicts_total",
		"ARP frames on the uplink showing another machine using or probing for an owned address.", nil, nil)
	descCaptureDropped = prometheus.NewDesc("proxyarp_capture_dropped_total",
		"Frames serve --pcap did not record because its queue was full.", nil, nil)
	descSocketErrors = prometheus.NewDesc("proxyarp_socket_errors_total",
		"Failed reads and writes on the uplink's packet socket.", []string{"op"}, nil)
	descSocketDrops = prometheus.NewDesc("proxyarp_socket_drops_total",
		"Frames the kernel dropped before proxyarp read them: the uplink socket's receive ring was full.", nil, nil)
	descSynced = prometheus.NewDesc("proxyarp_routes_synced",
		"1 while the answer set follows the kernel's routing table, else 0.", nil, nil)
	descRefused = prometheus.NewDesc("proxyarp_owned_refused_addresses",
		"Addresses routed to guests but not answered because the answer set is at --max-owned.", nil, nil)
)

// collector reads Sources at scrape time.
type collector struct{ src Sources }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descReplies, descDrops, descSuppressed,
		descOwned, descResyncs, descUplinkUp, descGARPs, descGARPsSuppressed, descConflicts,
		descCaptureDropped, descSocketErrors, descSocketDrops, descSynced, descRefused} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Responder.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter(descRequests, st.Frames)
	counter(descReplies, st.Replies)
	for _, r := range responder.DropReasons() {
		counter(descDrops, st.Decisions[r], r.String())
	}
	counter(descSuppressed, st.DryRunReplies, CauseDryRun)
	counter(descSuppressed, st.RateLimitedReplies, CauseRateLimit)
	counter(descGARPs, st.GARPsSent)
	counter(descGARPsSuppressed, st.DryRunGARPs, CauseDryRun)
	counter(descGARPsSuppressed, st.GARPsDropped, "queue-full")
	counter(descConflicts, st.Conflicts)
	counter(descSocketErrors, st.ReadErrors, "read")
	counter(descSocketErrors, st.WriteErrors, "write")
	counter(descSocketDrops, st.SocketDrops)
	counter(descResyncs, c.src.Watcher.Resyncs())
	var dropped uint64
	if c.src.CaptureDropped != nil {
		dropped = c.src.CaptureDropped()
	}
	counter(descCaptureDropped, dropped)
	gauge(descOwned, float64(ownedLen(c.src.Set)))
	gauge(descUplinkUp, b2f(c.src.Responder.Attached()))
	gauge(descSynced, b2f(c.src.Watcher.Synced()))
	gauge(descRefused, float64(c.src.Watcher.Refused()))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
