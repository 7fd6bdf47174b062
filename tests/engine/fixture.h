// Access to the reference fixtures made by tools/reference/make_fixtures.py on the GPU machine:
// tests/data/models/<name>/ (an HF checkpoint with random weights) with reference.safetensors
// (mel, encoder_out, logits_tf, tf_input_ids, tokens_notimestamps, tokens_timestamps,
// language_probs) and reference.json, plus tests/data/models/<name>.ggml-f16.bin.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/safetensors.h"

namespace hark::testing {

struct Reference {
  std::string name;
  std::string dir;  // the HF directory
  model::SafetensorsWeights tensors;
  nlohmann::json json;

  const Tensor& get(const std::string& key) const;
  std::vector<int> ints(const std::string& key) const;  // an I32/I64 tensor as ints
};

Reference load_reference(const std::string& fixture_name);

// ||a - b|| / ||b|| over all elements (both fp32, same element count).
double rel_error(const Tensor& a, const Tensor& b);

}  // namespace hark::testing
