#include "core/safetensors.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/atomic_file.h"
#include "core/error.h"

namespace normlab {

namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian data; this host needs byte swapping added");

using Json = nlohmann::json;
using ByteSink = std::function<void(std::span<const std::byte>)>;

struct DTypeCode {
  DType dtype;
  std::string_view code;
};
constexpr std::array<DTypeCode, 5> kDTypeCodes = {{{DType::f32, "F32"},
                                                   {DType::f64, "F64"},
                                                   {DType::u8, "U8"},
                                                   {DType::i32, "I32"},
                                                   {DType::i64, "I64"}}};
static_assert(kDTypeCodes.size() == 5, "one safetensors code per normlab dtype");

std::string_view code_of(DType dtype) {
  for (const DTypeCode& c : kDTypeCodes) {
    if (c.dtype == dtype) {
      return c.code;
    }
  }
  throw DTypeError(fmt::format("safetensors: dtype {} has no safetensors code", dtype_name(dtype)));
}

std::optional<DType> dtype_of_code(std::string_view code) {
  for (const DTypeCode& c : kDTypeCodes) {
    if (c.code == code) {
      return c.dtype;
    }
  }
  return std::nullopt;
}

std::byte* bytes_of(Tensor& t) {
  return visit_dtype(t.dtype(),
                     [&]<class T>() { return reinterpret_cast<std::byte*>(t.data<T>().data()); });
}

const std::byte* bytes_of(const Tensor& t) {
  return bytes_of(const_cast<Tensor&>(t));
}

std::uint64_t nbytes_of(const Tensor& t) {
  return static_cast<std::uint64_t>(t.numel()) * dtype_size(t.dtype());
}

// ---- writing ----

// The header (padded to a multiple of 8) and the tensors, contiguous, in buffer order.
struct Layout {
  std::string header;
  std::vector<Tensor> tensors;
};

Layout plan(std::string_view where, const TensorMap& tensors, const MetadataMap& metadata) {
  std::vector<std::pair<std::string, Tensor>> order;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__") {
      throw ValueError(fmt::format("safetensors: {}: '__metadata__' cannot name a tensor", where));
    }
    if (!t.defined()) {
      throw ValueError(fmt::format("safetensors: {}: tensor '{}' is undefined", where, name));
    }
    code_of(t.dtype());  // DTypeError now, before anything is written
    order.emplace_back(name, t.contiguous());
  }
  // Largest element first, then by name: every tensor starts aligned to its element size.
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return dtype_size(a.second.dtype()) > dtype_size(b.second.dtype());
  });
  Json header = Json::object();
  if (!metadata.empty()) {
    header["__metadata__"] = metadata;
  }
  Layout layout;
  std::uint64_t offset = 0;
  for (auto& [name, t] : order) {
    const std::uint64_t end = offset + nbytes_of(t);
    header[name] = {
        {"dtype", code_of(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {offset, end}}};
    offset = end;
    layout.tensors.push_back(std::move(t));
  }
  try {
    layout.header = header.dump();
  } catch (const Json::exception& e) {
    throw ValueError(fmt::format(
        "safetensors: {}: a tensor name or metadata is not valid UTF-8 ({})", where, e.what()));
  }
  layout.header.append((8 - layout.header.size() % 8) % 8, ' ');
  return layout;
}

void emit(const Layout& layout, const ByteSink& sink) {
  std::array<std::byte, 8> length{};
  const std::uint64_t n = layout.header.size();
  std::memcpy(length.data(), &n, sizeof n);
  sink(length);
  sink(std::as_bytes(std::span(layout.header)));
  for (const Tensor& t : layout.tensors) {
    sink({bytes_of(t), static_cast<std::size_t>(nbytes_of(t))});
  }
}

// ---- reading ----

struct Entry {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
  std::uint64_t begin = 0;  // relative to the buffer
  std::uint64_t end = 0;
};

struct Header {
  std::vector<Entry> entries;  // sorted by begin
  MetadataMap metadata;
  std::uint64_t buffer_start = 0;  // 8 + N, the file offset of the buffer
};

[[noreturn]] void fail(std::string_view source, const std::string& what) {
  throw IoError(fmt::format("safetensors: {}: {}", source, what));
}

// N from the first 8 bytes, checked against the file size before anything is allocated.
std::uint64_t header_length(std::string_view source, std::span<const std::byte> first,
                            std::uint64_t file_size) {
  if (file_size < 8) {
    fail(source, fmt::format("file is {} bytes, shorter than the 8-byte header length", file_size));
  }
  std::uint64_t n = 0;
  std::memcpy(&n, first.data(), sizeof n);
  if (n > kSafetensorsMaxHeader) {
    fail(source, fmt::format("header length {} at byte 0 exceeds the {}-byte limit", n,
                             kSafetensorsMaxHeader));
  }
  if (n > file_size - 8) {
    fail(source, fmt::format("header length {} at byte 0 runs past the end of the {}-byte file "
                             "(truncated?)",
                             n, file_size));
  }
  return n;
}

[[noreturn]] void fail_entry(std::string_view source, const std::string& name,
                             const std::string& what) {
  fail(source, fmt::format("tensor '{}': {}", name, what));
}

// buffer_start: the file offset of the buffer (8 + N); buffer_size: its length in bytes.
Entry parse_entry(std::string_view source, const std::string& name, const Json& v,
                  std::uint64_t buffer_start, std::uint64_t buffer_size) {
  if (!v.is_object()) {
    fail_entry(source, name, "entry is not a JSON object");
  }
  for (const auto& [key, unused] : v.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets") {
      fail_entry(source, name, fmt::format("unknown field '{}'", key));
    }
  }
  if (!v.contains("dtype") || !v["dtype"].is_string()) {
    fail_entry(source, name, "missing or non-string 'dtype'");
  }
  const std::string code = v["dtype"].get<std::string>();
  const std::optional<DType> dtype = dtype_of_code(code);
  if (!dtype) {
    fail_entry(source, name,
               fmt::format("unsupported dtype '{}' (normlab reads F32, F64, U8, I32, I64)", code));
  }
  Entry e;
  e.name = name;
  e.dtype = *dtype;
  if (!v.contains("shape") || !v["shape"].is_array()) {
    fail_entry(source, name, "missing or non-array 'shape'");
  }
  // Messages name the dimension, never dump() the JSON: dump recurses, and a header may nest
  // arrays a million deep.
  std::uint64_t numel = 1;
  for (const Json& d : v["shape"]) {
    if (!d.is_number_unsigned() ||
        d.get<std::uint64_t>() > std::uint64_t{std::numeric_limits<std::int64_t>::max()}) {
      fail_entry(source, name,
                 fmt::format("shape dimension {} is not a non-negative integer (a JSON {})",
                             e.shape.size(), d.type_name()));
    }
    const std::uint64_t dim = d.get<std::uint64_t>();
    e.shape.push_back(static_cast<std::int64_t>(dim));
    if (dim != 0 && numel > buffer_size / dim) {
      fail_entry(
          source, name,
          fmt::format("shape {}{} holds more elements than the {}-byte buffer", to_string(e.shape),
                      e.shape.size() < v["shape"].size() ? "..." : "", buffer_size));
    }
    numel *= dim;
  }
  const Json* off = v.contains("data_offsets") ? &v["data_offsets"] : nullptr;
  if (off == nullptr || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned()) {
    fail_entry(source, name, "'data_offsets' is not a pair of non-negative integers");
  }
  e.begin = (*off)[0].get<std::uint64_t>();
  e.end = (*off)[1].get<std::uint64_t>();
  if (e.begin > e.end || e.end > buffer_size) {
    fail_entry(source, name,
               fmt::format("data_offsets [{}, {}) lie outside the {}-byte buffer (file bytes "
                           "{}..{}; truncated?)",
                           e.begin, e.end, buffer_size, buffer_start, buffer_start + buffer_size));
  }
  const std::uint64_t want = numel * dtype_size(*dtype);
  if (e.end - e.begin != want) {
    fail_entry(source, name,
               fmt::format("data_offsets [{}, {}) span {} bytes but {} {} needs {}", e.begin, e.end,
                           e.end - e.begin, code, to_string(e.shape), want));
  }
  return e;
}

Header parse_header(std::string_view source, std::string_view text, std::uint64_t buffer_size) {
  Header h;
  h.buffer_start = 8 + text.size();
  Json j;
  try {
    j = Json::parse(text);
  } catch (const Json::parse_error& e) {
    fail(source, fmt::format("header is not valid JSON at byte {}: {}", 8 + e.byte - 1, e.what()));
  } catch (const Json::exception& e) {  // e.g. a number beyond double's range (out_of_range.406)
    fail(source, fmt::format("header at byte 8 is not valid JSON: {}", e.what()));
  }
  if (!j.is_object()) {
    fail(source, "header at byte 8 is not a JSON object");
  }
  for (const auto& [key, v] : j.items()) {
    if (key == "__metadata__") {
      if (!v.is_object()) {
        fail(source, "'__metadata__' is not a JSON object");
      }
      for (const auto& [mk, mv] : v.items()) {
        if (!mv.is_string()) {
          fail(source, fmt::format("metadata '{}' is not a string", mk));
        }
        h.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    h.entries.push_back(parse_entry(source, key, v, h.buffer_start, buffer_size));
  }
  // The tensors tile the buffer exactly: no overlap, no gap, nothing after the last one.
  std::stable_sort(h.entries.begin(), h.entries.end(),
                   [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  std::uint64_t at = 0;
  for (const Entry& e : h.entries) {
    if (e.begin != at) {
      fail(source,
           fmt::format("tensor '{}' starts at byte {} but the previous data ends at byte {} "
                       "({})",
                       e.name, h.buffer_start + e.begin, h.buffer_start + at,
                       e.begin < at ? "overlap" : "gap"));
    }
    at = e.end;
  }
  if (at != buffer_size) {
    fail(source, fmt::format("the tensors end at byte {} but the file has {} bytes",
                             h.buffer_start + at, h.buffer_start + buffer_size));
  }
  return h;
}

}  // namespace

void write_safetensors(const std::string& path, const TensorMap& tensors,
                       const MetadataMap& metadata) {
  const Layout layout = plan(path, tensors, metadata);
  AtomicFile file(path);
  emit(layout, [&](std::span<const std::byte> bytes) { file.write(bytes); });
  file.commit();
}

std::vector<std::byte> safetensors_to_bytes(const TensorMap& tensors, const MetadataMap& metadata) {
  const Layout layout = plan("<memory>", tensors, metadata);
  std::size_t total = 8 + layout.header.size();
  for (const Tensor& t : layout.tensors) {
    total += static_cast<std::size_t>(nbytes_of(t));
  }
  // Sized once and filled by offset: no reallocation while appending (which also keeps g++ 12's
  // -O3 stringop-overflow false positive on vector::insert away).
  std::vector<std::byte> out(total);
  std::size_t at = 0;
  emit(layout, [&](std::span<const std::byte> bytes) {
    std::copy(bytes.begin(), bytes.end(), out.begin() + static_cast<std::ptrdiff_t>(at));
    at += bytes.size();
  });
  return out;
}

Safetensors safetensors_from_bytes(std::span<const std::byte> bytes, std::string_view name) {
  const std::uint64_t n =
      header_length(name, bytes.first(std::min<std::size_t>(8, bytes.size())), bytes.size());
  const std::string_view text(reinterpret_cast<const char*>(bytes.data() + 8), n);
  const Header h = parse_header(name, text, bytes.size() - 8 - n);
  Safetensors out{.tensors = {}, .metadata = h.metadata};
  for (const Entry& e : h.entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    std::memcpy(bytes_of(t), bytes.data() + h.buffer_start + e.begin, e.end - e.begin);
    out.tensors.emplace(e.name, std::move(t));
  }
  return out;
}

Safetensors read_safetensors(const std::string& path) {
  std::error_code ec;
  const std::uint64_t size = std::filesystem::file_size(path, ec);
  std::ifstream in(path, std::ios::binary);
  if (ec || !in) {
    fail(path, fmt::format("cannot open for reading{}", ec ? ": " + ec.message() : ""));
  }
  std::array<std::byte, 8> first{};
  in.read(reinterpret_cast<char*>(first.data()),
          static_cast<std::streamsize>(std::min<std::uint64_t>(8, size)));
  const std::uint64_t n = header_length(path, first, size);
  std::string text(n, '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(n))) {
    fail(path, fmt::format("header truncated at byte {} (the file shrank while reading?)",
                           8 + in.gcount()));
  }
  const Header h = parse_header(path, text, size - 8 - n);
  Safetensors out{.tensors = {}, .metadata = h.metadata};
  for (const Entry& e : h.entries) {  // in buffer order: one forward pass over the file
    Tensor t = Tensor::empty(e.shape, e.dtype);
    if (!in.read(reinterpret_cast<char*>(bytes_of(t)),
                 static_cast<std::streamsize>(e.end - e.begin))) {
      fail(path,
           fmt::format("tensor '{}' truncated at byte {} (the file shrank while reading?)", e.name,
                       h.buffer_start + e.begin + static_cast<std::uint64_t>(in.gcount())));
    }
    out.tensors.emplace(e.name, std::move(t));
  }
  return out;
}

}  // namespace normlab
