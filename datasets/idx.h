// datasets/idx.h: the IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/),
// gzip-compressed or plain. A file is a magic number 00 00 <type> <ndim>, ndim big-endian uint32
// dimensions, then the values row-major. Images are (N, H, W) unsigned bytes (magic 0x00000803),
// labels (N) unsigned bytes (magic 0x00000801).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "datasets/dataset.h"

namespace normlab {

// Debian's dataset-fashion-mnist package puts the four .gz files here.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// A u8 tensor with the file's dimensions. IoError naming the file for a wrong magic number, a
// value type other than unsigned byte, a zero or truncated dimension list, or a size that does
// not match the dimensions (truncated or with trailing bytes).
Tensor read_idx(const std::filesystem::path& path);

// One split from an images file (N, H, W) and a labels file (N): images become (N, 1, H, W).
// Checks the ndims, that both counts match, and that every label is below class_names.size().
Dataset load_idx_pair(std::string name, const std::filesystem::path& images,
                      const std::filesystem::path& labels, std::vector<std::string> class_names);

// MNIST or Fashion-MNIST from a folder holding {train,t10k}-{images-idx3,labels-idx1}-ubyte,
// each optionally .gz (train-images.idx3-ubyte style names are accepted too).
DatasetSplits load_mnist(const std::filesystem::path& dir);
DatasetSplits load_fashion_mnist(const std::filesystem::path& dir = kFashionMnistDir);

std::vector<std::string> fashion_mnist_class_names();  // T-shirt/top, Trouser, ... Ankle boot
std::vector<std::string> mnist_class_names();          // "0" ... "9"

}  // namespace normlab
