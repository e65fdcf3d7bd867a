#include "datasets/cifar.h"

#include <fmt/format.h>

#include <cstring>
#include <map>
#include <vector>

#include "core/error.h"
#include "datasets/file_reader.h"

namespace normlab {

namespace {

constexpr std::int64_t kPixels = std::int64_t{3} * 32 * 32;

struct CifarLayout {
  std::string_view name;  // "cifar10"
  std::string_view folder;
  std::vector<std::string> train_files;
  std::string test_file;
  std::string names_file;
  std::int64_t num_classes;
};

CifarLayout layout(CifarKind kind, Cifar100Labels labels) {
  switch (kind) {
    case CifarKind::cifar10:
      return {"cifar10",
              "cifar-10-batches-bin",
              {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
               "data_batch_5.bin"},
              "test_batch.bin",
              "batches.meta.txt",
              10};
    case CifarKind::cifar100:
      if (labels == Cifar100Labels::coarse) {
        return {"cifar100", "cifar-100-binary",       {"train.bin"},
                "test.bin", "coarse_label_names.txt", 20};
      }
      return {"cifar100", "cifar-100-binary",     {"train.bin"},
              "test.bin", "fine_label_names.txt", 100};
  }
  return {};
}

// The files of one dataset, by base name, read from a folder or an archive.
using FileSet = std::map<std::string, std::vector<std::uint8_t>, std::less<>>;

FileSet read_files(const CifarLayout& L, const std::filesystem::path& path) {
  std::vector<std::string> wanted = L.train_files;
  wanted.push_back(L.test_file);
  wanted.push_back(L.names_file);
  FileSet files;
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec)) {
    auto keep = [&](std::string_view name) {
      const std::string_view base = base_name(name);
      for (const std::string& w : wanted) {
        if (base == w && !files.contains(base)) {
          return true;
        }
      }
      return false;
    };
    for (TarEntry& e : read_tar("cifar", path, keep)) {
      files.emplace(std::string(base_name(e.name)), std::move(e.data));
    }
    for (const std::string& w : wanted) {
      if (!files.contains(w)) {
        throw IoError(
            fmt::format("cifar: archive {} has no {} (expected the {} binary version, {}/{})",
                        path.string(), w, L.name, L.folder, w));
      }
    }
    return files;
  }
  if (!std::filesystem::is_directory(path, ec)) {
    throw IoError(fmt::format("cifar: {}: no such folder or archive", path.string()));
  }
  std::filesystem::path dir = path;
  if (!std::filesystem::exists(dir / wanted.front(), ec) &&
      std::filesystem::is_directory(dir / L.folder, ec)) {
    dir /= L.folder;
  }
  if (!std::filesystem::exists(dir / wanted.front(), ec)) {
    throw IoError(
        fmt::format("cifar: {} has no {} (expected the extracted {} binary version, {}/; see "
                    "tools/download_cifar.py)",
                    path.string(), wanted.front(), L.name, L.folder));
  }
  for (const std::string& w : wanted) {
    files.emplace(w, read_file_bytes("cifar", dir / w));
  }
  return files;
}

std::vector<std::string> class_names(const CifarLayout& L, const FileSet& files) {
  std::vector<std::string> names = text_lines(files.find(L.names_file)->second);
  if (static_cast<std::int64_t>(names.size()) != L.num_classes) {
    throw IoError(fmt::format("cifar: {}: has {} class names, expected {}", L.names_file,
                              names.size(), L.num_classes));
  }
  return names;
}

std::int64_t count_records(CifarKind kind, std::string_view file, std::size_t nbytes) {
  const std::int64_t rb = cifar_record_bytes(kind);
  const std::int64_t size = static_cast<std::int64_t>(nbytes);
  if (size == 0) {
    throw IoError(fmt::format("cifar: {}: file is empty (need {} bytes per record)", file, rb));
  }
  if (size % rb != 0) {
    throw IoError(
        fmt::format("cifar: {}: record {} truncated at byte {} (need {} bytes per record)", file,
                    size / rb, size / rb * rb, rb));
  }
  return size / rb;
}

Dataset load_split(CifarKind kind, Cifar100Labels labels, const CifarLayout& L,
                   const std::vector<std::string>& file_names, const FileSet& files,
                   const std::vector<std::string>& names, std::string_view split) {
  std::int64_t n = 0;
  for (const std::string& f : file_names) {
    n += count_records(kind, f, files.find(f)->second.size());
  }
  Dataset d = make_dataset(fmt::format("{} {}", L.name, split), n, 3, 32, 32, names);
  std::int64_t first = 0;
  for (const std::string& f : file_names) {
    first += parse_cifar_records(kind, labels, f, files.find(f)->second, d, first);
  }
  return d;
}

}  // namespace

std::int64_t cifar_record_bytes(CifarKind kind) {
  return kind == CifarKind::cifar10 ? 1 + kPixels : 2 + kPixels;
}

std::int64_t parse_cifar_records(CifarKind kind, Cifar100Labels labels, std::string_view file,
                                 std::span<const std::uint8_t> bytes, Dataset& out,
                                 std::int64_t first) {
  const std::int64_t rb = cifar_record_bytes(kind);
  const std::int64_t n = count_records(kind, file, bytes.size());
  if (first < 0 || first + n > out.size() ||
      out.channels() * out.height() * out.width() != kPixels) {
    throw ShapeError(fmt::format("cifar: {}: {} records do not fit at image {} ({})", file, n,
                                 first, describe("images", out.images)));
  }
  const std::int64_t label_bytes = rb - kPixels;
  const std::int64_t K = kind == CifarKind::cifar10 ? 10 : 100;
  std::uint8_t* x = out.images.data_ptr<std::uint8_t>() + first * kPixels;
  std::int64_t* y = out.labels.data_ptr<std::int64_t>() + first;
  for (std::int64_t r = 0; r < n; ++r) {
    const std::uint8_t* rec = bytes.data() + r * rb;
    // CIFAR-100: byte 0 is the coarse label (20 superclasses), byte 1 the fine label (100).
    for (std::int64_t b = 0; b < label_bytes; ++b) {
      const std::int64_t limit = (kind == CifarKind::cifar100 && b == 0) ? 20 : K;
      if (rec[b] >= limit) {
        throw IoError(fmt::format("cifar: {}: record {} has label {} at byte {} (labels are 0..{})",
                                  file, r, rec[b], r * rb + b, limit - 1));
      }
    }
    y[r] = (kind == CifarKind::cifar100 && labels == Cifar100Labels::fine) ? rec[1] : rec[0];
    std::memcpy(x + r * kPixels, rec + label_bytes, kPixels);  // planar R, G, B = (C, H, W)
  }
  return n;
}

DatasetSplits load_cifar(CifarKind kind, const std::filesystem::path& path, Cifar100Labels labels) {
  const CifarLayout L = layout(kind, labels);
  const FileSet files = read_files(L, path);
  DatasetSplits s;
  s.class_names = class_names(L, files);
  s.train = load_split(kind, labels, L, L.train_files, files, s.class_names, "train");
  s.test = load_split(kind, labels, L, {L.test_file}, files, s.class_names, "test");
  return s;
}

}  // namespace normlab
