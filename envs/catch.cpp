// envs/catch.cpp: Catch's rules and drawing (see catch.hpp).
#include "envs/catch.hpp"

#include <algorithm>
#include <cstring>

namespace dqn {
namespace {

constexpr int kMaxPaddleX = AtariScreen::kWidth - Catch::kPaddleW;
constexpr int kMaxBallX = AtariScreen::kWidth - Catch::kBallSize;

}  // namespace

Catch::Catch(const AtariSettings& settings) : ScreenGame(settings) {
  reset_game();
}

void Catch::new_game() {
  state_ = State{};
  state_.paddle_x = kMaxPaddleX / 2;
  drop_ball();
}

void Catch::drop_ball() {
  state_.ball_x = static_cast<std::int32_t>(rng().uniform_int(0, kMaxBallX + 1));
  state_.ball_y = kTopY;
}

int Catch::emulate_frame(int action) {
  State& s = state_;
  if (s.over) return 0;  // the game-over screen: nothing moves
  if (action_pushes_right(action)) s.paddle_x = std::min(s.paddle_x + kPaddleSpeed, kMaxPaddleX);
  if (action_pushes_left(action)) s.paddle_x = std::max(s.paddle_x - kPaddleSpeed, 0);
  s.ball_y += kFallSpeed;
  if (s.ball_y + kBallSize < kPaddleY) return 0;  // still above the paddle's top row
  // The ball has reached the paddle's row: caught if the two overlap by a column or more.
  const bool caught = s.ball_x < s.paddle_x + kPaddleW && s.ball_x + kBallSize > s.paddle_x;
  const int reward = caught ? 1 : -1;
  s.score += reward;
  s.caught += caught;
  --s.balls_left;
  if (s.balls_left == 0) {
    s.over = 1;
  } else {
    drop_ball();
  }
  return reward;
}

void Catch::draw(std::uint8_t* frame, const std::uint8_t* colour) const {
  const State& s = state_;
  std::memset(frame, colour[ntsc::kBlack.index], kHeight * kWidth);
  const std::uint8_t grey = colour[ntsc::kGrey142.index];
  draw_number(frame, s.caught, 60, 5, 2, 2, grey);
  draw_number(frame, s.balls_left, 120, 5, 2, 2, grey);
  fill_rect(frame, 0, 20, kWidth, 22, grey);
  fill_rect(frame, s.paddle_x, kPaddleY, s.paddle_x + kPaddleW, kPaddleY + kPaddleH,
            colour[ntsc::kGreen186.index]);
  if (!s.over) {
    fill_rect(frame, s.ball_x, s.ball_y, s.ball_x + kBallSize, s.ball_y + kBallSize,
              colour[ntsc::kWhite236.index]);
  }
}

std::string Catch::game_state() const {
  return std::string(reinterpret_cast<const char*>(&state_), sizeof(State));
}

bool Catch::set_game_state(std::string_view bytes) {
  if (bytes.size() != sizeof(State)) return false;
  State s;
  std::memcpy(&s, bytes.data(), sizeof(State));
  if (s.paddle_x < 0 || s.paddle_x > kMaxPaddleX || s.ball_x < 0 || s.ball_x > kMaxBallX ||
      s.ball_y < kTopY || s.ball_y + kBallSize >= kPaddleY + kFallSpeed || s.balls_left < 0 ||
      s.balls_left > kBalls || s.caught < 0 || s.caught > kBalls - s.balls_left ||
      s.score != 2 * s.caught - (kBalls - s.balls_left) || s.over > 1 ||
      (s.over != 0) != (s.balls_left == 0)) {
    return false;
  }
  state_ = s;
  mark_dirty();
  return true;
}

}  // namespace dqn
