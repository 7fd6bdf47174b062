// The user-facing names of devices and compute types (--device, --compute-type), resolved to a
// ModelPlacement. One parser for the engine and `hark bench`.
#pragma once

#include <string>

#include "model/whisper_model.h"

namespace hark::model {

struct ResolvedPlacement {
  ModelPlacement placement;
  std::string device;           // cpu | cuda:N
  std::string device_name;      // the GPU's name; empty on the CPU
  std::string fallback_reason;  // set when `auto` chose the CPU: why no GPU could be used
};

// device: auto | cpu | cuda | gpu | cuda:N. auto takes GPU 0 when one can be used, else the CPU;
// cuda / cuda:N select that device for this process (backends/cuda select_device) or throw
// Error(kUnsupported) saying why they cannot. compute_type: default | float32 | float16 | bfloat16
// | int8 | int8_float32 | int8_float16 | int8_bfloat16 (default: float16 on a GPU, float32 on the
// CPU, which runs float32 activations only; int8_X: the linear layers' weights int8 with
// per-channel scales, activations X; int8: int8 weights with the device's default activations).
// A type the device cannot run is Error(kUnsupported), an unknown name Error(kInvalidArgument).
ResolvedPlacement resolve_placement(const std::string& device, const std::string& compute_type);

// --cross-kv: "int8" (ModelPlacement::int8_cross_kv) -> true, "auto" (the compute dtype) ->
// false; anything else is Error(kInvalidArgument).
bool parse_cross_kv(const std::string& name);

// float32 | float16 | bfloat16
std::string compute_type_name(DType dtype);
// The compute type of a placement: float16, int8_float16, ...
std::string compute_type_name(const ModelPlacement& placement);

}  // namespace hark::model
