// The ops of batched decoding: attention_batched and attention_batched_qkv (the encoder over B
// windows), attention_rows (ragged decoder attention), embed_rows, scatter_rows, scatter_kv_rows,
// gather_rows and argmax_rows; fused_linear (a decoder step's linear with its norm and epilogue);
// the overloads whose per-row data live in I64 tensors on the device (graph-safe: they allocate and
// read back nothing), and copy_from_host that fills those tensors.
#include <algorithm>
#include <cstring>
#include <vector>

#include "backends/cpu/kernels.h"
#ifdef HARK_HAVE_CUDA
#include "backends/cuda/kernels.h"
#endif
#include "ops/check.h"
#include "ops/ops.h"
#include "ops/profile.h"

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

void attention_batched_qkv(const Tensor& qkv, int n_head, Tensor& out) {
  detail::OpCheck c("attention_batched_qkv");
  c.tensor("qkv", qkv, 3).tensor("out", out, 3);
  const int64_t b = qkv.dim(0), t = qkv.dim(1), d = out.dim(2), ld = qkv.dim(2);
  c.require(n_head >= 1 && d >= n_head && d % n_head == 0, "out {} does not split into {} heads",
            shape_str(out.shape()), n_head);
  c.require(out.dim(0) == b && out.dim(1) == t && ld == 3 * d,
            "qkv {} should be [B, T, 3 * D] for out {}", shape_str(qkv.shape()),
            shape_str(out.shape()));
  c.require(t >= 1, "qkv {} has no keys", shape_str(qkv.shape()));
  c.disjoint("out", out, "qkv", qkv);
  c.blas_sizes({t, t, ld});
  switch (c.device()) {
    case Device::kCpu: {
      c.kernel_dtype(DType::kF32);
      const backends::cpu::AttentionDims dims{t, t, n_head, d / n_head, -1, ld, ld, ld, d};
      for (int64_t i = 0; i < b; ++i) {
        const float* base = qkv.data<float>() + i * t * ld;
        backends::cpu::attention(base, base + d, base + 2 * d, dims, out.data<float>() + i * t * d,
                                 nullptr);
      }
      return;
    }
    case Device::kCuda: {
#ifdef HARK_HAVE_CUDA
      const backends::cuda::FlashAttentionDims dims{b,  t, t,      n_head, d / n_head, ld,   ld,
                                                    ld, d, t * ld, t * ld, t * ld,     t * d};
      const size_t es = dtype_size(c.dtype());
      const char* base = static_cast<const char*>(qkv.raw());
      backends::cuda::attention_batched(c.dtype(), base, base + d * es, base + 2 * d * es, dims,
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

namespace {

// An index tensor of an op: I64, `numel` elements, on the op's device (registered after the op's
// float tensors).
void index_tensor(const detail::OpCheck& c, const char* name, const Tensor& t, int64_t numel) {
  c.require(
      t.defined() && t.dtype() == DType::kI64 && t.device() == c.device() && t.numel() == numel,
      "{} should be I64 [{}] on the op's device, got {} {}", name, numel, dtype_name(t.dtype()),
      shape_str(t.shape()));
}

const int64_t* i64(const Tensor& t) { return t.data<int64_t>(); }
template <typename T>
T* at_address(int64_t a) {
  return reinterpret_cast<T*>(static_cast<uintptr_t>(a));
}

}  // namespace

int64_t attention_rows_workspace(const Tensor& q, int n_head, int max_keys) {
  if (q.device() != Device::kCuda || q.ndim() != 2 || n_head < 1) return 0;
#ifdef HARK_HAVE_CUDA
  const int64_t d = q.dim(1);
  const backends::cuda::AttentionRowsDims dims{q.dim(0), n_head, d / n_head, d, d, d};
  return backends::cuda::attention_rows_workspace(dims, max_keys);
#else
  (void)max_keys;
  return 0;
#endif
}

void attention_rows(const Tensor& q, const KvTable& kv, int n_head, Tensor& out,
                    Tensor& workspace) {
  detail::OpCheck c("attention_rows");
  c.tensor("q", q, 2).tensor("out", out, 2);
  const int64_t rows = q.dim(0), d = out.dim(1), ld_q = q.dim(1);
  c.require(n_head >= 1 && d >= n_head && d % n_head == 0, "out {} does not split into {} heads",
            shape_str(out.shape()), n_head);
  c.require(out.dim(0) == rows && ld_q >= d, "out {} should be q {} or its first columns",
            shape_str(out.shape()), shape_str(q.shape()));
  c.disjoint("out", out, "q", q);
  c.require(kv.max_keys >= 1, "max_keys {} < 1", kv.max_keys);
  index_tensor(c, "keys", kv.keys, rows);
  index_tensor(c, "values", kv.values, rows);
  index_tensor(c, "n_keys", kv.n_keys, rows);
  if (kv.int8()) {
    index_tensor(c, "k_scales", kv.k_scales, rows);
    index_tensor(c, "v_scales", kv.v_scales, rows);
    c.require(kv.scale_ld >= kv.max_keys, "scale_ld {} < max_keys {}", kv.scale_ld, kv.max_keys);
  }
  const int64_t need = attention_rows_workspace(out, n_head, kv.max_keys);
  if (need > 0)
    c.require(workspace.dtype() == DType::kF32 && workspace.device() == c.device() &&
                  workspace.numel() >= need,
              "workspace {} {} is smaller than the {} F32 elements needed",
              dtype_name(workspace.dtype()), shape_str(workspace.shape()), need);
  switch (c.device()) {
    case Device::kCpu: {
      c.kernel_dtype(DType::kF32);
      std::vector<const float*> k_ptr(static_cast<size_t>(rows)), v_ptr(static_cast<size_t>(rows));
      std::vector<int> n_keys(static_cast<size_t>(rows));
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t n = i64(kv.n_keys)[r];
        c.require(n >= 1 && n <= kv.max_keys, "row {}: {} keys outside [1, {}]", r, n, kv.max_keys);
        k_ptr[size_t(r)] = at_address<const float>(i64(kv.keys)[r]);
        v_ptr[size_t(r)] = at_address<const float>(i64(kv.values)[r]);
        n_keys[size_t(r)] = int(n);
      }
      backends::cpu::AttentionRowsDims dims{rows, n_head, d / n_head, ld_q, d, d};
      dims.ld_scale = kv.scale_ld;  // int8 K/V only
      if (kv.int8()) {
        const size_t n_rows = static_cast<size_t>(rows);
        std::vector<const int8_t*> k8(n_rows), v8(n_rows);
        std::vector<const float*> ks(n_rows), vs(n_rows);
        for (int64_t r = 0; r < rows; ++r) {
          k8[size_t(r)] = at_address<const int8_t>(i64(kv.keys)[r]);
          v8[size_t(r)] = at_address<const int8_t>(i64(kv.values)[r]);
          ks[size_t(r)] = at_address<const float>(i64(kv.k_scales)[r]);
          vs[size_t(r)] = at_address<const float>(i64(kv.v_scales)[r]);
        }
        backends::cpu::attention_rows_int8(q.data<float>(), k8.data(), v8.data(), ks.data(),
                                           vs.data(), n_keys.data(), dims, out.data<float>());
        return;
      }
      backends::cpu::attention_rows(q.data<float>(), k_ptr.data(), v_ptr.data(), n_keys.data(),
                                    dims, out.data<float>());
      return;
    }
    case Device::kCuda: {
#ifdef HARK_HAVE_CUDA
      backends::cuda::AttentionRowsDims dims{rows, n_head, d / n_head, ld_q, d, d};
      dims.ld_scale = kv.scale_ld;  // int8 K/V only
      if (kv.int8()) {
        backends::cuda::attention_rows_indexed_int8(
            c.dtype(), q.raw(), i64(kv.keys), i64(kv.values), i64(kv.k_scales), i64(kv.v_scales),
            i64(kv.n_keys), kv.max_keys, dims, need > 0 ? workspace.data<float>() : nullptr,
            out.data<void>());
        return;
      }
      backends::cuda::attention_rows_indexed(
          c.dtype(), q.raw(), i64(kv.keys), i64(kv.values), i64(kv.n_keys), kv.max_keys, dims,
          need > 0 ? workspace.data<float>() : nullptr, out.data<void>());
      return;
#else
      break;
#endif
    }
  }
  c.unsupported_device();
}

void embed_rows(const Tensor& table, const Tensor& pos_table, const Tensor& ids_pos, Tensor& out) {
  detail::OpCheck c("embed_rows");
  c.tensor("table", table, 2).tensor("pos_table", pos_table, 2).tensor("out", out, 2);
  const int64_t rows = out.dim(0), d = out.dim(1);
  c.require(table.dim(1) == d && pos_table.dim(1) == d,
            "table {}, pos_table {} and out {} disagree on D", shape_str(table.shape()),
            shape_str(pos_table.shape()), shape_str(out.shape()));
  index_tensor(c, "ids_pos", ids_pos, 2 * rows);
  c.disjoint("out", out, "table", table);
  switch (c.device()) {
    case Device::kCpu: {
      c.kernel_dtype(DType::kF32);
      std::vector<int> ids(static_cast<size_t>(rows)), pos(static_cast<size_t>(rows));
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t id = i64(ids_pos)[2 * r], p = i64(ids_pos)[2 * r + 1];
        HARK_CHECK(id >= 0 && id < table.dim(0), ErrorKind::kInvalidArgument,
                   "token {} outside the vocabulary of {}", id, table.dim(0));
        HARK_CHECK(p >= 0 && p < pos_table.dim(0), ErrorKind::kInvalidArgument,
                   "position {} outside the text context of {}", p, pos_table.dim(0));
        ids[size_t(r)] = int(id);
        pos[size_t(r)] = int(p);
      }
      backends::cpu::embed_rows(table.data<float>(), pos_table.data<float>(), ids.data(),
                                pos.data(), rows, d, out.data<float>());
      return;
    }
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::embed_rows_indexed(c.dtype(), table.raw(), pos_table.raw(), i64(ids_pos),
                                         rows, d, out.data<void>());
      return;
#else
      break;
#endif
  }
  c.unsupported_device();
}

void scatter_rows(const Tensor& src, const Tensor& dst, const Tensor& positions) {
  detail::OpCheck c("scatter_rows");
  c.tensor("src", src, 2);
  const int64_t rows = src.dim(0), d = src.dim(1);
  index_tensor(c, "dst", dst, rows);
  index_tensor(c, "positions", positions, rows);
  switch (c.device()) {
    case Device::kCpu:
      c.kernel_dtype(DType::kF32);
      for (int64_t r = 0; r < rows; ++r) {
        c.require(i64(positions)[r] >= 0, "row {}: position {} < 0", r, i64(positions)[r]);
        std::memcpy(at_address<float>(i64(dst)[r]) + i64(positions)[r] * d,
                    src.data<float>() + r * d, size_t(d) * sizeof(float));
      }
      return;
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::scatter_rows_indexed(c.dtype(), src.raw(), i64(dst), i64(positions), rows, d);
      return;
#else
      break;
#endif
  }
  c.unsupported_device();
}

void scatter_kv_rows(const Tensor& kv, int64_t d, const Tensor& k_dst, const Tensor& v_dst,
                     const Tensor& positions) {
  detail::OpCheck c("scatter_kv_rows");
  c.tensor("kv", kv, 2);
  const int64_t rows = kv.dim(0), ld = kv.dim(1);
  c.require(d >= 1 && 2 * d <= ld, "kv {} has no K and V blocks of width {}", shape_str(kv.shape()),
            d);
  index_tensor(c, "k_dst", k_dst, rows);
  index_tensor(c, "v_dst", v_dst, rows);
  index_tensor(c, "positions", positions, rows);
  switch (c.device()) {
    case Device::kCpu:
      c.kernel_dtype(DType::kF32);
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t p = i64(positions)[r];
        c.require(p >= 0, "row {}: position {} < 0", r, p);
        const float* src = kv.data<float>() + r * ld + (ld - 2 * d);
        std::memcpy(at_address<float>(i64(k_dst)[r]) + p * d, src, size_t(d) * sizeof(float));
        std::memcpy(at_address<float>(i64(v_dst)[r]) + p * d, src + d, size_t(d) * sizeof(float));
      }
      return;
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::scatter_kv_rows_indexed(c.dtype(), kv.raw(), ld, i64(k_dst), i64(v_dst),
                                              i64(positions), rows, d);
      return;
#else
      break;
#endif
  }
  c.unsupported_device();
}

void gather_rows(const Tensor& x, const Tensor& index, Tensor& out) {
  detail::OpCheck c("gather_rows");
  c.tensor("x", x, 2).tensor("out", out, 2);
  const int64_t rows = out.dim(0), d = out.dim(1);
  c.require(x.dim(1) == d, "x {} and out {} disagree on D", shape_str(x.shape()),
            shape_str(out.shape()));
  index_tensor(c, "index", index, rows);
  c.disjoint("out", out, "x", x);
  switch (c.device()) {
    case Device::kCpu:
      c.kernel_dtype(DType::kF32);
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t i = i64(index)[r];
        c.require(i >= 0 && i < x.dim(0), "row {}: index {} outside x {}", r, i,
                  shape_str(x.shape()));
        std::memcpy(out.data<float>() + r * d, x.data<float>() + i * d, size_t(d) * sizeof(float));
      }
      return;
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::gather_rows(c.dtype(), x.raw(), i64(index), rows, d, out.data<void>());
      return;
#else
      break;
#endif
  }
  c.unsupported_device();
}

void copy_from_host(std::span<const int64_t> host, Tensor& dst) {
  HARK_CHECK(dst.dtype() == DType::kI64 && dst.numel() == int64_t(host.size()),
             ErrorKind::kInternal, "copy_from_host: {} values into {} {}", host.size(),
             dtype_name(dst.dtype()), shape_str(dst.shape()));
  if (host.empty()) return;
  switch (dst.device()) {
    case Device::kCpu: std::memcpy(dst.data<int64_t>(), host.data(), host.size_bytes()); return;
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::upload_async(dst.data<void>(), host.data(), host.size_bytes());
      return;
#else
      break;
#endif
  }
  throw Error(ErrorKind::kUnsupported, "copy_from_host: no CUDA in this build");
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

void argmax_rows(const Tensor& x, int exclude, Tensor& out) {
  detail::OpCheck c("argmax_rows");
  c.tensor("x", x, 2);
  c.require(x.dim(1) >= 1, "x {} has no columns", shape_str(x.shape()));
  c.require(out.defined() && out.dtype() == DType::kI32 && out.device() == x.device() &&
                out.ndim() == 1 && out.dim(0) == x.dim(0),
            "out should be I32 [{}] on x's device, got {} {}", x.dim(0), dtype_name(out.dtype()),
            shape_str(out.shape()));
  switch (c.device()) {
    case Device::kCpu:
      c.kernel_dtype(DType::kF32);
      backends::cpu::argmax_rows(x.data<float>(), x.dim(0), x.dim(1), exclude, out.data<int>());
      return;
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::argmax_rows_device(c.dtype(), x.raw(), x.dim(0), x.dim(1), exclude,
                                         out.data<int>());
      return;
#else
      break;
#endif
  }
  c.unsupported_device();
}

void set_token_ids(const Tensor& ids, int64_t vocab, Tensor& ids_pos) {
  detail::OpCheck c("set_token_ids");
  const int64_t rows = ids.numel();
  c.require(ids.defined() && ids.dtype() == DType::kI32 && ids.ndim() == 1,
            "ids should be I32 [R], got {} {}", dtype_name(ids.dtype()), shape_str(ids.shape()));
  c.require(ids_pos.defined() && ids_pos.dtype() == DType::kI64 &&
                ids_pos.device() == ids.device() && ids_pos.numel() == 2 * rows,
            "ids_pos should be I64 [{}, 2] on the device of ids, got {} {}", rows,
            dtype_name(ids_pos.dtype()), shape_str(ids_pos.shape()));
  c.require(vocab >= 1, "vocabulary of {}", vocab);
  switch (ids.device()) {
    case Device::kCpu: {
      const int* in = ids.data<int>();
      int64_t* pairs = ids_pos.data<int64_t>();
      for (int64_t r = 0; r < rows; ++r) pairs[2 * r] = in[r] >= 0 && in[r] < vocab ? in[r] : 0;
      return;
    }
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::set_token_ids(ids.data<int>(), rows, vocab, ids_pos.data<int64_t>());
      return;
#else
      break;
#endif
  }
  c.unsupported_device();
}

void fused_linear(const Tensor& x, const Tensor* gamma, const Tensor* beta, float eps,
                  const LinearWeight& w, const Tensor* bias, Tensor& y, RowsOut out,
                  const RowsKvScatter* kv) {
  detail::OpCheck c("fused_linear");
  c.tensor("x", x, 2).tensor("y", y, 2);
  const Tensor& wt = w.w;
  const bool int8 = w.quantized();
  c.require(wt.defined() && wt.ndim() == 2 && wt.device() == c.device() &&
                (int8 || wt.dtype() == x.dtype()),
            "w should be a 2-D tensor of x's dtype or I8 on x's device, got {} {}",
            dtype_name(wt.dtype()), shape_str(wt.shape()));
  const int64_t m = x.dim(0), k = x.dim(1), n = wt.dim(0);
  c.require(wt.dim(1) == k, "x {} and w {} disagree on K", shape_str(x.shape()),
            shape_str(wt.shape()));
  if (int8)
    c.require(w.scale.defined() && w.scale.device() == c.device() &&
                  w.scale.dtype() == DType::kF32 && w.scale.shape() == Shape{n},
              "the int8 weight {} needs F32 scales [{}] on x's device", shape_str(wt.shape()), n);
  c.require(y.shape() == (Shape{m, n}), "y {} should be [{}, {}]", shape_str(y.shape()), m, n);
  c.require((gamma == nullptr) == (beta == nullptr), "the norm needs both gamma and beta");
  if (gamma) {
    c.tensor("gamma", *gamma, 1).tensor("beta", *beta, 1);
    c.require(gamma->dim(0) == k && beta->dim(0) == k && k >= 1,
              "gamma {} and beta {} should be [{}] for x {}", shape_str(gamma->shape()),
              shape_str(beta->shape()), k, shape_str(x.shape()));
    c.require(eps >= 0.0f, "eps {} is negative", eps);
    c.disjoint("y", y, "gamma", *gamma);
    c.disjoint("y", y, "beta", *beta);
  }
  if (bias) {
    c.tensor("bias", *bias, 1);
    c.require(bias->dim(0) == n, "bias {} does not match w {}", shape_str(bias->shape()),
              shape_str(wt.shape()));
    c.disjoint("y", y, "bias", *bias);
  }
  c.disjoint("y", y, "x", x);
  c.disjoint("y", y, "w", wt);
  if (kv) {
    c.require(out == RowsOut::kStore, "the K/V scatter goes with a plain store");
    c.require(kv->d >= 1 && 2 * kv->d <= n, "y {} has no K and V blocks of width {}",
              shape_str(y.shape()), kv->d);
    index_tensor(c, "k_dst", *kv->k_dst, m);
    index_tensor(c, "v_dst", *kv->v_dst, m);
    index_tensor(c, "positions", *kv->positions, m);
  }
  c.blas_sizes({m, n, k});
  if (ops::profiling())
    c.profile_key(fmt::format("fused_linear{} n={} k={}", int8 ? "_int8" : "", n, k));
  switch (c.device()) {
    case Device::kCpu: {
      // The same arithmetic from the CPU's kernels: norm, linear, then the epilogue.
      c.kernel_dtype(DType::kF32);
      std::vector<float> h, t;
      const float* in = x.data<float>();
      if (gamma) {
        h.resize(size_t(m * k));
        backends::cpu::layer_norm(in, gamma->data<float>(), beta->data<float>(), eps, h.data(), m,
                                  k);
        in = h.data();
      }
      // The product goes straight into y, except for kAdd (into a temporary, then added).
      float* yp = y.data<float>();
      if (out == RowsOut::kAdd) t.resize(size_t(m * n));
      float* dst = out == RowsOut::kAdd ? t.data() : yp;
      const float* b = bias ? bias->data<float>() : nullptr;
      const float* gemm_bias = out == RowsOut::kGelu ? nullptr : b;
      if (int8)
        backends::cpu::linear_int8(in, wt.data<int8_t>(), w.scale.data<float>(), gemm_bias, dst, m,
                                   n, k);
      else
        backends::cpu::linear(in, wt.data<float>(), gemm_bias, dst, m, n, k);
      if (out == RowsOut::kGelu) {
        if (b)
          backends::cpu::bias_gelu(yp, b, m, n);
        else
          backends::cpu::gelu(yp, m * n);
      } else if (out == RowsOut::kAdd) {
        backends::cpu::add(yp, t.data(), m * n);
      }
      if (kv) scatter_kv_rows(y, kv->d, *kv->k_dst, *kv->v_dst, *kv->positions);
      return;
    }
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
    {
      backends::cuda::RowsFusion f;
      if (gamma) {
        f.gamma = gamma->raw();
        f.beta = beta->raw();
        f.eps = eps;
      }
      f.out = out == RowsOut::kGelu  ? backends::cuda::kRowsGelu
              : out == RowsOut::kAdd ? backends::cuda::kRowsAdd
                                     : backends::cuda::kRowsStore;
      if (kv) {
        f.k_addr = i64(*kv->k_dst);
        f.v_addr = i64(*kv->v_dst);
        f.positions = i64(*kv->positions);
        f.kv_d = kv->d;
      }
      backends::cuda::linear_fused(c.dtype(), x.raw(), wt.raw(),
                                   int8 ? w.scale.data<float>() : nullptr,
                                   bias ? bias->raw() : nullptr, y.data<void>(), m, n, k, f);
      return;
    }
#else
      break;
#endif
  }
  c.unsupported_device();
}

}  // namespace hark::ops
