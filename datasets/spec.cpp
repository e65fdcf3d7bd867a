#include "datasets/spec.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "core/error.h"
#include "datasets/idx.h"

namespace normlab {

namespace {

constexpr std::string_view kUsage =
    "fashion-mnist [DIR], mnist DIR, cifar10 DIR|ARCHIVE, cifar100 DIR|ARCHIVE, folder DIR";

struct Alias {
  std::string_view name;
  DatasetKind kind;
};
constexpr Alias kAliases[] = {
    {"fashion-mnist", DatasetKind::fashion_mnist},
    {"fashion_mnist", DatasetKind::fashion_mnist},
    {"fashionmnist", DatasetKind::fashion_mnist},
    {"mnist", DatasetKind::mnist},
    {"cifar10", DatasetKind::cifar10},
    {"cifar-10", DatasetKind::cifar10},
    {"cifar100", DatasetKind::cifar100},
    {"cifar-100", DatasetKind::cifar100},
    {"folder", DatasetKind::folder},
    {"imagefolder", DatasetKind::folder},
};

std::string_view trim(std::string_view s) {
  const auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!s.empty() && space(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && space(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

std::string_view dataset_kind_name(DatasetKind kind) {
  return kDatasetKindNames[static_cast<std::size_t>(kind)];
}

DatasetSpec parse_dataset_spec(std::string_view text) {
  const std::string_view t = trim(text);
  const std::size_t sep = t.find_first_of(": \t");
  std::string name(t.substr(0, sep));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const std::string_view path = sep == std::string_view::npos ? "" : trim(t.substr(sep + 1));
  const auto* alias = std::find_if(std::begin(kAliases), std::end(kAliases),
                                   [&](const Alias& a) { return a.name == name; });
  if (alias == std::end(kAliases)) {
    throw ValueError(
        fmt::format("dataset spec: unknown dataset '{}' in '{}' (known: {})", name, text, kUsage));
  }
  DatasetSpec spec{alias->kind, std::string(path)};
  if (spec.path.empty() && spec.kind != DatasetKind::fashion_mnist) {
    throw ValueError(fmt::format("dataset spec: '{}' needs a path, e.g. '{} DIR' (known: {})", text,
                                 dataset_kind_name(spec.kind), kUsage));
  }
  return spec;
}

std::string to_string(const DatasetSpec& spec) {
  if (spec.path.empty()) {
    return std::string(dataset_kind_name(spec.kind));
  }
  return fmt::format("{} {}", dataset_kind_name(spec.kind), spec.path);
}

DatasetSplits load_dataset(const DatasetSpec& spec, const DatasetLoadOptions& options) {
  switch (spec.kind) {
    case DatasetKind::fashion_mnist:
      if (spec.path.empty()) {
        std::error_code ec;
        if (!std::filesystem::is_directory(kFashionMnistDir, ec)) {
          throw IoError(
              fmt::format("fashion-mnist: {} not found; install it with 'apt-get install "
                          "dataset-fashion-mnist' or pass 'fashion-mnist DIR'",
                          kFashionMnistDir));
        }
        return load_fashion_mnist(kFashionMnistDir);
      }
      return load_fashion_mnist(spec.path);
    case DatasetKind::mnist:
      return load_mnist(spec.path);
    case DatasetKind::cifar10:
      return load_cifar(CifarKind::cifar10, spec.path);
    case DatasetKind::cifar100:
      return load_cifar(CifarKind::cifar100, spec.path, options.cifar100_labels);
    case DatasetKind::folder:
      return load_image_folder(spec.path, options.folder);
  }
  throw ValueError("dataset spec: unknown dataset kind");
}

DatasetSplits load_dataset(std::string_view spec, const DatasetLoadOptions& options) {
  return load_dataset(parse_dataset_spec(spec), options);
}

}  // namespace normlab
