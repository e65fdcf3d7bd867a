// datasets/file_reader.h: whole-file reads for the dataset formats: plain files, files that may be
// gzip-compressed (IDX as distributed), and the regular files inside a .tar.gz archive (CIFAR as
// distributed), read through zlib's gz stream with a small ustar reader. Errors are IoErrors that
// name the path and, where it applies, the byte offset.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace normlab {

// The whole file; IoError "<op>: cannot open <path>: <reason>" when it cannot be read.
std::vector<std::uint8_t> read_file_bytes(std::string_view op, const std::filesystem::path& path);

// The whole file, inflated if it starts with the gzip magic bytes 1f 8b, as is otherwise. A
// truncated or corrupt gzip stream is an IoError naming the path and the inflated byte count.
std::vector<std::uint8_t> read_maybe_gzip(std::string_view op, const std::filesystem::path& path);

// Regular files of a tar archive (POSIX ustar, GNU long names and pax "path" records understood),
// compressed with gzip or not. `keep(name)` selects which entries to read; the others are skipped.
struct TarEntry {
  std::string name;  // path inside the archive, e.g. "cifar-10-batches-bin/data_batch_1.bin"
  std::vector<std::uint8_t> data;
};
std::vector<TarEntry> read_tar(std::string_view op, const std::filesystem::path& path,
                               const std::function<bool(std::string_view name)>& keep);

// "cifar-10-batches-bin/data_batch_1.bin" -> "data_batch_1.bin".
std::string_view base_name(std::string_view path);

// Lines of a text file held in memory, trailing "\r" and spaces removed, empty lines dropped.
std::vector<std::string> text_lines(const std::vector<std::uint8_t>& bytes);

}  // namespace normlab
