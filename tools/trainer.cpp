#include "tools/trainer.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "autograd/ops.h"
#include "core/error.h"
#include "core/tensor_math.h"
#include "core/threads.h"
#include "datasets/loader.h"
#include "layers/norm/norm_kind.h"
#include "layers/optim/adam.h"
#include "layers/optim/schedule.h"
#include "layers/optim/sgd.h"
#include "models/model.h"
#include "tools/checkpoint.h"
#include "tools/csv.h"
#include "tools/norm_monitor.h"
#include "tools/progress.h"

namespace normlab {

namespace fs = std::filesystem;

namespace {

// Correct predictions among logits (n, K) for labels (n).
std::int64_t count_correct(const Tensor& logits, const Tensor& labels,
                           std::vector<std::vector<std::int64_t>>* confusion = nullptr) {
  const Tensor l = logits.to(DType::f32).contiguous();
  const auto v = l.data<float>();
  const auto y = labels.data<std::int64_t>();
  const std::int64_t n = l.dim(0);
  const std::int64_t K = l.dim(1);
  std::int64_t correct = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t best = 0;
    for (std::int64_t k = 1; k < K; ++k) {
      if (v[static_cast<std::size_t>(i * K + k)] > v[static_cast<std::size_t>(i * K + best)]) {
        best = k;
      }
    }
    const std::int64_t t = y[static_cast<std::size_t>(i)];
    correct += best == t ? 1 : 0;
    if (confusion != nullptr) {
      ++(*confusion)[static_cast<std::size_t>(t)][static_cast<std::size_t>(best)];
    }
  }
  return correct;
}

std::unique_ptr<Optimizer> make_optimizer(const TrainConfig& c, Module& model) {
  const NamedParameters named = model.named_parameters();
  const std::vector<OptimParam> groups =
      c.decay_norm_and_bias ? param_groups(named) : param_groups(named, is_one_dim);
  if (c.optimizer == "sgd") {
    return std::make_unique<SGD>(groups, SGDOptions{.lr = c.effective_lr(),
                                                    .momentum = c.momentum,
                                                    .dampening = 0.0,
                                                    .weight_decay = c.weight_decay,
                                                    .nesterov = c.nesterov});
  }
  const AdamOptions o{.lr = c.effective_lr(), .weight_decay = c.weight_decay};
  if (c.optimizer == "adam") {
    return std::make_unique<Adam>(groups, o);
  }
  return std::make_unique<AdamW>(groups, o);
}

// The schedule counts steps; milestones and warm-up are given in epochs.
std::unique_ptr<LrSchedule> make_schedule(const TrainConfig& c, std::int64_t steps_per_epoch) {
  const double lr = c.effective_lr();
  const std::int64_t total = c.epochs * steps_per_epoch;
  std::unique_ptr<LrSchedule> s;
  if (c.schedule == "constant") {
    s = std::make_unique<ConstantLr>(lr);
  } else if (c.schedule == "multistep") {
    std::vector<std::int64_t> steps;
    for (const std::int64_t e : c.milestones) {
      steps.push_back(e * steps_per_epoch);
    }
    s = std::make_unique<MultiStepLr>(lr, steps, c.gamma);
  } else {
    s = std::make_unique<CosineLr>(lr, std::max<std::int64_t>(total, 1));
  }
  const auto warmup = static_cast<std::int64_t>(std::llround(c.warmup_epochs * steps_per_epoch));
  if (warmup > 0) {
    s = std::make_unique<WarmupLr>(std::move(s), warmup, 0.1);
  }
  return s;
}

std::vector<std::string> split_csv(const std::string& row) {
  std::vector<std::string> cols;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= row.size(); ++i) {
    if (i == row.size() || row[i] == ',') {
      cols.push_back(row.substr(start, i - start));
      start = i + 1;
    }
  }
  return cols;
}

double l2(const Tensor& t) {
  return std::sqrt(dot_all(t, t));
}

struct RunFiles {
  CsvWriter steps, epochs, norm_stats, param_stats;
};

}  // namespace

EvalResult evaluate(Module& model, const Dataset& d, const ChannelStats& stats,
                    std::int64_t batch_size) {
  model.eval();
  EvalResult r;
  r.confusion.assign(static_cast<std::size_t>(d.num_classes()),
                     std::vector<std::int64_t>(static_cast<std::size_t>(d.num_classes()), 0));
  if (d.size() == 0) {
    return r;
  }
  DataLoader loader(d, {.batch_size = batch_size, .shuffle = false, .normalize = stats});
  loader.start_epoch(0);
  double loss_sum = 0.0;
  std::int64_t correct = 0;
  while (auto batch = loader.next()) {
    const Tensor logits = model.forward_no_grad(batch->images);
    const std::int64_t n = batch->labels.numel();
    loss_sum +=
        cross_entropy(Variable(logits), batch->labels).data().item() * static_cast<double>(n);
    correct += count_correct(logits, batch->labels, &r.confusion);
  }
  r.loss = loss_sum / static_cast<double>(d.size());
  r.accuracy = static_cast<double>(correct) / static_cast<double>(d.size());
  return r;
}

std::unique_ptr<Module> build_model(const TrainConfig& c, std::int64_t in_channels,
                                    std::int64_t image_size, std::int64_t num_classes,
                                    NormMonitor* monitor) {
  ModelOptions o;
  o.norm = parse_norm_kind(c.norm);
  o.norm_options.num_groups = c.num_groups;
  o.norm_options.eps = c.norm_eps;
  o.norm_options.momentum = c.norm_momentum;
  o.in_channels = in_channels;
  o.image_size = image_size;
  o.num_classes = num_classes;
  o.width = c.width;
  o.zero_init_last_gamma = c.zero_init_gamma;
  if (monitor != nullptr) {
    o.wrap_norm = [monitor](std::unique_ptr<Module> m) { return monitor->wrap(std::move(m)); };
  }
  Rng rng(c.seed);
  auto model = make_model(parse_model_kind(c.model), o, rng);
  if (monitor != nullptr) {
    monitor->name_layers(*model);
  }
  return model;
}

DatasetSplits select_subsets(DatasetSplits splits, const TrainConfig& c) {
  auto cut = [](Dataset& d, std::int64_t n) {
    if (n > 0 && n < d.size()) {
      d.images = d.images.narrow(0, 0, n);
      d.labels = d.labels.narrow(0, 0, n);
    }
  };
  cut(splits.train, c.train_subset);
  cut(splits.test, c.test_subset);
  return splits;
}

TrainResult train(const TrainConfig& config, const DatasetSplits& splits, bool resume) {
  TrainConfig c = config;
  if (c.out.empty()) {
    c.out = c.default_out();
  }
  c.validate();
  set_num_threads(c.threads);
  const fs::path run(c.out);
  fs::create_directories(run);
  const fs::path last = run / "last.safetensors";
  const fs::path best = run / "best.safetensors";

  const Dataset& tr = splits.train;
  if (tr.size() == 0) {
    throw ValueError(fmt::format("train: the training split of '{}' is empty", c.data));
  }
  const ChannelStats stats = channel_stats(tr);
  NormMonitor monitor;
  auto model = build_model(c, tr.channels(), tr.height(), tr.num_classes(), &monitor);
  auto optimizer = make_optimizer(c, *model);

  LoaderOptions lo{.batch_size = c.batch_size, .shuffle = true, .drop_last = true, .seed = c.seed};
  lo.normalize = stats;
  if (c.augment) {
    lo.augment = {.crop_padding = std::max<std::int64_t>(tr.height() / 8, 1),
                  .horizontal_flip = true};
  }
  if (tr.size() < c.batch_size) {
    throw ValueError(fmt::format("train: --batch-size {} exceeds the {} training images",
                                 c.batch_size, tr.size()));
  }
  DataLoader loader(tr, lo);
  const std::int64_t steps_per_epoch = loader.batches_per_epoch();
  const auto schedule = make_schedule(c, steps_per_epoch);

  std::int64_t start_epoch = 0;
  std::int64_t step = 0;
  double best_acc = 0.0;
  if (resume) {
    const TrainingState st = load_checkpoint(last.string(), *model, *optimizer);
    start_epoch = st.epoch;
    step = st.step;
  }
  write_text_file_atomic((run / "config.json").string(), to_json(c).dump(2) + "\n");

  // Rows to keep on a resume: steps and epochs are counted as done in metrics_*.csv (1-based) and
  // as the index of the step that recorded them in *_stats.csv (0-based).
  const std::int64_t done_steps = resume ? step : -1;
  const std::int64_t done_epochs = resume ? start_epoch : -1;
  const std::int64_t last_recorded = resume ? step - 1 : -1;
  RunFiles files{
      CsvWriter(run / "metrics_steps.csv", "step,epoch,lr,loss,accuracy,images_per_s", done_steps),
      CsvWriter(run / "metrics_epochs.csv",
                "epoch,lr,train_loss,train_accuracy,test_loss,test_accuracy,seconds", done_epochs),
      CsvWriter(run / "norm_stats.csv",
                "step,layer,type,in_mean,in_std,out_mean,out_std,grad_in_norm,grad_out_norm,"
                "bn_mean_gap,bn_var_ratio",
                last_recorded),
      CsvWriter(run / "param_stats.csv", "step,name,weight_norm,grad_norm,update_ratio",
                last_recorded)};

  for (const std::string& row : files.epochs.kept_rows()) {  // best of the epochs before a resume
    const auto cols = split_csv(row);
    if (cols.size() > 5) {
      best_acc = std::max(best_acc, std::stod(cols[5]));
    }
  }

  auto save = [&](const fs::path& path, std::int64_t epoch) {
    TrainingState st;
    st.epoch = epoch;
    st.step = step;
    st.config_json = to_json(c).dump();
    save_checkpoint(path.string(), *model, *optimizer, st);
  };

  Progress progress(c.progress, c.log_every);
  TrainResult result;
  result.run_dir = run.string();
  for (std::int64_t epoch = start_epoch; epoch < c.epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::int64_t first = step - epoch * steps_per_epoch;
    model->train();
    loader.start_epoch(epoch, first);
    progress.start_epoch(epoch, c.epochs, steps_per_epoch, first);
    double loss_sum = 0.0;
    std::int64_t seen = 0;
    std::int64_t correct = 0;
    auto window_start = std::chrono::steady_clock::now();
    std::int64_t window_images = 0;
    while (auto batch = loader.next()) {
      const bool record = c.stats_every > 0 && step % c.stats_every == 0;
      monitor.set_recording(record);
      optimizer->set_lr(schedule->lr_at(step));
      const Variable logits = model->forward(Variable(batch->images));
      const Variable loss = cross_entropy(logits, batch->labels);
      optimizer->zero_grad();
      loss.backward();
      std::vector<Tensor> before;
      if (record) {
        for (const OptimParam& p : optimizer->params()) {
          before.push_back(p.variable->data().clone());
        }
      }
      optimizer->step();
      const std::int64_t n = batch->labels.numel();
      const double l = loss.data().item();
      if (!std::isfinite(l)) {
        throw ValueError(
            fmt::format("train: the loss is {} at step {} (epoch {}); lower --lr or check the data",
                        l, step, epoch + 1));
      }
      loss_sum += l * static_cast<double>(n);
      correct += count_correct(logits.data(), batch->labels);
      seen += n;
      window_images += n;
      if (record) {
        for (const NormLayerStats& s : monitor.collect()) {
          files.norm_stats.row(
              fmt::format("{},{},{},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g}", step,
                          s.layer, s.type, s.in_mean, s.in_std, s.out_mean, s.out_std,
                          s.grad_in_norm, s.grad_out_norm, s.bn_mean_gap, s.bn_var_ratio));
        }
        for (std::size_t i = 0; i < optimizer->params().size(); ++i) {
          const OptimParam& p = optimizer->params()[i];
          Tensor delta = p.variable->data().clone();
          add_(delta, before[i], -1.0);
          const double w = l2(before[i]);
          const double g = p.variable->grad().defined() ? l2(p.variable->grad()) : 0.0;
          files.param_stats.row(fmt::format("{},{},{:.6g},{:.6g},{:.6g}", step, p.name, w, g,
                                            w > 0 ? l2(delta) / w : 0.0));
        }
      }
      const double avg_loss = loss_sum / static_cast<double>(seen);
      const double avg_acc = static_cast<double>(correct) / static_cast<double>(seen);
      progress.update(batch->index, avg_loss, avg_acc, n);
      ++step;
      if (step % c.log_every == 0) {
        const auto now = std::chrono::steady_clock::now();
        const double secs = std::chrono::duration<double>(now - window_start).count();
        files.steps.row(fmt::format("{},{},{:.6g},{:.6g},{:.6g},{:.1f}", step, epoch + 1,
                                    optimizer->lr(), avg_loss, avg_acc,
                                    secs > 0 ? static_cast<double>(window_images) / secs : 0.0));
        window_start = now;
        window_images = 0;
      }
      if (c.checkpoint_every > 0 && step % c.checkpoint_every == 0 &&
          batch->index + 1 < steps_per_epoch) {  // an epoch's end saves below, after evaluation
        save(last, epoch);
      }
      if (c.stop_after_steps > 0 && step >= c.stop_after_steps) {
        progress.end_epoch();
        result.stopped = true;
        return result;  // as if killed: no final checkpoint, no evaluation
      }
    }
    progress.end_epoch();
    EpochRecord rec;
    rec.epoch = epoch + 1;
    rec.lr = optimizer->lr();
    rec.train_loss = seen > 0 ? loss_sum / static_cast<double>(seen) : 0.0;
    rec.train_accuracy = seen > 0 ? static_cast<double>(correct) / static_cast<double>(seen) : 0.0;
    const EvalResult ev = evaluate(*model, splits.test, stats, c.eval_batch_size);
    rec.test_loss = ev.loss;
    rec.test_accuracy = ev.accuracy;
    rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fmt::print(
        "epoch {}/{}: train loss {:.4f} acc {:.2f}% | test loss {:.4f} acc {:.2f}% | {:.1f}s\n",
        rec.epoch, c.epochs, rec.train_loss, 100 * rec.train_accuracy, rec.test_loss,
        100 * rec.test_accuracy, rec.seconds);
    std::fflush(stdout);
    files.epochs.row(fmt::format("{},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{:.2f}", rec.epoch, rec.lr,
                                 rec.train_loss, rec.train_accuracy, rec.test_loss,
                                 rec.test_accuracy, rec.seconds));
    result.epochs.push_back(rec);
    if (ev.accuracy > best_acc || epoch == 0) {
      best_acc = std::max(best_acc, ev.accuracy);
      save(best, epoch + 1);
    }
    save(last, epoch + 1);
  }
  const EvalResult final_eval = evaluate(*model, splits.test, stats, c.eval_batch_size);
  result.final_test_accuracy = final_eval.accuracy;
  result.best_test_accuracy = best_acc;
  return result;
}

}  // namespace normlab
