// envs/breakout.cpp: Breakout's rules, ball physics and drawing (see breakout.hpp).
#include "envs/breakout.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace dqn {
namespace {

bool fires(int a) {
  return a == kFire || a >= kUpFire;
}

int sign(int v) {
  return (v > 0) - (v < 0);
}

constexpr std::array<std::uint8_t, Breakout::kRows> kRowColour = {
    ntsc::kRed200.index,    ntsc::kOrange198.index, ntsc::kOchre180.index,
    ntsc::kYellow162.index, ntsc::kGreen160.index,  ntsc::kBlue200.index};

}  // namespace

Breakout::Breakout(const AtariSettings& settings) : ScreenGame(settings) {
  reset_game();
}

void Breakout::new_game() {
  state_ = State{};
  state_.bricks.fill(1);
  state_.paddle_x = (kLeftX + kRightX - kPaddleW) / 2;
}

int Breakout::speed() const {
  // Speed-ups of the cartridge: after 4 and 12 hits, first orange and first red brick.
  return 2 + (state_.paddle_hits >= 4) + (state_.paddle_hits >= 12) + state_.hit_orange +
         state_.hit_red;
}

int Breakout::hit_brick() {
  State& s = state_;
  if (s.ball_y + kBallH <= kBrickTop || s.ball_y >= kBrickTop + kRows * kBrickH) return 0;
  const int r0 = std::max(0, (s.ball_y - kBrickTop) / kBrickH);
  const int r1 = std::min(kRows - 1, (s.ball_y + kBallH - 1 - kBrickTop) / kBrickH);
  const int c0 = std::max(0, (s.ball_x - kLeftX) / kBrickW);
  const int c1 = std::min(kColumns - 1, (s.ball_x + kBallW - 1 - kLeftX) / kBrickW);
  // The brick nearest the direction of travel goes first (the lower row when moving up).
  for (int k = 0; k <= r1 - r0; ++k) {
    const int r = s.vy < 0 ? r1 - k : r0 + k;
    for (int c = c0; c <= c1; ++c) {
      std::uint8_t& brick = s.bricks[r * kColumns + c];
      if (!brick) continue;
      brick = 0;
      if (r == 1) s.hit_orange = 1;
      if (r == 0) s.hit_red = 1;
      return kRowScore[r];
    }
  }
  return 0;
}

int Breakout::emulate_frame(int action) {
  State& s = state_;
  if (s.over) return 0;  // the ALE keeps pressing buttons on the game-over screen: nothing moves
  if (action_pushes_right(action))
    s.paddle_x = std::min(s.paddle_x + kPaddleSpeed, kRightX - s.paddle_w);
  if (action_pushes_left(action)) s.paddle_x = std::max(s.paddle_x - kPaddleSpeed, kLeftX);
  if (!s.ball_in_play) {
    if (!fires(action)) return 0;
    s.ball_in_play = 1;  // serve: a random column and direction, falling towards the paddle
    s.ball_x = static_cast<std::int32_t>(rng().uniform_int(kLeftX + 8, kRightX - 8 - kBallW));
    s.ball_y = kServeY;
    s.vx = rng().bernoulli(0.5) ? 1 : -1;
    s.vy = speed();
    return 0;
  }

  int reward = 0;
  const int ny = std::abs(s.vy), nx = std::abs(s.vx);
  for (int i = 0; i < ny && s.ball_in_play; ++i) {
    const int reward_before = reward;
    // Horizontal pixels this sub-step (Bresenham: nx over ny sub-steps).
    for (int k = ((i + 1) * nx) / ny - (i * nx) / ny; k > 0; --k) {
      s.ball_x += sign(s.vx);
      int points = 0;
      if (s.ball_x < kLeftX || s.ball_x + kBallW > kRightX || (points = hit_brick()) > 0) {
        s.ball_x -= sign(s.vx);
        s.vx = -s.vx;
        reward += points;
      }
    }
    s.ball_y += sign(s.vy);
    if (s.ball_y < kWallBottom) {  // the top wall
      s.ball_y = kWallBottom;
      s.vy = std::abs(s.vy);
      if (!s.reached_top) s.paddle_w = kPaddleW / 2;  // the paddle shrinks, once per wall
      s.reached_top = 1;
    } else if (const int points = hit_brick(); points > 0) {
      reward += points;
      s.ball_y -= sign(s.vy);
      s.vy = s.vy < 0 ? speed() : -speed();
    } else if (s.vy > 0 && s.ball_y + kBallH - 1 == kPaddleY && s.ball_x + kBallW > s.paddle_x &&
               s.ball_x < s.paddle_x + s.paddle_w) {
      // Paddle bounce: the quarter of the paddle that was hit sets the angle.
      ++s.paddle_hits;
      const int quarter = std::clamp((s.ball_x + 1 - s.paddle_x) * 4 / s.paddle_w, 0, 3);
      static constexpr int kVx[4] = {-2, -1, 1, 2};
      s.vx = kVx[quarter];
      s.vy = -speed();
    } else if (s.ball_y >= kBottomY) {  // missed: a life lost
      s.ball_in_play = 0;
      s.paddle_hits = 0;
      s.hit_orange = s.hit_red = 0;
      --s.lives;
      if (s.lives == 0) s.over = 1;
    }
    if (reward > reward_before &&
        std::find(s.bricks.begin(), s.bricks.end(), 1) == s.bricks.end()) {
      ++s.walls_cleared;  // a cleared wall: a second one, or the end of the game
      if (s.walls_cleared >= 2) {
        s.over = 1;
        s.ball_in_play = 0;
      } else {
        s.bricks.fill(1);
        s.reached_top = 0;
        s.paddle_w = kPaddleW;
      }
    }
    const int new_ny = std::abs(s.vy);
    if (new_ny != ny) break;  // speed changed: the next frame moves at the new speed
  }
  s.score += reward;
  return reward;
}

void Breakout::draw(std::uint8_t* frame, const std::uint8_t* colour) const {
  const State& s = state_;
  std::memset(frame, colour[ntsc::kBlack.index], kHeight * kWidth);
  const std::uint8_t grey = colour[ntsc::kGrey142.index];
  draw_number(frame, s.score, 60, 5, 2, 2, grey);
  draw_digit(frame, s.lives, 100, 5, 2, 2, grey);
  fill_rect(frame, 0, kWallTop, kWidth, kWallBottom, grey);
  fill_rect(frame, 0, kWallTop, kLeftX, kBottomY, grey);
  fill_rect(frame, kRightX, kWallTop, kWidth, kBottomY, grey);
  for (int r = 0; r < kRows; ++r) {
    for (int c = 0; c < kColumns; ++c) {
      if (!s.bricks[r * kColumns + c]) continue;
      const int x = kLeftX + c * kBrickW, y = kBrickTop + r * kBrickH;
      fill_rect(frame, x, y, x + kBrickW, y + kBrickH, colour[kRowColour[r]]);
    }
  }
  const std::uint8_t red = colour[ntsc::kRed200.index];
  fill_rect(frame, s.paddle_x, kPaddleY, s.paddle_x + s.paddle_w, kPaddleY + kPaddleH, red);
  if (s.ball_in_play) {
    fill_rect(frame, s.ball_x, s.ball_y, s.ball_x + kBallW, s.ball_y + kBallH, red);
  }
}

std::string Breakout::game_state() const {
  return std::string(reinterpret_cast<const char*>(&state_), sizeof(State));
}

bool Breakout::set_game_state(std::string_view bytes) {
  if (bytes.size() != sizeof(State)) return false;
  State s;
  std::memcpy(&s, bytes.data(), sizeof(State));
  for (std::uint8_t b : s.bricks)
    if (b > 1) return false;
  if (s.lives < 0 || s.lives > kLives || s.paddle_w <= 0 || s.paddle_w > kPaddleW ||
      s.paddle_x < kLeftX || s.paddle_x + s.paddle_w > kRightX || std::abs(s.vy) > 8 ||
      std::abs(s.vx) > 8) {
    return false;
  }
  state_ = s;
  mark_dirty();
  return true;
}

}  // namespace dqn
