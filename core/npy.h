// core/npy.h: NumPy .npy files (format versions 1.0, 2.0 and 3.0), read and written whole.
// Format (numpy.lib.format): magic "\x93NUMPY", major, minor, header length (uint16 LE for 1.0,
// uint32 LE for 2.0/3.0), then a Python dict literal
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// padded with spaces and '\n' so the data starts on a 64-byte boundary, then the raw elements.
// Supported: little-endian '<f4' '<f8' '|u1' '<i4' '<i8' (f32 f64 u8 i32 i64), C order.
// Everything else (big endian, fortran_order True, other dtypes, a malformed header, a bad magic,
// data shorter or longer than the shape says) is an IoError naming the file and the reason, raised
// before the data buffer is allocated.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"

namespace normlab {

// Reads a whole .npy file into a new contiguous tensor.
Tensor read_npy(const std::string& path);
// Writes t (any strides; written in C order) to path through a temporary file and a rename.
void write_npy(const std::string& path, const Tensor& t);

// In-memory forms of the same format. `name` is used in error messages in place of a path.
Tensor npy_from_bytes(std::span<const std::byte> bytes, std::string_view name = "<memory>");
std::vector<std::byte> npy_to_bytes(const Tensor& t);

}  // namespace normlab
