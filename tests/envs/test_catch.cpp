// Tests for envs/catch.{hpp,cpp}: a catch scores +1 and a miss -1, a game is kBalls balls, the
// speeds let a perfect policy reach every ball, seeding, state blobs, FIRE-free resets, and the
// random and ball-tracking baselines.
#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "atari_test_policies.hpp"
#include "core/error.hpp"
#include "envs/atari_preprocessing.hpp"
#include "envs/atari_screen.hpp"
#include "envs/catch.hpp"
#include "envs/env.hpp"

using namespace dqn;

// A state with the ball `rows` pixels above the paddle's top row, at column ball_x.
static Catch::State ball_above_paddle(int ball_x, int paddle_x, int rows) {
  Catch::State s;
  s.paddle_x = paddle_x;
  s.ball_x = ball_x;
  s.ball_y = Catch::kPaddleY - Catch::kBallSize - rows;
  return s;
}

// Frames until the ball in the air lands or passes, returning that frame's reward.
static int play_out_ball(Catch& game, int action) {
  const int balls = game.lives();
  int reward = 0;
  for (int f = 0; f < 1000 && game.lives() == balls; ++f) reward += game.act(action);
  return reward;
}

TEST_CASE("catch a ball landing on the paddle scores +1 and the next one drops from the top") {
  Catch game;
  game.set_state_for_test(ball_above_paddle(70, 64, 1));
  CHECK(game.act(kNoop) == 1);  // one frame: 3 px of fall covers the last pixel
  CHECK(game.state().score == 1);
  CHECK(game.state().caught == 1);
  CHECK(game.lives() == Catch::kBalls - 1);
  CHECK(game.state().ball_y == Catch::kTopY);
  // Overlap by one column at either end still counts (ball 8 px, paddle 24 px).
  game.set_state_for_test(ball_above_paddle(64 - Catch::kBallSize + 1, 64, 1));
  CHECK(game.act(kNoop) == 1);
  game.set_state_for_test(ball_above_paddle(64 + Catch::kPaddleW - 1, 64, 1));
  CHECK(game.act(kNoop) == 1);
}

TEST_CASE("catch a ball that misses the paddle scores -1") {
  Catch game;
  game.set_state_for_test(ball_above_paddle(64 - Catch::kBallSize, 64, 1));  // just left of it
  CHECK(game.act(kNoop) == -1);
  game.set_state_for_test(ball_above_paddle(64 + Catch::kPaddleW, 64, 1));  // just right of it
  CHECK(game.act(kNoop) == -1);
  CHECK(game.state().score == -1);
  CHECK(game.state().caught == 0);
  CHECK(game.lives() == Catch::kBalls - 1);
}

TEST_CASE("catch the paddle moves 4 px a frame, stops at the screen edges, ignores FIRE") {
  Catch game;
  CHECK(game.minimal_action_set() == std::vector<int>{kNoop, kRight, kLeft});
  const int x = game.state().paddle_x;
  game.act(kRight);
  CHECK(game.state().paddle_x == x + Catch::kPaddleSpeed);
  game.act(kUpLeft);  // a direction outside the minimal set acts as its horizontal meaning
  CHECK(game.state().paddle_x == x);
  game.act(kFire);
  CHECK(game.state().paddle_x == x);
  for (int i = 0; i < 100; ++i) game.act(kLeft);
  CHECK(game.state().paddle_x == 0);
  game.reset_game();
  for (int i = 0; i < 100; ++i) game.act(kRight);
  CHECK(game.state().paddle_x == AtariScreen::kWidth - Catch::kPaddleW);
}

TEST_CASE("catch a perfect policy reaches every ball at 4 frames per step") {
  // The fall takes 52 frames (13 agent steps); the paddle crosses its range in 34 (9 steps).
  const int fall_frames =
      (Catch::kPaddleY - Catch::kBallSize - Catch::kTopY + Catch::kFallSpeed - 1) /
      Catch::kFallSpeed;
  const int cross_frames =
      (AtariScreen::kWidth - Catch::kPaddleW + Catch::kPaddleSpeed - 1) / Catch::kPaddleSpeed;
  CHECK(fall_frames == 52);
  CHECK(cross_frames == 34);
  // From the far corner: the paddle at the left edge, the ball dropping at the right edge.
  Catch game;
  Catch::State s = game.state();
  s.paddle_x = 0;
  s.ball_x = AtariScreen::kWidth - Catch::kBallSize;
  s.ball_y = Catch::kTopY;
  game.set_state_for_test(s);
  CHECK(play_out_ball(game, kRight) == 1);
}

TEST_CASE("catch the game ends after kBalls balls and resets to a full game") {
  Catch game;
  int total = 0, frames = 0;
  while (!game.game_over() && frames < 10000) total += game.act(kNoop), ++frames;
  CHECK(game.game_over());
  CHECK(game.lives() == 0);
  CHECK(frames == Catch::kBalls * 52);
  CHECK(total == game.state().score);
  CHECK(total == 2 * game.state().caught - Catch::kBalls);
  CHECK(game.act(kRight) == 0);  // the game-over screen ignores the joystick
  game.reset_game();
  CHECK_FALSE(game.game_over());
  CHECK(game.lives() == Catch::kBalls);
  CHECK(game.state().score == 0);
}

TEST_CASE("catch is deterministic for a seed and balls drop at varied columns") {
  auto columns = [](std::uint64_t seed) {
    AtariSettings settings;
    settings.random_seed = seed;
    Catch game(settings);
    std::vector<int> xs;
    while (!game.game_over()) {
      const int balls = game.lives();
      xs.push_back(game.state().ball_x);
      while (game.lives() == balls) game.act(kNoop);
    }
    return xs;
  };
  const std::vector<int> a = columns(5);
  CHECK(a.size() == static_cast<std::size_t>(Catch::kBalls));
  CHECK(a == columns(5));
  CHECK(a != columns(6));
  int distinct = 0;
  for (std::size_t i = 1; i < a.size(); ++i) distinct += a[i] != a[i - 1];
  CHECK(distinct >= 5);
}

TEST_CASE("catch save and load continue identically and a bad blob changes nothing") {
  Catch a;
  a.set_seed(9);
  Rng rng(2);
  for (int i = 0; i < 150; ++i) a.act(static_cast<int>(rng.uniform_int(0, 5)));
  std::string blob;
  a.save_state(blob);
  Catch b;
  b.load_state(blob);
  for (int i = 0; i < 400; ++i) {
    const int action = static_cast<int>(rng.uniform_int(0, 5));
    REQUIRE(a.act(action) == b.act(action));
    REQUIRE(a.state().ball_x == b.state().ball_x);
    REQUIRE(a.state().paddle_x == b.state().paddle_x);
  }
  CHECK(a.lives() == b.lives());
  const int lives = b.lives();
  CHECK_THROWS_AS(b.load_state(blob.substr(0, 30)), Error);
  std::string breakout_blob;
  make_atari_game("breakout")->save_state(breakout_blob);
  CHECK_THROWS_AS(b.load_state(breakout_blob), Error);
  CHECK(b.lives() == lives);
}

TEST_CASE("catch through make_env has 3 actions, no FIRE on reset, and 10-ball episodes") {
  EnvOptions options;
  options.noop_max = 0;
  std::unique_ptr<Env> env = make_env("catch", options);
  CHECK(options.fire_reset);  // on by default; Catch has no FIRE, so reset presses nothing
  auto* atari = dynamic_cast<AtariPreprocessing*>(env.get());
  REQUIRE(atari != nullptr);
  CHECK(env->num_actions() == 3);
  CHECK(atari->action_meanings() == std::vector<std::string>{"NOOP", "RIGHT", "LEFT"});
  env->reset(3);
  CHECK(atari->game().episode_frame_number() == 0);  // no FIRE frame, no no-ops
  double score = 0;
  int steps = 0;
  while (true) {
    const StepResult r = env->step(0);
    score += r.raw_reward;
    ++steps;
    if (r.terminated || r.truncated) {
      CHECK(r.terminated);
      break;
    }
  }
  CHECK(steps == Catch::kBalls * 13);  // 52 frames a ball, 4 frames a step
  CHECK(score >= -Catch::kBalls);
  CHECK(score <= Catch::kBalls);
}

// Ball tracking: bring the paddle's centre under the ball's.
static int catch_tracking_action(const test::Screen& s) {
  const double ball =
      test::mean_x(s, ntsc::kWhite236.index, Catch::kTopY, Catch::kPaddleY, 0, AtariScreen::kWidth);
  const double paddle = test::mean_x(s, ntsc::kGreen186.index, Catch::kPaddleY, Catch::kPaddleY + 1,
                                     0, AtariScreen::kWidth);
  if (ball < 0 || paddle < 0) return kNoop;
  if (ball < paddle - 2) return kLeft;
  if (ball > paddle + 2) return kRight;
  return kNoop;
}

TEST_CASE("catch ball tracking catches every ball and random play loses most") {
  // Random play: the paddle wanders, and a ball lands on it when their columns overlap, about a
  // fifth of the time, so it scores about 10 * (0.2 - 0.8) = -6 a game.
  Catch game;
  const auto random = test::play_games(game, 100, 1, false, catch_tracking_action);
  const auto tracking = test::play_games(game, 100, 1, true, catch_tracking_action);
  const double r = test::mean(random), t = test::mean(tracking);
  std::printf("catch, 100 games, seed 1, 4-frame decisions: random %.2f, ball tracking %.2f\n", r,
              t);
  CHECK(r < -3);
  CHECK(t == Catch::kBalls);
}
