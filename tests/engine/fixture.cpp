#include "engine/fixture.h"

#include <cmath>
#include <fstream>

#include "core/error.h"
#include "support/test_env.h"

namespace hark::testing {

const Tensor& Reference::get(const std::string& key) const {
  auto it = tensors.tensors.find(key);
  if (it == tensors.tensors.end()) {
    throw_error(ErrorKind::kNotFound, "{}: reference tensor {} missing", name, key);
  }
  return it->second;
}

std::vector<int> Reference::ints(const std::string& key) const {
  const Tensor& t = get(key);
  std::vector<int> out;
  for (int64_t i = 0; i < t.numel(); ++i) {
    out.push_back(t.dtype() == DType::kI64 ? int(t.data<int64_t>()[i]) : t.data<int32_t>()[i]);
  }
  return out;
}

Reference load_reference(const std::string& fixture_name) {
  Reference r;
  r.name = fixture_name;
  r.dir = test_data("models/" + fixture_name);
  r.tensors = model::read_safetensors(r.dir + "/reference.safetensors");
  std::ifstream f(r.dir + "/reference.json");
  r.json = nlohmann::json::parse(f);
  return r;
}

double rel_error(const Tensor& a, const Tensor& b) {
  const Tensor fa = a.dtype() == DType::kF32 ? a : a.to_f32();
  const Tensor fb = b.dtype() == DType::kF32 ? b : b.to_f32();
  if (fa.numel() != fb.numel()) return INFINITY;
  double num = 0, den = 0;
  for (int64_t i = 0; i < fa.numel(); ++i) {
    const double d = double(fa.data<float>()[i]) - double(fb.data<float>()[i]);
    num += d * d;
    den += double(fb.data<float>()[i]) * fb.data<float>()[i];
  }
  return std::sqrt(num) / std::sqrt(den);
}

}  // namespace hark::testing
