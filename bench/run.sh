#!/usr/bin/env bash
# proxyarp benchmarks against the kernel and its peers, in one run.
#
#   bash bench/run.sh [--quick] [--md docs/BENCHMARKS.md] [--results FILE] [--no-gobench] [--bin PROXYARP]
#                     [--candidate LABEL=PROXYARP ...] [--variant 'LABEL=SERVE FLAGS' ...] [--ab]
#
# --candidate runs another proxyarp binary (a prototype) through the same
# cases right after the built one, for before/after figures in one run;
# --variant runs the built one again with other serve flags (by default a
# full run has three: without busy polling, without keeping the reader warm,
# and blocking in recvmmsg instead of reading from the memory-mapped ring); --ab keeps only the floor,
# proxyarp, the candidates, the variants and the reference; --turns-only
# keeps the floor, the sporadic rounds in which proxyarp, the candidates,
# the variants and the reference take turns, and the reference's latency;
# --turns N sets the number of those rounds (4 by default, 2 with --quick).
#
# Builds proxyarp and bench/arpgen, builds router / host / guest network
# namespaces over veth (the seed page's topology), and measures one after the
# other, against the same generator: the kernel answering its own address
# (the floor), proxyarp serve, arpgen's minimal reference responder, kernel
# proxy_arp=1 with proxy_delay=0 and with the default, static
# `ip neigh add proxy` entries, parprouted and farpd (skipped when not
# installed). Then proxyarp's answer-set sync time, RSS and idle CPU at 1k,
# 10k and 100k owned routes, and the Go benchmarks of the answer path.
# Prints the tables and, with --md, writes them into a markdown document.
#
# Safety: everything runs in namespaces named pxr-bench-<random>-*, created
# here and deleted on exit (also on Ctrl-C or failure); every process started
# is stopped by its PID. Requests are only sent for and from 192.0.2.0/24;
# the 198.18.0.0/15 routes of the scale runs are never sent anything (and
# serve runs there with --garp-count 0). arpgen itself refuses to run outside
# a pxr-* namespace. Every wait and loop is bounded; the run takes ~5 min.
set -euo pipefail

QUICK=0
MD=
RESULTS=
GOBENCH=1
PREBUILT=
CANDIDATES=()
VARIANTS=()
DEFAULT_VARIANTS=("proxyarp --busy-poll 0=--busy-poll 0" "proxyarp --keep-warm 0=--keep-warm 0" "proxyarp --read recvmmsg=--read recvmmsg")
AB=0
TURNS_ONLY=0
while (($#)); do
	case $1 in
	--quick) QUICK=1 ;;
	--md) MD=$2; shift ;;
	--results) RESULTS=$2; shift ;;
	--no-gobench) GOBENCH=0 ;;
	--bin) PREBUILT=$(realpath "$2"); shift ;;
	--candidate) CANDIDATES+=("${2%=*}=$(realpath "${2##*=}")"); shift ;;
	--variant) VARIANTS+=("$2"); shift ;;
	--ab) AB=1 ;;
	--turns-only) AB=1 TURNS_ONLY=1 ;;
	--turns) TURNS_OPT=$2; shift ;;
	*) echo "usage: bash bench/run.sh [--quick] [--md FILE] [--results FILE] [--no-gobench] [--bin PROXYARP] [--candidate LABEL=PROXYARP] [--variant 'LABEL=FLAGS'] [--ab] [--turns-only] [--turns N]" >&2; exit 2 ;;
	esac
	shift
done

if [[ $(id -u) -ne 0 ]]; then
	echo "bench/run.sh: needs root to create network namespaces (try: sudo make bench)" >&2
	exit 1
fi
for tool in ip go; do
	command -v "$tool" >/dev/null || { echo "bench/run.sh: needs $tool" >&2; exit 1; }
done

# The helpers (stop_pid, cleanup, start, stop, wait_log, gen_from, ...).
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
REPO=$(pwd)
T0=$(date +%s)
PREFIX=pxr-bench-$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
R=$PREFIX-router
H=$PREFIX-host
G1=$PREFIX-g1
NAMESPACES=()
PIDS=()
WORK=$(mktemp -d /tmp/pxr-bench.XXXXXX)
[[ -n $RESULTS ]] || RESULTS=$WORK/results.jsonl
mkdir -p "$(dirname "$RESULTS")"
: >"$RESULTS"
ARPGEN=$WORK/arpgen
BIN=$WORK/proxyarp

ME=bench/run.sh
LAST_RESULTS=/tmp/pxr-bench-last-results.jsonl
set_traps

# gen MODE FLAGS...: one arpgen measurement from the router; a failed one is
# reported and skipped, not fatal.
gen() { gen_from 192.0.2.254 0 "$@"; }
# cpu_ns PID: nanoseconds on CPU of all of PID's threads (schedstat).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%d", s }'; }
# idle_cpu PID SECONDS: percent of one CPU used while nothing is sent.
idle_cpu() {
	local a b
	a=$(cpu_ns "$1")
	sleep "$2"
	b=$(cpu_ns "$1")
	awk -v d=$((b - a)) -v s="$2" 'BEGIN { printf "%.3f", 100 * d / 1e9 / s }'
}

# Sample counts (--quick: a smoke run).
if ((QUICK)); then
	N_B2B=100 N_SPOR=30 N_UC=50 N_SLOW=3 F1K=500 F10K=2000 F100K=10000 FUNP=10000 IDLE=2 SCALES="1000" N_CONV=3 F100=100 F10=20 CHURN_S=1 TURNS=2 N_TURN=20
else
	N_B2B=1000 N_SPOR=200 N_UC=500 N_SLOW=8 F1K=2000 F10K=20000 F100K=100000 FUNP=50000 IDLE=10 SCALES="1000 10000 100000" N_CONV=10 F100=300 F10=50 CHURN_S=4 TURNS=4 N_TURN=75
fi
[[ -z ${TURNS_OPT:-} ]] || TURNS=$TURNS_OPT
if ! [[ $TURNS =~ ^[0-9]+$ ]] || ((TURNS < 1 || TURNS > 50)); then
	echo "bench/run.sh: --turns takes 1..50" >&2
	exit 2
fi
((${#VARIANTS[@]})) || VARIANTS=("${DEFAULT_VARIANTS[@]}")
TARGETS=192.0.2.2,192.0.2.10-192.0.2.209 # 201 guest /32s

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
done
ip -n "$H" link add eth0 type veth peer name eth0 netns "$R"
ip -n "$H" addr add 192.0.2.1/24 dev eth0
ip -n "$R" addr add 192.0.2.254/24 dev eth0
sysctl_w "$H" net/ipv4/ip_forward 1
sysctl_w "$H" net/ipv4/conf/all/proxy_arp 0
sysctl_w "$H" net/ipv4/conf/eth0/proxy_arp 0
ip -n "$H" link set eth0 up
ip -n "$R" link set eth0 up
# The guest behind vif1.0, as vif-route sets it up.
ip -n "$H" link add vif1.0 type veth peer name eth0 netns "$G1"
sysctl_w "$H" net/ipv4/conf/vif1.0/proxy_arp 1
sysctl_w "$H" net/ipv4/neigh/vif1.0/proxy_delay 0
ip -n "$H" addr add 192.0.2.1/32 dev vif1.0
ip -n "$G1" addr add 192.0.2.2/32 dev eth0
ip -n "$G1" link set eth0 up
ip -n "$H" link set vif1.0 up
ip -n "$G1" route add default via 192.0.2.1 dev eth0 onlink
ip -n "$H" route add 192.0.2.2/32 dev vif1.0 src 192.0.2.1
for i in $(seq 10 209); do echo "route add 192.0.2.$i/32 dev vif1.0 src 192.0.2.1"; done >"$WORK/routes.batch"
ip -n "$H" -batch "$WORK/routes.batch"
HOSTMAC=$(ip -n "$H" -br link show dev eth0 | awk '{print $3}')
DEFAULT_DELAY=$(ip netns exec "$H" cat /proc/sys/net/ipv4/neigh/eth0/proxy_delay)

# lat_set NAME [b2b sporadic ucast]: the latency cases; with METRICS (serve's
# metrics socket) also the latency inside proxyarp.
lat_set() {
	local name=$1 target=${TARGET:-192.0.2.2} m=()
	[[ -z ${METRICS:-} ]] || m=(--metrics-unix "$METRICS")
	gen lat --label "$name" --case b2b --target "$target" --n "$N_B2B" --interval 1ms --samples "${m[@]}"
	gen lat --label "$name" --case sporadic --target "$target" --n "$N_SPOR" --interval 20ms --samples "${m[@]}"
	gen lat --label "$name" --case ucast --target "$target" --n "$N_UC" --interval 1ms --unicast "$HOSTMAC" "${m[@]}"
}
# flood_set NAME [PID]: the floods; with the responder's PID also slow
# 10/s and 100/s ones, and its CPU time per request; with METRICS (serve's
# metrics socket) also what proxyarp's receive socket dropped.
flood_set() {
	local name=$1 pid=${2:-} opt=()
	[[ -z $pid ]] || opt=(--responder-pid "$pid")
	[[ -z ${METRICS:-} ]] || opt+=(--metrics-unix "$METRICS")
	[[ -z $pid ]] || gen flood --label "$name" --target "$TARGETS" --rate 10 --n "$F10" --peer-ns "$H" "${opt[@]}"
	[[ -z $pid ]] || gen flood --label "$name" --target "$TARGETS" --rate 100 --n "$F100" --peer-ns "$H" "${opt[@]}"
	gen flood --label "$name" --target "$TARGETS" --rate 1000 --n "$F1K" --peer-ns "$H" "${opt[@]}"
	gen flood --label "$name" --target "$TARGETS" --rate 10000 --n "$F10K" --peer-ns "$H" "${opt[@]}"
	gen flood --label "$name" --target "$TARGETS" --rate 100000 --n "$F100K" --peer-ns "$H" "${opt[@]}"
	gen flood --label "$name" --target "$TARGETS" --rate 0 --n "$FUNP" --peer-ns "$H" "${opt[@]}"
}
conv_set() {
	gen conv --label "$1" --target 192.0.2.3 --reps "$N_CONV" --route-ns "$H" --route-dev vif1.0 --route-src 192.0.2.1
}
# churn_set NAME [PID]: 1000 route changes/s (198.51.100.0/24 routes via
# vif1.0, never asked for) while back-to-back requests and a 1000/s flood
# go to the guests.
churn_set() {
	local name=$1 pid=${2:-} cpu=() cpid
	[[ -z $pid ]] || cpu=(--responder-pid "$pid")
	ip netns exec "$R" "$ARPGEN" churn --label "$name" --route-ns "$H" --route-dev vif1.0 --rate 1000 \
		--for "$((CHURN_S + 1))s" >"$WORK/churn.out" 2>&1 &
	cpid=$!
	PIDS+=("$cpid")
	sleep 0.5
	gen lat --label "$name" --case churn --target 192.0.2.2 --n "$((CHURN_S * 500))" --interval 1ms --samples
	wait "$cpid" || say "churn failed: $(cat "$WORK/churn.out")"
	stop "$cpid"
	grep '^{' "$WORK/churn.out" >>"$RESULTS" || true
}
emit_idle() { printf '{"kind":"idle","responder":"%s","cpu_pct":%s}\n' "$1" "$2" | tee -a "$RESULTS" >&2; }

# ---------------------------------------------------------------- the floor
say "kernel answering its own address (the floor)"
TARGET=192.0.2.1 lat_set "kernel, own address (floor)"

# ---------------------------------------------------------------- proxyarp
# run_proxyarp LABEL BIN [FLAGS...]: serve on the uplink, every case, then
# stop it.
run_proxyarp() {
	local label=$1 bin=$2 log=$WORK/proxyarp-$RANDOM.log pid
	local metrics=$WORK/metrics-$RANDOM.sock
	shift 2
	say "$label serve $*"
	start "$H" "$log" "$bin" serve --uplink eth0 --log-format json --metrics-listen "unix:$metrics" "$@"
	pid=$STARTED
	wait_log "$log" '"routing table loaded"' 20
	wait_log "$log" '"uplink attached"' 20
	METRICS=$metrics lat_set "$label"
	METRICS=$metrics flood_set "$label" "$pid"
	conv_set "$label"
	churn_set "$label" "$pid"
	emit_idle "$label" "$(idle_cpu "$pid" "$IDLE")"
	stop "$pid"
	grep '"responder stopped"' "$log" >&2 || true
}
ci=0
for c in "${CANDIDATES[@]}"; do
	ci=$((ci + 1))
	cp "${c##*=}" "$WORK/candidate-$ci"
done
# each_proxyarp FUNC: FUNC LABEL BIN [FLAGS...] for the built proxyarp, each
# candidate and each variant, in that order.
each_proxyarp() {
	local f=$1 c v ci=0
	"$f" proxyarp "$BIN"
	for c in "${CANDIDATES[@]}"; do
		ci=$((ci + 1))
		"$f" "${c%=*}" "$WORK/candidate-$ci"
	done
	for v in "${VARIANTS[@]}"; do
		# shellcheck disable=SC2086 # the flags are words
		"$f" "${v%%=*}" "$BIN" ${v#*=}
	done
}
((TURNS_ONLY)) || each_proxyarp run_proxyarp

# ------------------------------------------------- sporadic, taking turns
# The sporadic figure decides the 1.2x target, and the machine's noise
# drifts over minutes: proxyarp and the reference answer in alternating
# rounds, and the report pools each one's samples. Each round starts the
# responder afresh; 20 unrecorded requests first warm it up, as the
# sequential cases above are warmed by the ones before them.
# warm: 20 sporadic requests for 192.0.2.2, not recorded.
warm() { ip netns exec "$R" "$ARPGEN" lat --iface eth0 --src 192.0.2.254 --target 192.0.2.2 --n 20 --interval 20ms >/dev/null 2>&1 || true; }
say "sporadic requests, proxyarp and the reference taking turns ($TURNS rounds)"
# turn LABEL BIN [FLAGS...]: one round of one proxyarp: start, warm, measure, stop.
turn() {
	local label=$1 bin=$2 log=$WORK/turn-$RANDOM.log pid
	shift 2
	start "$H" "$log" "$bin" serve --uplink eth0 --log-format json --garp-count 0 "$@"
	pid=$STARTED
	wait_log "$log" '"uplink attached"' 20
	warm
	gen lat --label "$label" --case sporadic-turns --target 192.0.2.2 --n "$N_TURN" --interval 20ms --samples
	stop "$pid"
}
for ((round = 1; round <= TURNS; round++)); do
	each_proxyarp turn
	start "$H" "$WORK/turn-ref.log" "$ARPGEN" ref --iface eth0 --answer "$TARGETS" --for 2m
	pid=$STARTED
	sleep 0.3
	warm
	gen lat --label "arpgen ref (userspace floor)" --case sporadic-turns --target 192.0.2.2 --n "$N_TURN" --interval 20ms --samples
	stop "$pid"
done

# ---------------------------------------------------------------- reference
say "arpgen ref (minimal userspace responder)"
start "$H" "$WORK/ref.log" "$ARPGEN" ref --iface eth0 --answer "$TARGETS" --for 5m
REFPID=$STARTED
sleep 0.3
lat_set "arpgen ref (userspace floor)"
if ! ((TURNS_ONLY)); then
	flood_set "arpgen ref (userspace floor)" "$REFPID"
	emit_idle "arpgen ref" "$(idle_cpu "$REFPID" "$IDLE")"
fi
stop "$REFPID"
cat "$WORK/ref.log" >&2

if ((AB)); then
	GOBENCH=0
else
# ---------------------------------------------------------------- kernel
say "kernel proxy_arp=1, proxy_delay=0"
sysctl_w "$H" net/ipv4/conf/eth0/proxy_arp 1
sysctl_w "$H" net/ipv4/neigh/eth0/proxy_delay 0
lat_set "kernel proxy_arp, proxy_delay=0"
flood_set "kernel proxy_arp, proxy_delay=0"
conv_set "kernel proxy_arp, proxy_delay=0"
churn_set "kernel proxy_arp, proxy_delay=0"

say "kernel proxy_arp=1, default proxy_delay ($DEFAULT_DELAY)"
sysctl_w "$H" net/ipv4/neigh/eth0/proxy_delay "$DEFAULT_DELAY"
name="kernel proxy_arp, proxy_delay=$DEFAULT_DELAY (default)"
gen lat --label "$name" --case b2b --target 192.0.2.2 --n "$N_SLOW" --interval 1ms --timeout 1500ms --samples
gen lat --label "$name" --case ucast --target 192.0.2.2 --n "$N_UC" --interval 1ms --unicast "$HOSTMAC"
gen flood --label "$name" --target "$TARGETS" --rate 1000 --n "$F1K" --quiet 1500ms --peer-ns "$H"
gen flood --label "$name" --target "$TARGETS" --rate 0 --n "$FUNP" --quiet 1500ms --peer-ns "$H"
sysctl_w "$H" net/ipv4/conf/eth0/proxy_arp 0

# ---------------------------------------------------------------- static pneigh
say "static ip neigh add proxy entries"
sed -e 's/^route add \([0-9.]*\)\/32.*/neigh add proxy \1 dev eth0/' "$WORK/routes.batch" >"$WORK/pneigh.batch"
echo "neigh add proxy 192.0.2.2 dev eth0" >>"$WORK/pneigh.batch"
ip -n "$H" -batch "$WORK/pneigh.batch"
sysctl_w "$H" net/ipv4/neigh/eth0/proxy_delay 0
lat_set "static pneigh, proxy_delay=0"
flood_set "static pneigh, proxy_delay=0"
sysctl_w "$H" net/ipv4/neigh/eth0/proxy_delay "$DEFAULT_DELAY"
gen lat --label "static pneigh, proxy_delay=$DEFAULT_DELAY (default)" --case b2b --target 192.0.2.2 --n "$N_SLOW" --interval 1ms --timeout 1500ms
sed -e 's/^neigh add/neigh del/' "$WORK/pneigh.batch" >"$WORK/pneigh-del.batch"
ip -n "$H" -batch "$WORK/pneigh-del.batch"

# ---------------------------------------------------------------- peers
if command -v parprouted >/dev/null; then
	say "parprouted"
	start "$H" "$WORK/parprouted.log" parprouted -d eth0 vif1.0
	PPID_=$STARTED
	sleep 0.5
	# parprouted learns hosts from their ARP: the guest speaks first.
	ip netns exec "$G1" ping -n -c1 -W1 192.0.2.1 >/dev/null 2>&1 || true
	sleep 0.5
	gen lat --label "parprouted" --case b2b --target 192.0.2.2 --n 20 --interval 1ms --timeout 500ms --samples
	gen lat --label "parprouted" --case sporadic --target 192.0.2.2 --n 20 --interval 20ms --timeout 500ms
	gen flood --label "parprouted" --target 192.0.2.2 --rate 1000 --n 1000 --quiet 1s --peer-ns "$H"
	stop "$PPID_"
	ip -n "$H" route flush table main metric 50 2>/dev/null || true
else
	say "parprouted not installed: skipped (apt-get install -y parprouted)"
fi
if command -v farpd >/dev/null; then
	say "farpd"
	# A private /run (ip netns exec gives a private mount namespace), so its
	# pid file never touches the host's.
	start "$H" "$WORK/farpd.log" sh -c 'mount -t tmpfs tmpfs /run && exec farpd -d -i eth0 "$@"' sh 192.0.2.2 192.0.2.10-192.0.2.209
	FAPID=$STARTED
	sleep 0.5
	gen lat --label "farpd" --case b2b --target 192.0.2.2 --n "$N_SLOW" --interval 1ms --timeout 1500ms --samples
	gen flood --label "farpd" --target 192.0.2.2 --rate 1000 --n 1000 --quiet 1500ms --peer-ns "$H"
	stop "$FAPID"
else
	say "farpd not installed: skipped (apt-get install -y farpd)"
fi

# ---------------------------------------------------------------- scale
say "scale: proxyarp at $SCALES owned routes (198.18.0.0/15, sync only: nothing is sent to them)"
for k in $SCALES; do
	awk -v k="$k" 'BEGIN { for (i = 0; i < k; i++) printf "route add 198.%d.%d.%d/32 dev vif1.0\n", 18 + int(i / 65536), int(i / 256) % 256, i % 256 }' >"$WORK/scale.batch"
	ip -n "$H" -batch "$WORK/scale.batch"
	t_start=$(date +%s%N)
	start "$H" "$WORK/scale.log" "$BIN" serve --uplink eth0 --log-format json --garp-count 0
	SPID=$STARTED
	wait_log "$WORK/scale.log" '"routing table loaded"' 60
	t_loaded=$(date +%s%N)
	sync_ns=$(grep -m1 '"resync done"' "$WORK/scale.log" | sed -n 's/.*"duration":\([0-9]*\).*/\1/p')
	idle=$(idle_cpu "$SPID" "$IDLE")
	hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$SPID/status")
	printf '{"kind":"scale","routes":%d,"sync_ms":%.1f,"loaded_ms":%.0f,"vmhwm_mb":%.1f,"idle_cpu_pct":%s}\n' \
		"$k" "$(awk -v n="${sync_ns:-0}" 'BEGIN{print n/1e6}')" "$(awk -v a="$t_start" -v b="$t_loaded" 'BEGIN{print (b-a)/1e6}')" \
		"$(awk -v h="$hwm" 'BEGIN{print h/1024}')" "$idle" | tee -a "$RESULTS" >&2
	stop "$SPID"
	ip -n "$H" route flush root 198.18.0.0/15
done

# ---------------------------------------------------------------- NDP
# IPv6: the same kind of latency for Neighbor Solicitations, in a topology
# of its own (bench/ndp.sh): the kernel's own address, proxy_ndp, ndppd,
# proxyarp.
say "NDP (bench/ndp.sh)"
if bash bench/ndp.sh $( ((QUICK)) && echo --quick) --bin "$BIN" --results "$WORK/ndp.jsonl" >&2; then
	grep '"kind":"ndplat"' "$WORK/ndp.jsonl" >>"$RESULTS" || true
else
	say "bench/ndp.sh failed: NDP rows left out"
fi

fi # AB

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- go test -bench
GB=$WORK/gobench.txt
: >"$GB"
if ((GOBENCH)); then
	say "go test -bench (responder, routes)"
	if ! go test -run '^$' -bench . -benchmem ./responder/ ./routes/ >"$GB" 2>&1; then
		say "go test -bench failed (the tree may be mid-edit): its table is left out"
		: >"$GB"
	fi
	cat "$GB" >&2
	# Kept beside the results, so that arpgen report can re-render them.
	[[ $RESULTS == "$WORK"/* ]] || cp "$GB" "${RESULTS%.jsonl}-gobench.txt"
fi

# ---------------------------------------------------------------- report
clean() { tr -d '"\\' <<<"$1"; }
printf '{"kind":"meta","date":"%s","cpu":"%s","nproc":"%s","kernel":"%s","go":"%s","load_before":"%s","load_after":"%s","duration_s":"%s","command":"%s"}\n' \
	"$(date -u +%Y-%m-%dT%H:%MZ)" "$(clean "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')")" "$(nproc)" \
	"$(uname -r)" "$(go env GOVERSION)" "$LOAD_BEFORE" "$LOAD_AFTER" "$(($(date +%s) - T0))" \
	"sudo make bench (bash bench/run.sh --md docs/BENCHMARKS.md --results bench/results.jsonl)" >>"$RESULTS"
args=(report --in "$RESULTS" --gobench "$GB")
if [[ -n $MD ]]; then
	[[ $MD == /* ]] || MD=$REPO/$MD
	# The plot sits in bench/; the markdown links it relative to itself.
	SVG=$(dirname "$MD")/latency-cdf.svg
	[[ $MD != "$REPO/docs/BENCHMARKS.md" ]] || SVG=$REPO/bench/latency-cdf.svg
	[[ ! -f $REPO/bench/notes.md ]] || args+=(--notes "$REPO/bench/notes.md")
	args+=(--md "$MD" --svg "$SVG" --svg-ref "$(realpath --relative-to="$(dirname "$MD")" "$SVG")")
fi
"$ARPGEN" "${args[@]}"
say "done in $(($(date +%s) - T0)) s; results: $RESULTS${MD:+, $MD}"
