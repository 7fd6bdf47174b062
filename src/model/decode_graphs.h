// decode_batch's step as data plus a fixed body, and the cache of CUDA graphs that replays it.
//
// A step is described by one block of int64 metadata (DecodeStepLayout): token ids and positions,
// each sequence's last row, and for every layer and row the addresses of the self/cross K/V
// caches and how many keys the row sees. The host builds the block and copies it to the device in
// one asynchronous copy; the body (WhisperModel::decode_step) reads everything per row from
// there, writes into DecodeStepBuffers and the caches, and sizes its launches by the row count
// and the context lengths only. So for a given row count the body's launches are the same every
// step, whatever the sequences, and CUDA records them once as a graph and replays them with one
// call (~110 launches per step for large-v3-turbo, the batch-1 bottleneck).
//
// DecodeGraphs keys graphs by row count, for steps where every sequence adds one token (rows ==
// sequences; prompts run op by op, they are rare). A row count is recorded the second time it is
// seen (the first run op by op loads the kernels and picks the cuBLAS algorithms); each graph owns
// the buffers it was recorded with, so nothing is allocated inside a replayed step. Graphs never
// go stale: weights and the cuBLAS workspace live as long as the model and the process, and
// everything else is either owned by the entry or read through the metadata. The least recently
// used graph is dropped when max_graphs are held. A recording that fails (an op that allocates or
// synchronises, e.g. a future kernel) leaves that row count op by op for good.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <unordered_map>
#include <unordered_set>

#include "core/tensor.h"
#include "model/whisper_model.h"

namespace hark::model {

// Offsets, in int64 elements, of a step's metadata block: R rows, B sequences, L layers.
struct DecodeStepLayout {
  int64_t rows = 0, batch = 0, layers = 0;
  int max_self_keys = 0, max_cross_keys = 0;  // what attention is sized for

  int64_t ids_pos() const { return 0; }            // [R, 2]: token id, position
  int64_t positions() const { return 2 * rows; }   // [R]
  int64_t self_keys() const { return 3 * rows; }   // [R]: position + 1
  int64_t cross_keys() const { return 4 * rows; }  // [R]: the window's length
  int64_t last_rows() const { return 5 * rows; }   // [B]: each sequence's last row
  // Layer l: the addresses of self K, self V, cross K, cross V, and of the cross K and V scales
  // (int8 cross K/V; 0 otherwise), [R] each.
  static constexpr int64_t kPerLayer = 6;
  int64_t layer(int64_t l) const { return 5 * rows + batch + kPerLayer * rows * l; }
  int64_t size() const { return layer(layers); }
};

// Everything a step writes besides the caches, at addresses fixed for the life of the buffers.
struct DecodeStepBuffers {
  Tensor meta;           // I64 [layout.size()] on the model's device
  Tensor x, h, q, a, o;  // [R, d]
  Tensor qkv;            // [R, 3d]: the fused self-attention projection
  Tensor f;              // [R, d_ffn]
  Tensor last, hn;       // [B, d] (last: only when R != B)
  Tensor logits;         // [B, n_vocab]
  Tensor attn_ws;        // F32 attention_rows workspace
};

class DecodeGraphs {
 public:
  // enabled: the options' switch, unless HARK_CUDA_GRAPHS=0 (then off). `device` is the model's.
  DecodeGraphs(Device device, const DecodeGraphOptions& options);
  ~DecodeGraphs();

  using Body = std::function<void(DecodeStepBuffers&)>;
  using Make = std::function<DecodeStepBuffers()>;

  // How a step's tokens arrive and its logits leave.
  struct Io {
    // I32 [lay.rows] on the device: the rows' token ids, written over the metadata's ids on the
    // device after the upload (ops::set_token_ids; out-of-range ids read as 0). Null: the ids
    // in `meta`.
    const Tensor* device_ids = nullptr;
    int64_t vocab = 0;  // with device_ids
    // The logits to the caller: a copy it owns (true), or the step's buffer itself, which the
    // next step overwrites (false: for work queued on the stream before that step, e.g. an
    // argmax).
    bool own_logits = true;
  };

  // Runs one step: `meta` (lay.size() values) goes to the device, then the graph recorded for
  // lay.rows replays, or `body` runs op by op on buffers from `make`. graphable: rows == batch
  // and the attention bounds are the model's contexts (the key assumes them). Returns the logits
  // as `io` asks.
  Tensor run(const DecodeStepLayout& lay, std::span<const int64_t> meta, bool graphable,
             const Body& body, const Make& make, const Io& io);

  DecodeGraphStats stats() const;

 private:
  struct Entry;
  Tensor run_eager(const DecodeStepLayout& lay, std::span<const int64_t> meta, const Body& body,
                   const Make& make, const Io& io);
  Entry* record(int64_t rows, const Body& body, const Make& make);
  void evict_one();

  Device device_;
  DecodeGraphOptions options_;
  mutable std::mutex mu_;
  std::unordered_map<int64_t, std::unique_ptr<Entry>> entries_;
  std::unordered_set<int64_t> seen_, failed_;
  uint64_t clock_ = 0;
  DecodeGraphStats stats_;
};

}  // namespace hark::model
