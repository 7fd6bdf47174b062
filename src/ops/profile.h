// A per-op time breakdown for benchmarks (hark bench --profile): while profiling is on,
// every op drains the device before and after it runs and adds its wall time to a bucket named by
// the op (linear ops by their weight shape). The totals then add up to the wall time, at the cost
// of the overlap between host and device, so profiled runs are for breakdowns, not for speed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hark::ops {

void set_profiling(bool on);
bool profiling();

struct OpTime {
  std::string name;
  double ms = 0;
  int64_t calls = 0;
};
// Buckets by decreasing time.
std::vector<OpTime> profile_report();
void reset_profile();

// For OpCheck: start returns a timestamp (ms) after draining the device; end drains again and adds
// the elapsed time to `key`.
double profile_begin();
void profile_end(const std::string& key, double start_ms);

}  // namespace hark::ops
