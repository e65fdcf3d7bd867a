#include "tools/sweep_summary.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

namespace normlab {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream ss(line);
  std::string cell;
  while (std::getline(ss, cell, ',')) {
    cells.push_back(cell);
  }
  return cells;
}

std::string percent(const std::optional<double>& e) {
  return e ? fmt::format("{:.2f}%", *e) : std::string("failed");
}

// A number for the CSV file: empty when undefined.
std::string number(double v) {
  return std::isnan(v) ? std::string() : fmt::format("{:.3f}", v);
}

std::string header_md(const std::vector<std::string>& columns) {
  std::string md = "|";
  std::string rule = "|";
  for (const std::string& c : columns) {
    md += " " + c + " |";
    rule += "---|";
  }
  return md + "\n" + rule + "\n";
}

}  // namespace

SweepRun read_sweep_run(const std::filesystem::path& dir, GridSettings settings,
                        std::string command) {
  SweepRun r;
  r.settings = std::move(settings);
  r.command = std::move(command);
  std::ifstream in(dir / "metrics_epochs.csv");
  std::string line;
  std::getline(in, line);  // header: epoch,lr,train_loss,train_accuracy,test_loss,test_accuracy,…
  double best = -1.0;
  double last = -1.0;
  while (std::getline(in, line)) {
    const auto cells = split_csv_line(line);
    if (cells.size() <= 5) {
      continue;
    }
    last = std::stod(cells[5]);
    best = std::max(best, last);
    ++r.epochs;
  }
  if (r.epochs > 0) {
    r.final_error = 100.0 * (1.0 - last);
    r.best_error = 100.0 * (1.0 - best);
  }
  return r;
}

std::vector<SeedCell> aggregate_over_seeds(const std::vector<SweepRun>& runs,
                                           std::string_view seed_axis) {
  std::vector<SeedCell> cells;
  for (const SweepRun& r : runs) {
    GridSettings key;
    std::copy_if(r.settings.begin(), r.settings.end(), std::back_inserter(key),
                 [&](const auto& s) { return s.first != seed_axis; });
    auto it = std::find_if(cells.begin(), cells.end(),
                           [&](const SeedCell& c) { return c.settings == key; });
    if (it == cells.end()) {
      SeedCell c;
      c.settings = key;
      cells.push_back(std::move(c));
      it = cells.end() - 1;
    }
    if (r.final_error) {
      it->errors.push_back(*r.final_error);
    } else {
      ++it->failed;
    }
  }
  // mean = (1/n) Σ e_i;  std = sqrt( Σ (e_i − mean)² / (n − 1) )
  for (SeedCell& c : cells) {
    const double n = static_cast<double>(c.n());
    double sum = 0.0;
    for (const double e : c.errors) {
      sum += e;
    }
    c.mean = c.n() > 0 ? sum / n : kNaN;
    double ss = 0.0;
    for (const double e : c.errors) {
      ss += (e - c.mean) * (e - c.mean);
    }
    c.std = c.n() > 1 ? std::sqrt(ss / (n - 1)) : kNaN;
  }
  return cells;
}

Table run_table(const std::vector<std::string>& axes, const std::vector<SweepRun>& runs) {
  Table t;
  std::vector<std::string> columns = axes;
  for (const std::string& a : axes) {
    t.csv += a + ",";
  }
  t.csv += "final_test_error,best_test_error,epochs,command\n";
  columns.insert(columns.end(), {"final test error", "best test error", "epochs", "command"});
  t.md = header_md(columns);
  for (const SweepRun& r : runs) {
    t.md += "|";
    for (const auto& [flag, v] : r.settings) {
      t.csv += v + ",";
      t.md += " " + v + " |";
    }
    t.csv += fmt::format("{},{},{},\"{}\"\n", percent(r.final_error), percent(r.best_error),
                         r.epochs, r.command);
    t.md += fmt::format(" {} | {} | {} | `{}` |\n", percent(r.final_error), percent(r.best_error),
                        r.epochs, r.command);
  }
  return t;
}

Table seed_table(const std::vector<std::string>& axes, const std::vector<SeedCell>& cells) {
  Table t;
  std::vector<std::string> columns = axes;
  for (const std::string& a : axes) {
    t.csv += a + ",";
  }
  t.csv += "final_test_error_mean,final_test_error_std,n,failed,min,max\n";
  columns.insert(columns.end(), {"final test error (mean ± std)", "n", "failed", "min", "max"});
  t.md = header_md(columns);
  for (const SeedCell& c : cells) {
    t.md += "|";
    for (const auto& [flag, v] : c.settings) {
      t.csv += v + ",";
      t.md += " " + v + " |";
    }
    const double lo = c.n() > 0 ? *std::min_element(c.errors.begin(), c.errors.end()) : kNaN;
    const double hi = c.n() > 0 ? *std::max_element(c.errors.begin(), c.errors.end()) : kNaN;
    t.csv += fmt::format("{},{},{},{},{},{}\n", number(c.mean), number(c.std), c.n(), c.failed,
                         number(lo), number(hi));
    const std::string mean_std = c.n() == 0   ? std::string("failed")
                                 : c.n() == 1 ? fmt::format("{:.2f}% (one run)", c.mean)
                                              : fmt::format("{:.2f}% ± {:.2f}", c.mean, c.std);
    t.md += fmt::format(" {} | {} | {} | {} | {} |\n", mean_std, c.n(), c.failed,
                        c.n() > 0 ? fmt::format("{:.2f}%", lo) : "-",
                        c.n() > 0 ? fmt::format("{:.2f}%", hi) : "-");
  }
  return t;
}

}  // namespace normlab
