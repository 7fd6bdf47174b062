#!/usr/bin/env bash
# Run on the development machine (Debian 12, apt reachable). Downloads into
# .device-carry/train-debs/ the .deb files the GPU machine (Ubuntu 24.04 based, no package access)
# needs to run espeak-ng from a private prefix, plus the text sources, and copies the Whisper
# assets the data/training scripts need into .device-carry/train-assets/.
# Both folders are git-ignored (/.device-carry/); the lead carries `.device-carry` to the GPU machine.
#
#   bash tools/train_synthetic/fetch_debs.sh [--check]
#
# --check additionally unpacks into a scratch prefix and verifies with ldd that every library
# espeak-ng loads resolves inside the prefix (except glibc itself), then synthesises one sentence.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DEBS="$ROOT/.device-carry/train-debs"
ASSETS_OUT="$ROOT/.device-carry/train-assets"
SHARED_ASSETS="${SHARED_ASSETS:-$ROOT/../shared/assets}"
mkdir -p "$DEBS" "$ASSETS_OUT"

# espeak-ng and its run-time closure (apt-cache depends --recurse espeak-ng, minus libc6,
# libgcc-s1, gcc-12-base which any glibc system has, minus libelogind0, the alternative to
# libsystemd0). libpcaudio0 pulls in PulseAudio/ALSA client libraries even though we only write
# WAV files: they are DT_NEEDED, so they must be loadable.
SPEECH_PKGS=(
  espeak-ng espeak-ng-data libespeak-ng1 libpcaudio0 libsonic0
  libasound2 libasound2-data libpulse0 libsndfile1 libasyncns0 libdbus-1-3 libsystemd0
  libx11-6 libx11-data libx11-xcb1 libxcb1 libxau6 libxdmcp6 libbsd0 libmd0
  libflac12 libogg0 libopus0 libvorbis0a libvorbisenc2 libmp3lame0 libmpg123-0
  libcap2 libgcrypt20 libgpg-error0 liblz4-1 liblzma5 libzstd1
)
# Text: fortunes (English), -de, -es, -it, -br (Portuguese); Debian 12 has no fortunes-fr.
# Word lists for coverage and for the one-word-at-a-time alignment set.
TEXT_PKGS=(
  fortunes fortunes-min fortunes-de fortunes-es fortunes-it fortunes-br
  wamerican wngerman wspanish witalian wportuguese
)

if [ ! -d /var/lib/apt/lists ] || [ -z "$(ls /var/lib/apt/lists 2>/dev/null | grep -i Packages | head -1)" ]; then
  apt-get update >/dev/null
fi
cd "$DEBS"
rm -f ./*.deb
# apt-get download as root warns about the _apt sandbox; harmless.
apt-get download "${SPEECH_PKGS[@]}" "${TEXT_PKGS[@]}" 2>&1 | grep -v -E '^(Get:|W: Download is performed unsandboxed)' || true
n=$(ls ./*.deb | wc -l)
want=$(( ${#SPEECH_PKGS[@]} + ${#TEXT_PKGS[@]} ))
if [ "$n" -ne "$want" ]; then echo "expected $want .deb files, got $n" >&2; exit 1; fi
(cd "$DEBS" && sha256sum ./*.deb > SHA256SUMS)

for f in multilingual.tiktoken mel_filters.npz languages.tsv; do
  cp -f "$SHARED_ASSETS/$f" "$ASSETS_OUT/$f"
done

echo "debs: $n files, $(du -sh "$DEBS" | cut -f1) in $DEBS"
echo "assets: $(du -sh "$ASSETS_OUT" | cut -f1) in $ASSETS_OUT"

if [ "${1:-}" = "--check" ]; then
  SCRATCH="$(mktemp -d /tmp/synth-prefix-check.XXXXXX)"
  bash "$ROOT/tools/train_synthetic/unpack_debs.sh" "$DEBS" "$SCRATCH"
  echo "check prefix: $SCRATCH (remove it when done)"
fi
