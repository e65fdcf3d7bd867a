// fuzz/fuzz_dataset_spec.cpp: the --data text (datasets/spec.h). An accepted spec must print with
// to_string and parse back to the same spec.
#include "datasets/spec.h"
#include "fuzz/fuzz_util.h"

using namespace normlab;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto spec = fuzz::accepted([&] { return parse_dataset_spec(text); });
  if (spec) {
    const std::string printed = to_string(*spec);
    const auto back = fuzz::accepted([&] { return parse_dataset_spec(printed); });
    fuzz::check(back.has_value() && back->kind == spec->kind && back->path == spec->path,
                "a dataset spec does not survive to_string → parse_dataset_spec: " + printed);
  }
  return 0;
}
