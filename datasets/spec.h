// datasets/spec.h: one text form for every dataset normlab reads, as the CLI's --data takes it:
//   fashion-mnist [DIR]        IDX files; no DIR: Debian's dataset-fashion-mnist package
//   mnist DIR                  IDX files, gzip-compressed or plain
//   cifar10 DIR|ARCHIVE        cifar-10-batches-bin/ or cifar-10-binary.tar.gz
//   cifar100 DIR|ARCHIVE       cifar-100-binary/ or cifar-100-binary.tar.gz (fine labels)
//   folder DIR                 DIR/[train|test/]<class>/<image>
// The name and path are separated by spaces or one ':' ("cifar10:data/cifar-10-batches-bin").
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "datasets/cifar.h"
#include "datasets/dataset.h"
#include "datasets/image_folder.h"

namespace normlab {

enum class DatasetKind : std::uint8_t { fashion_mnist, mnist, cifar10, cifar100, folder };

inline constexpr std::array<std::string_view, 5> kDatasetKindNames = {
    "fashion-mnist", "mnist", "cifar10", "cifar100", "folder"};
static_assert(kDatasetKindNames.size() == static_cast<std::size_t>(DatasetKind::folder) + 1,
              "one name per DatasetKind");

std::string_view dataset_kind_name(DatasetKind kind);

struct DatasetSpec {
  DatasetKind kind = DatasetKind::fashion_mnist;
  std::string path;  // empty only for fashion-mnist (the Debian package's folder)
};

// ValueError naming the text for an unknown name or a missing path.
DatasetSpec parse_dataset_spec(std::string_view text);
std::string to_string(const DatasetSpec& spec);  // "cifar10 /data/cifar-10-batches-bin"

struct DatasetLoadOptions {
  FolderOptions folder{};  // image size, channels for `folder`
  Cifar100Labels cifar100_labels = Cifar100Labels::fine;
};

// Train and test splits and class names of the dataset a spec names.
DatasetSplits load_dataset(const DatasetSpec& spec, const DatasetLoadOptions& options = {});
DatasetSplits load_dataset(std::string_view spec, const DatasetLoadOptions& options = {});

}  // namespace normlab
