// One thread count for the whole CPU backend: our OpenMP loops pass it explicitly (an
// omp_set_num_threads call would only reach the calling thread), and OpenBLAS gets it globally.
#include "backends/cpu/threads.h"

#include <cblas.h>
#include <omp.h>

#include <atomic>

#include "backends/cpu/kernels.h"

namespace hark::backends::cpu {

namespace {
std::atomic<int> g_threads{0};  // 0: not chosen yet, i.e. OpenMP's default (OMP_NUM_THREADS)
}

void set_num_threads(int n) {
  if (n <= 0) n = omp_get_num_procs();
  g_threads.store(n, std::memory_order_relaxed);
  openblas_set_num_threads(n);
}

int num_threads() {
  const int n = g_threads.load(std::memory_order_relaxed);
  return n > 0 ? n : omp_get_max_threads();
}

int threads_for(int64_t work, int64_t min_work_per_thread) {
  const int n = num_threads();
  if (work < 2 * min_work_per_thread || n == 1) return 1;
  const int64_t useful = work / min_work_per_thread;
  return useful < n ? int(useful) : n;
}

}  // namespace hark::backends::cpu
