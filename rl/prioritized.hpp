// rl/prioritized.hpp: proportional prioritized replay (Schaul et al. 2016, Algorithm 1) over
// the slots of either replay (ReplayBuffer or FrameReplay), which stay as they are: this class
// keeps one priority per slot and picks which slots a minibatch gathers.
//
//   P(i) = p_i / sum_k p_k,   p_i = (|delta_i| + eps)^alpha   (after each update)
//   w_i  = (N P(i))^-beta / max_j w_j = (p_i / p_min)^-beta   (N and the total cancel)
//
// - New transitions enter at the largest priority given so far (1 before any), so each is
//   replayed at least once soon (Schaul et al. 2016, Algorithm 1 line 6).
// - A slot that cannot be sampled (no transition starts there, its stack is not rebuildable,
//   its n-step window is not yet written) holds priority 0, so it is never drawn and is left
//   out of p_min (MinTree skips zeros).
// - Stratified sampling: the total is cut into B equal segments and one uniform draw falls in
//   each (Schaul et al. 2016, Appendix B.2.1), which lowers the variance of the minibatch.
// - beta anneals linearly from beta_start to 1 over the run (linear_beta), so the updates are
//   unbiased by the end of training, where it matters most (Schaul et al. 2016, Section 3.4).
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "core/rng.hpp"
#include "rl/serialize.hpp"
#include "rl/sum_tree.hpp"

namespace dqn {

// beta at `step` of `total_steps`: beta_start at 0, 1 at the end, linear between.
double linear_beta(double beta_start, std::int64_t step, std::int64_t total_steps);

class Priorities {
 public:
  Priorities(std::int64_t capacity, double alpha, double eps);

  // A slot was just written: its new transition enters at the max priority if it can be
  // sampled, else at 0.
  // With enter_abs_td >= 0 (the Ape-X learner: an actor measured the transition's |TD error|)
  // it enters at (enter_abs_td + eps)^alpha instead of the max priority; likewise refresh_slot.
  void reset_slot(std::int64_t slot, bool sampleable, double enter_abs_td = -1);
  // A slot's sampleability may have changed (a later write completed its window, or an
  // overwrite took frames from its stack): it enters at the max priority when it becomes
  // sampleable, leaves (priority 0) when it stops, and keeps its priority otherwise.
  void refresh_slot(std::int64_t slot, bool sampleable, double enter_abs_td = -1);

  // Stratified draws: indices (B) and importance weights (B), normalised so the largest
  // possible weight is 1. Needs a positive total. Allocates nothing.
  void sample(std::int64_t* indices, float* weights, std::int64_t batch_size, double beta,
              Rng& rng) const;
  // After an update on those indices: p_i = (|delta_i| + eps)^alpha. A slot drawn twice takes
  // the later error. abs_td must be finite (the agent's divergence guard ensures it).
  void update(const std::int64_t* indices, const float* abs_td, std::int64_t batch_size);

  double priority(std::int64_t slot) const { return sum_.get(slot); }
  double total() const { return sum_.total(); }
  double max_priority() const { return max_priority_; }
  std::int64_t capacity() const { return sum_.capacity(); }
  // What the two trees hold for `capacity` slots (for the trainer's memory check): 2 x 2P
  // doubles, P the next power of two >= capacity (32 MB for 1M slots).
  static std::int64_t bytes_for(std::int64_t capacity);

  // Snapshot: capacity, max priority, then the leaf priorities (f64 each). load checks each
  // is finite and >= 0 and no larger than the max priority, and that exactly the slots
  // `sampleable` accepts are positive, before it changes anything; the trees are rebuilt from
  // the leaves, so their sums are consistent by construction.
  void save(PieceWriter& out) const;
  void load(std::string_view in, const std::function<bool(std::int64_t)>& sampleable);

 private:
  void set(std::int64_t slot, double p);
  // The priority a slot enters at: the max priority, or (enter_abs_td + eps)^alpha (which may
  // raise the max).
  double entering(double enter_abs_td);

  double alpha_, eps_;
  double max_priority_ = 1.0;
  SumTree sum_;
  MinTree min_;
};

}  // namespace dqn
