// envs/atari_preprocessing.cpp: INTER_AREA resizing and the AtariPreprocessing env.
#include "envs/atari_preprocessing.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "envs/state_blob.hpp"

namespace dqn {

// --- AreaResize ------------------------------------------------------------------------------

std::vector<AreaResize::Tap> AreaResize::taps(int src_size, int dst_size) {
  // cv::resize passes inv_scale = dst/src and works with scale = 1/inv_scale (not src/dst: the
  // two can differ in the last bit, and the tables follow that double exactly).
  const double inv_scale = static_cast<double>(dst_size) / src_size;
  const double scale = 1.0 / inv_scale;
  std::vector<Tap> tab;
  for (int d = 0; d < dst_size; ++d) {
    const double f1 = d * scale, f2 = f1 + scale;
    const double cell = std::min(scale, src_size - f1);
    int s1 = static_cast<int>(std::ceil(f1)), s2 = static_cast<int>(std::floor(f2));
    s2 = std::min(s2, src_size - 1);
    s1 = std::min(s1, s2);
    if (s1 - f1 > 1e-3) tab.push_back({s1 - 1, d, static_cast<float>((s1 - f1) / cell)});
    for (int s = s1; s < s2; ++s) tab.push_back({s, d, static_cast<float>(1.0 / cell)});
    if (f2 - s2 > 1e-3) {
      tab.push_back({s2, d, static_cast<float>(std::min(std::min(f2 - s2, 1.0), cell) / cell)});
    }
  }
  return tab;
}

AreaResize::AreaResize(int src_h, int src_w, int dst_h, int dst_w)
    : src_h_(src_h),
      src_w_(src_w),
      dst_h_(dst_h),
      dst_w_(dst_w),
      xtab_(taps(src_w, dst_w)),
      ytab_(taps(src_h, dst_h)),
      hbuf_(static_cast<std::size_t>(src_h) * dst_w),
      sum_(dst_w) {
  DQN_CHECK(dst_h >= 1 && dst_w >= 1 && dst_h <= src_h && dst_w <= src_w,
            "AreaResize: expected a shrink to at least 1x1, got (", src_h, ",", src_w, ") -> (",
            dst_h, ",", dst_w, ")");
  // Where each output column's (row's) taps start in the sorted tables.
  auto starts = [](const std::vector<Tap>& tab, int n) {
    std::vector<int> start(n + 1, static_cast<int>(tab.size()));
    for (int k = static_cast<int>(tab.size()) - 1; k >= 0; --k) start[tab[k].dst] = k;
    for (int d = n - 1; d >= 0; --d) start[d] = std::min(start[d], start[d + 1]);
    return start;
  };
  const std::vector<int> xstart = starts(xtab_, dst_w);
  ystart_ = starts(ytab_, dst_h);
  // Every column gets the same number of taps, the short ones padded at the end with weight 0:
  // acc + x * 0 = acc exactly (x >= 0), so the bits stay OpenCV's, and the fixed trip count
  // spares a mispredicted loop exit per column.
  xtaps_ = 0;
  for (int d = 0; d < dst_w; ++d) xtaps_ = std::max(xtaps_, xstart[d + 1] - xstart[d]);
  xsrc_.assign(static_cast<std::size_t>(dst_w) * xtaps_, 0);
  xalpha_.assign(static_cast<std::size_t>(dst_w) * xtaps_, 0.0f);
  for (int d = 0; d < dst_w; ++d) {
    for (int t = 0; t < xtaps_; ++t) {
      const int k = std::min(xstart[d] + t, xstart[d + 1] - 1);
      xsrc_[d * xtaps_ + t] = xtab_[k].src;
      xalpha_[d * xtaps_ + t] = xstart[d] + t < xstart[d + 1] ? xtab_[k].alpha : 0.0f;
    }
  }
  row_.assign(src_w, 0.0f);
  last_src_.assign(static_cast<std::size_t>(src_h) * src_w, 0);
}

void AreaResize::apply(std::uint8_t* dst, const std::uint8_t* src) const {
  // OpenCV scatters each row's taps into buf[dx] (buf[dx] += S[sx] * alpha) and then adds rows
  // (sum += beta * buf). Because a column's taps are consecutive in the table, gathering them
  // into one accumulator in table order does the same float operations in the same order, and
  // so gives the same bits, without a store-to-load chain per tap. Every source row is summed
  // once (OpenCV sums a row again for each output row it touches: same values).
  float* h = hbuf_.data();
  float* rowf = row_.data();
  const int taps = xtaps_;
  // Consecutive Atari frames differ in a few rows (ball, paddle, score): a row equal to the one
  // seen at this position last call has the same sums, so they are kept, not recomputed.
  std::uint8_t* seen = last_src_.data();
  for (int sy = 0; sy < src_h_; ++sy) {
    const std::uint8_t* row = src + static_cast<std::int64_t>(sy) * src_w_;
    std::uint8_t* seen_row = seen + static_cast<std::int64_t>(sy) * src_w_;
    if (has_last_ && std::memcmp(row, seen_row, src_w_) == 0) continue;
    std::memcpy(seen_row, row, src_w_);
    for (int x = 0; x < src_w_; ++x) rowf[x] = static_cast<float>(row[x]);  // exact
    float* out = h + static_cast<std::int64_t>(sy) * dst_w_;
    if (taps == 3) {  // 160 -> 84: a fixed trip count the compiler unrolls
      const int* xs = xsrc_.data();
      const float* xa = xalpha_.data();
      for (int dx = 0; dx < dst_w_; ++dx) {
        float acc = 0.0f + rowf[xs[3 * dx]] * xa[3 * dx];
        acc += rowf[xs[3 * dx + 1]] * xa[3 * dx + 1];
        acc += rowf[xs[3 * dx + 2]] * xa[3 * dx + 2];
        out[dx] = acc;
      }
      continue;
    }
    for (int dx = 0; dx < dst_w_; ++dx) {
      const int* xs = xsrc_.data() + dx * taps;
      const float* xa = xalpha_.data() + dx * taps;
      float acc = 0.0f;
      for (int t = 0; t < taps; ++t) acc += rowf[xs[t]] * xa[t];
      out[dx] = acc;
    }
  }
  has_last_ = true;
  float* sum = sum_.data();
  for (int dy = 0; dy < dst_h_; ++dy) {
    const int k0 = ystart_[dy], k1 = ystart_[dy + 1];
    const float* h0 = h + static_cast<std::int64_t>(ytab_[k0].src) * dst_w_;
    const float b0 = ytab_[k0].alpha;
    for (int dx = 0; dx < dst_w_; ++dx) sum[dx] = b0 * h0[dx];
    for (int k = k0 + 1; k < k1; ++k) {
      const float* hk = h + static_cast<std::int64_t>(ytab_[k].src) * dst_w_;
      const float bk = ytab_[k].alpha;
      for (int dx = 0; dx < dst_w_; ++dx) sum[dx] += bk * hk[dx];
    }
    std::uint8_t* out = dst + static_cast<std::int64_t>(dy) * dst_w_;
    for (int dx = 0; dx < dst_w_; ++dx) {
      // saturate_cast<uchar>(float): cvRound (round half to even) then clamp to [0, 255]. The sums
      // lie in [0, 255.x], so adding and removing 2^23 rounds half to even in the default
      // rounding mode, inline (std::lrint is a libm call here, 10x the cost of the whole tap).
      const float rounded = (sum[dx] + 0x1p23f) - 0x1p23f;
      out[dx] = static_cast<std::uint8_t>(std::clamp(static_cast<int>(rounded), 0, 255));
    }
  }
}

// --- AtariPreprocessing ----------------------------------------------------------------------

AtariPreprocessing::AtariPreprocessing(std::unique_ptr<AtariScreen> game, const EnvOptions& options)
    : game_(std::move(game)),
      options_(options),
      actions_(options.full_action_space ? full_action_set() : game_->minimal_action_set()),
      frame_h_(options.preprocess ? kScreenSize : AtariScreen::kHeight),
      frame_w_(options.preprocess ? kScreenSize : AtariScreen::kWidth),
      frame_skip_(options.preprocess ? options.frame_skip : 1),
      noop_max_(options.preprocess ? options.noop_max : 0),
      stack_size_(options.preprocess ? options.frame_stack : 1),
      resize_(AtariScreen::kHeight, AtariScreen::kWidth, kScreenSize, kScreenSize) {
  DQN_CHECK(frame_skip_ >= 1, "AtariPreprocessing: frame_skip must be >= 1, got ", frame_skip_,
            " (Mnih et al. 2015 use 4)");
  DQN_CHECK(noop_max_ >= 0, "AtariPreprocessing: noop_max must be >= 0, got ", noop_max_,
            " (0 disables no-op starts; Mnih et al. 2015 use 30)");
  DQN_CHECK(stack_size_ >= 1 && stack_size_ <= 16,
            "AtariPreprocessing: frame_stack must be in [1, 16], got ", stack_size_,
            " (Mnih et al. 2015 use 4)");
  DQN_CHECK(options.max_episode_frames >= 1,
            "AtariPreprocessing: max_episode_frames must be >= 1, got ", options.max_episode_frames,
            " (108000 = 30 minutes at 60 Hz)");
  DQN_CHECK(!actions_.empty() && actions_[0] == kNoop,
            "AtariPreprocessing: the game's first action must be NOOP");
  // FIRE is pressed for the game only where the game itself needs it: its minimal set has it
  // (with the full set every game "has" FIRE, and Pong, say, must not be pressed).
  const std::vector<int> minimal = game_->minimal_action_set();
  has_fire_ = std::find(minimal.begin(), minimal.end(), static_cast<int>(kFire)) != minimal.end();
  for (auto& s : screens_) s.assign(AtariScreen::kHeight * AtariScreen::kWidth, 0);
  frame_.assign(static_cast<std::size_t>(frame_h_) * frame_w_, 0);
  stack_.assign(static_cast<std::size_t>(stack_size_) * frame_h_ * frame_w_, 0);
}

Shape AtariPreprocessing::observation_shape() const {
  if (!options_.preprocess) return Shape{AtariScreen::kHeight, AtariScreen::kWidth};
  return Shape{stack_size_, frame_h_, frame_w_};
}

std::vector<std::string> AtariPreprocessing::action_meanings() const {
  std::vector<std::string> names;
  for (int a : actions_) names.emplace_back(atari_action_name(a));
  return names;
}

void AtariPreprocessing::reset(std::uint64_t seed) {
  rng_ = Rng(seed, 2);
  game_->set_seed(seed);
  reset();
}

void AtariPreprocessing::reset() {
  // Of the reset's frames only the last one's screen is read (grab below), which the game
  // redraws if it skipped it.
  game_->set_screen_wanted(false);
  game_->reset_game();
  // Gymnasium: noops = np_random.integers(1, noop_max + 1), so at least one no-op.
  noops_last_reset_ = noop_max_ > 0 ? rng_.uniform_int(1, noop_max_ + 1) : 0;
  for (std::int64_t i = 0; i < noops_last_reset_; ++i) {
    game_->act(kNoop);
    if (game_->game_over()) game_->reset_game();
  }
  if (options_.fire_reset && has_fire_) {
    game_->act(kFire);
    if (game_->game_over()) game_->reset_game();
  }
  lives_ = game_->lives();
  grab(screens_[0].data());
  std::fill(screens_[1].begin(), screens_[1].end(), std::uint8_t{0});
  push_observation(/*fill_stack=*/true);
  done_ = false;
}

void AtariPreprocessing::push_observation(bool fill_stack) {
  // Max-pool the last two screens in place into the newest buffer (np.maximum(out=obs_buffer[0])).
  std::uint8_t* a = screens_[0].data();
  const std::uint8_t* b = screens_[1].data();
  if (frame_skip_ > 1) {
    for (std::size_t i = 0; i < screens_[0].size(); ++i) a[i] = std::max(a[i], b[i]);
  }
  const std::size_t frame_size = frame_.size();
  if (options_.preprocess) {
    resize_.apply(frame_.data(), a);
  } else {
    std::memcpy(frame_.data(), a, frame_size);
  }
  if (fill_stack) {
    for (std::int64_t k = 0; k < stack_size_; ++k)
      std::memcpy(stack_.data() + k * frame_size, frame_.data(), frame_size);
  } else {
    std::memmove(stack_.data(), stack_.data() + frame_size, (stack_size_ - 1) * frame_size);
    std::memcpy(stack_.data() + (stack_size_ - 1) * frame_size, frame_.data(), frame_size);
  }
}

// frame_skip emulated frames of one ALE action, summing the score; the last two frames' grey
// screens are kept for pooling. Stops emulating at game over or at the frame cap; the frames
// left are idle frames, as in ALE's act() (with sticky actions the emulator still draws for
// them: skipping those draws put the next episode on other numbers than ALE's).
int AtariPreprocessing::repeat(int ale_action, StepResult& r) {
  int score = 0;
  for (std::int64_t t = 0; t < frame_skip_; ++t) {
    // Only the last two frames are looked at (max-pool); the others need no pixels.
    game_->set_screen_wanted(t >= frame_skip_ - 2);
    score += game_->act(ale_action);
    r.terminated = game_->game_over();
    r.truncated = game_->episode_frame_number() >= options_.max_episode_frames;
    if (r.terminated || r.truncated) {
      for (++t; t < frame_skip_; ++t) game_->idle_frame(ale_action);
      break;
    }
    if (t == frame_skip_ - 2) {
      grab(screens_[1].data());
    } else if (t == frame_skip_ - 1) {
      grab(screens_[0].data());
    }
  }
  return score;
}

StepResult AtariPreprocessing::step(std::int64_t action) {
  DQN_CHECK(action >= 0 && action < num_actions(), name(), "::step: expected an action in [0, ",
            num_actions(), "), got ", action, ": the agent's action indexes the ",
            options_.full_action_space ? "full (18-action)" : "minimal", " action set");
  DQN_CHECK(!done_, name(), "::step: the episode has ended; call reset() before stepping again");
  StepResult r;
  int score = repeat(actions_[static_cast<std::size_t>(action)], r);
  const int lives = game_->lives();
  r.life_lost = lives < lives_;
  lives_ = lives;
  // After a lost life the game waits for FIRE, as after a reset: press it for one agent step
  // (its frames and score belong to this step), as FireResetEnv's reset does in CleanRL.
  if (r.life_lost && options_.fire_reset && has_fire_ && !r.terminated && !r.truncated) {
    score += repeat(kFire, r);
    lives_ = game_->lives();
  }
  r.raw_reward = static_cast<float>(score);
  r.reward = options_.clip_rewards ? static_cast<float>((score > 0) - (score < 0)) : r.raw_reward;
  push_observation(/*fill_stack=*/r.life_lost && options_.terminal_on_life_loss);
  done_ = r.terminated || r.truncated;
  return r;
}

void AtariPreprocessing::save_state(std::string& blob) const {
  std::string game;
  game_->save_state(game);
  BlobWriter w(blob, "atari_preprocessing/1");
  w.put(frame_skip_), w.put(noop_max_), w.put(stack_size_);
  w.put<std::uint8_t>(options_.preprocess);
  w.put_rng(rng_);
  w.put<std::int32_t>(lives_);
  w.put(noops_last_reset_);
  w.put<std::uint8_t>(done_);
  w.put_bytes(screens_[0].data(), screens_[0].size());
  w.put_bytes(screens_[1].data(), screens_[1].size());
  w.put_bytes(frame_.data(), frame_.size());
  w.put_bytes(stack_.data(), stack_.size());
  w.put_bytes(game.data(), game.size());
}

void AtariPreprocessing::load_state(std::string_view blob) {
  BlobReader r(blob, "atari_preprocessing/1");
  const auto skip = r.get<std::int64_t>(), noop = r.get<std::int64_t>(),
             stack = r.get<std::int64_t>();
  const auto preprocess = r.get<std::uint8_t>();
  DQN_CHECK(skip == frame_skip_ && noop == noop_max_ && stack == stack_size_ &&
                preprocess == options_.preprocess,
            name(), "::load_state: expected frame_skip ", frame_skip_, ", noop_max ", noop_max_,
            ", frame_stack ", stack_size_, ", the blob has ", skip, ", ", noop, ", ", stack,
            ": build the env with the options of the run that saved it");
  const Rng rng = r.get_rng();
  const auto lives = r.get<std::int32_t>();
  const auto noops = r.get<std::int64_t>();
  const auto done = r.get<std::uint8_t>();
  std::array<std::vector<std::uint8_t>, 2> screens = {screens_[0], screens_[1]};
  std::vector<std::uint8_t> frame(frame_.size()), stack_bytes(stack_.size());
  r.get_bytes(screens[0].data(), screens[0].size());
  r.get_bytes(screens[1].data(), screens[1].size());
  r.get_bytes(frame.data(), frame.size());
  r.get_bytes(stack_bytes.data(), stack_bytes.size());
  const std::string game = r.get_string();
  r.finish();
  DQN_CHECK(lives >= 0 && noops >= 0 && noops <= noop_max_ && done <= 1, name(),
            "::load_state: the blob holds impossible values (lives ", lives, ", ", noops,
            " no-ops of at most ", noop_max_, ", done flag ", int(done), "): it is corrupt");
  game_->load_state(game);  // throws before anything of this env changed
  rng_ = rng;
  lives_ = lives;
  noops_last_reset_ = noops;
  done_ = done != 0;
  screens_ = std::move(screens);
  frame_ = std::move(frame);
  stack_ = std::move(stack_bytes);
}

}  // namespace dqn
