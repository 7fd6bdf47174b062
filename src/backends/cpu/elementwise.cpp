// Elementwise kernels: single passes the compiler vectorises (GELU through simd.h), split into
// contiguous chunks across threads only when the tensor is big enough to repay the fork/join.
#include <omp.h>

#include "backends/cpu/kernels.h"
#include "backends/cpu/simd.h"
#include "backends/cpu/threads.h"

namespace hark::backends::cpu {

namespace {

constexpr int64_t kMinPerThread = int64_t(1) << 15;

template <int L>
HARK_INLINE void gelu_span_body(float* x, int64_t n) {
  using V = Vec<L>;
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    const typename V::F v = V::load(x + i);
    V::store(x + i, v * V::normal_cdf(v));
  }
  if (i < n) {
    const typename V::F v = V::load_partial(x + i, n - i, 0.0f);
    V::store_partial(x + i, v * V::normal_cdf(v), n - i);
  }
}

// x and y may be the same array (x += x), never partially overlapping.
template <int L>
HARK_INLINE void add_span_body(float* x, const float* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

// x[i] = gelu(x[i] + b[i]).
template <int L>
HARK_INLINE void bias_gelu_span_body(float* x, const float* b, int64_t n) {
  using V = Vec<L>;
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    const typename V::F v = V::load(x + i) + V::load(b + i);
    V::store(x + i, v * V::normal_cdf(v));
  }
  if (i < n) {
    const typename V::F v =
        V::load_partial(x + i, n - i, 0.0f) + V::load_partial(b + i, n - i, 0.0f);
    V::store_partial(x + i, v * V::normal_cdf(v), n - i);
  }
}

HARK_CPU_DISPATCH(gelu_span, (float* x, int64_t n), (x, n))
HARK_CPU_DISPATCH(bias_gelu_span, (float* x, const float* b, int64_t n), (x, b, n))
HARK_CPU_DISPATCH(add_span, (float* x, const float* y, int64_t n), (x, y, n))

// Calls fn(begin, end) on contiguous chunks covering [0, n), in parallel when n is large.
template <typename Fn>
void for_chunks(int64_t n, Fn&& fn) {
  const int nt = threads_for(n, kMinPerThread);
  if (nt == 1) return fn(int64_t(0), n);
#pragma omp parallel num_threads(nt)
  {
    const int64_t per = (n + omp_get_num_threads() - 1) / omp_get_num_threads();
    const int64_t begin = omp_get_thread_num() * per;
    const int64_t end = begin + per < n ? begin + per : n;
    if (begin < end) fn(begin, end);
  }
}

}  // namespace

void gelu(float* x, int64_t n) {
  for_chunks(n, [&](int64_t b, int64_t e) { gelu_span(x + b, e - b); });
}

void bias_gelu(float* x, const float* bias, int64_t m, int64_t d) {
  const int nt = threads_for(m * d, kMinPerThread);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t r = 0; r < m; ++r) bias_gelu_span(x + r * d, bias, d);
}

void add(float* x, const float* y, int64_t n) {
  for_chunks(n, [&](int64_t b, int64_t e) { add_span(x + b, y + b, e - b); });
}

void add_rows(float* x, const float* row, int64_t m, int64_t d) {
  const int nt = threads_for(m * d, kMinPerThread);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t r = 0; r < m; ++r) add_span(x + r * d, row, d);
}

}  // namespace hark::backends::cpu
