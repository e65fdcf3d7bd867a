#include "datasets/image_folder.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "datasets/image_io.h"

namespace normlab {

namespace {

struct Item {
  std::filesystem::path path;
  std::int64_t label;
};

std::vector<std::filesystem::path> sorted_children(const std::filesystem::path& dir, bool dirs) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.') {
      continue;
    }
    if (dirs ? e.is_directory() : (e.is_regular_file() && is_image_file(e.path()))) {
      out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> class_folders(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& p : sorted_children(dir, true)) {
    names.push_back(p.filename().string());
  }
  if (names.empty()) {
    throw IoError(fmt::format("folder: {} has no class folders (expected {}/<class>/<image>)",
                              dir.string(), dir.string()));
  }
  return names;
}

std::vector<Item> list_items(const std::filesystem::path& dir,
                             const std::vector<std::string>& classes) {
  std::vector<Item> items;
  for (const auto& p : sorted_children(dir, true)) {
    const std::string name = p.filename().string();
    const auto it = std::find(classes.begin(), classes.end(), name);
    if (it == classes.end()) {
      throw IoError(
          fmt::format("folder: {} is a class that the training split does not have", p.string()));
    }
    const std::vector<std::filesystem::path> files = sorted_children(p, false);
    if (files.empty()) {
      throw IoError(fmt::format("folder: {} has no images (.png, .jpg, .jpeg, .bmp)", p.string()));
    }
    for (const auto& f : files) {
      items.push_back({f, it - classes.begin()});
    }
  }
  return items;
}

Image load_one(const Item& item, const FolderOptions& o) {
  Image img = read_image(item.path, o.channels);
  if (o.size == 0) {
    return img;
  }
  return o.resize == FolderResize::stretch ? resize_image(img, o.size, o.size)
                                           : resize_center_crop(img, o.size);
}

// Decodes every item (in parallel over images when there are many) into one dataset.
Dataset load_items(std::string name, const std::vector<Item>& items,
                   const std::vector<std::string>& classes, const FolderOptions& o, std::int64_t H,
                   std::int64_t W) {
  const std::int64_t n = static_cast<std::int64_t>(items.size());
  Dataset d = make_dataset(std::move(name), n, o.channels, H, W, classes);
  const std::int64_t chw = std::int64_t{o.channels} * H * W;
  std::vector<std::string> errors(items.size());
#pragma omp parallel for schedule(dynamic, 16) if (n > 64)
  for (std::int64_t i = 0; i < n; ++i) {
    const Item& item = items[static_cast<std::size_t>(i)];
    try {
      const Image img = load_one(item, o);
      if (img.H != H || img.W != W) {
        errors[static_cast<std::size_t>(i)] = fmt::format(
            "folder: {} is {}x{} but the first image is {}x{}; pass an image size to resize",
            item.path.string(), img.H, img.W, H, W);
        continue;
      }
      std::memcpy(d.images.data_ptr<std::uint8_t>() + i * chw, img.pixels.data(),
                  static_cast<std::size_t>(chw));
      d.labels.data_ptr<std::int64_t>()[i] = item.label;
    } catch (const std::exception& e) {
      errors[static_cast<std::size_t>(i)] = e.what();
    }
  }
  for (const std::string& e : errors) {
    if (!e.empty()) {
      throw IoError(e);
    }
  }
  return d;
}

}  // namespace

bool is_image_file(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

DatasetSplits load_image_folder(const std::filesystem::path& root, const FolderOptions& options) {
  if (options.channels != 1 && options.channels != 3) {
    throw ValueError(fmt::format("folder: channels must be 1 or 3, got {}", options.channels));
  }
  if (options.size < 0) {
    throw ValueError(fmt::format("folder: image size must be >= 0, got {}", options.size));
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(root, ec)) {
    throw IoError(fmt::format("folder: {}: no such folder", root.string()));
  }
  std::filesystem::path train_dir = root;
  std::filesystem::path test_dir;
  if (std::filesystem::is_directory(root / "train", ec)) {
    train_dir = root / "train";
    for (const char* name : {"test", "val"}) {
      if (std::filesystem::is_directory(root / name, ec)) {
        test_dir = root / name;
        break;
      }
    }
  }
  DatasetSplits s;
  s.class_names = class_folders(train_dir);
  const std::vector<Item> train = list_items(train_dir, s.class_names);
  const std::vector<Item> test =
      test_dir.empty() ? std::vector<Item>{} : list_items(test_dir, s.class_names);
  // The first training image fixes the size when images keep their own.
  std::int64_t H = options.size;
  std::int64_t W = options.size;
  if (options.size == 0) {
    const Image first = read_image(train.front().path, options.channels);
    H = first.H;
    W = first.W;
  }
  const std::string base =
      root.filename().empty() ? root.parent_path().filename().string() : root.filename().string();
  s.train = load_items(fmt::format("folder {} train", base), train, s.class_names, options, H, W);
  s.test = load_items(fmt::format("folder {} test", base), test, s.class_names, options, H, W);
  return s;
}

}  // namespace normlab
