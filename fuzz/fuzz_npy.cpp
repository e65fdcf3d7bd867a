// fuzz/fuzz_npy.cpp: the .npy reader (core/npy.h), from memory and from a file. Both readers must
// accept the same inputs and return the same tensor, and an accepted tensor must survive
// npy_to_bytes → npy_from_bytes unchanged.
#include "core/npy.h"
#include "fuzz/fuzz_util.h"

using namespace normlab;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> input(data, size);
  const auto from_memory = fuzz::accepted([&] { return npy_from_bytes(std::as_bytes(input)); });
  const fuzz::InputFile file(input, "input.npy");
  const auto from_file = fuzz::accepted([&] { return read_npy(file.path().string()); });
  fuzz::check(from_memory.has_value() == from_file.has_value(),
              "npy_from_bytes and read_npy disagree on whether the input is valid");
  if (from_memory) {
    fuzz::check(fuzz::same_tensor(*from_memory, *from_file),
                "npy_from_bytes and read_npy return different tensors");
    const std::vector<std::byte> again = npy_to_bytes(*from_memory);
    fuzz::check(fuzz::same_tensor(npy_from_bytes(again), *from_memory),
                "npy_to_bytes → npy_from_bytes changes the tensor");
  }
  return 0;
}
