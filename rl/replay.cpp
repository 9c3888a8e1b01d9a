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

void ReplayBuffer::sample(std::int64_t batch_size, Rng& rng, Batch& out) const {
  DQN_CHECK(size_ >= 1, "ReplayBuffer::sample: the buffer is empty; store transitions first");
  DQN_CHECK(batch_size >= 1, "ReplayBuffer::sample: batch_size must be >= 1, got ", batch_size);
  out.indices.resize(static_cast<std::size_t>(batch_size));
  for (std::int64_t b = 0; b < batch_size; ++b)
    out.indices[b] = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(size_)));
  gather(out.indices.data(), batch_size, out);
}

void ReplayBuffer::gather(const std::int64_t* indices, std::int64_t batch_size, Batch& out) const {
  if (out.obs.shape() != Shape{batch_size, obs_dim_}) {
    out.obs.resize(Shape{batch_size, obs_dim_});
    out.next_obs.resize(Shape{batch_size, obs_dim_});
    out.rewards.resize(Shape{batch_size});
    out.terminated.resize(Shape{batch_size});
    out.actions.resize(batch_size);
  }
  const std::size_t row = static_cast<std::size_t>(obs_dim_) * sizeof(float);
  for (std::int64_t b = 0; b < batch_size; ++b) {
    const std::int64_t i = indices[b];
    DQN_CHECK(sampleable(i), "ReplayBuffer::gather: slot ", i, " holds no transition (", size_,
              " stored)");
    std::memcpy(out.obs.data() + b * obs_dim_, obs_.data() + i * obs_dim_, row);
    std::memcpy(out.next_obs.data() + b * obs_dim_, next_obs_.data() + i * obs_dim_, row);
    out.actions[b] = actions_[i];
    out.rewards[b] = rewards_[i];
    out.terminated[b] = terminated_[i] ? 1.0f : 0.0f;
  }
  out.size = batch_size;
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
