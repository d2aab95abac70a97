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
