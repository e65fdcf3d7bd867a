#include "tools/data_parallel.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"

namespace normlab {

namespace {

// The gradients of params into flat (zeros for a parameter that received none), in order.
template <class T>
void gather_grads(const std::vector<OptimParam>& params, std::vector<T>& flat) {
  std::size_t at = 0;
  for (const OptimParam& p : params) {
    const auto n = static_cast<std::size_t>(p.variable->numel());
    const Tensor& g = p.variable->grad();
    if (g.defined()) {
      const Tensor gc = g.contiguous();
      const auto v = gc.data<T>();
      std::copy(v.begin(), v.end(), flat.begin() + static_cast<std::ptrdiff_t>(at));
    } else {
      std::fill_n(flat.begin() + static_cast<std::ptrdiff_t>(at), n, T{0});
    }
    at += n;
  }
}

// grad ← flat / K for every parameter, in order: in place into the gradient the backward left
// (the parameter's own), into a new one where it left none.
template <class T>
void scatter_grads(const std::vector<OptimParam>& params, const std::vector<T>& flat, int K) {
  std::size_t at = 0;
  const T inv = T{1} / static_cast<T>(K);
  for (const OptimParam& p : params) {
    const auto n = static_cast<std::size_t>(p.variable->numel());
    Tensor g = p.variable->grad();
    const bool fresh = !g.defined() || !g.is_contiguous();
    if (fresh) {
      g = Tensor::empty(p.variable->shape(), p.variable->dtype());
    }
    auto v = g.data<T>();
    for (std::size_t i = 0; i < n; ++i) {
      v[i] = flat[at + i] * inv;
    }
    if (fresh) {
      p.variable->set_grad(std::move(g));
    }
    at += n;
  }
}

// all_reduce_sum over flat in pieces of at most kBucketBytes, first to last: the order and the
// boundaries are the same on every rank and every step.
template <class T>
void all_reduce_in_buckets(Communicator& comm, std::vector<T>& flat) {
  constexpr std::size_t kBucket = kBucketBytes / sizeof(T);
  for (std::size_t i = 0; i < flat.size(); i += kBucket) {
    comm.all_reduce_sum(std::span<T>(flat).subspan(i, std::min(kBucket, flat.size() - i)));
  }
}

template <class T>
void average(Communicator& comm, const std::vector<OptimParam>& params, std::vector<T>& flat,
             StepResult& r) {
  gather_grads(params, flat);
  const std::size_t counts = flat.size() - 3;
  flat[counts] = static_cast<T>(r.loss * static_cast<double>(r.images));
  flat[counts + 1] = static_cast<T>(r.correct);
  flat[counts + 2] = static_cast<T>(r.images);
  all_reduce_in_buckets(comm, flat);
  scatter_grads(params, flat, comm.size());
  r.images = static_cast<std::int64_t>(flat[counts + 2]);
  r.correct = static_cast<std::int64_t>(flat[counts + 1]);
  r.loss = static_cast<double>(flat[counts]) / static_cast<double>(r.images);
}

}  // namespace

DataParallel::DataParallel(Communicator& comm, std::vector<OptimParam> params)
    : comm_(comm), params_(std::move(params)) {
  std::size_t total = 0;
  for (const OptimParam& p : params_) {
    if (p.variable->dtype() != params_.front().variable->dtype()) {
      throw ValueError(fmt::format(
          "data_parallel: parameters mix {} and {} ({}); gradients are averaged in one buffer",
          dtype_name(params_.front().variable->dtype()), dtype_name(p.variable->dtype()), p.name));
    }
    total += static_cast<std::size_t>(p.variable->numel());
  }
  dtype_ = params_.empty() ? DType::f32 : params_.front().variable->dtype();
  if (dtype_ == DType::f64) {
    flat_f64_.resize(total + 3);
  } else {
    flat_f32_.resize(total + 3);
  }
}

std::string DataParallel::describe() const {
  const bool f64 = dtype_ == DType::f64;
  const std::size_t n = f64 ? flat_f64_.size() : flat_f32_.size();
  const std::size_t bytes = n * (f64 ? sizeof(double) : sizeof(float));
  const std::size_t calls = (bytes + kBucketBytes - 1) / kBucketBytes;
  return fmt::format(
      "every step all-reduces {} {} values ({:.2f} MiB: {} gradients and 3 counts) in {} call{}", n,
      dtype_name(dtype_), static_cast<double>(bytes) / (1 << 20), n - 3, calls,
      calls == 1 ? "" : "s");
}

std::int64_t DataParallel::shard_size(std::int64_t global_batch) const {
  if (global_batch % size() != 0) {
    throw ValueError(fmt::format(
        "train: --batch-size {} does not divide among {} ranks (each rank takes an equal share of "
        "every global batch); use a multiple of {}",
        global_batch, size(), size()));
  }
  return global_batch / size();
}

Batch DataParallel::shard(const Batch& global) const {
  const std::int64_t b = shard_size(global.labels.numel());
  const std::int64_t first = rank() * b;
  Batch s;
  s.images = global.images.narrow(0, first, b).contiguous();
  s.labels = global.labels.narrow(0, first, b).contiguous();
  s.indices.assign(global.indices.begin() + first, global.indices.begin() + first + b);
  s.epoch = global.epoch;
  s.index = global.index;
  return s;
}

void DataParallel::broadcast_from_rank0(Module& model) {
  for (const auto& [name, t] : model.state_dict()) {
    if (!t.defined()) {
      continue;  // a buffer the layer does not keep (BatchNorm without running statistics)
    }
    Tensor c = t;  // parameters and buffers are contiguous; their storage is the module's
    visit_dtype(c.dtype(),
                [&]<class T>() { comm_.broadcast(std::as_writable_bytes(c.data<T>()), 0); });
  }
}

void DataParallel::average_gradients(StepResult& r) {
  if (dtype_ == DType::f64) {
    average(comm_, params_, flat_f64_, r);
  } else {
    average(comm_, params_, flat_f32_, r);
  }
}

void DataParallel::average_buffers(Module& model) {
  std::vector<Tensor*> floating;
  std::vector<double> sums;
  for (const auto& [name, t] : model.named_buffers()) {
    if (t->defined() && (t->dtype() == DType::f32 || t->dtype() == DType::f64)) {
      floating.push_back(t);
      const Tensor d = t->to(DType::f64).contiguous();
      sums.insert(sums.end(), d.data<double>().begin(), d.data<double>().end());
    }
  }
  comm_.all_reduce_sum(sums);
  std::size_t at = 0;
  for (Tensor* t : floating) {
    const std::int64_t n = t->numel();
    std::vector<double> mean(sums.begin() + static_cast<std::ptrdiff_t>(at),
                             sums.begin() + static_cast<std::ptrdiff_t>(at) + n);
    for (double& v : mean) {
      v /= static_cast<double>(size());
    }
    const Tensor avg = Tensor::from_vector(t->shape(), mean, t->dtype());
    visit_float(t->dtype(), "data_parallel", [&]<class T>() {
      std::ranges::copy(avg.data<T>(), t->data<T>().begin());  // in place: the module's storage
    });
    at += static_cast<std::size_t>(n);
  }
}

EvalResult DataParallel::evaluate(Module& model, const Dataset& d, const ChannelStats& stats,
                                  std::int64_t batch_size) {
  const std::int64_t n = d.size(), K = size();
  const std::int64_t begin = n * rank() / K, end = n * (rank() + 1) / K;
  Dataset part = d;
  if (n > 0) {
    part.images = d.images.narrow(0, begin, end - begin);
    part.labels = d.labels.narrow(0, begin, end - begin);
  }
  const EvalResult mine = normlab::evaluate(model, part, stats, batch_size);
  const auto classes = static_cast<std::size_t>(d.num_classes());
  std::vector<double> sums{mine.loss * static_cast<double>(end - begin)};
  for (const auto& row : mine.confusion) {
    sums.insert(sums.end(), row.begin(), row.end());  // counts: exact in double up to 2^53
  }
  comm_.all_reduce_sum(sums);
  EvalResult r;
  r.confusion.assign(classes, std::vector<std::int64_t>(classes, 0));
  std::int64_t correct = 0;
  for (std::size_t t = 0; t < classes; ++t) {
    for (std::size_t p = 0; p < classes; ++p) {
      r.confusion[t][p] = static_cast<std::int64_t>(sums[1 + t * classes + p]);
    }
    correct += r.confusion[t][t];
  }
  if (n > 0) {
    r.loss = sums[0] / static_cast<double>(n);
    r.accuracy = static_cast<double>(correct) / static_cast<double>(n);
  }
  return r;
}

}  // namespace normlab
