// fuzz/fuzz_cifar_tar.cpp: CIFAR-10 and CIFAR-100 archives (datasets/cifar.h, datasets/
// file_reader.h) through load_cifar: gzip (or a plain tar: zlib reads it as is), the ustar reader
// with GNU long names and pax records, the class-name file and the batch files.
#include "datasets/cifar.h"
#include "fuzz/fuzz_util.h"

using namespace normlab;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::InputFile file({data, size}, "input.tar.gz");
  for (const CifarKind kind : {CifarKind::cifar10, CifarKind::cifar100}) {
    const auto splits = fuzz::accepted([&] { return load_cifar(kind, file.path()); });
    if (splits) {
      check_dataset("fuzz", splits->train);
      check_dataset("fuzz", splits->test);
    }
  }
  return 0;
}
