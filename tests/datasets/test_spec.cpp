// The dataset spec parser: every form, the errors, and loading through it.
#include <stb/stb_image_write.h>

#include <catch2/catch.hpp>

#include "core/error.h"
#include "datasets/spec.h"
#include "tests/datasets/dataset_files.h"

using namespace normlab;
using namespace normlab::testing;
using Catch::Matchers::Contains;

TEST_CASE("dataset specs parse in their space and colon forms", "[spec]") {
  const DatasetSpec f = parse_dataset_spec("fashion-mnist");
  CHECK(f.kind == DatasetKind::fashion_mnist);
  CHECK(f.path.empty());
  CHECK(parse_dataset_spec("mnist /data/mnist").path == "/data/mnist");
  const DatasetSpec c = parse_dataset_spec("cifar10:data/cifar-10-batches-bin");
  CHECK(c.kind == DatasetKind::cifar10);
  CHECK(c.path == "data/cifar-10-batches-bin");
  const DatasetSpec h = parse_dataset_spec("  CIFAR100   my data/cifar-100-binary.tar.gz ");
  CHECK(h.kind == DatasetKind::cifar100);
  CHECK(h.path == "my data/cifar-100-binary.tar.gz");
  CHECK(parse_dataset_spec("folder ./imgs").kind == DatasetKind::folder);
  CHECK(parse_dataset_spec("cifar-10 x").kind == DatasetKind::cifar10);
  CHECK(to_string(c) == "cifar10 data/cifar-10-batches-bin");
  CHECK(to_string(f) == "fashion-mnist");
  for (std::size_t k = 0; k < kDatasetKindNames.size(); ++k) {
    CHECK(parse_dataset_spec(std::string(kDatasetKindNames[k]) + " p").kind ==
          static_cast<DatasetKind>(k));
  }
}

TEST_CASE("bad dataset specs are ValueErrors that list the known forms", "[spec][errors]") {
  REQUIRE_THROWS_AS(parse_dataset_spec("imagenet /x"), ValueError);
  REQUIRE_THROWS_WITH(parse_dataset_spec("imagenet /x"),
                      Contains("unknown dataset 'imagenet'") && Contains("cifar10 DIR|ARCHIVE"));
  REQUIRE_THROWS_WITH(parse_dataset_spec("mnist"), Contains("needs a path"));
  REQUIRE_THROWS_WITH(parse_dataset_spec("cifar10:"), Contains("needs a path"));
  REQUIRE_THROWS_WITH(parse_dataset_spec(""), Contains("unknown dataset"));
}

TEST_CASE("load_dataset follows the spec", "[spec]") {
  TempDir dir("spec");
  write_bytes(dir / "m/train-images-idx3-ubyte.gz", gzip_bytes(idx_bytes({2, 3, 3}, Bytes(18, 9))));
  write_bytes(dir / "m/train-labels-idx1-ubyte.gz", gzip_bytes(idx_bytes({2}, {1, 2})));
  write_bytes(dir / "m/t10k-images-idx3-ubyte", idx_bytes({1, 3, 3}, Bytes(9, 4)));
  write_bytes(dir / "m/t10k-labels-idx1-ubyte", idx_bytes({1}, {0}));
  const DatasetSplits m = load_dataset("mnist " + (dir / "m").string());
  CHECK(m.train.size() == 2);
  CHECK(m.test.size() == 1);
  CHECK(m.class_names.size() == 10);
  const DatasetSplits fm = load_dataset("fashion-mnist:" + (dir / "m").string());
  CHECK(fm.class_names[0] == "T-shirt/top");
  // A folder, with the image size and channels of the load options.
  std::filesystem::create_directories(dir / "f/ant");
  const Bytes px(std::size_t{6} * 6 * 3, 100);
  REQUIRE(stbi_write_png((dir / "f/ant/1.png").c_str(), 6, 6, 3, px.data(), 18) != 0);
  DatasetLoadOptions opt;
  opt.folder = {.size = 4, .channels = 1};
  const DatasetSplits f = load_dataset("folder " + (dir / "f").string(), opt);
  CHECK(f.train.images.shape() == Shape{1, 1, 4, 4});
  CHECK(f.class_names == std::vector<std::string>{"ant"});
  REQUIRE_THROWS_AS(load_dataset("cifar10 " + (dir / "none").string()), IoError);
}
