// rl/replay.cpp: the circular replay buffer for flat observations.
#include "rl/replay.hpp"

#include <cstring>
#include <utility>

#include "core/error.hpp"
#include "rl/serialize.hpp"

namespace dqn {

ReplayBuffer::ReplayBuffer(std::int64_t capacity, std::int64_t obs_dim)
    : capacity_(capacity), obs_dim_(obs_dim) {
  DQN_CHECK(capacity >= 1 && obs_dim >= 1,
            "ReplayBuffer: needs capacity >= 1 and obs_dim >= 1, "
            "got ",
            capacity, " and ", obs_dim);
  obs_.resize(Shape{capacity, obs_dim});
  next_obs_.resize(Shape{capacity, obs_dim});
  rewards_.resize(Shape{capacity});
  actions_.assign(capacity, 0);
  terminated_.assign(capacity, 0);
  truncated_.assign(capacity, 0);
}

void ReplayBuffer::add(const float* obs, std::int64_t action, float reward, const float* next_obs,
                       bool terminated, bool truncated) {
  const std::size_t row = static_cast<std::size_t>(obs_dim_) * sizeof(float);
  std::memcpy(obs_.data() + next_ * obs_dim_, obs, row);
  std::memcpy(next_obs_.data() + next_ * obs_dim_, next_obs, row);
  actions_[next_] = action;
  rewards_[next_] = reward;
  terminated_[next_] = terminated;
  truncated_[next_] = truncated;
  next_ = (next_ + 1) % capacity_;
  if (size_ < capacity_) ++size_;
}

void ReplayBuffer::set_n_step(std::int64_t n, double gamma) {
  DQN_CHECK(n >= 1 && n <= capacity_ && gamma >= 0 && gamma <= 1,
            "ReplayBuffer: n-step needs 1 <= n <= capacity (", capacity_,
            ") and gamma in [0, 1], got n = ", n, " and gamma = ", gamma);
  n_step_ = n;
  gamma_ = gamma;
}

std::int64_t ReplayBuffer::window(std::int64_t i) const {
  if (i < 0 || i >= size_) return 0;
  const std::int64_t oldest = size_ < capacity_ ? 0 : next_;
  const std::int64_t age = (i - oldest + capacity_) % capacity_;  // 0 = the oldest stored
  for (std::int64_t k = 0; k < n_step_; ++k) {
    if (age + k >= size_) return 0;  // transition t + k is not stored yet
    const std::int64_t j = (i + k) % capacity_;
    if (terminated_[j] || truncated_[j] || k == n_step_ - 1) return k + 1;
  }
  return 0;  // not reached: k = n - 1 returns
}

bool ReplayBuffer::sampleable(std::int64_t i) const {
  return window(i) > 0;
}

void ReplayBuffer::sample(std::int64_t batch_size, Rng& rng, Batch& out) const {
  DQN_CHECK(size_ >= 1, "ReplayBuffer::sample: the buffer is empty; store transitions first");
  DQN_CHECK(batch_size >= 1, "ReplayBuffer::sample: batch_size must be >= 1, got ", batch_size);
  out.indices.resize(static_cast<std::size_t>(batch_size));
  constexpr int kMaxTries = 1000000;  // guards a buffer with no complete n-step window
  for (std::int64_t b = 0; b < batch_size; ++b) {
    // One draw a sample when n = 1 (every stored transition qualifies), as before n-step.
    std::int64_t i = 0;
    int tries = 0;
    do {
      DQN_CHECK(++tries < kMaxTries, "ReplayBuffer::sample: no complete ", n_step_,
                "-step window is stored yet");
      i = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(size_)));
    } while (n_step_ > 1 && !sampleable(i));
    out.indices[b] = i;
  }
  gather(out.indices.data(), batch_size, out);
}

void ReplayBuffer::gather(const std::int64_t* indices, std::int64_t batch_size, Batch& out) const {
  shape_batch(batch_size, out);
  for (std::int64_t b = 0; b < batch_size; ++b) gather_row(indices[b], b, out);
}

void ReplayBuffer::shape_batch(std::int64_t batch_size, Batch& out) const {
  if (out.obs.shape() != Shape{batch_size, obs_dim_}) {
    out.obs.resize(Shape{batch_size, obs_dim_});
    out.next_obs.resize(Shape{batch_size, obs_dim_});
    out.rewards.resize(Shape{batch_size});
    out.terminated.resize(Shape{batch_size});
    out.actions.resize(batch_size);
  }
  out.discounts.resize(n_step_ > 1 ? static_cast<std::size_t>(batch_size) : 0);
  out.size = batch_size;
}

void ReplayBuffer::gather_row(std::int64_t i, std::int64_t b, Batch& out) const {
  const std::size_t row = static_cast<std::size_t>(obs_dim_) * sizeof(float);
  const std::int64_t m = window(i);
  DQN_CHECK(m > 0, "ReplayBuffer::gather: slot ", i, " holds no complete transition (", size_,
            " stored, n_step ", n_step_, ")");
  // The window's last transition gives s' and the termination flag (its next_obs is the
  // episode's true final observation where the episode ended there).
  const std::int64_t last = (i + m - 1) % capacity_;
  std::memcpy(out.obs.data() + b * obs_dim_, obs_.data() + i * obs_dim_, row);
  std::memcpy(out.next_obs.data() + b * obs_dim_, next_obs_.data() + last * obs_dim_, row);
  out.actions[b] = actions_[i];
  out.terminated[b] = terminated_[last] ? 1.0f : 0.0f;
  if (n_step_ == 1) {
    out.rewards[b] = rewards_[i];
    return;
  }
  double ret = 0, discount = 1;
  for (std::int64_t k = 0; k < m; ++k) {
    ret += discount * rewards_[(i + k) % capacity_];
    discount *= gamma_;
  }
  out.rewards[b] = static_cast<float>(ret);
  out.discounts[static_cast<std::size_t>(b)] = static_cast<float>(discount);  // gamma^m
}

bool ReplayBuffer::truncate_tail() {
  if (size_ == 0) return false;
  const std::int64_t last = (next_ - 1 + capacity_) % capacity_;
  if (terminated_[last] || truncated_[last]) return false;
  truncated_[last] = 1;
  return true;
}

std::int64_t ReplayBuffer::bytes_per_transition(std::int64_t obs_dim) {
  return 2 * obs_dim * static_cast<std::int64_t>(sizeof(float)) + sizeof(std::int64_t) +
         sizeof(float) + 2;
}

void ReplayBuffer::save(PieceWriter& w) const {
  w.i64(capacity_);
  w.i64(obs_dim_);
  w.i64(size_);
  w.i64(next_);
  w.ref(obs_.data(), obs_.numel() * sizeof(float));
  w.ref(next_obs_.data(), next_obs_.numel() * sizeof(float));
  w.ref(rewards_.data(), rewards_.numel() * sizeof(float));
  w.ref(actions_.data(), actions_.size() * sizeof(std::int64_t));
  w.ref(terminated_.data(), terminated_.size());
  w.ref(truncated_.data(), truncated_.size());
}

void ReplayBuffer::load(std::string_view in, std::int64_t num_actions) {
  ByteReader r(in, "replay buffer");
  const std::int64_t capacity = r.i64(), obs_dim = r.i64();
  DQN_CHECK(capacity == capacity_ && obs_dim == obs_dim_, "replay snapshot holds capacity ",
            capacity, " x obs_dim ", obs_dim, ", this buffer is ", capacity_, " x ", obs_dim_,
            ": resume with the run's own config");
  const std::int64_t size = r.i64(), next = r.i64();
  // Until the buffer is full, the write position is the count of stored transitions.
  DQN_CHECK(size >= 0 && size <= capacity && next >= 0 && next < capacity &&
                (size == capacity || next == size),
            "replay snapshot is corrupt: size ", size, " and write position ", next,
            ", expected 0 <= size <= capacity ", capacity,
            " and the write position equal to the size until the buffer is full");
  const auto floats = static_cast<std::size_t>(capacity * obs_dim) * sizeof(float);
  const auto count = static_cast<std::size_t>(capacity);
  const std::string_view obs = r.take(floats), next_obs = r.take(floats),
                         rewards = r.take(count * sizeof(float)),
                         actions = r.take(count * sizeof(std::int64_t)), terminated = r.take(count),
                         truncated = r.take(count);
  r.expect_end();
  // Every slot is checked, written or not: unwritten ones hold zeros, which pass.
  const std::pair<const char*, std::string_view> float_arrays[] = {
      {"observation", obs}, {"next observation", next_obs}, {"reward", rewards}};
  for (const auto& [name, bytes] : float_arrays) {
    const std::int64_t bad = first_non_finite_float(bytes);
    DQN_CHECK(bad < 0, "replay snapshot is corrupt: ", name, " value ", bad,
              " is not finite, expected finite values (the env and the trainer store no others)");
  }
  const std::int64_t bad_action = first_not_in_range(actions, 0, num_actions);
  DQN_CHECK(bad_action < 0, "replay snapshot is corrupt: the action of transition ", bad_action,
            " is outside [0, ", num_actions, ")");
  for (const auto& [name, flags] :
       {std::pair{"terminated", terminated}, {"truncated", truncated}}) {
    const std::int64_t bad = first_not_flag(flags);
    DQN_CHECK(bad < 0, "replay snapshot is corrupt: the ", name, " flag of transition ", bad,
              " is ", int(static_cast<unsigned char>(flags[bad])), ", expected 0 or 1");
  }
  // All checked: only now change the buffer.
  std::memcpy(obs_.data(), obs.data(), obs.size());
  std::memcpy(next_obs_.data(), next_obs.data(), next_obs.size());
  std::memcpy(rewards_.data(), rewards.data(), rewards.size());
  std::memcpy(actions_.data(), actions.data(), actions.size());
  std::memcpy(terminated_.data(), terminated.data(), terminated.size());
  std::memcpy(truncated_.data(), truncated.data(), truncated.size());
  size_ = size;
  next_ = next;
}

}  // namespace dqn
