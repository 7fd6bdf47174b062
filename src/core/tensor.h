// Tensor: a dtype, a shape (outermost first, PyTorch order), a device and a contiguous buffer,
// either owned or a view into memory kept alive by someone else (an mmap'd model file).
// Cheap to copy: copies share the buffer. No maths here; ops live in src/ops.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

namespace hark {

// kI8: signed bytes (int8 weight-only quantisation, ops::LinearWeight).
enum class DType : uint8_t { kF32, kF16, kBF16, kI32, kI64, kU8, kI8 };
enum class Device : uint8_t { kCpu, kCuda };

size_t dtype_size(DType t);
std::string_view dtype_name(DType t);

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);  // "[384,80,3]"

class Tensor {
 public:
  Tensor() = default;

  // A new zero-filled CPU tensor that owns its (64-byte aligned) buffer.
  static Tensor zeros(DType dtype, Shape shape);
  // A new zero-filled tensor on `device` (kCpu: the same as zeros). Device memory comes from the
  // backend registered in core/device_memory.h; without one this throws kUnsupported.
  static Tensor zeros_on(Device device, DType dtype, Shape shape);
  // Like zeros_on, but device memory is left uninitialised (for outputs an op writes entirely).
  // CPU tensors are still zero-filled.
  static Tensor empty_on(Device device, DType dtype, Shape shape);
  // A non-owning view of `data`; `keepalive` (may be null) is held for as long as the view lives.
  static Tensor view(DType dtype, Shape shape, const void* data,
                     std::shared_ptr<const void> keepalive = nullptr);

  bool defined() const { return data_ != nullptr || numel() == 0; }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return int(shape_.size()); }
  int64_t dim(int i) const { return shape_.at(i < 0 ? shape_.size() + i : size_t(i)); }
  int64_t numel() const;
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }

  template <typename T>
  T* data() {
    return static_cast<T*>(data_);
  }
  template <typename T>
  const T* data() const {
    return static_cast<const T*>(data_);
  }
  const void* raw() const { return data_; }

  // The same buffer seen with another shape of equal element count.
  Tensor reshape(Shape shape) const;
  // Rows [begin, end) of the outermost dimension, as a view sharing this buffer.
  Tensor slice_rows(int64_t begin, int64_t end) const;
  // An owned fp32 copy (f16/bf16/f32 sources); f32 sources are copied too. CPU tensors only
  // (kUnsupported otherwise: call to(Device::kCpu) first).
  Tensor to_f32() const;
  // An owned CPU copy converted to `dtype`; both dtypes among F32/F16/BF16 (round to nearest
  // even). CPU tensors only.
  Tensor to_dtype(DType dtype) const;
  // An owned deep copy on the same device.
  Tensor clone() const;
  // This tensor on `device`: *this (sharing the buffer) when it is there already, else an owned
  // copy. Blocks until a copy to the host is complete.
  Tensor to(Device device) const;

 private:
  DType dtype_ = DType::kF32;
  Device device_ = Device::kCpu;
  Shape shape_;
  void* data_ = nullptr;
  std::shared_ptr<const void> holder_;
};

}  // namespace hark
