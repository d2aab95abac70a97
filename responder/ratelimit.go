package responder

import (
	"math"
	"time"
)

// The per-requester reply limit (serve --rate-limit N/s).
//
// Each requester MAC (the ARP sender MAC, which Decide has checked equals
// the Ethernet source) gets a token bucket of N tokens refilled at N per
// second: a burst of N replies, then N per second. The buckets live in a
// map bounded by maxTrackedMACs, so that a flood of requests from random
// MACs cannot grow memory without bound: when the map is full, buckets
// that would be full anyway (idle for a second or more) are dropped, and
// if that frees too little, an arbitrary eighth of the others. A requester
// whose bucket was dropped starts again with a full one; so a flood of
// forged MACs can let a real heavy requester through a little more, never
// use more memory.
//
// The limit is applied after Decide said Answer (Decide stays pure): the
// request still counts as answered in Decisions[Answer] and in captures,
// with ErrRateLimited as its write error, and in
// Stats.RateLimitedReplies.

// maxTrackedMACs bounds the limiter's map (about 40 bytes per entry).
const maxTrackedMACs = 16384

// ErrRateLimited is the write error the hooks see for a reply the rate
// limit kept from being sent.
var ErrRateLimited = errorString("rate limited: not sent")

type errorString string

func (e errorString) Error() string { return string(e) }

type macBucket struct {
	tokens float64
	last   int64 // unix nanoseconds of the last refill
}

// macLimiter is the per-MAC limit of one read loop; not safe for
// concurrent use.
type macLimiter struct {
	rate    float64 // replies per second and burst size; 0: no limit
	max     int     // map bound
	buckets map[MAC]macBucket
}

func newMACLimiter(rate float64, max int) *macLimiter {
	return &macLimiter{rate: rate, max: max, buckets: make(map[MAC]macBucket)}
}

// setRate changes the rate; the buckets start afresh.
func (l *macLimiter) setRate(rate float64) {
	if rate == l.rate {
		return
	}
	l.rate = rate
	clear(l.buckets)
}

// allow takes a token for mac at now and reports whether it had one.
func (l *macLimiter) allow(mac MAC, now time.Time) bool {
	if l.rate <= 0 {
		return true
	}
	t := now.UnixNano()
	b, ok := l.buckets[mac]
	if !ok {
		if len(l.buckets) >= l.max {
			l.evict(t)
		}
		b = macBucket{tokens: l.rate, last: t}
	} else if el := float64(t-b.last) / 1e9; el > 0 {
		b.tokens = math.Min(l.rate, b.tokens+el*l.rate)
		b.last = t
	}
	allowed := b.tokens >= 1
	if allowed {
		b.tokens--
	}
	l.buckets[mac] = b
	return allowed
}

// evict makes room: first the buckets that have refilled completely (as
// good as absent), then, if that freed less than an eighth of the map,
// arbitrary others up to an eighth, so that a flood pays for a sweep only
// once per max/8 new MACs.
func (l *macLimiter) evict(now int64) {
	full := int64(float64(time.Second) * 1) // a bucket refills from empty in 1 s
	want := max(1, l.max/8)
	freed := 0
	for mac, b := range l.buckets {
		if now-b.last >= full {
			delete(l.buckets, mac)
			freed++
		}
	}
	for mac := range l.buckets {
		if freed >= want {
			break
		}
		delete(l.buckets, mac)
		freed++
	}
}
