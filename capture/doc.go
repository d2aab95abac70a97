// Package capture records what the responder saw and decided to a pcapng
// file, and replays any capture (pcapng or classic pcap) through
// responder.Decide offline.
//
// # Recording
//
// A [Recorder] receives every decided frame from the responder's OnDecision
// hook, every gratuitous ARP from its OnAnnounce hook, and every ownership
// change from the route watcher's OnChange hook.
// The hooks only copy into a bounded channel and never block: when it is
// full, records are dropped and counted (the next written packet carries
// the count in its pcapng epb_dropcount option). One goroutine, Run, writes:
//
//   - FILE, a pcapng file readable by tcpdump -r, tshark and Wireshark: one
//     section, one interface block named after the uplink (Ethernet, snap
//     length 128 bytes, which keeps every byte Decide reads), then one
//     enhanced packet block per frame in the order decided. Each carries
//     epb_flags (direction inbound or outbound; reception unicast to us,
//     broadcast, multicast, or promiscuous for the kernel's OTHERHOST) and,
//     for received frames, a comment such as
//     "proxyarp decision=drop reason=not-owned reply=none". An answered
//     request is followed by the reply sent (direction outbound); the
//     gratuitous ARPs sent (OnAnnounce) are outbound frames too.
//   - FILE.state.json, beside it, in JSON lines: the answer-set state
//     replay needs. Its first line is the full state (uplink name and MAC,
//     --guest-ifaces, --allow, owned and host addresses); later lines are
//     changes (addresses owned or no longer owned, host addresses, uplink
//     MAC), each with from_frame, the number of the first packet of FILE
//     it applies to. See [StateRecord].
//
// Files rotate at a size limit: FILE becomes FILE.1 (and FILE.state.json
// FILE.1.state.json), FILE.1 becomes FILE.2, and so on; each new file
// starts with the full state again. Buffers are flushed at least once a
// second and on stop.
//
// The hooks run on different goroutines, so a request decided in the
// microseconds between an ownership change reaching the answer set and the
// watcher's OnChange may be recorded just before the change: replay then
// decides it against the older state.
//
// # Replay
//
// A [Replayer] reads a capture with [NewReader] and calls responder.Decide
// for every frame, with an answer set taken from `ip -4 route show` text or
// `ip -j route` JSON ([ReadRoutes]) plus the host's addresses, or from the
// recorded state, or else (Replayer.Fallback) from a dump of the running
// kernel ([SnapshotTable]); routes always go through the daemon's own rule,
// routes.Rule.Explain ([RouteTable.Owned]). With Replayer.Replies it also
// writes, as a classic pcap, the reply each answer would send.
//
// The Reader finds records itself (classic pcap record headers, pcapng
// blocks with their leading and trailing lengths) and hands each to pcapgo
// alone, so a corrupt record whose length holds is reported as a
// [RecordError] and skipped; one whose length cannot be trusted (a pcapng
// block whose two lengths differ, a classic record beyond any snap length,
// a truncated file) ends the reading.
package capture
