package capture

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/proxyarp/proxyarp/responder"
)

// StaticSet is an answer set that changes only when told: the one replay
// decides with. It implements responder.AnswerSet. It is not safe for
// concurrent use.
type StaticSet struct {
	owned    map[netip.Addr]struct{}
	local    map[netip.Addr]struct{}
	gateways map[netip.Addr]struct{}
}

var (
	_ responder.AnswerSet  = (*StaticSet)(nil)
	_ responder.GatewaySet = (*StaticSet)(nil)
)

// NewStaticSet returns a set owning owned, with the host addresses local.
func NewStaticSet(owned, local []netip.Addr) *StaticSet {
	s := &StaticSet{owned: map[netip.Addr]struct{}{}, local: map[netip.Addr]struct{}{}}
	for _, a := range owned {
		s.owned[a] = struct{}{}
	}
	s.SetLocal(local)
	return s
}

// Owned reports whether addr is answered for.
func (s *StaticSet) Owned(addr netip.Addr) bool { _, ok := s.owned[addr]; return ok }

// Local reports whether addr is a host address.
func (s *StaticSet) Local(addr netip.Addr) bool { _, ok := s.local[addr]; return ok }

// Gateway reports whether addr is a gateway of a route via the uplink.
func (s *StaticSet) Gateway(addr netip.Addr) bool { _, ok := s.gateways[addr]; return ok }

// SetGateways replaces the uplink's gateways.
func (s *StaticSet) SetGateways(gws []netip.Addr) {
	s.gateways = make(map[netip.Addr]struct{}, len(gws))
	for _, a := range gws {
		s.gateways[a] = struct{}{}
	}
}

// Gateways returns the uplink's gateways in ascending order.
func (s *StaticSet) Gateways() []netip.Addr { return sortedKeys(s.gateways) }

// SetOwned adds addr to the owned addresses, or removes it.
func (s *StaticSet) SetOwned(addr netip.Addr, owned bool) {
	if owned {
		s.owned[addr] = struct{}{}
	} else {
		delete(s.owned, addr)
	}
}

// SetLocal replaces the host addresses.
func (s *StaticSet) SetLocal(local []netip.Addr) {
	s.local = make(map[netip.Addr]struct{}, len(local))
	for _, a := range local {
		s.local[a] = struct{}{}
	}
}

// Addrs returns the owned addresses in ascending order.
func (s *StaticSet) Addrs() []netip.Addr { return sortedKeys(s.owned) }

// LocalAddrs returns the host addresses in ascending order.
func (s *StaticSet) LocalAddrs() []netip.Addr { return sortedKeys(s.local) }

func sortedKeys(m map[netip.Addr]struct{}) []netip.Addr {
	out := make([]netip.Addr, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return out
}

// Snapshotter lists an answer set's addresses; routes.Set and StaticSet
// implement it. The Recorder calls it from its own goroutine, rarely (at
// start, after lost change records, and once a second for the host
// addresses), never on the answer path.
type Snapshotter interface {
	// Addrs returns the owned addresses.
	Addrs() []netip.Addr
	// LocalAddrs returns the host's own addresses.
	LocalAddrs() []netip.Addr
}

// gatewayLister is implemented by answer sets that know the uplink's
// gateways (routes.Set, StaticSet); Decide never answers for those.
type gatewayLister interface {
	Gateways() []netip.Addr
}

// gatewaysOf returns set's uplink gateways, or none if it does not know:
// IPv4 then IPv6, each ascending (so the whole is in netip order).
func gatewaysOf(set Snapshotter) []netip.Addr {
	var gws []netip.Addr
	if g, ok := set.(gatewayLister); ok {
		gws = g.Gateways()
	}
	if g, ok := set.(interface{ Gateways6() []netip.Addr }); ok {
		gws = append(gws, g.Gateways6()...)
	}
	return gws
}

// snapshotter6 is the IPv6 side of a Snapshotter (routes.Set).
type snapshotter6 interface {
	Addrs6() []netip.Addr
	LocalAddrs6() []netip.Addr
}

// ownedOf returns set's owned addresses, IPv4 then IPv6 (netip order).
func ownedOf(set Snapshotter) []netip.Addr {
	a := set.Addrs()
	if s6, ok := set.(snapshotter6); ok {
		a = append(a, s6.Addrs6()...)
	}
	return a
}

// localOf returns set's host addresses, IPv4 then IPv6 (netip order).
func localOf(set Snapshotter) []netip.Addr {
	a := set.LocalAddrs()
	if s6, ok := set.(snapshotter6); ok {
		a = append(a, s6.LocalAddrs6()...)
	}
	return a
}

// Kinds of StateRecord.
const (
	// KindFull replaces the whole state: uplink, configuration, owned and
	// host addresses. It is the first record of every state file.
	KindFull = "full"
	// KindOwned adds the addresses in Owned to the owned set.
	KindOwned = "owned"
	// KindUnowned removes the addresses in Owned from the owned set.
	KindUnowned = "unowned"
	// KindLocal replaces the host addresses with Local (absent: none).
	KindLocal = "local"
	// KindUplink sets the uplink's name and MAC (the uplink was attached,
	// possibly re-created with another MAC).
	KindUplink = "uplink"
	// KindGateways replaces the uplink's gateways with Gateways (absent:
	// none).
	KindGateways = "gateways"
)

// StateRecord is one line of a FILE.state.json file. Which fields matter
// depends on Kind; absent lists are empty.
type StateRecord struct {
	// FromFrame is the number (from 1) of the first packet of the capture
	// file this record applies to: it was in force when that packet was
	// decided.
	FromFrame int `json:"from_frame"`
	// Time is when the record was written.
	Time time.Time `json:"time"`
	// Kind is one of KindFull, KindOwned, KindUnowned, KindLocal,
	// KindUplink, KindGateways.
	Kind string `json:"kind"`
	// Uplink and UplinkMAC name the uplink (KindFull, KindUplink). The MAC
	// is empty until the responder attached.
	Uplink    string `json:"uplink,omitempty"`
	UplinkMAC string `json:"uplink_mac,omitempty"`
	// GuestIfaces and Allow are serve's --guest-ifaces and --allow
	// (KindFull). Allow is also the Config replay passes to Decide.
	GuestIfaces string         `json:"guest_ifaces,omitempty"`
	Allow       []netip.Prefix `json:"allow,omitempty"`
	// Owned lists owned addresses (KindFull), or those that became owned
	// (KindOwned) or stopped being owned (KindUnowned).
	Owned []netip.Addr `json:"owned,omitempty"`
	// Local lists the host's addresses (KindFull, KindLocal).
	Local []netip.Addr `json:"local,omitempty"`
	// Gateways lists the uplink's gateways, never answered (KindFull,
	// KindGateways).
	Gateways []netip.Addr `json:"gateways,omitempty"`
}

// State is the answer set and configuration replay decides a frame with.
type State struct {
	// Uplink is the uplink's name: the ingress of frames whose capture
	// names no interface.
	Uplink string
	// UplinkMAC is the uplink's MAC, against which unicast requests are
	// checked.
	UplinkMAC responder.MAC
	// GuestIfaces is the recorded --guest-ifaces (informational).
	GuestIfaces string
	// Config is passed to Decide.
	Config responder.Config
	// Set is the answer set.
	Set *StaticSet
}

// Apply changes s as rec says. A KindFull record replaces everything.
func (s *State) Apply(rec StateRecord) error {
	switch rec.Kind {
	case KindFull:
		mac, err := parseMAC(rec.UplinkMAC)
		if err != nil {
			return err
		}
		*s = State{
			Uplink:      rec.Uplink,
			UplinkMAC:   mac,
			GuestIfaces: rec.GuestIfaces,
			Config:      responder.Config{Allow: rec.Allow},
			Set:         NewStaticSet(rec.Owned, rec.Local),
		}
		s.Set.SetGateways(rec.Gateways)
	case KindGateways:
		if s.Set == nil {
			return errors.New("change before the full state")
		}
		s.Set.SetGateways(rec.Gateways)
	case KindOwned, KindUnowned:
		if s.Set == nil {
			return errors.New("change before the full state")
		}
		for _, a := range rec.Owned {
			s.Set.SetOwned(a, rec.Kind == KindOwned)
		}
	case KindLocal:
		if s.Set == nil {
			return errors.New("change before the full state")
		}
		s.Set.SetLocal(rec.Local)
	case KindUplink:
		mac, err := parseMAC(rec.UplinkMAC)
		if err != nil {
			return err
		}
		s.Uplink, s.UplinkMAC = rec.Uplink, mac
	default:
		return fmt.Errorf("unknown kind %q", rec.Kind)
	}
	return nil
}

// parseMAC parses an Ethernet MAC; the empty string is the zero MAC.
func parseMAC(s string) (responder.MAC, error) {
	if s == "" {
		return responder.MAC{}, nil
	}
	hw, err := net.ParseMAC(s)
	if err != nil {
		return responder.MAC{}, fmt.Errorf("uplink MAC %q: %w", s, err)
	}
	m, ok := responder.MACFrom(hw)
	if !ok {
		return responder.MAC{}, fmt.Errorf("uplink MAC %q is not a 6-byte Ethernet address", s)
	}
	return m, nil
}

// StatePath returns the name of the state file recorded beside a capture.
func StatePath(capturePath string) string { return capturePath + ".state.json" }

// ReadStateFile reads the state records of a state file. The first record
// must be a full state, and FromFrame must never decrease. An error names
// the file and the line.
func ReadStateFile(path string) ([]StateRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := ReadState(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return recs, nil
}

// ReadState parses state records in JSON lines; see ReadStateFile.
func ReadState(r io.Reader) ([]StateRecord, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 256<<20)
	var recs []StateRecord
	line := 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		var rec StateRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		switch {
		case len(recs) == 0 && rec.Kind != KindFull:
			return nil, fmt.Errorf("line %d: first record is %q, want %q", line, rec.Kind, KindFull)
		case len(recs) > 0 && rec.FromFrame < recs[len(recs)-1].FromFrame:
			return nil, fmt.Errorf("line %d: from_frame %d goes back (previous %d)", line, rec.FromFrame, recs[len(recs)-1].FromFrame)
		}
		// Check the record applies, so that errors name the line.
		var probe State
		if rec.Kind != KindFull {
			probe.Set = NewStaticSet(nil, nil)
		}
		if err := probe.Apply(rec); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	if len(recs) == 0 {
		return nil, errors.New("no state records")
	}
	return recs, nil
}
