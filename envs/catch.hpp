// envs/catch.hpp: Catch, a tiny pixel game in the ALE-screen interface, small enough that the
// Nature CNN learns it in a CI test (issue 9: "a small pixel task that learns in CI").
//
// Rules: a ball falls straight down from the top at a random column (the game's Rng) at a fixed
// speed; the paddle at the bottom moves left or right. A ball that lands on the paddle scores
// +1, one that passes it -1, and the next ball drops at once from the top. A game is kBalls
// balls; it is over once the last one has landed or passed. lives() reports the balls still to
// come, counting the one in the air. Minimal actions (ALE order): NOOP, RIGHT, LEFT; no FIRE, so
// AtariPreprocessing's fire_reset does nothing here.
//
// Speeds are chosen for a frame-skipping agent (4 frames per step): a ball falls 154 px at
// 3 px/frame, 52 frames = 13 agent steps, while the paddle crosses its whole range (136 px) at
// 4 px/frame in 34 frames = 9 steps, so a perfect policy catches every ball, and a random walk
// catches few (the paddle's 24 px plus the ball's 8 px cover about a fifth of the columns).
//
// Screen (rows y, columns x): caught balls and balls left in grey on rows 5..14, a grey line
// y [20,22) under them, the white ball 8x8 px falling from y 24, the green paddle 24x8 px at
// y [186,194), black elsewhere. Objects are this large so that they survive the resize to
// 84x84 (the ball stays 4x3 px there).
#pragma once

#include <cstdint>
#include <type_traits>

#include "envs/atari_screen.hpp"

namespace dqn {

class Catch final : public ScreenGame {
 public:
  static constexpr int kBalls = 10;
  static constexpr int kTopY = 24;  // the ball's top row when it drops
  static constexpr int kBallSize = 8, kFallSpeed = 3;
  static constexpr int kPaddleY = 186, kPaddleH = 8, kPaddleW = 24, kPaddleSpeed = 4;

  // Everything that changes during a game (trivially copyable: saved as bytes).
  struct State {
    std::int32_t paddle_x = 0, ball_x = 0, ball_y = kTopY;
    std::int32_t score = 0, caught = 0, balls_left = kBalls;
    std::uint8_t over = 0;
    std::uint8_t padding[3] = {};  // named, so the saved bytes hold no indeterminate padding
  };
  static_assert(std::has_unique_object_representations_v<State>, "State must have no padding");

  explicit Catch(const AtariSettings& settings = {});

  std::string game_name() const override { return "catch"; }
  std::vector<int> minimal_action_set() const override { return {kNoop, kRight, kLeft}; }
  bool game_over() const override { return state_.over != 0; }
  int lives() const override { return state_.balls_left; }

  // For tests and scripted policies: read and place the game's pieces.
  const State& state() const { return state_; }
  void set_state_for_test(const State& s) {
    state_ = s;
    mark_dirty();
  }

 protected:
  void new_game() override;
  int emulate_frame(int action) override;
  void draw(std::uint8_t* frame, const std::uint8_t* colour) const override;
  std::string game_state() const override;
  bool set_game_state(std::string_view bytes) override;

 private:
  void drop_ball();  // a new ball at the top, at a random column
  State state_;
};

}  // namespace dqn
