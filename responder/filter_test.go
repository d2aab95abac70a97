package responder

import (
	"testing"

	"golang.org/x/net/bpf"
)

func TestFilterPassesARPOnly(t *testing.T) {
	vm, err := bpf.NewVM(filterProgram())
	if err != nil {
		t.Fatalf("NewVM: %v", err)
	}
	if _, err := Filter(); err != nil {
		t.Fatalf("Filter: %v", err)
	}
	arp := request(t, reqOpts{})
	ipv4 := append([]byte(nil), arp...)
	ipv4[12], ipv4[13] = 0x08, 0x00
	tagged := tagVLAN(arp, 100)
	tests := []struct {
		name  string
		frame []byte
		want  int
	}{
		{"an ARP request passes", arp, filterSnapLen},
		{"an IPv4 frame is dropped", ipv4, 0},
		{"a frame still carrying a VLAN tag is dropped", tagged, 0},
		{"a runt shorter than an Ethernet header is dropped", arp[:10], 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := vm.Run(tt.frame)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			// The kernel keeps min(returned, frame length) bytes.
			if got != tt.want {
				t.Errorf("filter returned %d, want %d", got, tt.want)
			}
		})
	}
}

func TestNDPFilterPassesNeighborSolicitationsOnly(t *testing.T) {
	vm, err := bpf.NewVM(ndpFilterProgram())
	if err != nil {
		t.Fatalf("NewVM: %v", err)
	}
	if _, err := NDPFilter(); err != nil {
		t.Fatalf("NDPFilter: %v", err)
	}
	good := ns(t, nsOpts{})
	tests := []struct {
		name  string
		frame []byte
		want  int
	}{
		{"a neighbor solicitation passes", good, ndpFilterSnapLen},
		{"a duplicate address detection probe passes", ns(t, nsOpts{unspecified: true}), ndpFilterSnapLen},
		{"an invalid solicitation passes, to be counted", ns(t, nsOpts{hop: u8(1), badChecksum: true}), ndpFilterSnapLen},
		{"a neighbor advertisement is dropped", ns(t, nsOpts{icmpType: icmpTypeNA}), 0},
		{"a router advertisement is dropped", ns(t, nsOpts{icmpType: 134}), 0},
		{"an echo request is dropped", ns(t, nsOpts{icmpType: 128}), 0},
		{"a solicitation behind a hop-by-hop header is dropped", ns(t, nsOpts{nextHeader: u8(0)}), 0},
		{"a UDP packet is dropped", ns(t, nsOpts{nextHeader: u8(17)}), 0},
		{"an ARP request is dropped", request(t, reqOpts{}), 0},
		{"a frame still carrying a VLAN tag is dropped", tagVLAN(good, 100), 0},
		{"an IPv6 frame cut before its ICMPv6 type is dropped", good[:ndpOff], 0},
		{"a runt shorter than an Ethernet header is dropped", good[:10], 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := vm.Run(tt.frame)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if got != tt.want {
				t.Errorf("filter returned %d, want %d", got, tt.want)
			}
		})
	}
}
