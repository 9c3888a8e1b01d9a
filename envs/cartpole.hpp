// envs/cartpole.hpp: CartPole-v1, step for step as Gymnasium's classic_control/cartpole.py
// (Barto, Sutton & Anderson 1983) wrapped in its registered TimeLimit(500).
//
// Precision, checked against Gymnasium's source: the state lives as four float64 values between
// steps (reset draws a float64 numpy array; step unpacks it, does all arithmetic in float64 and
// stores the float64 tuple back). Only the observation handed out is rounded to float32
// (`np.array(self.state, dtype=np.float32)`); the next step starts from the float64 state, never
// from the rounded observation. Termination is tested on the float64 state. physics_step below
// keeps Gymnasium's order of operations so a trajectory matches it bit for bit in float64 (the
// build uses -ffp-contract=off for envs/ so no fused multiply-add changes a rounding).
//
// Where we differ: reset draws the four initial values uniform in [-0.05, 0.05) from our own
// dqn::Rng (lo + (hi - lo) * u with a 53-bit u, the same formula numpy's uniform uses) instead of
// numpy's PCG64 generator, so the same seed gives other initial states than Gymnasium. To
// compare trajectories, start both from one state (set_state here, env.unwrapped.state there).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "envs/env.hpp"

namespace dqn {

// The constants of CartPoleEnv.__init__, with their derived values computed as Python does.
struct CartPoleParams {
  double gravity = 9.8;
  double masscart = 1.0;
  double masspole = 0.1;
  double total_mass = 0.1 + 1.0;  // masspole + masscart, summed in that order
  double length = 0.5;            // actually half the pole's length
  double polemass_length = 0.1 * 0.5;
  double force_mag = 10.0;
  double tau = 0.02;  // seconds between state updates; "euler" kinematics integrator
  double theta_threshold_radians = 12 * 2 * std::numbers::pi / 360;  // 12 * 2 * math.pi / 360
  double x_threshold = 2.4;
};

// (x, x_dot, theta, theta_dot) in float64.
using CartPoleState = std::array<double, 4>;

// One Euler step of the dynamics, Gymnasium's expression order kept term by term (Florian 2007,
// "Correct equations for the dynamics of the cart-pole system"). action 1 pushes right.
// Defined in cartpole.cpp, which is compiled with -ffp-contract=off: inlined into a caller built
// with other flags, GCC could fuse a multiply and an add and change the last bit.
CartPoleState cartpole_physics_step(const CartPoleParams& p, const CartPoleState& s,
                                    std::int64_t action);

// Gymnasium's termination test: strict comparisons, so x = 2.4 exactly goes on.
inline bool cartpole_terminated(const CartPoleParams& p, const CartPoleState& s) {
  return s[0] < -p.x_threshold || s[0] > p.x_threshold || s[2] < -p.theta_threshold_radians ||
         s[2] > p.theta_threshold_radians;
}

class CartPole final : public Env {
 public:
  static constexpr std::int64_t kNumActions = 2;  // 0 pushes left, 1 pushes right
  static constexpr int kRenderHeight = 400, kRenderWidth = 600;

  explicit CartPole(std::int64_t max_episode_steps = 500, std::uint64_t seed = 0);

  std::string name() const override { return "cartpole"; }
  Shape observation_shape() const override { return Shape{4}; }
  bool observation_is_u8() const override { return false; }
  std::int64_t num_actions() const override { return kNumActions; }
  void reset(std::uint64_t seed) override;
  void reset() override;
  // Final, so a call on a CartPole (not an Env&) is a direct call: no virtual dispatch.
  StepResult step(std::int64_t action) override;
  const float* observation_f32() const override { return obs_.data(); }
  void save_state(std::string& blob) const override;
  void load_state(std::string_view blob) override;

  // Starts an episode from a given state (Gymnasium: env.reset(); env.unwrapped.state = s).
  void set_state(const CartPoleState& state);
  const CartPoleState& state() const { return state_; }
  const CartPoleParams& params() const { return params_; }
  std::int64_t elapsed_steps() const { return elapsed_steps_; }
  bool done() const { return done_; }

  // One line describing the current step: step count, state, and a 41-column picture of the
  // track with the cart and the pole's lean.
  std::string render_text() const;
  // Gymnasium's 600x400 rgb_array picture (white background, black cart and track, brown pole,
  // blue-grey axle), without anti-aliasing. rgb (400,600,3).
  void render_rgb(std::uint8_t* rgb) const;

 private:
  void update_observation() {
    for (int i = 0; i < 4; ++i) obs_[i] = static_cast<float>(state_[i]);
  }

  CartPoleParams params_;
  std::int64_t max_episode_steps_;
  Rng rng_;
  CartPoleState state_{};
  std::array<float, 4> obs_{};
  std::int64_t elapsed_steps_ = 0;
  bool done_ = true;  // no episode until the first reset
  bool terminated_ = false;
};

}  // namespace dqn
