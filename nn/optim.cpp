// nn/optim.cpp: Adam, clip_grad_norm and the losses.
#include "nn/optim.hpp"

#include <cmath>

#include "core/elementwise.hpp"
#include "core/error.hpp"
#include "core/noisy_linear.hpp"
#include "core/reduce.hpp"

namespace dqn {

Adam::Adam(std::vector<NamedVariable> parameters, AdamHyper hyper)
    : parameters_(std::move(parameters)), hyper_(hyper) {
  DQN_CHECK(hyper.lr > 0 && hyper.eps > 0 && hyper.beta1 >= 0 && hyper.beta1 < 1 &&
                hyper.beta2 >= 0 && hyper.beta2 < 1,
            "Adam: needs lr > 0, eps > 0 and betas in [0, 1); got lr ", hyper.lr, " eps ",
            hyper.eps, " betas ", hyper.beta1, ", ", hyper.beta2);
  for (const auto& p : parameters_) {
    m_.emplace_back(p.variable->value.shape());
    v_.emplace_back(p.variable->value.shape());
  }
}

void Adam::step() {
  step(1.0f, {});
}

namespace {
// The deferred entry whose mu (or sigma, with as_sigma) is v; null if none.
const DeferredSigma<float>* deferred_entry(const std::vector<DeferredSigma<float>>& deferred,
                                           const Variable* v, bool as_sigma) {
  for (const auto& d : deferred)
    if ((as_sigma ? d.sigma : d.mu) == v) return &d;
  return nullptr;
}

std::size_t index_of(const std::vector<NamedVariable>& parameters, const Variable* v,
                     const char* role) {
  for (std::size_t i = 0; i < parameters.size(); ++i)
    if (parameters[i].variable == v) return i;
  throw_error("Adam: a deferred noisy-layer gradient's ", role,
              " is not among the optimizer's parameters; its update would be lost (pass the "
              "network whose tape produced the deferred list)");
}
}  // namespace

void Adam::step(float grad_scale, const std::vector<DeferredSigma<float>>& deferred) {
  DQN_CHECK(grad_scale > 0 && grad_scale <= 1, "Adam::step: grad_scale must be in (0, 1], got ",
            grad_scale);
  // Each parameter's part, found (and checked) before anything is updated: a deferred mu steps
  // with its sigma, which is then skipped.
  roles_.assign(parameters_.size(), Role{});
  for (const auto& d : deferred) {
    const std::size_t i = index_of(parameters_, d.mu, "mu");
    const std::size_t j = index_of(parameters_, d.sigma, "sigma");
    roles_[i].pair = &d;
    roles_[i].sigma = j;
    roles_[j].with_mu = true;
  }
  ++steps_;  // bias correction uses the 1-based count of this update
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    const Role& role = roles_[i];
    Variable& p = *parameters_[i].variable;
    if (role.pair != nullptr) {
      const DeferredSigma<float>& d = *role.pair;
      const std::size_t j = role.sigma;
      adam_step_noisy_pair_fast(p.value.data(), m_[i].data(), v_[i].data(), d.sigma->value.data(),
                                m_[j].data(), v_[j].data(), p.grad.data(), d.f_in, d.f_out, d.C_out,
                                d.C_in, grad_scale, hyper_, steps_);
    } else if (!role.with_mu) {
      if (grad_scale < 1.0f)
        adam_step_scaled_fast(p.value.data(), m_[i].data(), v_[i].data(), p.grad.data(), grad_scale,
                              p.value.numel(), hyper_, steps_);
      else
        adam_step_fast(p.value.data(), m_[i].data(), v_[i].data(), p.grad.data(), p.value.numel(),
                       hyper_, steps_);
    }
  }
}

double grad_sq_norm(const std::vector<NamedVariable>& parameters,
                    const std::vector<DeferredSigma<float>>& deferred) {
  std::vector<SqNormParts> none;
  return grad_sq_norm(parameters, deferred, none);
}

double grad_sq_norm(const std::vector<NamedVariable>& parameters,
                    const std::vector<DeferredSigma<float>>& deferred,
                    std::vector<SqNormParts>& norms) {
  // Summed in double in the parameters' fixed order: the same bits for the same thread count.
  // A pair's two sums come from one read of mu's gradient, taken when the first is reached.
  double total = 0;
  float pair_mu = 0, pair_sigma = 0;
  const DeferredSigma<float>* pair = nullptr;
  for (const auto& p : parameters) {
    const Variable* v = p.variable;
    const DeferredSigma<float>* d = deferred_entry(deferred, v, false);
    const bool is_sigma = d == nullptr && (d = deferred_entry(deferred, v, true)) != nullptr;
    if (d == nullptr) {
      SqNormParts* part = nullptr;
      for (SqNormParts& p : norms)
        if (p.data() == v->grad.data() && p.size() == v->grad.numel()) part = &p;
      total +=
          static_cast<double>(part ? part->finish() : sqnorm_fast(v->grad.data(), v->grad.numel()));
      continue;
    }
    if (d != pair) {
      noisy_pair_sqnorm_fast(&pair_mu, &pair_sigma, d->mu->grad.data(), d->f_in, d->f_out, d->C_out,
                             d->C_in);
      pair = d;
    }
    total += static_cast<double>(is_sigma ? pair_sigma : pair_mu);
  }
  return total;
}

float clip_coefficient(float norm, float max_norm) {
  // PyTorch: clip_coef = max_norm / (total_norm + 1e-6), applied only when it is below 1.
  const float coef = max_norm / (norm + 1e-6f);
  return coef < 1.0f ? coef : 1.0f;
}

double grad_sq_norm(const std::vector<NamedVariable>& parameters) {
  return grad_sq_norm(parameters, {});
}

float clip_grad_norm(const std::vector<NamedVariable>& parameters, float max_norm) {
  DQN_CHECK(max_norm > 0, "clip_grad_norm: max_norm must be > 0, got ", max_norm);
  const float norm = static_cast<float>(std::sqrt(grad_sq_norm(parameters)));
  const float coef = clip_coefficient(norm, max_norm);
  if (coef < 1.0f) {
    for (const auto& p : parameters) {
      Tensor& g = p.variable->grad;
      scale_fast(g.data(), g.data(), coef, g.numel());
    }
  }
  return norm;
}

Value huber_loss(Tape& tape, Value pred, Value target, float delta) {
  return tape.huber(pred, target, delta);
}

Value mse_loss(Tape& tape, Value pred, Value target) {
  const Value d = tape.sub(pred, target);
  return tape.mean(tape.mul(d, d));
}

}  // namespace dqn
