package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// insideMetric is the histogram serve's /metrics exposes of the time from
// reading an answered request to writing its reply.
const insideMetric = "proxyarp_reply_latency_seconds_bucket"

// bucket is one cumulative histogram bucket: observations <= le seconds.
type bucket struct {
	le    float64
	count float64
}

// scrapeMetrics gets serve's /metrics from its unix socket path.
func scrapeMetrics(path string) (io.ReadCloser, error) {
	cl := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}}}
	resp, err := cl.Get("http://proxyarp/metrics")
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", path, err)
	}
	return resp.Body, nil
}

// scrapeCounter reads the unlabelled metric name from serve's metrics
// endpoint on the unix socket path.
func scrapeCounter(path, name string) (float64, error) {
	body, err := scrapeMetrics(path)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("scrape %s: %w", path, err)
	}
	return 0, fmt.Errorf("scrape %s: no %s", path, name)
}

// scrapeInside reads the reply latency histogram from serve's metrics
// endpoint on the unix socket path.
func scrapeInside(path string) ([]bucket, error) {
	body, err := scrapeMetrics(path)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	var bs []bucket
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, insideMetric+"{") {
			continue
		}
		i := strings.Index(line, `le="`)
		j := strings.Index(line, `"}`)
		if i < 0 || j < i {
			continue
		}
		le, err1 := strconv.ParseFloat(line[i+4:j], 64)
		n, err2 := strconv.ParseFloat(strings.TrimSpace(line[j+2:]), 64)
		if err1 == nil && err2 == nil {
			bs = append(bs, bucket{le, n})
		}
	}
	if len(bs) == 0 {
		return nil, fmt.Errorf("scrape %s: no %s", path, insideMetric)
	}
	return bs, sc.Err()
}

// insidePercentile is the p-th percentile, in microseconds, of the
// observations between two scrapes, interpolated linearly inside its
// bucket (the buckets double from 5 us: a coarse figure); NaN without
// observations.
func insidePercentile(before, after []bucket, p float64) float64 {
	if len(before) != len(after) {
		return math.NaN()
	}
	total := after[len(after)-1].count - before[len(before)-1].count
	if total <= 0 {
		return math.NaN()
	}
	want := p / 100 * total
	lo, prev := 0.0, 0.0
	for i := range after {
		c := after[i].count - before[i].count
		if c >= want {
			hi := after[i].le
			if math.IsInf(hi, 1) {
				return lo * 1e6
			}
			frac := (want - prev) / math.Max(c-prev, 1e-9)
			return (lo + frac*(hi-lo)) * 1e6
		}
		lo, prev = after[i].le, c
	}
	return lo * 1e6
}
