// Package routes keeps the answer set of proxyarp equal to the kernel's
// routing table.
//
// An address is owned, and so answered for on the uplink, when the main
// table has a host route to it (/32 for IPv4, /128 for IPv6) whose
// lowest-metric routes all leave through up guest interfaces with carrier,
// when it is not an address of the host itself, and when it is inside the
// allow list (if one is given). The rule lives in one pure function,
// [Rule.Explain]; the [Watcher] mirrors the kernel's links, addresses and
// host routes from a [Source] (netlink in production, see
// [NewNetlinkSource]) and publishes the result in a [Set], which the
// responder queries on every ARP request or neighbour solicitation.
//
// # IPv6
//
// IPv4 and IPv6 follow the same rule and the same event handling; the Set
// keeps them apart (see [Set]), and an IPv4-mapped IPv6 address
// (::ffff:192.0.2.1) is never taken for the IPv4 address, nor owned itself.
// What differs is the kernel's:
//
//   - IPv6 routes get metric 1024 when none is given; the rule compares
//     metrics as reported, so nothing changes.
//   - The kernel sends RTM_DELROUTE for the IPv6 routes it flushes when a
//     link goes down (for IPv4 it sends nothing). The watcher drops them on
//     the link event as for IPv4; the late delete then finds nothing.
//   - An IPv6 multipath route is a group of sibling routes in the kernel,
//     reported together (RTA_MULTIPATH) in dumps but one sibling at a time
//     by some events (append, single-sibling delete). The watcher merges
//     the siblings of one destination and metric into one multipath route,
//     so a sibling on a down link makes the route dead there exactly as an
//     IPv4 multipath nexthop does.
//   - Every address configured on the host is Local, whatever its IPv6
//     flags: tentative (DAD under way), optimistic, deprecated and dadfailed
//     ones included, and link-local ones. Answering for one of the host's
//     own addresses, even one DAD has not confirmed yet, would compete with
//     the host; an address nobody owns is better left unanswered.
//   - The per-interface fe80::/64 routes are not host routes: a link-local
//     address is only owned with a /128 route to it.
//   - Gateways of IPv6 routes via the uplink are usually link-local
//     (fe80::1); [Set.Gateway] matches them without their zone. An IPv4
//     route via an IPv6 next hop (RTA_VIA) makes that next hop a gateway.
//   - Cloned routes (RTM_F_CLONED: IPv6 PMTU and redirect exceptions) are a
//     cache, not the routing table: they are ignored.
package routes
