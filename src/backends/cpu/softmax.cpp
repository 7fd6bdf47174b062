// softmax: max, then exp and sum in one vector pass, then one scaling pass, all on a row that
// stays in L1/L2. The max is subtracted before exp, so no input can overflow.
#include "backends/cpu/kernels.h"
#include "backends/cpu/rows.h"
#include "backends/cpu/simd.h"
#include "backends/cpu/threads.h"

namespace hark::backends::cpu {

template <int L>
HARK_INLINE void softmax_row_body(float* x, int64_t n) {
  using V = Vec<L>;
  using F = typename V::F;
  constexpr float kMinusInf = -__builtin_inff();
  F top = V::splat(kMinusInf);
  int64_t i = 0;
  for (; i + L <= n; i += L) top = V::max(top, V::load(x + i));
  if (i < n) top = V::max(top, V::load_partial(x + i, n - i, kMinusInf));
  const F shift = V::splat(V::max_lane(top));
  F acc = V::splat(0.0f);
  for (i = 0; i + L <= n; i += L) {
    const F e = V::exp(V::load(x + i) - shift);
    V::store(x + i, e);
    acc += e;
  }
  if (i < n) {
    // Lanes past the end load -inf and so add exp(-inf) = 0 to the sum.
    const F e = V::exp(V::load_partial(x + i, n - i, kMinusInf) - shift);
    V::store_partial(x + i, e, n - i);
    acc += e;
  }
  const float inv = 1.0f / V::sum(acc);
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) x[j] *= inv;
}

HARK_CPU_DISPATCH(softmax_row, (float* x, int64_t n), (x, n))

void softmax(float* x, int64_t m, int64_t n) {
  if (n == 0) return;
  const int nt = threads_for(m * n, int64_t(1) << 14);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t r = 0; r < m; ++r) softmax_row(x + r * n, n);
}

}  // namespace hark::backends::cpu
