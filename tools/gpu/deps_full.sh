# Sourced on the GPU machine after tools/gpu/deps.sh: configures build-gpu-full, the whole program
# but for what that machine lacks — no FFmpeg (audio input is 16 kHz WAV or raw PCM:
# src/audio/decode_wav.cpp) and no server (no Boost/libcurl) — so that `hark transcribe --device
# cuda` and the engine run there. kissfft and zlib headers come from .device-carry/debs; the
# system's libz.so.1 is linked.
ZLIB_SO=$(ldconfig -p | awk '/libz\.so\.1 /{print $NF; exit}')
cmake -S . -B build-gpu-full -G Ninja -DCMAKE_BUILD_TYPE=Release -DHARK_FFMPEG=OFF \
  -DHARK_SERVER=OFF -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc -DHARK_CUDA_ARCHITECTURES=90 \
  -DCMAKE_PREFIX_PATH="$P/usr" -DZLIB_LIBRARY="$ZLIB_SO" -DZLIB_INCLUDE_DIR="$P/usr/include" \
  -DOPENBLAS_INCLUDE_DIR="$P/usr/include/x86_64-linux-gnu/openblas-openmp" \
  -DOPENBLAS_LIBRARY="$P/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0" \
  -DHARK_SHARED_DIR="$PWD/.device-carry" \
  > "$OUT/cmake-full.log" 2>&1 || { tail -40 "$OUT/cmake-full.log"; exit 1; }
