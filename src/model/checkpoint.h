// Checkpoint: everything read from a model path, before any maths. Tensors keep their stored dtype
// (f32/f16/bf16) and stay views into memory-mapped files; names and shapes are canonical:
//   HF names without the leading "model." ("encoder.conv1.weight",
//   "decoder.layers.0.encoder_attn.k_proj.weight", ...), PyTorch shapes ([out, in] for linear
//   weights, [out, in, k] for convolutions, [n] for every bias).
// A ggml file's OpenAI names and reversed dims are translated on load, so the model code sees one
// layout. Every tensor the config implies is checked for presence and shape; an error names it.
// Tensors it does not imply (a stored tied proj_out.weight, extras) are dropped.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/config.h"

namespace hark::model {

struct Checkpoint {
  ModelConfig config;
  GenerationConfig generation;
  std::map<std::string, Tensor> tensors;
  std::string format;  // "safetensors" or "ggml"
  std::string path;    // what was opened
  // From a ggml file: its mel filterbank [n_mels, 201] and its base vocabulary (token bytes in
  // rank order; the special tokens are implied by n_vocab).
  std::optional<Tensor> mel_filters;
  std::vector<std::string> ggml_vocab;
  // Files that keep the tensors alive (mmaps).
  std::vector<std::shared_ptr<const void>> keepalive;

  const Tensor& get(const std::string& name) const;  // throws kInvalidModel naming the tensor
};

// Loads an HF directory (config.json, [generation_config.json], model.safetensors or
// model-0000N-of-0000M.safetensors + model.safetensors.index.json), a single .safetensors file
// next to its config.json, or a whisper.cpp ggml .bin file.
Checkpoint load_checkpoint(const std::string& path);

// The expected canonical name -> shape for a config (used for the checks, and by tests).
std::map<std::string, Shape> expected_tensor_shapes(const ModelConfig& cfg);

}  // namespace hark::model
