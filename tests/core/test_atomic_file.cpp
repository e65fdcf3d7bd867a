// AtomicFile: a committed write replaces the file whole; an abandoned one leaves the old file and
// no temporary behind; a write that cannot start names the path.
#include <fmt/format.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "core/atomic_file.h"
#include "core/error.h"

using namespace normlab;
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::span<const std::byte> bytes(const std::string& s) {
  return std::as_bytes(std::span(s));
}

std::size_t count_files(const fs::path& dir) {
  return static_cast<std::size_t>(
      std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

}  // namespace

TEST_CASE("atomic file replaces the old content only on commit", "[atomic_file]") {
  const fs::path dir = fs::temp_directory_path() / fmt::format("normlab_atomic_{}", ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "ckpt.bin").string();
  write_file_atomic(path, bytes("old checkpoint"));
  REQUIRE(read_text(path) == "old checkpoint");

  SECTION("an abandoned write (a crash or an exception mid-save) leaves the old file") {
    try {
      AtomicFile f(path);
      f.write(bytes("half of a new"));
      REQUIRE(fs::exists(f.temp_path()));
      REQUIRE(fs::path(f.temp_path()).parent_path() == dir);
      throw std::runtime_error("simulated failure mid-save");
    } catch (const std::runtime_error&) {
    }
    REQUIRE(read_text(path) == "old checkpoint");
    REQUIRE(count_files(dir) == 1);
  }
  SECTION("a committed write replaces it whole") {
    AtomicFile f(path);
    f.write(bytes("new "));
    f.write(bytes("checkpoint"));
    REQUIRE(read_text(path) == "old checkpoint");  // not visible before commit
    f.commit();
    REQUIRE(f.bytes_written() == 14);
    REQUIRE(read_text(path) == "new checkpoint");
    REQUIRE(count_files(dir) == 1);
    REQUIRE_THROWS_AS(f.write(bytes("x")), IoError);
  }
  fs::remove_all(dir);
}

TEST_CASE("atomic file in a missing directory is an IoError naming the path", "[atomic_file]") {
  REQUIRE_THROWS_WITH(AtomicFile("/nonexistent-normlab-dir/a.bin"),
                      Catch::Matchers::Contains("/nonexistent-normlab-dir/a.bin"));
}
