// tests/envs/atari_test_policies.hpp: a random and a ball-tracking policy for the screen games,
// reading only the screen (palette indices), each choosing an action every 4 frames as a
// frame-skipping agent does. Used by the Breakout and Pong tests to report baseline scores.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "core/rng.hpp"
#include "envs/atari_screen.hpp"
#include "envs/breakout.hpp"
#include "envs/pong.hpp"

namespace dqn::test {

using Screen = std::array<std::uint8_t, AtariScreen::kHeight * AtariScreen::kWidth>;

// Mean column of the pixels of `colour` in rows [y0,y1) and columns [x0,x1); -1 if none.
inline double mean_x(const Screen& s, std::uint8_t colour, int y0, int y1, int x0, int x1) {
  double sum = 0;
  int n = 0;
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x)
      if (s[y * AtariScreen::kWidth + x] == colour) sum += x, ++n;
  return n ? sum / n : -1;
}
inline double mean_y(const Screen& s, std::uint8_t colour, int y0, int y1, int x0, int x1) {
  double sum = 0;
  int n = 0;
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x)
      if (s[y * AtariScreen::kWidth + x] == colour) sum += y, ++n;
  return n ? sum / n : -1;
}

// Breakout: serve when no ball is seen, else bring the paddle's centre under the ball.
inline int breakout_tracking_action(const Screen& s) {
  const std::uint8_t red = ntsc::kRed200.index;
  const double ball = mean_x(s, red, Breakout::kBrickTop + 6 * Breakout::kBrickH,
                             Breakout::kPaddleY, Breakout::kLeftX, Breakout::kRightX);
  if (ball < 0) return kFire;
  const double paddle = mean_x(s, red, Breakout::kPaddleY, Breakout::kPaddleY + 1, 0, 160);
  if (ball < paddle - 2) return kLeft;
  if (ball > paddle + 2) return kRight;
  return kNoop;
}

// Pong: bring the paddle's centre level with the ball (RIGHT is up).
inline int pong_tracking_action(const Screen& s) {
  const double ball = mean_y(s, ntsc::kWhite236.index, Pong::kTopY, Pong::kBottomY, 0, 160);
  if (ball < 0) return kNoop;
  const double paddle = mean_y(s, ntsc::kGreen186.index, Pong::kTopY, Pong::kBottomY, Pong::kAgentX,
                               Pong::kAgentX + 1);
  if (ball < paddle - 2) return kRight;
  if (ball > paddle + 2) return kLeft;
  return kNoop;
}

// Plays `games` games and returns each game's score. tracking=false: uniform random over the
// minimal action set.
template <class Policy>
std::vector<int> play_games(AtariScreen& game, int games, std::uint64_t seed, bool tracking,
                            Policy&& policy) {
  game.set_seed(seed);
  Rng rng(seed, 7);
  const std::vector<int> actions = game.minimal_action_set();
  Screen screen{};
  std::vector<int> scores;
  for (int g = 0; g < games; ++g) {
    if (g > 0) game.reset_game();
    int score = 0;
    while (!game.game_over()) {
      int action;
      if (tracking) {
        game.get_screen(screen.data());
        action = policy(screen);
      } else {
        action = actions[rng.uniform_int(0, static_cast<std::int64_t>(actions.size()))];
      }
      for (int f = 0; f < 4 && !game.game_over(); ++f) score += game.act(action);
    }
    scores.push_back(score);
  }
  return scores;
}

inline double mean(const std::vector<int>& v) {
  double s = 0;
  for (int x : v) s += x;
  return v.empty() ? 0 : s / v.size();
}

}  // namespace dqn::test
