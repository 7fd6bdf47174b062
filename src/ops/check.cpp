#include "ops/check.h"

#include <cstdint>

#include "ops/profile.h"

namespace hark::ops::detail {

namespace {

std::string_view device_name(Device d) { return d == Device::kCpu ? "CPU" : "CUDA"; }

bool overlap(const Tensor& a, const Tensor& b) {
  if (a.nbytes() == 0 || b.nbytes() == 0) return false;
  const auto a0 = reinterpret_cast<uintptr_t>(a.raw()), b0 = reinterpret_cast<uintptr_t>(b.raw());
  return a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes();
}

}  // namespace

OpCheck::OpCheck(std::string_view op) : op_(op) {
  if (profiling()) profile_start_ = profile_begin();
}

OpCheck::~OpCheck() {
  if (profile_start_ < 0) return;
  try {
    profile_end(profile_key_.empty() ? std::string(op_) : profile_key_, profile_start_);
  } catch (...) {  // a failed op reports its own error; the profile just misses it
  }
}

OpCheck& OpCheck::tensor(std::string_view name, const Tensor& t, int ndim) {
  require(t.defined(), "{} is an undefined tensor", name);
  if (ndim >= 0) {
    require(t.ndim() == ndim, "{} {} should have {} dimensions", name, shape_str(t.shape()), ndim);
  } else {
    require(t.ndim() >= -ndim, "{} {} should have at least {} dimensions", name,
            shape_str(t.shape()), -ndim);
  }
  if (!any_) {
    any_ = true;
    dtype_ = t.dtype();
    device_ = t.device();
    return *this;
  }
  require(t.dtype() == dtype_, "{} is {} but the arguments before it are {}", name,
          dtype_name(t.dtype()), dtype_name(dtype_));
  require(t.device() == device_, "{} is on {} but the arguments before it are on {}", name,
          device_name(t.device()), device_name(device_));
  return *this;
}

void OpCheck::disjoint(std::string_view a_name, const Tensor& a, std::string_view b_name,
                       const Tensor& b) const {
  require(!overlap(a, b), "{} and {} share memory; the op needs them apart", a_name, b_name);
}

void OpCheck::same_or_disjoint(std::string_view a_name, const Tensor& a, std::string_view b_name,
                               const Tensor& b) const {
  require(!overlap(a, b) || (a.raw() == b.raw() && a.nbytes() == b.nbytes()),
          "{} and {} partly overlap; they must be the same tensor or apart", a_name, b_name);
}

void OpCheck::blas_sizes(std::initializer_list<int64_t> sizes) const {
  for (int64_t s : sizes) require(s <= INT32_MAX, "size {} exceeds the 32-bit BLAS interface", s);
}

void OpCheck::kernel_dtype(DType dtype) const {
  if (dtype_ != dtype)
    throw_error(ErrorKind::kUnsupported, "{}: no {} kernel for {} tensors", op_,
                device_name(device_), dtype_name(dtype_));
}

void OpCheck::unsupported_device() const {
  throw_error(ErrorKind::kUnsupported, "{}: this build has no {} backend", op_,
              device_name(device_));
}

void OpCheck::fail(const std::string& message) const {
  throw_error(ErrorKind::kInternal, "{}: {}", op_, message);
}

int64_t leading_rows(const Tensor& t) {
  int64_t rows = 1;
  for (int i = 0; i + 1 < t.ndim(); ++i) rows *= t.dim(i);
  return rows;
}

}  // namespace hark::ops::detail
