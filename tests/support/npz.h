// Reading numpy .npy arrays and .npz archives (a zip of .npy files, stored or deflated, zip64
// records included), for tests that compare against reference outputs saved from Python.
// Little-endian, C-order arrays only. Malformed input throws hark::Error(kInvalidArgument).
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace hark::testing {

struct NpyArray {
  std::string dtype;  // numpy's descr: "<f4", "<f2", "<i4", "<i8", "|u1", ...
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;  // C order, dtype's byte size x numel
  int64_t numel() const;
};

// One .npy file's bytes; `what` names it in messages.
NpyArray parse_npy(std::span<const uint8_t> bytes, const std::string& what);
// Every array of an .npz file, keyed by its name without ".npy" ("mel_80").
std::map<std::string, NpyArray> read_npz(const std::string& path);
// A CPU tensor copy: "<f4" -> kF32, "<f2" -> kF16, "<i4" -> kI32, "<i8" -> kI64, "|u1" -> kU8.
Tensor to_tensor(const NpyArray& array);

}  // namespace hark::testing
