#include "core/atomic_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>
#include <vector>

#include "core/error.h"

namespace normlab {

namespace {

std::string errno_text(int err) {
  return std::error_code(err, std::generic_category()).message();
}

std::string directory_of(const std::string& path) {
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  return dir.empty() ? std::string(".") : dir.string();
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  std::string templ = path_ + ".tmp.XXXXXX";
  std::vector<char> name(templ.begin(), templ.end());
  name.push_back('\0');
  fd_ = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd_ < 0) {
    throw IoError(fmt::format("atomic_file: {}: cannot create a temporary file beside it: {}",
                              path_, errno_text(errno)));
  }
  temp_path_ = name.data();
  // mkostemp creates the file 0600; a finished checkpoint is readable like any other output file.
  if (::fchmod(fd_, 0644) != 0) {
    const int err = errno;
    discard();
    throw IoError(fmt::format("atomic_file: {}: cannot set the mode of {}: {}", path_, temp_path_,
                              errno_text(err)));
  }
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    discard();
  }
}

void AtomicFile::discard() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!temp_path_.empty()) {
    ::unlink(temp_path_.c_str());
  }
}

void AtomicFile::write(std::span<const std::byte> bytes) {
  if (fd_ < 0) {
    throw IoError(fmt::format("atomic_file: {}: write after commit or failure", path_));
  }
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      throw IoError(fmt::format("atomic_file: {}: write failed at byte {}: {}", path_,
                                written_ + static_cast<std::int64_t>(done), errno_text(err)));
    }
    done += static_cast<std::size_t>(n);
  }
  written_ += static_cast<std::int64_t>(done);
}

void AtomicFile::commit() {
  if (fd_ < 0) {
    throw IoError(fmt::format("atomic_file: {}: commit after commit or failure", path_));
  }
  // step 1: the data reaches the disk before the name points at it
  if (::fsync(fd_) != 0) {
    throw IoError(fmt::format("atomic_file: {}: fsync of {} failed after {} bytes: {}", path_,
                              temp_path_, written_, errno_text(errno)));
  }
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    throw IoError(fmt::format("atomic_file: {}: close of {} failed: {}", path_, temp_path_,
                              errno_text(errno)));
  }
  // step 2: the atomic switch from the old file to the new one
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    throw IoError(fmt::format("atomic_file: {}: cannot rename {} to it: {}", path_, temp_path_,
                              errno_text(errno)));
  }
  committed_ = true;
  // step 3: the rename itself reaches the disk (file systems that cannot sync a directory say
  // EINVAL; there the rename is as durable as it gets)
  const std::string dir = directory_of(path_);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    throw IoError(fmt::format("atomic_file: {}: cannot open directory {} to sync it: {}", path_,
                              dir, errno_text(errno)));
  }
  const int rc = ::fsync(dfd);
  const int err = errno;
  ::close(dfd);
  if (rc != 0 && err != EINVAL) {
    throw IoError(fmt::format("atomic_file: {}: fsync of directory {} failed: {}", path_, dir,
                              errno_text(err)));
  }
}

void write_file_atomic(const std::string& path, std::span<const std::byte> bytes) {
  AtomicFile file(path);
  file.write(bytes);
  file.commit();
}

}  // namespace normlab
