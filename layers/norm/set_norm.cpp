// layers/norm/set_norm.cpp: SetNormNode and the wrapper every set-normalization layer calls.
#include "layers/norm/set_norm.h"

#include <fmt/format.h>

#include "autograd/node.h"
#include "core/error.h"

namespace normlab {

namespace {

Renorm pointers(const RenormFactors& f) {
  return {f.r.empty() ? nullptr : f.r.data(), f.d.empty() ? nullptr : f.d.data()};
}

// Saves x (not x̂), μ and rstd per set, γ, and batch renormalization's constants.
struct SetNormNode final : Node {
  std::string_view op;
  NormPlan plan;
  bool constant_stats = false;
  Tensor x, gamma;
  Shape gamma_shape, beta_shape;  // empty: that parameter is undefined
  bool has_gamma = false, has_beta = false;
  std::vector<double> mean, rstd;
  RenormFactors renorm;

  std::vector<Tensor> backward(const Tensor& dy_in) override {
    const Tensor dy = dy_in.contiguous();
    Tensor dx = Tensor::empty(x.shape(), x.dtype());
    const auto P = static_cast<std::size_t>(plan.affine.numel);
    std::vector<double> dgamma(has_gamma ? P : 0), dbeta(has_beta ? P : 0);
    visit_float(x.dtype(), op, [&]<class T>() {
      set_norm_backward(plan, dy.data<T>().data(), x.data<T>().data(), data_or_null<T>(gamma),
                        pointers(renorm), mean.data(), rstd.data(), constant_stats,
                        dx.data<T>().data(), has_gamma ? dgamma.data() : nullptr,
                        has_beta ? dbeta.data() : nullptr);
    });
    const DType t = x.dtype();
    return {dx, has_gamma ? to_tensor(dgamma, t).view(gamma_shape) : Tensor(),
            has_beta ? to_tensor(dbeta, t).view(beta_shape) : Tensor()};
  }
  std::string_view name() const override { return op; }
  void release() override { x = gamma = Tensor(); }
};

struct Affine {
  Tensor gamma, beta;
};

Affine checked_affine(std::string_view op, const Tensor& x, const NormPlan& plan,
                      const Variable& weight, const Variable& bias) {
  return {affine_tensor(op, weight, x, plan.affine.numel, "weight"),
          affine_tensor(op, bias, x, plan.affine.numel, "bias")};
}

Variable record(std::string_view op, const Tensor& x, const Tensor& y, const NormPlan& plan,
                const Affine& affine, std::vector<double> mean, std::vector<double> rstd,
                RenormFactors renorm, bool constant_stats, const Variable& weight,
                const Variable& bias, const Variable& input) {
  std::shared_ptr<SetNormNode> node;
  if (any_requires_grad({input, weight, bias})) {
    node = std::make_shared<SetNormNode>();
    node->op = op;
    node->plan = plan;
    node->constant_stats = constant_stats;
    node->x = x;
    node->gamma = affine.gamma;
    node->has_gamma = weight.defined();
    node->has_beta = bias.defined();
    node->gamma_shape = weight.defined() ? weight.shape() : Shape{};
    node->beta_shape = bias.defined() ? bias.shape() : Shape{};
    node->mean = std::move(mean);
    node->rstd = std::move(rstd);
    node->renorm = std::move(renorm);
  }
  return make_output(y, node, {input, weight, bias});
}

// The forward on x's own statistics (and a rule's, when given): y and μ, σ², rstd per set.
struct BatchForward {
  std::vector<double> mean, var, rstd;
  Tensor y;
};
BatchForward forward_on_batch_stats(std::string_view op, const Tensor& xc, const NormPlan& plan,
                                    const Affine& affine, Renorm renorm, double eps,
                                    const StatsRule* rule) {
  const auto S = static_cast<std::size_t>(plan.sets.sets);
  BatchForward f{std::vector<double>(S), std::vector<double>(S), std::vector<double>(S),
                 Tensor::empty(xc.shape(), xc.dtype())};
  visit_float(xc.dtype(), op, [&]<class T>() {
    set_norm_forward(plan, xc.data<T>().data(), data_or_null<T>(affine.gamma),
                     data_or_null<T>(affine.beta), renorm, eps, /*given_stats=*/false,
                     f.mean.data(), f.var.data(), f.rstd.data(), f.y.data<T>().data(), rule);
  });
  return f;
}

}  // namespace

Variable set_norm(std::string_view op, const Variable& x, const NormPlan& plan,
                  const Variable& weight, const Variable& bias, double eps, SetStats* stats,
                  RenormFactors renorm) {
  const Tensor xc = x.data().contiguous();
  const Affine affine = checked_affine(op, xc, plan, weight, bias);
  BatchForward f = forward_on_batch_stats(op, xc, plan, affine, pointers(renorm), eps, nullptr);
  if (stats != nullptr) {
    *stats = {f.mean, std::move(f.var), plan.sets.m()};
  }
  return record(op, xc, f.y, plan, affine, std::move(f.mean), std::move(f.rstd), std::move(renorm),
                /*constant_stats=*/false, weight, bias, x);
}

SetStats set_statistics(std::string_view op, const Tensor& x, const NormPlan& plan) {
  const Tensor xc = x.contiguous();
  const auto S = static_cast<std::size_t>(plan.sets.sets);
  SetStats stats{std::vector<double>(S), std::vector<double>(S), plan.sets.m()};
  std::vector<double> rstd(S);
  visit_float(xc.dtype(), op, [&]<class T>() {
    set_norm_statistics(plan, xc.data<T>().data(), 1.0, stats.mean.data(), stats.var.data(),
                        rstd.data());
  });
  return stats;
}

Variable set_norm_with_stats(std::string_view op, const Variable& x, const NormPlan& plan,
                             GivenStats stats, const Variable& weight, const Variable& bias) {
  const Tensor xc = x.data().contiguous();
  if (std::ssize(stats.mean) != plan.sets.sets || std::ssize(stats.rstd) != plan.sets.sets) {
    throw ShapeError(fmt::format("{}: {} means and {} rstds for {} sets (x: {})", op,
                                 stats.mean.size(), stats.rstd.size(), plan.sets.sets,
                                 to_string(xc.shape())));
  }
  const Affine affine = checked_affine(op, xc, plan, weight, bias);
  Tensor y = Tensor::empty(xc.shape(), xc.dtype());
  visit_float(xc.dtype(), op, [&]<class T>() {
    set_norm_forward(plan, xc.data<T>().data(), data_or_null<T>(affine.gamma),
                     data_or_null<T>(affine.beta), pointers(stats.renorm), 0.0,
                     /*given_stats=*/true, stats.mean.data(), nullptr, stats.rstd.data(),
                     y.data<T>().data());
  });
  return record(op, xc, y, plan, affine, std::move(stats.mean), std::move(stats.rstd),
                std::move(stats.renorm), stats.constant, weight, bias, x);
}

Variable set_norm_with_rule(std::string_view op, const Variable& x, const NormPlan& plan,
                            StatsRule rule, const Variable& weight, const Variable& bias,
                            double eps, SetStats* batch, RuleOutputs* out) {
  const Tensor xc = x.data().contiguous();
  const Affine affine = checked_affine(op, xc, plan, weight, bias);
  const auto S = static_cast<std::size_t>(plan.sets.sets);
  RuleOutputs made;
  const bool renorm = rule.kind == StatsRule::Kind::renorm;
  (renorm ? made.r : made.used_mean).resize(S);
  (renorm ? made.d : made.used_rstd).resize(S);
  rule.r = made.r.data(), rule.d = made.d.data();
  rule.used_mean = made.used_mean.data(), rule.used_rstd = made.used_rstd.data();
  BatchForward f = forward_on_batch_stats(op, xc, plan, affine, Renorm{}, eps, &rule);
  if (batch != nullptr) {
    *batch = {f.mean, std::move(f.var), plan.sets.m()};
  }
  Variable result = renorm ? record(op, xc, f.y, plan, affine, std::move(f.mean), std::move(f.rstd),
                                    {made.r, made.d}, /*constant_stats=*/false, weight, bias, x)
                           : record(op, xc, f.y, plan, affine, made.used_mean, made.used_rstd, {},
                                    /*constant_stats=*/true, weight, bias, x);
  if (out != nullptr) {
    *out = std::move(made);
  }
  return result;
}

}  // namespace normlab
