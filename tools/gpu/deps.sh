# Sourced by the tools/gpu scripts on the GPU machine: unpacks the carried .deb files
# (.device-carry/debs: fmt, spdlog, nlohmann-json, GoogleTest, OpenBLAS runtime) and the OpenBLAS
# headers into $P, and configures the engine-only CUDA build in build-gpu.
P=/tmp/hark-deps
mkdir -p "$P"
for f in .device-carry/debs/*.deb; do
  dpkg -x "$f" "$P" 2>/dev/null || (cd /tmp && ar x "$OLDPWD/$f" data.tar.xz && tar xf data.tar.xz -C "$P")
done
tar xzf .device-carry/openblas-headers.tgz -C "$P"
export LD_LIBRARY_PATH="$P/usr/lib/x86_64-linux-gnu:$P/usr/lib/x86_64-linux-gnu/openblas-openmp:${LD_LIBRARY_PATH:-}"
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DHARK_ENGINE_ONLY=ON \
  -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc -DHARK_CUDA_ARCHITECTURES=90a \
  -DCMAKE_PREFIX_PATH="$P/usr" \
  -DOPENBLAS_INCLUDE_DIR="$P/usr/include/x86_64-linux-gnu/openblas-openmp" \
  -DOPENBLAS_LIBRARY="$P/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0" \
  > "$OUT/cmake.log" 2>&1 || { tail -40 "$OUT/cmake.log"; exit 1; }
