// tools/cmd_data.cpp: `normlab data`, a look at a dataset before training on it: images per split
// and class, per-channel mean and standard deviation of the training split, a labelled preview
// grid (as stored and augmented), and an export of chosen images as PNG files.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "datasets/image_io.h"
#include "datasets/preview.h"
#include "datasets/spec.h"
#include "tools/commands.h"
#include "tools/output_dir.h"

namespace normlab {

namespace {

struct DataArgs {
  std::string spec = "fashion-mnist";
  std::int64_t image_size = 0;
  bool gray = false;
  bool stretch = false;
  std::string preview;
  std::int64_t preview_count = 16;
  std::string export_dir;
  std::string split = "train";
  std::vector<std::int64_t> indices;
  std::uint64_t seed = 0;
  std::int64_t crop_padding = 4;
  bool no_flip = false;
};

// "T-shirt/top" -> "T-shirt_top": class names made safe as a part of a file name.
std::string file_safe(const std::string& name) {
  std::string s = name;
  for (char& c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.';
    if (!ok) {
      c = '_';
    }
  }
  return s;
}

void print_summary(const DataArgs& a, const DatasetSplits& s) {
  const Dataset& tr = s.train;
  fmt::print("dataset: {}\n", to_string(parse_dataset_spec(a.spec)));
  fmt::print("images: {} x {} x {} (C x H x W), {} classes\n", tr.channels(), tr.height(),
             tr.width(), s.class_names.size());
  fmt::print("split  images\ntrain  {:>6}\ntest   {:>6}\n", tr.size(), s.test.size());
  const std::vector<std::int64_t> ntr = class_counts(tr);
  const std::vector<std::int64_t> nte = class_counts(s.test);
  std::vector<std::string> rows;
  std::size_t w = 5;
  for (std::size_t k = 0; k < s.class_names.size(); ++k) {
    rows.push_back(fmt::format("{} {}", k, s.class_names[k]));
    w = std::max(w, rows.back().size());
  }
  fmt::print("\n{:<{}}  {:>6}  {:>6}\n", "class", w, "train", "test");
  for (std::size_t k = 0; k < rows.size(); ++k) {
    fmt::print("{:<{}}  {:>6}  {:>6}\n", rows[k], w, ntr[k], nte[k]);
  }
  const ChannelStats st = channel_stats(tr);
  const char* names[] = {"R", "G", "B"};
  fmt::print("\nper-channel statistics of the training split (pixels scaled to [0, 1]):\n");
  fmt::print("channel  mean    std\n");
  for (std::size_t c = 0; c < st.mean.size(); ++c) {
    fmt::print("{:<7}  {:.4f}  {:.4f}\n", st.mean.size() == 1 ? "gray" : names[c], st.mean[c],
               st.std[c]);
  }
}

const Dataset& chosen_split(const DataArgs& a, const DatasetSplits& s) {
  const Dataset& d = a.split == "train" ? s.train : s.test;
  if (d.size() == 0) {
    throw ValueError(fmt::format("data: the {} split of '{}' is empty", a.split, a.spec));
  }
  return d;
}

// --indices, or preview_count distinct images drawn with the seed.
std::vector<std::int64_t> preview_indices(const DataArgs& a, const Dataset& d) {
  if (!a.indices.empty()) {
    return a.indices;
  }
  const std::int64_t n = std::min(a.preview_count, d.size());
  std::vector<std::int64_t> all(static_cast<std::size_t>(d.size()));
  for (std::int64_t i = 0; i < d.size(); ++i) {
    all[static_cast<std::size_t>(i)] = i;
  }
  Rng rng(a.seed);
  for (std::int64_t i = 0; i < n; ++i) {  // partial Fisher–Yates
    const std::int64_t j = i + rng.randint(d.size() - i);
    std::swap(all[static_cast<std::size_t>(i)], all[static_cast<std::size_t>(j)]);
  }
  all.resize(static_cast<std::size_t>(n));
  return all;
}

void export_images(const DataArgs& a, const Dataset& d) {
  if (a.indices.empty()) {
    throw ValueError("data: --export needs --indices, e.g. --indices 0,5,9");
  }
  for (const std::int64_t k : a.indices) {  // all checked before any file is written
    if (k < 0 || k >= d.size()) {
      throw ValueError(
          fmt::format("data: index {} out of range: {} has {} images", k, d.name, d.size()));
    }
  }
  prepare_output_dir("data", a.export_dir);
  for (const std::int64_t k : a.indices) {
    const std::string name =
        fmt::format("{}_{}.png", k, file_safe(d.class_names[static_cast<std::size_t>(d.label(k))]));
    const std::filesystem::path path = std::filesystem::path(a.export_dir) / name;
    write_png(path, d.image(k), d.channels(), d.height(), d.width());
    fmt::print("wrote {}\n", path.string());
  }
}

void run_data(const DataArgs& a) {
  if (a.split != "train" && a.split != "test") {
    throw ValueError(fmt::format("data: --split must be train or test, got '{}'", a.split));
  }
  DatasetLoadOptions load;
  load.folder.size = a.image_size;
  load.folder.channels = a.gray ? 1 : 3;
  load.folder.resize = a.stretch ? FolderResize::stretch : FolderResize::center_crop;
  const DatasetSplits s = load_dataset(a.spec, load);
  print_summary(a, s);
  if (!a.preview.empty()) {
    const Dataset& d = chosen_split(a, s);
    PreviewOptions p;
    p.augment = {.crop_padding = a.crop_padding, .horizontal_flip = !a.no_flip};
    p.seed = a.seed;
    const Image img = render_preview(d, preview_indices(a, d), p);
    write_png(a.preview, img.pixels.data(), img.C, img.H, img.W);
    fmt::print("\nwrote preview {} ({}x{})\n", a.preview, img.W, img.H);
  }
  if (!a.export_dir.empty()) {
    export_images(a, chosen_split(a, s));
  }
}

}  // namespace

void add_data_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "data", "print a dataset's splits, classes and channel statistics; preview or export images");
  auto a = std::make_shared<DataArgs>();
  cmd->add_option("--data", a->spec,
                  "dataset: fashion-mnist [DIR], mnist DIR, cifar10 DIR|ARCHIVE, "
                  "cifar100 DIR|ARCHIVE, folder DIR")
      ->capture_default_str();
  cmd->add_option("--image-size", a->image_size,
                  "folder datasets: resize images to this size (0: keep their own size)")
      ->capture_default_str();
  cmd->add_flag("--gray", a->gray, "folder datasets: read images as gray instead of RGB");
  cmd->add_flag("--stretch", a->stretch,
                "folder datasets: stretch to the size instead of resize + center crop");
  cmd->add_option("--preview", a->preview,
                  "write a labelled grid of images, as stored and augmented, to this PNG");
  cmd->add_option("--preview-count", a->preview_count, "images in the preview")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--export", a->export_dir,
                  "write the --indices images unaugmented as <index>_<label>.png here");
  cmd->add_option("--split", a->split, "split for --preview and --export: train or test")
      ->capture_default_str();
  cmd->add_option("--indices", a->indices, "image indices for --export (and --preview): 0,5,9")
      ->delimiter(',');
  cmd->add_option("--seed", a->seed, "seed of the preview's sample and augmentation")
      ->capture_default_str();
  cmd->add_option("--crop-padding", a->crop_padding, "preview augmentation: random crop padding")
      ->capture_default_str()
      ->check(CLI::Range(0, 64));
  cmd->add_flag("--no-flip", a->no_flip, "preview augmentation: no horizontal flip");
  cmd->callback([a] { run_data(*a); });
}

}  // namespace normlab
