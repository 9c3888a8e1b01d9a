// envs/atari_preprocessing.hpp: an AtariScreen game as a DQN sees it, matching Gymnasium's
// AtariPreprocessing wrapper followed by a 4-frame stack. Two protocols are in use (the config
// presets `atari` and `atari-v5` choose between them; every switch is an EnvOptions field):
//
//   Mnih et al. 2015 / CleanRL dqn_atari: up to 30 no-op starts, FIRE on reset and after each
//     lost life (fire_reset), a lost life ends the learning episode (terminal_on_life_loss), no
//     sticky actions, the minimal action set.
//   Machado et al. 2018 / Gymnasium ALE/...-v5: sticky actions with probability 0.25 decided
//     every frame (repeat_action_probability, in the game), no no-op starts, no FIRE presses, no
//     life-loss signal, optionally the full 18-action set (full_action_space).
//   Both: frame skip 4 and a 108,000-frame cap (max_episode_frames).
//
//   reset: reset the game, then 1..noop_max no-ops drawn from the env's Rng (a game over during
//          them resets the game again), then FIRE once for games that need it (fire_reset);
//          the stack is filled with copies of the first frame, so nothing of the previous
//          episode leaks into the new one.
//   step:  repeat the action frame_skip (4) times, summing the score; stop early at game over or
//          at the frame limit. The grey screens of the last two frames are max-pooled (Atari
//          sprites flicker between frames), resized to 84x84 with OpenCV's INTER_AREA, and
//          pushed on the stack (oldest first): observation u8 (4,84,84). After a lost life, with
//          fire_reset, FIRE is held for one more frame_skip frames; with terminal_on_life_loss
//          the stack restarts from the new frame.
//   reward = sign(score change) when clip_rewards, raw_reward = the score change itself.
//   terminated = game over; truncated = the episode reached max_episode_frames emulated frames
//   (108,000 = 30 minutes = 27,000 agent steps); life_lost = lives() went down this step (the
//   game goes on: the trainer treats it as terminal for learning only with
//   terminal_on_life_loss).
//
// Gymnasium quirk kept on purpose: the pooled screens are grabbed at frames skip-2 and skip-1
// only, so a step that ends early (game over on its first frames) shows the previous step's
// pooled frame; and the max is taken in place into the newest buffer, as np.maximum(..., out=)
// does there.
//
// With EnvOptions::preprocess = false the same class plays the raw game: one frame per step, no
// no-ops, no pooling, no resize, observation u8 (210,160) grey.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "envs/atari_screen.hpp"
#include "envs/env.hpp"

namespace dqn {

// OpenCV's cv::resize(..., INTER_AREA) for a single-channel uint8 image shrunk by a non-integer
// factor (resizeArea_<uchar, float>): each output pixel averages the source pixels its cell
// covers, edge pixels weighted by the fraction covered. Weights are float, sums float, in
// OpenCV's order (a row's horizontal sums, then rows weighted and added), and the result is
// rounded half to even (cvRound) and saturated. Tables are built once.
class AreaResize {
 public:
  AreaResize(int src_h, int src_w, int dst_h, int dst_w);
  // dst (dst_h,dst_w)  src (src_h,src_w); no allocation.
  void apply(std::uint8_t* dst, const std::uint8_t* src) const;
  int src_h() const { return src_h_; }
  int src_w() const { return src_w_; }

  struct Tap {
    int src, dst;
    float alpha;
  };
  // OpenCV's computeResizeAreaTab, exposed for the hand-worked test.
  static std::vector<Tap> taps(int src_size, int dst_size);

 private:
  int src_h_, src_w_, dst_h_, dst_w_;
  std::vector<Tap> xtab_, ytab_;
  int xtaps_ = 0;              // taps per output column, padded to the largest count
  std::vector<int> xsrc_;      // (dst_w, xtaps) source column of each tap
  std::vector<float> xalpha_;  // (dst_w, xtaps) its weight, 0 for padding
  std::vector<int> ystart_;    // taps of output row d: ytab_[ystart_[d] .. ystart_[d+1])
  mutable std::vector<std::uint8_t> last_src_;  // the rows the row sums were made from
  mutable bool has_last_ = false;
  mutable std::vector<float> row_, hbuf_, sum_;  // a source row as float (src_w), row sums
                                                 // (src_h, dst_w), one output row (dst_w)
};

class AtariPreprocessing final : public Env {
 public:
  static constexpr int kScreenSize = 84;

  AtariPreprocessing(std::unique_ptr<AtariScreen> game, const EnvOptions& options);

  std::string name() const override { return game_->game_name(); }
  Shape observation_shape() const override;
  bool observation_is_u8() const override { return true; }
  std::int64_t num_actions() const override { return static_cast<std::int64_t>(actions_.size()); }
  void reset(std::uint64_t seed) override;
  void reset() override;
  StepResult step(std::int64_t action) override;
  const std::uint8_t* observation_u8() const override { return stack_.data(); }
  void save_state(std::string& blob) const override;
  void load_state(std::string_view blob) override;

  const AtariScreen& game() const { return *game_; }
  AtariScreen& game() { return *game_; }
  // ALE names of the agent's actions, index i is action i ("NOOP", "FIRE", "RIGHT", "LEFT").
  std::vector<std::string> action_meanings() const;
  std::int64_t noops_last_reset() const { return noops_last_reset_; }

 private:
  void grab(std::uint8_t* buffer) const { game_->get_screen_grayscale(buffer); }
  int repeat(int ale_action, StepResult& r);
  void push_observation(bool fill_stack);

  std::unique_ptr<AtariScreen> game_;
  EnvOptions options_;
  std::vector<int> actions_;
  bool has_fire_ = false;
  Rng rng_;
  int frame_h_, frame_w_;  // observation frame size: 84x84, or 210x160 raw
  std::int64_t frame_skip_, noop_max_, stack_size_;
  AreaResize resize_;
  std::array<std::vector<std::uint8_t>, 2> screens_;  // the two pooled grey screens (210,160)
  std::vector<std::uint8_t> frame_;                   // the newest observation frame
  std::vector<std::uint8_t> stack_;                   // (stack, h, w), oldest first
  int lives_ = 0;
  std::int64_t noops_last_reset_ = 0;
  bool done_ = true;
};

}  // namespace dqn
