#include "backends/cpu/kernels.h"
#ifdef HARK_HAVE_CUDA
#include "backends/cuda/kernels.h"
#endif
#include "ops/check.h"
#include "ops/ops.h"

namespace hark::ops {

namespace {

void check_attention(detail::OpCheck& c, const Tensor& q, const Tensor& k, const Tensor& v,
                     int n_head, const Tensor& out, const Tensor* weights) {
  c.tensor("q", q, 2).tensor("k", k, 2).tensor("v", v, 2).tensor("out", out, 2);
  if (weights) c.tensor("weights", *weights, 3);
  const int64_t d = out.dim(1), tq = q.dim(0), tk = k.dim(0);
  c.require(n_head >= 1 && d >= n_head && d % n_head == 0, "{} {} does not split into {} heads",
            q.dim(1) == d ? "q" : "out", shape_str(q.dim(1) == d ? q.shape() : out.shape()),
            n_head);
  c.require(k.dim(1) == d && v.shape() == k.shape(), "q {}, k {} and v {} disagree on H*Dh or Tk",
            shape_str(q.shape()), shape_str(k.shape()), shape_str(v.shape()));
  c.require(tk >= 1, "k {} has no keys", shape_str(k.shape()));
  c.require(out.dim(0) == tq && q.dim(1) >= d, "out {} should be q {} or its first columns",
            shape_str(out.shape()), shape_str(q.shape()));
  for (const auto& [name, t] : {std::pair{"q", &q}, {"k", &k}, {"v", &v}})
    c.disjoint("out", out, name, *t);
  if (weights) {
    const Shape want{n_head, tq, tk};
    c.require(weights->shape() == want, "weights {} should be {}", shape_str(weights->shape()),
              shape_str(want));
    for (const auto& [name, t] : {std::pair{"q", &q}, {"k", &k}, {"v", &v}, {"out", &out}})
      c.disjoint("weights", *weights, name, *t);
  }
  c.blas_sizes({tq, tk, d});
}

}  // namespace

void attention(const Tensor& q, const Tensor& k, const Tensor& v, int n_head, int64_t causal_offset,
               Tensor& out, Tensor* weights) {
  detail::OpCheck c("attention");
  check_attention(c, q, k, v, n_head, out, weights);
  switch (c.device()) {
    case Device::kCpu: {
      c.kernel_dtype(DType::kF32);
      const int64_t d = out.dim(1);
      const backends::cpu::AttentionDims dims{q.dim(0), k.dim(0), n_head, d / n_head, causal_offset,
                                              q.dim(1), d,        d,      d};
      backends::cpu::attention(q.data<float>(), k.data<float>(), v.data<float>(), dims,
                               out.data<float>(), weights ? weights->data<float>() : nullptr);
      return;
    }
    case Device::kCuda: {
#ifdef HARK_HAVE_CUDA
      const int64_t d = out.dim(1);
      const backends::cuda::AttentionDims dims{
          q.dim(0), k.dim(0), n_head, d / n_head, causal_offset, q.dim(1), d, d, d};
      backends::cuda::attention(c.dtype(), q.raw(), k.raw(), v.raw(), dims, out.data<void>(),
                                weights ? weights->data<void>() : nullptr);
      return;
#else
      break;
#endif
    }
  }
  c.unsupported_device();
}

}  // namespace hark::ops
