// core/atomic_file.h: write a file so that a crash leaves either the old file or the complete new
// one at its path, never a truncated mix (for checkpoints, STYLE.md 3.8). The bytes go to a unique
// temporary file in the same directory (so rename(2) is atomic: same file system), which is
// fsync'ed, renamed over the path, and then the directory is fsync'ed so the rename itself is
// durable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace normlab {

class AtomicFile {
 public:
  // Creates the temporary file "<path>.tmp.XXXXXX"; IoError naming the path if that fails.
  explicit AtomicFile(std::string path);
  // Without commit() (an error, an exception on the way), the temporary file is removed and the
  // file at path is untouched.
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(std::span<const std::byte> bytes);  // IoError naming the path and the byte offset
  void commit();  // fsync, close, rename over path, fsync the directory; IoError on any failure

  std::int64_t bytes_written() const noexcept { return written_; }
  const std::string& path() const noexcept { return path_; }
  const std::string& temp_path() const noexcept { return temp_path_; }

 private:
  void discard() noexcept;
  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  std::int64_t written_ = 0;
  bool committed_ = false;
};

// The whole file in one call.
void write_file_atomic(const std::string& path, std::span<const std::byte> bytes);

}  // namespace normlab
