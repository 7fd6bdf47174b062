// WhisperModel: the encoder-decoder forward pass, by default over fp32 weights on the CPU (the CPU
// engine); with a ModelPlacement on CUDA the weights, activations and KV caches live on the GPU in
// fp32, fp16 or bf16 and the same forward pass runs through the ops' CUDA kernels. Holds no
// per-request state: the decoder's KV caches live in DecoderState, one per sequence, so one model
// serves any number of sequences (whisper.cpp's context/state split).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "ops/ops.h"

namespace hark::model {

// Linear layers' weights are ops::LinearWeight: float, or int8 with per-channel scales when the
// placement asks for int8 weights.
// Self-attention (encoder and decoder): the q, k and v projections are fused at load into one
// [3d, d] weight (rows q | k | v; int8: the rows and their scales concatenated) and one [3d] bias
// (q_b | 0 | v_b: k has no bias in Whisper), so one GEMM gives each row's q | k | v, which the
// attention ops read in place. Only the fused copy is kept.
struct SelfAttentionWeights {
  ops::LinearWeight qkv_w, o_w;
  Tensor qkv_b, o_b;
};

// Cross-attention: q from the decoder's rows; k | v fused ([2d, d], bias 0 | v_b), computed once
// per window over the encoder output (WhisperModel::begin_window).
struct CrossAttentionWeights {
  ops::LinearWeight q_w, kv_w, o_w;
  Tensor q_b, kv_b, o_b;
};

struct LayerNormWeights {
  Tensor gamma, beta;
};

// The feed-forward block of every layer: x += fc2(gelu(fc1(ln(x)))) (fc1's bias is added by
// ops::bias_gelu_ together with the GELU).
struct MlpWeights {
  LayerNormWeights ln;
  ops::LinearWeight fc1_w;
  Tensor fc1_b;
  ops::LinearWeight fc2_w;
  Tensor fc2_b;
};

struct EncoderLayer {
  LayerNormWeights attn_ln;
  SelfAttentionWeights attn;
  MlpWeights mlp;
};

struct DecoderLayer {
  LayerNormWeights self_ln;
  SelfAttentionWeights self_attn;
  LayerNormWeights cross_ln;
  CrossAttentionWeights cross_attn;
  MlpWeights mlp;
};

// Where a model's weights and activations live, and in which precision.
struct ModelPlacement {
  Device device = Device::kCpu;
  DType dtype = DType::kF32;  // F32 on the CPU; F32, F16 or BF16 on CUDA
  // The weights of every linear layer (attention q/k/v/o, fc1, fc2) int8 with one scale per
  // output channel (ops::quantize_int8), quantised at load; no float copy of them is kept.
  // Convolutions, layer norms, biases and embeddings (the token embedding is also the logits
  // projection) stay in `dtype`.
  bool int8_weights = false;
  // Each window's cross-attention K and V int8 with one fp32 scale per (key position, head)
  // (ops::quantize_kv_int8, on the device right after the k | v projection): the bytes a decoder
  // step reads for cross-attention, the bulk of its traffic at large batches, fall to about half
  // of fp16. Self-attention K/V stay in `dtype`.
  bool int8_cross_kv = false;
};

// The per-sequence decoder state: self-attention K/V for every position decoded so far
// ([n_text_ctx, d] per layer) and the window's cross-attention K/V ([n_audio_ctx, d] per layer),
// computed once per window by WhisperModel::begin_window.
// With ModelPlacement::int8_cross_kv, cross_k / cross_v are I8 and cross_k_scale /
// cross_v_scale their F32 [n_head, n_audio_ctx] scales, head-major (ops::quantize_kv_int8; the
// row stride n_audio_ctx even for a shorter window), empty otherwise.
struct DecoderState {
  std::vector<Tensor> self_k, self_v;
  std::vector<Tensor> cross_k, cross_v;
  std::vector<Tensor> cross_k_scale, cross_v_scale;
  int n_past = 0;
  // When set, decode() stores each layer's cross-attention weights of the last call here:
  // [n_text_layer] fp32 CPU tensors of [n_head, n_new, n_audio_ctx] (word timing).
  std::vector<Tensor>* cross_attention_out = nullptr;
};

// How decode_batch uses CUDA graphs on a CUDA placement (model/decode_graphs.h): a step whose
// sequences each add one token replays a graph recorded for its row count; prompts, profiling and
// the CPU run op by op. HARK_CUDA_GRAPHS=0 in the environment turns them off for every model.
struct DecodeGraphOptions {
  bool enabled = true;
  int max_rows = 256;   // larger steps run op by op
  int max_graphs = 64;  // row counts kept (least recently used evicted)
};

// What decode_batch did so far (tests, benchmarks).
struct DecodeGraphStats {
  bool enabled = false;     // a CUDA placement with graphs on
  int64_t graph_steps = 0;  // steps run as one graph launch
  int64_t eager_steps = 0;  // steps run op by op
  int64_t captures = 0;     // graphs recorded
  int64_t failures = 0;     // recordings that failed (that row count then stays op by op)
  int64_t evictions = 0;    // graphs dropped for room
  int64_t cached = 0;       // graphs held now
};

class DecodeGraphs;
struct DecodeStepLayout;
struct DecodeStepBuffers;

class WhisperModel {
 public:
  // Converts the checkpoint's tensors to fp32 (f32 tensors are used in place on the CPU), then to
  // the placement's dtype and device. Throws kUnsupported for a placement this build cannot run
  // (the CPU in anything but F32, CUDA without a CUDA build or device).
  explicit WhisperModel(const Checkpoint& checkpoint, ModelPlacement placement = {});

  const ModelConfig& config() const { return cfg_; }
  const ModelPlacement& placement() const { return place_; }
  // Bytes of the weights the forward pass reads, on the model's device (int8 weights: about half
  // of fp16, a quarter of fp32, for the linear layers); the fp32 host copies of the embeddings
  // kept for decode()'s token lookup on a GPU are not counted.
  size_t weight_bytes() const;

  // mel [n_mels, 2 * n_audio_ctx] -> encoder output [n_audio_ctx, d] on the model's device, in its
  // dtype. mel is read where it is, without a copy, when it is on the model's device in the
  // model's dtype (ops::mel_window writes windows so); otherwise (fp32 on the CPU, or another
  // dtype) it is converted through the host first.
  Tensor encode(const Tensor& mel) const;

  // The encoder over a batch of independent windows: mels [B, n_mels, 2 * n_audio_ctx] (as encode
  // takes them) -> [B, n_audio_ctx, d] on the model's device, in its dtype.
  // The GEMMs see all B * n_audio_ctx rows at once; attention runs per window.
  Tensor encode_batch(const Tensor& mels) const;

  // A fresh decoder state for one window: cross K/V from the encoder output (any float dtype on
  // any device; moved to the model's), empty self cache.
  DecoderState begin_window(const Tensor& encoder_out) const;

  // Appends `tokens` at positions [n_past, n_past + n) and returns fp32 CPU logits: [n, n_vocab]
  // when all_logits, else [1, n_vocab] for the last token only. Throws kInvalidArgument when the
  // sequence would exceed n_text_ctx.
  Tensor decode(DecoderState& state, std::span<const int> tokens, bool all_logits = false) const;

  // One step of continuous batching: sequence i appends tokens[i] (at least one token) at
  // positions [n_past, n_past + n_i) of *states[i]. Sequences may belong to different windows and
  // have different lengths; they join and leave between calls freely. Returns the logits of each
  // sequence's last new token, [B, n_vocab] on the model's device in its dtype (pick tokens there
  // with ops::argmax_rows, or copy to the host). Cross-attention weights are not collected here
  // (word timing uses decode). Same arithmetic as decode, row for row.
  // On CUDA the step's per-row data (ids, positions, K/V cache addresses) go to the device in one
  // copy and the step replays as one CUDA graph where it can (DecodeGraphOptions); the result is
  // the same either way, bit for bit.
  Tensor decode_batch(std::span<DecoderState* const> states,
                      std::span<const std::span<const int>> tokens) const;

  // A greedy step of decode_batch whose tokens stay on the device: sequence i appends the token
  // ids[i] (I32 [B] on the model's device, e.g. the previous step's picks; an id outside the
  // vocabulary reads as 0), and next[i] (the same kind of tensor; may be ids itself) receives
  // the argmax of its logits over every token but `exclude` (< 0: none). Nothing waits for the
  // device, so the host queues the following step while this one runs instead of idling the GPU
  // between steps on a read-back. Same arithmetic as decode_batch followed by ops::argmax_rows.
  void decode_batch_greedy(std::span<DecoderState* const> states, const Tensor& ids, int exclude,
                           Tensor& next) const;

  // Changes how decode_batch uses CUDA graphs (dropping the graphs recorded so far). Not while
  // another thread is in decode_batch.
  void set_decode_graphs(const DecodeGraphOptions& options);
  DecodeGraphStats decode_graph_stats() const;

 private:
  ModelConfig cfg_;
  ModelPlacement place_;
  Tensor conv1_w_, conv1_b_, conv2_w_, conv2_b_, enc_pos_;  // conv?_w_: CPU placements
  Tensor conv1_wt_, conv2_wt_;  // CUDA: the conv weights tap-major, [C_out, K * C_in]
  std::vector<EncoderLayer> enc_layers_;
  LayerNormWeights enc_ln_;
  Tensor tok_emb_, dec_pos_;
  std::vector<DecoderLayer> dec_layers_;
  LayerNormWeights dec_ln_;
  // fp32 CPU copies of the embeddings for the token lookup (the same tensors on a CPU placement).
  Tensor tok_emb_host_, dec_pos_host_;

  // The stem of B windows at once on CUDA: mels [B, n_mels, 2 * n_audio_ctx] -> x_rows
  // [B * n_audio_ctx, d] (ops::conv1d_patches, then linear with the bias in the GEMM's epilogue
  // and the exact GELU).
  void encoder_stem_batch(const Tensor& mels, Tensor& x_rows) const;
  Tensor load(const Checkpoint& c, const std::string& name) const;
  LayerNormWeights load_ln(const Checkpoint& c, const std::string& prefix) const;
  ops::LinearWeight load_linear(const Checkpoint& c, const std::string& name) const;
  // A linear weight from an fp32 host tensor (int8-quantised when the placement asks).
  ops::LinearWeight place_linear(const Tensor& w) const;
  SelfAttentionWeights load_self_attn(const Checkpoint& c, const std::string& prefix) const;
  CrossAttentionWeights load_cross_attn(const Checkpoint& c, const std::string& prefix) const;
  MlpWeights load_mlp(const Checkpoint& c, const std::string& layer_prefix) const;
  Tensor place(const Tensor& t) const;  // any float tensor -> the placement's device and dtype
  Tensor alloc(int64_t rows, int64_t cols) const;
  // x += fc2(gelu(fc1(h))) with h = mlp.ln(x) given; then y = next_ln(x) (ops::add_layer_norm),
  // or with next_ln null only the add. o: scratch [rows, d] (not h or y); h may be y.
  void mlp_block(const MlpWeights& w, Tensor& x, const Tensor& h, Tensor& o,
                 const LayerNormWeights* next_ln, Tensor& y) const;
  // On entry h = l.attn_ln(x); on return x is the layer's output and y = next_ln(x) (y: h or x).
  void encoder_layer(const EncoderLayer& l, int64_t batch, Tensor& x, Tensor& h,
                     const LayerNormWeights& next_ln, Tensor& y) const;
  void encoder_stem(const Tensor& mel, Tensor& x_rows) const;
  // decode_batch's step body: every op reads its per-row data from b.meta (laid out by `lay`)
  // and writes only b's tensors and the caches, so it can be recorded once and replayed.
  void decode_step(const DecodeStepLayout& lay, DecodeStepBuffers& b) const;
  // On entry b.h = l.self_ln(b.x); on return b.x is the layer's output and *next_out =
  // next_ln(b.x) when next_ln is set (else only the residual add).
  void decoder_layer_step(const DecoderLayer& l, int index, const DecodeStepLayout& lay,
                          DecodeStepBuffers& b, const LayerNormWeights* next_ln,
                          Tensor* next_out) const;
  // The same for steps of at most kFusedStepRows rows, through ops::fused_linear (the norms
  // inside the linears): b.x in, b.x out, eight launches per layer on CUDA.
  static constexpr int64_t kFusedStepRows = 8;
  void fused_decoder_layer_step(const DecoderLayer& l, int index, const DecodeStepLayout& lay,
                                DecodeStepBuffers& b) const;
  DecodeStepBuffers step_buffers(const DecodeStepLayout& lay) const;
  std::shared_ptr<DecodeGraphs> graphs_;
  // On entry h = l.self_ln(x); on return x is the layer's output and h = next_ln(x).
  void decoder_layer(const DecoderLayer& l, int index, DecoderState& st, Tensor& x, Tensor& h,
                     const LayerNormWeights& next_ln) const;
};

}  // namespace hark::model
