// fuzz/fuzz_checkpoint.cpp: a checkpoint through the whole load path: the safetensors container
// (header length, JSON header, entries, byte ranges; from memory and from a file, which must
// agree), the checkpoint metadata (format, epoch, step, optimizer, RNG states), the model's and the
// optimizer's names and shapes, and the stored run configuration (JSON → TrainConfig → validate),
// as `normlab train --resume` and `normlab eval` read them.
#include "core/safetensors.h"
#include "fuzz/fuzz_models.h"
#include "fuzz/fuzz_util.h"
#include "tools/checkpoint.h"
#include "tools/train_config.h"

using namespace normlab;

namespace {

bool same_file(const Safetensors& a, const Safetensors& b) {
  if (a.metadata != b.metadata || a.tensors.size() != b.tensors.size()) {
    return false;
  }
  for (const auto& [name, t] : a.tensors) {
    const auto it = b.tensors.find(name);
    if (it == b.tensors.end() || !fuzz::same_tensor(t, it->second)) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> input(data, size);
  const auto from_memory =
      fuzz::accepted([&] { return safetensors_from_bytes(std::as_bytes(input)); });
  const fuzz::InputFile file(input, "input.safetensors");
  const auto from_file = fuzz::accepted([&] { return read_safetensors(file.path().string()); });
  fuzz::check(from_memory.has_value() == from_file.has_value(),
              "safetensors_from_bytes and read_safetensors disagree on whether the input is valid");
  if (!from_memory) {
    return 0;
  }
  fuzz::check(same_file(*from_memory, *from_file),
              "safetensors_from_bytes and read_safetensors return different contents");

  const auto model = fuzz::checkpoint_model();
  const auto type = from_memory->metadata.find("optimizer");
  const auto optimizer =
      fuzz::checkpoint_optimizer(type == from_memory->metadata.end() ? "" : type->second, *model);
  fuzz::accepted(
      [&] { return load_checkpoint(*from_memory, "input.safetensors", *model, *optimizer); });

  if (const auto config = from_memory->metadata.find("config");
      config != from_memory->metadata.end()) {
    fuzz::accepted([&] {
      const TrainConfig c = parse_train_config(config->second, "metadata 'config'");
      c.validate();
      return c;
    });
  }
  return 0;
}
