// Package routes keeps the answer set of proxyarp equal to the kernel's
// routing table.
//
// An IPv4 address is owned, and so answered for on the uplink, when the main
// table has a /32 unicast route to it whose lowest-metric routes all leave
// through up guest interfaces with carrier, when it is not an address of the
// host itself, and when it is inside the allow list (if one is given). The
// rule lives in one pure function, [Rule.Explain]; the [Watcher] mirrors the
// kernel's links, addresses and /32 routes from a [Source] (netlink in
// production, see [NewNetlinkSource]) and publishes the result in a [Set],
// which the responder queries on every ARP request.
package routes
