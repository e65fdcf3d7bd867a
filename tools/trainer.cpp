#include "tools/trainer.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "autograd/ops.h"
#include "core/error.h"
#include "core/threads.h"
#include "datasets/loader.h"
#include "layers/norm/norm_kind.h"
#include "layers/optim/adam.h"
#include "layers/optim/schedule.h"
#include "layers/optim/sgd.h"
#include "models/model.h"
#include "tools/anomaly.h"
#include "tools/checkpointer.h"
#include "tools/csv.h"
#include "tools/data_parallel.h"
#include "tools/interrupt.h"
#include "tools/landscape.h"
#include "tools/norm_monitor.h"
#include "tools/progress.h"
#include "tools/run_recorder.h"
#include "tools/train_step.h"

namespace normlab {

namespace fs = std::filesystem;

namespace {

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
  const auto warmup = static_cast<std::int64_t>(
      std::llround(c.warmup_epochs * static_cast<double>(steps_per_epoch)));
  if (warmup > 0) {
    s = std::make_unique<WarmupLr>(std::move(s), warmup, 0.1);
  }
  return s;
}

LoaderOptions train_loader_options(const TrainConfig& c, const Dataset& tr,
                                   const ChannelStats& stats) {
  LoaderOptions lo{.batch_size = c.batch_size, .shuffle = true, .drop_last = true, .seed = c.seed};
  lo.normalize = stats;
  if (c.augment) {
    lo.augment = {.crop_padding = std::max<std::int64_t>(tr.height() / 8, 1),
                  .horizontal_flip = true};
  }
  return lo;
}

// What the steps of an epoch work on.
struct Loop {
  const TrainConfig& c;
  Module& model;
  Optimizer& optimizer;
  DataLoader& loader;
  const LrSchedule& schedule;
  NormMonitor& monitor;
  RunRecorder* recorder;  // null on the ranks of a data-parallel run that write nothing
  Checkpointer& checkpointer;
  Progress* progress;  // null with recorder
  const RunControl& control;
  AnomalyDetector* anomaly;  // null without --detect-anomaly
  std::vector<double> landscape_etas;
  DataParallel* data_parallel;  // null in a single process
};

// The one line a diverging run ends with. Steps are counted from 1 here, as in metrics_steps.csv
// and in the checkpoints (a checkpoint "after step n" holds n steps).
std::string diverged(const Loop& l, double loss, std::int64_t step, std::int64_t epoch) {
  const std::string last =
      l.checkpointer.last_step() >= 0
          ? fmt::format("{} (after step {}) is intact; resume with normlab train --resume {}",
                        l.checkpointer.last_path().string(), l.checkpointer.last_step(), l.c.out)
          : "no checkpoint was written before it";
  return fmt::format(
      "train: the loss is {} at step {} (epoch {}); stopped before its update; {}; lower --lr, "
      "check the data, or find the first non-finite layer with --detect-anomaly",
      loss, step + 1, epoch + 1, last);
}

// The steps of one epoch, from the one after `step` steps done; advances step. Returns nothing,
// leaving the rest of the epoch undone, when --stop-after-steps is reached.
std::optional<EpochTally> train_epoch(Loop& l, std::int64_t epoch, std::int64_t& step) {
  const std::int64_t steps_per_epoch = l.loader.batches_per_epoch();
  const std::int64_t first = step - epoch * steps_per_epoch;
  l.model.train();
  l.loader.start_epoch(epoch, first);
  if (l.recorder != nullptr) {
    l.progress->start_epoch(epoch, l.c.epochs, steps_per_epoch, first);
    l.recorder->start_epoch();
  }
  EpochTally tally;
  while (auto batch = l.loader.next()) {
    if (l.c.landscape_every > 0 && step % l.c.landscape_every == 0) {
      l.monitor.set_recording(false);  // the measurement's forwards are not the step's
      l.recorder->landscape(step, measure_landscape(l.model, *batch, l.landscape_etas));
    }
    const bool record = l.recorder != nullptr && l.c.stats_every > 0 && step % l.c.stats_every == 0;
    l.monitor.set_recording(record);
    if (l.anomaly != nullptr) {
      l.anomaly->start_step(step + 1);  // counted from 1, as in the messages and CSV files
    }
    const StepResult s =
        train_step(l.model, l.optimizer, l.data_parallel ? l.data_parallel->shard(*batch) : *batch,
                   l.schedule.lr_at(step), record, l.anomaly, l.data_parallel);
    if (!std::isfinite(s.loss)) {
      throw ValueError(diverged(l, s.loss, step, epoch));
    }
    tally.add(s);
    if (record) {
      l.recorder->norm_stats(step, l.monitor.collect());
      l.recorder->param_stats(step, s.params);
    }
    if (l.recorder != nullptr) {
      l.progress->update(batch->index, tally.mean_loss(), tally.accuracy(), s.images);
      l.recorder->step_done(step, epoch, l.optimizer.lr(), tally, s.images);
    }
    ++step;
    if (l.c.checkpoint_every > 0 && step % l.c.checkpoint_every == 0 &&
        batch->index + 1 < steps_per_epoch) {  // an epoch's end saves after its evaluation
      if (l.data_parallel != nullptr) {
        l.data_parallel->average_buffers(l.model);
      }
      l.checkpointer.save_last(l.model, l.optimizer, epoch, step);
    }
    if (l.control.step_delay_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(l.control.step_delay_ms));
    }
    // A signal after an epoch's last step lets the epoch end (evaluation, checkpoint) first.
    const bool interrupted = l.control.interrupt != nullptr && l.control.interrupt->signal() != 0 &&
                             batch->index + 1 < steps_per_epoch;
    if (interrupted && l.checkpointer.last_step() != step) {
      l.checkpointer.save_last(l.model, l.optimizer, epoch, step);
    }
    if (interrupted || (l.c.stop_after_steps > 0 && step >= l.c.stop_after_steps)) {
      if (l.progress != nullptr) {
        l.progress->end_epoch();
      }
      return std::nullopt;
    }
  }
  if (l.progress != nullptr) {
    l.progress->end_epoch();
  }
  return tally;
}

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
    const Tensor logits = model.forward_no_grad(model_input(model, batch->images));
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
                                    NormMonitor* monitor, Communicator* comm) {
  ModelOptions o;
  o.norm = parse_norm_kind(c.norm);
  o.norm_options.num_groups = c.num_groups;
  o.group_size = c.group_size;
  o.norm_options.eps = c.norm_eps;
  o.norm_options.momentum = c.norm_momentum;
  o.norm_options.comm = comm;
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
  if (c.dtype == "float64") {  // the float32 init, widened: both dtypes start from the same weights
    model->to(DType::f64);
  }
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

TrainResult train(const TrainConfig& config, const DatasetSplits& splits, bool resume,
                  const RunControl& control) {
  TrainConfig c = config;
  if (c.out.empty()) {
    c.out = c.default_out();
  }
  c.validate();
  set_num_threads(c.threads);
  const fs::path run(c.out);
  const bool writer = control.comm == nullptr || control.comm->rank() == 0;
  if (writer) {
    fs::create_directories(run);
  }

  const Dataset& tr = splits.train;
  if (tr.size() == 0) {
    throw ValueError(fmt::format("train: the training split of '{}' is empty", c.data));
  }
  const ChannelStats stats = channel_stats(tr);
  NormMonitor monitor;
  auto model = build_model(c, tr.channels(), tr.height(), tr.num_classes(), &monitor, control.comm);
  auto optimizer = make_optimizer(c, *model);
  std::optional<DataParallel> data_parallel;
  if (control.comm != nullptr && control.comm->size() > 1) {
    if (c.landscape_every > 0) {  // its forwards and backwards would need every rank's shard
      throw ValueError("train: --landscape-every runs in a single process only, not under mpirun");
    }
    data_parallel.emplace(*control.comm, optimizer->params());
    const std::int64_t share = data_parallel->shard_size(c.batch_size);  // K must divide it
    if (writer) {
      fmt::print("data parallel: {} ranks, {} images per rank of every batch of {}; {}\n",
                 data_parallel->size(), share, c.batch_size, data_parallel->describe());
    }
  }
  if (tr.size() < c.batch_size) {
    throw ValueError(fmt::format("train: --batch-size {} exceeds the {} training images",
                                 c.batch_size, tr.size()));
  }
  DataLoader loader(tr, train_loader_options(c, tr, stats));
  const auto schedule = make_schedule(c, loader.batches_per_epoch());

  Checkpointer checkpointer(run, to_json(c).dump(), control.checkpoint_delay_ms, writer);
  TrainingState start;
  if (resume) {
    start = checkpointer.resume(*model, *optimizer);  // every rank reads the same file
  }
  if (data_parallel) {
    data_parallel->broadcast_from_rank0(*model);
  }
  std::optional<RunRecorder> recorder;
  std::optional<Progress> progress;
  if (writer) {
    write_text_file_atomic((run / "config.json").string(), to_json(c).dump(2) + "\n");
    recorder.emplace(run, c.log_every, resume ? start.step : -1, resume ? start.epoch : -1,
                     c.landscape_every > 0);
    progress.emplace(c.progress, c.log_every);
  }
  // Evaluation of the test split: split over the ranks (and their running statistics averaged
  // first) in a data-parallel run.
  auto evaluate_test = [&] {
    if (!data_parallel) {
      return evaluate(*model, splits.test, stats, c.eval_batch_size);
    }
    data_parallel->average_buffers(*model);
    return data_parallel->evaluate(*model, splits.test, stats, c.eval_batch_size);
  };
  std::optional<AnomalyDetector> anomaly;
  if (control.detect_anomaly) {
    anomaly.emplace(*model);
  }
  Loop loop{c,
            *model,
            *optimizer,
            loader,
            *schedule,
            monitor,
            recorder ? &*recorder : nullptr,
            checkpointer,
            progress ? &*progress : nullptr,
            control,
            anomaly ? &*anomaly : nullptr,
            c.landscape_etas.empty() ? default_landscape_etas(c.effective_lr()) : c.landscape_etas,
            data_parallel ? &*data_parallel : nullptr};

  TrainResult result;
  result.run_dir = run.string();
  std::int64_t step = start.step;
  for (std::int64_t epoch = start.epoch; epoch < c.epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::optional<EpochTally> tally = train_epoch(loop, epoch, step);
    if (!tally) {
      result.interrupted_by = control.interrupt != nullptr ? control.interrupt->signal() : 0;
      result.stopped = result.interrupted_by == 0;
      result.steps = step;
      return result;  // --stop-after-steps: as if killed; a signal: after its checkpoint
    }
    const EvalResult ev = evaluate_test();
    const EpochRecord rec{
        .epoch = epoch + 1,
        .lr = optimizer->lr(),
        .train_loss = tally->mean_loss(),
        .train_accuracy = tally->accuracy(),
        .test_loss = ev.loss,
        .test_accuracy = ev.accuracy,
        .seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()};
    if (writer) {
      fmt::print(
          "epoch {}/{}: train loss {:.4f} acc {:.2f}% | test loss {:.4f} acc {:.2f}% | {:.1f}s\n",
          rec.epoch, c.epochs, rec.train_loss, 100 * rec.train_accuracy, rec.test_loss,
          100 * rec.test_accuracy, rec.seconds);
      std::fflush(stdout);
      recorder->epoch_done(rec);
    }
    result.epochs.push_back(rec);
    checkpointer.epoch_done(*model, *optimizer, rec.epoch, step, ev.accuracy);
    if (control.interrupt != nullptr && control.interrupt->signal() != 0 && rec.epoch < c.epochs) {
      result.interrupted_by = control.interrupt->signal();
      result.steps = step;
      return result;
    }
  }
  // The last epoch's evaluation is the final one; a resumed run that had no epoch left to train
  // evaluates its model once.
  result.final_test_accuracy =
      result.epochs.empty() ? evaluate_test().accuracy : result.epochs.back().test_accuracy;
  result.best_test_accuracy = checkpointer.best_accuracy();
  return result;
}

}  // namespace normlab
