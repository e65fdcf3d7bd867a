// CIFAR-10/100 binary: records written in the official layout come back pixel for pixel, from a
// folder and from a .tar.gz; truncated files, bad labels and missing files are clear errors.
#include <fmt/format.h>

#include <catch2/catch.hpp>

#include "core/error.h"
#include "datasets/cifar.h"
#include "datasets/file_reader.h"
#include "tests/datasets/dataset_files.h"

using namespace normlab;
using namespace normlab::testing;
using Catch::Matchers::Contains;

namespace {

const char* const kCifar10Names =
    "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";

// CIFAR-10 files: batch i (1..5) holds records 2i-2 and 2i-1, test_batch.bin holds 10 and 11.
// Record r has label r % 10.
std::vector<TarFile> cifar10_files(const std::string& folder) {
  std::vector<TarFile> files;
  for (int i = 1; i <= 5; ++i) {
    Bytes b;
    for (int r = 2 * i - 2; r < 2 * i; ++r) {
      append_cifar_record(b, {static_cast<std::uint8_t>(r % 10)}, r);
    }
    files.push_back({folder + "data_batch_" + std::to_string(i) + ".bin", b});
  }
  Bytes t;
  append_cifar_record(t, {0}, 10);
  append_cifar_record(t, {1}, 11);
  files.push_back({folder + "test_batch.bin", t});
  files.push_back({folder + "batches.meta.txt", text_bytes(kCifar10Names)});
  return files;
}

std::vector<TarFile> cifar100_files(const std::string& folder) {
  std::string fine;
  for (int k = 0; k < 100; ++k) {
    fine += "fine" + std::to_string(k) + "\n";
  }
  std::string coarse;
  for (int k = 0; k < 20; ++k) {
    coarse += "coarse" + std::to_string(k) + "\n";
  }
  Bytes train;
  append_cifar_record(train, {3, 57}, 0);
  append_cifar_record(train, {19, 99}, 1);
  append_cifar_record(train, {0, 0}, 2);
  Bytes test;
  append_cifar_record(test, {7, 42}, 3);
  return {{folder + "train.bin", train},
          {folder + "test.bin", test},
          {folder + "fine_label_names.txt", text_bytes(fine)},
          {folder + "coarse_label_names.txt", text_bytes(coarse)}};
}

void write_files(const TempDir& dir, const std::vector<TarFile>& files) {
  for (const TarFile& f : files) {
    write_bytes(dir / f.name, f.data);
  }
}

// Every pixel of image i of d equals test_pixel(record, c, y, x), by (C, H, W) index.
void require_pixels(const Dataset& d, std::int64_t i, int record) {
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < 32; ++y) {
      for (int x = 0; x < 32; ++x) {
        const auto v = d.images.at<std::uint8_t>({i, c, y, x});
        if (v != test_pixel(record, c, y, x)) {
          FAIL_CHECK("image " << i << " channel " << c << " (" << y << ", " << x << "): " << int(v)
                              << " != " << int(test_pixel(record, c, y, x)));
          return;
        }
      }
    }
  }
}

void require_cifar10(const DatasetSplits& s) {
  REQUIRE(s.class_names.size() == 10);
  CHECK(s.class_names[0] == "airplane");
  CHECK(s.class_names[9] == "truck");
  REQUIRE(s.train.images.shape() == Shape{10, 3, 32, 32});
  REQUIRE(s.train.images.dtype() == DType::u8);
  REQUIRE(s.test.images.shape() == Shape{2, 3, 32, 32});
  for (int r = 0; r < 10; ++r) {
    CHECK(s.train.label(r) == r % 10);
    require_pixels(s.train, r, r);
  }
  CHECK(s.test.label(0) == 0);
  CHECK(s.test.label(1) == 1);
  require_pixels(s.test, 0, 10);
  require_pixels(s.test, 1, 11);
  CHECK(s.train.name == "cifar10 train");
}

}  // namespace

TEST_CASE("cifar10 records come back exactly, channel by channel", "[cifar]") {
  TempDir dir("cifar10");
  write_files(dir, cifar10_files("cifar-10-batches-bin/"));
  SECTION("from the extracted folder") {
    require_cifar10(load_cifar(CifarKind::cifar10, dir / "cifar-10-batches-bin"));
  }
  SECTION("from its parent folder") {
    require_cifar10(load_cifar(CifarKind::cifar10, dir.path()));
  }
}

TEST_CASE("the first pixels of a record are the red plane's first row", "[cifar]") {
  // A hand-made record: red = 10, green = 20, blue = 30 except pixel (0, 1) of each plane.
  Bytes rec = {4};
  for (int c = 0; c < 3; ++c) {
    for (int i = 0; i < 1024; ++i) {
      rec.push_back(static_cast<std::uint8_t>(i == 1 ? 200 + c : 10 * (c + 1)));
    }
  }
  Dataset d = make_dataset("t", 1, 3, 32, 32, std::vector<std::string>(10, "x"));
  REQUIRE(parse_cifar_records(CifarKind::cifar10, Cifar100Labels::fine, "t.bin", rec, d, 0) == 1);
  CHECK(d.label(0) == 4);
  CHECK(d.images.at<std::uint8_t>({0, 0, 0, 0}) == 10);
  CHECK(d.images.at<std::uint8_t>({0, 1, 0, 0}) == 20);
  CHECK(d.images.at<std::uint8_t>({0, 2, 31, 31}) == 30);
  CHECK(d.images.at<std::uint8_t>({0, 0, 0, 1}) == 200);
  CHECK(d.images.at<std::uint8_t>({0, 1, 0, 1}) == 201);
  CHECK(d.images.at<std::uint8_t>({0, 2, 0, 1}) == 202);
}

TEST_CASE("cifar10 reads straight from a .tar.gz archive", "[cifar][tar]") {
  TempDir dir("cifar10-tar");
  std::vector<TarFile> files = cifar10_files("cifar-10-batches-bin/");
  files.insert(files.begin(), {"cifar-10-batches-bin/readme.html", text_bytes("<html></html>")});
  write_bytes(dir / "cifar-10-binary.tar.gz", gzip_bytes(tar_bytes(files)));
  require_cifar10(load_cifar(CifarKind::cifar10, dir / "cifar-10-binary.tar.gz"));
  // An uncompressed tar works too.
  write_bytes(dir / "cifar-10-binary.tar", tar_bytes(files));
  require_cifar10(load_cifar(CifarKind::cifar10, dir / "cifar-10-binary.tar"));
}

TEST_CASE("cifar100 has fine and coarse labels", "[cifar]") {
  TempDir dir("cifar100");
  const std::vector<TarFile> files = cifar100_files("cifar-100-binary/");
  write_files(dir, files);
  write_bytes(dir / "cifar-100-binary.tar.gz", gzip_bytes(tar_bytes(files)));
  for (const auto& path : {dir / "cifar-100-binary", dir / "cifar-100-binary.tar.gz"}) {
    CAPTURE(path.string());
    const DatasetSplits fine = load_cifar(CifarKind::cifar100, path);
    REQUIRE(fine.class_names.size() == 100);
    CHECK(fine.class_names[57] == "fine57");
    REQUIRE(fine.train.size() == 3);
    REQUIRE(fine.test.size() == 1);
    CHECK(fine.train.label(0) == 57);
    CHECK(fine.train.label(1) == 99);
    CHECK(fine.train.label(2) == 0);
    CHECK(fine.test.label(0) == 42);
    for (int r = 0; r < 3; ++r) {
      require_pixels(fine.train, r, r);
    }
    require_pixels(fine.test, 0, 3);
    const DatasetSplits coarse = load_cifar(CifarKind::cifar100, path, Cifar100Labels::coarse);
    REQUIRE(coarse.class_names.size() == 20);
    CHECK(coarse.train.label(0) == 3);
    CHECK(coarse.train.label(1) == 19);
    CHECK(coarse.test.label(0) == 7);
  }
}

TEST_CASE("a truncated cifar file names the file, record and byte", "[cifar][errors]") {
  TempDir dir("cifar-trunc");
  std::vector<TarFile> files = cifar10_files("");
  files[0].data.resize(files[0].data.size() - 5);  // data_batch_1.bin: record 1 is cut short
  write_files(dir, files);
  REQUIRE_THROWS_AS(load_cifar(CifarKind::cifar10, dir.path()), IoError);
  REQUIRE_THROWS_WITH(load_cifar(CifarKind::cifar10, dir.path()),
                      "cifar: data_batch_1.bin: record 1 truncated at byte 3073 (need 3073 bytes "
                      "per record)");
  // The message of the issue: 10,000 whole records and a partial one.
  Bytes big(30730000 + 100, 0);
  Dataset d = make_dataset("t", 10001, 3, 32, 32, std::vector<std::string>(10, "x"));
  REQUIRE_THROWS_WITH(
      parse_cifar_records(CifarKind::cifar10, Cifar100Labels::fine, "data_batch_1.bin", big, d, 0),
      "cifar: data_batch_1.bin: record 10000 truncated at byte 30730000 (need 3073 bytes per "
      "record)");
}

TEST_CASE("cifar errors: labels out of range, empty and missing files", "[cifar][errors]") {
  TempDir dir("cifar-err");
  SECTION("cifar10 label 10") {
    std::vector<TarFile> files = cifar10_files("");
    files[2].data[3073] = 10;  // data_batch_3.bin, record 1
    write_files(dir, files);
    REQUIRE_THROWS_WITH(load_cifar(CifarKind::cifar10, dir.path()),
                        "cifar: data_batch_3.bin: record 1 has label 10 at byte 3073 (labels are "
                        "0..9)");
  }
  SECTION("cifar100 coarse label 20 and fine label 100") {
    std::vector<TarFile> files = cifar100_files("");
    files[0].data[0] = 20;
    write_files(dir, files);
    REQUIRE_THROWS_WITH(load_cifar(CifarKind::cifar100, dir.path()),
                        Contains("train.bin: record 0 has label 20 at byte 0 (labels are 0..19)"));
    files[0].data[0] = 1;
    files[0].data[3074 + 1] = 100;
    write_files(dir, files);
    REQUIRE_THROWS_WITH(
        load_cifar(CifarKind::cifar100, dir.path()),
        Contains("train.bin: record 1 has label 100 at byte 3075 (labels are 0..99)"));
  }
  SECTION("an empty batch file") {
    std::vector<TarFile> files = cifar10_files("");
    files[5].data.clear();
    write_files(dir, files);
    REQUIRE_THROWS_WITH(load_cifar(CifarKind::cifar10, dir.path()),
                        Contains("test_batch.bin: file is empty"));
  }
  SECTION("a missing batch file") {
    std::vector<TarFile> files = cifar10_files("");
    files.erase(files.begin() + 3);
    write_files(dir, files);
    REQUIRE_THROWS_AS(load_cifar(CifarKind::cifar10, dir.path()), IoError);
    REQUIRE_THROWS_WITH(load_cifar(CifarKind::cifar10, dir.path()), Contains("data_batch_4.bin"));
  }
  SECTION("wrong number of class names") {
    std::vector<TarFile> files = cifar10_files("");
    files[6].data = text_bytes("cat\ndog\n");
    write_files(dir, files);
    REQUIRE_THROWS_WITH(load_cifar(CifarKind::cifar10, dir.path()),
                        Contains("batches.meta.txt: has 2 class names, expected 10"));
  }
  SECTION("a folder without CIFAR files") {
    REQUIRE_THROWS_WITH(load_cifar(CifarKind::cifar10, dir.path()),
                        Contains("has no data_batch_1.bin"));
    REQUIRE_THROWS_WITH(load_cifar(CifarKind::cifar10, dir / "nowhere"),
                        Contains("no such folder or archive"));
  }
}

TEST_CASE("cifar archive errors: wrong archive, truncated and corrupt gzip",
          "[cifar][tar][errors]") {
  TempDir dir("cifar-tar-err");
  const Bytes tar = tar_bytes(cifar10_files("cifar-10-batches-bin/"));
  const Bytes gz = gzip_bytes(tar);
  SECTION("the CIFAR-100 archive given as CIFAR-10") {
    write_bytes(dir / "a.tar.gz", gzip_bytes(tar_bytes(cifar100_files("cifar-100-binary/"))));
    REQUIRE_THROWS_WITH(load_cifar(CifarKind::cifar10, dir / "a.tar.gz"),
                        Contains("has no data_batch_1.bin"));
  }
  SECTION("a gzip stream cut in half") {
    write_bytes(dir / "a.tar.gz", Bytes(gz.begin(), gz.begin() + static_cast<long>(gz.size() / 2)));
    REQUIRE_THROWS_AS(load_cifar(CifarKind::cifar10, dir / "a.tar.gz"), IoError);
  }
  SECTION("corrupt compressed bytes") {
    Bytes bad = gz;
    for (std::size_t i = 100; i < 200; ++i) {
      bad[i] ^= 0x5a;
    }
    write_bytes(dir / "a.tar.gz", bad);
    REQUIRE_THROWS_WITH(load_cifar(CifarKind::cifar10, dir / "a.tar.gz"),
                        Contains("corrupt compressed data"));
  }
  SECTION("a tar header with a bad checksum") {
    Bytes bad = tar;
    bad[0] = 'X';
    write_bytes(dir / "a.tar.gz", gzip_bytes(bad));
    REQUIRE_THROWS_WITH(load_cifar(CifarKind::cifar10, dir / "a.tar.gz"),
                        Contains("bad header at byte 0"));
  }
  SECTION("an archive that ends inside an entry") {
    Bytes cut(tar.begin(), tar.begin() + 512 + 1000);
    write_bytes(dir / "a.tar.gz", gzip_bytes(cut));
    REQUIRE_THROWS_WITH(load_cifar(CifarKind::cifar10, dir / "a.tar.gz"),
                        Contains("entry cifar-10-batches-bin/data_batch_1.bin truncated"));
  }
  SECTION("not an archive at all") {
    write_bytes(dir / "a.tar.gz", text_bytes("hello, this is not a tar archive"));
    REQUIRE_THROWS_WITH(load_cifar(CifarKind::cifar10, dir / "a.tar.gz"),
                        Contains("not a tar archive"));
  }
}

TEST_CASE("tar reader: GNU long names and pax paths", "[tar]") {
  TempDir dir("tar");
  const std::string long_name = fmt::format("{}/data.bin", std::string(120, 'd'));
  // GNU: a '././@LongLink' entry of type 'L' whose data is the next entry's name.
  Bytes tar = tar_bytes({{"././@LongLink", text_bytes(long_name + std::string(1, '\0'))},
                         {"short", text_bytes("payload")},
                         {"pax", text_bytes("18 path=pax/x.bin\n")},
                         {"ignored", text_bytes("second")}});
  tar[156] = 'L';            // first header: type L, fix its checksum
  tar[4 * 512 + 156] = 'x';  // headers at blocks 0, 2, 4, 6
  for (const std::size_t at : {std::size_t{0}, std::size_t{4} * 512}) {
    std::fill(tar.begin() + static_cast<long>(at + 148), tar.begin() + static_cast<long>(at + 156),
              ' ');
    unsigned sum = 0;
    for (std::size_t i = at; i < at + 512; ++i) {
      sum += tar[i];
    }
    std::snprintf(reinterpret_cast<char*>(tar.data() + at + 148), 8, "%06o", sum);
    tar[at + 155] = ' ';
  }
  write_bytes(dir / "a.tar", tar);
  const auto entries = read_tar("test", dir / "a.tar", [](std::string_view) { return true; });
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].name == long_name);
  CHECK(entries[0].data == text_bytes("payload"));
  CHECK(entries[1].name == "pax/x.bin");
  CHECK(entries[1].data == text_bytes("second"));
}

namespace {

// One ustar entry named `name` whose 12-byte size field is `size_field`, checksum fixed, then the
// end-of-archive blocks: a header that claims a size the archive does not hold.
Bytes tar_claiming(const std::string& name, const Bytes& size_field) {
  Bytes tar = tar_bytes({{name, {}}});
  std::copy(size_field.begin(), size_field.end(), tar.begin() + 124);
  std::fill(tar.begin() + 148, tar.begin() + 156, std::uint8_t{' '});
  unsigned sum = 0;
  for (std::size_t i = 0; i < 512; ++i) {
    sum += tar[i];
  }
  std::snprintf(reinterpret_cast<char*>(tar.data() + 148), 8, "%06o", sum);
  tar[155] = ' ';
  return tar;
}

}  // namespace

TEST_CASE("a tar header's claimed size is not allocated before the bytes arrive",
          "[cifar][tar][errors][fuzz]") {
  TempDir dir("cifar");
  // 8 GiB in octal: the reader used to allocate all of it before finding the archive empty.
  const Bytes octal = text_bytes(std::string("77777777777") + std::string(1, '\0'));
  write_bytes(dir / "octal.tar", tar_claiming("cifar-10-batches-bin/test_batch.bin", octal));
  CHECK_THROWS_AS(load_cifar(CifarKind::cifar10, dir / "octal.tar"), IoError);
  CHECK_THROWS_WITH(load_cifar(CifarKind::cifar10, dir / "octal.tar"),
                    Contains("test_batch.bin truncated") && Contains("8589934591"));
  // GNU base-256 near 2^64: the padding arithmetic used to wrap and std::vector threw
  // length_error, which is not a normlab::Error.
  const Bytes base256 = {0x80, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
  write_bytes(dir / "b256.tar", tar_claiming("cifar-10-batches-bin/test_batch.bin", base256));
  CHECK_THROWS_AS(load_cifar(CifarKind::cifar10, dir / "b256.tar"), IoError);
  CHECK_THROWS_WITH(load_cifar(CifarKind::cifar10, dir / "b256.tar"),
                    Contains("claims 18446744073709551615 bytes"));
}
