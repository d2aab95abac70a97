package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

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
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	var recs []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var r map[string]any
		if json.Unmarshal([]byte(line), &r) == nil {
			recs = append(recs, r)
		}
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
			"gen = from the generator's send call. back-to-back: the next request 1 ms after the previous one; sporadic: 20 ms.",
		head: []string{"responder", "requests", "answered", "wire p50", "wire p99", "wire max", "gen p50"}}
	flood := table{title: "Throughput (arpgen flood, broadcast requests)",
		note: "answered = replies seen at the router / requests sent. drops: gen = the generator's own receive socket " +
			"(PACKET_STATISTICS), wire = veth tx_dropped at the router, host = rx_dropped of the host's uplink. " +
			"Responder CPU: time on CPU of all the responder's threads (/proc/PID/task/*/schedstat) over the flood / requests sent (userspace responders only).",
		head: []string{"responder", "offered", "targets", "sent", "answered", "reply rate", "responder CPU per request", "send errors", "drops gen/wire/host"}}
	conv := table{title: "Convergence (arpgen conv, a request every 1 ms)",
		note: "from just before arpgen's netlink route add / delete (in the host namespace, ~0.1 ms) to the kernel timestamp of the first reply after the add / " +
			"the last reply after the delete; resolution 1 ms (the request interval). 0: no reply after the delete began.",
		head: []string{"responder", "cycles", "route added -> first answer p50 (max)", "route removed -> last answer p50 (max)", "no answer"}}
	scale := table{title: "Scale (proxyarp serve, owned /32 routes in 198.18.0.0/15, no request sent to them)",
		head: []string{"owned routes", "first sync (resync done)", "start -> table loaded", "RSS high-water (VmHWM)", "CPU while idle, 10 s"}}
	other := table{title: "CPU while idle (10 s, utime+stime from /proc/PID/stat)",
		head: []string{"responder", "CPU"}}
	for _, r := range recs {
		switch r["kind"] {
		case "lat":
			what := r["mode"].(string)
			switch num(r, "interval_ms") {
			case 1:
				what += ", back-to-back"
			case 20:
				what += ", sporadic"
			default:
				what += fmt.Sprintf(", %s ms apart", get(r, "interval_ms"))
			}
			ans := fmt.Sprintf("%s/%s", get(r, "answered"), get(r, "sent"))
			if num(r, "answered") == 0 {
				lat.rows = append(lat.rows, []string{get(r, "responder"), what, ans, "-", "-", "-", "-"})
				continue
			}
			lat.rows = append(lat.rows, []string{get(r, "responder"), what, ans,
				us(num(r, "wire_p50_us")), us(num(r, "wire_p99_us")), us(num(r, "wire_max_us")), us(num(r, "gen_p50_us"))})
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
				fmt.Sprintf("%s/%s/%s", get(r, "gen_rx_drops"), get(r, "wire_tx_drops"), get(r, "peer_rx_drops"))})
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
	s := lat.String() + flood.String() + conv.String() + scale.String() + other.String()
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
