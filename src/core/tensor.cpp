#include "core/tensor.h"

#include <cstdlib>
#include <cstring>

#include "core/device_memory.h"
#include "core/error.h"
#include "core/half.h"

namespace hark {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::kF32: return 4;
    case DType::kF16: return 2;
    case DType::kBF16: return 2;
    case DType::kI32: return 4;
    case DType::kI64: return 8;
    case DType::kU8: return 1;
    case DType::kI8: return 1;
  }
  return 0;
}

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kI32: return "I32";
    case DType::kI64: return "I64";
    case DType::kU8: return "U8";
    case DType::kI8: return "I8";
  }
  return "?";
}

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(s[i]);
  }
  return out + "]";
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape_) n *= d;
  return n;
}

Tensor Tensor::zeros(DType dtype, Shape shape) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  for (int64_t d : t.shape_)
    HARK_CHECK(d >= 0, ErrorKind::kInternal, "negative dimension in {}", shape_str(t.shape_));
  const size_t bytes = t.nbytes();
  const size_t rounded = (bytes + 63) / 64 * 64;
  void* p = rounded ? std::aligned_alloc(64, rounded) : nullptr;
  if (rounded && !p)
    throw_error(ErrorKind::kResourceExhausted, "out of memory allocating {} bytes", bytes);
  if (p) std::memset(p, 0, rounded);
  t.data_ = p;
  t.holder_ =
      std::shared_ptr<const void>(p, [](const void* q) { std::free(const_cast<void*>(q)); });
  return t;
}

namespace {

std::string_view device_name(Device d) { return d == Device::kCpu ? "CPU" : "CUDA"; }

DeviceMemory& memory_of(Device d) {
  DeviceMemory* m = device_memory(d);
  if (!m)
    throw_error(ErrorKind::kUnsupported, "no {} backend in this build or no {} device present",
                device_name(d), device_name(d));
  return *m;
}

}  // namespace

Tensor Tensor::empty_on(Device device, DType dtype, Shape shape) {
  if (device == Device::kCpu) return zeros(dtype, std::move(shape));
  Tensor t;
  t.dtype_ = dtype;
  t.device_ = device;
  t.shape_ = std::move(shape);
  for (int64_t d : t.shape_)
    HARK_CHECK(d >= 0, ErrorKind::kInternal, "negative dimension in {}", shape_str(t.shape_));
  const size_t bytes = t.nbytes();
  DeviceMemory& m = memory_of(device);
  void* p = m.allocate(bytes);
  t.data_ = p;
  t.holder_ = std::shared_ptr<const void>(
      p, [&m, bytes](const void* q) { m.deallocate(const_cast<void*>(q), bytes); });
  return t;
}

Tensor Tensor::zeros_on(Device device, DType dtype, Shape shape) {
  if (device == Device::kCpu) return zeros(dtype, std::move(shape));
  Tensor t = empty_on(device, dtype, std::move(shape));
  if (t.nbytes()) memory_of(device).zero(t.data_, t.nbytes());
  return t;
}

Tensor Tensor::to(Device device) const {
  if (device == device_) return *this;
  Tensor out = empty_on(device, dtype_, shape_);
  if (nbytes()) {
    const Device backend = device == Device::kCpu ? device_ : device;
    memory_of(backend).copy(out.data_, device, data_, device_, nbytes());
  }
  return out;
}

Tensor Tensor::view(DType dtype, Shape shape, const void* data,
                    std::shared_ptr<const void> keepalive) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.data_ = const_cast<void*>(data);
  t.holder_ = std::move(keepalive);
  return t;
}

Tensor Tensor::reshape(Shape shape) const {
  Tensor t = *this;
  t.shape_ = std::move(shape);
  HARK_CHECK(t.numel() == numel(), ErrorKind::kInternal,
             "reshape {} -> {} changes the element count", shape_str(shape_), shape_str(t.shape_));
  return t;
}

Tensor Tensor::slice_rows(int64_t begin, int64_t end) const {
  HARK_CHECK(ndim() >= 1 && begin >= 0 && begin <= end && end <= shape_[0], ErrorKind::kInternal,
             "slice_rows({}, {}) out of range for {}", begin, end, shape_str(shape_));
  Tensor t = *this;
  t.shape_[0] = end - begin;
  const size_t row_bytes = shape_[0] ? nbytes() / size_t(shape_[0]) : 0;
  t.data_ = static_cast<char*>(data_) + size_t(begin) * row_bytes;
  return t;
}

Tensor Tensor::to_f32() const {
  HARK_CHECK(device_ == Device::kCpu, ErrorKind::kUnsupported,
             "to_f32: tensor {} is on {}; copy it to the CPU first", shape_str(shape_),
             device_name(device_));
  Tensor out = zeros(DType::kF32, shape_);
  const int64_t n = numel();
  float* dst = out.data<float>();
  switch (dtype_) {
    case DType::kF32: std::memcpy(dst, data_, size_t(n) * 4); break;
    case DType::kF16: {
      const auto* src = data<uint16_t>();
      for (int64_t i = 0; i < n; ++i) dst[i] = half_to_float(src[i]);
      break;
    }
    case DType::kBF16: {
      const auto* src = data<uint16_t>();
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_float(src[i]);
      break;
    }
    default: throw_error(ErrorKind::kInternal, "to_f32: unsupported dtype {}", dtype_name(dtype_));
  }
  return out;
}

Tensor Tensor::to_dtype(DType dtype) const {
  const auto is_float = [](DType t) {
    return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16;
  };
  HARK_CHECK(is_float(dtype_) && is_float(dtype), ErrorKind::kUnsupported,
             "to_dtype: no conversion from {} to {}", dtype_name(dtype_), dtype_name(dtype));
  const Tensor src = to_f32();
  if (dtype == DType::kF32) return src;
  Tensor out = zeros(dtype, shape_);
  const float* s = src.data<float>();
  auto* d = out.data<uint16_t>();
  const int64_t n = numel();
  if (dtype == DType::kF16) {
    for (int64_t i = 0; i < n; ++i) d[i] = float_to_half(s[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) d[i] = float_to_bf16(s[i]);
  }
  return out;
}

Tensor Tensor::clone() const {
  if (device_ != Device::kCpu) {
    Tensor out = empty_on(device_, dtype_, shape_);
    if (nbytes()) memory_of(device_).copy(out.data_, device_, data_, device_, nbytes());
    return out;
  }
  Tensor out = zeros(dtype_, shape_);
  if (nbytes()) std::memcpy(out.data_, data_, nbytes());
  return out;
}

}  // namespace hark
