#include "backends/cpu/kernels.h"
#include "ops/ops.h"

namespace hark::ops {

void set_num_threads(int n) { backends::cpu::set_num_threads(n); }
int num_threads() { return backends::cpu::num_threads(); }

}  // namespace hark::ops
