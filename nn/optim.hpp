// nn/optim.hpp: Adam, global gradient-norm clipping and the losses, with PyTorch's semantics.
//
//   Adam adam(net.parameters(), AdamHyper{.lr = 1e-4});
//   net.zero_grad(); tape.backward(loss);
//   float norm = clip_grad_norm(net.parameters(), 10.0f);
//   adam.step();
#pragma once

#include <cstdint>
#include <vector>

#include "core/adam.hpp"
#include "core/reduce.hpp"
#include "nn/module.hpp"

namespace dqn {

// Adam (Kingma & Ba 2015) as torch.optim.Adam computes it; the arithmetic is in core/adam.hpp.
// The optimizer owns its first and second moments, one pair per parameter, and the step count.
class Adam {
 public:
  Adam(std::vector<NamedVariable> parameters, AdamHyper hyper);
  void step();  // one update from every parameter's current .grad
  // One update with every gradient multiplied by grad_scale (clip_coefficient's, or 1) as it is
  // read, and the noisy layers' sigma gradients in `deferred` (BasicTape::backward with a
  // deferred list) formed from their mu's gradient as they are read (adam_step_noisy_pair_fast):
  // the bits of clip_grad_norm's scaling and step() on formed gradients, with fewer passes. A
  // deferred entry whose mu or sigma is not among the parameters is an error, not a skipped
  // update. Scaled gradients are not written back.
  void step(float grad_scale, const std::vector<DeferredSigma<float>>& deferred);
  std::int64_t steps() const { return steps_; }
  const AdamHyper& hyper() const { return hyper_; }
  void set_lr(double lr) { hyper_.lr = lr; }

  // For checkpoints: moments in the parameters' order, and the step count.
  std::vector<Tensor>& first_moments() { return m_; }
  std::vector<Tensor>& second_moments() { return v_; }
  const std::vector<Tensor>& first_moments() const { return m_; }
  const std::vector<Tensor>& second_moments() const { return v_; }
  void set_steps(std::int64_t steps) { steps_ = steps; }

 private:
  std::vector<NamedVariable> parameters_;
  std::vector<Tensor> m_, v_;
  // step(scale, deferred)'s view of each parameter, kept so that an update does not allocate.
  struct Role {
    const DeferredSigma<float>* pair = nullptr;  // a deferred mu: its entry
    std::size_t sigma = 0;                       // ... and its sigma's index
    bool with_mu = false;                        // a deferred sigma: stepped with its mu
  };
  std::vector<Role> roles_;
  AdamHyper hyper_;
  std::int64_t steps_ = 0;
};

// torch.nn.utils.clip_grad_norm_: the L2 norm of all gradients together; when it exceeds
// max_norm every gradient is scaled by max_norm / (norm + 1e-6). Returns the norm before
// clipping (what a learning-curve plot wants to see).
float clip_grad_norm(const std::vector<NamedVariable>& parameters, float max_norm);

// Squared L2 norm of all gradients (for a divergence check without clipping).
double grad_sq_norm(const std::vector<NamedVariable>& parameters);
// The same with the sigma gradients in `deferred` counted as formed (noisy_pair_sqnorm_fast),
// bit for bit what grad_sq_norm gives after forming them.
double grad_sq_norm(const std::vector<NamedVariable>& parameters,
                    const std::vector<DeferredSigma<float>>& deferred);
// The same with a gradient that has a SqNormParts in `norms` (reset for its .grad, filled by
// the tape's backward(loss, set, deferred, norms)) summed by that part's finish(): the same bits
// as sqnorm_fast of that gradient, without reading it whole again where its op formed the terms.
double grad_sq_norm(const std::vector<NamedVariable>& parameters,
                    const std::vector<DeferredSigma<float>>& deferred,
                    std::vector<SqNormParts>& norms);

// clip_grad_norm's factor for a gradient of norm `norm`: max_norm / (norm + 1e-6) when that is
// below 1, else 1 (no clipping).
float clip_coefficient(float norm, float max_norm);

// Losses on the tape, mean reduction, as torch.nn.HuberLoss (delta 1 equals SmoothL1Loss with
// beta 1) and torch.nn.MSELoss. Huber is quadratic within |d| <= delta and linear outside, so
// one large TD error cannot blow up the gradient (the reason DQN uses it: Mnih et al. 2015
// clip the error term to [-1, 1], which is this loss's gradient).
Value huber_loss(Tape& tape, Value pred, Value target, float delta = 1.0f);
// Built from primitives, so it needs no backward of its own.
Value mse_loss(Tape& tape, Value pred, Value target);

}  // namespace dqn
