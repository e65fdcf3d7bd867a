// tools/csv.h: the run directory's CSV files, appended to row by row.
// A resumed run reopens each file and keeps only the rows up to the checkpoint it resumes from
// (rows whose first column is ≤ keep_upto), so no row is written twice. A new run (keep_upto < 0)
// starts the file afresh.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace normlab {

class CsvWriter {
 public:
  CsvWriter(const std::filesystem::path& path, const std::string& header, std::int64_t keep_upto);
  void row(const std::string& line);  // flushed at once: a crash loses no finished row

 private:
  std::filesystem::path path_;
  std::ofstream out_;
};

// The file's contents written atomically (temporary file + rename).
void write_text_file_atomic(const std::string& path, const std::string& text);

}  // namespace normlab
