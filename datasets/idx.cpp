#include "datasets/idx.h"

#include <fmt/format.h>

#include <cstring>
#include <limits>

#include "core/error.h"
#include "datasets/file_reader.h"

namespace normlab {

namespace {

std::uint32_t big_endian_u32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

std::string_view idx_type_name(std::uint8_t type) {
  switch (type) {
    case 0x08:
      return "unsigned byte";
    case 0x09:
      return "signed byte";
    case 0x0B:
      return "int16";
    case 0x0C:
      return "int32";
    case 0x0D:
      return "float32";
    case 0x0E:
      return "float64";
    default:
      return "unknown";
  }
}

// The first of the names that exists in dir, else an IoError listing what was looked for.
std::filesystem::path find_idx_file(const std::filesystem::path& dir, const std::string& stem) {
  // "train-images-idx3-ubyte" also ships as "train-images.idx3-ubyte".
  std::string dotted = stem;
  const std::size_t dash = dotted.find("-idx");
  if (dash != std::string::npos) {
    dotted[dash] = '.';
  }
  const std::string candidates[] = {stem + ".gz", stem, dotted + ".gz", dotted};
  std::error_code ec;
  for (const std::string& c : candidates) {
    if (std::filesystem::is_regular_file(dir / c, ec)) {
      return dir / c;
    }
  }
  throw IoError(fmt::format("idx: {} has no {} (nor {}.gz)", dir.string(), stem, stem));
}

DatasetSplits load_idx_splits(std::string_view name, const std::filesystem::path& dir,
                              const std::vector<std::string>& names) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    throw IoError(fmt::format("{}: {}: no such folder", name, dir.string()));
  }
  DatasetSplits s;
  s.class_names = names;
  // Looked up one by one so that a missing file is reported in a fixed order.
  const auto train_images = find_idx_file(dir, "train-images-idx3-ubyte");
  const auto train_labels = find_idx_file(dir, "train-labels-idx1-ubyte");
  const auto test_images = find_idx_file(dir, "t10k-images-idx3-ubyte");
  const auto test_labels = find_idx_file(dir, "t10k-labels-idx1-ubyte");
  s.train = load_idx_pair(fmt::format("{} train", name), train_images, train_labels, names);
  s.test = load_idx_pair(fmt::format("{} test", name), test_images, test_labels, names);
  return s;
}

}  // namespace

Tensor read_idx(const std::filesystem::path& path) {
  const std::vector<std::uint8_t> bytes = read_maybe_gzip("idx", path);
  const std::string file = path.string();
  if (bytes.size() < 4) {
    throw IoError(fmt::format("idx: {}: truncated at byte {} (the magic number needs 4 bytes)",
                              file, bytes.size()));
  }
  const std::uint32_t magic = big_endian_u32(bytes.data());
  if (bytes[0] != 0 || bytes[1] != 0) {
    throw IoError(
        fmt::format("idx: {}: bad magic number 0x{:08X} (an IDX file starts with 00 00 "
                    "<type> <ndim>; is it gzip-compressed twice or another format?)",
                    file, magic));
  }
  if (bytes[2] != 0x08) {
    throw IoError(
        fmt::format("idx: {}: magic number 0x{:08X} has value type 0x{:02X} ({}); only "
                    "unsigned byte (0x08) images and labels are supported",
                    file, magic, bytes[2], idx_type_name(bytes[2])));
  }
  const std::size_t ndim = bytes[3];
  if (ndim == 0) {
    throw IoError(fmt::format("idx: {}: magic number 0x{:08X} declares 0 dimensions", file, magic));
  }
  const std::size_t header = 4 + 4 * ndim;
  if (bytes.size() < header) {
    throw IoError(
        fmt::format("idx: {}: truncated at byte {} in the dimension list (needs {} bytes)", file,
                    bytes.size(), header));
  }
  // The product of the dimensions is formed with an overflow check, so that dimensions whose
  // product overflows (2^16 four times is 2^64, i.e. 0) cannot pass for a match.
  Shape shape;
  std::uint64_t count = 1;
  const std::uint64_t have = bytes.size() - header;
  bool has_zero = false;
  bool too_large = false;
  for (std::size_t d = 0; d < ndim; ++d) {
    const std::uint32_t n = big_endian_u32(bytes.data() + 4 + 4 * d);
    shape.push_back(n);
    has_zero = has_zero || n == 0;
    if (n != 0 && count > std::numeric_limits<std::uint64_t>::max() / n) {
      too_large = true;
    } else {
      count *= n;
    }
  }
  if (has_zero) {
    count = 0;
  } else if (too_large) {
    throw IoError(fmt::format(
        "idx: {}: truncated at byte {}: dimensions {} need more data bytes than the {} found after "
        "the {}-byte header",
        file, bytes.size(), to_string(shape), have, header));
  }
  if (have != count) {
    throw IoError(fmt::format(
        "idx: {}: {} at byte {}: dimensions {} need {} data bytes after the {}-byte header, "
        "found {}",
        file, have < count ? "truncated" : "trailing bytes",
        have < count ? bytes.size() : header + count, to_string(shape), count, header, have));
  }
  Tensor t = Tensor::empty(shape, DType::u8);
  if (count > 0) {
    std::memcpy(t.data_ptr<std::uint8_t>(), bytes.data() + header, count);
  }
  return t;
}

Dataset load_idx_pair(std::string name, const std::filesystem::path& images,
                      const std::filesystem::path& labels, std::vector<std::string> class_names) {
  const Tensor x = read_idx(images);
  const Tensor y = read_idx(labels);
  if (x.ndim() != 3) {
    throw IoError(fmt::format("idx: {}: images need 3 dimensions (N, H, W), found {}",
                              images.string(), to_string(x.shape())));
  }
  if (y.ndim() != 1) {
    throw IoError(fmt::format("idx: {}: labels need 1 dimension (N), found {}", labels.string(),
                              to_string(y.shape())));
  }
  if (x.dim(0) != y.dim(0)) {
    throw IoError(fmt::format("idx: {} has {} images but {} has {} labels", images.string(),
                              x.dim(0), labels.string(), y.dim(0)));
  }
  const std::int64_t N = x.dim(0);
  const std::int64_t K = static_cast<std::int64_t>(class_names.size());
  Dataset d;
  d.name = std::move(name);
  d.images = x.view({N, 1, x.dim(1), x.dim(2)});
  d.labels = Tensor::empty({N}, DType::i64);
  d.class_names = std::move(class_names);
  const std::uint8_t* src = y.data_ptr<std::uint8_t>();
  std::int64_t* dst = d.labels.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < N; ++i) {
    if (src[i] >= K) {
      throw IoError(fmt::format("idx: {}: label {} of item {} at byte {} is out of range (0..{})",
                                labels.string(), src[i], i, 8 + i, K - 1));
    }
    dst[i] = src[i];
  }
  return d;
}

std::vector<std::string> fashion_mnist_class_names() {
  return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
          "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
}

std::vector<std::string> mnist_class_names() {
  return {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
}

DatasetSplits load_mnist(const std::filesystem::path& dir) {
  return load_idx_splits("mnist", dir, mnist_class_names());
}

DatasetSplits load_fashion_mnist(const std::filesystem::path& dir) {
  return load_idx_splits("fashion-mnist", dir, fashion_mnist_class_names());
}

}  // namespace normlab
