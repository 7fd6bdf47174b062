#!/usr/bin/env bash
# Run on the GPU machine (no package access). Unpacks the carried .deb files into a private
# prefix (never /), writes PREFIX/env.sh, checks that espeak-ng's libraries all resolve, and
# synthesises one sentence as a smoke test.
#
#   bash tools/train_synthetic/unpack_debs.sh [DEB_DIR] [PREFIX]
#     DEB_DIR  default .device-carry/train-debs
#     PREFIX   default /tmp/synth-prefix
#   then:  source /tmp/synth-prefix/env.sh     (or let make_data.py read it: --prefix)
#
# env.sh sets SYNTH_PREFIX, ESPEAK_NG (the binary), ESPEAK_DATA_PATH (espeak-ng looks for
# $ESPEAK_DATA_PATH/espeak-ng-data), SYNTH_LD_LIBRARY_PATH (the prefix's library folders) and
# SYNTH_TEXT_ROOT (the prefix's /usr/share). LD_LIBRARY_PATH is NOT exported globally: the
# prefix carries Debian 12 builds of libzstd, liblzma, libsystemd, ... that should only be seen
# by espeak-ng; make_data.py passes SYNTH_LD_LIBRARY_PATH to the espeak-ng subprocess only.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DEBS="${1:-$ROOT/.device-carry/train-debs}"
PREFIX="${2:-/tmp/synth-prefix}"
case "$PREFIX" in /|/usr|/usr/*) echo "refusing to unpack into $PREFIX" >&2; exit 1;; esac
mkdir -p "$PREFIX"
PREFIX="$(cd "$PREFIX" && pwd)"

if [ -f "$DEBS/SHA256SUMS" ]; then (cd "$DEBS" && sha256sum -c --quiet SHA256SUMS); fi

extract() {  # dpkg -x when dpkg-deb exists, else a Python ar+tar reader
  if command -v dpkg-deb >/dev/null 2>&1; then
    dpkg-deb -x "$1" "$PREFIX"
  else
    python3 - "$1" "$PREFIX" <<'PY'
import io, sys, tarfile
deb, dest = sys.argv[1], sys.argv[2]
data = open(deb, "rb").read()
assert data[:8] == b"!<arch>\n", deb
off = 8
while off < len(data):
    name = data[off:off + 16].decode().strip().rstrip("/")
    size = int(data[off + 48:off + 58].decode().strip())
    body = data[off + 60:off + 60 + size]
    off += 60 + size + (size & 1)
    if name.startswith("data.tar"):
        if name.endswith(".zst"):
            import subprocess
            body = subprocess.run(["zstd", "-dc"], input=body, capture_output=True, check=True).stdout
            mode = "r:"
        else:
            mode = "r:*"
        with tarfile.open(fileobj=io.BytesIO(body), mode=mode) as t:
            t.extractall(dest)
        break
PY
  fi
}

n=0
for f in "$DEBS"/*.deb; do extract "$f"; n=$((n + 1)); done
echo "unpacked $n .deb files into $PREFIX ($(du -sh "$PREFIX" | cut -f1))"

ARCH_DIR=x86_64-linux-gnu
LIBS="$PREFIX/lib/$ARCH_DIR:$PREFIX/usr/lib/$ARCH_DIR:$PREFIX/usr/lib/$ARCH_DIR/pulseaudio"
cat > "$PREFIX/env.sh" <<ENV
export SYNTH_PREFIX="$PREFIX"
export ESPEAK_NG="$PREFIX/usr/bin/espeak-ng"
export ESPEAK_DATA_PATH="$PREFIX/usr/lib/$ARCH_DIR"
export SYNTH_LD_LIBRARY_PATH="$LIBS"
export SYNTH_TEXT_ROOT="$PREFIX/usr/share"
ENV

# Every library must resolve, and only glibc's own may come from outside the prefix.
missing=$(LD_LIBRARY_PATH="$LIBS" ldd "$PREFIX/usr/bin/espeak-ng" | grep "not found" || true)
if [ -n "$missing" ]; then echo "unresolved libraries:"; echo "$missing"; exit 1; fi
outside=$(LD_LIBRARY_PATH="$LIBS" ldd "$PREFIX/usr/bin/espeak-ng" | grep "=>" | grep -v "$PREFIX" \
          | grep -v -E "lib(c|m|dl|pthread|rt)\.so" || true)
if [ -n "$outside" ]; then echo "note: libraries taken from the system:"; echo "$outside"; fi

out="$PREFIX/smoke.wav"
LD_LIBRARY_PATH="$LIBS" ESPEAK_DATA_PATH="$PREFIX/usr/lib/$ARCH_DIR" \
  "$PREFIX/usr/bin/espeak-ng" -v en-us -s 160 -w "$out" "The prefix works."
LD_LIBRARY_PATH="$LIBS" ESPEAK_DATA_PATH="$PREFIX/usr/lib/$ARCH_DIR" "$PREFIX/usr/bin/espeak-ng" --version
echo "smoke test: $out ($(stat -c %s "$out") bytes)"
echo "env for espeak-ng (also in $PREFIX/env.sh):"
cat "$PREFIX/env.sh"
