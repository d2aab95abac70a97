#!/usr/bin/env bash
# Builds the Debian package with nfpm (run as a Go tool, not a go.mod
# dependency): OUTDIR/proxyarp_VERSION_ARCH.deb, OUTDIR defaulting to bin/.
# It prints the package's path on its last line of output.
#
#   bash dist/deb/build.sh [OUTDIR]
#
# Environment: GO (default go), VERSION (default 0.0.0~gitYYYYMMDD.SHORTSHA
# of HEAD, or 0.0.0~dev outside git), GOARCH (default go env GOARCH).
set -euo pipefail
cd "$(dirname "$0")/../.."

GO=${GO:-go}
NFPM=github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2
out=${1:-bin}

GOARCH=${GOARCH:-$("$GO" env GOARCH)}
if [ -z "${VERSION:-}" ]; then
	if sha=$(git rev-parse --short HEAD 2>/dev/null); then
		VERSION="0.0.0~git$(git log -1 --format=%cd --date=format:%Y%m%d).$sha"
	else
		VERSION=0.0.0~dev
	fi
fi
export GOARCH VERSION

# A static binary: the package must not depend on the build host's libc.
mkdir -p bin/deb "$out"
CGO_ENABLED=0 "$GO" build -trimpath -o bin/deb/proxyarp ./cmd/proxyarp
CGO_ENABLED=0 "$GO" build -trimpath -o bin/deb/proxyarp-hotplug ./cmd/proxyarp-hotplug

cfg=dist/nfpm.yaml
tmp=
trap '[ -z "$tmp" ] || rm -f "$tmp"' EXIT
if [ -f dist/proxyarp.toml ]; then
	# The example config, when the repository has one ("contents" is the
	# last key of nfpm.yaml).
	tmp=$(mktemp)
	cat dist/nfpm.yaml - >"$tmp" <<'YAML'
  - src: ./dist/proxyarp.toml
    dst: /usr/share/doc/proxyarp/examples/proxyarp.toml
    file_info:
      mode: 0644
YAML
	cfg=$tmp
fi

deb="$out/proxyarp_${VERSION}_${GOARCH}.deb"
rm -f "$deb"
"$GO" run "$NFPM" package --config "$cfg" --packager deb --target "$deb" >&2
echo "$deb"
