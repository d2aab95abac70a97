#!/usr/bin/env bash
# IPv6 Neighbor Discovery reply latency: proxyarp against the kernel's
# proxy_ndp and ndppd, in one run.
#
#   sudo bash bench/ndp.sh [--quick] [--results FILE] [--bin PROXYARP]
#
# Builds proxyarp and bench/arpgen, then router / host / guest network
# namespaces over veth (router eth0 2001:db8:1::fe/64 <-> host eth0
# 2001:db8:1::1/64, IPv6 forwarding on in the host; guest 2001:db8:1::2/128
# behind the host's vif1.0, routed `2001:db8:1::2/128 dev vif1.0`; every
# address nodad, DAD and router advertisements off), and measures from the
# router with `arpgen ndplat` (one Neighbor Solicitation in flight, multicast
# to the solicited-node group, 1 ms and 20 ms apart, and unicast):
#   the host's kernel answering for its own address 2001:db8:1::1 (the floor);
#   kernel proxy_ndp=1 on the uplink with `ip -6 neigh add proxy`, with
#     proxy_delay=0 and with the default;
#   ndppd (Debian package; skipped when not installed), rule `iface vif1.0`,
#     `auto` and `static`;
#   proxyarp serve --uplink eth0 (0 answered when it does not answer NS).
# Prints a markdown table; the JSON lines go to --results (default: a
# temporary file, copied to /tmp/pxr-bench6-last-results.jsonl).
#
# Safety: everything runs in namespaces named pxr-bench6-<random>-*, created
# here and deleted on exit (also on Ctrl-C or failure); every process started
# is stopped by its PID. Solicitations are only sent for and from
# 2001:db8::/32; arpgen refuses to run outside a pxr-* namespace. Every wait
# is bounded; the run takes ~1.5 min (--quick: ~30 s).
set -euo pipefail

QUICK=0
RESULTS=
PREBUILT=
while (($#)); do
	case $1 in
	--quick) QUICK=1 ;;
	--results) RESULTS=$(realpath -m "$2"); shift ;;
	--bin) PREBUILT=$(realpath "$2"); shift ;;
	*) echo "usage: bash bench/ndp.sh [--quick] [--results FILE] [--bin PROXYARP]" >&2; exit 2 ;;
	esac
	shift
done

if [[ $(id -u) -ne 0 ]]; then
	echo "bench/ndp.sh: needs root to create network namespaces" >&2
	exit 1
fi
for tool in ip go timeout; do
	command -v "$tool" >/dev/null || { echo "bench/ndp.sh: needs $tool" >&2; exit 1; }
done

# The helpers (stop_pid, cleanup, start, stop, wait_log, gen_from, ...).
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
PREFIX=pxr-bench6-$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
R=$PREFIX-router
H=$PREFIX-host
G1=$PREFIX-g1
NAMESPACES=()
PIDS=()
WORK=$(mktemp -d /tmp/pxr-bench6.XXXXXX)
[[ -n $RESULTS ]] || RESULTS=$WORK/results.jsonl
mkdir -p "$(dirname "$RESULTS")"
: >"$RESULTS"
ARPGEN=$WORK/arpgen
BIN=$WORK/proxyarp

ME=bench/ndp.sh
LAST_RESULTS=/tmp/pxr-bench6-last-results.jsonl
set_traps

# gen FLAGS...: one arpgen ndplat measurement from the router (at most
# 2 min); a failed one is reported and skipped, not fatal.
gen() { gen_from 2001:db8:1::fe 120 ndplat "$@"; }

if ((QUICK)); then
	N_B2B=100 N_SPOR=30 N_UC=50 N_SLOW=3
else
	N_B2B=1000 N_SPOR=200 N_UC=300 N_SLOW=8
fi

# ---------------------------------------------------------------- build
say "building proxyarp and arpgen"
if [[ -n $PREBUILT ]]; then
	cp "$PREBUILT" "$BIN"
else
	go build -trimpath -o "$BIN" ./cmd/proxyarp
fi
go build -trimpath -o "$ARPGEN" ./bench/arpgen
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- topology
say "topology in $PREFIX-*"
for ns in "$R" "$H" "$G1"; do
	ip netns add "$ns"
	NAMESPACES+=("$ns")
	ip -n "$ns" link set lo up
	for k in all default; do
		sysctl_w "$ns" "net/ipv6/conf/$k/accept_dad" 0
		sysctl_w "$ns" "net/ipv6/conf/$k/accept_ra" 0
	done
done
sysctl_w "$H" net/ipv6/conf/all/forwarding 1
sysctl_w "$H" net/ipv4/ip_forward 1 # as on a routed Xen host (proxyarp warns otherwise)
sysctl_w "$H" net/ipv6/conf/all/proxy_ndp 0
ip -n "$H" link add eth0 type veth peer name eth0 netns "$R"
ip -n "$H" addr add 2001:db8:1::1/64 dev eth0 nodad
ip -n "$R" addr add 2001:db8:1::fe/64 dev eth0 nodad
sysctl_w "$H" net/ipv6/conf/eth0/proxy_ndp 0
ip -n "$H" link set eth0 up
ip -n "$R" link set eth0 up
ip -n "$H" link add vif1.0 type veth peer name eth0 netns "$G1"
ip -n "$H" addr add fe80::1/64 dev vif1.0 nodad
ip -n "$G1" addr add 2001:db8:1::2/128 dev eth0 nodad
ip -n "$H" link set vif1.0 up
ip -n "$G1" link set eth0 up
ip -n "$G1" -6 route add default via fe80::1 dev eth0
ip -n "$H" -6 route add 2001:db8:1::2/128 dev vif1.0
HOSTMAC=$(ip -n "$H" -br link show dev eth0 | awk '{print $3}')
DEFAULT_DELAY=$(ip netns exec "$H" cat /proc/sys/net/ipv6/neigh/eth0/proxy_delay)
sleep 0.5

# lat_set NAME [TARGET]: multicast back-to-back and sporadic, unicast.
lat_set() {
	local name=$1 target=${2:-2001:db8:1::2}
	gen --label "$name" --case b2b --target "$target" --n "$N_B2B" --interval 1ms --samples
	gen --label "$name" --case sporadic --target "$target" --n "$N_SPOR" --interval 20ms --samples
	gen --label "$name" --case ucast --target "$target" --n "$N_UC" --interval 1ms --unicast "$HOSTMAC"
}

# ---------------------------------------------------------------- the floor
say "kernel answering its own address (the floor)"
lat_set "kernel, own address (floor)" 2001:db8:1::1

# ---------------------------------------------------------------- kernel
say "kernel proxy_ndp=1, static proxy entry, proxy_delay=0"
sysctl_w "$H" net/ipv6/conf/eth0/proxy_ndp 1
ip -n "$H" -6 neigh add proxy 2001:db8:1::2 dev eth0
sysctl_w "$H" net/ipv6/neigh/eth0/proxy_delay 0
lat_set "kernel proxy_ndp, proxy_delay=0"
# A unicast solicitation for the proxied address is forwarded by ip6_forward,
# whose proxy check reads only net.ipv6.conf.all.proxy_ndp: with the
# uplink's own switch alone it goes to the guest, hop limit 254, unanswered.
sysctl_w "$H" net/ipv6/conf/all/proxy_ndp 1
gen --label "kernel proxy_ndp, all/proxy_ndp=1 too, proxy_delay=0" --case ucast --target 2001:db8:1::2 --n "$N_UC" --interval 1ms --unicast "$HOSTMAC"
sysctl_w "$H" net/ipv6/conf/all/proxy_ndp 0

say "kernel proxy_ndp=1, default proxy_delay ($DEFAULT_DELAY)"
sysctl_w "$H" net/ipv6/neigh/eth0/proxy_delay "$DEFAULT_DELAY"
name="kernel proxy_ndp, proxy_delay=$DEFAULT_DELAY (default)"
gen --label "$name" --case b2b --target 2001:db8:1::2 --n "$N_SLOW" --interval 1ms --timeout 1500ms --samples
sysctl_w "$H" net/ipv6/conf/all/proxy_ndp 1 # unicast: see above
gen --label "kernel proxy_ndp, all/proxy_ndp=1 too, proxy_delay=$DEFAULT_DELAY (default)" --case ucast --target 2001:db8:1::2 --n "$N_UC" --interval 1ms --unicast "$HOSTMAC"
sysctl_w "$H" net/ipv6/conf/all/proxy_ndp 0
ip -n "$H" -6 neigh del proxy 2001:db8:1::2 dev eth0
sysctl_w "$H" net/ipv6/conf/eth0/proxy_ndp 0

# ---------------------------------------------------------------- ndppd
if command -v ndppd >/dev/null; then
	NDPPD_VERSION=$(dpkg-query -W -f '${Version}' ndppd 2>/dev/null || echo "?")
	for rule in "iface vif1.0" auto static; do
		say "ndppd $NDPPD_VERSION, rule { $rule }"
		conf=$WORK/ndppd-${rule%% *}.conf
		printf 'proxy eth0 {\n\trouter yes\n\ttimeout 500\n\tttl 30000\n\trule 2001:db8:1::/64 {\n\t\t%s\n\t}\n}\n' "$rule" >"$conf"
		log=$WORK/ndppd-${rule%% *}.log
		start "$H" "$log" ndppd -c "$conf"
		pid=$STARTED
		sleep 1
		if ! kill -0 "$pid" 2>/dev/null; then
			say "ndppd exited: $(tail -3 "$log")"
			continue
		fi
		name="ndppd $NDPPD_VERSION, rule $rule"
		# The first solicitation starts ndppd's session (it asks the guest
		# with rule iface/auto): measured on its own, with a long timeout.
		gen --label "$name" --case first --target 2001:db8:1::2 --n 1 --interval 1ms --timeout 2s
		lat_set "$name"
		stop "$pid"
		say "host eth0 after ndppd: $(ip -n "$H" -br link show dev eth0)"
	done
else
	say "ndppd not installed (apt-get install -y ndppd): skipped"
	printf '{"kind":"ndplat","proto":"ndp","responder":"ndppd (not installed)","case":"skipped","mode":"mcast","interval_ms":1,"sent":0,"answered":0}\n' >>"$RESULTS"
fi

# ---------------------------------------------------------------- proxyarp
# source_rev: the commit the tree is at, "-dirty" when its code differs from
# it; the results and the document a `make bench` run is rewriting do not
# count.
source_rev() {
	local rev
	rev=$(git describe --always 2>/dev/null) || { echo "?"; return; }
	git diff --quiet HEAD -- . ':(exclude)bench/results.jsonl' ':(exclude)bench/results-gobench.txt' \
		':(exclude)bench/latency-cdf.svg' ':(exclude)docs/BENCHMARKS.md' || rev+=-dirty
	echo "$rev"
}
say "proxyarp serve --uplink eth0"
log=$WORK/proxyarp.log
start "$H" "$log" "$BIN" serve --uplink eth0 --log-format json --garp-count 0
pid=$STARTED
if wait_log "$log" '"uplink attached"' 20; then
	sleep 0.5
	lat_set "proxyarp serve ($(source_rev))"
else
	say "proxyarp did not attach: $(tail -3 "$log")"
fi
stop "$pid"
grep -E '"level":"(WARN|ERROR)"' "$log" | head -5 >&2 || true

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
printf '{"kind":"meta","bench":"ndp","kernel":"%s","load_before":"%s","load_after":"%s","date":"%s"}\n' \
	"$(uname -r)" "$LOAD_BEFORE" "$LOAD_AFTER" "$(date -u +%FT%TZ)" >>"$RESULTS"
say "load average before: $LOAD_BEFORE, after: $LOAD_AFTER"
"$ARPGEN" ndplat --report "$RESULTS"
