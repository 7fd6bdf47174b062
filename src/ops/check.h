// Private to src/ops: the argument checks every op runs once before dispatching to a backend.
// A failed check is a bug in the caller (the model code), so it throws ErrorKind::kInternal with
// the op's name and the shapes involved; a valid call this build cannot run (a dtype or device
// without a kernel) throws ErrorKind::kUnsupported.
#pragma once

#include <fmt/format.h>

#include <climits>
#include <string>
#include <string_view>

#include "core/error.h"
#include "core/tensor.h"

namespace hark::ops::detail {

class OpCheck {
 public:
  // With profiling on (ops/profile.h), the op's wall time from here to the destructor is added to
  // its bucket, the device being drained before and after.
  explicit OpCheck(std::string_view op);
  ~OpCheck();
  OpCheck(const OpCheck&) = delete;
  OpCheck& operator=(const OpCheck&) = delete;
  // A finer profile bucket than the op's name ("linear 1280x5120").
  void profile_key(std::string key) { profile_key_ = std::move(key); }

  // Registers an argument: it must be defined, of rank `ndim` (or at least -ndim when ndim < 0),
  // and of the same dtype and device as the arguments registered before it.
  OpCheck& tensor(std::string_view name, const Tensor& t, int ndim);

  template <typename... Args>
  void require(bool cond, fmt::format_string<Args...> f, Args&&... args) const {
    if (!cond) fail(fmt::format(f, std::forward<Args>(args)...));
  }

  // The buffers of a and b must not overlap (outputs against inputs).
  void disjoint(std::string_view a_name, const Tensor& a, std::string_view b_name,
                const Tensor& b) const;
  // a and b must be the very same buffer or not overlap at all (in-place ops).
  void same_or_disjoint(std::string_view a_name, const Tensor& a, std::string_view b_name,
                        const Tensor& b) const;
  // Every value must fit the 32-bit sizes of the BLAS interface.
  void blas_sizes(std::initializer_list<int64_t> sizes) const;

  Device device() const { return device_; }
  DType dtype() const { return dtype_; }
  // Throws kUnsupported unless the arguments' dtype is `dtype` (the one the kernel handles).
  void kernel_dtype(DType dtype) const;
  [[noreturn]] void unsupported_device() const;

  [[noreturn]] void fail(const std::string& message) const;

 private:
  std::string_view op_;
  std::string profile_key_;
  double profile_start_ = -1;
  bool any_ = false;
  DType dtype_ = DType::kF32;
  Device device_ = Device::kCpu;
};

// Product of all dimensions but the last (the rows of a [..., D] tensor).
int64_t leading_rows(const Tensor& t);

}  // namespace hark::ops::detail
