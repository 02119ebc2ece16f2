#!/bin/sh
# Fetch noVNC, the graphical console's client, from the npm registry (at build time only: the
# files are committed inside the package, so the portal fetches nothing at run time; exam
# rooms are often offline). noVNC 1.7 ships its core as native ES modules (core/, and the
# pako inflater under vendor/): the browser loads them as they are, with no bundler. The
# version and tarball sha256 are pinned; a tarball that differs stops the script.
# Usage: scripts/fetch-console-vendor.sh
set -eu

DEST="$(cd "$(dirname "$0")/.." && pwd)/src/tai_labs/portal/static/vendor/novnc"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

SPEC=@novnc/novnc@1.7.0
SUM=32689f18d6abe96bc6530828a6bd0b9ae33bda07c083a6575ed255b5a8f2e903

(cd "$WORK" && npm pack --silent "$SPEC" >"$WORK/name")
tarball="$WORK/$(cat "$WORK/name")"
echo "$SUM  $tarball" | sha256sum -c --quiet -
tar -xzf "$tarball" -C "$WORK"
rm -rf "$DEST"
mkdir -p "$DEST/vendor/pako" "$DEST/docs"
# The library (core/ imports vendor/pako/lib/), its licence texts; not the app, docs or tests.
cp -r "$WORK/package/core" "$DEST/core"
cp -r "$WORK/package/vendor/pako/lib" "$DEST/vendor/pako/lib"
cp "$WORK/package/vendor/pako/LICENSE" "$DEST/vendor/pako/LICENSE"
cp "$WORK/package/LICENSE.txt" "$WORK/package/AUTHORS" "$DEST/"
cp "$WORK/package/docs/LICENSE.MPL-2.0" "$WORK/package/docs/LICENSE.BSD-2-Clause" \
    "$WORK/package/docs/LICENSE.BSD-3-Clause" "$DEST/docs/"
cat >"$DEST/VERSIONS" <<VERSIONS
@novnc/novnc 1.7.0 (npm tarball sha256 $SUM)
Fetched by scripts/fetch-console-vendor.sh; SHA256SUMS lists the files kept.
VERSIONS
(cd "$DEST" && find . -type f ! -name SHA256SUMS ! -name VERSIONS | LC_ALL=C sort |
    sed 's|^\./||' | xargs sha256sum >SHA256SUMS)
echo "vendored into $DEST"
