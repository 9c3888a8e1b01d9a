// rl/agent.hpp: the DQN agent (Mnih et al. 2015): an online Q-network trained on replayed
// minibatches towards targets from a slowly updated copy of itself, acting epsilon-greedily.
//
// The TD target, with the one trap that matters marked:
//
//   y = r + gamma * (1 - terminated) * max_a' Q_target(s', a')
//
// Only *termination* (the MDP really ended: the pole fell, the game is over) cuts the bootstrap.
// A *truncated* transition (a time limit, such as CartPole's 500 steps) is not terminal: the
// state s' still has a future, so the target bootstraps from the true final observation s'.
// The classic PyTorch snippet stores `done = terminated or truncated` and multiplies by
// (1 - done), which teaches the network that the 500th step of a perfect episode is worth only
// its reward: it penalises exactly the behaviour it should learn.
//
// Double DQN (van Hasselt et al. 2016): the online network picks a' = argmax_a Q_online(s', a),
// the target network values it: y = r + gamma * (1 - terminated) * Q_target(s', a').
//
// n-step returns (Sutton 1988; Hessel et al. 2018): r becomes the discounted sum of the next m
// rewards and gamma becomes gamma^m (Batch::discounts), s' the state m steps on.
//
// C51 (Bellemare et al. 2017, Algorithm 1), when the network has a categorical head (atoms > 1):
// the target is a distribution, not a number. a* = argmax_a E[Z_target(s', a)] (or, with Double
// DQN, argmax of the online network's expected values, as Hessel et al. 2018 do), the atoms of
// r + gamma^m (1 - terminated) Z_target(s', a*) are projected onto the support (core/
// categorical.hpp), and the loss is the cross-entropy -sum_j m_j log p_j(s, a), per sample, its
// (importance-weighted) mean over the batch. The per-sample cross-entropy is also the new
// priority. Hessel et al. 2018 prioritize by the KL loss; the cross-entropy is that KL plus the
// target distribution's entropy, which has no gradient (so the two losses train alike) but does
// keep a perfectly fitted sample's priority at that entropy rather than 0.
// Noisy nets (Fortunato et al. 2018, Appendix C, Algorithm 1 "NoisyNet-DQN"): act() draws a
// new noise sample for the online network before every action selection and acts greedily on
// it (no epsilon); update() draws an online sample xi for Q(s, a) and an independent target
// sample xi' for the target network before every replay step. One deviation, marked in
// update(): Algorithm 1's double-DQN form draws a third sample xi'' for the online argmax on
// s'; here that pass shares xi, since the network holds one noise sample and the passes on s
// and s' run concurrently. Every sample comes from noise_rng(), the agent's own stream (split
// from the init Rng), which a run snapshot saves.
#pragma once

#include <cstdint>
#include <vector>

#include "core/autodiff.hpp"
#include "core/rng.hpp"
#include "nn/optim.hpp"
#include "nn/qnetwork.hpp"
#include "rl/config.hpp"
#include "rl/replay.hpp"

namespace dqn {

// y[i] = rewards[i] + gamma * (1 - terminated[i]) * next_values[i]
void td_targets(float* y, const float* rewards, const float* terminated, const float* next_values,
                std::int64_t n, float gamma);

// n-step returns (rl/replay.hpp): rewards[i] holds the discounted sum of the m_i rewards of
// the window and discounts[i] = gamma^m_i, so
// y[i] = rewards[i] + discounts[i] * (1 - terminated[i]) * next_values[i].
void td_targets(float* y, const float* rewards, const float* terminated, const float* discounts,
                const float* next_values, std::int64_t n);

// next_values[i] = max_a q_target[i, a] (DQN), or q_target[i, argmax_a q_online[i, a]] (Double
// DQN, when q_online is not null). Ties go to the first action.
void next_state_values(float* next_values, const float* q_target, const float* q_online,
                       std::int64_t n, std::int64_t actions);

// Linear epsilon schedule: epsilon_start at step 0 to epsilon_end at `steps`, then flat.
double linear_epsilon(double start, double end, std::int64_t steps, std::int64_t step);

// The greedy action argmax_a Q(obs, a) for one observation, through the network's tape-free
// inference path; q is the caller's reusable buffer. Ties go to the first action.
std::int64_t greedy_action(QNetwork& net, const float* obs, Tensor& q);
std::int64_t greedy_action(QNetwork& net, const std::uint8_t* frames, Tensor& q);

// With probability epsilon a uniform random action, else the greedy one. The draw order (one
// uniform_double, then uniform_int only when exploring) is part of what a seed reproduces.
template <class Obs>
std::int64_t epsilon_greedy_action(QNetwork& net, const Obs* obs, double epsilon, Rng& rng,
                                   Tensor& q) {
  if (rng.uniform_double() < epsilon) return rng.uniform_int(0, net.spec().num_actions);
  return greedy_action(net, obs, q);
}

// A minibatch shaped for `spec` (float observations in [-1, 1) or uint8 frames, uniform actions,
// rewards 1, nothing terminal): what benchmarks and tests feed DqnAgent::update when the data
// itself does not matter.
Batch random_batch(const NetworkSpec& spec, std::int64_t n, Rng& rng);

struct UpdateStats {
  float loss = 0;       // Huber loss of the minibatch (C51: mean cross-entropy)
  float mean_q = 0;     // mean Q(s, a) of the taken actions
  float grad_norm = 0;  // global gradient norm before clipping
};

class DqnAgent {
 public:
  DqnAgent(const NetworkSpec& spec, const Config& config, Rng& init_rng);

  // Greedy action for one observation, without the tape (the acting fast path).
  std::int64_t greedy(const float* obs);
  std::int64_t greedy(const std::uint8_t* frames);
  // Epsilon-greedy: with probability epsilon a uniform random action, else greedy.
  // With noisy nets: greedy on a new noise sample (epsilon and rng are not used).
  template <class Obs>
  std::int64_t act(const Obs* obs, double epsilon, Rng& rng) {
    if (spec_.noisy) {
      online_.resample_noise(noise_rng_);  // in + out floats per layer: cheap every step
      return greedy_action(online_, obs, act_q_);
    }
    return epsilon_greedy_action(online_, obs, epsilon, rng, act_q_);
  }

  // One gradient step on a minibatch: the Huber loss's mean over the batch, or, when
  // batch.weights is set (prioritized replay), its weighted mean (1/B) sum_i w_i H(delta_i)
  // (Schaul et al. 2016, Algorithm 1 line 11). Afterwards abs_td_errors() holds |delta_i| =
  // |Q(s_i, a_i) - y_i| of this batch, before the step, for the new priorities. Throws dqn::Error
  // when the loss, the Q-values or the gradient norm are not finite (the divergence guard), before
  // the parameters are changed. With two threads the no-grad passes on s' and the online forward on
  // s run as two tasks; the result is the same bits on every run for a given thread count.
  UpdateStats update(const Batch& batch);
  // (B) |Q(s_i, a_i) - y_i| of the last update's batch, measured before its step (C51: the
  // per-sample cross-entropy). The trainer's new priorities.
  const Tensor& abs_td_errors() const { return abs_td_; }
  // Hard copy (tau = 1) or Polyak averaging of the online network into the target.
  void update_target();

  QNetwork& online() { return online_; }
  QNetwork& target() { return target_; }
  Adam& optimizer() { return adam_; }
  const NetworkSpec& spec() const { return spec_; }
  // C51: the last update's projected target distributions (B, atoms).
  const Tensor& target_distribution() const { return target_dist_; }
  // The noisy nets' noise stream (drawn from only when spec().noisy).
  Rng& noise_rng() { return noise_rng_; }
  const Rng& noise_rng() const { return noise_rng_; }

 private:
  UpdateStats update_categorical(const Batch& batch);        // the C51 update (spec_.atoms > 1)
  UpdateStats finish_update(Value loss, UpdateStats stats);  // guard, backward, clip, Adam

  NetworkSpec spec_;
  float gamma_, huber_delta_, max_grad_norm_, tau_;
  bool double_dqn_;
  QNetwork online_, target_;
  Adam adam_;
  Rng noise_rng_;
  Tape tape_;                                   // the online network's forward on s, with gradients
  std::vector<Variable*> grad_set_;             // the online parameters, whose .grad backward sets
  std::vector<DeferredSigma<float>> deferred_;  // noisy sigmas backward left for Adam to form
  std::vector<SqNormParts> grad_norms_;         // large weights' norm terms, formed by backward
  Tape target_tape_;  // the no-grad passes on s' (its own tape, so it can run beside tape_)
  Tensor act_q_;
  Tensor next_values_, targets_, online_next_q_;
  Tensor abs_td_;        // (B) |delta_i| of the last update
  Tensor loss_weights_;  // (B) w_i H'(delta_i): the weighted loss's coefficients (see update)
  // C51 buffers: next-state probabilities (B, A*atoms), expected values (B, A), the chosen
  // action's next distribution (B, atoms), its projection (B, atoms), the discounts used.
  Tensor next_probs_, next_expected_, next_dist_, target_dist_, discounts_;
};

}  // namespace dqn
