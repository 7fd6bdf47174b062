#include "model/whisper_model.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/error.h"
#include "model/decode_graphs.h"
#include "ops/ops.h"

namespace hark::model {
namespace {

Tensor f32(const Checkpoint& c, const std::string& name) {
  const Tensor& t = c.get(name);
  return t.dtype() == DType::kF32 ? t : t.to_f32();
}

// An fp32 CPU copy of a tensor on any device in any float dtype (the tensor itself when it is one).
Tensor host_f32(const Tensor& t) {
  const Tensor h = t.to(Device::kCpu);
  return h.dtype() == DType::kF32 ? h : h.to_f32();
}

void layer_norm(const Tensor& x, const LayerNormWeights& w, float eps, Tensor& y) {
  ops::layer_norm(x, w.gamma, w.beta, eps, y);
}

// x += h; y = w(x), one fused op.
// x += h + bias; y = w(x), one fused op (bias: of the linear layer that made h).
void add_layer_norm(Tensor& x, const Tensor& h, const Tensor& bias, const LayerNormWeights& w,
                    float eps, Tensor& y) {
  ops::add_layer_norm(x, h, w.gamma, w.beta, eps, y, &bias);
}

// fp32 host tensors stacked along their first dimension (all [*, ...rest] alike); an entry of
// rank 0 (Tensor()) stands for zero_rows[i] rows of zeros (the bias k does not have).
Tensor concat_rows(const std::vector<Tensor>& parts, const std::vector<int64_t>& zero_rows) {
  int64_t rows = 0, row_elems = 1;
  Shape rest;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].ndim() == 0) {
      rows += zero_rows[i];
      continue;
    }
    rows += parts[i].dim(0);
    rest.assign(parts[i].shape().begin() + 1, parts[i].shape().end());
  }
  for (const int64_t r : rest) row_elems *= r;
  Shape shape{rows};
  shape.insert(shape.end(), rest.begin(), rest.end());
  Tensor out = Tensor::zeros(DType::kF32, shape);
  float* dst = out.data<float>();
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].ndim() == 0) {
      dst += zero_rows[i] * row_elems;
      continue;
    }
    const Tensor h = host_f32(parts[i]);
    std::memcpy(dst, h.data<float>(), size_t(h.numel()) * sizeof(float));
    dst += h.numel();
  }
  return out;
}

void check_placement(const ModelPlacement& p) {
  if (p.device == Device::kCpu) {
    HARK_CHECK(p.dtype == DType::kF32, ErrorKind::kUnsupported,
               "the CPU model runs in F32 (with F32 or int8 weights), not {}", dtype_name(p.dtype));
    return;
  }
  HARK_CHECK(p.dtype == DType::kF32 || p.dtype == DType::kF16 || p.dtype == DType::kBF16,
             ErrorKind::kUnsupported, "the CUDA model runs in F32, F16 or BF16, not {}",
             dtype_name(p.dtype));
}

}  // namespace

namespace {
// A conv weight [C_out, C_in, K] (fp32, host) as the tap-major GEMM weight [C_out, K * C_in] of
// ops::conv1d_patches' columns.
Tensor tap_major(const Tensor& w) {
  const int64_t co = w.dim(0), ci = w.dim(1), k = w.dim(2);
  Tensor out = Tensor::zeros(DType::kF32, {co, k * ci});
  for (int64_t o = 0; o < co; ++o)
    for (int64_t c = 0; c < ci; ++c)
      for (int64_t j = 0; j < k; ++j)
        out.data<float>()[(o * k + j) * ci + c] = w.data<float>()[(o * ci + c) * k + j];
  return out;
}
}  // namespace

Tensor WhisperModel::place(const Tensor& t) const {
  if (t.device() == place_.device && t.dtype() == place_.dtype) return t;
  Tensor h = t.to(Device::kCpu);
  if (h.dtype() != place_.dtype) h = h.to_dtype(place_.dtype);
  return h.to(place_.device);
}

Tensor WhisperModel::load(const Checkpoint& c, const std::string& name) const {
  return place(f32(c, name));
}

LayerNormWeights WhisperModel::load_ln(const Checkpoint& c, const std::string& prefix) const {
  return {load(c, prefix + ".weight"), load(c, prefix + ".bias")};
}

// Quantised on the host from the fp32 weight; only the int8 values and scales reach the device
// (the fp32 temporary is freed on return).
ops::LinearWeight WhisperModel::load_linear(const Checkpoint& c, const std::string& name) const {
  return place_linear(f32(c, name));
}

ops::LinearWeight WhisperModel::place_linear(const Tensor& w) const {
  if (!place_.int8_weights) return {place(w), {}};
  const ops::LinearWeight q = ops::quantize_int8(w);
  return {q.w.to(place_.device), q.scale.to(place_.device)};
}

// Quantisation is per output row, so quantising the concatenation gives exactly the
// concatenation of the separately quantised weights and scales. The fp32 concatenation is a host
// temporary; only the placed copy stays.
SelfAttentionWeights WhisperModel::load_self_attn(const Checkpoint& c, const std::string& p) const {
  SelfAttentionWeights a;
  const Tensor q = f32(c, p + ".q_proj.weight");
  a.qkv_w = place_linear(
      concat_rows({q, f32(c, p + ".k_proj.weight"), f32(c, p + ".v_proj.weight")}, {0, 0, 0}));
  a.qkv_b = place(concat_rows({f32(c, p + ".q_proj.bias"), Tensor(), f32(c, p + ".v_proj.bias")},
                              {0, q.dim(0), 0}));
  a.o_w = load_linear(c, p + ".out_proj.weight");
  a.o_b = load(c, p + ".out_proj.bias");
  return a;
}

CrossAttentionWeights WhisperModel::load_cross_attn(const Checkpoint& c,
                                                    const std::string& p) const {
  CrossAttentionWeights a;
  a.q_w = load_linear(c, p + ".q_proj.weight");
  a.q_b = load(c, p + ".q_proj.bias");
  const Tensor k = f32(c, p + ".k_proj.weight");
  a.kv_w = place_linear(concat_rows({k, f32(c, p + ".v_proj.weight")}, {0, 0}));
  a.kv_b = place(concat_rows({Tensor(), f32(c, p + ".v_proj.bias")}, {k.dim(0), 0}));
  a.o_w = load_linear(c, p + ".out_proj.weight");
  a.o_b = load(c, p + ".out_proj.bias");
  return a;
}

MlpWeights WhisperModel::load_mlp(const Checkpoint& c, const std::string& p) const {
  return {load_ln(c, p + ".final_layer_norm"), load_linear(c, p + ".fc1.weight"),
          load(c, p + ".fc1.bias"), load_linear(c, p + ".fc2.weight"), load(c, p + ".fc2.bias")};
}

Tensor WhisperModel::alloc(int64_t rows, int64_t cols) const {
  return Tensor::empty_on(place_.device, place_.dtype, {rows, cols});
}

// x += fc2(gelu(fc1(h))), h = w.ln(x); then y = next_ln(x).
void WhisperModel::mlp_block(const MlpWeights& w, Tensor& x, const Tensor& h, Tensor& o,
                             const LayerNormWeights* next_ln, Tensor& y) const {
  Tensor f = alloc(x.dim(0), w.fc1_w.dim(0));
  ops::linear_gelu(h, w.fc1_w, &w.fc1_b, f);
  if (next_ln) {
    ops::linear(f, w.fc2_w, nullptr, o);
    add_layer_norm(x, o, w.fc2_b, *next_ln, cfg_.layer_norm_eps, y);
  } else {
    ops::linear(f, w.fc2_w, &w.fc2_b, o);
    ops::add_(x, o);
  }
}

WhisperModel::WhisperModel(const Checkpoint& c, ModelPlacement placement)
    : cfg_(c.config), place_(placement) {
  check_placement(place_);
  if (place_.device == Device::kCuda) {
    conv1_wt_ = place(tap_major(f32(c, "encoder.conv1.weight")));
    conv2_wt_ = place(tap_major(f32(c, "encoder.conv2.weight")));
  } else {
    conv1_w_ = load(c, "encoder.conv1.weight");
    conv2_w_ = load(c, "encoder.conv2.weight");
  }
  conv1_b_ = load(c, "encoder.conv1.bias");
  conv2_b_ = load(c, "encoder.conv2.bias");
  enc_pos_ = load(c, "encoder.embed_positions.weight");
  for (int i = 0; i < cfg_.n_audio_layer; ++i) {
    const std::string p = "encoder.layers." + std::to_string(i);
    EncoderLayer l;
    l.attn_ln = load_ln(c, p + ".self_attn_layer_norm");
    l.attn = load_self_attn(c, p + ".self_attn");
    l.mlp = load_mlp(c, p);
    enc_layers_.push_back(std::move(l));
  }
  enc_ln_ = load_ln(c, "encoder.layer_norm");
  tok_emb_ = load(c, "decoder.embed_tokens.weight");
  dec_pos_ = load(c, "decoder.embed_positions.weight");
  for (int i = 0; i < cfg_.n_text_layer; ++i) {
    const std::string p = "decoder.layers." + std::to_string(i);
    DecoderLayer l;
    l.self_ln = load_ln(c, p + ".self_attn_layer_norm");
    l.self_attn = load_self_attn(c, p + ".self_attn");
    l.cross_ln = load_ln(c, p + ".encoder_attn_layer_norm");
    l.cross_attn = load_cross_attn(c, p + ".encoder_attn");
    l.mlp = load_mlp(c, p);
    dec_layers_.push_back(std::move(l));
  }
  dec_ln_ = load_ln(c, "decoder.layer_norm");
  const bool on_host = place_.device == Device::kCpu;
  tok_emb_host_ = on_host ? tok_emb_ : f32(c, "decoder.embed_tokens.weight");
  dec_pos_host_ = on_host ? dec_pos_ : f32(c, "decoder.embed_positions.weight");
  graphs_ = std::make_shared<DecodeGraphs>(place_.device, DecodeGraphOptions{});
}

Tensor WhisperModel::encode(const Tensor& mel) const {
  const int64_t n_frames = 2 * int64_t(cfg_.n_audio_ctx);
  HARK_CHECK(mel.ndim() == 2 && mel.dim(0) == cfg_.n_mels && mel.dim(1) == n_frames,
             ErrorKind::kInvalidArgument, "encode: mel has shape {}, the model needs [{},{}]",
             shape_str(mel.shape()), cfg_.n_mels, n_frames);
  return encode_batch(mel.reshape({1, cfg_.n_mels, n_frames}))
      .reshape({cfg_.n_audio_ctx, cfg_.n_audio_state});
}

// conv1 + GELU + conv2 (stride 2) + GELU of one window's mel, transposed into x_rows
// [n_audio_ctx, d].
void WhisperModel::encoder_stem(const Tensor& mel, Tensor& x_rows) const {
  const int64_t d = cfg_.n_audio_state, n_frames = 2 * int64_t(cfg_.n_audio_ctx);
  Tensor c1 = alloc(d, n_frames);
  ops::conv1d(place(mel), conv1_w_, conv1_b_, 1, 1, c1);
  ops::gelu_(c1);
  Tensor c2 = alloc(d, cfg_.n_audio_ctx);
  ops::conv1d(c1, conv2_w_, conv2_b_, 2, 1, c2);
  ops::gelu_(c2);
  ops::transpose(c2, x_rows);
}

namespace {
// y = gelu(x w^T + b) with the bias in the GEMM's epilogue and the exact (erf) GELU after: with
// cuBLASLt's tanh GELU epilogue instead, the bf16 model test's cross-attention weights moved
// past their tolerance (0.067 against 0.06) for no measurable speed (5,029 against 5,042 RTFx,
// turbo, 256 windows, one call).
void stem_linear(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) {
  ops::linear(x, w, &b, y);
  ops::gelu_(y);
}
}  // namespace

void WhisperModel::encoder_stem_batch(const Tensor& mels, Tensor& x_rows) const {
  const int64_t b = mels.dim(0), d = cfg_.n_audio_state, n_frames = 2 * int64_t(cfg_.n_audio_ctx);
  const int64_t k1 = conv1_wt_.dim(1) / cfg_.n_mels, k2 = conv2_wt_.dim(1) / d;
  Tensor p1 = alloc(b * n_frames, cfg_.n_mels * k1);
  ops::conv1d_patches(place(mels), true, int(k1), 1, 1, p1);
  Tensor c1 = alloc(b * n_frames, d);
  stem_linear(p1, conv1_wt_, conv1_b_, c1);
  p1 = Tensor();
  Tensor p2 = alloc(b * cfg_.n_audio_ctx, d * k2);
  ops::conv1d_patches(c1.reshape({b, n_frames, d}), false, int(k2), 2, 1, p2);
  c1 = Tensor();
  stem_linear(p2, conv2_wt_, conv2_b_, x_rows);
}

Tensor WhisperModel::encode_batch(const Tensor& mels) const {
  const int64_t n_frames = 2 * int64_t(cfg_.n_audio_ctx), n_ctx = cfg_.n_audio_ctx;
  HARK_CHECK(
      mels.ndim() == 3 && mels.dim(0) >= 1 && mels.dim(1) == cfg_.n_mels && mels.dim(2) == n_frames,
      ErrorKind::kInvalidArgument, "encode_batch: mels have shape {}, the model needs [B,{},{}]",
      shape_str(mels.shape()), cfg_.n_mels, n_frames);
  const int64_t batch = mels.dim(0), d = cfg_.n_audio_state;
  Tensor x = alloc(batch * n_ctx, d);
  if (place_.device == Device::kCuda) {
    // Up to 32 windows at a time (a few hundred MB of patches): both convolutions as GEMMs over
    // all their rows with the bias in the epilogue, written time-major, conv2 straight into x. (Per
    // window, conv + bias + GELU kernels + transpose took ~0.1 ms of large-v3's encoder per
    // window.)
    constexpr int64_t kStemWindows = 32;
    for (int64_t b0 = 0; b0 < batch; b0 += kStemWindows) {
      const int64_t b1 = std::min(batch, b0 + kStemWindows);
      Tensor rows = x.slice_rows(b0 * n_ctx, b1 * n_ctx);
      encoder_stem_batch(mels.slice_rows(b0, b1), rows);
    }
  } else {
    for (int64_t b = 0; b < batch; ++b) {
      Tensor rows = x.slice_rows(b * n_ctx, (b + 1) * n_ctx);
      encoder_stem(mels.slice_rows(b, b + 1).reshape({cfg_.n_mels, n_frames}), rows);
    }
  }
  Tensor per_window = x.reshape({batch, n_ctx * d});
  ops::add_rows_(per_window, enc_pos_.slice_rows(0, n_ctx).reshape({n_ctx * d}));
  if (enc_layers_.empty()) {
    layer_norm(x, enc_ln_, cfg_.layer_norm_eps, x);
    return x.reshape({batch, n_ctx, d});
  }
  // Each residual add runs fused with the layer norm after it (the next layer's first, or the
  // final one, in place in x).
  Tensor h = alloc(batch * n_ctx, d);
  layer_norm(x, enc_layers_[0].attn_ln, cfg_.layer_norm_eps, h);
  for (size_t i = 0; i < enc_layers_.size(); ++i) {
    const bool last = i + 1 == enc_layers_.size();
    encoder_layer(enc_layers_[i], batch, x, h, last ? enc_ln_ : enc_layers_[i + 1].attn_ln,
                  last ? x : h);
  }
  return x.reshape({batch, n_ctx, d});
}

void WhisperModel::encoder_layer(const EncoderLayer& l, int64_t batch, Tensor& x, Tensor& h,
                                 const LayerNormWeights& next_ln, Tensor& y) const {
  const int64_t n = x.dim(0), d = x.dim(1), t = n / batch;
  Tensor a = alloc(n, d);
  {
    Tensor qkv = alloc(n, 3 * d);
    ops::linear(h, l.attn.qkv_w, &l.attn.qkv_b, qkv);
    Tensor a3 = a.reshape({batch, t, d});
    ops::attention_batched_qkv(qkv.reshape({batch, t, 3 * d}), cfg_.n_audio_head, a3);
  }
  Tensor o = alloc(n, d);
  ops::linear(a, l.attn.o_w, nullptr, o);
  add_layer_norm(x, o, l.attn.o_b, l.mlp.ln, cfg_.layer_norm_eps, h);
  a = Tensor();
  mlp_block(l.mlp, x, h, o, &next_ln, y);
}

DecoderState WhisperModel::begin_window(const Tensor& encoder_out) const {
  const Tensor enc = place(encoder_out);
  HARK_CHECK(enc.ndim() == 2 && enc.dim(1) == cfg_.n_text_state, ErrorKind::kInvalidArgument,
             "begin_window: encoder output {} does not match d_model {}", shape_str(enc.shape()),
             cfg_.n_text_state);
  DecoderState st;
  const int64_t d = cfg_.n_text_state;
  const int64_t t = enc.dim(0), n_head = cfg_.n_text_head;
  // Int8 cross K/V: the scales are [n_head, n_audio_ctx] head-major whatever the window's length,
  // so their row stride is a model constant (the batched step's KvTable::scale_ld, the same in
  // every replay of a recorded graph); columns past t (a shorter window) are zero, never read.
  const int64_t scale_ld = cfg_.n_audio_ctx;
  HARK_CHECK(!place_.int8_cross_kv || t <= scale_ld, ErrorKind::kInvalidArgument,
             "begin_window: encoder output of {} positions exceeds n_audio_ctx {} (int8 cross K/V)",
             t, scale_ld);
  Tensor kv = alloc(t, 2 * d);
  for (const DecoderLayer& l : dec_layers_) {
    ops::linear(enc, l.cross_attn.kv_w, &l.cross_attn.kv_b, kv);
    if (place_.int8_cross_kv) {
      Tensor k = Tensor::empty_on(place_.device, DType::kI8, {t, d});
      Tensor v = Tensor::empty_on(place_.device, DType::kI8, {t, d});
      const Shape s_shape{n_head, scale_ld};
      Tensor ks = t == scale_ld ? Tensor::empty_on(place_.device, DType::kF32, s_shape)
                                : Tensor::zeros_on(place_.device, DType::kF32, s_shape);
      Tensor vs = t == scale_ld ? Tensor::empty_on(place_.device, DType::kF32, s_shape)
                                : Tensor::zeros_on(place_.device, DType::kF32, s_shape);
      ops::quantize_kv_int8(kv, int(n_head), k, ks, v, vs);
      st.cross_k.push_back(std::move(k));
      st.cross_v.push_back(std::move(v));
      st.cross_k_scale.push_back(std::move(ks));
      st.cross_v_scale.push_back(std::move(vs));
    } else {
      Tensor k = alloc(t, d), v = alloc(t, d);
      ops::copy_columns(kv, 0, k);
      ops::copy_columns(kv, d, v);
      st.cross_k.push_back(std::move(k));
      st.cross_v.push_back(std::move(v));
    }
    st.self_k.push_back(Tensor::zeros_on(place_.device, place_.dtype, {cfg_.n_text_ctx, d}));
    st.self_v.push_back(Tensor::zeros_on(place_.device, place_.dtype, {cfg_.n_text_ctx, d}));
  }
  return st;
}

Tensor WhisperModel::decode(DecoderState& st, std::span<const int> tokens, bool all_logits) const {
  const int64_t n = int64_t(tokens.size());
  const int64_t d = cfg_.n_text_state;
  HARK_CHECK(n > 0, ErrorKind::kInvalidArgument, "decode: no tokens");
  HARK_CHECK(st.n_past + n <= cfg_.n_text_ctx, ErrorKind::kInvalidArgument,
             "decode: {} tokens after {} exceed the text context of {}", n, st.n_past,
             cfg_.n_text_ctx);
  HARK_CHECK(int(st.self_k.size()) == cfg_.n_text_layer, ErrorKind::kInvalidArgument,
             "decode: state was not made by begin_window");
  Tensor x_host = Tensor::zeros(DType::kF32, {n, d});
  for (int64_t i = 0; i < n; ++i) {
    const int tok = tokens[size_t(i)];
    HARK_CHECK(tok >= 0 && tok < cfg_.n_vocab, ErrorKind::kInvalidArgument,
               "decode: token {} outside the vocabulary of {}", tok, cfg_.n_vocab);
    const float* e = tok_emb_host_.data<float>() + int64_t(tok) * d;
    const float* p = dec_pos_host_.data<float>() + (st.n_past + i) * d;
    float* out = x_host.data<float>() + i * d;
    for (int64_t j = 0; j < d; ++j) out[j] = e[j] + p[j];
  }
  Tensor x = place(x_host);
  if (st.cross_attention_out) st.cross_attention_out->clear();
  // Each residual add runs fused with the layer norm after it; the last one with the final norm
  // (over all n rows: a norm is per row, so the last row's is the same).
  Tensor h = alloc(n, d);
  if (dec_layers_.empty()) {
    layer_norm(x, dec_ln_, cfg_.layer_norm_eps, h);
  } else {
    layer_norm(x, dec_layers_[0].self_ln, cfg_.layer_norm_eps, h);
    for (size_t i = 0; i < dec_layers_.size(); ++i) {
      const bool last = i + 1 == dec_layers_.size();
      decoder_layer(dec_layers_[i], int(i), st, x, h, last ? dec_ln_ : dec_layers_[i + 1].self_ln);
    }
  }
  st.n_past += int(n);

  const Tensor hl = all_logits ? h : h.slice_rows(n - 1, n);
  Tensor logits = alloc(hl.dim(0), cfg_.n_vocab);
  ops::matmul_nt(hl, tok_emb_, logits);
  return host_f32(logits);
}

void WhisperModel::decoder_layer(const DecoderLayer& l, int index, DecoderState& st, Tensor& x,
                                 Tensor& h, const LayerNormWeights& next_ln) const {
  const int64_t n = x.dim(0), d = x.dim(1);
  const int64_t past = st.n_past;
  const float eps = cfg_.layer_norm_eps;
  // Self-attention over the cache plus the new positions: one GEMM for q | k | v, the new K/V
  // rows copied into the cache, q read in place.
  Tensor a = alloc(n, d), o = alloc(n, d);
  {
    Tensor qkv = alloc(n, 3 * d);
    ops::linear(h, l.self_attn.qkv_w, &l.self_attn.qkv_b, qkv);
    Tensor k_new = st.self_k[size_t(index)].slice_rows(past, past + n);
    Tensor v_new = st.self_v[size_t(index)].slice_rows(past, past + n);
    ops::copy_columns(qkv, d, k_new);
    ops::copy_columns(qkv, 2 * d, v_new);
    ops::attention(qkv, st.self_k[size_t(index)].slice_rows(0, past + n),
                   st.self_v[size_t(index)].slice_rows(0, past + n), cfg_.n_text_head, past, a);
  }
  ops::linear(a, l.self_attn.o_w, nullptr, o);
  add_layer_norm(x, o, l.self_attn.o_b, l.cross_ln, eps, h);
  // Cross-attention over the window's encoder output.
  Tensor q = alloc(n, d);
  ops::linear(h, l.cross_attn.q_w, &l.cross_attn.q_b, q);
  Tensor weights;
  if (st.cross_attention_out) {
    weights = Tensor::empty_on(place_.device, place_.dtype,
                               {cfg_.n_text_head, n, st.cross_k[size_t(index)].dim(0)});
  }
  const Tensor* ck = &st.cross_k[size_t(index)];
  const Tensor* cv = &st.cross_v[size_t(index)];
  Tensor ck_f, cv_f;  // int8 cross K/V: float copies for this call (ops::attention reads floats)
  if (ck->dtype() == DType::kI8) {
    ck_f = alloc(ck->dim(0), d);
    cv_f = alloc(cv->dim(0), d);
    ops::dequantize_kv_int8(*ck, st.cross_k_scale.at(size_t(index)), cfg_.n_text_head, ck_f);
    ops::dequantize_kv_int8(*cv, st.cross_v_scale.at(size_t(index)), cfg_.n_text_head, cv_f);
    ck = &ck_f;
    cv = &cv_f;
  }
  ops::attention(q, *ck, *cv, cfg_.n_text_head, -1, a, st.cross_attention_out ? &weights : nullptr);
  if (st.cross_attention_out) st.cross_attention_out->push_back(host_f32(weights));
  ops::linear(a, l.cross_attn.o_w, nullptr, o);
  add_layer_norm(x, o, l.cross_attn.o_b, l.mlp.ln, eps, h);
  mlp_block(l.mlp, x, h, o, &next_ln, h);
}

size_t WhisperModel::weight_bytes() const {
  const auto ln = [](const LayerNormWeights& w) { return w.gamma.nbytes() + w.beta.nbytes(); };
  const auto attn = [](const SelfAttentionWeights& a) {
    return a.qkv_w.nbytes() + a.o_w.nbytes() + a.qkv_b.nbytes() + a.o_b.nbytes();
  };
  const auto cross = [](const CrossAttentionWeights& a) {
    return a.q_w.nbytes() + a.kv_w.nbytes() + a.o_w.nbytes() + a.q_b.nbytes() + a.kv_b.nbytes() +
           a.o_b.nbytes();
  };
  const auto mlp = [&](const MlpWeights& m) {
    return ln(m.ln) + m.fc1_w.nbytes() + m.fc1_b.nbytes() + m.fc2_w.nbytes() + m.fc2_b.nbytes();
  };
  size_t n = conv1_w_.nbytes() + conv1_b_.nbytes() + conv2_w_.nbytes() + conv2_b_.nbytes() +
             conv1_wt_.nbytes() + conv2_wt_.nbytes() + enc_pos_.nbytes() + ln(enc_ln_) +
             tok_emb_.nbytes() + dec_pos_.nbytes() + ln(dec_ln_);
  for (const EncoderLayer& l : enc_layers_) n += ln(l.attn_ln) + attn(l.attn) + mlp(l.mlp);
  for (const DecoderLayer& l : dec_layers_)
    n += ln(l.self_ln) + attn(l.self_attn) + ln(l.cross_ln) + cross(l.cross_attn) + mlp(l.mlp);
  return n;
}

}  // namespace hark::model
