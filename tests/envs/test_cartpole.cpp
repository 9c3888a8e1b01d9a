// Tests for envs/cartpole.{hpp,cpp}: the physics against hand-worked steps, Gymnasium's
// termination and truncation rules at their exact thresholds, seeding, errors and rendering.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "envs/cartpole.hpp"
#include "envs/env.hpp"

using namespace dqn;

// The expected values below are computed here in float64 and must round as Gymnasium's Python
// does, one operation at a time: GCC under -march=native would otherwise fuse a * b + c into one
// FMA in this file (envs/ itself is built with -ffp-contract=off for the same reason).
#pragma GCC optimize("fp-contract=off")

// A pole-balancing controller good enough to reach the 500-step limit from a small start.
static std::int64_t balance(const CartPoleState& s) {
  return s[2] + 0.5 * s[3] + 0.01 * s[0] + 0.1 * s[1] > 0 ? 1 : 0;
}

TEST_CASE("cartpole first step from rest pushing right matches the equations worked by hand") {
  // From (0,0,0,0) with force +10: sin 0 = 0, cos 0 = 1, so
  //   temp     = 10 / 1.1                          = 100/11
  //   thetaacc = -temp / (0.5 (4/3 - 0.1/1.1))     = -(100/11) / (41/66) = -600/41
  //   xacc     = temp - 0.05 thetaacc / 1.1        = 100/11 + 300/451    = 400/41
  // and Euler with tau 0.02: x = 0, x_dot = 8/41, theta = 0, theta_dot = -12/41.
  CartPole env;
  env.set_state({0, 0, 0, 0});
  const StepResult r = env.step(1);
  CHECK(env.state()[0] == 0.0);
  CHECK(env.state()[1] == doctest::Approx(8.0 / 41).epsilon(1e-15));
  CHECK(env.state()[2] == 0.0);
  CHECK(env.state()[3] == doctest::Approx(-12.0 / 41).epsilon(1e-15));
  CHECK(r.reward == 1.0f);
  CHECK_FALSE(r.terminated);
  CHECK_FALSE(r.truncated);
  // The observation is the float64 state rounded to float32.
  CHECK(env.observation_f32()[1] == static_cast<float>(env.state()[1]));

  // Second step, pushing left (force -10), from (0, 8/41, 0, -12/41): theta is still 0, so
  // temp = (-10 + 0.05 (12/41)^2 * 0) / 1.1 = -100/11 and the accelerations flip sign:
  // x = 0.02 * 8/41, x_dot = 8/41 - 8/41 = 0, theta = -0.02 * 12/41, theta_dot = 0.
  env.step(0);
  CHECK(env.state()[0] == doctest::Approx(0.16 / 41).epsilon(1e-15));
  CHECK(std::abs(env.state()[1]) < 1e-16);
  CHECK(env.state()[2] == doctest::Approx(-0.24 / 41).epsilon(1e-15));
  CHECK(std::abs(env.state()[3]) < 1e-16);
}

TEST_CASE("cartpole step keeps Gymnasium's float64 order of operations at a tilted state") {
  // Gymnasium's expressions written out here in the same order: the result must agree to the
  // last bit (both are float64, no FMA, same libm sin and cos).
  const CartPoleState s = {0.03, -0.2, 0.1, 0.4};
  CartPole env;
  env.set_state(s);
  env.step(0);
  const double force = -10.0, cost = std::cos(s[2]), sint = std::sin(s[2]);
  const double temp = (force + 0.05 * (s[3] * s[3]) * sint) / 1.1;
  const double thetaacc =
      (9.8 * sint - cost * temp) / (0.5 * (4.0 / 3.0 - 0.1 * (cost * cost) / 1.1));
  const double xacc = temp - 0.05 * thetaacc * cost / 1.1;
  CHECK(env.state()[0] == s[0] + 0.02 * s[1]);
  CHECK(env.state()[1] == s[1] + 0.02 * xacc);
  CHECK(env.state()[2] == s[2] + 0.02 * s[3]);
  CHECK(env.state()[3] == s[3] + 0.02 * thetaacc);
  // The next step starts from the float64 state, not from the float32 observation.
  CHECK(static_cast<double>(env.observation_f32()[3]) != env.state()[3]);
}

TEST_CASE("cartpole x of exactly 2.4 goes on and just above terminates") {
  CartPole env;
  env.set_state({2.4, 0, 0, 0});  // x stays 2.4: x + 0.02 * 0
  StepResult r = env.step(1);
  CHECK(env.state()[0] == 2.4);
  CHECK_FALSE(r.terminated);
  env.set_state({2.4, 1e-6, 0, 0});  // x becomes 2.4 + 2e-8
  r = env.step(1);
  CHECK(r.terminated);
  CHECK(r.reward == 1.0f);  // the terminating step is rewarded too
  env.set_state({-2.4, -1e-6, 0, 0});
  CHECK(env.step(0).terminated);
}

TEST_CASE("cartpole theta of exactly the threshold goes on and just beyond terminates") {
  CartPole env;
  const double th = env.params().theta_threshold_radians;
  CHECK(th == 12 * 2 * 3.141592653589793 / 360);
  env.set_state({0, 0, th, 0});
  CHECK_FALSE(env.step(0).terminated);  // theta + 0.02 * 0 is th exactly
  env.set_state({0, 0, -th, -1e-6});
  CHECK(env.step(0).terminated);
}

TEST_CASE("cartpole step 500 is truncated not terminated and stepping on throws") {
  CartPole env;
  env.set_state({0, 0, 0.01, 0});
  StepResult r;
  for (int t = 1; t <= 500; ++t) {
    REQUIRE_FALSE(env.done());
    r = env.step(balance(env.state()));
    REQUIRE_FALSE(r.terminated);
    CHECK(r.truncated == (t == 500));
  }
  CHECK(env.elapsed_steps() == 500);
  CHECK_THROWS_AS(env.step(0), Error);
  env.reset();
  CHECK_NOTHROW(env.step(0));
}

TEST_CASE("cartpole stepping after termination without reset throws and names the fix") {
  CartPole env;
  env.set_state({2.4, 1, 0, 0});
  REQUIRE(env.step(1).terminated);
  try {
    env.step(1);
    FAIL("expected an Error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("reset()") != std::string::npos);
  }
  CartPole fresh;
  CHECK_THROWS_AS(fresh.step(0), Error);  // never reset
}

TEST_CASE("cartpole rejects actions out of range") {
  CartPole env;
  env.reset(1);
  CHECK_THROWS_AS(env.step(2), Error);
  CHECK_THROWS_AS(env.step(-1), Error);
  CHECK_NOTHROW(env.step(1));
}

TEST_CASE("cartpole same seed gives the same trajectory and another seed does not") {
  auto run = [](std::uint64_t seed) {
    CartPole env;
    env.reset(seed);
    Rng policy(99);
    std::vector<double> xs;
    for (int episode = 0; episode < 3; ++episode) {
      if (episode > 0) env.reset();
      while (!env.done()) {
        env.step(policy.uniform_int(0, 2));
        xs.push_back(env.state()[0]);
      }
    }
    return xs;
  };
  CHECK(run(5) == run(5));
  CHECK(run(5) != run(6));
}

TEST_CASE("cartpole reset draws each state value within plus or minus 0.05") {
  CartPole env;
  env.reset(3);
  std::array<double, 4> lo{1, 1, 1, 1}, hi{-1, -1, -1, -1};
  for (int i = 0; i < 2000; ++i) {
    env.reset();
    for (int k = 0; k < 4; ++k) {
      REQUIRE(env.state()[k] >= -0.05);
      REQUIRE(env.state()[k] < 0.05);
      lo[k] = std::min(lo[k], env.state()[k]);
      hi[k] = std::max(hi[k], env.state()[k]);
    }
    CHECK(env.elapsed_steps() == 0);
  }
  for (int k = 0; k < 4; ++k) {  // the draws fill the interval
    CHECK(lo[k] < -0.049);
    CHECK(hi[k] > 0.049);
  }
}

TEST_CASE("cartpole save and load state continue bit-exactly and a bad blob changes nothing") {
  CartPole a;
  a.reset(11);
  for (int i = 0; i < 5; ++i) a.step(i % 2);
  std::string blob;
  a.save_state(blob);
  CartPole b;
  b.load_state(blob);
  std::string again;
  b.save_state(again);
  CHECK(again == blob);
  for (int i = 0; i < 3; ++i) {
    a.step(1), b.step(1);
    CHECK(a.state() == b.state());
  }
  a.reset(), b.reset();  // the Rng was carried over too
  CHECK(a.state() == b.state());

  const CartPoleState before = b.state();
  CHECK_THROWS_AS(b.load_state(blob.substr(0, blob.size() - 1)), Error);
  CHECK_THROWS_AS(b.load_state("nonsense"), Error);
  CHECK_THROWS_AS(b.load_state(blob + "x"), Error);
  CHECK(b.state() == before);
  CartPole other(200);
  CHECK_THROWS_AS(other.load_state(blob), Error);
}

TEST_CASE("cartpole load_state refuses states step() cannot produce, naming them") {
  CartPole a;
  a.reset(3);
  a.step(1);
  std::string blob;
  a.save_state(blob);
  // Layout: tag (u32 length + "cartpole/1"), max_episode_steps i64, Rng (4 x u64), state
  // (4 x f64), elapsed i64, done u8, terminated u8.
  constexpr std::size_t kState = 4 + 10 + 8 + 32, kElapsed = kState + 32, kDone = kElapsed + 8;
  REQUIRE(blob.size() == kDone + 2);
  auto patched = [&](std::size_t offset, auto value) {
    std::string out = blob;
    std::memcpy(out.data() + offset, &value, sizeof value);
    return out;
  };
  const struct {
    std::string blob;
    const char* expected;
  } cases[] = {
      {patched(kState + 16, std::nan("")), "state holds nan"},
      {patched(kState, static_cast<double>(INFINITY)), "state holds inf"},
      {patched(kState + 8, 1e300), "state holds 1e+300"},         // finite, but far from CartPole
      {patched(kState, 2.5), "past the termination thresholds"},  // x beyond 2.4, still live
      {patched(kElapsed, std::int64_t{501}), "elapsed steps 501 of at most 500"},
      {patched(kElapsed, std::int64_t{-1}), "elapsed steps -1"},
      {patched(kDone, std::uint8_t{1}), "done flag is 1 with terminated 0 after 1 of 500"},
      {patched(kDone + 1, std::uint8_t{1}), "done flag is 0 with terminated 1"},
      {patched(kElapsed, std::int64_t{500}), "done flag is 0 with terminated 0 after 500"},
  };
  for (const auto& c : cases) {
    const std::string expected = c.expected;
    CAPTURE(expected);
    CartPole b;
    b.reset(9);
    const CartPoleState before = b.state();
    try {
      b.load_state(c.blob);
      FAIL("expected an Error");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find(c.expected) != std::string::npos);
    }
    CHECK(b.state() == before);
  }
}

TEST_CASE("cartpole renders a text line and Gymnasium's 600x400 picture") {
  CartPole env;
  env.set_state({0, 0, 0, 0});
  const std::string line = env.render_text();
  CHECK(line.find("x=+0.0000") != std::string::npos);
  CHECK(line.find('|') != std::string::npos);

  std::vector<std::uint8_t> rgb(400 * 600 * 3, 7);
  env.render_rgb(rgb.data());
  auto px = [&](int row, int col, int c) { return rgb[(row * 600 + col) * 3 + c]; };
  CHECK(px(0, 0, 0) == 255);              // white background
  CHECK(px(399 - 100, 10, 0) == 0);       // the track at y = 100
  CHECK(px(399 - 95, 300 - 20, 1) == 0);  // inside the black cart (y 85..115, x 275..325)
  CHECK(px(399 - 107, 300, 0) == 129);    // the axle at (300, 107.5)
  CHECK(px(399 - 200, 300, 0) == 202);    // the upright pole above the axle
  CHECK(px(399 - 200, 320, 0) == 255);    // beside the pole
}

TEST_CASE("make_env builds cartpole and names the valid envs for an unknown name") {
  auto env = make_env("cartpole");
  CHECK(env->name() == "cartpole");
  CHECK(env->observation_shape() == Shape{4});
  CHECK_FALSE(env->observation_is_u8());
  CHECK(env->num_actions() == 2);
  CHECK_THROWS_AS(env->observation_u8(), Error);
  try {
    make_env("cartpol");
    FAIL("expected an Error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find(
              "cartpole, mini:breakout, mini:pong, mini:catch, ale:raw, ale:alien") !=
          std::string::npos);
  }
}
