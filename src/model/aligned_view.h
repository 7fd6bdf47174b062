// Zero-copy tensors over memory-mapped model files, when the bytes allow it.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>

#include "core/tensor.h"

namespace hark::model {

// A view of the tensor stored at p when p is aligned for the dtype (the view keeps `owner`
// alive); otherwise an owned, 64-byte-aligned copy, so that data<T>() is always aligned for T.
inline Tensor view_or_copy(DType dtype, Shape shape, const uint8_t* p,
                           std::shared_ptr<const void> owner) {
  if (reinterpret_cast<uintptr_t>(p) % dtype_size(dtype) == 0)
    return Tensor::view(dtype, std::move(shape), p, std::move(owner));
  Tensor t = Tensor::zeros(dtype, std::move(shape));
  if (t.nbytes()) std::memcpy(t.data<uint8_t>(), p, t.nbytes());
  return t;
}

}  // namespace hark::model
