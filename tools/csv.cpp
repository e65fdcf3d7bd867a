#include "tools/csv.h"

#include <fmt/format.h>

#include <span>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"

namespace normlab {

CsvWriter::CsvWriter(const std::filesystem::path& path, const std::string& header,
                     std::int64_t keep_upto)
    : path_(path) {
  std::vector<std::string> kept;
  if (keep_upto >= 0) {
    std::ifstream in(path);
    std::string line;
    bool first = true;
    while (std::getline(in, line)) {
      if (first) {
        first = false;
        continue;
      }
      const auto comma = line.find(',');
      try {
        if (std::stoll(line.substr(0, comma)) <= keep_upto) {
          kept.push_back(line);
        }
      } catch (const std::exception&) {
        // a torn last line of a killed run: dropped
      }
    }
  }
  out_.open(path, std::ios::trunc);
  if (!out_) {
    throw IoError(fmt::format("csv: cannot write {}", path.string()));
  }
  out_ << header << '\n';
  for (const std::string& r : kept) {
    out_ << r << '\n';
  }
  out_.flush();
}

void CsvWriter::row(const std::string& line) {
  out_ << line << '\n';
  out_.flush();
  if (!out_) {
    throw IoError(fmt::format("csv: write to {} failed", path_.string()));
  }
}

void write_text_file_atomic(const std::string& path, const std::string& text) {
  write_file_atomic(path, std::as_bytes(std::span<const char>(text.data(), text.size())));
}

}  // namespace normlab
