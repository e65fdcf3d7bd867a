// core/safetensors.h: the safetensors format (huggingface/safetensors), so that weights open in
// the wider ecosystem. A file is
//   8 bytes    N, the header length, unsigned little-endian
//   N bytes    a JSON object, padded with spaces to a multiple of 8:
//                {"__metadata__": {"k": "v", ...},
//                 "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
//   the rest   the byte buffer: each tensor's raw little-endian elements, row-major, at
//              [begin, end) relative to the buffer's start
// Supported dtypes: F32, F64, U8, I32, I64. Tensors are written largest element first, then by
// name (as the reference writer does), so every tensor is aligned to its element size.
// Reading checks everything before trusting it: the header length (against the file size and a
// 100 MB bound, before allocating), the JSON, each entry's dtype, shape and offsets (in range,
// end − begin = numel · element size, no gaps or overlaps, covering the buffer) and the metadata
// (strings only). The first problem is an IoError naming the file and the byte offset or tensor.
#pragma once

#include <cstddef>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"

namespace normlab {

using TensorMap = std::map<std::string, Tensor>;         // same type as Module's StateDict
using MetadataMap = std::map<std::string, std::string>;  // the "__metadata__" entry

struct Safetensors {
  TensorMap tensors;
  MetadataMap metadata;
};

// The reference implementation's bound on N.
inline constexpr std::uint64_t kSafetensorsMaxHeader = 100'000'000;

// Writes atomically (core/atomic_file.h): a crash leaves the old file or the new one.
// ValueError for a name "__metadata__" or a name or metadata that is not valid UTF-8;
// DTypeError for a dtype outside the list above.
void write_safetensors(const std::string& path, const TensorMap& tensors,
                       const MetadataMap& metadata = {});
Safetensors read_safetensors(const std::string& path);

// In-memory forms of the same format. `name` is used in error messages in place of a path.
std::vector<std::byte> safetensors_to_bytes(const TensorMap& tensors,
                                            const MetadataMap& metadata = {});
Safetensors safetensors_from_bytes(std::span<const std::byte> bytes,
                                   std::string_view name = "<memory>");

}  // namespace normlab
