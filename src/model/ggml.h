// whisper.cpp's ggml model file (the pre-GGUF format of ggml-*.bin), read through a memory map:
//   u32 magic 0x67676d6c | 11 x i32 hparams (n_vocab, n_audio_ctx, n_audio_state, n_audio_head,
//   n_audio_layer, n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels, ftype)
//   | i32 n_mel, i32 n_fft, f32[n_mel * n_fft] mel filters
//   | i32 count, count x (i32 length, bytes) base vocabulary
//   | tensors until the end of the file: i32 n_dims, i32 name length, i32 type,
//     i32 dims[n_dims] innermost first, name, raw data.
// All integers little-endian. ftype may carry a quantization version (ftype / 1000).
//
// Tensors come back under canonical HF names with PyTorch shapes (see checkpoint.h): OpenAI names
// are translated, dims reversed, conv biases stored [n, 1] squeezed to [n]. f32, f16 and bf16
// tensors are views (copies when the file puts them at an address not aligned for their type,
// which the format does not avoid); quantized types are kUnsupported, unknown ones kInvalidModel.
// Every read is bounds-checked; a truncated file is an error naming what was being read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor.h"
#include "model/config.h"

namespace hark::model {

inline constexpr uint32_t kGgmlMagic = 0x67676d6c;  // "lmgg" on disk

struct GgmlModel {
  ModelConfig config;  // n_audio_ffn = n_text_ffn = 4 * d_model (the format has no field)
  int ftype = 0;       // hparams ftype % 1000: 0 f32, 1 f16, others quantized
  Tensor mel_filters;  // [n_mels, 201] f32
  std::vector<std::string> vocab;                 // base tokens' bytes, in rank order
  std::map<std::string, Tensor> tensors;          // canonical names, PyTorch shapes
  std::map<std::string, std::string> file_names;  // canonical name -> name in the file
  std::shared_ptr<MappedFile> file;
};

// Reads a ggml file. The config is validated; errors name the path and the tensor at fault.
GgmlModel read_ggml(const std::string& path);

// True when the first bytes are the ggml magic.
bool has_ggml_magic(const uint8_t* data, size_t size);

// OpenAI/whisper.cpp tensor name -> canonical HF name ("encoder.blocks.0.attn.query.weight" ->
// "encoder.layers.0.self_attn.q_proj.weight"); names it does not know come back unchanged.
std::string ggml_to_canonical_name(std::string_view name);
// The inverse (canonical -> OpenAI); names it does not know come back unchanged.
std::string canonical_to_ggml_name(std::string_view name);

}  // namespace hark::model
