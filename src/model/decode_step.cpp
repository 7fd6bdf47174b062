// WhisperModel::decode_batch: the host side of a batched decoder step (checks, the metadata
// block of model/decode_graphs.h) and the step body every backend runs, op by op or as a CUDA
// graph.
#include <algorithm>
#include <vector>

#include "core/error.h"
#include "model/decode_graphs.h"
#include "model/whisper_model.h"
#include "ops/ops.h"

namespace hark::model {
namespace {

// The sequences of one step, checked, and their metadata block.
struct StepPlan {
  DecodeStepLayout lay;
  std::vector<int64_t> meta;
};

void check_states(std::span<DecoderState* const> states,
                  std::span<const std::span<const int>> tokens, const ModelConfig& cfg,
                  bool int8_cross_kv) {
  HARK_CHECK(!states.empty() && states.size() == tokens.size(), ErrorKind::kInvalidArgument,
             "decode_batch: {} states and {} token lists", states.size(), tokens.size());
  for (size_t i = 0; i < states.size(); ++i) {
    const DecoderState* st = states[i];
    HARK_CHECK(st && int(st->self_k.size()) == cfg.n_text_layer, ErrorKind::kInvalidArgument,
               "decode_batch: state {} was not made by begin_window", i);
    HARK_CHECK(!st->cross_attention_out, ErrorKind::kInvalidArgument,
               "decode_batch: state {} asks for cross-attention weights (use decode)", i);
    const std::span<const int> t = tokens[i];
    HARK_CHECK(!t.empty(), ErrorKind::kInvalidArgument, "decode_batch: sequence {} has no tokens",
               i);
    HARK_CHECK(st->n_past + int64_t(t.size()) <= cfg.n_text_ctx, ErrorKind::kInvalidArgument,
               "decode_batch: {} tokens after {} exceed the text context of {}", t.size(),
               st->n_past, cfg.n_text_ctx);
    for (const int tok : t)
      HARK_CHECK(tok >= 0 && tok < cfg.n_vocab, ErrorKind::kInvalidArgument,
                 "decode_batch: token {} outside the vocabulary of {}", tok, cfg.n_vocab);
    const bool int8 = !st->cross_k.empty() && st->cross_k[0].dtype() == DType::kI8;
    HARK_CHECK(int8 == int8_cross_kv &&
                   st->cross_k_scale.size() == (int8 ? st->cross_k.size() : 0) &&
                   st->cross_v_scale.size() == st->cross_k_scale.size(),
               ErrorKind::kInvalidArgument,
               "decode_batch: state {} has {} cross-attention K/V, the model {}", i,
               int8 ? "int8" : "float", int8_cross_kv ? "int8" : "float");
    // The kernels read K/V with 16-byte loads (begin_window's tensors always qualify).
    for (size_t l = 0; l < st->self_k.size(); ++l) {
      for (const Tensor* t2 : {&st->self_k[l], &st->self_v[l], &st->cross_k[l], &st->cross_v[l]})
        HARK_CHECK(ops::address_of(*t2) % 16 == 0, ErrorKind::kInvalidArgument,
                   "decode_batch: state {} has a K/V cache not aligned to 16 bytes", i);
      if (int8)
        for (const Tensor* t2 : {&st->cross_k_scale[l], &st->cross_v_scale[l]}) {
          HARK_CHECK(ops::address_of(*t2) % 16 == 0, ErrorKind::kInvalidArgument,
                     "decode_batch: state {} has K/V scales not aligned to 16 bytes", i);
          // Head-major [n_head, n_audio_ctx]: the attention's scale stride is n_audio_ctx.
          HARK_CHECK(t2->shape() == (Shape{cfg.n_text_head, cfg.n_audio_ctx}) &&
                         st->cross_k[l].dim(0) <= cfg.n_audio_ctx,
                     ErrorKind::kInvalidArgument,
                     "decode_batch: state {} has K/V scales {} for {} keys, not [{}, {}]", i,
                     shape_str(t2->shape()), st->cross_k[l].dim(0), cfg.n_text_head,
                     cfg.n_audio_ctx);
        }
    }
  }
  // Two entries sharing a cache would write the same positions in one step.
  std::vector<const void*> caches;
  for (const DecoderState* st : states)
    if (!st->self_k.empty()) caches.push_back(st->self_k[0].raw());
  std::sort(caches.begin(), caches.end());
  HARK_CHECK(std::adjacent_find(caches.begin(), caches.end()) == caches.end(),
             ErrorKind::kInvalidArgument,
             "decode_batch: two sequences share one decoder state (KV cache)");
}

StepPlan plan_step(std::span<DecoderState* const> states,
                   std::span<const std::span<const int>> tokens, const ModelConfig& cfg) {
  StepPlan p;
  DecodeStepLayout& lay = p.lay;
  lay.batch = int64_t(states.size());
  lay.layers = cfg.n_text_layer;
  lay.max_self_keys = cfg.n_text_ctx;
  lay.max_cross_keys = cfg.n_audio_ctx;
  for (size_t i = 0; i < states.size(); ++i) {
    lay.rows += int64_t(tokens[i].size());
    for (const Tensor& ck : states[i]->cross_k)
      lay.max_cross_keys = std::max(lay.max_cross_keys, int(ck.dim(0)));
  }
  const int64_t rows = lay.rows;
  p.meta.assign(size_t(lay.size()), 0);
  int64_t* m = p.meta.data();
  int64_t r = 0;
  for (size_t i = 0; i < states.size(); ++i) {
    const DecoderState& st = *states[i];
    for (size_t j = 0; j < tokens[i].size(); ++j, ++r) {
      const int64_t pos = st.n_past + int64_t(j);
      m[lay.ids_pos() + 2 * r] = tokens[i][j];
      m[lay.ids_pos() + 2 * r + 1] = pos;
      m[lay.positions() + r] = pos;
      m[lay.self_keys() + r] = pos + 1;
      for (int64_t l = 0; l < lay.layers; ++l) {
        int64_t* at = m + lay.layer(l);
        at[r] = ops::address_of(st.self_k[size_t(l)]);
        at[rows + r] = ops::address_of(st.self_v[size_t(l)]);
        at[2 * rows + r] = ops::address_of(st.cross_k[size_t(l)]);
        at[3 * rows + r] = ops::address_of(st.cross_v[size_t(l)]);
        if (!st.cross_k_scale.empty()) {
          at[4 * rows + r] = ops::address_of(st.cross_k_scale[size_t(l)]);
          at[5 * rows + r] = ops::address_of(st.cross_v_scale[size_t(l)]);
        }
      }
      m[lay.cross_keys() + r] = st.cross_k[0].dim(0);
    }
    m[lay.last_rows() + int64_t(i)] = r - 1;
  }
  return p;
}

}  // namespace

Tensor WhisperModel::decode_batch(std::span<DecoderState* const> states,
                                  std::span<const std::span<const int>> tokens) const {
  check_states(states, tokens, cfg_, place_.int8_cross_kv);
  const StepPlan p = plan_step(states, tokens, cfg_);
  const bool graphable = p.lay.rows == p.lay.batch && p.lay.max_cross_keys == cfg_.n_audio_ctx;
  Tensor logits = graphs_->run(
      p.lay, p.meta, graphable, [&](DecodeStepBuffers& b) { decode_step(p.lay, b); },
      [&] { return step_buffers(p.lay); }, {});
  for (size_t i = 0; i < states.size(); ++i) states[i]->n_past += int(tokens[i].size());
  return logits;
}

void WhisperModel::decode_batch_greedy(std::span<DecoderState* const> states, const Tensor& ids,
                                       int exclude, Tensor& next) const {
  const int64_t batch = int64_t(states.size());
  for (const Tensor* t : std::initializer_list<const Tensor*>{&ids, &next})
    HARK_CHECK(t->defined() && t->dtype() == DType::kI32 && t->device() == place_.device &&
                   t->ndim() == 1 && t->dim(0) == batch,
               ErrorKind::kInvalidArgument,
               "decode_batch_greedy: token ids should be I32 [{}] on the model's device, got {} {}",
               batch, dtype_name(t->dtype()), shape_str(t->shape()));
  // Placeholder ids (0) for the plan: the device writes the real ones over them.
  const int zero = 0;
  const std::vector<std::span<const int>> tokens(states.size(), std::span<const int>(&zero, 1));
  check_states(states, tokens, cfg_, place_.int8_cross_kv);
  const StepPlan p = plan_step(states, tokens, cfg_);
  const bool graphable = p.lay.max_cross_keys == cfg_.n_audio_ctx;  // rows == batch here
  DecodeGraphs::Io io;
  io.device_ids = &ids;
  io.vocab = cfg_.n_vocab;
  io.own_logits = false;  // consumed by the argmax below, before any later step
  const Tensor logits = graphs_->run(
      p.lay, p.meta, graphable, [&](DecodeStepBuffers& b) { decode_step(p.lay, b); },
      [&] { return step_buffers(p.lay); }, io);
  ops::argmax_rows(logits, exclude, next);
  for (DecoderState* st : states) st->n_past += 1;
}

DecodeStepBuffers WhisperModel::step_buffers(const DecodeStepLayout& lay) const {
  const int64_t n = lay.rows, b = lay.batch, d = cfg_.n_text_state;
  DecodeStepBuffers s;
  s.meta = Tensor::empty_on(place_.device, DType::kI64, {lay.size()});
  s.x = alloc(n, d);
  s.h = alloc(n, d);
  s.q = alloc(n, d);
  s.a = alloc(n, d);
  s.o = alloc(n, d);
  s.qkv = alloc(n, 3 * d);
  s.f = alloc(n, dec_layers_.at(0).mlp.fc1_w.dim(0));
  if (n != b) s.last = alloc(b, d);
  s.hn = alloc(b, d);
  s.logits = alloc(b, cfg_.n_vocab);
  const int64_t ws =
      std::max(ops::attention_rows_workspace(s.q, cfg_.n_text_head, lay.max_self_keys),
               ops::attention_rows_workspace(s.q, cfg_.n_text_head, lay.max_cross_keys));
  s.attn_ws = Tensor::empty_on(place_.device, DType::kF32, {std::max<int64_t>(ws, 1)});
  return s;
}

void WhisperModel::decode_step(const DecodeStepLayout& lay, DecodeStepBuffers& b) const {
  const int64_t n = lay.rows;
  ops::embed_rows(tok_emb_, dec_pos_,
                  b.meta.slice_rows(lay.ids_pos(), lay.ids_pos() + 2 * n).reshape({n, 2}), b.x);
  if (n <= kFusedStepRows) {
    // Few rows: every linear carries the norm before it and the residual, GELU or K/V scatter
    // after it (ops::fused_linear), so a layer is 8 launches.
    for (size_t i = 0; i < dec_layers_.size(); ++i)
      fused_decoder_layer_step(dec_layers_[i], int(i), lay, b);
    const Tensor* last = &b.x;
    if (lay.rows != lay.batch) {
      ops::gather_rows(b.x, b.meta.slice_rows(lay.last_rows(), lay.last_rows() + lay.batch),
                       b.last);
      last = &b.last;
    }
    ops::fused_linear(*last, &dec_ln_.gamma, &dec_ln_.beta, cfg_.layer_norm_eps,
                      ops::LinearWeight{tok_emb_, {}}, nullptr, b.logits, ops::RowsOut::kStore);
    return;
  }
  // Each residual add runs fused with the layer norm after it; the last one with the final norm
  // when every row is a sequence's last (rows == batch, every graphed step).
  const bool fuse_final = lay.rows == lay.batch && !dec_layers_.empty();
  if (!dec_layers_.empty())
    ops::layer_norm(b.x, dec_layers_[0].self_ln.gamma, dec_layers_[0].self_ln.beta,
                    cfg_.layer_norm_eps, b.h);
  for (size_t i = 0; i < dec_layers_.size(); ++i) {
    if (i + 1 < dec_layers_.size())
      decoder_layer_step(dec_layers_[i], int(i), lay, b, &dec_layers_[i + 1].self_ln, &b.h);
    else
      decoder_layer_step(dec_layers_[i], int(i), lay, b, fuse_final ? &dec_ln_ : nullptr, &b.hn);
  }
  if (!fuse_final) {
    const Tensor* last = &b.x;
    if (lay.rows != lay.batch) {
      ops::gather_rows(b.x, b.meta.slice_rows(lay.last_rows(), lay.last_rows() + lay.batch),
                       b.last);
      last = &b.last;
    }
    ops::layer_norm(*last, dec_ln_.gamma, dec_ln_.beta, cfg_.layer_norm_eps, b.hn);
  }
  ops::matmul_nt(b.hn, tok_emb_, b.logits);
}

// decoder_layer_step's arithmetic in fused_linear's form (b.x holds the residual stream).
void WhisperModel::fused_decoder_layer_step(const DecoderLayer& l, int index,
                                            const DecodeStepLayout& lay,
                                            DecodeStepBuffers& b) const {
  const int64_t n = lay.rows, d = b.x.dim(1);
  const float eps = cfg_.layer_norm_eps;
  const auto meta = [&](int64_t offset) { return b.meta.slice_rows(offset, offset + n); };
  const int64_t at = lay.layer(index);
  const Tensor self_k = meta(at), self_v = meta(at + n), cross_k = meta(at + 2 * n),
               cross_v = meta(at + 3 * n), positions = meta(lay.positions());
  using ops::RowsOut;
  const ops::RowsKvScatter scatter{d, &self_k, &self_v, &positions};
  ops::fused_linear(b.x, &l.self_ln.gamma, &l.self_ln.beta, eps, l.self_attn.qkv_w,
                    &l.self_attn.qkv_b, b.qkv, RowsOut::kStore, &scatter);
  ops::attention_rows(b.qkv, ops::KvTable{self_k, self_v, meta(lay.self_keys()), lay.max_self_keys},
                      cfg_.n_text_head, b.a, b.attn_ws);
  ops::fused_linear(b.a, nullptr, nullptr, eps, l.self_attn.o_w, &l.self_attn.o_b, b.x,
                    RowsOut::kAdd);
  ops::fused_linear(b.x, &l.cross_ln.gamma, &l.cross_ln.beta, eps, l.cross_attn.q_w,
                    &l.cross_attn.q_b, b.q, RowsOut::kStore);
  ops::KvTable cross{cross_k, cross_v, meta(lay.cross_keys()), lay.max_cross_keys};
  if (place_.int8_cross_kv) {
    cross.k_scales = meta(at + 4 * n);
    cross.v_scales = meta(at + 5 * n);
    cross.scale_ld = cfg_.n_audio_ctx;
  }
  ops::attention_rows(b.q, cross, cfg_.n_text_head, b.a, b.attn_ws);
  ops::fused_linear(b.a, nullptr, nullptr, eps, l.cross_attn.o_w, &l.cross_attn.o_b, b.x,
                    RowsOut::kAdd);
  ops::fused_linear(b.x, &l.mlp.ln.gamma, &l.mlp.ln.beta, eps, l.mlp.fc1_w, &l.mlp.fc1_b, b.f,
                    RowsOut::kGelu);
  ops::fused_linear(b.f, nullptr, nullptr, eps, l.mlp.fc2_w, &l.mlp.fc2_b, b.x, RowsOut::kAdd);
}

// The same arithmetic as decoder_layer, row by row, on b's buffers.
void WhisperModel::decoder_layer_step(const DecoderLayer& l, int index, const DecodeStepLayout& lay,
                                      DecodeStepBuffers& b, const LayerNormWeights* next_ln,
                                      Tensor* next_out) const {
  const int64_t n = lay.rows;
  const float eps = cfg_.layer_norm_eps;
  const auto meta = [&](int64_t offset) { return b.meta.slice_rows(offset, offset + n); };
  const int64_t at = lay.layer(index);
  const Tensor self_k = meta(at), self_v = meta(at + n), cross_k = meta(at + 2 * n),
               cross_v = meta(at + 3 * n), positions = meta(lay.positions());
  // Self-attention (b.h = self_ln(x) on entry): one GEMM for q | k | v, the new K/V rows into
  // each sequence's cache (one launch for both), then every row attends its cache up to and
  // including its own position, q read in place from the fused rows.
  const int64_t d = b.x.dim(1);
  ops::linear(b.h, l.self_attn.qkv_w, &l.self_attn.qkv_b, b.qkv);
  ops::scatter_kv_rows(b.qkv, d, self_k, self_v, positions);
  ops::attention_rows(b.qkv, ops::KvTable{self_k, self_v, meta(lay.self_keys()), lay.max_self_keys},
                      cfg_.n_text_head, b.a, b.attn_ws);
  ops::linear(b.a, l.self_attn.o_w, nullptr, b.o);  // its bias is added with the residual
  ops::add_layer_norm(b.x, b.o, l.cross_ln.gamma, l.cross_ln.beta, eps, b.h, &l.self_attn.o_b);
  // Cross-attention over each sequence's window.
  ops::linear(b.h, l.cross_attn.q_w, &l.cross_attn.q_b, b.q);
  ops::KvTable cross{cross_k, cross_v, meta(lay.cross_keys()), lay.max_cross_keys};
  if (place_.int8_cross_kv) {
    cross.k_scales = meta(at + 4 * n);
    cross.v_scales = meta(at + 5 * n);
    cross.scale_ld = cfg_.n_audio_ctx;  // begin_window's scale matrices: [n_head, n_audio_ctx]
  }
  ops::attention_rows(b.q, cross, cfg_.n_text_head, b.a, b.attn_ws);
  ops::linear(b.a, l.cross_attn.o_w, nullptr, b.o);
  ops::add_layer_norm(b.x, b.o, l.mlp.ln.gamma, l.mlp.ln.beta, eps, b.h, &l.cross_attn.o_b);
  // x += fc2(gelu(fc1(h))), as mlp_block, then the next norm.
  ops::linear_gelu(b.h, l.mlp.fc1_w, &l.mlp.fc1_b, b.f);
  if (next_ln) {
    ops::linear(b.f, l.mlp.fc2_w, nullptr, b.o);
    ops::add_layer_norm(b.x, b.o, next_ln->gamma, next_ln->beta, eps, *next_out, &l.mlp.fc2_b);
  } else {
    ops::linear(b.f, l.mlp.fc2_w, &l.mlp.fc2_b, b.o);
    ops::add_(b.x, b.o);
  }
}

void WhisperModel::set_decode_graphs(const DecodeGraphOptions& options) {
  graphs_ = std::make_shared<DecodeGraphs>(place_.device, options);
}

DecodeGraphStats WhisperModel::decode_graph_stats() const { return graphs_->stats(); }

}  // namespace hark::model
