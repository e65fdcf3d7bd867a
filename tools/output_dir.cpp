#include "tools/output_dir.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "core/error.h"

namespace normlab {

namespace fs = std::filesystem;

namespace {

// The deepest existing ancestor of p that is not a directory, or an empty path.
fs::path file_in_the_way(const fs::path& p) {
  std::error_code ec;
  for (fs::path a = p; !a.empty(); a = a.parent_path()) {
    if (fs::exists(a, ec)) {
      return fs::is_directory(a, ec) ? fs::path() : a;
    }
    if (a == a.parent_path()) {
      break;
    }
  }
  return {};
}

}  // namespace

void prepare_output_dir(std::string_view command, const std::string& dir) {
  if (dir.empty()) {
    throw IoError(fmt::format("{}: the output folder is an empty path", command));
  }
  if (const fs::path file = file_in_the_way(dir); !file.empty()) {
    throw IoError(fmt::format("{}: cannot use '{}' as the output folder: '{}' is a file", command,
                              dir, file.string()));
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    throw IoError(
        fmt::format("{}: cannot create the output folder '{}' ({})", command, dir, ec.message()));
  }
  std::string probe = (fs::path(dir) / ".normlab-write-test.XXXXXX").string();
  const int fd = mkstemp(probe.data());
  if (fd < 0) {
    throw IoError(fmt::format("{}: cannot write into the output folder '{}' ({})", command, dir,
                              std::strerror(errno)));
  }
  close(fd);
  unlink(probe.c_str());
}

}  // namespace normlab
