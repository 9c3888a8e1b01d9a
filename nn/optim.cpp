// nn/optim.cpp: Adam, clip_grad_norm and the losses.
#include "nn/optim.hpp"

#include <cmath>

#include "core/elementwise.hpp"
#include "core/error.hpp"
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
  ++steps_;  // bias correction uses the 1-based count of this update
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    Variable& p = *parameters_[i].variable;
    adam_step_fast(p.value.data(), m_[i].data(), v_[i].data(), p.grad.data(), p.value.numel(),
                   hyper_, steps_);
  }
}

double grad_sq_norm(const std::vector<NamedVariable>& parameters) {
  // Summed in double in the parameters' fixed order: the same bits for the same thread count.
  double total = 0;
  for (const auto& p : parameters)
    total += static_cast<double>(sqnorm_fast(p.variable->grad.data(), p.variable->grad.numel()));
  return total;
}

float clip_grad_norm(const std::vector<NamedVariable>& parameters, float max_norm) {
  DQN_CHECK(max_norm > 0, "clip_grad_norm: max_norm must be > 0, got ", max_norm);
  const float norm = static_cast<float>(std::sqrt(grad_sq_norm(parameters)));
  // PyTorch: clip_coef = max_norm / (total_norm + 1e-6), applied only when it is below 1.
  const float coef = max_norm / (norm + 1e-6f);
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
