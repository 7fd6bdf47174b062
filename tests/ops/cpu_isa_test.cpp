#include <gtest/gtest.h>

#include "backends/cpu/kernels.h"

namespace hark::backends::cpu {
namespace {

TEST(CpuIsa, SetIsaClampsToWhatTheCpuHas) {
  const Isa best = best_isa();
  EXPECT_EQ(set_isa(Isa::kBaseline), Isa::kBaseline);
  EXPECT_EQ(set_isa(Isa::kAvx512), best);
  EXPECT_EQ(set_isa(Isa::kAvx2), best < Isa::kAvx2 ? best : Isa::kAvx2);
  set_isa(best);
}

}  // namespace
}  // namespace hark::backends::cpu
