// rl/frame_replay.hpp: replay for stacked Atari frames that stores each 84x84 frame once.
//
// An observation is a stack of the last 4 frames, and consecutive observations share 3 of them,
// so storing whole stacks (twice: s and s') would cost 8 frames a transition. Here every slot
// holds one frame: the newest frame of the observation s_t, with the action, reward and flags
// of the transition that starts from s_t. Stacks are rebuilt at sample time from the slots
// before. s' is the stack that ends at the next slot; when an episode ends, its true final
// frame is written into a slot of its own that starts no transition.
//
// Episode boundaries: a stack never takes frames from an earlier episode. Where an episode is
// younger than the stack, its first frame fills the missing places, which is exactly what the
// frame-stack preprocessing shows the agent after a reset (envs/atari_preprocessing.hpp fills
// the stack with the first frame), so sampled stacks equal the observations the agent saw.
//
// n-step returns are summed at sample time over the slots after the sampled one, as in
// ReplayBuffer (rl/replay.hpp explains the design): the window of the transition at slot t runs
// over the transitions t, t+1, ... up to the episode's end or n of them, and s' is the stack
// ending at the slot after the window (the episode's final frame where it ended inside it).
//
// Cost: 84 * 84 = 7,056 bytes of frame plus 16 bytes of action, reward and four flags a slot,
// 7,072 bytes a transition: 1M transitions fit in 7.1 GB (memory_bytes() measures it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "core/tensor.hpp"
#include "rl/replay.hpp"
#include "rl/serialize.hpp"

namespace dqn {

class FrameReplay {
 public:
  static constexpr std::int64_t kStack = 4;

  FrameReplay(std::int64_t capacity, std::int64_t height = 84, std::int64_t width = 84);

  // The transition from observation s_t (given by its newest frame), with the flag saying
  // whether s_t is the first observation of an episode.
  void add(const std::uint8_t* newest_frame, bool episode_start, std::int64_t action, float reward,
           bool terminated, bool truncated);
  // After the last transition of an episode: the newest frame of the final observation s_T.
  void add_final(const std::uint8_t* newest_frame);

  // Uniform over transitions whose s and s' are both still stored; fills batch.frames,
  // batch.next_frames (B,4,H,W), actions, rewards, terminated.
  void sample(std::int64_t batch_size, Rng& rng, Batch& out) const;
  // Fills out from the given slots, each of which must be sampleable (prioritized replay picks
  // them); out.indices and out.weights are left alone.
  void gather(const std::int64_t* slots, std::int64_t batch_size, Batch& out) const;
  // gather in parts, for a batch drawn from several buffers (the Ape-X learner's, one per actor
  // env): shape_batch sizes `out` for batch_size rows (a no-op when it already has that shape),
  // gather_row fills row b from one slot, which must be sampleable.
  void shape_batch(std::int64_t batch_size, Batch& out) const;
  void gather_row(std::int64_t slot, std::int64_t b, Batch& out) const;
  // Whether a minibatch may hold the transition starting at `slot`: a transition starts there,
  // its n-step window and the s' after it are written, and every frame of its stack is still
  // stored.
  bool sampleable(std::int64_t slot) const;
  // Cuts the stream at its newest slot, as a time limit would: a transition whose s' was never
  // written stops being one (its frame stays, as the s' of the transition before it), and that
  // earlier transition, if its episode goes on into the slot, becomes truncated. For a stream
  // whose episode will not go on (a resumed Ape-X job's actors start new episodes). Returns
  // whether anything changed.
  bool truncate_tail();
  // n-step returns with discount gamma from the next sample on (default n = 1: one-step).
  void set_n_step(std::int64_t n, double gamma);
  std::int64_t n_step() const { return n_step_; }

  // Rebuilds the stack ending at slot `slot` into out (4*H*W bytes).
  void stack_at(std::int64_t slot, std::uint8_t* out) const;

  std::int64_t size() const { return size_; }  // slots written (at most capacity)
  // Raw contents for run snapshots (resume continues bit-exactly), the big arrays referenced
  // in place (see PieceWriter).
  // load checks everything but the frames (any byte is a pixel) before it changes anything:
  // sizes, finite rewards, actions in [0, num_actions), flags 0 or 1.
  void save(PieceWriter& out) const;
  void load(std::string_view in, std::int64_t num_actions);
  // Where the next slot goes: the count of slots written modulo the capacity.
  std::int64_t write_position() const { return next_; }
  std::int64_t capacity() const { return capacity_; }
  // Bytes actually held by the buffer's arrays (what a million slots cost).
  std::int64_t memory_bytes() const;
  // What one slot of a height x width frame costs, before a buffer exists (for memory checks):
  // the frame, the action (8 bytes), the reward (4) and four flag bytes.
  static std::int64_t bytes_per_slot(std::int64_t height, std::int64_t width) {
    return height * width + static_cast<std::int64_t>(sizeof(std::int64_t) + sizeof(float)) + 4;
  }

 private:
  void write_slot(const std::uint8_t* frame, bool episode_start, bool transition,
                  std::int64_t action, float reward, bool terminated, bool truncated);

  // Transitions in the n-step window of `slot`, or 0 where it is not sampleable.
  std::int64_t window(std::int64_t slot) const;

  std::int64_t capacity_, height_, width_, frame_size_;
  std::int64_t size_ = 0, next_ = 0;
  std::int64_t n_step_ = 1;
  double gamma_ = 1;
  std::vector<std::uint8_t> frames_;
  std::vector<std::int64_t> actions_;
  std::vector<float> rewards_;
  std::vector<std::uint8_t> terminated_, truncated_, episode_start_, starts_transition_;
};

}  // namespace dqn
