// rl/frame_replay.cpp: slot storage and stack reconstruction for Atari replay.
#include "rl/frame_replay.hpp"

#include <cstring>
#include <utility>

#include "core/error.hpp"
#include "rl/serialize.hpp"

namespace dqn {

FrameReplay::FrameReplay(std::int64_t capacity, std::int64_t height, std::int64_t width)
    : capacity_(capacity), height_(height), width_(width), frame_size_(height * width) {
  DQN_CHECK(capacity > kStack + 1, "FrameReplay: capacity must exceed ", kStack + 1, " slots, got ",
            capacity);
  frames_.assign(static_cast<std::size_t>(capacity * frame_size_), 0);
  actions_.assign(capacity, 0);
  rewards_.assign(capacity, 0);
  terminated_.assign(capacity, 0);
  truncated_.assign(capacity, 0);
  episode_start_.assign(capacity, 0);
  starts_transition_.assign(capacity, 0);
}

void FrameReplay::write_slot(const std::uint8_t* frame, bool episode_start, bool transition,
                             std::int64_t action, float reward, bool terminated, bool truncated) {
  std::memcpy(frames_.data() + next_ * frame_size_, frame, static_cast<std::size_t>(frame_size_));
  episode_start_[next_] = episode_start;
  starts_transition_[next_] = transition;
  actions_[next_] = action;
  rewards_[next_] = reward;
  terminated_[next_] = terminated;
  truncated_[next_] = truncated;
  next_ = (next_ + 1) % capacity_;
  if (size_ < capacity_) ++size_;
}

void FrameReplay::add(const std::uint8_t* newest_frame, bool episode_start, std::int64_t action,
                      float reward, bool terminated, bool truncated) {
  write_slot(newest_frame, episode_start, true, action, reward, terminated, truncated);
}

void FrameReplay::add_final(const std::uint8_t* newest_frame) {
  write_slot(newest_frame, false, false, 0, 0, false, false);
}

void FrameReplay::stack_at(std::int64_t slot, std::uint8_t* out) const {
  // Walk back from the newest frame; once an episode start is met, repeat it for older places.
  std::int64_t source = slot;
  for (std::int64_t k = kStack - 1; k >= 0; --k) {
    std::memcpy(out + k * frame_size_, frames_.data() + source * frame_size_,
                static_cast<std::size_t>(frame_size_));
    if (!episode_start_[source]) source = (source - 1 + capacity_) % capacity_;
  }
}

void FrameReplay::set_n_step(std::int64_t n, double gamma) {
  DQN_CHECK(n >= 1 && n < capacity_ - kStack && gamma >= 0 && gamma <= 1,
            "FrameReplay: n-step needs 1 <= n < capacity - ", kStack, " (", capacity_ - kStack,
            ") and gamma in [0, 1], got n = ", n, " and gamma = ", gamma);
  n_step_ = n;
  gamma_ = gamma;
}

std::int64_t FrameReplay::window(std::int64_t slot) const {
  if (slot < 0 || slot >= capacity_ || !starts_transition_[slot]) return 0;
  const std::int64_t oldest = size_ < capacity_ ? 0 : next_;
  const std::int64_t age = (slot - oldest + capacity_) % capacity_;  // 0 = the oldest slot
  // The frames of s reach back to the episode's start or kStack-1 slots, whichever comes first;
  // all of them must still be stored (not yet overwritten by the circular buffer).
  for (std::int64_t back = 0; back < kStack - 1; ++back) {
    if (episode_start_[(slot - back + capacity_) % capacity_]) break;
    if (age - back - 1 < 0) return 0;
  }
  // The window: transitions slot, slot+1, ... until one ends its episode or n are taken; the
  // slot after the last one (s') must be written too.
  for (std::int64_t k = 0; k < n_step_; ++k) {
    const std::int64_t j = (slot + k) % capacity_;
    if (age + k + 1 >= size_) return 0;  // slot j + 1 (its s') is not written yet
    if (!starts_transition_[j]) return 0;
    if (terminated_[j] || truncated_[j] || k == n_step_ - 1) return k + 1;
  }
  return 0;  // not reached: k = n - 1 returns
}

bool FrameReplay::sampleable(std::int64_t slot) const {
  return window(slot) > 0;
}

void FrameReplay::sample(std::int64_t batch_size, Rng& rng, Batch& out) const {
  DQN_CHECK(batch_size >= 1, "FrameReplay::sample: batch_size must be >= 1, got ", batch_size);
  DQN_CHECK(size_ >= kStack + 1, "FrameReplay::sample: store at least ", kStack + 1,
            " frames first (have ", size_, ")");
  out.indices.resize(static_cast<std::size_t>(batch_size));
  constexpr int kMaxTries = 1000000;  // guards a buffer with no sampleable slot at all
  for (std::int64_t b = 0; b < batch_size; ++b) {
    std::int64_t slot = 0;
    int tries = 0;
    do {
      DQN_CHECK(++tries < kMaxTries, "FrameReplay::sample: no complete transition is stored");
      slot = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(size_)));
      if (size_ == capacity_) slot = (next_ + slot) % capacity_;
    } while (!sampleable(slot));
    out.indices[b] = slot;
  }
  gather(out.indices.data(), batch_size, out);
}

void FrameReplay::gather(const std::int64_t* slots, std::int64_t batch_size, Batch& out) const {
  shape_batch(batch_size, out);
  for (std::int64_t b = 0; b < batch_size; ++b) gather_row(slots[b], b, out);
}

void FrameReplay::shape_batch(std::int64_t batch_size, Batch& out) const {
  const Shape shape{batch_size, kStack, height_, width_};
  if (out.frames.shape() != shape) {
    out.frames.resize(shape);
    out.next_frames.resize(shape);
    out.rewards.resize(Shape{batch_size});
    out.terminated.resize(Shape{batch_size});
    out.actions.resize(batch_size);
  }
  out.discounts.resize(n_step_ > 1 ? static_cast<std::size_t>(batch_size) : 0);
  out.size = batch_size;
}

void FrameReplay::gather_row(std::int64_t slot, std::int64_t b, Batch& out) const {
  const std::int64_t stack_bytes = kStack * frame_size_;
  const std::int64_t m = window(slot);
  DQN_CHECK(m > 0, "FrameReplay::gather: slot ", slot, " starts no complete ", n_step_,
            "-step transition");
  const std::int64_t last = (slot + m - 1) % capacity_;
  stack_at(slot, out.frames.data() + b * stack_bytes);
  stack_at((last + 1) % capacity_, out.next_frames.data() + b * stack_bytes);
  out.actions[b] = actions_[slot];
  out.terminated[b] = terminated_[last] ? 1.0f : 0.0f;
  if (n_step_ == 1) {
    out.rewards[b] = rewards_[slot];
    return;
  }
  double ret = 0, discount = 1;
  for (std::int64_t k = 0; k < m; ++k) {
    ret += discount * rewards_[(slot + k) % capacity_];
    discount *= gamma_;
  }
  out.rewards[b] = static_cast<float>(ret);
  out.discounts[static_cast<std::size_t>(b)] = static_cast<float>(discount);  // gamma^m
}

bool FrameReplay::truncate_tail() {
  if (size_ == 0) return false;
  const std::int64_t last = (next_ - 1 + capacity_) % capacity_;
  if (!starts_transition_[last]) return false;  // a final frame: the episode ended cleanly
  starts_transition_[last] = 0;
  const std::int64_t prev = (last - 1 + capacity_) % capacity_;
  if (size_ >= 2 && starts_transition_[prev] && !terminated_[prev] && !truncated_[prev] &&
      !episode_start_[last])
    truncated_[prev] = 1;
  return true;
}

std::int64_t FrameReplay::memory_bytes() const {
  std::size_t bytes = frames_.capacity() + actions_.capacity() * sizeof(std::int64_t) +
                      rewards_.capacity() * sizeof(float);
  for (const auto* flags : {&terminated_, &truncated_, &episode_start_, &starts_transition_})
    bytes += flags->capacity();
  return static_cast<std::int64_t>(bytes);
}

void FrameReplay::save(PieceWriter& w) const {
  for (const std::int64_t v : {capacity_, height_, width_, size_, next_}) w.i64(v);
  w.ref(frames_.data(), frames_.size());
  w.ref(actions_.data(), actions_.size() * sizeof(std::int64_t));
  w.ref(rewards_.data(), rewards_.size() * sizeof(float));
  for (const auto* flags : {&terminated_, &truncated_, &episode_start_, &starts_transition_})
    w.ref(flags->data(), flags->size());
}

void FrameReplay::load(std::string_view in, std::int64_t num_actions) {
  ByteReader r(in, "frame replay");
  const std::int64_t capacity = r.i64(), height = r.i64(), width = r.i64();
  DQN_CHECK(capacity == capacity_ && height == height_ && width == width_,
            "frame replay snapshot holds ", capacity, " slots of ", height, "x", width,
            ", this buffer has ", capacity_, " of ", height_, "x", width_,
            ": resume with the run's own config");
  const std::int64_t size = r.i64(), next = r.i64();
  // Until the buffer is full, the write position is the count of written slots.
  DQN_CHECK(size >= 0 && size <= capacity && next >= 0 && next < capacity &&
                (size == capacity || next == size),
            "frame replay snapshot is corrupt: size ", size, " and write position ", next,
            ", expected 0 <= size <= capacity ", capacity,
            " and the write position equal to the size until the buffer is full");
  const auto count = static_cast<std::size_t>(capacity);
  // Frames are any bytes; everything else is checked before anything is copied.
  const std::string_view frames = r.take(count * static_cast<std::size_t>(frame_size_));
  const std::string_view actions = r.take(count * sizeof(std::int64_t));
  const std::string_view rewards = r.take(count * sizeof(float));
  const std::pair<const char*, std::string_view> flags[] = {{"terminated", r.take(count)},
                                                            {"truncated", r.take(count)},
                                                            {"episode start", r.take(count)},
                                                            {"starts transition", r.take(count)}};
  r.expect_end();
  const std::int64_t bad_reward = first_non_finite_float(rewards);
  DQN_CHECK(bad_reward < 0, "frame replay snapshot is corrupt: the reward of slot ", bad_reward,
            " is not finite");
  const std::int64_t bad_action = first_not_in_range(actions, 0, num_actions);
  DQN_CHECK(bad_action < 0, "frame replay snapshot is corrupt: the action of slot ", bad_action,
            " is outside [0, ", num_actions, ")");
  for (const auto& [name, bytes] : flags) {
    const std::int64_t bad = first_not_flag(bytes);
    DQN_CHECK(bad < 0, "frame replay snapshot is corrupt: the ", name, " flag of slot ", bad,
              " is ", int(static_cast<unsigned char>(bytes[bad])), ", expected 0 or 1");
  }
  std::memcpy(frames_.data(), frames.data(), frames.size());
  std::memcpy(actions_.data(), actions.data(), actions.size());
  std::memcpy(rewards_.data(), rewards.data(), rewards.size());
  std::vector<std::uint8_t>* const targets[] = {&terminated_, &truncated_, &episode_start_,
                                                &starts_transition_};
  for (int k = 0; k < 4; ++k)
    std::memcpy(targets[k]->data(), flags[k].second.data(), flags[k].second.size());
  size_ = size;
  next_ = next;
}

}  // namespace dqn
