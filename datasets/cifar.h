// datasets/cifar.h: CIFAR-10 and CIFAR-100, binary version, exactly as the official archives ship
// them (https://www.cs.toronto.edu/~kriz/cifar.html). One record of CIFAR-10 is 1 label byte then
// 3072 pixel bytes: 1024 red, 1024 green, 1024 blue, each a row-major 32×32 plane, which is
// already our planar (C, H, W) layout. CIFAR-100 records start with a coarse and a fine label byte.
// Read from the extracted folder (cifar-10-batches-bin/, cifar-100-binary/) or from the .tar.gz.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "datasets/dataset.h"

namespace normlab {

enum class CifarKind : std::uint8_t { cifar10, cifar100 };
enum class Cifar100Labels : std::uint8_t { fine, coarse };  // which label byte becomes the label

// The whole dataset: CIFAR-10 train = data_batch_1..5.bin, test = test_batch.bin, class names
// from batches.meta.txt; CIFAR-100 train.bin / test.bin, names from fine_label_names.txt (or
// coarse_label_names.txt). `path` is the extracted folder, its parent, or the .tar.gz archive.
// IoError names the file and the record for a truncated file or a label out of range.
DatasetSplits load_cifar(CifarKind kind, const std::filesystem::path& path,
                         Cifar100Labels labels = Cifar100Labels::fine);

// Parses the records of one batch file held in memory into out.images/out.labels starting at
// image `first`; `file` names the file in errors. Returns the number of records. For tests and
// for callers with their own storage.
std::int64_t parse_cifar_records(CifarKind kind, Cifar100Labels labels, std::string_view file,
                                 std::span<const std::uint8_t> bytes, Dataset& out,
                                 std::int64_t first);

// Bytes per record: 3073 (CIFAR-10) or 3074 (CIFAR-100).
std::int64_t cifar_record_bytes(CifarKind kind);

}  // namespace normlab
