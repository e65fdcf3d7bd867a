// tools/main.cpp: the normlab command. The only place that catches normlab errors and exits:
// an Error becomes one line on stderr and exit status 2.
#include <fmt/format.h>
#include <malloc.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/error.h"
#include "core/threads.h"
#include "tools/commands.h"

namespace {

// Runs this process again with OPENBLAS_CORETYPE set when OpenBLAS chose its generic kernels on a
// processor it did not recognise (core/threads.h, better_blas_core). A value the user set is never
// changed, and a failed exec leaves the process running as it was.
void use_fast_blas_kernels(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) {
    return;
  }
  const std::string core = normlab::better_blas_core();
  if (core.empty() || setenv("OPENBLAS_CORETYPE", core.c_str(), 1) != 0) {
    return;
  }
  execv("/proc/self/exe", argv);
}

}  // namespace

// Building the command tree throws only on a programming error (a duplicate option name), which
// should end the program loudly; parsing and running the command are caught below.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape): see above
  use_fast_blas_kernels(argv);
  CLI::App app{"normlab: normalization layers, their gradients, and tiny CNNs on a CPU"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "normlab 0.1.0");
  // Tensors of a training step are freed and allocated again every step. glibc serves blocks over
  // 128 KB with fresh mmaps, so every step paid page faults on its activations; keeping them on
  // the heap made the tiny CNN's training up to a third faster (docs/benchmarks.md).
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  normlab::set_num_threads(0);  // every core in one OpenMP pool; commands with --threads override
  normlab::add_train_command(app);
  normlab::add_eval_command(app);
  normlab::add_sweep_command(app);
  normlab::add_bench_command(app);
  normlab::add_demo_command(app);
  normlab::add_data_command(app);
  normlab::add_probe_command(app);
  normlab::add_jacobian_command(app);
  normlab::add_explain_command(app);
  if (argc > 1 && argv[1][0] != '-') {  // CLI11 would only say "A subcommand is required"
    std::string valid;
    bool known = false;
    for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
      known = known || sub->get_name() == argv[1];
      valid += (valid.empty() ? "" : ", ") + sub->get_name();
    }
    if (!known) {
      std::fprintf(stderr, "normlab: unknown command '%s' (valid: %s)\n", argv[1], valid.c_str());
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();  // a command that has printed its own message (train, interrupted)
  } catch (const CLI::ParseError& e) {
    // --help and --version (also of a subcommand) arrive here as "success" parse errors.
    if (e.get_exit_code() == 0) {
      return app.exit(e);
    }
    std::fprintf(stderr, "normlab: %s\n", e.what());
    return 2;
  } catch (const normlab::Error& e) {
    std::fprintf(stderr, "normlab: %s\n", e.what());
    return 2;
  } catch (const std::filesystem::filesystem_error& e) {
    // A folder or file the user named that the system refuses: their error, not normlab's.
    std::fprintf(stderr, "normlab: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "normlab: internal error: %s\n", e.what());
    return 1;
  }
  return 0;
}
