// fuzz/fuzz_cifar_bin.cpp: CIFAR binary batch files (datasets/cifar.h), from memory. The first
// byte picks the variant (bit 0: CIFAR-100, bit 1: its coarse labels); the rest is the batch file.
#include "datasets/cifar.h"
#include "fuzz/fuzz_util.h"

using namespace normlab;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const CifarKind kind = (data[0] & 1u) != 0 ? CifarKind::cifar100 : CifarKind::cifar10;
  const Cifar100Labels labels = (data[0] & 2u) != 0 ? Cifar100Labels::coarse : Cifar100Labels::fine;
  const std::span<const std::uint8_t> batch(data + 1, size - 1);
  // Room for every whole record the bytes can hold, as load_cifar allocates after counting them.
  const std::int64_t n = static_cast<std::int64_t>(batch.size()) / cifar_record_bytes(kind);
  const std::int64_t K = kind == CifarKind::cifar10 ? 10 : 100;
  Dataset d = make_dataset("fuzz", n, 3, 32, 32, std::vector<std::string>(K, "class"));
  const auto parsed =
      fuzz::accepted([&] { return parse_cifar_records(kind, labels, "fuzz.bin", batch, d, 0); });
  if (parsed) {
    fuzz::check(*parsed == n, "parse_cifar_records accepted a partial record");
    for (std::int64_t i = 0; i < n; ++i) {
      fuzz::check(d.label(i) >= 0 && d.label(i) < K, "a parsed label is out of range");
    }
  }
  return 0;
}
