#!/usr/bin/env bash
# bench/hotplug.sh: wall time and processes forked by one hotplug online and
# one offline, Debian's vif-route next to proxyarp, in one run.
#
#   sudo bench/hotplug.sh [RUNS]        (default 20, at most 500)
#
# Needs root, Go (to build proxyarp, proxyarp-hotplug and
# bench/cmd/fakexenstored), iproute2,
# util-linux (unshare, mount), strace, and Debian's xen-utils-common
# (/etc/xen/scripts/vif-route) with net-tools (its ifconfig):
#
#   apt-get install -y --no-install-recommends xen-utils-common net-tools strace
#
# Everything happens in a network namespace pxr-hpbench-<random> (eth0
# 192.0.2.1/24 the gateway device, vif1.0 the guest's vif, ip=192.0.2.2)
# and, for the scripts, a private mount namespace in which a stub of
# xenstore-read/-write/-exists (a shell script over a temporary directory)
# is bind-mounted over the real /usr/bin ones (the Xen scripts put /usr/bin
# first on PATH) and a temporary directory over /var/log. vif-route talks to
# the stub commands, proxyarp to a fake xenstored on a unix socket
# (XENSTORED_PATH), as it would to the real xenstored. The namespace, the
# fake xenstored and the temporary directory are removed on exit, also on
# failure or Ctrl-C. Timing runs alternate online and offline, and the
# variants take turns (round i runs each variant's online and offline
# before round i+1), so that the load of a shared machine falls on all of
# them alike; each is timed in the namespace with bash's $EPOCHREALTIME (no fork of its own),
# and its CPU (user+sys of the command and all its children) read with the
# times builtin: wall time suffers on a busy machine, CPU much less.
# Processes are counted with `strace -f -e trace=process` on one extra
# online and offline: every fork/vfork/clone without CLONE_THREAD (Go's
# threads are not processes), plus the script itself.
set -euo pipefail

runs=${1:-20}
if ! [[ $runs =~ ^[0-9]+$ ]] || [ "$runs" -lt 1 ] || [ "$runs" -gt 500 ]; then
	echo "usage: $0 [RUNS]   (1..500, default 20)" >&2
	exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "bench/hotplug.sh: needs root (network and mount namespaces)" >&2
	exit 1
fi
vifroute=/etc/xen/scripts/vif-route
if [ ! -x "$vifroute" ]; then
	echo "bench/hotplug.sh: $vifroute not found: apt-get install -y --no-install-recommends xen-utils-common net-tools strace" >&2
	exit 1
fi
for tool in go ip unshare mount strace ifconfig timeout awk; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "bench/hotplug.sh: $tool not found (apt-get install -y --no-install-recommends xen-utils-common net-tools strace; Go 1.26+)" >&2
		exit 1
	fi
done

repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/pxr-hpbench.XXXXXX)
ns=pxr-hpbench-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
fake_pid=
cleanup() {
	if [ -n "$fake_pid" ]; then
		kill "$fake_pid" 2>/dev/null || true
		wait "$fake_pid" 2>/dev/null || true
	fi
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building proxyarp, proxyarp-hotplug and fakexenstored..." >&2
mkdir -p "$work/bin" "$work/log/xen" "$work/tree/backend/vif/1/0" "$work/out"
# As installed: proxyarp and proxyarp-hotplug side by side, on PATH (where
# vif-proxyarp finds proxyarp-hotplug).
(cd "$repo" && export CGO_ENABLED=0 && go build -trimpath -o "$work/bin/proxyarp" ./cmd/proxyarp &&
	go build -trimpath -o "$work/bin/proxyarp-hotplug" ./cmd/proxyarp-hotplug &&
	go build -trimpath -o "$work/fakexenstored" ./bench/cmd/fakexenstored)

ip netns add "$ns"
ipn() { ip -n "$ns" "$@"; }
ipn link set lo up
ipn link add eth0 type veth peer name up0
ipn addr add 192.0.2.1/24 dev eth0
ipn link set eth0 up
ipn link add vif1.0 type veth peer name g1.0
ipn link set g1.0 up

# The stub xenstore commands, over $work/tree (paths relative to
# /local/domain/0).
printf '192.0.2.2' >"$work/tree/backend/vif/1/0/ip"
cat >"$work/xenstore-stub" <<EOF
#!/bin/sh
dir='$work/tree'
EOF
cat >>"$work/xenstore-stub" <<'EOF'
# Shell builtins only: one process per call, like the real command.
case ${0##*/} in
xenstore-read)
	f=$dir/${1#/local/domain/0/}
	[ -f "$f" ] || { echo "couldn't read path $1" >&2; exit 1; }
	while IFS= read -r l || [ -n "$l" ]; do printf '%s\n' "$l"; done <"$f" ;;
xenstore-exists) [ -f "$dir/${1#/local/domain/0/}" ] ;;
xenstore-write)
	while [ $# -ge 2 ]; do
		f=$dir/${1#/local/domain/0/}
		[ -d "${f%/*}" ] || mkdir -p "${f%/*}"
		printf '%s' "$2" >"$f"
		shift 2
	done ;;
*) exit 1 ;;
esac
EOF
chmod 0755 "$work/xenstore-stub"
mkdir -p "$work/stubbin"
for c in xenstore-read xenstore-write xenstore-exists; do ln -s "$work/xenstore-stub" "$work/stubbin/$c"; done

"$work/fakexenstored" -socket "$work/xenstored.sock" backend/vif/1/0/ip=192.0.2.2 &
fake_pid=$!
for _ in $(seq 100); do [ -S "$work/xenstored.sock" ] && break; sleep 0.05; done
[ -S "$work/xenstored.sock" ] || { echo "bench/hotplug.sh: fakexenstored did not start" >&2; exit 1; }

# Runs inside the namespace and the private mount namespace.
cat >"$work/inner.sh" <<'EOF'
set -euo pipefail
work=$1 runs=$2
for c in xenstore-read xenstore-write xenstore-exists; do
	if [ -e "/usr/bin/$c" ]; then mount --bind "$work/xenstore-stub" "/usr/bin/$c"; fi
done
mount --bind "$work/log" /var/log
export PATH="$work/bin:/usr/sbin:/usr/bin:/sbin:/bin:$work/stubbin"
export XENBUS_PATH=backend/vif/1/0 vif=vif1.0 netdev=eth0 XENBUS_TYPE=vif XENBUS_BASE_PATH=backend
export XENSTORED_PATH=$work/xenstored.sock
# childcpu FILE: user+sys CPU of waited-for children, in microseconds, from
# the output of the times builtin (millisecond resolution).
childcpu() {
	local u s us=0 x
	{ read -r _ _; read -r u s; } <"$1"
	for x in "$u" "$s"; do
		[[ $x =~ ^([0-9]+)m([0-9]+)\.([0-9]+)s$ ]]
		us=$((us + 10#${BASH_REMATCH[1]} * 60000000 + 10#${BASH_REMATCH[2]} * 1000000 + 10#${BASH_REMATCH[3]} * 1000))
	done
	echo "$us"
}
variants=("vif-route:/etc/xen/scripts/vif-route" "vif-proxyarp:$work/vif-proxyarp" "proxyarp-sub:$work/bin/proxyarp hotplug" "proxyarp-hotplug:$work/bin/proxyarp-hotplug")
# Round i runs every variant's online and offline in turn, so that a change
# of load on a shared machine weighs on all variants alike and the ratios
# of one run compare like with like.
for ((i = 0; i < runs; i++)); do
	for v in "${variants[@]}"; do
		name=${v%%:*} cmd=${v#*:}
		export script=${cmd%% *}
		for action in online offline; do
			times >"$work/out/times0"
			t0=${EPOCHREALTIME/./}
			# shellcheck disable=SC2086 # cmd is a command and its arguments
			$cmd $action type_if=vif >/dev/null 2>>"$work/out/$name.err" || echo "$name $action failed" >&2
			t1=${EPOCHREALTIME/./}
			times >"$work/out/times1"
			echo $((t1 - t0)) >>"$work/out/$name.$action"
			echo $(($(childcpu "$work/out/times1") - $(childcpu "$work/out/times0"))) >>"$work/out/$name.$action.cpu"
		done
	done
done
for v in "${variants[@]}"; do
	name=${v%%:*} cmd=${v#*:}
	export script=${cmd%% *}
	for action in online offline; do
		# shellcheck disable=SC2086
		strace -f -qq -e trace=process -o "$work/out/$name.$action.strace" $cmd $action type_if=vif >/dev/null 2>>"$work/out/$name.err" ||
			echo "$name $action under strace failed" >&2
	done
done
EOF
cp "$repo/dist/xen/vif-proxyarp" "$work/vif-proxyarp"
chmod 0755 "$work/vif-proxyarp"

echo "running $runs online+offline pairs of each..." >&2
timeout 900 ip netns exec "$ns" unshare -m --propagation private bash "$work/inner.sh" "$work" "$runs"

# stats FILE: p50 and p90 of microsecond samples, in ms.
stats() {
	sort -n "$1" | awk '{a[NR] = $1} END {
		p50 = a[int((NR + 1) / 2)]; p90 = a[int(NR * 0.9 + 0.999)]
		printf "%.1f ms|%.1f ms", p50 / 1000, p90 / 1000 }'
}
# procs FILE: processes (the command itself + every fork that is not a
# thread) and execve calls in an strace -f -e trace=process log.
procs() {
	awk '/ (clone|clone3|fork|vfork)\(/ && !/CLONE_THREAD/ && !/resumed>/ {f++}
	     / execve\(/ && !/= -1 / {e++}
	     END {printf "%d|%d", f + 1, e}' "$1"
}

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
echo
echo "hotplug online/offline, $runs runs each, $(date -u +%Y-%m-%d), $(nproc) CPUs ($cpu), kernel $(uname -r), load average $(cut -d" " -f1-3 /proc/loadavg)"
echo "vif-route: Debian's real script with stub xenstore commands; proxyarp: fake xenstored socket"
echo
printf '| %-48s | %-9s | %-9s | %-9s | %-9s | %-6s |\n' command "wall p50" "wall p90" "CPU p50" processes execve
printf '|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..50})" ----------- ----------- ----------- ----------- --------
for name in vif-route vif-proxyarp proxyarp-sub proxyarp-hotplug; do
	for action in online offline; do
		IFS='|' read -r p50 p90 <<<"$(stats "$work/out/$name.$action")"
		IFS='|' read -r np ne <<<"$(procs "$work/out/$name.$action.strace")"
		IFS='|' read -r c50 _ <<<"$(stats "$work/out/$name.$action.cpu")"
		label="$name $action"
		case $name in
		vif-route) label="vif-route $action (stub xenstore)" ;;
		vif-proxyarp) label="vif-proxyarp $action (script + proxyarp-hotplug)" ;;
		proxyarp-sub) label="proxyarp hotplug $action (binary only)" ;;
		proxyarp-hotplug) label="proxyarp-hotplug $action (binary only)" ;;
		esac
		printf '| %-48s | %9s | %9s | %9s | %9s | %6s |\n' "$label" "$p50" "$p90" "$c50" "$np" "$ne"
	done
done
for action in online offline; do
	a=$(sort -n "$work/out/vif-route.$action" | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
	b=$(sort -n "$work/out/vif-proxyarp.$action" | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
	c=$(sort -n "$work/out/vif-route.$action.cpu" | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
	d=$(sort -n "$work/out/vif-proxyarp.$action.cpu" | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
	awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" -v act="$action" 'BEGIN {
		printf "%s: vif-proxyarp is %.1fx faster than vif-route in wall time (p50)", act, a / b
		if (d > 0) printf ", %.1fx less CPU", c / d
		printf "\n" }'
done
