package main

import "fmt"

// ndpTable renders the IPv6 Neighbor Discovery latency rows (arpgen
// ndplat: "kind":"ndplat", "proto":"ndp") as their own table, apart from
// the ARP rows of the latency table.
func ndpTable(recs []map[string]any) table {
	t := table{title: "IPv6 Neighbor Discovery reply latency (arpgen ndplat, one solicitation in flight)",
		note: "wire = kernel receive timestamp of the Neighbor Advertisement minus that of the Neighbor Solicitation, both on the router's interface; " +
			"gen = from the generator's send call. NS multicast: to the target's solicited-node group (what a router sends to resolve an address); " +
			"NS unicast: to the host's MAC and the target's address (a router's reachability re-check). " +
			"back-to-back: the next solicitation 1 ms after the previous one; sporadic: 20 ms. " +
			"Only NAs with the Solicited flag, a valid checksum and hop limit 255, sent to the router, count as answers.",
		head: []string{"responder", "solicitations", "answered", "wire p50", "wire p99", "wire max", "gen p50"}}
	for _, r := range recs {
		if r["kind"] != "ndplat" && !(r["kind"] == "lat" && r["proto"] == "ndp") {
			continue
		}
		what := "NS multicast"
		if r["mode"] == "ucast" {
			what = "NS unicast"
		}
		switch {
		case r["case"] == "first":
			what += ", the first one (cold)"
		case num(r, "interval_ms") == 1:
			what += ", back-to-back"
		case num(r, "interval_ms") == 20:
			what += ", sporadic"
		default:
			what += fmt.Sprintf(", %s ms apart", get(r, "interval_ms"))
		}
		ans := fmt.Sprintf("%s/%s", get(r, "answered"), get(r, "sent"))
		if num(r, "answered") == 0 {
			t.rows = append(t.rows, []string{get(r, "responder"), what, ans, "-", "-", "-", "-"})
			continue
		}
		t.rows = append(t.rows, []string{get(r, "responder"), what, ans,
			us(num(r, "wire_p50_us")), us(num(r, "wire_p99_us")), us(num(r, "wire_max_us")), us(num(r, "gen_p50_us"))})
	}
	return t
}
