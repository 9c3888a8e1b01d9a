// rl/agent.cpp: TD targets, the update step and target-network refreshes.
#include "rl/agent.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/categorical.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/reduce.hpp"

namespace dqn {

void td_targets(float* y, const float* rewards, const float* terminated, const float* next_values,
                std::int64_t n, float gamma) {
  for (std::int64_t i = 0; i < n; ++i)
    y[i] = rewards[i] + gamma * (1.0f - terminated[i]) * next_values[i];
}

void td_targets(float* y, const float* rewards, const float* terminated, const float* discounts,
                const float* next_values, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i)
    y[i] = rewards[i] + discounts[i] * (1.0f - terminated[i]) * next_values[i];
}

void next_state_values(float* next_values, const float* q_target, const float* q_online,
                       std::int64_t n, std::int64_t actions) {
  if (q_online == nullptr) {
    max_actions_fast(next_values, nullptr, q_target, n, actions);
    return;
  }
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t best = 0;
    for (std::int64_t a = 1; a < actions; ++a)
      if (q_online[i * actions + a] > q_online[i * actions + best]) best = a;
    next_values[i] = q_target[i * actions + best];
  }
}

Batch random_batch(const NetworkSpec& spec, std::int64_t n, Rng& rng) {
  Batch b;
  b.size = n;
  if (spec.kind == NetworkKind::kMlp) {
    b.obs.resize(Shape{n, spec.observation_shape[0]});
    b.next_obs.resize(Shape{n, spec.observation_shape[0]});
    for (std::int64_t i = 0; i < b.obs.numel(); ++i) {
      b.obs[i] = static_cast<float>(rng.uniform(-1.0, 1.0));
      b.next_obs[i] = static_cast<float>(rng.uniform(-1.0, 1.0));
    }
  } else {
    const auto& s = spec.observation_shape;
    b.frames.resize(Shape{n, s[0], s[1], s[2]});
    b.next_frames.resize(Shape{n, s[0], s[1], s[2]});
    for (std::int64_t i = 0; i < b.frames.numel(); ++i) {
      b.frames[i] = static_cast<std::uint8_t>(rng.below(256));
      b.next_frames[i] = static_cast<std::uint8_t>(rng.below(256));
    }
  }
  b.rewards.resize(Shape{n});
  b.terminated.resize(Shape{n});
  b.actions.resize(n);
  for (std::int64_t i = 0; i < n; ++i) {
    b.actions[i] =
        static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(spec.num_actions)));
    b.rewards[i] = 1.0f;
  }
  return b;
}

double linear_epsilon(double start, double end, std::int64_t steps, std::int64_t step) {
  const double progress = std::min(1.0, static_cast<double>(step) / static_cast<double>(steps));
  return start + progress * (end - start);
}

namespace {
// The noise stream's id under the init Rng ("noisy" in ASCII): split() leaves init_rng as it
// was, so a noisy run initialises its networks from the same draws as before.
constexpr std::uint64_t kNoiseStream = 0x6e6f697379;

// Gradients of at least this many floats get a SqNormParts (finish_update): the streamed
// weights' size (core/matmul.cpp's kStreamMinWeight), below which no op forms the terms.
constexpr std::int64_t kNormPartsMinElements = std::int64_t{1} << 16;

NetworkSpec checked(const NetworkSpec& spec) {
  spec.validate();
  return spec;
}
}  // namespace

DqnAgent::DqnAgent(const NetworkSpec& spec, const Config& config, Rng& init_rng)
    : spec_(checked(spec)),
      gamma_(static_cast<float>(config.gamma)),
      huber_delta_(static_cast<float>(config.huber_delta)),
      max_grad_norm_(static_cast<float>(config.max_grad_norm)),
      tau_(static_cast<float>(config.tau)),
      double_dqn_(config.double_dqn),
      online_(spec, init_rng),
      target_(spec, init_rng),
      adam_(online_.parameters(), AdamHyper{config.lr, 0.9, 0.999, config.adam_eps}),
      noise_rng_(init_rng.split(kNoiseStream)) {
  target_.copy_from(online_);  // the target starts as an exact copy
  // bf16: the update's products only (core/bf16.hpp). Acting and evaluation (infer) stay FP32:
  // one observation at a time, where bfloat16 would save nothing, on the FP32 master weights.
  const Precision precision = config.precision == "bf16" ? Precision::kBf16 : Precision::kFp32;
  tape_.set_precision(precision);
  target_tape_.set_precision(precision);
}

std::int64_t greedy_action(QNetwork& net, const float* obs, Tensor& q) {
  const NetworkSpec& spec = net.spec();
  net.infer(ConstTensorView{obs, Shape{1, spec.observation_shape[0]}}, q);
  std::int64_t best = 0;
  max_actions_fast(nullptr, &best, q.data(), 1, spec.num_actions);
  return best;
}

std::int64_t greedy_action(QNetwork& net, const std::uint8_t* frames, Tensor& q) {
  const auto& s = net.spec().observation_shape;
  net.infer(View<const std::uint8_t>{frames, Shape{1, s[0], s[1], s[2]}}, q);
  std::int64_t best = 0;
  max_actions_fast(nullptr, &best, q.data(), 1, net.spec().num_actions);
  return best;
}

std::int64_t DqnAgent::greedy(const float* obs) {
  return greedy_action(online_, obs, act_q_);
}

std::int64_t DqnAgent::greedy(const std::uint8_t* frames) {
  return greedy_action(online_, frames, act_q_);
}

UpdateStats DqnAgent::update(const Batch& batch) {
  if (spec_.noisy) {
    // Fortunato et al. 2018, Algorithm 1: per replay step, xi for the online network, then an
    // independent xi' for the target (C51's update too). Deviation: the double-DQN argmax on s'
    // uses xi too (Algorithm 1 draws a third sample xi'' for it), as both online passes share
    // one network.
    online_.resample_noise(noise_rng_);
    target_.resample_noise(noise_rng_);
  }
  // The batch's optional columns, checked once for both updates.
  DQN_CHECK(
      batch.discounts.empty() || static_cast<std::int64_t>(batch.discounts.size()) == batch.size,
      "update: the batch has ", batch.size, " samples but ", batch.discounts.size(), " discounts");
  DQN_CHECK(batch.weights.empty() || static_cast<std::int64_t>(batch.weights.size()) == batch.size,
            "update: the batch has ", batch.size, " samples but ", batch.weights.size(),
            " importance weights");
  if (spec_.atoms > 1) return update_categorical(batch);
  const std::int64_t n = batch.size, actions = spec_.num_actions;
  const bool pixels = spec_.pixels();
  tape_.reset();
  target_tape_.reset();
  if (next_values_.numel() != n) {
    next_values_.resize(Shape{n});
    targets_.resize(Shape{n});
    abs_td_.resize(Shape{n});
    loss_weights_.resize(Shape{n});
  }
  const bool weighted = !batch.weights.empty();

  // 1. Targets, without gradients, on their own tape: y = r + gamma * (1 - terminated) * V(s').
  auto targets = [&] {
    NoGradScope no_grad(target_tape_);
    const Value q_next = pixels ? target_.forward(target_tape_, batch.next_frames.view())
                                : target_.forward(target_tape_, batch.next_obs.view());
    const float* q_online_next = nullptr;
    if (double_dqn_) {
      const Value q = pixels ? online_.forward(target_tape_, batch.next_frames.view())
                             : online_.forward(target_tape_, batch.next_obs.view());
      q_online_next = target_tape_.view(q).data;
    }
    next_state_values(next_values_.data(), target_tape_.view(q_next).data, q_online_next, n,
                      actions);
    if (batch.discounts.empty())
      td_targets(targets_.data(), batch.rewards.data(), batch.terminated.data(),
                 next_values_.data(), n, gamma_);
    else
      td_targets(targets_.data(), batch.rewards.data(), batch.terminated.data(),
                 batch.discounts.data(), next_values_.data(), n);
  };
  // 2. Online Q(s, a), recorded for the backward pass.
  Value q_taken;
  auto online = [&] {
    const Value q = pixels ? online_.forward(tape_, batch.frames.view())
                           : online_.forward(tape_, batch.obs.view());
    q_taken = tape_.gather_actions(q, batch.actions.data());
  };
  // Both only read the parameters and write disjoint buffers, so on two threads they run as two
  // tasks, each forward whole on its own thread (see parallel_tasks): fewer, larger GEMMs than
  // splitting every layer in two. Below ~1 MFLOP a pass (small nets, small batches) the
  // fork/join would cost more than it saves. A forward pass costs at least 2 FLOP per parameter
  // and sample (exact for the MLP, an underestimate for the CNN's shared conv weights). The online
  // pass goes first, on the calling thread, where the backward and Adam then find its
  // activations and the online weights in cache: 296 vs 321 us for the seed MLP at two threads
  // with the target pass first.
  constexpr std::int64_t kTaskGrainFlops = std::int64_t{1} << 20;
  parallel_tasks(2 * n * online_.parameter_count() >= kTaskGrainFlops, online, targets);

  // 3. The Huber loss against the fixed targets.
  const ConstTensorView qa = tape_.view(q_taken);
  for (std::int64_t i = 0; i < n; ++i) abs_td_[i] = std::abs(qa[i] - targets_[i]);
  UpdateStats stats;
  Value loss;
  if (!weighted) {
    loss = huber_loss(tape_, q_taken, tape_.input(targets_.view()), huber_delta_);
    stats.loss = tape_.item(loss);
  } else {
    // The weighted loss L = (1/B) sum_i w_i H(d_i), d_i = q_i - y_i. The tape's Huber op is a
    // mean with no per-sample weights, so L enters the tape through a surrogate with the same
    // gradient: (1/B) sum_i c_i q_i with c_i = w_i H'(d_i) = w_i clamp(d_i, -delta, delta) held
    // constant, since dL/dq_i = c_i / B and the targets carry no gradient. L itself, for the
    // logs and the divergence guard, is summed here with the loss kernel's per-element form
    // c (a - c/2), a = |d|, c = min(a, delta).
    double sum = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const float d = qa[i] - targets_[i];
      const float w = batch.weights[i];
      loss_weights_[i] = w * std::clamp(d, -huber_delta_, huber_delta_);
      const float a = std::abs(d), c = std::min(a, huber_delta_);
      sum += static_cast<double>(w) * static_cast<double>(c * (a - 0.5f * c));
    }
    loss = tape_.mean(tape_.mul(q_taken, tape_.input(loss_weights_.view())));
    stats.loss = static_cast<float>(sum / static_cast<double>(n));
  }
  double q_sum = 0;
  for (std::int64_t i = 0; i < n; ++i) q_sum += qa[i];
  stats.mean_q = static_cast<float>(q_sum / static_cast<double>(n));
  return finish_update(loss, stats);
}

// The end both updates share: the divergence guard, gradients, clipping and Adam.
UpdateStats DqnAgent::finish_update(Value loss, UpdateStats stats) {
  DQN_CHECK(std::isfinite(stats.loss), "divergence: the loss is ", stats.loss,
            " (not finite); lower lr or check the rewards");
  DQN_CHECK(std::isfinite(stats.mean_q), "divergence: the mean Q-value is ", stats.mean_q,
            " (not finite); lower lr or check the rewards");

  // 4. Gradients, clipping, Adam.
  // zero_grad() + backward() in one (same bits): weight-sized gradients are written outright
  // instead of zeroed and then accumulated into.
  // Noisy layers' weight-sigma gradients are deferred: never written, but formed from mu's
  // gradient inside the norm's pass over it and inside Adam (the same bits as clip_grad_norm
  // and step() on written ones), which saves three weight-sized passes (6.4 MB each on the
  // Nature CNN's fc) an update. sigma's .grad is left stale.
  // Weight-sized gradients (the Nature CNN's 3136x512 fc: 6.4 MB) get their part of the norm
  // formed by the op that writes them, piece by piece while each piece is in cache, instead of
  // a pass that reads them back from memory; the same bits (SqNormParts, core/reduce.hpp).
  grad_set_.clear();
  std::size_t parts = 0;
  for (const NamedVariable& p : online_.parameters()) {
    grad_set_.push_back(p.variable);
    if (p.variable->grad.numel() < kNormPartsMinElements) continue;
    if (grad_norms_.size() <= parts) grad_norms_.emplace_back();
    grad_norms_[parts++].reset(p.variable->grad.data(), p.variable->grad.numel());
  }
  grad_norms_.resize(parts);
  tape_.backward(loss, grad_set_, &deferred_, &grad_norms_);
  stats.grad_norm =
      static_cast<float>(std::sqrt(grad_sq_norm(online_.parameters(), deferred_, grad_norms_)));
  DQN_CHECK(std::isfinite(stats.grad_norm), "divergence: the gradient norm is ", stats.grad_norm,
            " (not finite); lower lr or check the rewards");
  adam_.step(max_grad_norm_ > 0 ? clip_coefficient(stats.grad_norm, max_grad_norm_) : 1.0f,
             deferred_);
  return stats;
}

// ---------------------------------------------------------------- C51
// The same steps as update() (targets without gradients on their own tape, beside the online
// forward; loss; divergence guard; clip; Adam), with distributions in place of numbers.
UpdateStats DqnAgent::update_categorical(const Batch& batch) {
  const std::int64_t n = batch.size, actions = spec_.num_actions, K = spec_.atoms;
  const bool pixels = spec_.pixels();  // the Nature or the data-efficient CNN
  const std::vector<float>& z = online_.support();
  tape_.reset();
  target_tape_.reset();
  if (target_dist_.numel() != n * K) {
    next_probs_.resize(Shape{n, actions * K});
    online_next_q_.resize(Shape{n, actions * K});
    next_expected_.resize(Shape{n, actions});
    next_dist_.resize(Shape{n, K});
    target_dist_.resize(Shape{n, K});
    discounts_.resize(Shape{n});
    abs_td_.resize(Shape{n});
    loss_weights_.resize(Shape{n});
  }
  const bool weighted = !batch.weights.empty();

  // 1. The target distribution (Bellemare et al. 2017, Algorithm 1), without gradients. The
  // (N, A*K) logits are N*A rows of K atoms for the softmax.
  auto targets = [&] {
    NoGradScope no_grad(target_tape_);
    const Value logits = pixels ? target_.forward(target_tape_, batch.next_frames.view())
                                : target_.forward(target_tape_, batch.next_obs.view());
    softmax_forward_fast(next_probs_.data(), target_tape_.view(logits).data, n * actions, K);
    // a* = argmax_a of the expected values: the online network's with Double DQN (Hessel et
    // al. 2018), the target's without (Algorithm 1). Ties go to the first action.
    const float* chooser = next_probs_.data();
    if (double_dqn_) {
      const Value online_logits = pixels ? online_.forward(target_tape_, batch.next_frames.view())
                                         : online_.forward(target_tape_, batch.next_obs.view());
      softmax_forward_fast(online_next_q_.data(), target_tape_.view(online_logits).data,
                           n * actions, K);
      chooser = online_next_q_.data();
    }
    categorical_mean(next_expected_.data(), chooser, z.data(), n * actions, K);
    for (std::int64_t i = 0; i < n; ++i) {
      std::int64_t best = 0;
      max_actions_fast(nullptr, &best, next_expected_.data() + i * actions, 1, actions);
      std::memcpy(next_dist_.data() + i * K, next_probs_.data() + (i * actions + best) * K,
                  static_cast<std::size_t>(K) * sizeof(float));
      discounts_[i] = batch.discounts.empty() ? gamma_ : batch.discounts[i];
    }
    categorical_projection_fast(target_dist_.data(), next_dist_.data(), batch.rewards.data(),
                                discounts_.data(), batch.terminated.data(), n, K,
                                static_cast<float>(spec_.v_min), static_cast<float>(spec_.v_max));
  };
  // 2. The online log-probabilities log p(s, a) of the taken actions, recorded for backward.
  Value logp;
  auto online = [&] {
    const Value logits = pixels ? online_.forward(tape_, batch.frames.view())
                                : online_.forward(tape_, batch.obs.view());
    logp = tape_.log_softmax(tape_.gather_atoms(logits, batch.actions.data(), K));
  };
  constexpr std::int64_t kTaskGrainFlops = std::int64_t{1} << 20;  // as in update()
  parallel_tasks(2 * n * online_.parameter_count() >= kTaskGrainFlops, online, targets);

  // 3. Cross-entropy per sample; its (weighted) mean is the loss, the samples the priorities.
  const Value ce = tape_.cross_entropy(logp, tape_.input(target_dist_.view()));
  const ConstTensorView per_sample = tape_.view(ce);
  for (std::int64_t i = 0; i < n; ++i) abs_td_[i] = per_sample[i];
  Value loss;
  if (!weighted) {
    loss = tape_.mean(ce);
  } else {
    for (std::int64_t i = 0; i < n; ++i) loss_weights_[i] = batch.weights[i];
    loss = tape_.mean(tape_.mul(ce, tape_.input(loss_weights_.view())));
  }
  UpdateStats stats;
  stats.loss = tape_.item(loss);
  // mean Q(s, a) of the taken actions: sum_j z_j exp(log p_j), averaged.
  const ConstTensorView lp = tape_.view(logp);
  double q_sum = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    float q = 0;
    for (std::int64_t j = 0; j < K; ++j) q += z[j] * std::exp(lp[i * K + j]);
    q_sum += q;
  }
  stats.mean_q = static_cast<float>(q_sum / static_cast<double>(n));
  return finish_update(loss, stats);
}

void DqnAgent::update_target() {
  if (tau_ >= 1.0f)
    target_.copy_from(online_);
  else
    target_.polyak_from(online_, tau_);
}

}  // namespace dqn
