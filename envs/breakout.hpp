// envs/breakout.hpp: Breakout, written from scratch with the look and rules of the Atari 2600
// cartridge (Atari 1978) as the ALE plays it.
//
// Rules: 6 rows of 18 bricks scoring 7,7,4,4,1,1 from the top (1,1,4,4,7,7 from the bottom);
// 5 lives; FIRE serves a ball; a ball that passes the paddle costs a life, and the game is over
// after the last one; the ball speeds up after 4 and 12 paddle hits and on the first hit of the
// orange and of the red rows; the paddle shrinks to half once the ball reaches the top wall;
// clearing the wall brings a second one, clearing that ends the game (864 points at most).
// Minimal actions (ALE order): NOOP, FIRE, RIGHT, LEFT.
//
// Screen (rows y, columns x): score rows 5..14, grey top wall y [17,32), side walls x [0,8) and
// [152,160) down to y 196, bricks from y 57 (6 rows x 6 px, 18 columns x 8 px from x 8), paddle
// y [189,193), ball 2x4 px. Positions are whole pixels; a frame moves the ball one pixel at a
// time so it never tunnels through a brick.
#pragma once

#include <array>
#include <cstdint>
#include <type_traits>

#include "envs/atari_screen.hpp"

namespace dqn {

class Breakout final : public ScreenGame {
 public:
  static constexpr int kRows = 6, kColumns = 18, kLives = 5;
  static constexpr int kWallTop = 17, kWallBottom = 32;  // top wall rows [17,32)
  static constexpr int kLeftX = 8, kRightX = 152;        // playfield columns [8,152)
  static constexpr int kBrickTop = 57, kBrickH = 6, kBrickW = 8;
  static constexpr int kPaddleY = 189, kPaddleH = 4, kPaddleW = 16, kPaddleSpeed = 3;
  static constexpr int kBallW = 2, kBallH = 4, kBottomY = 196, kServeY = 110;
  static constexpr std::array<int, kRows> kRowScore = {7, 7, 4, 4, 1, 1};  // top to bottom

  // Everything that changes during a game (trivially copyable: saved as bytes).
  struct State {
    std::array<std::uint8_t, kRows * kColumns> bricks{};  // 1 = present, row-major from the top
    std::int32_t paddle_x = 0, paddle_w = kPaddleW;
    std::int32_t ball_x = 0, ball_y = 0, vx = 0, vy = 0;
    std::int32_t score = 0, lives = kLives, paddle_hits = 0, walls_cleared = 0;
    std::uint8_t ball_in_play = 0, hit_orange = 0, hit_red = 0, reached_top = 0, over = 0;
    std::uint8_t padding[3] = {};  // named, so the saved bytes hold no indeterminate padding
  };
  static_assert(std::has_unique_object_representations_v<State>, "State must have no padding");

  explicit Breakout(const AtariSettings& settings = {});

  std::string game_name() const override { return "breakout"; }
  std::vector<int> minimal_action_set() const override { return {kNoop, kFire, kRight, kLeft}; }
  bool game_over() const override { return state_.over != 0; }
  int lives() const override { return state_.lives; }

  // For tests and scripted policies: read and place the game's pieces.
  const State& state() const { return state_; }
  void set_state_for_test(const State& s) {
    state_ = s;
    mark_dirty();
  }
  int speed() const;  // |vy| in pixels per frame for the current hit count

 protected:
  void new_game() override;
  int emulate_frame(int action) override;
  void draw(std::uint8_t* frame, const std::uint8_t* colour) const override;
  std::string game_state() const override;
  bool set_game_state(std::string_view bytes) override;

 private:
  int hit_brick();  // removes the brick under the ball, returns its score (0 if none)
  State state_;
};

}  // namespace dqn
