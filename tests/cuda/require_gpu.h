// Skips a CUDA test on a machine without a usable GPU (CI builds these tests and runs them there).
#pragma once

#include <gtest/gtest.h>

#include "backends/cuda/runtime.h"

#define HARK_REQUIRE_GPU()                                                              \
  do {                                                                                  \
    if (!backends::cuda::available()) GTEST_SKIP() << "no CUDA device on this machine"; \
  } while (0)
