package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// readRecords reads a results file: one JSON object per line; other
// lines are skipped.
func readRecords(path string) ([]map[string]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var recs []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		var r map[string]any
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &r) == nil {
			recs = append(recs, r)
		}
	}
	return recs, sc.Err()
}

// runReport turns the driver's JSON lines (and go test -bench output) into
// the tables of docs/BENCHMARKS.md, and prints the same tables.
func runReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	in := fs.String("in", "", "results, JSON lines")
	gobench := fs.String("gobench", "", "output of go test -bench")
	md := fs.String("md", "", "write the markdown document here")
	svg := fs.String("svg", "", "write a latency CDF plot (SVG) here")
	svgRef := fs.String("svg-ref", "", "how the markdown links the plot (default: --svg)")
	notes := fs.String("notes", "", "markdown appended to the document (the analysis of the figures)")
	fs.Parse(args)
	recs, err := readRecords(*in)
	if err != nil {
		return err
	}
	var gb string
	if *gobench != "" {
		b, _ := os.ReadFile(*gobench)
		gb = string(b)
	}
	tables := renderTables(recs, gb)
	fmt.Print(tables)
	if *svg != "" {
		if err := os.WriteFile(*svg, []byte(cdfSVG(recs)), 0o644); err != nil {
			return err
		}
		ref := *svgRef
		if ref == "" {
			ref = *svg
		}
		tables = fmt.Sprintf("![wire latency CDF per responder](%s)\n\n", ref) + tables
	}
	if *md == "" {
		return nil
	}
	var meta map[string]any
	for _, r := range recs {
		if r["kind"] == "meta" {
			meta = r
		}
	}
	var b strings.Builder
	writeDoc(&b, meta, tables)
	if *notes != "" {
		n, err := os.ReadFile(*notes)
		if err != nil {
			return err
		}
		b.WriteString("\n")
		b.Write(n)
	}
	return os.WriteFile(*md, []byte(b.String()), 0o644)
}

func get(r map[string]any, k string) string {
	v, ok := r[k]
	if !ok || v == nil {
		return ""
	}
	switch x := v.(type) {
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprintf("%d", int64(x))
		}
		return fmt.Sprintf("%g", x)
	default:
		return fmt.Sprint(x)
	}
}

func num(r map[string]any, k string) float64 {
	x, _ := r[k].(float64)
	return x
}

// us prints a latency in microseconds, as ms when large.
func us(x float64) string {
	switch {
	case x >= 10000:
		return fmt.Sprintf("%.1f ms", x/1000)
	case x >= 100:
		return fmt.Sprintf("%.0f us", x)
	default:
		return fmt.Sprintf("%.1f us", x)
	}
}

type table struct {
	title, note string
	head        []string
	rows        [][]string
}

func (t table) String() string {
	if len(t.rows) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", t.title)
	if t.note != "" {
		fmt.Fprintf(&b, "%s\n\n", t.note)
	}
	fmt.Fprintf(&b, "| %s |\n|", strings.Join(t.head, " | "))
	for range t.head {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range t.rows {
		fmt.Fprintf(&b, "| %s |\n", strings.Join(r, " | "))
	}
	b.WriteString("\n")
	return b.String()
}

func renderTables(recs []map[string]any, gobench string) string {
	lat := table{title: "Reply latency (arpgen lat, one request in flight)",
		note: "wire = kernel receive timestamp of the reply minus that of the request, both on the router's interface; " +
			"gen = from the generator's send call; inside = from proxyarp reading the request to its reply written (serve's reply latency histogram, " +
			"buckets doubling from 5 us: coarse). back-to-back: the next request 1 ms after the previous one; sporadic: 20 ms; " +
			"taking turns: proxyarp and the reference answer in alternating rounds (samples pooled), so that drift in the machine's load hits both alike; " +
			"under route churn: 1000 route changes/s in the host's main table meanwhile (arpgen churn).",
		head: []string{"responder", "requests", "answered", "wire p50", "wire p99", "wire max", "gen p50", "inside p50 (p99)"}}
	flood := table{title: "Throughput (arpgen flood, broadcast requests)",
		note: "answered = replies seen at the router / requests sent. drops: gen = the generator's own receive socket " +
			"(PACKET_STATISTICS), wire = veth tx_dropped at the router, host = rx_dropped of the host's uplink, " +
			"proxyarp = what proxyarp's receive socket dropped, ring or buffer full (proxyarp_socket_drops_total; - for other responders). " +
			"Responder CPU: time on CPU of all the responder's threads (/proc/PID/task/*/schedstat) over the flood / requests sent (userspace responders only).",
		head: []string{"responder", "offered", "targets", "sent", "answered", "reply rate", "responder CPU per request", "send errors", "drops gen/wire/host/proxyarp"}}
	conv := table{title: "Convergence (arpgen conv, a request every 1 ms)",
		note: "from just before arpgen's netlink route add / delete (in the host namespace, ~0.1 ms) to the kernel timestamp of the first reply after the add / " +
			"the last reply after the delete; resolution 1 ms (the request interval). 0: no reply after the delete began.",
		head: []string{"responder", "cycles", "route added -> first answer p50 (max)", "route removed -> last answer p50 (max)", "no answer"}}
	scale := table{title: "Scale (proxyarp serve, owned /32 routes in 198.18.0.0/15, no request sent to them)",
		head: []string{"owned routes", "first sync (resync done)", "start -> table loaded", "RSS high-water (VmHWM)", "CPU while idle, 10 s"}}
	other := table{title: "CPU while idle (10 s, time on CPU of all threads from /proc/PID/task/*/schedstat)",
		head: []string{"responder", "CPU"}}
	turns := map[string]*pooled{}
	var turnOrder []string
	churn := table{title: "Route churn (arpgen churn, during the \"under route churn\" latency case)",
		head: []string{"responder", "route changes/s asked", "achieved", "changes", "errors"}}
	for _, r := range recs {
		switch r["kind"] {
		case "churn":
			churn.rows = append(churn.rows, []string{get(r, "responder"), get(r, "rate"), get(r, "achieved_per_s") + "/s", get(r, "changes"), get(r, "errors")})
		case "lat":
			if r["case"] == "sporadic-turns" {
				name := get(r, "responder")
				if turns[name] == nil {
					turns[name] = &pooled{}
					turnOrder = append(turnOrder, name)
				}
				turns[name].add(r)
				continue
			}
			what := r["mode"].(string)
			switch num(r, "interval_ms") {
			case 1:
				what += ", back-to-back"
			case 20:
				what += ", sporadic"
			default:
				what += fmt.Sprintf(", %s ms apart", get(r, "interval_ms"))
			}
			if r["case"] == "churn" {
				what += ", under route churn"
			}
			ans := fmt.Sprintf("%s/%s", get(r, "answered"), get(r, "sent"))
			if num(r, "answered") == 0 {
				lat.rows = append(lat.rows, []string{get(r, "responder"), what, ans, "-", "-", "-", "-", ""})
				continue
			}
			inside := ""
			if _, ok := r["inside_p50_us"]; ok {
				inside = fmt.Sprintf("%s (%s)", us(num(r, "inside_p50_us")), us(num(r, "inside_p99_us")))
			}
			lat.rows = append(lat.rows, []string{get(r, "responder"), what, ans,
				us(num(r, "wire_p50_us")), us(num(r, "wire_p99_us")), us(num(r, "wire_max_us")), us(num(r, "gen_p50_us")), inside})
		case "flood":
			offered := "unpaced"
			if num(r, "rate") > 0 {
				offered = fmt.Sprintf("%s/s", get(r, "rate"))
			}
			offered += fmt.Sprintf(" (%s/s sent)", get(r, "offered_pps"))
			rr := get(r, "reply_pps")
			if rr != "" {
				rr += "/s"
			}
			flood.rows = append(flood.rows, []string{get(r, "responder"), offered, get(r, "targets"), get(r, "sent"),
				fmt.Sprintf("%.1f%% (%s)", num(r, "fraction")*100, get(r, "answered")), rr, cpuPerReq(r), get(r, "send_errors"),
				fmt.Sprintf("%s/%s/%s/%s", get(r, "gen_rx_drops"), get(r, "wire_tx_drops"), get(r, "peer_rx_drops"), cmp.Or(get(r, "responder_socket_drops"), "-"))})
		case "conv":
			conv.rows = append(conv.rows, []string{get(r, "responder"), get(r, "reps"),
				fmt.Sprintf("%s ms (%s)", get(r, "add_p50_ms"), get(r, "add_max_ms")),
				fmt.Sprintf("%s ms (%s)", get(r, "del_p50_ms"), get(r, "del_max_ms")), get(r, "add_missing")})
		case "scale":
			scale.rows = append(scale.rows, []string{get(r, "routes"), get(r, "sync_ms") + " ms", get(r, "loaded_ms") + " ms",
				get(r, "vmhwm_mb") + " MB", get(r, "idle_cpu_pct") + "%"})
		case "idle":
			other.rows = append(other.rows, []string{get(r, "responder"), get(r, "cpu_pct") + "%"})
		}
	}
	for _, name := range turnOrder {
		p := turns[name]
		ws := sorted(p.samples)
		lat.rows = append(lat.rows, []string{name, fmt.Sprintf("bcast, sporadic, taking turns (%d rounds)", p.rounds),
			fmt.Sprintf("%d/%d", p.answered, p.sent), us(pct(ws, 50)), us(pct(ws, 99)), us(pct(ws, 100)), "-", ""})
	}
	s := targetsTable(recs, turns).String() + lat.String() + ndpTable(recs).String() + flood.String() + conv.String() + churn.String() + scale.String() + other.String()
	if gobench != "" {
		s += goBenchTable(gobench).String()
	}
	return s
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+)\s+(\d+)\s+([\d.]+) ns/op(?:\s+([\d.]+) B/op)?(?:\s+([\d.]+) allocs/op)?`)

func goBenchTable(out string) table {
	t := table{title: "Go benchmarks of the answer path (`go test -run '^$' -bench . -benchmem ./responder/ ./routes/`)",
		head: []string{"package", "benchmark", "ns/op", "B/op", "allocs/op"}}
	pkg := ""
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "pkg: ") {
			pkg = strings.TrimPrefix(line, "pkg: github.com/proxyarp/proxyarp/")
		}
		if m := benchLine.FindStringSubmatch(line); m != nil {
			t.rows = append(t.rows, []string{pkg, m[1], m[3], m[4], m[5]})
		}
	}
	return t
}

func writeDoc(w io.Writer, meta map[string]any, tables string) {
	fmt.Fprintf(w, "# Benchmarks\n\n")
	fmt.Fprintf(w, "Generated by `make bench` (bench/run.sh; arpgen in bench/arpgen). Do not edit by hand: rerun it.\n\n")
	fmt.Fprintf(w, "Topology: router / host / guest network namespaces over veth pairs, as in the seed page: the router's eth0\n")
	fmt.Fprintf(w, "192.0.2.254/24 <-> the host's uplink eth0 192.0.2.1/24; guest 192.0.2.2 behind vif1.0 with a /32 route, and\n")
	fmt.Fprintf(w, "200 more /32 routes (192.0.2.10-209) via vif1.0 for the floods. Every responder runs in the same run, one\n")
	fmt.Fprintf(w, "after the other, against the same generator. The machine is shared and noisy: compare ratios inside one\n")
	fmt.Fprintf(w, "run, not absolute figures across runs.\n\n")
	if meta != nil {
		fmt.Fprintf(w, "## Machine and run\n\n")
		for _, k := range []string{"date", "cpu", "nproc", "kernel", "go", "load_before", "load_after", "duration_s", "command"} {
			if v := get(meta, k); v != "" {
				fmt.Fprintf(w, "- %s: %s\n", k, v)
			}
		}
		if v := get(meta, "note"); v != "" {
			fmt.Fprintf(w, "\n%s\n", v)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "## Figures\n\n%s", tables)
}

func cpuPerReq(r map[string]any) string {
	if _, ok := r["responder_cpu_us_per_req"]; !ok {
		return ""
	}
	return fmt.Sprintf("%s us (%s ms)", get(r, "responder_cpu_us_per_req"), get(r, "responder_cpu_ms"))
}

// pooled gathers the samples of several lat records of one responder.
type pooled struct {
	samples        []float64
	sent, answered int
	rounds         int
}

func (p *pooled) add(r map[string]any) {
	p.rounds++
	p.sent += int(num(r, "sent"))
	p.answered += int(num(r, "answered"))
	if xs, ok := r["samples_us"].([]any); ok {
		for _, x := range xs {
			if f, ok := x.(float64); ok {
				p.samples = append(p.samples, f)
			}
		}
	}
}

// Labels of the rows the targets compare.
const (
	labelProxyarp = "proxyarp"
	labelRef      = "arpgen ref (userspace floor)"
	labelFloor    = "kernel, own address (floor)"
	labelKernel0  = "kernel proxy_arp, proxy_delay=0"
)

// targetsTable checks the figures against the targets of the benchmark
// issue, from the same run: each row the measured value, the target, and
// whether it was met. A target whose figures are missing is left out.
func targetsTable(recs []map[string]any, turns map[string]*pooled) table {
	t := table{title: "Targets (this run)",
		note: "Each row compares figures of the run below; \"proxyarp\" is serve with its defaults.",
		head: []string{"target", "measured", "met"}}
	find := func(kind, responder string, match func(map[string]any) bool) map[string]any {
		for _, r := range recs {
			if r["kind"] == kind && get(r, "responder") == responder && (match == nil || match(r)) {
				return r
			}
		}
		return nil
	}
	latCase := func(c string) func(map[string]any) bool {
		return func(r map[string]any) bool { return r["case"] == c && num(r, "answered") > 0 }
	}
	floodRate := func(rate float64) func(map[string]any) bool {
		return func(r map[string]any) bool { return num(r, "rate") == rate }
	}
	row := func(target, measured string, ok bool) {
		t.rows = append(t.rows, []string{target, measured, map[bool]string{true: "yes", false: "**no**"}[ok]})
	}
	if p, r := turns[labelProxyarp], turns[labelRef]; p != nil && r != nil && len(p.samples) > 0 && len(r.samples) > 0 {
		a, b := pct(sorted(p.samples), 50), pct(sorted(r.samples), 50)
		row("sporadic p50 within 1.2x of the minimal responder (taking turns)",
			fmt.Sprintf("%s vs %s: %.2fx", us(a), us(b), a/b), a <= 1.2*b)
	}
	if p, f := find("lat", labelProxyarp, latCase("b2b")), find("lat", labelFloor, latCase("b2b")); p != nil && f != nil {
		a, b := num(p, "wire_p50_us"), num(f, "wire_p50_us")
		row("back-to-back p50 within 3x of the kernel floor", fmt.Sprintf("%s vs %s: %.2fx", us(a), us(b), a/b), a <= 3*b)
	}
	for _, c := range []string{"b2b", "sporadic", "ucast"} {
		if p := find("lat", labelProxyarp, latCase(c)); p != nil {
			row("p99 under 1 ms ("+c+")", us(num(p, "wire_p99_us")), num(p, "wire_p99_us") < 1000)
		}
	}
	if p := find("flood", labelProxyarp, floodRate(100000)); p != nil {
		row("at least 99.9% answered at 100k req/s paced", fmt.Sprintf("%.2f%% (%s/s sent)", num(p, "fraction")*100, get(p, "offered_pps")),
			num(p, "fraction") >= 0.999)
	}
	if p, k := find("flood", labelProxyarp, floodRate(0)), find("flood", labelKernel0, floodRate(0)); p != nil && k != nil {
		a, b := num(p, "fraction"), num(k, "fraction")
		row("unpaced: answered at least 0.9x the kernel's with proxy_delay=0",
			fmt.Sprintf("%.1f%% vs %.1f%%", a*100, b*100), a >= 0.9*b)
	}
	if p := find("conv", labelProxyarp, nil); p != nil {
		row("convergence under 10 ms (route added -> first answer, max)", get(p, "add_max_ms")+" ms", num(p, "add_max_ms") < 10)
		row("convergence under 10 ms (route removed -> last answer, max)", get(p, "del_max_ms")+" ms", num(p, "del_max_ms") < 10)
	}
	for _, r := range recs {
		if r["kind"] == "scale" && num(r, "routes") == 100000 {
			row("100k routes synced in under 1 s", get(r, "sync_ms")+" ms", num(r, "sync_ms") < 1000)
			row("100k routes in under 100 MB RSS", get(r, "vmhwm_mb")+" MB", num(r, "vmhwm_mb") < 100)
		}
	}
	if p := find("idle", labelProxyarp, nil); p != nil {
		row("idle CPU zero (10 s)", get(p, "cpu_pct")+"%", num(p, "cpu_pct") < 0.05)
	}
	return t
}
