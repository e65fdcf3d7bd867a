// datasets/image_folder.h: image classification folders, like torchvision's ImageFolder.
// Layouts: root/<split>/<class>/<image> with split "train" and "test" (or "val"), or
// root/<class>/<image> (everything is the training split; the test split is empty). Class names
// are the sorted class folder names. Images (PNG, JPEG, BMP) are decoded with stb_image.
#pragma once

#include <cstdint>
#include <filesystem>

#include "datasets/dataset.h"

namespace normlab {

enum class FolderResize : std::uint8_t {
  center_crop,  // shorter side to `size`, then the centered size × size window
  stretch,      // both sides to `size`, ignoring the aspect ratio
};

struct FolderOptions {
  std::int64_t size = 0;  // 0: keep the images' own size (all must then be the same size)
  int channels = 3;       // 3: RGB, 1: gray
  FolderResize resize = FolderResize::center_crop;
};

// IoError for a missing or empty root, a class folder with no images, an image stb cannot
// decode, or (size = 0) images of different sizes; each names the folder or file.
DatasetSplits load_image_folder(const std::filesystem::path& root,
                                const FolderOptions& options = {});

// True for the file names load_image_folder reads: .png, .jpg, .jpeg, .bmp in any case.
bool is_image_file(const std::filesystem::path& path);

}  // namespace normlab
