#!/usr/bin/env bash
# Demo of proxyarp on the Xen vif-route topology, in network namespaces.
#
#   bash docs/demo.sh BIN        (make demo; needs root, iproute2 and ping)
#
# router (eth0 192.0.2.254/24, the whole block on-link, as the ISP router)
#   <-> host eth0 192.0.2.1/24 (the uplink; kernel proxy_arp off)
#       host vif1.0 <-> g1 eth0 192.0.2.2/32    route 192.0.2.2/32 dev vif1.0
#       host vif2.0 <-> g2 eth0 192.0.2.3/32    route 192.0.2.3/32 dev vif2.0
# and IPv6: router 2001:db8:1::fe/64, host eth0 2001:db8:1::1/64, g1
# 2001:db8:1::2/128 with default via fe80::1 (on vif1.0), route /128 dev vif1.0
#
# Everything lives in namespaces named pxr-demo-<pid>-<random>-*, uses only
# the documentation ranges 192.0.2.0/24 and 2001:db8::/32, and is deleted on exit (also on
# Ctrl-C or failure). Every wait is bounded; the demo takes well under 30 s.
set -euo pipefail

BIN=${1:-}
if [[ -z $BIN ]]; then
	echo "usage: bash docs/demo.sh PATH/TO/proxyarp" >&2
	exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
	echo "demo.sh: the demo needs root to create network namespaces (try: sudo make demo)" >&2
	exit 1
fi
if [[ ! -x $BIN ]]; then
	echo "demo.sh: $BIN is not an executable (build it first: make build)" >&2
	exit 1
fi
for tool in ip ping; do
	if ! command -v "$tool" >/dev/null; then
		echo "demo.sh: needs '$tool' (Debian: apt-get install iproute2 iputils-ping)" >&2
		exit 1
	fi
done
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

PREFIX=pxr-demo-$$-$RANDOM
R=$PREFIX-router
H=$PREFIX-host
G1=$PREFIX-g1
G2=$PREFIX-g2
NAMESPACES=()
PID=
WORK=$(mktemp -d /tmp/pxr-demo.XXXXXX)
LOG=$WORK/proxyarp.log

# stop_proxyarp: SIGTERM by PID, SIGKILL after 3 s; prints the exit code.
stop_proxyarp() {
	[[ -n $PID ]] || return 0
	local pid=$PID i code=0
	PID=
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 30; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "   proxyarp (pid $pid) ignored SIGTERM for 3 s: SIGKILL" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || code=$?
	echo "   proxyarp (pid $pid) stopped, exit code $code"
}

cleanup() {
	set +e
	stop_proxyarp >/dev/null
	for ns in "${NAMESPACES[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'echo "demo.sh: failed at line $LINENO" >&2' ERR

say() { printf '\n== %s\n' "$*"; }
indent() { sed 's/^/   /'; }
# sysctl_w NS PATH VALUE: slash form, since vif1.0 has a dot in its name.
sysctl_w() { ip netns exec "$1" sh -c 'echo "$1" > "/proc/sys/$2"' sh "$3" "$2"; }
# first_ping DST WAIT: one echo from the router; prints "time=X ms" or FAILED.
first_ping() {
	local out
	if out=$(ip netns exec "$R" ping -n -c1 -W"$2" "$1" 2>&1); then
		grep -o 'time=[0-9.]* ms' <<<"$out" || echo "ok"
	else
		echo "FAILED (no reply within $2 s)"
		return 1
	fi
}
flush_caches() {
	ip -n "$R" neigh flush dev eth0
	ip -n "$H" neigh flush dev vif1.0
}

# ---------------------------------------------------------------- topology
for ns in "$R" "$H" "$G1" "$G2"; do
	ip netns add "$ns"
	NAMESPACES+=("$ns")
	ip -n "$ns" link set lo up
	sysctl_w "$ns" net/ipv6/conf/default/accept_dad 0 # no IPv6 DAD delays
done
# Veth pairs are created inside the host namespace, peers moved at creation.
ip -n "$H" link add eth0 type veth peer name eth0 netns "$R"
ip -n "$H" addr add 192.0.2.1/24 dev eth0
ip -n "$R" addr add 192.0.2.254/24 dev eth0
sysctl_w "$H" net/ipv4/ip_forward 1
sysctl_w "$H" net/ipv4/conf/all/proxy_arp 0
sysctl_w "$H" net/ipv4/conf/eth0/proxy_arp 0
ip -n "$H" link set eth0 up
ip -n "$R" link set eth0 up
n=1
for g in "$G1" "$G2"; do
	vif=vif$n.0 addr=192.0.2.$((n + 1))
	ip -n "$H" link add "$vif" type veth peer name eth0 netns "$g"
	sysctl_w "$H" "net/ipv4/conf/$vif/proxy_arp" 1 # as vif-route does
	sysctl_w "$H" "net/ipv4/neigh/$vif/proxy_delay" 0
	ip -n "$g" addr add "$addr/32" dev eth0
	ip -n "$g" link set eth0 up
	ip -n "$H" link set "$vif" up
	ip -n "$g" route add default via 192.0.2.1 dev eth0 onlink
	ip -n "$H" route add "$addr/32" dev "$vif" src 192.0.2.1
	n=$((n + 1))
done
# IPv6: the guest keeps a /128 and reaches the world via fe80::1 on its vif.
ip -n "$H" addr add 2001:db8:1::1/64 dev eth0 nodad
ip -n "$R" addr add 2001:db8:1::fe/64 dev eth0 nodad
sysctl_w "$H" net/ipv6/conf/all/forwarding 1
ip -n "$H" addr add fe80::1/64 dev vif1.0 nodad
ip -n "$G1" addr add 2001:db8:1::2/128 dev eth0 nodad
ip -n "$G1" -6 route add default via fe80::1 dev eth0
ip -n "$H" -6 route add 2001:db8:1::2/128 dev vif1.0

say "topology: namespaces $PREFIX-{router,host,g1,g2}"
echo "   router eth0 192.0.2.254/24 <-> host eth0 192.0.2.1/24 (uplink);" \
	"host vif1.0 <-> g1 192.0.2.2, vif2.0 <-> g2 192.0.2.3"
say "host: ip route"
ip -n "$H" route | indent
echo "   kernel proxy_arp on eth0: $(ip netns exec "$H" cat /proc/sys/net/ipv4/conf/eth0/proxy_arp)"

# ---------------------------------------------------------------- proxyarp
say "host: proxyarp serve --uplink eth0"
ip netns exec "$H" "$BIN" serve --uplink eth0 >"$LOG" 2>&1 &
PID=$! # ip netns exec execs proxyarp in place: this is its PID
echo "   pid $PID, log $LOG"
for ((i = 0; i < 50; i++)); do # wait until it has logged something (<= 5 s)
	[[ -s $LOG ]] && break
	kill -0 "$PID" 2>/dev/null || { echo "proxyarp exited:" >&2; cat "$LOG" >&2; exit 1; }
	sleep 0.1
done
ready=
for ((i = 0; i < 10; i++)); do # then until the router reaches g1 (<= 10 s)
	if ip netns exec "$R" ping -n -c1 -W1 192.0.2.2 >/dev/null 2>&1; then
		ready=1
		break
	fi
	kill -0 "$PID" 2>/dev/null || { echo "proxyarp exited:" >&2; cat "$LOG" >&2; exit 1; }
done
[[ -n $ready ]] || { echo "demo.sh: router cannot reach 192.0.2.2 through proxyarp" >&2; cat "$LOG" >&2; exit 1; }

say "router: ping the guests (neighbour caches flushed first)"
flush_caches
ours=$(first_ping 192.0.2.2 2)
echo "   ping 192.0.2.2 (g1): $ours   <- first ping, cold caches, ARP answered by proxyarp"
echo "   ping 192.0.2.3 (g2): $(first_ping 192.0.2.3 2)"
echo "   router's neighbours (proxyarp answered with the host's uplink MAC):"
ip -n "$R" neigh show dev eth0 | indent

say "router: ping 192.0.2.99 (in the block, but no route via a guest): left unanswered"
if ip netns exec "$R" ping -n -c1 -W1 192.0.2.99 >/dev/null 2>&1; then
	echo "demo.sh: 192.0.2.99 answered, which proxyarp must not do" >&2
	exit 1
fi
echo "   ping -c1 -W1 192.0.2.99: no reply"
ip -n "$R" neigh show 192.0.2.99 dev eth0 | indent

say "host: route added at run time for 192.0.2.4 (a second address of g1)"
ip -n "$G1" addr add 192.0.2.4/32 dev eth0
echo "   # ip route add 192.0.2.4/32 dev vif1.0 src 192.0.2.1"
ip -n "$H" route add 192.0.2.4/32 dev vif1.0 src 192.0.2.1
if ! r4=$(first_ping 192.0.2.4 2); then
	echo "demo.sh: 192.0.2.4 unreachable after its route was added" >&2
	exit 1
fi
echo "   ping 192.0.2.4: $r4"

say "router: ping -6 2001:db8:1::2 (g1; its Neighbor Solicitation answered by proxyarp)"
ip -n "$R" -6 neigh flush dev eth0
if ! r6=$(ip netns exec "$R" ping -6 -n -c1 -W2 2001:db8:1::2 2>&1); then
	echo "demo.sh: 2001:db8:1::2 unreachable through proxyarp" >&2
	echo "$r6" >&2
	exit 1
fi
echo "   ping -6 2001:db8:1::2: $(grep -o 'time=[0-9.]* ms' <<<"$r6" || echo ok)"
ip -n "$R" -6 neigh show 2001:db8:1::2 dev eth0 | indent

say "proxyarp's log (last lines)"
tail -n 6 "$LOG" | cut -c1-200 | indent

say "compare: the kernel's proxy_arp=1 on the uplink instead (default proxy_delay)"
stop_proxyarp
delay=80 # the kernel's default, in 1/100 s
sysctl_w "$H" net/ipv4/neigh/eth0/proxy_delay $delay
sysctl_w "$H" net/ipv4/conf/eth0/proxy_arp 1
flush_caches
kernel=$(first_ping 192.0.2.2 3 || true)
sysctl_w "$H" net/ipv4/conf/eth0/proxy_arp 0
echo "   ping 192.0.2.2: $kernel   <- first ping, cold caches, ARP answered by the kernel (proxy_delay=$delay)"

say "first-ping latency with cold neighbour caches (one sample each, not a benchmark)"
printf '   %-42s %s\n' "proxyarp:" "$ours" "kernel proxy_arp, proxy_delay=$delay (0.8 s):" "$kernel"
echo "   (the kernel delays each proxied broadcast reply by a random 0..proxy_delay)"

say "done: namespaces and processes are removed on exit"
