// Tests for envs/pong.{hpp,cpp}: point scoring, the end at 21, the controls, determinism, state
// blobs, and the random and ball-tracking baselines.
#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "atari_test_policies.hpp"
#include "core/error.hpp"
#include "envs/pong.hpp"

using namespace dqn;

// The ball in play at column x, row 100, moving horizontally at vx, both paddles out of its way.
static Pong::State ball_flying(int x, int vx) {
  Pong::State s;
  s.agent_y = Pong::kTopY;
  s.opponent_y = Pong::kTopY;
  s.ball_in_play = 1;
  s.ball_x = x, s.ball_y = 150, s.vx = vx, s.vy = 0;
  return s;
}

TEST_CASE("pong a ball past the opponent scores plus one and past the agent minus one") {
  Pong game;
  game.set_state_for_test(ball_flying(4, -2));
  int reward = 0;
  for (int i = 0; i < 10 && reward == 0; ++i) reward = game.act(kNoop);
  CHECK(reward == 1);
  CHECK(game.state().agent_score == 1);
  CHECK_FALSE(game.state().ball_in_play);

  game.set_state_for_test(ball_flying(150, 2));
  reward = 0;
  for (int i = 0; i < 10 && reward == 0; ++i) reward = game.act(kNoop);
  CHECK(reward == -1);
  CHECK(game.state().opponent_score == 1);
  CHECK(game.lives() == 0);  // Pong has no lives, as the ALE reports
}

TEST_CASE("pong the game ends when either side reaches 21") {
  for (int side = 0; side < 2; ++side) {
    Pong game;
    Pong::State s = ball_flying(side == 0 ? 4 : 150, side == 0 ? -2 : 2);
    (side == 0 ? s.agent_score : s.opponent_score) = 20;
    game.set_state_for_test(s);
    for (int i = 0; i < 10; ++i) game.act(kNoop);
    CHECK(game.game_over());
    CHECK((side == 0 ? game.state().agent_score : game.state().opponent_score) == 21);
    CHECK(game.act(kRight) == 0);
  }
}

TEST_CASE(
    "pong RIGHT moves the agent up and LEFT down as in the ALE and the paddle returns the ball") {
  Pong game;
  CHECK(game.minimal_action_set() ==
        std::vector<int>{kNoop, kFire, kRight, kLeft, kRightFire, kLeftFire});
  const int y = game.state().agent_y;
  game.act(kRight);
  CHECK(game.state().agent_y == y - Pong::kAgentSpeed);
  game.act(kLeftFire);
  game.act(kLeftFire);
  CHECK(game.state().agent_y == y + Pong::kAgentSpeed);

  Pong::State s = ball_flying(Pong::kAgentX - Pong::kBallW - 1, 2);
  s.agent_y = 150 - 6;  // the ball lands mid-paddle
  game.set_state_for_test(s);
  game.act(kNoop);
  CHECK(game.state().vx < 0);
  CHECK(game.state().rally_hits == 1);
}

TEST_CASE("pong serves by itself and is deterministic for a seed") {
  auto run = [](std::uint64_t seed) {
    AtariSettings settings;
    settings.random_seed = seed;
    Pong game(settings);
    std::vector<int> rewards;
    for (int i = 0; i < 5000; ++i) rewards.push_back(game.act(i % 7 < 3 ? kRight : kLeft));
    return rewards;
  };
  CHECK(run(1) == run(1));
  Pong game;
  for (int i = 0; i < Pong::kServeDelay; ++i) game.act(kNoop);
  CHECK(game.state().ball_in_play);
}

TEST_CASE("pong save and load continue identically") {
  Pong a;
  a.set_seed(4);
  for (int i = 0; i < 700; ++i) a.act(i % 3 == 0 ? kRight : kNoop);
  std::string blob;
  a.save_state(blob);
  Pong b;
  b.load_state(blob);
  for (int i = 0; i < 3000; ++i) {
    const int action = i % 5 == 0 ? kLeft : kRight;
    REQUIRE(a.act(action) == b.act(action));
  }
  CHECK(a.state().agent_score == b.state().agent_score);
  CHECK_THROWS_AS(b.load_state(std::string("garbage")), Error);
}

TEST_CASE("pong ball tracking scores clearly above random play") {
  Pong game;
  const auto random = test::play_games(game, 100, 1, false, test::pong_tracking_action);
  const auto tracking = test::play_games(game, 100, 1, true, test::pong_tracking_action);
  const double r = test::mean(random), t = test::mean(tracking);
  std::printf("pong, 100 games, seed 1, 4-frame decisions: random %.2f, ball tracking %.2f\n", r,
              t);
  CHECK(r < -15);
  CHECK(t > r + 20);
}
