// tests/temp_dir.h: a fresh folder under the system temp dir for one test, removed with
// everything in it on destruction. Shared by every test that writes files.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <system_error>

namespace normlab::testing {

class TempDir {
 public:
  explicit TempDir(std::string_view tag) {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("normlab-" + std::string(tag) + "-" + std::to_string(::getpid()) + "-" +
             std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }
  std::string file(std::string_view name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace normlab::testing
