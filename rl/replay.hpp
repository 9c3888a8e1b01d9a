// rl/replay.hpp: experience replay (Lin 1992; Mnih et al. 2015), preallocated circular storage
// sampled uniformly from an explicit Rng.
//
// ReplayBuffer holds flat float observations (CartPole): obs, action, reward, next obs,
// terminated, truncated. The next observation of a transition that ended an episode is the
// episode's true final observation, never the next episode's first one (that is what lets a
// truncated transition bootstrap correctly).
//
// n-step returns (Sutton 1988; Hessel et al. 2018) are computed at sample time, from the
// transitions stored after the sampled one, in both replays (FrameReplay keeps its slots in
// the same order): the trainer stores one-step transitions as it always did, the snapshot
// holds nothing new, and n can be changed without touching what is stored. For a transition
// at time t whose episode ends (terminates or is truncated) at t + m - 1 with m <= n, or
// m = n otherwise:
//
//   R = sum_{k<m} gamma^k r_{t+k},   y = R + gamma^m (1 - terminated_{t+m-1}) V(s_{t+m})
//
// so the sum stops at termination (no bootstrap), and a truncation inside the window
// bootstraps from that episode's true final observation with gamma^m for the m steps taken.
// A transition whose window is not yet stored (the newest n - 1 of an ongoing episode) is not
// sampleable until it is. With n = 1 every stored transition is sampleable and the batch is
// exactly the one-step one (Batch::discounts stays empty).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "core/tensor.hpp"
#include "rl/serialize.hpp"

namespace dqn {

// A sampled minibatch; its buffers are reused from one sample to the next.
struct Batch {
  Tensor obs, next_obs;               // (B, obs_dim)
  TensorU8 frames, next_frames;       // (B, 4, 84, 84) for frame replay
  std::vector<std::int64_t> actions;  // (B)
  Tensor rewards;                     // (B)
  Tensor terminated;                  // (B), 1.0 where the episode terminated (no bootstrap)
  // (B) n-step returns only: gamma^m, the discount of the bootstrap after the m rewards summed
  // into rewards[i]. Empty (one-step): the bootstrap is discounted by gamma.
  std::vector<float> discounts;
  // (B) importance weights of prioritized replay (rl/prioritized.hpp): the loss weighs sample i
  // by weights[i]. Empty: the plain unweighted mean.
  std::vector<float> weights;
  // (B) the slots the samples came from, for the priority updates that follow the gradient step.
  std::vector<std::int64_t> indices;
  std::int64_t size = 0;
};

class ReplayBuffer {
 public:
  ReplayBuffer(std::int64_t capacity, std::int64_t obs_dim);

  void add(const float* obs, std::int64_t action, float reward, const float* next_obs,
           bool terminated, bool truncated);
  // Draws batch_size indices uniformly (with replacement) from the stored transitions into
  // out.indices, then gathers them.
  void sample(std::int64_t batch_size, Rng& rng, Batch& out) const;
  // Fills out (obs, next_obs, actions, rewards, terminated) from the given slots, each of which
  // must be sampleable (prioritized replay picks them). out.indices and out.weights are left
  // alone.
  void gather(const std::int64_t* indices, std::int64_t batch_size, Batch& out) const;
  // gather in parts, for a batch drawn from several buffers (the Ape-X learner's, one per actor
  // env): shape_batch sizes `out` for batch_size rows (a no-op when it already has that shape),
  // gather_row fills row b from one slot, which must be sampleable.
  void shape_batch(std::int64_t batch_size, Batch& out) const;
  void gather_row(std::int64_t slot, std::int64_t b, Batch& out) const;
  // Whether a minibatch may hold the transition in slot i: it has been written, and so has
  // its n-step window (up to the episode's end or n transitions).
  bool sampleable(std::int64_t i) const;
  // Cuts the stream at its newest transition, as a time limit would: it becomes truncated, so
  // the n-step windows before it close there and bootstrap from its stored s'. For a stream
  // whose episode will not go on (a resumed Ape-X job's actors start new episodes). Returns
  // whether anything changed (not when the newest transition already ended its episode).
  bool truncate_tail();
  // n-step returns with discount gamma from the next sample on (default n = 1: one-step).
  void set_n_step(std::int64_t n, double gamma);
  std::int64_t n_step() const { return n_step_; }

  std::int64_t size() const { return size_; }
  std::int64_t capacity() const { return capacity_; }
  std::int64_t obs_dim() const { return obs_dim_; }
  // Transition i, for tests and checks: 0 <= i < capacity, i = write_position() - 1 the newest.
  bool truncated(std::int64_t i) const { return truncated_[i] != 0; }
  bool terminated(std::int64_t i) const { return terminated_[i] != 0; }
  std::int64_t action(std::int64_t i) const { return actions_[i]; }
  float reward(std::int64_t i) const { return rewards_[i]; }
  const float* obs(std::int64_t i) const { return obs_.data() + i * obs_dim_; }
  const float* next_obs(std::int64_t i) const { return next_obs_.data() + i * obs_dim_; }
  // Where the next transition goes: the count of adds modulo the capacity.
  std::int64_t write_position() const { return next_; }
  std::int64_t bytes_per_transition() const { return bytes_per_transition(obs_dim_); }
  // What one transition of obs_dim floats costs, before a buffer exists (for memory checks).
  static std::int64_t bytes_per_transition(std::int64_t obs_dim);

  // Raw contents for run snapshots (resume continues bit-exactly), the big arrays referenced
  // in place (see PieceWriter).
  // load checks everything before it changes anything (sizes, finite values, actions in
  // [0, num_actions), flags 0 or 1) and throws dqn::Error naming the first bad field.
  void save(PieceWriter& out) const;
  void load(std::string_view in, std::int64_t num_actions);

 private:
  // Transitions in the window of slot i: m of the formula above, or 0 where the window is not
  // all stored yet.
  std::int64_t window(std::int64_t i) const;

  std::int64_t capacity_, obs_dim_;
  std::int64_t size_ = 0, next_ = 0;
  std::int64_t n_step_ = 1;
  double gamma_ = 1;
  Tensor obs_, next_obs_, rewards_;
  std::vector<std::int64_t> actions_;
  std::vector<std::uint8_t> terminated_, truncated_;
};

}  // namespace dqn
