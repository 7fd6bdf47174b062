// Throwing hark::Error(kInvalidArgument) for bad client input with a formatted message.
#pragma once

#include <fmt/format.h>

#include <utility>

#include "hark/error.h"

namespace hark::server {

template <typename... Args>
[[noreturn]] void invalid_input(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(ErrorKind::kInvalidArgument, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace hark::server

#define HARK_REQUIRE_INPUT(cond, ...)                        \
  do {                                                       \
    if (!(cond)) ::hark::server::invalid_input(__VA_ARGS__); \
  } while (0)
