// The safetensors format (huggingface/safetensors), read through a memory map:
//   u64 little-endian N | N bytes of JSON header | data section
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
// relative to the data section) and may hold "__metadata__": {string: string}.
//
// Every field is checked before it is used: N against the file size (and a 100 MB cap), the JSON,
// each dtype (F32, F16, BF16, I32, I64; others are kUnsupported), each shape against overflow, and
// each [begin, end) against the data section and the shape's byte size.
//
// Alignment: the format does not promise any. A tensor whose bytes sit at an address that is a
// multiple of its element size (always the case for files written by the safetensors library,
// which pads the header to 8 bytes) is a zero-copy view into the mapping; any other tensor is
// copied into an owned, 64-byte-aligned buffer, so that every Tensor::data<T>() is aligned for T.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor.h"

namespace hark::model {

struct SafetensorsWeights {
  std::map<std::string, Tensor> tensors;           // names as stored in the file(s)
  std::map<std::string, std::string> tensor_file;  // name -> path of the file holding it
  std::map<std::string, std::string> metadata;     // __metadata__, merged over shards
  std::vector<std::shared_ptr<MappedFile>> files;  // the mappings the views point into
};

// One .safetensors file. Errors (kInvalidModel, kUnsupported for dtypes) name the path and, where
// one is at fault, the tensor.
SafetensorsWeights read_safetensors(const std::string& path);

// A sharded checkpoint: model.safetensors.index.json ({"weight_map": {tensor: shard file}}), the
// shards being plain file names in the index's directory. Each shard is read once; every tensor
// the weight map names must be in the shard it names, and no tensor may be in two shards.
SafetensorsWeights read_sharded_safetensors(const std::string& index_path);

}  // namespace hark::model
