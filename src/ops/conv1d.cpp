#include "backends/cpu/kernels.h"
#ifdef HARK_HAVE_CUDA
#include "backends/cuda/kernels.h"
#endif
#include "ops/check.h"
#include "ops/ops.h"

namespace hark::ops {

void conv1d(const Tensor& x, const Tensor& w, const Tensor& b, int stride, int pad, Tensor& y) {
  detail::OpCheck c("conv1d");
  c.tensor("x", x, 2).tensor("w", w, 3).tensor("b", b, 1).tensor("y", y, 2);
  const int64_t c_in = x.dim(0), t_in = x.dim(1), c_out = w.dim(0), kernel = w.dim(2);
  c.require(w.dim(1) == c_in, "x {} and w {} disagree on C_in", shape_str(x.shape()),
            shape_str(w.shape()));
  c.require(b.dim(0) == c_out, "b {} should be [{}] for w {}", shape_str(b.shape()), c_out,
            shape_str(w.shape()));
  c.require(stride >= 1 && pad >= 0, "stride {} must be >= 1 and pad {} >= 0", stride, pad);
  c.require(kernel >= 1 && t_in + 2 * pad >= kernel,
            "kernel width {} does not fit x {} padded by {}", kernel, shape_str(x.shape()), pad);
  const int64_t t_out = (t_in + 2 * pad - kernel) / stride + 1;
  c.require(y.dim(0) == c_out && y.dim(1) == t_out,
            "y {} should be [{},{}] for x {}, w {}, stride {}, pad {}", shape_str(y.shape()), c_out,
            t_out, shape_str(x.shape()), shape_str(w.shape()), stride, pad);
  c.disjoint("y", y, "x", x);
  c.disjoint("y", y, "w", w);
  c.disjoint("y", y, "b", b);
  c.blas_sizes({c_out, t_out, c_in * kernel});
  switch (c.device()) {
    case Device::kCpu:
      c.kernel_dtype(DType::kF32);
      backends::cpu::conv1d(x.data<float>(), w.data<float>(), b.data<float>(),
                            {c_in, t_in, c_out, kernel, stride, pad, t_out}, y.data<float>());
      return;
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::conv1d(c.dtype(), x.raw(), w.raw(), b.raw(),
                             {c_in, t_in, c_out, kernel, stride, pad, t_out}, y.data<void>());
      return;
#else
      break;
#endif
  }
  c.unsupported_device();
}

void conv1d_patches(const Tensor& x, bool channel_major, int kernel, int stride, int pad,
                    Tensor& out) {
  detail::OpCheck c("conv1d_patches");
  c.tensor("x", x, 3).tensor("out", out, 2);
  const int64_t batch = x.dim(0), channels = channel_major ? x.dim(1) : x.dim(2),
                t_in = channel_major ? x.dim(2) : x.dim(1);
  c.require(stride >= 1 && pad >= 0 && kernel >= 1, "kernel {}, stride {}, pad {}", kernel, stride,
            pad);
  c.require(t_in + 2 * pad >= kernel, "kernel width {} does not fit x {} padded by {}", kernel,
            shape_str(x.shape()), pad);
  const int64_t t_out = (t_in + 2 * pad - kernel) / stride + 1;
  c.require(out.dim(0) == batch * t_out && out.dim(1) == channels * kernel,
            "out {} should be [{},{}] for x {}, kernel {}, stride {}, pad {}",
            shape_str(out.shape()), batch * t_out, channels * kernel, shape_str(x.shape()), kernel,
            stride, pad);
  c.disjoint("out", out, "x", x);
  switch (c.device()) {
    case Device::kCpu:
      c.kernel_dtype(DType::kF32);
      backends::cpu::conv1d_patches(
          x.data<float>(), {batch, channels, t_in, kernel, stride, pad, t_out, channel_major},
          out.data<float>());
      return;
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::conv1d_patches(
          c.dtype(), x.raw(), {batch, channels, t_in, kernel, stride, pad, t_out, channel_major},
          out.data<void>());
      return;
#else
      break;
#endif
  }
  c.unsupported_device();
}

}  // namespace hark::ops
