// The ops of batched decoding: attention_batched (the encoder over B windows), attention_rows
// (ragged decoder attention), embed_rows, scatter_rows and argmax_rows.
#include <algorithm>
#include <cstring>
#include <vector>

#include "backends/cpu/kernels.h"
#ifdef HARK_HAVE_CUDA
#include "backends/cuda/kernels.h"
#endif
#include "ops/check.h"
#include "ops/ops.h"

namespace hark::ops {

void attention_batched(const Tensor& q, const Tensor& k, const Tensor& v, int n_head, Tensor& out) {
  detail::OpCheck c("attention_batched");
  c.tensor("q", q, 3).tensor("k", k, 3).tensor("v", v, 3).tensor("out", out, 3);
  const int64_t b = q.dim(0), tq = q.dim(1), d = q.dim(2), tk = k.dim(1);
  c.require(n_head >= 1 && d >= n_head && d % n_head == 0, "q {} does not split into {} heads",
            shape_str(q.shape()), n_head);
  c.require(k.dim(0) == b && k.dim(2) == d && v.shape() == k.shape(),
            "q {}, k {} and v {} disagree on B, H*Dh or Tk", shape_str(q.shape()),
            shape_str(k.shape()), shape_str(v.shape()));
  c.require(tk >= 1, "k {} has no keys", shape_str(k.shape()));
  c.require(out.shape() == q.shape(), "out {} should have the shape of q {}",
            shape_str(out.shape()), shape_str(q.shape()));
  for (const auto& [name, t] : {std::pair{"q", &q}, {"k", &k}, {"v", &v}})
    c.disjoint("out", out, name, *t);
  c.blas_sizes({tq, tk, d});
  switch (c.device()) {
    case Device::kCpu: {
      c.kernel_dtype(DType::kF32);
      const backends::cpu::AttentionDims dims{tq, tk, n_head, d / n_head, -1, d, d, d, d};
      for (int64_t i = 0; i < b; ++i) {
        backends::cpu::attention(q.data<float>() + i * tq * d, k.data<float>() + i * tk * d,
                                 v.data<float>() + i * tk * d, dims, out.data<float>() + i * tq * d,
                                 nullptr);
      }
      return;
    }
    case Device::kCuda: {
#ifdef HARK_HAVE_CUDA
      const backends::cuda::FlashAttentionDims dims{b, tq, tk,     n_head, d / n_head, d,     d,
                                                    d, d,  tq * d, tk * d, tk * d,     tq * d};
      backends::cuda::attention_batched(c.dtype(), q.raw(), k.raw(), v.raw(), dims,
                                        out.data<void>());
      return;
#else
      break;
#endif
    }
  }
  c.unsupported_device();
}

void attention_rows(const Tensor& q, const KvRows& kv, int n_head, Tensor& out) {
  detail::OpCheck c("attention_rows");
  c.tensor("q", q, 2).tensor("out", out, 2);
  const int64_t rows = q.dim(0), d = q.dim(1);
  c.require(n_head >= 1 && d >= n_head && d % n_head == 0, "q {} does not split into {} heads",
            shape_str(q.shape()), n_head);
  c.require(out.shape() == q.shape(), "out {} should have the shape of q {}",
            shape_str(out.shape()), shape_str(q.shape()));
  c.disjoint("out", out, "q", q);
  c.require(int64_t(kv.keys.size()) == rows && int64_t(kv.values.size()) == rows &&
                int64_t(kv.n_keys.size()) == rows,
            "{} query rows but {} keys, {} values and {} lengths", rows, kv.keys.size(),
            kv.values.size(), kv.n_keys.size());
  std::vector<const void*> k_ptr(static_cast<size_t>(rows)), v_ptr(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const Tensor* k = kv.keys[size_t(r)];
    const Tensor* v = kv.values[size_t(r)];
    c.require(k && v, "row {} has no keys or values", r);
    c.tensor("keys", *k, 2).tensor("values", *v, 2);
    c.require(k->dim(1) == d && v->shape() == k->shape(),
              "row {}: keys {} and values {} do not match q {}", r, shape_str(k->shape()),
              shape_str(v->shape()), shape_str(q.shape()));
    const int n = kv.n_keys[size_t(r)];
    c.require(n >= 1 && n <= k->dim(0), "row {}: {} keys asked of a matrix of {}", r, n, k->dim(0));
    c.disjoint("out", out, "keys", *k);
    c.disjoint("out", out, "values", *v);
    k_ptr[size_t(r)] = k->raw();
    v_ptr[size_t(r)] = v->raw();
  }
  switch (c.device()) {
    case Device::kCpu: {
      c.kernel_dtype(DType::kF32);
      const backends::cpu::AttentionRowsDims dims{rows, n_head, d / n_head, d, d, d};
      backends::cpu::attention_rows(q.data<float>(),
                                    reinterpret_cast<const float* const*>(k_ptr.data()),
                                    reinterpret_cast<const float* const*>(v_ptr.data()),
                                    kv.n_keys.data(), dims, out.data<float>());
      return;
    }
    case Device::kCuda: {
#ifdef HARK_HAVE_CUDA
      const backends::cuda::AttentionRowsDims dims{rows, n_head, d / n_head, d, d, d};
      backends::cuda::attention_rows(c.dtype(), q.raw(), k_ptr.data(), v_ptr.data(),
                                     kv.n_keys.data(), dims, out.data<void>());
      return;
#else
      break;
#endif
    }
  }
  c.unsupported_device();
}

void embed_rows(const Tensor& table, const Tensor& pos_table, std::span<const int> ids,
                std::span<const int> positions, Tensor& out) {
  detail::OpCheck c("embed_rows");
  c.tensor("table", table, 2).tensor("pos_table", pos_table, 2).tensor("out", out, 2);
  const int64_t rows = out.dim(0), d = out.dim(1);
  c.require(table.dim(1) == d && pos_table.dim(1) == d,
            "table {}, pos_table {} and out {} disagree on D", shape_str(table.shape()),
            shape_str(pos_table.shape()), shape_str(out.shape()));
  c.require(int64_t(ids.size()) == rows && int64_t(positions.size()) == rows,
            "out {} has {} rows but {} ids and {} positions", shape_str(out.shape()), rows,
            ids.size(), positions.size());
  for (int64_t r = 0; r < rows; ++r) {
    HARK_CHECK(ids[size_t(r)] >= 0 && ids[size_t(r)] < table.dim(0), ErrorKind::kInvalidArgument,
               "token {} outside the vocabulary of {}", ids[size_t(r)], table.dim(0));
    HARK_CHECK(positions[size_t(r)] >= 0 && positions[size_t(r)] < pos_table.dim(0),
               ErrorKind::kInvalidArgument, "position {} outside the text context of {}",
               positions[size_t(r)], pos_table.dim(0));
  }
  c.disjoint("out", out, "table", table);
  switch (c.device()) {
    case Device::kCpu:
      c.kernel_dtype(DType::kF32);
      backends::cpu::embed_rows(table.data<float>(), pos_table.data<float>(), ids.data(),
                                positions.data(), rows, d, out.data<float>());
      return;
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::embed_rows(c.dtype(), table.raw(), pos_table.raw(), ids.data(),
                                 positions.data(), rows, d, out.data<void>());
      return;
#else
      break;
#endif
  }
  c.unsupported_device();
}

void scatter_rows(const Tensor& src, std::span<Tensor* const> dst, std::span<const int> positions) {
  detail::OpCheck c("scatter_rows");
  c.tensor("src", src, 2);
  const int64_t rows = src.dim(0), d = src.dim(1);
  c.require(int64_t(dst.size()) == rows && int64_t(positions.size()) == rows,
            "src {} has {} rows but {} destinations and {} positions", shape_str(src.shape()), rows,
            dst.size(), positions.size());
  std::vector<void*> ptr(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    Tensor* t = dst[size_t(r)];
    c.require(t != nullptr, "row {} has no destination", r);
    c.tensor("dst", *t, 2);
    c.require(t->dim(1) == d, "row {}: destination {} is not [*, {}]", r, shape_str(t->shape()), d);
    c.require(positions[size_t(r)] >= 0 && positions[size_t(r)] < t->dim(0),
              "row {}: position {} outside destination {}", r, positions[size_t(r)],
              shape_str(t->shape()));
    c.disjoint("dst", *t, "src", src);
    ptr[size_t(r)] = t->data<void>();
  }
  switch (c.device()) {
    case Device::kCpu: {
      c.kernel_dtype(DType::kF32);
      for (int64_t r = 0; r < rows; ++r) {
        std::memcpy(static_cast<float*>(ptr[size_t(r)]) + int64_t(positions[size_t(r)]) * d,
                    src.data<float>() + r * d, size_t(d) * sizeof(float));
      }
      return;
    }
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::scatter_rows(c.dtype(), src.raw(), ptr.data(), positions.data(), rows, d);
      return;
#else
      break;
#endif
  }
  c.unsupported_device();
}

std::vector<int> argmax_rows(const Tensor& x, int exclude) {
  detail::OpCheck c("argmax_rows");
  c.tensor("x", x, 2);
  c.require(x.dim(1) >= 1, "x {} has no columns", shape_str(x.shape()));
  std::vector<int> out(size_t(x.dim(0)));
  switch (c.device()) {
    case Device::kCpu:
      c.kernel_dtype(DType::kF32);
      backends::cpu::argmax_rows(x.data<float>(), x.dim(0), x.dim(1), exclude, out.data());
      return out;
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::argmax_rows(c.dtype(), x.raw(), x.dim(0), x.dim(1), exclude, out.data());
      return out;
#else
      break;
#endif
  }
  c.unsupported_device();
}

}  // namespace hark::ops
