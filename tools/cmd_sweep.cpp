// tools/cmd_sweep.cpp: `normlab sweep`, a grid of training runs and tables of their results.
//   normlab sweep --grid norm=batch,group --grid batch-size=32,16,8,4,2 --grid seed=0,1,2
//                 --out runs/sweep -- --epochs 2 --lr 0.02 --lr-base-batch 32
// Each point of the grid is one `normlab train` run (a child process of this same binary) in
// <out>/<name>/, with its log in train.log. Runs go one after another, or --parallel at a time
// with the cores split between them. <out>/sweep.json records the grid, the flags after -- and the
// threads per run. Rerunning the same command (or `normlab sweep --resume <out>`) keeps the runs
// that hold every epoch, resumes the others from their last checkpoint with `normlab train
// --resume`, and starts those without one; a different grid is an error. The tables
// (tools/sweep_summary.h) list each run's final test error with the command that reproduces it
// and, with a seed axis, the mean ± std over the seeds of every other cell.
#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "datasets/spec.h"
#include "tools/commands.h"
#include "tools/csv.h"
#include "tools/output_dir.h"
#include "tools/sweep_spec.h"
#include "tools/sweep_summary.h"
#include "tools/train_config.h"

extern char** environ;  // NOLINT: POSIX, for posix_spawn

namespace normlab {

namespace fs = std::filesystem;

namespace {

struct SweepOptions {
  std::vector<std::string> grid;        // "flag=v1,v2,..."
  std::vector<std::string> train_args;  // passed to every run
  std::string out = "runs/sweep";
  int parallel = 1;
  int threads = 0;  // per run; 0: cores / parallel
  bool dry_run = false;
  std::string resume;  // a sweep directory: its sweep.json gives grid, flags and threads
};

struct Axis {
  std::string flag;
  std::vector<std::string> values;
};

struct Point {
  std::string name;
  std::vector<std::pair<std::string, std::string>> settings;  // (flag, value)
  std::vector<std::string> args;                              // train's arguments
  fs::path dir;
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, sep)) {
    parts.push_back(part);
  }
  return parts;
}

Axis parse_axis(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
    throw ValueError(fmt::format("sweep: --grid '{}' is not of the form flag=v1,v2,...", text));
  }
  Axis a{text.substr(0, eq), split(text.substr(eq + 1), ',')};
  if (a.flag.rfind("--", 0) == 0) {
    a.flag = a.flag.substr(2);
  }
  if (a.flag == "out" || a.flag == "resume") {
    throw ValueError(fmt::format("sweep: --{} cannot be a grid axis", a.flag));
  }
  const std::set<std::string> distinct(a.values.begin(), a.values.end());
  if (distinct.size() != a.values.size() || distinct.contains("")) {
    throw ValueError(fmt::format("sweep: --grid '{}' has an empty or a repeated value", text));
  }
  return a;
}

int threads_per_run(const SweepOptions& o) {
  return o.threads > 0 ? o.threads
                       : std::max(1, static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)) / o.parallel);
}

std::vector<Point> expand(const std::vector<Axis>& axes, const SweepOptions& o) {
  std::vector<Point> points(1);
  for (const Axis& axis : axes) {
    std::vector<Point> next;
    for (const Point& p : points) {
      for (const std::string& v : axis.values) {
        Point q = p;
        q.settings.emplace_back(axis.flag, v);
        next.push_back(q);
      }
    }
    points = std::move(next);
  }
  const int threads = threads_per_run(o);
  for (Point& p : points) {
    std::string name;
    for (const auto& [flag, v] : p.settings) {
      name += fmt::format("{}{}-{}", name.empty() ? "" : "_", flag, v);
      p.args.push_back("--" + flag);
      p.args.push_back(v);
    }
    p.name = name.empty() ? "run" : name;
    for (char& ch : p.name) {
      if (ch == '/' || ch == ' ' || ch == ':') {
        ch = '_';
      }
    }
    p.dir = fs::path(o.out) / p.name;
    p.args.insert(p.args.end(), o.train_args.begin(), o.train_args.end());
    p.args.insert(p.args.end(),
                  {"--out", p.dir.string(), "--threads", std::to_string(threads), "--no-progress"});
  }
  return points;
}

std::string shell_quote(const std::string& s) {
  if (s.find_first_of(" '\"$\\") == std::string::npos) {
    return s;
  }
  std::string q = "'";
  for (const char ch : s) {
    q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  }
  return q + "'";
}

std::string command_line(const Point& p) {
  std::string cmd = "normlab train";
  for (const std::string& a : p.args) {
    cmd += " " + shell_quote(a);
  }
  return cmd;
}

std::int64_t epochs_of(const Point& p) {
  std::ifstream in(p.dir / "config.json");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto at = text.find("\"epochs\":");
  return at == std::string::npos ? -1 : std::stoll(text.substr(at + 9));
}

bool finished(const Point& p) {
  const std::int64_t done = read_sweep_run(p.dir, {}, {}).epochs;
  return done > 0 && done == epochs_of(p);
}

// A run that wrote a checkpoint before it was killed continues from it.
bool resumable(const Point& p) {
  return fs::exists(p.dir / "last.safetensors") && fs::exists(p.dir / "config.json");
}

// Starts `self train <args>` with stdout and stderr going to <dir>/train.log; a resumed run runs
// `self train --resume <dir>` and appends to the log.
pid_t spawn_run(const std::string& self, const Point& p, bool resume) {
  fs::create_directories(p.dir);
  const std::string log = (p.dir / "train.log").string();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | (resume ? O_APPEND : O_TRUNC), 0644);
  posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
  std::vector<std::string> argv_s{self, "train"};
  if (resume) {
    argv_s.insert(argv_s.end(), {"--resume", p.dir.string(), "--no-progress"});
  } else {
    argv_s.insert(argv_s.end(), p.args.begin(), p.args.end());
  }
  std::vector<char*> argv;
  argv.reserve(argv_s.size() + 1);
  for (std::string& s : argv_s) {
    argv.push_back(s.data());
  }
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, self.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    throw IoError(fmt::format("sweep: cannot start {}: {}", self, std::strerror(rc)));
  }
  return pid;
}

void write_summary(const SweepOptions& o, const std::vector<Point>& points,
                   const std::vector<Axis>& axes) {
  std::vector<std::string> flags;
  std::vector<std::string> cell_flags;
  for (const Axis& a : axes) {
    flags.push_back(a.flag);
    if (a.flag != "seed") {
      cell_flags.push_back(a.flag);
    }
  }
  std::vector<SweepRun> runs;
  runs.reserve(points.size());
  for (const Point& p : points) {
    runs.push_back(read_sweep_run(p.dir, p.settings, command_line(p)));
  }
  const Table per_run = run_table(flags, runs);
  write_text_file_atomic((fs::path(o.out) / "summary.csv").string(), per_run.csv);
  write_text_file_atomic((fs::path(o.out) / "summary.md").string(), per_run.md);
  fmt::print("{}", per_run.md);
  if (cell_flags.size() < flags.size()) {
    const Table seeds = seed_table(cell_flags, aggregate_over_seeds(runs, "seed"));
    write_text_file_atomic((fs::path(o.out) / "summary_seeds.csv").string(), seeds.csv);
    write_text_file_atomic((fs::path(o.out) / "summary_seeds.md").string(), seeds.md);
    fmt::print("\nover the seeds (mean ± sample std):\n{}", seeds.md);
  }
}

SweepSpec sweep_spec(const std::vector<Axis>& axes, const SweepOptions& o) {
  SweepSpec spec;
  spec.train_args = o.train_args;
  spec.threads = threads_per_run(o);
  for (const Axis& a : axes) {
    spec.grid.emplace_back(a.flag, a.values);
  }
  return spec;
}

// --resume DIR: the options of the sweep saved in DIR (only --parallel may be given anew).
SweepOptions resumed_options(const CLI::App& cmd, const SweepOptions& given) {
  for (const char* flag : {"--grid", "--out", "--threads", "train_args"}) {
    if (cmd.count(flag) > 0) {
      throw ValueError(fmt::format(
          "sweep: {} cannot be combined with --resume (the sweep's sweep.json is used; only "
          "--parallel may be changed)",
          flag));
    }
  }
  const SweepSpec spec = read_sweep_spec(given.resume);
  SweepOptions o = given;
  o.out = given.resume;
  for (const auto& [flag, values] : spec.grid) {
    std::string text = flag + "=";
    for (std::size_t i = 0; i < values.size(); ++i) {
      text += (i == 0 ? "" : ",") + values[i];
    }
    o.grid.push_back(text);
  }
  o.train_args = spec.train_args;
  o.threads = spec.threads;
  return o;
}

// The flags sweep sets on every run itself, and flags given twice (two axes, or an axis and the
// flags after --), are errors before anything runs.
void check_axes(const std::vector<Axis>& axes, const SweepOptions& o) {
  std::set<std::string> seen;
  for (const Axis& a : axes) {
    if (a.flag == "threads") {
      throw ValueError("sweep: --threads cannot be a grid axis (use sweep's own --threads)");
    }
    if (!seen.insert(a.flag).second) {
      throw ValueError(fmt::format("sweep: --{} is a grid axis twice", a.flag));
    }
  }
  for (const std::string& arg : o.train_args) {
    const std::string flag = arg.rfind("--", 0) == 0 ? arg.substr(2, arg.find('=') - 2) : "";
    if (flag == "out" || flag == "resume" || flag == "threads") {
      throw ValueError(fmt::format(
          "sweep: --{} cannot be passed to the runs (sweep sets it for each run)", flag));
    }
    if (seen.contains(flag)) {
      throw ValueError(
          fmt::format("sweep: --{} is both a grid axis and a flag for every run", flag));
    }
  }
}

// Parses one run's arguments exactly as `normlab train` would and validates the result, so that a
// bad value anywhere in the grid fails before the first run starts.
void check_point(const Point& p) {
  CLI::App app{"train"};
  TrainConfig c;
  add_train_flags(app, c);
  std::vector<std::string> args(p.args.rbegin(), p.args.rend());  // CLI11 takes them reversed
  try {
    app.parse(args);
    c.validate();
    check_flag_conflicts(app, c);
    parse_dataset_spec(c.data);
  } catch (const CLI::ParseError& e) {
    throw ValueError(fmt::format("sweep: run {}: {}", p.name, e.what()));
  } catch (const Error& e) {
    throw ValueError(fmt::format("sweep: run {}: {}", p.name, e.what()));
  }
}

void run_sweep(const SweepOptions& o) {
  if (o.parallel < 1) {
    throw ValueError("sweep: --parallel must be at least 1");
  }
  if (o.threads < 0) {
    throw ValueError("sweep: --threads must not be negative");
  }
  std::vector<Axis> axes;
  for (const std::string& g : o.grid) {
    axes.push_back(parse_axis(g));
  }
  if (axes.empty()) {
    throw ValueError("sweep: give at least one --grid axis, or --resume a sweep directory");
  }
  check_axes(axes, o);
  const std::vector<Point> points = expand(axes, o);
  for (const Point& p : points) {
    check_point(p);
  }
  if (!o.dry_run) {
    prepare_output_dir("sweep", o.out);
    check_or_save_sweep_spec(o.out, sweep_spec(axes, o));
  }
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  fmt::print("sweep: {} runs, {} at a time, in {}\n", points.size(), o.parallel, o.out);
  std::map<pid_t, const Point*> running;
  int failures = 0;
  auto wait_one = [&] {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, 0);
    const auto it = running.find(pid);
    if (it == running.end()) {
      return;
    }
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    failures += ok ? 0 : 1;
    fmt::print("sweep: {} {}\n", it->second->name,
               ok ? "done" : fmt::format("FAILED (see {}/train.log)", it->second->dir.string()));
    std::fflush(stdout);
    running.erase(it);
  };
  for (const Point& p : points) {
    if (o.dry_run) {
      fmt::print("{}\n", command_line(p));
      continue;
    }
    if (finished(p)) {
      fmt::print("sweep: {} already finished\n", p.name);
      continue;
    }
    while (static_cast<int>(running.size()) >= o.parallel) {
      wait_one();
    }
    const bool resume = resumable(p);
    fmt::print("sweep: {} {}\n", p.name,
               resume ? fmt::format("resumed from {}", (p.dir / "last.safetensors").string())
                      : std::string("started"));
    std::fflush(stdout);
    running[spawn_run(self, p, resume)] = &p;
  }
  while (!running.empty()) {
    wait_one();
  }
  if (!o.dry_run) {
    write_summary(o, points, axes);
  }
  if (failures > 0) {
    throw ValueError(fmt::format("sweep: {} of {} runs failed", failures, points.size()));
  }
}

}  // namespace

void add_sweep_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "sweep",
      "run a grid of trainings and summarize their test errors (flags after -- go to every run). "
      "Rerunning the same command, or --resume DIR, keeps finished runs, resumes unfinished ones "
      "from their checkpoints and starts the rest. On a 2-core machine --parallel 2 --threads 1 "
      "keeps both cores busy with two runs; --parallel 1 --threads 2 runs one at a time, and a "
      "second thread speeds a step up less at small batches (tiny CNN in docs/benchmarks.md: 1.9x "
      "at batch 32, 1.5x at batch 2), so a grid with small batches finishes sooner with "
      "--parallel 2 --threads 1. Weights depend on the thread count: keep --threads fixed to "
      "reproduce a run");
  auto o = std::make_shared<SweepOptions>();
  cmd->add_option("--grid", o->grid,
                  "an axis: a train flag and its values, e.g. norm=batch,group (repeatable); a "
                  "seed axis (seed=0,1,2) is averaged over in summary_seeds.csv/.md");
  cmd->add_option("--out", o->out, "sweep directory")->capture_default_str();
  cmd->add_option("--resume", o->resume,
                  "continue the sweep in this directory as its sweep.json describes it");
  cmd->add_option("--parallel", o->parallel,
                  "runs at a time; each gets --threads threads (wall time falls about linearly "
                  "with --parallel while parallel x threads <= cores)")
      ->capture_default_str();
  cmd->add_option("--threads", o->threads,
                  "threads per run (0: cores / parallel); parallel x threads above the core count "
                  "oversubscribes and slows every run")
      ->capture_default_str();
  cmd->add_flag("--dry-run", o->dry_run, "print the commands only");
  cmd->add_option("train_args", o->train_args, "flags for every run, after --");
  cmd->callback([cmd, o] { run_sweep(o->resume.empty() ? *o : resumed_options(*cmd, *o)); });
}

}  // namespace normlab
