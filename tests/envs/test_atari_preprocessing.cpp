// Tests for envs/atari_preprocessing.{hpp,cpp}: INTER_AREA against OpenCV and by hand, max
// pooling, no-op and FIRE resets, life loss, reward clipping, frame skip, truncation, the frame
// stack across resets, and state blobs. A scripted test game makes each rule observable.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "envs/atari_preprocessing.hpp"
#include "envs/env.hpp"

using namespace dqn;

namespace {

// A game whose every frame is scripted: even episode frames paint the left half white (grey
// 236), odd frames the right half red (grey 110); rewards and life losses at given frames.
class ScriptedGame final : public ScreenGame {
 public:
  struct Event {
    std::int64_t frame;  // episode frame number (1 = the first act after reset)
    int reward;
    bool lose_life;
  };
  explicit ScriptedGame(std::vector<Event> events, int lives = 3)
      : ScreenGame(AtariSettings{}), events_(std::move(events)), start_lives_(lives) {
    reset_game();
  }
  std::string game_name() const override { return "scripted"; }
  std::vector<int> minimal_action_set() const override { return {kNoop, kFire, kRight, kLeft}; }
  bool game_over() const override { return lives_ == 0; }
  int lives() const override { return lives_; }
  std::vector<int> actions_seen;

 protected:
  void new_game() override {
    lives_ = start_lives_;
    actions_seen.clear();
  }
  int emulate_frame(int action) override {
    actions_seen.push_back(action);
    int reward = 0;
    for (const Event& e : events_) {
      if (e.frame != episode_frame_number()) continue;
      reward += e.reward;
      if (e.lose_life && lives_ > 0) --lives_;
    }
    return reward;
  }
  void draw(std::uint8_t* frame, const std::uint8_t* colour) const override {
    std::memset(frame, colour[ntsc::kBlack.index], kHeight * kWidth);
    const bool even = episode_frame_number() % 2 == 0;
    fill_rect(frame, even ? 0 : 80, 0, even ? 80 : 160, kHeight,
              colour[even ? ntsc::kWhite236.index : ntsc::kRed200.index]);
  }
  std::string game_state() const override { return std::string(1, static_cast<char>(lives_)); }
  bool set_game_state(std::string_view b) override {
    if (b.size() != 1) return false;
    lives_ = b[0];
    return true;
  }

 private:
  std::vector<Event> events_;
  int start_lives_;
  int lives_ = 0;
};

EnvOptions no_noops() {
  EnvOptions o;
  o.noop_max = 0;
  return o;
}

std::vector<std::uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(),
                  "missing fixture " << path << ": run tests/fixtures/make_area_resize_fixture.py");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("area resize tables follow OpenCV for 5 to 2 worked by hand") {
  // scale = 1 / (2/5) = 2.5: output 0 covers source [0, 2.5): pixels 0 and 1 whole, half of 2;
  // output 1 covers [2.5, 5): half of 2, pixels 3 and 4. Weights are the covered fraction of the
  // 2.5-pixel cell: 1/2.5 = 0.4 and 0.5/2.5 = 0.2.
  const auto taps = AreaResize::taps(5, 2);
  REQUIRE(taps.size() == 6);
  const int src[6] = {0, 1, 2, 2, 3, 4}, dst[6] = {0, 0, 0, 1, 1, 1};
  const float alpha[6] = {0.4f, 0.4f, 0.2f, 0.2f, 0.4f, 0.4f};
  for (int i = 0; i < 6; ++i) {
    CHECK(taps[i].src == src[i]);
    CHECK(taps[i].dst == dst[i]);
    CHECK(taps[i].alpha == doctest::Approx(alpha[i]).epsilon(1e-7));
  }
  // A 5x5 image v(y,x) = 10x + 50y shrinks to 2x2: the weighted mean of x over output column 0
  // is 0.4*0 + 0.4*1 + 0.2*2 = 0.8 and over column 1 it is 0.2*2 + 0.4*3 + 0.4*4 = 3.2, the same
  // for y, so the outputs are 10*0.8 + 50*0.8 = 48, 10*3.2 + 40 = 72, 8 + 160 = 168, 32 + 160 =
  // 192.
  std::uint8_t image[25], out[4];
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 5; ++x) image[y * 5 + x] = static_cast<std::uint8_t>(10 * x + 50 * y);
  AreaResize(5, 5, 2, 2).apply(out, image);
  CHECK(out[0] == 48);
  CHECK(out[1] == 72);
  CHECK(out[2] == 168);
  CHECK(out[3] == 192);
}

TEST_CASE("area resize 210x160 to 84x84 matches OpenCV INTER_AREA on the committed fixture") {
  // Fixture from cv2.resize(frame, (84, 84), interpolation=cv2.INTER_AREA), OpenCV 4.6 (see
  // tests/fixtures/make_area_resize_fixture.py). We follow OpenCV's float weights and summation
  // order, so we expect the same bytes; 1 grey level is tolerated in case an OpenCV build
  // vectorises or fuses the float sums differently and a sum lands on the other side of .5.
  const auto bytes =
      read_file(std::string(DQN_SOURCE_DIR) + "/tests/fixtures/area_resize_210x160_to_84x84.u8");
  constexpr int kFrames = 3, kIn = 210 * 160, kOut = 84 * 84;
  REQUIRE(bytes.size() == kFrames * (kIn + kOut));
  AreaResize resize(210, 160, 84, 84);
  std::vector<std::uint8_t> out(kOut);
  int exact = 0, off_by_one = 0, worse = 0;
  for (int f = 0; f < kFrames; ++f) {
    resize.apply(out.data(), bytes.data() + f * kIn);
    const std::uint8_t* expected = bytes.data() + kFrames * kIn + f * kOut;
    for (int i = 0; i < kOut; ++i) {
      const int d = std::abs(int(out[i]) - int(expected[i]));
      (d == 0 ? exact : d == 1 ? off_by_one : worse) += 1;
    }
  }
  std::printf("INTER_AREA vs OpenCV: %d exact, %d off by one, %d worse\n", exact, off_by_one,
              worse);
  CHECK(worse == 0);
  // Row sums are reused for rows equal to the last call's: a frame mixing rows of frames 0 and
  // 1, resized after frame 0, must give what a fresh resizer gives.
  std::vector<std::uint8_t> mixed(bytes.begin(), bytes.begin() + kIn), fresh(kOut), reused(kOut);
  for (int y = 0; y < 210; y += 3)
    std::memcpy(mixed.data() + y * 160, bytes.data() + kIn + y * 160, 160);
  AreaResize(210, 160, 84, 84).apply(fresh.data(), mixed.data());
  resize.apply(out.data(), bytes.data());
  resize.apply(reused.data(), mixed.data());
  CHECK(reused == fresh);
  resize.apply(reused.data(), bytes.data());
  CHECK(std::memcmp(reused.data(), bytes.data() + kFrames * kIn, kOut) == 0);
  CHECK(off_by_one <= kFrames * kOut / 1000);
}

TEST_CASE("preprocessing max-pools the last two frames of a skip") {
  // Frames 3 and 4 of the first step paint different halves; each alone leaves the other half
  // black, their max shows both: white 236 on the left, red's grey 110 on the right.
  auto game = std::make_unique<ScriptedGame>(std::vector<ScriptedGame::Event>{});
  EnvOptions o = no_noops();
  o.fire_reset = false;
  AtariPreprocessing env(std::move(game), o);
  env.reset(1);
  env.step(0);
  const std::uint8_t* newest = env.observation_u8() + 3 * 84 * 84;
  CHECK(newest[10 * 84 + 10] == 236);
  CHECK(newest[10 * 84 + 70] == 110);
  // The reset observation is one frame (frame 0, even: left half), pooled with zeros.
  const std::uint8_t* oldest = env.observation_u8();
  CHECK(oldest[10 * 84 + 10] == 236);
  CHECK(oldest[10 * 84 + 70] == 0);
}

TEST_CASE("preprocessing reset takes 1 to 30 no-ops then FIRE") {
  auto owned = std::make_unique<ScriptedGame>(std::vector<ScriptedGame::Event>{});
  ScriptedGame* game = owned.get();
  AtariPreprocessing env(std::move(owned), EnvOptions{});
  env.reset(3);
  std::int64_t lo = 100, hi = 0;
  for (int i = 0; i < 300; ++i) {
    env.reset();
    const std::int64_t n = env.noops_last_reset();
    lo = std::min(lo, n), hi = std::max(hi, n);
    REQUIRE(game->actions_seen.size() == static_cast<std::size_t>(n + 1));
    for (std::int64_t k = 0; k < n; ++k) REQUIRE(game->actions_seen[k] == kNoop);
    REQUIRE(game->actions_seen.back() == kFire);
    REQUIRE(game->episode_frame_number() == n + 1);
  }
  CHECK(lo == 1);
  CHECK(hi == 30);
  EnvOptions o;
  o.fire_reset = false;
  o.noop_max = 0;
  auto plain = std::make_unique<ScriptedGame>(std::vector<ScriptedGame::Event>{});
  ScriptedGame* p = plain.get();
  AtariPreprocessing env2(std::move(plain), o);
  env2.reset(1);
  CHECK(p->actions_seen.empty());
}

TEST_CASE("preprocessing signals a lost life, goes on, and terminates at game over") {
  // Lives 2; a life is lost on frame 6 (step 2 with skip 4) and on frame 13 (step 4).
  auto game = std::make_unique<ScriptedGame>(
      std::vector<ScriptedGame::Event>{{6, 0, true}, {13, 0, true}}, 2);
  EnvOptions o = no_noops();
  o.fire_reset = false;
  AtariPreprocessing env(std::move(game), o);
  env.reset(1);
  CHECK_FALSE(env.step(0).life_lost);
  StepResult r = env.step(0);
  CHECK(r.life_lost);
  CHECK_FALSE(r.terminated);
  CHECK_FALSE(env.step(0).life_lost);
  r = env.step(0);
  CHECK(r.life_lost);
  CHECK(r.terminated);
  CHECK(env.game().episode_frame_number() == 13);  // the skip stopped at game over
  CHECK_THROWS_AS(env.step(0), Error);
}

TEST_CASE("preprocessing sums rewards over the skip and clips them to their sign") {
  auto game = std::make_unique<ScriptedGame>(
      std::vector<ScriptedGame::Event>{{1, 4, false}, {3, 3, false}, {6, -2, false}});
  EnvOptions o = no_noops();
  o.fire_reset = false;
  AtariPreprocessing env(std::move(game), o);
  env.reset(1);
  StepResult r = env.step(0);
  CHECK(r.raw_reward == 7.0f);
  CHECK(r.reward == 1.0f);
  r = env.step(0);
  CHECK(r.raw_reward == -2.0f);
  CHECK(r.reward == -1.0f);
  r = env.step(0);
  CHECK(r.raw_reward == 0.0f);
  CHECK(r.reward == 0.0f);
  EnvOptions unclipped = o;
  unclipped.clip_rewards = false;
  AtariPreprocessing env2(
      std::make_unique<ScriptedGame>(std::vector<ScriptedGame::Event>{{2, 4, false}}), unclipped);
  env2.reset(1);
  CHECK(env2.step(0).reward == 4.0f);
}

TEST_CASE("preprocessing truncates at max_episode_frames without terminating") {
  EnvOptions o = no_noops();
  o.fire_reset = false;
  o.max_episode_frames = 10;
  AtariPreprocessing env(std::make_unique<ScriptedGame>(std::vector<ScriptedGame::Event>{}), o);
  env.reset(1);
  CHECK_FALSE(env.step(0).truncated);  // frame 4
  CHECK_FALSE(env.step(0).truncated);  // frame 8
  const StepResult r = env.step(0);    // frames 9, 10: stops at 10
  CHECK(r.truncated);
  CHECK_FALSE(r.terminated);
  CHECK(env.game().episode_frame_number() == 10);
  CHECK(EnvOptions{}.max_episode_frames == 108000);
}

TEST_CASE("preprocessing fills the stack with the first frame so no episode leaks into the next") {
  auto env = make_env("breakout");
  REQUIRE(env->observation_shape() == Shape{4, 84, 84});
  REQUIRE(env->observation_is_u8());
  CHECK(env->num_actions() == 4);
  CHECK_THROWS_AS(env->observation_f32(), Error);
  env->reset(5);
  for (int i = 0; i < 200; ++i) {
    const StepResult r = env->step(i % 4);
    if (r.terminated || r.truncated) break;
  }
  env->reset();
  const std::uint8_t* obs = env->observation_u8();
  for (int k = 1; k < 4; ++k) CHECK(std::memcmp(obs, obs + k * 84 * 84, 84 * 84) == 0);
  std::vector<std::uint8_t> first(obs + 3 * 84 * 84, obs + 4 * 84 * 84);
  env->step(3);
  obs = env->observation_u8();
  CHECK(std::memcmp(obs + 2 * 84 * 84, first.data(), 84 * 84) == 0);  // shifted one older
  CHECK_THROWS_AS(env->step(4), Error);
  auto* pre = dynamic_cast<AtariPreprocessing*>(env.get());
  REQUIRE(pre != nullptr);
  CHECK(pre->action_meanings() == std::vector<std::string>{"NOOP", "FIRE", "RIGHT", "LEFT"});
}

TEST_CASE("preprocessing save and load continue bit-exactly") {
  for (const char* name : {"breakout", "pong"}) {
    auto a = make_env(name), b = make_env(name);
    a->reset(11);
    for (int i = 0; i < 100; ++i) {
      const StepResult r = a->step(i % a->num_actions());
      if (r.terminated || r.truncated) a->reset();
    }
    std::string blob;
    a->save_state(blob);
    b->load_state(blob);
    std::string again;
    b->save_state(again);
    CHECK(again == blob);  // the blob is a function of the state: no stray bytes
    for (int i = 0; i < 300; ++i) {
      const std::int64_t action = (i * 7) % a->num_actions();
      const StepResult ra = a->step(action), rb = b->step(action);
      REQUIRE(ra.raw_reward == rb.raw_reward);
      REQUIRE(std::memcmp(a->observation_u8(), b->observation_u8(), 4 * 84 * 84) == 0);
      if (ra.terminated || ra.truncated) a->reset(), b->reset();
    }
    CHECK_THROWS_AS(b->load_state(blob.substr(0, blob.size() / 2)), Error);
    CHECK_THROWS_AS(make_env("cartpole")->load_state(blob), Error);
  }
}

TEST_CASE("preprocess false gives the raw grey screen one frame per step") {
  EnvOptions o;
  o.preprocess = false;
  auto env = make_env("pong", o);
  CHECK(env->observation_shape() == Shape{210, 160});
  env->reset(2);
  env->step(0);
  auto* pre = dynamic_cast<AtariPreprocessing*>(env.get());
  CHECK(pre->game().episode_frame_number() == 2);  // FIRE on reset, then one frame
  std::vector<std::uint8_t> grey(210 * 160);
  pre->game().get_screen_grayscale(grey.data());
  CHECK(std::memcmp(grey.data(), env->observation_u8(), grey.size()) == 0);
}

TEST_CASE("after a lost life FIRE is held for one agent step, where the game has FIRE") {
  // A life is lost on frame 6: the reset's FIRE is frame 1, step 1 is frames 2-5, step 2 plays
  // NOOP on frames 6-9 and then FIRE on frames 10-13 (CleanRL's FireResetEnv after
  // EpisodicLifeEnv); its reward is this step's.
  auto owned = std::make_unique<ScriptedGame>(
      std::vector<ScriptedGame::Event>{{6, 0, true}, {11, 5, false}});
  ScriptedGame* game = owned.get();
  AtariPreprocessing env(std::move(owned), no_noops());
  env.reset(1);
  env.step(0);
  const StepResult r = env.step(0);
  CHECK(r.life_lost);
  CHECK(r.raw_reward == 5);
  std::vector<int> expected{kFire};
  for (int i = 0; i < 8; ++i) expected.push_back(kNoop);
  for (int i = 0; i < 4; ++i) expected.push_back(kFire);
  CHECK(game->actions_seen == expected);
  CHECK_FALSE(env.step(0).life_lost);  // the lives count was taken after the FIRE frames

  EnvOptions off = no_noops();
  off.fire_reset = false;
  auto owned2 = std::make_unique<ScriptedGame>(std::vector<ScriptedGame::Event>{{6, 0, true}});
  ScriptedGame* game2 = owned2.get();
  AtariPreprocessing env2(std::move(owned2), off);
  env2.reset(1);
  env2.step(0);
  CHECK(env2.step(0).life_lost);
  CHECK(game2->actions_seen == std::vector<int>(8, kNoop));
}

TEST_CASE("a NOOP-only Breakout policy ends its game with fire_reset and stalls without it") {
  // What made a greedy Breakout evaluation run to the frame cap: the ball is served only on
  // FIRE. With FIRE after each lost life, five misses end the game.
  EnvOptions o;
  o.max_episode_frames = 40000;
  auto env = make_env("breakout", o);
  env->reset(5);
  StepResult r;
  do r = env->step(0);
  while (!r.terminated && !r.truncated);
  CHECK(r.terminated);
  o.fire_reset = false;
  o.max_episode_frames = 4000;
  auto stalled = make_env("breakout", o);
  stalled->reset(5);
  do r = stalled->step(0);
  while (!r.terminated && !r.truncated);
  CHECK(r.truncated);
  CHECK_FALSE(r.terminated);
}

TEST_CASE("terminal_on_life_loss restarts the frame stack after a lost life") {
  for (const bool fresh : {true, false}) {
    CAPTURE(fresh);
    EnvOptions o;
    o.terminal_on_life_loss = fresh;
    auto env = make_env("breakout", o);
    env->reset(9);
    StepResult r;
    do r = env->step(0);
    while (!r.life_lost);
    const std::uint8_t* stack = env->observation_u8();
    bool all_equal = true;
    for (int k = 1; k < 4; ++k)
      all_equal = all_equal && std::memcmp(stack, stack + k * 84 * 84, 84 * 84) == 0;
    CHECK(all_equal == fresh);  // without it the stack still shows the lost life's last frames
  }
}

TEST_CASE("full_action_space gives all 18 ALE actions in ALE's order") {
  EnvOptions o;
  o.full_action_space = true;
  auto env = make_env("breakout", o);
  CHECK(env->num_actions() == 18);
  auto* pre = dynamic_cast<AtariPreprocessing*>(env.get());
  REQUIRE(pre != nullptr);
  const std::vector<std::string> names = pre->action_meanings();
  CHECK(names.front() == "NOOP");
  CHECK(names[1] == "FIRE");
  CHECK(names[3] == "RIGHT");
  CHECK(names.back() == "DOWNLEFTFIRE");
  env->reset(1);
  for (int a = 0; a < 18; ++a) CHECK_NOTHROW(env->step(a));
  CHECK_THROWS_AS(env->step(18), Error);
  CHECK(make_env("pong")->num_actions() == 6);  // minimal set by default
}
