// Private to the CPU backend: how many threads a loop over `work` units should use.
#pragma once

#include <cstdint>

namespace hark::backends::cpu {

// Threads for a parallel loop over `work` units where fewer than `min_work_per_thread` units per
// thread would cost more in OpenMP fork/join than they save; 1 means run serially.
int threads_for(int64_t work, int64_t min_work_per_thread);

}  // namespace hark::backends::cpu
