package capture

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/proxyarp/proxyarp/responder"
	"github.com/proxyarp/proxyarp/routes"
)

func mustRead(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// FuzzReader feeds arbitrary bytes to the capture reader and replays what
// it reads through Decide: no panic, a bounded number of records, numbers
// that go up by one (skipped records included), and after an error that
// is not a skipped record only that error again. Seeds: the testdata captures and
// testdata/fuzz/FuzzReader.
func FuzzReader(f *testing.F) {
	for _, name := range []string{"decisions.pcapng", "classic.pcap", "truncated.pcapng", "corrupt.pcap", "raw-linktype.pcap", "skip.pcapng", "skip.pcap"} {
		f.Add([]byte(mustRead(f, "testdata/"+name)))
	}
	set := NewStaticSet(genOwned, genLocal)
	f.Fuzz(func(t *testing.T, data []byte) {
		rd, err := NewReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		last := 0 // number of the last record read or skipped
		for n := 0; ; n++ {
			if n > len(data) {
				t.Fatalf("read %d frames from %d bytes", n, len(data))
			}
			fr, err := rd.Next()
			var skipped *RecordError
			if errors.As(err, &skipped) {
				next := last + 1 // a skipped block that is no packet takes no number
				if skipped.Record != 0 {
					next++
				}
				if skipped.Record != 0 && skipped.Record != last+1 || skipped.Next != next {
					t.Fatalf("skipped %+v after record %d", skipped, last)
				}
				last = skipped.Next - 1
				continue
			}
			if err != nil {
				if _, again := rd.Next(); !errors.Is(again, err) {
					t.Fatalf("Next after %v returned %v", err, again)
				}
				return
			}
			if fr.Number != last+1 {
				t.Fatalf("frame number %d, want %d", fr.Number, last+1)
			}
			last = fr.Number
			in := responder.Ingress{Name: fr.Iface, MAC: uplinkMAC, Type: fr.Type}
			responder.Decide(fr.Data, in, set, nil)
			RecordedDecision(fr.Comments)
		}
	})
}

// FuzzParseRoutes feeds arbitrary text to the `ip route` parser and the
// rule: no panic, and every nexthop names a link of the table.
func FuzzParseRoutes(f *testing.F) {
	f.Add(mustRead(f, "testdata/routes.txt"))
	f.Add("192.0.2.2 dev vif1.0 scope link src 192.0.2.1\n")
	f.Add("blackhole 192.0.2.80\n")
	f.Add("192.0.2.9 proto static metric 10\n\tnexthop dev vif2.0 weight 1\n")
	f.Add("default via inet 198.51.100.1 dev eth0 mtu lock 1400\n")
	f.Fuzz(func(t *testing.T, text string) {
		table, err := ParseRoutes(strings.NewReader(text), "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz: line ") {
				t.Fatalf("error does not name the line: %v", err)
			}
			return
		}
		for _, rt := range table.Routes {
			for _, nh := range rt.Nexthops {
				if _, ok := table.Links[nh.LinkIndex]; !ok {
					t.Fatalf("route %v names link %d, not in the table", rt, nh.LinkIndex)
				}
			}
		}
		table.Owned(routesRule(), genLocal)
	})
}

// FuzzReadState feeds arbitrary text to the state file parser and applies
// what it accepts.
func FuzzReadState(f *testing.F) {
	f.Add(mustRead(f, "testdata/decisions.pcapng.state.json"))
	f.Add(`{"from_frame":1,"kind":"full","uplink_mac":"02:00:00:00:00:01"}`)
	f.Fuzz(func(t *testing.T, text string) {
		recs, err := ReadState(strings.NewReader(text))
		if err != nil {
			return
		}
		var st State
		for _, r := range recs {
			if err := st.Apply(r); err != nil {
				t.Fatalf("ReadState accepted a record Apply refuses: %v", err)
			}
		}
	})
}

func routesRule() routes.Rule {
	g, err := routes.ParseGlobs(routes.DefaultGlobs)
	if err != nil {
		panic(err)
	}
	return routes.Rule{Guests: g}
}
