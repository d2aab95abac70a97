#!/usr/bin/env bash
# make soak (root; not in CI): SOAK_MINUTES (default 10) of a paced ARP flood
# (SOAK_RATE requests/s, default 2000) plus route churn (SOAK_CHURN route
# changes/s, default 50) against `proxyarp serve`, in network namespaces
# pxr-soak-<pid>-<random>-{router,host}. Every 10 s (SOAK_INTERVAL) it
# samples the daemon's RSS (/proc/PID/status), goroutines (go_goroutines from
# /metrics on a unix socket) and the replies, each checked against the owned
# set; it prints a table and fails on a wrong answer, > 1% owned requests
# unanswered, > 20% RSS growth after the warm-up, goroutine growth, or serve
# not exiting 0 on SIGTERM.
#
# The host: uplink eth0 192.0.2.1/24 <-> router eth0 192.0.2.254/24;
#   192.0.2.10-109   /32 via vif1.0 (guest): owned, must be answered
#   192.0.2.150-174  /32 via eth1 (not a guest): never answered
#   192.0.2.175-199  no route: never answered
#   192.0.2.200-249  churned: /32 via vif1.0 added and deleted in turn
# Everything it starts is stopped by PID, and its namespaces and temporary
# directory removed, on exit, Ctrl-C or failure.
set -euo pipefail

cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "soak: needs root (network namespaces)" >&2; exit 1; }
MINUTES=${SOAK_MINUTES:-10}
RATE=${SOAK_RATE:-2000}
CHURN=${SOAK_CHURN:-50}
INTERVAL=${SOAK_INTERVAL:-10}
for v in MINUTES RATE CHURN INTERVAL; do
	[[ ${!v} =~ ^[0-9]+$ ]] || { echo "soak: SOAK_$v=${!v}: want a whole number" >&2; exit 2; }
done
((MINUTES >= 1 && MINUTES <= 60)) || { echo "soak: SOAK_MINUTES=$MINUTES: want 1 to 60" >&2; exit 2; }
((CHURN >= 1 && CHURN <= 200)) || { echo "soak: SOAK_CHURN=$CHURN: want 1 to 200" >&2; exit 2; }
# Warm-up: half the run. The live Go heap stays near 2 MB from the first
# minute (GODEBUG=gctrace=1), but RSS (runtime spans, thread stacks) settles
# over minutes: 25.5 MB at 1 min, 31.4 at 5, 31.9 at 10 in a 10-minute run.
# A leak keeps growing through the second half; settling does not.
WARMUP=$((MINUTES * 60 / 2))

id=$$-$RANDOM
R=pxr-soak-$id-router
H=pxr-soak-$id-host
tmp=$(mktemp -d /tmp/pxr-soak.XXXXXX)
pids=()
serve_pid=

cleanup() {
	local rc=$?
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	done
	for ns in "$R" "$H"; do
		[ -e "/run/netns/$ns" ] && ip netns del "$ns"
	done
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "soak: building"
go build -trimpath -o "$tmp/proxyarp" ./cmd/proxyarp
go build -trimpath -o "$tmp/soak" ./bench/soak

ip netns add "$R"
ip netns add "$H"
for ns in "$R" "$H"; do ip -n "$ns" link set lo up; done
sysctl_h() { ip netns exec "$H" sh -c 'echo "$1" > "/proc/sys/$2"' sh "$2" "$1"; }
sysctl_h net/ipv4/ip_forward 1
sysctl_h net/ipv4/conf/all/proxy_arp 0
sysctl_h net/ipv4/conf/default/proxy_arp 0
sysctl_h net/ipv4/conf/all/arp_ignore 8 # the host kernel never answers ARP
ip -n "$H" link add eth0 type veth peer name eth0 netns "$R"
ip -n "$H" addr add 192.0.2.1/24 dev eth0
ip -n "$R" addr add 192.0.2.254/24 dev eth0
ip -n "$H" link set eth0 up
ip -n "$R" link set eth0 up
# Guest and non-guest links with carrier: their peers stay in the host.
ip -n "$H" link add vif1.0 type veth peer name p1
ip -n "$H" link add eth1 type veth peer name p2
for l in p1 p2 vif1.0 eth1; do ip -n "$H" link set "$l" up; done
{
	for i in $(seq 10 109); do echo "route add 192.0.2.$i/32 dev vif1.0 src 192.0.2.1"; done
	for i in $(seq 150 174); do echo "route add 192.0.2.$i/32 dev eth1"; done
} >"$tmp/routes"
ip -n "$H" -batch "$tmp/routes"

sock=$tmp/metrics.sock
ip netns exec "$H" "$tmp/proxyarp" serve --uplink eth0 --log-format json \
	--metrics-listen "unix:$sock" >"$tmp/serve.log" 2>&1 &
serve_pid=$!
pids+=("$serve_pid")
for _ in $(seq 100); do
	grep -q '"uplink attached"' "$tmp/serve.log" && [ -S "$sock" ] && break
	kill -0 "$serve_pid" 2>/dev/null || { cat "$tmp/serve.log"; echo "soak: serve exited" >&2; exit 1; }
	sleep 0.1
done
grep -q '"uplink attached"' "$tmp/serve.log" || { cat "$tmp/serve.log"; echo "soak: serve not attached after 10 s" >&2; exit 1; }
host_mac=$(ip -n "$H" -br link show dev eth0 | awk '{print $3}')

echo "soak: $MINUTES min, $RATE requests/s, $CHURN route changes/s, samples every ${INTERVAL}s, warm-up ${WARMUP}s; serve pid $serve_pid"
ip netns exec "$H" "$tmp/soak" churn --dev vif1.0 --addrs 192.0.2.200-192.0.2.249 \
	--rate "$CHURN" --duration "${MINUTES}m" >"$tmp/churn.log" 2>&1 &
pids+=("$!")

rc=0
ip netns exec "$R" "$tmp/soak" flood --iface eth0 --src 192.0.2.254 --host-mac "$host_mac" \
	--owned 192.0.2.10-192.0.2.109 --never 192.0.2.150-192.0.2.199 --either 192.0.2.200-192.0.2.249 \
	--rate "$RATE" --duration "${MINUTES}m" --interval "${INTERVAL}s" --warmup "${WARMUP}s" \
	--pid "$serve_pid" --metrics "$sock" || rc=$?
cat "$tmp/churn.log"

if ! kill -0 "$serve_pid" 2>/dev/null; then
	echo "soak: FAIL: serve died during the run" >&2
	tail -20 "$tmp/serve.log" >&2
	exit 1
fi
kill -TERM "$serve_pid"
code=0
wait "$serve_pid" || code=$?
if [ "$code" != 0 ]; then
	echo "soak: FAIL: serve exited $code on SIGTERM" >&2
	tail -20 "$tmp/serve.log" >&2
	rc=1
fi
grep '"responder stopped"' "$tmp/serve.log" || true
if [ "$rc" = 0 ]; then echo "soak: PASS"; else echo "soak: FAIL" >&2; fi
exit "$rc"
