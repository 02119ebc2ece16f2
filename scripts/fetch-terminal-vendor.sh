#!/bin/sh
# Fetch the web terminal's front-end libraries from the npm registry (at build time only:
# the files are committed inside the package, so the portal never fetches anything at run
# time; exam rooms are often offline). Versions and tarball sha256 are pinned here; a
# tarball that differs stops the script. Usage: scripts/fetch-terminal-vendor.sh
set -eu

DEST="$(cd "$(dirname "$0")/.." && pwd)/src/tai_labs/portal/static/vendor"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# package@version  tarball-sha256  files to keep (path in the tarball -> vendor name)
fetch() {
    spec=$1 sum=$2
    shift 2
    (cd "$WORK" && npm pack --silent "$spec" >"$WORK/name")
    tarball="$WORK/$(cat "$WORK/name")"
    echo "$sum  $tarball" | sha256sum -c --quiet -
    mkdir -p "$WORK/x" && rm -rf "$WORK/x/package"
    tar -xzf "$tarball" -C "$WORK/x"
    for pair in "$@"; do
        src=${pair%%=*} dst=${pair#*=}
        cp "$WORK/x/package/$src" "$DEST/$dst"
    done
}

mkdir -p "$DEST"
fetch @xterm/xterm@6.0.0 908e66e04af6c8dc6b00dd3b54de088e2e81e5ed866284fd6c2fb3c2d1c7a3f6 \
    lib/xterm.js=xterm.js css/xterm.css=xterm.css LICENSE=LICENSE.xterm
fetch @xterm/addon-fit@0.11.0 26003b4517a132b64e4ff228fd88a5fda3fff5e606c76093f6dcff772e9ecec0 \
    lib/addon-fit.js=addon-fit.js LICENSE=LICENSE.addon-fit
cat >"$DEST/VERSIONS" <<VERSIONS
@xterm/xterm 6.0.0 (npm tarball sha256 908e66e04af6c8dc6b00dd3b54de088e2e81e5ed866284fd6c2fb3c2d1c7a3f6)
@xterm/addon-fit 0.11.0 (npm tarball sha256 26003b4517a132b64e4ff228fd88a5fda3fff5e606c76093f6dcff772e9ecec0)
Fetched by scripts/fetch-terminal-vendor.sh; SHA256SUMS lists the files kept.
VERSIONS
(cd "$DEST" && sha256sum xterm.js xterm.css addon-fit.js LICENSE.xterm LICENSE.addon-fit >SHA256SUMS)
echo "vendored into $DEST"
