#include "model/placement.h"

#include <fmt/format.h>

#include <charconv>

#include "core/error.h"
#ifdef HARK_HAVE_CUDA
#include "backends/cuda/runtime.h"
#endif

namespace hark::model {
namespace {

struct ComputeType {
  DType dtype;        // activations (and float weights)
  bool int8_weights;  // linear layers' weights int8 with per-channel scales
};

ComputeType parse_compute_type(const std::string& t, bool gpu) {
  const DType device_default = gpu ? DType::kF16 : DType::kF32;
  if (t == "default") return {device_default, false};
  if (t == "float32") return {DType::kF32, false};
  if (t == "float16") return {DType::kF16, false};
  if (t == "bfloat16") return {DType::kBF16, false};
  if (t == "int8") return {device_default, true};
  if (t == "int8_float32") return {DType::kF32, true};
  if (t == "int8_float16") return {DType::kF16, true};
  if (t == "int8_bfloat16") return {DType::kBF16, true};
  throw_error(ErrorKind::kInvalidArgument,
              "unknown compute type '{}' (use default, float32, float16, bfloat16, int8, "
              "int8_float32, int8_float16 or int8_bfloat16)",
              t);
}

// -1: auto, -2: the CPU, N >= 0: cuda:N.
int parse_device(const std::string& d) {
  if (d == "auto") return -1;
  if (d == "cpu") return -2;
  if (d == "cuda" || d == "gpu") return 0;
  if (d.rfind("cuda:", 0) == 0) {
    int n = -1;
    const char* b = d.data() + 5;
    const auto [end, ec] = std::from_chars(b, d.data() + d.size(), n);
    if (ec == std::errc() && end == d.data() + d.size() && n >= 0) return n;
  }
  throw_error(ErrorKind::kInvalidArgument, "unknown device '{}' (use auto, cpu, cuda or cuda:N)",
              d);
}

// Why no GPU can be used; empty when one can.
std::string gpu_unavailable() {
#ifdef HARK_HAVE_CUDA
  return backends::cuda::unavailable_reason();
#else
  return "this build has no CUDA backend";
#endif
}

}  // namespace

ResolvedPlacement resolve_placement(const std::string& device, const std::string& compute_type) {
  const int want = parse_device(device);
  ResolvedPlacement r;
  const std::string reason = want == -2 ? std::string() : gpu_unavailable();
  if (want == -2 || (want == -1 && !reason.empty())) {
    r.fallback_reason = reason;
    const ComputeType ct = parse_compute_type(compute_type, false);
    HARK_CHECK(ct.dtype == DType::kF32, ErrorKind::kUnsupported,
               "the CPU runs float32 only, with float32 or int8 weights (float32, int8, "
               "int8_float32; asked for compute type '{}')",
               compute_type);
    r.placement.int8_weights = ct.int8_weights;
    r.device = "cpu";
    return r;
  }
  HARK_CHECK(reason.empty(), ErrorKind::kUnsupported, "device '{}' cannot be used: {}", device,
             reason);
#ifdef HARK_HAVE_CUDA
  const int index = want < 0 ? 0 : want;
  backends::cuda::select_device(index);
  const ComputeType ct = parse_compute_type(compute_type, true);
  r.placement = {Device::kCuda, ct.dtype, ct.int8_weights};
  r.device = fmt::format("cuda:{}", index);
  r.device_name = backends::cuda::device_properties(index).name;
#endif
  return r;
}

bool parse_cross_kv(const std::string& name) {
  if (name == "int8") return true;
  if (name == "auto") return false;
  throw Error(ErrorKind::kInvalidArgument,
              "unknown cross-attention K/V type '" + name + "' (use auto or int8)");
}

std::string compute_type_name(DType dtype) {
  switch (dtype) {
    case DType::kF16: return "float16";
    case DType::kBF16: return "bfloat16";
    default: return "float32";
  }
}

std::string compute_type_name(const ModelPlacement& placement) {
  return (placement.int8_weights ? "int8_" : "") + compute_type_name(placement.dtype);
}

}  // namespace hark::model
