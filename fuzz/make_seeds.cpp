// fuzz/make_seeds.cpp: writes the seed corpora under fuzz/corpus/<target>/ with normlab's own
// writers (and the dataset-format writers of the tests): small valid files of every kind each
// parser reads (plus image/progressive_8x6.jpg, written by libjpeg in progressive mode, which stb
// cannot write, and image/scan_ends_mid_block.jpg, written by hand: docs/reliability.md, finding
// 13). Run it with `cmake --build --preset fuzz --target fuzz_seeds`; the output is
// committed, so a fresh clone fuzzes without it.
#include <stb/stb_image_write.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "core/npy.h"
#include "core/random.h"
#include "core/safetensors.h"
#include "datasets/image_io.h"
#include "fuzz/fuzz_models.h"
#include "tests/datasets/dataset_files.h"
#include "tools/checkpoint.h"
#include "tools/train_config.h"

using namespace normlab;
using normlab::testing::Bytes;
namespace fs = std::filesystem;

namespace {

Bytes as_bytes(const std::vector<std::byte>& b) {
  Bytes out(b.size());
  std::memcpy(out.data(), b.data(), b.size());
  return out;
}

Tensor arange(Shape shape, DType dtype) {
  Tensor t = Tensor::empty(std::move(shape), dtype);
  visit_dtype(dtype, [&]<class T>() {
    auto d = t.data<T>();
    for (std::size_t i = 0; i < d.size(); ++i) {
      d[i] = static_cast<T>(i * 3 + 1);
    }
  });
  return t;
}

void npy_seeds(const fs::path& dir) {
  using normlab::testing::write_bytes;
  write_bytes(dir / "f32_2x3.npy", as_bytes(npy_to_bytes(arange({2, 3}, DType::f32))));
  write_bytes(dir / "f64_scalar.npy", as_bytes(npy_to_bytes(arange({}, DType::f64))));
  write_bytes(dir / "u8_4.npy", as_bytes(npy_to_bytes(arange({4}, DType::u8))));
  write_bytes(dir / "i32_2x1x2.npy", as_bytes(npy_to_bytes(arange({2, 1, 2}, DType::i32))));
  write_bytes(dir / "i64_3.npy", as_bytes(npy_to_bytes(arange({3}, DType::i64))));
  write_bytes(dir / "f32_0x3.npy", as_bytes(npy_to_bytes(arange({0, 3}, DType::f32))));
  // Format 2.0: the same header behind a 4-byte header length.
  Bytes v1 = as_bytes(npy_to_bytes(arange({2, 2}, DType::f64)));
  Bytes v2(v1.begin(), v1.begin() + 8);
  v2[6] = 2;
  const std::uint32_t len = v1[8] | (v1[9] << 8);
  for (int i = 0; i < 4; ++i) {
    v2.push_back(static_cast<std::uint8_t>(len >> (8 * i)));
  }
  v2.insert(v2.end(), v1.begin() + 10, v1.end());
  write_bytes(dir / "f64_2x2_v2.npy", v2);
}

// One training step, so that the optimizer has state to save.
void checkpoint_seed(const fs::path& path, std::string_view optimizer_type) {
  const auto model = fuzz::checkpoint_model();
  const auto optimizer = fuzz::checkpoint_optimizer(optimizer_type, *model);
  Rng rng(11);
  const Variable x(randn({4, 1, 8, 8}, DType::f32, rng));
  const Variable w(randn({4, 3}, DType::f32, rng));
  optimizer->zero_grad();
  sum(mul(model->forward(x), w)).backward();
  optimizer->step();
  TrainConfig c;
  c.model = "tiny";
  c.norm = "batch";
  c.width = 1.0 / 16;
  c.optimizer = optimizer_type == "Adam" ? "adam" : "sgd";
  c.data = "mnist data/mnist";
  const TrainingState state{.epoch = 1,
                            .step = 3,
                            .rng_states = {{"init", Rng(5).state()}, {"loader", rng.state()}},
                            .config_json = to_json(c).dump()};
  save_checkpoint(path.string(), *model, *optimizer, state);
}

void checkpoint_seeds(const fs::path& dir) {
  checkpoint_seed(dir / "sgd.safetensors", "SGD");
  checkpoint_seed(dir / "adam.safetensors", "Adam");
  write_safetensors((dir / "plain.safetensors").string(),
                    {{"a", arange({2, 3}, DType::f32)},
                     {"b", arange({4}, DType::u8)},
                     {"c", arange({}, DType::i64)},
                     {"d", arange({0}, DType::f64)}},
                    {{"note", "not a checkpoint"}});
}

Bytes cifar_batch(int records, std::vector<std::uint8_t> labels) {
  Bytes out;
  for (int r = 0; r < records; ++r) {
    std::vector<std::uint8_t> l = labels;
    for (auto& b : l) {
      b = static_cast<std::uint8_t>((b + r) % 10);
    }
    normlab::testing::append_cifar_record(out, l, r);
  }
  return out;
}

void cifar_bin_seeds(const fs::path& dir) {
  auto with_prefix = [](std::uint8_t prefix, Bytes batch) {
    batch.insert(batch.begin(), prefix);
    return batch;
  };
  using normlab::testing::write_bytes;
  write_bytes(dir / "cifar10_2.bin", with_prefix(0, cifar_batch(2, {3})));
  write_bytes(dir / "cifar100_fine_1.bin", with_prefix(1, cifar_batch(1, {4, 55})));
  write_bytes(dir / "cifar100_coarse_1.bin", with_prefix(3, cifar_batch(1, {19, 99})));
}

std::string lines(int n, const std::string& stem) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    s += stem + std::to_string(i) + "\n";
  }
  return s;
}

// A tar header block of any type (for GNU 'L' long names and pax 'x' records).
Bytes tar_meta_entry(char type, const std::string& payload) {
  Bytes one =
      normlab::testing::tar_bytes({{"././@LongLink", normlab::testing::text_bytes(payload)}});
  one.resize(one.size() - 1024);  // drop the end-of-archive blocks
  one[156] = static_cast<std::uint8_t>(type);
  std::fill(one.begin() + 148, one.begin() + 156, std::uint8_t{' '});
  unsigned sum = 0;
  for (int i = 0; i < 512; ++i) {
    sum += one[static_cast<std::size_t>(i)];
  }
  std::snprintf(reinterpret_cast<char*>(one.data() + 148), 8, "%06o", sum);
  one[155] = ' ';
  return one;
}

// "<length> <key>=<value>\n", the length counting the whole record, its own digits included.
std::string pax_record(const std::string& key_value) {
  std::size_t len = 0;
  while (std::to_string(len).size() + key_value.size() + 2 != len) {
    len = std::to_string(len).size() + key_value.size() + 2;
  }
  return std::to_string(len) + " " + key_value + "\n";
}

void cifar_tar_seeds(const fs::path& dir) {
  using normlab::testing::TarFile;
  using normlab::testing::text_bytes;
  std::vector<TarFile> c10;
  for (int i = 1; i <= 5; ++i) {
    c10.push_back({"cifar-10-batches-bin/data_batch_" + std::to_string(i) + ".bin",
                   cifar_batch(1, {static_cast<std::uint8_t>(i)})});
  }
  c10.push_back({"cifar-10-batches-bin/test_batch.bin", cifar_batch(1, {0})});
  c10.push_back({"cifar-10-batches-bin/batches.meta.txt", text_bytes(lines(10, "class"))});
  c10.push_back({"cifar-10-batches-bin/readme.html", text_bytes("<p>skipped</p>")});
  const Bytes c10_tar = normlab::testing::tar_bytes(c10);
  normlab::testing::write_bytes(dir / "cifar10.tar.gz", normlab::testing::gzip_bytes(c10_tar));

  const std::vector<TarFile> c100 = {
      {"cifar-100-binary/train.bin", cifar_batch(1, {2, 7})},
      {"cifar-100-binary/test.bin", cifar_batch(1, {1, 3})},
      {"cifar-100-binary/fine_label_names.txt", text_bytes(lines(100, "f"))},
      {"cifar-100-binary/coarse_label_names.txt", text_bytes(lines(20, "c"))}};
  normlab::testing::write_bytes(dir / "cifar100.tar.gz",
                                normlab::testing::gzip_bytes(normlab::testing::tar_bytes(c100)));

  // Plain tar (zlib reads it as is) with a GNU long name and a pax path record: every byte of
  // it is a tar byte the fuzzer can change directly.
  Bytes plain = tar_meta_entry('L', "cifar-100-binary/fine_label_names.txt");
  const Bytes names = normlab::testing::tar_bytes({{"x", text_bytes(lines(100, ""))}});
  plain.insert(plain.end(), names.begin(), names.end() - 1024);
  const Bytes pax = tar_meta_entry('x', pax_record("path=cifar-100-binary/coarse_label_names.txt"));
  plain.insert(plain.end(), pax.begin(), pax.end());
  const Bytes rest =
      normlab::testing::tar_bytes({{"y", text_bytes(lines(20, ""))},
                                   {"cifar-100-binary/train.bin", cifar_batch(1, {2, 7})},
                                   {"cifar-100-binary/test.bin", cifar_batch(1, {1, 3})}});
  plain.insert(plain.end(), rest.begin(), rest.end());
  normlab::testing::write_bytes(dir / "cifar100_longnames.tar", plain);
}

void idx_seeds(const fs::path& dir) {
  using normlab::testing::idx_bytes;
  const Bytes images =
      idx_bytes({2, 3, 3}, Bytes{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17});
  const Bytes labels = idx_bytes({4}, Bytes{9, 0, 3, 1});
  normlab::testing::write_bytes(dir / "images-idx3-ubyte", images);
  normlab::testing::write_bytes(dir / "labels-idx1-ubyte", labels);
  normlab::testing::write_bytes(dir / "images-idx3-ubyte.gz", normlab::testing::gzip_bytes(images));
  normlab::testing::write_bytes(dir / "empty-idx1-ubyte", idx_bytes({0}, {}));
}

void image_seeds(const fs::path& dir) {
  std::vector<std::uint8_t> planar(3 * 5 * 4);
  for (std::size_t i = 0; i < planar.size(); ++i) {
    planar[i] = static_cast<std::uint8_t>(i * 37);
  }
  write_png(dir / "rgb_5x4.png", planar.data(), 3, 5, 4);
  write_png(dir / "gray_3x3.png", planar.data(), 1, 3, 3);
  std::vector<std::uint8_t> interleaved(planar.size());
  planar_to_interleaved(planar.data(), 3, 20, interleaved.data());
  stbi_write_bmp((dir / "rgb_4x5.bmp").c_str(), 4, 5, 3, interleaved.data());
  stbi_write_jpg((dir / "rgb_4x5.jpg").c_str(), 4, 5, 3, interleaved.data(), 90);
  stbi_write_jpg((dir / "gray_4x5.jpg").c_str(), 4, 5, 1, planar.data(), 50);
}

void text_seed(const fs::path& path, const std::string& text) {
  normlab::testing::write_bytes(path, normlab::testing::text_bytes(text));
}

void dataset_spec_seeds(const fs::path& dir) {
  text_seed(dir / "fashion", "fashion-mnist");
  text_seed(dir / "mnist", "mnist data/mnist");
  text_seed(dir / "cifar10", "cifar10:data/cifar-10-batches-bin");
  text_seed(dir / "cifar100", "CIFAR-100  /data/cifar-100-binary.tar.gz ");
  text_seed(dir / "folder", "imagefolder\tphotos/");
}

void train_config_seeds(const fs::path& dir) {
  TrainConfig c;
  text_seed(dir / "default.json", to_json(c).dump(2));
  c.model = "resnet20";
  c.norm = "batch_renorm";
  c.optimizer = "adamw";
  c.schedule = "multistep";
  c.milestones = {2, 3};
  c.warmup_epochs = 0.5;
  c.lr_base_batch = 256;
  c.seed = 12345678901234ULL;
  c.out = "runs/x";
  text_seed(dir / "multistep.json", to_json(c).dump());
  text_seed(dir / "partial.json", R"({"model": "vgg", "width": 0.25, "norm": "layer"})");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds CORPUS_DIR (fuzz/corpus)\n");
    return 2;
  }
  const fs::path root = argv[1];
  const std::vector<std::pair<std::string, void (*)(const fs::path&)>> targets = {
      {"npy", npy_seeds},
      {"checkpoint", checkpoint_seeds},
      {"cifar_bin", cifar_bin_seeds},
      {"cifar_tar", cifar_tar_seeds},
      {"idx", idx_seeds},
      {"image", image_seeds},
      {"dataset_spec", dataset_spec_seeds},
      {"train_config", train_config_seeds}};
  try {
    for (const auto& [name, write] : targets) {
      fs::create_directories(root / name);  // files written by hand stay (see above)
      write(root / name);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_make_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
