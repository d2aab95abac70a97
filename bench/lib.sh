# Helpers shared by bench/run.sh and bench/ndp.sh; sourced, not run.
#
# The sourcing script sets, before it calls any of them:
#   ME            its name for messages (bench/run.sh)
#   R             the router namespace (gen_from runs arpgen there)
#   ARPGEN        the built arpgen
#   WORK          its temporary directory (deleted by cleanup)
#   RESULTS       the JSON lines file
#   LAST_RESULTS  where cleanup copies RESULTS when it lies in WORK
#   NAMESPACES=() the namespaces it created, deleted by cleanup
#   PIDS=()       the processes it started, stopped by cleanup

# stop_pid PID: SIGTERM, SIGKILL after 3 s.
stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 30; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
# cleanup: stops every process in PIDS, deletes every namespace in
# NAMESPACES, keeps a copy of RESULTS when it lies in WORK, deletes WORK.
cleanup() {
	set +e
	for pid in "${PIDS[@]}"; do
		stop_pid "$pid"
	done
	for ns in "${NAMESPACES[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	if [[ $RESULTS == "$WORK"/* ]]; then
		cp "$RESULTS" "$LAST_RESULTS" 2>/dev/null
	fi
	rm -rf "$WORK"
}
# set_traps: cleanup on exit, also on Ctrl-C, SIGTERM or failure (which is
# reported with its line).
set_traps() {
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'echo "$ME: failed at line $LINENO" >&2' ERR
}

say() { printf '== %s\n' "$*" >&2; }
sysctl_w() { ip netns exec "$1" sh -c 'echo "$1" > "/proc/sys/$2"' sh "$3" "$2"; }
# start NS LOG CMD...: runs CMD in NS in the background; sets STARTED to its
# PID (ip netns exec execs in place, so that is CMD's own PID).
start() {
	local ns=$1 log=$2
	shift 2
	ip netns exec "$ns" "$@" >"$log" 2>&1 &
	STARTED=$!
	PIDS+=("$STARTED")
}
# stop PID: stop_pid, and PID leaves PIDS.
stop() {
	local pid=$1 p keep=()
	stop_pid "$pid"
	for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}
# wait_log FILE REGEX SECONDS
wait_log() {
	local i
	for ((i = 0; i < $3 * 20; i++)); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "$ME: timed out waiting for /$2/ in $1:" >&2
	tail -5 "$1" >&2
	return 1
}
# gen_from SRC SECONDS MODE FLAGS...: one arpgen measurement from the
# router's eth0 with source address SRC, stopped after SECONDS (0: not
# limited); a failed one is reported and skipped, not fatal. Its JSON lines
# go to RESULTS and, without the samples, to stderr.
gen_from() {
	local src=$1 limit=()
	(($2 == 0)) || limit=(timeout "$2")
	shift 2
	if ! "${limit[@]}" ip netns exec "$R" "$ARPGEN" "$@" --iface eth0 --src "$src" >"$WORK/gen.out"; then
		say "measurement failed: arpgen $*"
	fi
	cat "$WORK/gen.out" >>"$RESULTS"
	sed 's/,"samples_us":\[[^]]*\]//' "$WORK/gen.out" >&2
}
