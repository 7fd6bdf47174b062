// transpose: 32x32 tiles, so that both the rows read and the rows written stay in L1 while a tile
// is copied; tile rows are spread over threads for large matrices.
#include <algorithm>

#include "backends/cpu/kernels.h"
#include "backends/cpu/threads.h"

namespace hark::backends::cpu {

void transpose(const float* x, float* y, int64_t r, int64_t c) {
  constexpr int64_t kTile = 32;
  const int64_t tiles_r = (r + kTile - 1) / kTile;
  const int nt = threads_for(r * c, int64_t(1) << 15);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t tr = 0; tr < tiles_r; ++tr) {
    const int64_t r0 = tr * kTile, r1 = std::min(r, r0 + kTile);
    for (int64_t c0 = 0; c0 < c; c0 += kTile) {
      const int64_t c1 = std::min(c, c0 + kTile);
      for (int64_t j = c0; j < c1; ++j)
        for (int64_t i = r0; i < r1; ++i) y[j * r + i] = x[i * c + j];
    }
  }
}

}  // namespace hark::backends::cpu
