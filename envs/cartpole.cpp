// envs/cartpole.cpp: CartPole's reset, state blobs and the two renderers.
#include "envs/cartpole.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "envs/state_blob.hpp"

namespace dqn {

CartPoleState cartpole_physics_step(const CartPoleParams& p, const CartPoleState& s,
                                    std::int64_t action) {
  const double x = s[0], x_dot = s[1], theta = s[2], theta_dot = s[3];
  const double force = action == 1 ? p.force_mag : -p.force_mag;
  const double costheta = std::cos(theta);
  const double sintheta = std::sin(theta);
  // theta_dot**2 and costheta**2: Python's float power with exponent 2 is the exact square
  // rounded once, the same as x * x.
  const double temp =
      (force + p.polemass_length * (theta_dot * theta_dot) * sintheta) / p.total_mass;
  const double thetaacc =
      (p.gravity * sintheta - costheta * temp) /
      (p.length * (4.0 / 3.0 - p.masspole * (costheta * costheta) / p.total_mass));
  const double xacc = temp - p.polemass_length * thetaacc * costheta / p.total_mass;
  return {x + p.tau * x_dot, x_dot + p.tau * xacc, theta + p.tau * theta_dot,
          theta_dot + p.tau * thetaacc};
}

StepResult CartPole::step(std::int64_t action) {
  DQN_CHECK(action == 0 || action == 1,
            "CartPole::step: expected action 0 (left) or 1 (right), got ", action,
            ": the policy's argmax must range over num_actions() = 2");
  DQN_CHECK(!done_, "CartPole::step: the episode ended (", terminated_ ? "terminated" : "truncated",
            " after ", elapsed_steps_, " steps); call reset() before stepping again");
  state_ = cartpole_physics_step(params_, state_, action);
  ++elapsed_steps_;
  update_observation();
  StepResult r;
  r.terminated = cartpole_terminated(params_, state_);
  r.truncated = elapsed_steps_ >= max_episode_steps_;  // TimeLimit: may coincide with terminated
  r.reward = 1.0f;  // every step, the terminating one included (Gymnasium's docs and code)
  r.raw_reward = 1.0f;
  terminated_ = r.terminated;
  done_ = r.terminated || r.truncated;
  return r;
}

CartPole::CartPole(std::int64_t max_episode_steps, std::uint64_t seed)
    : max_episode_steps_(max_episode_steps), rng_(seed) {
  DQN_CHECK(max_episode_steps >= 1, "CartPole: max_episode_steps must be >= 1, got ",
            max_episode_steps, " (CartPole-v1 uses 500)");
}

void CartPole::reset(std::uint64_t seed) {
  rng_ = Rng(seed);
  reset();
}

void CartPole::reset() {
  // Gymnasium: self.np_random.uniform(low=-0.05, high=0.05, size=(4,)). Same bounds and formula,
  // our generator (see the file comment of cartpole.hpp).
  for (double& v : state_) v = rng_.uniform(-0.05, 0.05);
  elapsed_steps_ = 0;
  done_ = false;
  terminated_ = false;
  update_observation();
}

void CartPole::set_state(const CartPoleState& state) {
  state_ = state;
  elapsed_steps_ = 0;
  done_ = false;
  terminated_ = false;
  update_observation();
}

void CartPole::save_state(std::string& blob) const {
  BlobWriter w(blob, "cartpole/1");
  w.put(max_episode_steps_);
  w.put_rng(rng_);
  for (double v : state_) w.put(v);
  w.put(elapsed_steps_);
  w.put<std::uint8_t>(done_);
  w.put<std::uint8_t>(terminated_);
}

void CartPole::load_state(std::string_view blob) {
  BlobReader r(blob, "cartpole/1");
  const auto max_steps = r.get<std::int64_t>();
  DQN_CHECK(max_steps == max_episode_steps_, "CartPole::load_state: expected max_episode_steps ",
            max_episode_steps_, ", the blob has ", max_steps,
            ": build the env with the options of the run that saved it");
  const Rng rng = r.get_rng();
  CartPoleState state;
  for (double& v : state) v = r.get<double>();
  const auto elapsed = r.get<std::int64_t>();
  const auto done = r.get<std::uint8_t>();
  const auto terminated = r.get<std::uint8_t>();
  r.finish();
  DQN_CHECK(elapsed >= 0 && elapsed <= max_steps && done <= 1 && terminated <= 1,
            "CartPole::load_state: the blob holds impossible values (elapsed steps ", elapsed,
            " of at most ", max_steps, ", flags ", int(done), " and ", int(terminated),
            "): it is corrupt");
  // step() sets done = terminated || truncated, and truncation is elapsed >= max_steps.
  DQN_CHECK(done == (terminated || elapsed == max_steps),
            "CartPole::load_state: the blob's done flag is ", int(done), " with terminated ",
            int(terminated), " after ", elapsed, " of ", max_steps,
            " steps, expected done exactly when terminated or at the time limit: it is corrupt");
  // No CartPole episode comes near 1e6 in any component (its velocities stay within a few units
  // until the thresholds end it), and a live episode is inside the thresholds, or step() would
  // have ended it. Together they bound what a step from a loaded state can reach, so its float32
  // observation never overflows (converting a double beyond float's range is undefined).
  constexpr double kMaxMagnitude = 1e6;
  for (double v : state)
    DQN_CHECK(std::isfinite(v) && std::abs(v) <= kMaxMagnitude,
              "CartPole::load_state: the blob's state holds ", v,
              ", expected finite numbers within +-", kMaxMagnitude, ": it is corrupt");
  DQN_CHECK(done || !cartpole_terminated(params_, state),
            "CartPole::load_state: the blob's episode is live (not done) but its state (x ",
            state[0], ", theta ", state[2], ") is past the termination thresholds: it is corrupt");
  rng_ = rng;  // everything read and checked: only now change the env
  state_ = state;
  elapsed_steps_ = elapsed;
  done_ = done;
  terminated_ = terminated;
  update_observation();
}

std::string CartPole::render_text() const {
  // The track spans [-x_threshold, x_threshold] over 41 columns; the pole leans '/', '|' or '\'.
  constexpr int kColumns = 41;
  std::string track(kColumns, '-');
  const double u = (state_[0] + params_.x_threshold) / (2 * params_.x_threshold);
  const int col = std::clamp(static_cast<int>(std::lround(u * (kColumns - 1))), 0, kColumns - 1);
  const double lean = state_[2] / params_.theta_threshold_radians;  // +-1 at the threshold
  track[col] = lean > 0.25 ? '/' : (lean < -0.25 ? '\\' : '|');
  char line[256];
  std::snprintf(line, sizeof line, "t=%4lld x=%+.4f x_dot=%+.4f theta=%+.4f theta_dot=%+.4f [%s]%s",
                static_cast<long long>(elapsed_steps_), state_[0], state_[1], state_[2], state_[3],
                track.c_str(), done_ ? (terminated_ ? " terminated" : " truncated") : "");
  return line;
}

namespace {

struct Point {
  double x, y;
};

// Fills a convex polygon given counter- or clockwise; y is up (Gymnasium draws y-up, then flips
// the surface), so a pixel at y goes to row height-1-y. Pixel (c, y) is in when its integer
// corner lies inside, a close enough stand-in for pygame's gfxdraw.filled_polygon rasterizer.
void fill_convex(std::uint8_t* rgb, int height, int width, const Point* pts, int n,
                 const std::uint8_t colour[3]) {
  double min_x = pts[0].x, max_x = pts[0].x, min_y = pts[0].y, max_y = pts[0].y;
  for (int i = 1; i < n; ++i) {
    min_x = std::min(min_x, pts[i].x), max_x = std::max(max_x, pts[i].x);
    min_y = std::min(min_y, pts[i].y), max_y = std::max(max_y, pts[i].y);
  }
  const int x0 = std::max(0, static_cast<int>(std::floor(min_x)));
  const int x1 = std::min(width - 1, static_cast<int>(std::ceil(max_x)));
  const int y0 = std::max(0, static_cast<int>(std::floor(min_y)));
  const int y1 = std::min(height - 1, static_cast<int>(std::ceil(max_y)));
  for (int y = y0; y <= y1; ++y) {
    for (int x = x0; x <= x1; ++x) {
      bool pos = false, neg = false;
      for (int i = 0; i < n; ++i) {
        const Point a = pts[i], b = pts[(i + 1) % n];
        const double cross = (b.x - a.x) * (y - a.y) - (b.y - a.y) * (x - a.x);
        pos = pos || cross > 0;
        neg = neg || cross < 0;
      }
      if (pos && neg) continue;
      std::uint8_t* px = rgb + (static_cast<std::int64_t>(height - 1 - y) * width + x) * 3;
      px[0] = colour[0], px[1] = colour[1], px[2] = colour[2];
    }
  }
}

}  // namespace

void CartPole::render_rgb(std::uint8_t* rgb) const {
  constexpr int H = kRenderHeight, W = kRenderWidth;
  std::fill(rgb, rgb + static_cast<std::int64_t>(H) * W * 3, std::uint8_t{255});
  // Gymnasium's render(): scale world to screen, cart 50x30 with its top at y = 100 (sic: the
  // code names carty the top), pole 10 wide and 2 * length * scale long, pivoting on the axle
  // a quarter of the cart height above carty.
  const double world_width = params_.x_threshold * 2;
  const double scale = W / world_width;
  const double polewidth = 10.0, polelen = scale * (2 * params_.length);
  const double cartwidth = 50.0, cartheight = 30.0;
  const double cartx = state_[0] * scale + W / 2.0, carty = 100;
  const double axleoffset = cartheight / 4.0;
  const std::uint8_t black[3] = {0, 0, 0}, pole[3] = {202, 152, 101}, axle[3] = {129, 132, 203};

  {
    const double l = -cartwidth / 2, r = cartwidth / 2, t = cartheight / 2, b = -cartheight / 2;
    const Point cart[4] = {{l + cartx, b + carty},
                           {l + cartx, t + carty},
                           {r + cartx, t + carty},
                           {r + cartx, b + carty}};
    fill_convex(rgb, H, W, cart, 4, black);
  }
  {
    const double l = -polewidth / 2, r = polewidth / 2, t = polelen - polewidth / 2,
                 b = -polewidth / 2;
    // pygame's Vector2.rotate_rad(-theta): counter-clockwise by -theta.
    const double c = std::cos(-state_[2]), s = std::sin(-state_[2]);
    const Point corners[4] = {{l, b}, {l, t}, {r, t}, {r, b}};
    Point pts[4];
    for (int i = 0; i < 4; ++i) {
      pts[i] = {corners[i].x * c - corners[i].y * s + cartx,
                corners[i].x * s + corners[i].y * c + carty + axleoffset};
    }
    fill_convex(rgb, H, W, pts, 4, pole);
  }
  {
    const int cx = static_cast<int>(cartx), cy = static_cast<int>(carty + axleoffset);
    const int radius = static_cast<int>(polewidth / 2);
    for (int dy = -radius; dy <= radius; ++dy) {
      for (int dx = -radius; dx <= radius; ++dx) {
        const int x = cx + dx, y = cy + dy;
        if (dx * dx + dy * dy > radius * radius || x < 0 || x >= W || y < 0 || y >= H) continue;
        std::uint8_t* px = rgb + (static_cast<std::int64_t>(H - 1 - y) * W + x) * 3;
        px[0] = axle[0], px[1] = axle[1], px[2] = axle[2];
      }
    }
  }
  // The track: gfxdraw.hline(surf, 0, screen_width, carty, black), before the flip.
  const std::int64_t row = H - 1 - static_cast<int>(carty);
  std::fill(rgb + row * W * 3, rgb + (row + 1) * W * 3, std::uint8_t{0});
}

}  // namespace dqn
