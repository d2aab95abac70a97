package metrics

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/proxyarp/proxyarp/responder"
)

type fakeResponder struct {
	st       responder.Stats
	attached bool
}

func (f *fakeResponder) Stats() responder.Stats { return f.st }
func (f *fakeResponder) Attached() bool         { return f.attached }
func (f *fakeResponder) UplinkMAC() (responder.MAC, bool) {
	return responder.MAC{2, 0, 0, 0, 0, 1}, f.attached
}

type fakeWatcher struct {
	synced  bool
	resyncs uint64
	refused int
}

func (f *fakeWatcher) Synced() bool    { return f.synced }
func (f *fakeWatcher) Resyncs() uint64 { return f.resyncs }
func (f *fakeWatcher) Refused() int    { return f.refused }

type fakeSet []netip.Addr

func (s fakeSet) Len() int            { return len(s) }
func (s fakeSet) Addrs() []netip.Addr { return s }

var (
	g1 = netip.MustParseAddr("192.0.2.2")
	g2 = netip.MustParseAddr("192.0.2.3")
)

func newTest(attached, synced bool) (*Metrics, *fakeResponder) {
	resp := &fakeResponder{attached: attached, st: responder.Stats{
		Frames: 10, Replies: 4, DryRunReplies: 2, RateLimitedReplies: 5, GARPsSent: 3, Conflicts: 1, ReadErrors: 1,
		Decisions: map[responder.Reason]uint64{responder.Answer: 6, responder.NotOwned: 3, responder.OwnAddress: 1},
	}}
	m := New(Sources{
		Uplink:         "eth0",
		Responder:      resp,
		Watcher:        &fakeWatcher{synced: synced, resyncs: 2, refused: 5},
		Set:            fakeSet{g1, g2},
		CaptureDropped: func() uint64 { return 7 },
		Devices: func(addrs []netip.Addr) (map[netip.Addr]string, error) {
			return map[netip.Addr]string{g1: "vif1.0", g2: "vif2.0"}, nil
		},
	})
	return m, resp
}

// scrape fetches /metrics and parses the text format.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return mfs
}

// value returns the value of the sample of family name with the label
// pair (or the only sample).
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name, label, lv string) float64 {
	t.Helper()
	mf, ok := mfs[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	for _, m := range mf.Metric {
		if label == "" {
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
		for _, lp := range m.Label {
			if lp.GetName() == label && lp.GetValue() == lv {
				return m.Counter.GetValue()
			}
		}
	}
	t.Fatalf("no sample %s{%s=%q}", name, label, lv)
	return 0
}

func TestMetricsContract(t *testing.T) {
	m, _ := newTest(true, true)
	m.Latency().Observe(30e-6)
	mfs := scrape(t, m.Handler())
	want := map[string]float64{
		"proxyarp_requests_total":          10,
		"proxyarp_replies_sent_total":      4,
		"proxyarp_owned_addresses":         2,
		"proxyarp_netlink_resyncs_total":   2,
		"proxyarp_uplink_up":               1,
		"proxyarp_garps_sent_total":        3,
		"proxyarp_conflicts_total":         1,
		"proxyarp_capture_dropped_total":   7,
		"proxyarp_owned_refused_addresses": 5,
	}
	for name, v := range want {
		if got := value(t, mfs, name, "", ""); got != v {
			t.Errorf("%s = %v, want %v", name, got, v)
		}
	}
	for _, r := range responder.DropReasons() {
		value(t, mfs, "proxyarp_drops_total", "reason", r.String()) // present, even at 0
	}
	if got := value(t, mfs, "proxyarp_drops_total", "reason", "not-owned"); got != 3 {
		t.Errorf("drops{not-owned} = %v, want 3", got)
	}
	if got := value(t, mfs, "proxyarp_replies_suppressed_total", "cause", "dry-run"); got != 2 {
		t.Errorf("suppressed{dry-run} = %v, want 2", got)
	}
	if got := value(t, mfs, "proxyarp_replies_suppressed_total", "cause", "rate-limit"); got != 5 {
		t.Errorf("suppressed{rate-limit} = %v, want 5", got)
	}
	h := mfs["proxyarp_reply_latency_seconds"]
	if h == nil || h.GetType() != dto.MetricType_HISTOGRAM || h.Metric[0].Histogram.GetSampleCount() != 1 {
		t.Errorf("reply latency histogram = %v, want one sample", h)
	}
	if _, ok := mfs["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
}

func TestHealthz(t *testing.T) {
	for _, tt := range []struct {
		name             string
		attached, synced bool
		code             int
		body             string
	}{
		{"attached and synced is healthy", true, true, 200, "ok"},
		{"an uplink not attached is unhealthy", false, true, 503, "uplink eth0 not attached"},
		{"a routing table not synced is unhealthy", true, false, 503, "routing table not synced"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newTest(tt.attached, tt.synced)
			rec := httptest.NewRecorder()
			m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
			if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.body) {
				t.Errorf("GET /healthz = %d %q, want %d containing %q", rec.Code, rec.Body, tt.code, tt.body)
			}
		})
	}
}

func TestStatusJSON(t *testing.T) {
	m, _ := newTest(true, true)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/status", nil))
	var got Status
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("decoding /status: %v\n%s", err, rec.Body)
	}
	wantOwned := []Owned{{IP: g1, Dev: "vif1.0"}, {IP: g2, Dev: "vif2.0"}}
	if diff := cmp.Diff(wantOwned, got.Owned, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("owned (-want +got):\n%s", diff)
	}
	if got.Uplink != "eth0" || !got.Attached || got.UplinkMAC != "02:00:00:00:00:01" || !got.RoutesSynced {
		t.Errorf("status = %+v", got)
	}
	if got.Counters.Requests != 10 || got.Counters.Drops["not-owned"] != 3 || got.Counters.RepliesSuppressed["dry-run"] != 2 {
		t.Errorf("counters = %+v", got.Counters)
	}
}

func TestStatusReportsDevicesError(t *testing.T) {
	m, _ := newTest(true, true)
	m.src.Devices = func([]netip.Addr) (map[netip.Addr]string, error) { return nil, errors.New("netlink: boom") }
	s := m.Status()
	if s.DevicesError != "netlink: boom" || len(s.Owned) != 2 || s.Owned[0].Dev != "" {
		t.Errorf("status = %+v, want both owned without dev, and the error", s)
	}
}

func TestListenUnixReplacesAStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.sock")
	l1, err := Listen("unix:" + path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(path); err == nil {
		t.Fatal("a second listener on a live socket succeeded")
	}
	// A killed daemon leaves the file behind: simulate with no unlink.
	l1.(interface{ SetUnlinkOnClose(bool) }).SetUnlinkOnClose(false)
	l1.Close()
	l2, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	defer l2.Close()
	go http.Serve(l2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") }))
	c := UnixClient(path)
	resp, err := c.Get("http://unix/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}
