#!/usr/bin/env bash
# CI check of the Debian package: build it, install it with dpkg, check its
# contents, the binary, the user and the installed unit, then purge it.
# Needs root, dpkg and Go. Idempotent; cleans up on failure and interruption
# too: the package is purged, and the proxyarp user removed when this run
# created it. It refuses to touch a proxyarp package it did not install.
#
#   bash dist/deb-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."

pkg=proxyarp
marker=/run/proxyarp-deb-check # our install in progress; holds "user-created" if we made the user

say() { echo "deb-check: $*"; }
fail() {
	echo "deb-check: FAIL: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || fail "needs root (dpkg -i)"
command -v dpkg >/dev/null || fail "needs dpkg"

installed() {
	# Installed, or purged-but-for-conffiles ("deinstall ok config-files").
	local st
	st=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != "unknown ok not-installed" ]
}

tmp=$(mktemp -d)
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -e "$marker" ]; then
		if installed; then
			dpkg --purge "$pkg" >/dev/null || rc=1
		fi
		if grep -qx user-created "$marker" && getent passwd "$pkg" >/dev/null; then
			userdel "$pkg" || rc=1
			getent group "$pkg" >/dev/null && { groupdel "$pkg" || rc=1; }
		fi
		rm -f "$marker"
	fi
	rm -rf "$tmp"
	if [ "$rc" -eq 0 ]; then say "OK"; else say "failed (exit $rc)"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if installed; then
	if [ -e "$marker" ]; then
		say "purging the package an interrupted run left"
		dpkg --purge "$pkg" >/dev/null
	else
		fail "a $pkg package is installed and was not installed by this script; not touching it"
	fi
fi

say "building"
deb=$(bash dist/deb/build.sh "$tmp" | tail -n 1)
[ -f "$deb" ] || fail "build.sh produced no package ($deb)"
dpkg-deb --info "$deb" >/dev/null || fail "dpkg-deb cannot read $deb"

say "checking contents of $(basename "$deb")"
contents=$(dpkg-deb --contents "$deb")
want=(./usr/sbin/proxyarp ./lib/systemd/system/proxyarp.service ./etc/default/proxyarp
	./etc/xen/scripts/vif-proxyarp ./etc/iproute2/rt_protos.d/proxyarp.conf
	./usr/share/doc/proxyarp/copyright)
[ -f dist/proxyarp.toml ] && want+=(./usr/share/doc/proxyarp/examples/proxyarp.toml)
for f in "${want[@]}"; do
	grep -q " $f\$" <<<"$contents" || fail "$f missing from the package"
done
grep -q "^-rwxr-xr-x .* ./usr/sbin/proxyarp\$" <<<"$contents" || fail "/usr/sbin/proxyarp is not 0755"
grep -q "^-rwxr-xr-x .* ./etc/xen/scripts/vif-proxyarp\$" <<<"$contents" || fail "vif-proxyarp is not 0755"

# Remember whether the user is ours to remove (also across an interrupted run).
if ! getent passwd "$pkg" >/dev/null || grep -qsx user-created "$marker"; then
	echo user-created >"$marker"
else
	echo >"$marker"
fi
say "installing"
dpkg -i "$deb"
installed || fail "dpkg -i did not install $pkg"

for arg in version --version; do
	out=$(/usr/sbin/proxyarp "$arg") || fail "proxyarp $arg failed"
	[[ "$out" == "proxyarp "* ]] || fail "proxyarp $arg printed: $out"
	say "proxyarp $arg: $out"
done
getent passwd "$pkg" >/dev/null || fail "postinst did not create the $pkg user"
[ "$(getent passwd "$pkg" | cut -d: -f7)" = /usr/sbin/nologin ] || fail "$pkg user has a login shell"
grep -q '^213[[:space:]]\+proxyarp' /etc/iproute2/rt_protos.d/proxyarp.conf || fail "rt_protos entry missing"
grep -q '^ExecStart=/usr/sbin/proxyarp ' /lib/systemd/system/proxyarp.service || fail "unit's ExecStart is not /usr/sbin/proxyarp"

if command -v systemd-analyze >/dev/null; then
	say "systemd-analyze verify"
	if ! out=$(systemd-analyze verify /lib/systemd/system/proxyarp.service 2>&1) || [ -n "$out" ]; then
		echo "$out" >&2
		fail "systemd-analyze verify reported problems"
	fi
else
	say "systemd-analyze not found: unit not verified"
fi

say "purging"
dpkg --purge "$pkg"
! installed || fail "$pkg still known to dpkg after purge"
for f in /usr/sbin/proxyarp /lib/systemd/system/proxyarp.service /etc/default/proxyarp \
	/etc/xen/scripts/vif-proxyarp /etc/iproute2/rt_protos.d/proxyarp.conf /usr/share/doc/proxyarp; do
	[ ! -e "$f" ] || fail "$f left after purge"
done
