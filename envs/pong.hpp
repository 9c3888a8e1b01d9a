// envs/pong.hpp: Pong, written from scratch with the look and rules of the Atari 2600 Video
// Olympics Pong as the ALE plays it.
//
// The agent is the green paddle on the right, the scripted opponent the orange one on the left.
// A ball past the opponent scores +1, a ball past the agent -1; the first side to 21 ends the
// game. Minimal actions (ALE order): NOOP, FIRE, RIGHT, LEFT, RIGHTFIRE, LEFTFIRE; RIGHT moves the
// paddle up and LEFT down, as in the ALE (the cartridge reads a paddle controller turned
// clockwise). FIRE does nothing: serves are automatic, from
// midfield towards the agent, at a random height and angle.
//
// The opponent follows the ball at 2 px/frame, but only once the ball has crossed into its half
// and is coming its way, and it aims at a point up to 11 px off the ball's centre, drawn anew for
// each ball sent its way (a paddle of 16 and a ball of 4 px meet when the centres are within
// 10 px): it misses about one return in eleven even when it is in time, so rallies end. The agent
// moves 3 px/frame. Steep returns (up to 3 px/frame vertically when hit near a paddle's end)
// outrun the opponent, and rallies speed up (horizontal 2, 3, then 4 px/frame after 8 and 16 hits).
//
// Screen: scores rows 2..21, white walls y [24,34) and [194,210), brown field, paddles 4x16 px at
// x [16,20) and [140,144), ball 2x4 px.
#pragma once

#include <cstdint>
#include <type_traits>

#include "envs/atari_screen.hpp"

namespace dqn {

class Pong final : public ScreenGame {
 public:
  static constexpr int kTopY = 34, kBottomY = 194;  // field rows [34,194)
  static constexpr int kOpponentX = 16, kAgentX = 140, kPaddleW = 4, kPaddleH = 16;
  static constexpr int kBallW = 2, kBallH = 4, kAgentSpeed = 3, kOpponentSpeed = 2;
  static constexpr int kWinningScore = 21, kServeDelay = 40;

  struct State {
    std::int32_t agent_y = 0, opponent_y = 0;  // top rows of the paddles
    std::int32_t ball_x = 0, ball_y = 0, vx = 0, vy = 0;
    std::int32_t agent_score = 0, opponent_score = 0, serve_timer = 0, rally_hits = 0;
    std::int32_t opponent_aim = 0;  // the opponent's aiming error for the current ball
    std::uint8_t ball_in_play = 0, over = 0;
    std::uint8_t padding[2] = {};  // named, so the saved bytes hold no indeterminate padding
  };
  static_assert(std::has_unique_object_representations_v<State>, "State must have no padding");

  explicit Pong(const AtariSettings& settings = {});

  std::string game_name() const override { return "pong"; }
  std::vector<int> minimal_action_set() const override {
    return {kNoop, kFire, kRight, kLeft, kRightFire, kLeftFire};
  }
  bool game_over() const override { return state_.over != 0; }
  int lives() const override { return 0; }  // as the ALE reports for Pong

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
  void serve();
  State state_;
};

}  // namespace dqn
