package main

import (
	"fmt"
	"math"
	"strings"
)

// cdfSVG plots the wire-latency CDF of every lat record that carries its
// samples: one panel for back-to-back, one for sporadic requests, log x.
func cdfSVG(recs []map[string]any) string {
	const (
		pw, ph       = 560.0, 300.0 // panel plot area
		left, top    = 60.0, 40.0
		gap          = 90.0
		xmin, xmax   = 1.0, 1e6 // us
		legendHeight = 16.0
	)
	colors := []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf", "#bcbd22"}
	panels := []struct{ cas, title string }{{"b2b", "back-to-back (1 ms apart), broadcast"}, {"sporadic", "sporadic (20 ms apart), broadcast"}}
	color := map[string]string{}
	var names []string
	for _, r := range recs {
		if r["kind"] == "lat" && r["samples_us"] != nil {
			n := get(r, "responder")
			if _, ok := color[n]; !ok {
				color[n] = colors[len(names)%len(colors)]
				names = append(names, n)
			}
		}
	}
	width := left + pw + 300
	height := top + float64(len(panels))*(ph+gap)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	xpos := func(us float64) float64 {
		us = math.Max(xmin, math.Min(xmax, us))
		return left + pw*math.Log10(us/xmin)/math.Log10(xmax/xmin)
	}
	for pi, p := range panels {
		y0 := top + float64(pi)*(ph+gap)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-weight="bold">wire latency CDF, %s</text>`+"\n", left, y0-12, p.title)
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#888"/>`+"\n", left, y0, pw, ph)
		for d := xmin; d <= xmax; d *= 10 {
			x := xpos(d)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#ddd"/>`+"\n", x, y0, x, y0+ph)
			label := map[float64]string{1: "1us", 10: "10us", 100: "100us", 1e3: "1ms", 1e4: "10ms", 1e5: "100ms", 1e6: "1s"}[d]
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`+"\n", x, y0+ph+16, label)
		}
		for q := 0.0; q <= 1.0; q += 0.25 {
			y := y0 + ph*(1-q)
			fmt.Fprintf(&b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#eee"/><text x="%.0f" y="%.1f" text-anchor="end">%.2f</text>`+"\n", left, y, left+pw, y, left-6, y+4, q)
		}
		li := 0
		for _, r := range recs {
			if r["kind"] != "lat" || get(r, "case") != p.cas || r["samples_us"] == nil {
				continue
			}
			raw, _ := r["samples_us"].([]any)
			xs := make([]float64, 0, len(raw))
			for _, v := range raw {
				if f, ok := v.(float64); ok {
					xs = append(xs, f)
				}
			}
			if len(xs) == 0 {
				continue
			}
			xs = sorted(xs)
			name := get(r, "responder")
			var pts []string
			for i, x := range xs {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", xpos(x), y0+ph*(1-float64(i+1)/float64(len(xs)))))
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", color[name], strings.Join(pts, " "))
			ly := y0 + 10 + float64(li)*legendHeight
			fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="%s" stroke-width="3"/><text x="%.0f" y="%.0f">%s (n=%d, p50 %s)</text>`+"\n",
				left+pw+12, ly, left+pw+32, ly, color[name], left+pw+38, ly+4, name, len(xs), us(pct(xs, 50)))
			li++
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}
