// Private to the CPU backend: single-row kernels shared by several ops (softmax by attention).
// Serial; callers parallelise over rows.
#pragma once

#include <cstdint>

namespace hark::backends::cpu {

// Softmax of x[0, n) in place; n >= 1. -inf entries get 0; a row of only -inf gives NaN.
void softmax_row(float* x, int64_t n);

}  // namespace hark::backends::cpu
