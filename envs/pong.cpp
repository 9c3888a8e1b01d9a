// envs/pong.cpp: Pong's rules, ball physics, opponent and drawing (see pong.hpp).
#include "envs/pong.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace dqn {
namespace {

// Pong's paddle controller turns RIGHT-ish actions into up the screen, LEFT-ish into down.
bool moves_up(int a) {
  return action_pushes_right(a);
}
bool moves_down(int a) {
  return action_pushes_left(a);
}
int sign(int v) {
  return (v > 0) - (v < 0);
}

// Vertical speed after a paddle hit, by where on the paddle the ball landed (six zones).
constexpr int kBounceVy[6] = {-3, -2, -1, 1, 2, 3};

}  // namespace

Pong::Pong(const AtariSettings& settings) : ScreenGame(settings) {
  reset_game();
}

void Pong::new_game() {
  state_ = State{};
  state_.agent_y = state_.opponent_y = (kTopY + kBottomY - kPaddleH) / 2;
  state_.serve_timer = kServeDelay;
}

void Pong::serve() {
  State& s = state_;
  s.ball_in_play = 1;
  s.rally_hits = 0;
  s.ball_x = (kOpponentX + kAgentX) / 2;
  s.ball_y = static_cast<std::int32_t>(rng().uniform_int(kTopY + 30, kBottomY - 30));
  s.vx = 2;  // every serve goes to the agent, who must return it to score
  s.opponent_aim = static_cast<std::int32_t>(rng().uniform_int(-11, 12));
  static constexpr int kServeVy[4] = {-2, -1, 1, 2};
  s.vy = kServeVy[rng().uniform_int(0, 4)];
}

int Pong::emulate_frame(int action) {
  State& s = state_;
  if (s.over) return 0;
  if (moves_up(action)) s.agent_y = std::max(s.agent_y - kAgentSpeed, kTopY);
  if (moves_down(action)) s.agent_y = std::min(s.agent_y + kAgentSpeed, kBottomY - kPaddleH);

  // The opponent: follows the ball's centre once it comes its way past midfield.
  if (s.ball_in_play && s.vx < 0 && s.ball_x < (kOpponentX + kAgentX) / 2) {
    const int target = s.ball_y + kBallH / 2 + s.opponent_aim - kPaddleH / 2;
    const int step = std::clamp(target - s.opponent_y, -kOpponentSpeed, kOpponentSpeed);
    s.opponent_y = std::clamp(s.opponent_y + step, kTopY, kBottomY - kPaddleH);
  }

  if (!s.ball_in_play) {
    if (--s.serve_timer <= 0) serve();
    return 0;
  }

  int reward = 0;
  const int nx = std::abs(s.vx), ny = std::abs(s.vy);
  for (int i = 0; i < nx; ++i) {
    for (int k = ((i + 1) * ny) / nx - (i * ny) / nx; k > 0; --k) {  // vertical pixels
      s.ball_y += sign(s.vy);
      if (s.ball_y < kTopY || s.ball_y + kBallH > kBottomY) {
        s.ball_y -= sign(s.vy);
        s.vy = -s.vy;
      }
    }
    s.ball_x += sign(s.vx);
    const bool at_agent = s.vx > 0 && s.ball_x + kBallW == kAgentX;
    const bool at_opponent = s.vx < 0 && s.ball_x == kOpponentX + kPaddleW;
    const int paddle_y = at_agent ? s.agent_y : s.opponent_y;
    if ((at_agent || at_opponent) && s.ball_y + kBallH > paddle_y &&
        s.ball_y < paddle_y + kPaddleH) {
      const int offset = s.ball_y + kBallH - paddle_y;  // 1 .. kPaddleH + kBallH - 1
      s.vy = kBounceVy[std::clamp((offset - 1) * 6 / (kPaddleH + kBallH - 1), 0, 5)];
      ++s.rally_hits;
      const int speed = 2 + (s.rally_hits >= 8) + (s.rally_hits >= 16);  // long rallies speed up
      s.vx = at_agent ? -speed : speed;
      if (at_agent) s.opponent_aim = static_cast<std::int32_t>(rng().uniform_int(-11, 12));
      break;
    }
    if (s.ball_x + kBallW <= 0 || s.ball_x >= kWidth) {
      const bool agent_scored = s.ball_x + kBallW <= 0;
      reward = agent_scored ? 1 : -1;
      (agent_scored ? s.agent_score : s.opponent_score) += 1;
      s.ball_in_play = 0;
      s.serve_timer = kServeDelay;
      if (s.agent_score >= kWinningScore || s.opponent_score >= kWinningScore) s.over = 1;
      break;
    }
  }
  return reward;
}

void Pong::draw(std::uint8_t* frame, const std::uint8_t* colour) const {
  const State& s = state_;
  std::memset(frame, colour[ntsc::kBrown144.index], kHeight * kWidth);
  const std::uint8_t white = colour[ntsc::kWhite236.index];
  fill_rect(frame, 0, 24, kWidth, kTopY, white);
  fill_rect(frame, 0, kBottomY, kWidth, kHeight, white);
  draw_number(frame, s.opponent_score, 52, 2, 3, 4, colour[ntsc::kOrange213.index]);
  draw_number(frame, s.agent_score, 132, 2, 3, 4, colour[ntsc::kGreen186.index]);
  fill_rect(frame, kOpponentX, s.opponent_y, kOpponentX + kPaddleW, s.opponent_y + kPaddleH,
            colour[ntsc::kOrange213.index]);
  fill_rect(frame, kAgentX, s.agent_y, kAgentX + kPaddleW, s.agent_y + kPaddleH,
            colour[ntsc::kGreen186.index]);
  if (s.ball_in_play)
    fill_rect(frame, s.ball_x, s.ball_y, s.ball_x + kBallW, s.ball_y + kBallH, white);
}

std::string Pong::game_state() const {
  return std::string(reinterpret_cast<const char*>(&state_), sizeof(State));
}

bool Pong::set_game_state(std::string_view bytes) {
  if (bytes.size() != sizeof(State)) return false;
  State s;
  std::memcpy(&s, bytes.data(), sizeof(State));
  if (s.agent_y < kTopY || s.agent_y > kBottomY - kPaddleH || s.opponent_y < kTopY ||
      s.opponent_y > kBottomY - kPaddleH || s.agent_score < 0 || s.agent_score > kWinningScore ||
      s.opponent_score < 0 || s.opponent_score > kWinningScore || std::abs(s.vx) > 8 ||
      std::abs(s.vy) > 8) {
    return false;
  }
  state_ = s;
  mark_dirty();
  return true;
}

}  // namespace dqn
