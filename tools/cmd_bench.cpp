// tools/cmd_bench.cpp: `normlab bench`, speed next to the machine's limits.
//   model mode (default): training images/s of a model on random in-memory data. Each batch size
//     runs `--warmup` untimed steps, then `--repeats` timed blocks of `--steps` steps (forward,
//     cross-entropy, backward, SGD momentum update); the median images/s over the blocks, and the
//     peak resident memory of the process, and the achieved GFLOP/s of the step's GEMM work
//     (tools/gemm_work.h) against the sgemm peak.
//   layer mode (--layer NAME --shape NxCxHxW): one layer's forward and forward + backward, µs and
//     the achieved GB/s of the fewest bytes each pass must move (tools/bench_layer.h).
// Both first print the machine's measured bandwidth and sgemm peak (tools/bench_machine.h), and
// with --json one JSON object per figure, for tools/bench_compare.py. tools/bench_torch.py
// measures PyTorch the same way. No data loading: this measures the framework.
#include <fmt/format.h>
#include <malloc.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "autograd/ops.h"
#include "core/random.h"
#include "core/threads.h"
#include "layers/norm/norm_kind.h"
#include "layers/optim/sgd.h"
#include "models/model.h"
#include "tools/bench_layer.h"
#include "tools/bench_machine.h"
#include "tools/bench_stats.h"
#include "tools/commands.h"
#include "tools/gemm_work.h"
#include "tools/probe.h"

namespace normlab {

namespace {

struct BenchOptions {
  std::string model = "tiny";
  std::string norm = "group";
  std::vector<std::int64_t> batch_sizes{2, 8, 32, 128};
  std::int64_t image_size = 28;
  std::int64_t channels = 1;
  std::string layer;
  std::vector<std::string> settings;
  std::string shape;
  std::string mode = "train";
  std::string dtype = "float32";
  int steps = 20;
  int repeats = 5;
  int warmup = 3;
  int threads = 0;
  bool skip_machine = false;
  bool machine_only = false;
  bool json = false;
};

// A field of /proc/self/status in MiB ("VmRSS": resident now, "VmHWM": the peak), or -1.
double status_mib(std::string_view field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with(field) && line.size() > field.size() && line[field.size()] == ':') {
      return std::strtod(line.c_str() + field.size() + 1, nullptr) / 1024.0;  // kB
    }
  }
  return -1.0;
}

// Measures how far one piece of work raises the resident memory above what the process held when
// it started. First the memory that earlier work freed goes back to the system (malloc_trim: the
// machine measurement's matrices or an earlier batch size would otherwise be reused unseen), then
// Linux resets the peak (VmHWM) to the current size when "5" is written to /proc/self/clear_refs.
// Where that is not possible, the growth of getrusage's lifetime peak is the fallback.
class PeakRss {
 public:
  PeakRss() {
    malloc_trim(0);
    std::ofstream clear("/proc/self/clear_refs");
    clear << "5";
    clear.flush();
    reset_ = clear.good() && status_mib("VmHWM") >= 0.0;
    baseline_ = reset_ ? status_mib("VmRSS") : lifetime_peak_mib();
  }
  double growth_mib() const {
    return std::max(0.0, (reset_ ? status_mib("VmHWM") : lifetime_peak_mib()) - baseline_);
  }

 private:
  static double lifetime_peak_mib() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_maxrss) / 1024.0;  // KiB on Linux
  }
  bool reset_ = false;
  double baseline_ = 0.0;
};

struct ModelRate {
  double images_per_s = 0.0;
  GemmWork gemm;  // per training step
};

ModelRate measure_model(const BenchOptions& o, std::int64_t batch) {
  Rng rng(0);
  ModelOptions mo;
  mo.norm = parse_norm_kind(o.norm);
  mo.in_channels = o.channels;
  mo.image_size = o.image_size;
  auto model = make_model(parse_model_kind(o.model), mo, rng);
  model->train();
  SGD sgd(param_groups(model->named_parameters()), {.lr = 0.01, .momentum = 0.9});
  const Tensor x = randn({batch, o.channels, o.image_size, o.image_size}, DType::f32, rng);
  Tensor labels = Tensor::empty({batch}, DType::i64);
  for (std::int64_t i = 0; i < batch; ++i) {
    labels.set({i}, static_cast<double>(rng.randint(10)));
  }
  const GemmWork gemm = count_gemm_work(*model, x);
  auto step = [&] {
    const Variable loss = cross_entropy(model->forward(Variable(x)), labels);
    sgd.zero_grad();
    loss.backward();
    sgd.step();
  };
  for (int i = 0; i < o.warmup; ++i) {
    step();
  }
  std::vector<double> rates;
  rates.reserve(static_cast<std::size_t>(o.repeats));
  for (int r = 0; r < o.repeats; ++r) {
    rates.push_back(static_cast<double>(batch) / seconds_per_call(o.steps, step));
  }
  return {median(rates), gemm};
}

void print_machine(const MachineLimits& m, bool json) {
  fmt::print(
      "machine: {} threads, copy {:.1f} GB/s, triad {:.1f} GB/s, sgemm {:.1f} GFLOP/s (OpenBLAS "
      "{} kernels)\n",
      m.threads, m.copy_gbps, m.triad_gbps, m.sgemm_gflops, blas_core_name());
  if (json) {
    fmt::print("{}\n", nlohmann::json{{"kind", "machine"},
                                      {"threads", m.threads},
                                      {"copy_gbps", m.copy_gbps},
                                      {"triad_gbps", m.triad_gbps},
                                      {"sgemm_gflops", m.sgemm_gflops},
                                      {"blas_core", blas_core_name()}}
                           .dump());
  }
}

// The GEMM work of a step (tools/gemm_work.h) divided by the step's time, next to the sgemm peak
// (0 when the machine was not measured).
void run_model_bench(const BenchOptions& o, const MachineLimits& m) {
  if (o.steps < 1 || o.repeats < 1 || o.warmup < 0) {
    throw ValueError("bench: --steps and --repeats must be at least 1, --warmup at least 0");
  }
  for (const std::int64_t b : o.batch_sizes) {
    if (b < 1) {
      throw ValueError(fmt::format("bench: batch size {} must be at least 1", b));
    }
  }
  fmt::print("normlab bench: {} + {}, {}x{}x{} inputs, {} threads, median of {} x {} steps\n",
             o.model, o.norm, o.channels, o.image_size, o.image_size, num_threads(), o.repeats,
             o.steps);
  fmt::print("{:>6}  {:>12}  {:>14}  {:>12}  {:>12}\n", "batch", "images/s", "peak RSS MiB",
             "GEMM GFLOP/s", "of peak");
  for (const std::int64_t b : o.batch_sizes) {
    const PeakRss peak;
    const ModelRate r = measure_model(o, b);
    const double rate = r.images_per_s;
    const double rss = peak.growth_mib();
    const double gemm_gflops = r.gemm.step_flops * rate / static_cast<double>(b) / 1e9;
    const double share = m.sgemm_gflops > 0.0 ? gemm_gflops / m.sgemm_gflops : 0.0;
    fmt::print("{:>6}  {:>12.1f}  {:>14.1f}  {:>12.1f}  {:>12}\n", b, rate, rss, gemm_gflops,
               share > 0.0 ? fmt::format("{:.0f}%", 100.0 * share) : std::string("-"));
    if (o.json) {
      fmt::print(
          "{}\n",
          nlohmann::json{{"kind", "model"},
                         {"model", o.model},
                         {"norm", o.norm},
                         {"input", fmt::format("{}x{}x{}", o.channels, o.image_size, o.image_size)},
                         {"batch", b},
                         {"images_per_s", rate},
                         {"peak_rss_mib", rss},
                         {"gemm_flops_per_step", r.gemm.step_flops},
                         {"gemm_gflops", gemm_gflops}}
              .dump());
    }
    std::fflush(stdout);
  }
}

void run_layer_bench(const BenchOptions& o, const MachineLimits& m) {
  LayerBenchRequest r;
  r.layer = o.layer;
  r.options = parse_probe_settings(o.settings);
  r.shape = OptionReader("bench", {{"shape", o.shape}}).required_shape("shape");
  r.dtype = o.dtype == "float64" ? DType::f64 : DType::f32;
  if (o.dtype != "float32" && o.dtype != "float64") {
    throw ValueError(fmt::format("bench: --dtype must be float32 or float64 (got '{}')", o.dtype));
  }
  r.train = parse_probe_mode(o.mode);
  r.steps = o.steps;
  r.repeats = o.repeats;
  r.warmup = o.warmup;
  const LayerBenchResult res = bench_layer(r);
  const double bw = m.copy_gbps;
  auto gbps = [](double bytes, double us) { return bytes / (us * 1e-6) / 1e9; };
  fmt::print("normlab bench: {} {} {} {}, {} threads, median of {} x {} calls\n", o.layer,
             fmt::join(o.settings, " "), o.shape, o.mode, num_threads(), o.repeats, o.steps);
  // A convolution or linear layer also gets the GFLOP/s of its GEMM work, next to the sgemm peak.
  const bool gemm = res.forward_flops > 0.0;
  fmt::print("{:>18}  {:>10}  {:>8}  {:>12}{}\n", "pass", "µs", "GB/s", "bound µs",
             gemm ? fmt::format("  {:>8}  {:>8}", "GFLOP/s", "of peak") : std::string());
  for (const auto& [pass, us, bytes, flops] :
       {std::tuple{"forward", res.forward_us, res.forward_bytes, res.forward_flops},
        std::tuple{"forward+backward", res.forward_backward_us, res.forward_backward_bytes,
                   res.forward_backward_flops}}) {
    const double bound_us = bw > 0.0 ? bytes / (bw * 1e9) * 1e6 : 0.0;
    const double gflops = flops / (us * 1e-6) / 1e9;
    const std::string share = m.sgemm_gflops > 0.0
                                  ? fmt::format("{:.0f}%", 100.0 * gflops / m.sgemm_gflops)
                                  : std::string("-");
    fmt::print("{:>18}  {:>10.1f}  {:>8.1f}  {:>12.1f}{}\n", pass, us, gbps(bytes, us), bound_us,
               gemm ? fmt::format("  {:>8.1f}  {:>8}", gflops, share) : std::string());
  }
  if (o.json) {
    fmt::print("{}\n", nlohmann::json{{"kind", "layer"},
                                      {"layer", o.layer},
                                      {"settings", o.settings},
                                      {"shape", o.shape},
                                      {"mode", o.mode},
                                      {"forward_us", res.forward_us},
                                      {"forward_backward_us", res.forward_backward_us},
                                      {"forward_bytes", res.forward_bytes},
                                      {"forward_backward_bytes", res.forward_backward_bytes},
                                      {"forward_flops", res.forward_flops},
                                      {"forward_backward_flops", res.forward_backward_flops}}
                           .dump());
  }
}

void run_bench(const BenchOptions& o) {
  set_num_threads(o.threads);
  MachineLimits m;
  m.threads = num_threads();
  if (!o.skip_machine) {
    m = measure_machine();
    print_machine(m, o.json);
  }
  if (o.machine_only) {
    return;
  }
  if (!o.layer.empty()) {
    run_layer_bench(o, m);
  } else {
    run_model_bench(o, m);
  }
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "bench",
      "training images/s of a model, or one layer's µs and GB/s, next to the machine's "
      "measured bandwidth and sgemm peak");
  auto o = std::make_shared<BenchOptions>();
  cmd->option_defaults()->always_capture_default();
  cmd->add_option("--model", o->model, "model mode: tiny | vgg | resnet20");
  cmd->add_option("--norm", o->norm, "model mode: normalization of the model");
  cmd->add_option("--batch-sizes", o->batch_sizes, "model mode: batch sizes to measure")
      ->delimiter(',');
  cmd->add_option("--image-size", o->image_size, "model mode: input height and width");
  cmd->add_option("--channels", o->channels, "model mode: input channels");
  cmd->add_option("--layer", o->layer, "layer mode: a layer of the layer table (as normlab probe)");
  cmd->add_option("--set", o->settings, "layer mode: a layer option key=value (repeatable)");
  cmd->add_option("--shape", o->shape, "layer mode: shape of x, e.g. 32x64x32x32");
  cmd->add_option("--mode", o->mode, "layer mode: train | eval");
  cmd->add_option("--dtype", o->dtype, "layer mode: float32 | float64");
  cmd->add_option("--steps", o->steps, "steps (or calls) per timed block");
  cmd->add_option("--repeats", o->repeats, "timed blocks; the median is reported");
  cmd->add_option("--warmup", o->warmup, "untimed steps first");
  cmd->add_option("--threads", o->threads, "threads (0: every core)");
  cmd->add_flag("--skip-machine", o->skip_machine, "do not measure bandwidth and sgemm peak");
  cmd->add_flag("--machine-only", o->machine_only, "only measure bandwidth and sgemm peak");
  cmd->add_flag("--json", o->json, "also print one JSON object per figure");
  cmd->callback([o] {
    if (o->skip_machine && o->machine_only) {
      throw ValueError("bench: --skip-machine and --machine-only exclude each other");
    }
    if (!o->layer.empty() && o->shape.empty()) {
      throw ValueError("bench: --layer needs --shape (e.g. --shape 32x64x32x32)");
    }
    run_bench(*o);
  });
}

}  // namespace normlab
