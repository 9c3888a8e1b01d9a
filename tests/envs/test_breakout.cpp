// Tests for envs/breakout.{hpp,cpp} and the ScreenGame machinery of envs/atari_screen.cpp:
// the cartridge's rules, grey from the palette, seeding, sticky actions, state blobs, and the
// random and ball-tracking baselines.
#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "atari_test_policies.hpp"
#include "core/error.hpp"
#include "envs/atari_screen.hpp"
#include "envs/breakout.hpp"

using namespace dqn;

// A state with one brick at (row, column) and the ball right under it, moving straight up.
static Breakout::State one_brick_under(int row, int column) {
  Breakout::State s;
  s.bricks.fill(0);
  s.bricks[row * Breakout::kColumns + column] = 1;
  s.bricks[5 * Breakout::kColumns + 17] = 1;  // a far brick, so the wall is not cleared
  s.paddle_x = 70;
  s.ball_in_play = 1;
  s.ball_x = Breakout::kLeftX + column * Breakout::kBrickW + 3;
  s.ball_y = Breakout::kBrickTop + (row + 1) * Breakout::kBrickH + 1;  // one pixel below it
  s.vx = 0;
  s.vy = -2;
  if (row == 5 && column == 17) s.bricks[0] = 1;
  return s;
}

TEST_CASE("breakout a brick hit scores its row value and removes the brick") {
  // Rows from the bottom score 1, 1, 4, 4, 7, 7 (Atari's manual); the test places the ball under
  // one brick of each row in turn and lets it fly up one frame.
  const int expected_from_top[6] = {7, 7, 4, 4, 1, 1};
  for (int row = 0; row < 6; ++row) {
    Breakout game;
    game.set_state_for_test(one_brick_under(row, 4));
    const int reward = game.act(kNoop);
    CHECK(reward == expected_from_top[row]);
    CHECK(game.state().bricks[row * Breakout::kColumns + 4] == 0);
    CHECK(game.state().vy > 0);  // bounced back down
    CHECK(game.state().score == expected_from_top[row]);
  }
}

TEST_CASE("breakout FIRE serves the ball and nothing else does") {
  Breakout game;
  CHECK(game.minimal_action_set() == std::vector<int>{kNoop, kFire, kRight, kLeft});
  for (int i = 0; i < 100; ++i) game.act(i % 2 ? kRight : kLeft);
  CHECK_FALSE(game.state().ball_in_play);
  game.act(kFire);
  CHECK(game.state().ball_in_play);
  CHECK(game.state().ball_y == Breakout::kServeY);
}

TEST_CASE("breakout missing the ball costs a life and the last one ends the game") {
  Breakout game;
  Breakout::State s = game.state();
  s.ball_in_play = 1;
  s.paddle_x = Breakout::kLeftX;  // far left
  s.ball_x = 140, s.ball_y = 180, s.vx = 0, s.vy = 2;
  game.set_state_for_test(s);
  for (int i = 0; i < 20; ++i) game.act(kNoop);
  CHECK(game.lives() == 4);
  CHECK_FALSE(game.state().ball_in_play);
  CHECK_FALSE(game.game_over());

  s = game.state();
  s.lives = 1;
  s.ball_in_play = 1;
  s.ball_x = 140, s.ball_y = 180, s.vx = 0, s.vy = 2;
  game.set_state_for_test(s);
  for (int i = 0; i < 20; ++i) game.act(kNoop);
  CHECK(game.lives() == 0);
  CHECK(game.game_over());
  CHECK(game.act(kFire) == 0);  // the game-over screen ignores buttons
  CHECK_FALSE(game.state().ball_in_play);
  game.reset_game();
  CHECK(game.lives() == 5);
  CHECK_FALSE(game.game_over());
}

TEST_CASE("breakout the paddle returns the ball and shrinks after the top wall") {
  Breakout game;
  Breakout::State s = game.state();
  s.ball_in_play = 1;
  s.paddle_x = 70;
  s.ball_x = 77, s.ball_y = Breakout::kPaddleY - Breakout::kBallH - 1, s.vx = 0, s.vy = 2;
  game.set_state_for_test(s);
  game.act(kNoop);
  CHECK(game.state().vy < 0);
  CHECK(game.state().paddle_hits == 1);

  s = game.state();
  s.bricks.fill(0);
  s.bricks[0] = 1;
  s.ball_x = 100, s.ball_y = Breakout::kWallBottom + 1, s.vx = 0, s.vy = -2;
  game.set_state_for_test(s);
  CHECK(game.state().paddle_w == Breakout::kPaddleW);
  game.act(kNoop);
  CHECK(game.state().vy > 0);
  CHECK(game.state().paddle_w == Breakout::kPaddleW / 2);
}

TEST_CASE("breakout the ball speeds up after 4 paddle hits") {
  Breakout game;
  Breakout::State s = game.state();
  CHECK(game.speed() == 2);
  s.paddle_hits = 4;
  game.set_state_for_test(s);
  CHECK(game.speed() == 3);
  s.paddle_hits = 12;
  s.hit_orange = s.hit_red = 1;
  game.set_state_for_test(s);
  CHECK(game.speed() == 6);
}

TEST_CASE("breakout grey screen is the ALE luminance of each NTSC palette entry") {
  // ALE ColourPalette: round(0.2989 r + 0.5870 g + 0.1140 b). Worked by hand:
  //   red (200,72,72):   59.780 + 42.264 + 8.208  = 110.252 -> 110
  //   grey (142,142,142): 42.4438 + 83.354 + 16.188 = 141.9858 -> 142
  CHECK(ntsc_grey(200, 72, 72) == 110);
  CHECK(ntsc_grey(142, 142, 142) == 142);
  Breakout game;
  std::vector<std::uint8_t> grey(210 * 160), rgb(210 * 160 * 3), idx(210 * 160);
  game.get_screen_grayscale(grey.data());
  game.get_screen_rgb(rgb.data());
  game.get_screen(idx.data());
  const int paddle_px = Breakout::kPaddleY * 160 + game.state().paddle_x + 1;
  CHECK(idx[paddle_px] == ntsc::kRed200.index);
  CHECK(grey[paddle_px] == 110);
  CHECK(rgb[paddle_px * 3] == 200);
  const int wall_px = 20 * 160 + 2;
  CHECK(grey[wall_px] == 142);
  const int brick_px = (Breakout::kBrickTop + 5 * Breakout::kBrickH + 1) * 160 + 20;  // blue row
  CHECK(idx[brick_px] == ntsc::kBlue200.index);
  CHECK(grey[0 + 200 * 160 + 80] == 0);  // black background below the paddle
}

TEST_CASE("breakout is deterministic for a seed and sticky actions repeat the last action") {
  auto run = [](std::uint64_t seed, double sticky) {
    AtariSettings settings;
    settings.random_seed = seed;
    settings.repeat_action_probability = sticky;
    Breakout game(settings);
    Rng rng(1);
    std::vector<int> trace;
    for (int i = 0; i < 3000 && !game.game_over(); ++i) {
      game.act(static_cast<int>(rng.uniform_int(0, 5)));
      trace.push_back(game.state().ball_x * 1000 + game.state().paddle_x);
    }
    return trace;
  };
  CHECK(run(3, 0.0) == run(3, 0.0));
  CHECK(run(3, 0.0) != run(4, 0.0));
  CHECK(run(3, 0.25) == run(3, 0.25));
  CHECK(run(3, 0.25) != run(3, 0.0));

  AtariSettings always;
  always.repeat_action_probability = 1.0;  // the first action (NOOP) is never replaced
  Breakout stuck(always);
  const int x = stuck.state().paddle_x;
  for (int i = 0; i < 10; ++i) stuck.act(kRight);
  CHECK(stuck.state().paddle_x == x);
  AtariSettings bad;
  bad.repeat_action_probability = 1.5;
  CHECK_THROWS_AS(Breakout{bad}, Error);
  CHECK_THROWS_AS(stuck.act(18), Error);
}

TEST_CASE("breakout save and load continue identically and a bad blob changes nothing") {
  Breakout a;
  a.set_seed(9);
  Rng rng(2);
  for (int i = 0; i < 500; ++i) a.act(static_cast<int>(rng.uniform_int(0, 4)));
  std::string blob;
  a.save_state(blob);
  Breakout b;
  b.load_state(blob);
  for (int i = 0; i < 2000; ++i) {
    const int action = static_cast<int>(rng.uniform_int(0, 4));
    REQUIRE(a.act(action) == b.act(action));
    REQUIRE(a.state().ball_x == b.state().ball_x);
  }
  CHECK(a.lives() == b.lives());
  const int lives = b.lives();
  CHECK_THROWS_AS(b.load_state(blob.substr(0, 30)), Error);
  std::string pong_blob;
  make_atari_game("pong")->save_state(pong_blob);
  CHECK_THROWS_AS(b.load_state(pong_blob), Error);
  CHECK(b.lives() == lives);
  CHECK_THROWS_AS(make_atari_game("tetris"), Error);
}

TEST_CASE("breakout ball tracking scores clearly above random play") {
  Breakout game;
  const auto random = test::play_games(game, 100, 1, false, test::breakout_tracking_action);
  const auto tracking = test::play_games(game, 100, 1, true, test::breakout_tracking_action);
  const double r = test::mean(random), t = test::mean(tracking);
  std::printf("breakout, 100 games, seed 1, 4-frame decisions: random %.2f, ball tracking %.2f\n",
              r, t);
  CHECK(r < 10);
  CHECK(t > 3 * r + 10);
}
