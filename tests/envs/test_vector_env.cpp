// Tests for envs/vector_env.{hpp,cpp}: auto-reset keeps the true final observation, results
// match single envs, and the bits do not depend on the thread count.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "envs/cartpole.hpp"
#include "envs/vector_env.hpp"

using namespace dqn;

TEST_CASE("vector env keeps the final observation of a truncated episode and auto-resets") {
  EnvOptions o;
  o.max_episode_steps = 5;
  VectorEnv envs = VectorEnv::make("cartpole", 3, o);
  CHECK_THROWS_AS(envs.step(std::vector<std::int64_t>{0, 0, 0}), Error);  // before reset
  envs.reset(10);
  CartPole single(5);
  single.reset(11);  // env 1 was reset with seed 10 + 1
  CHECK(std::memcmp(envs.observations_f32() + 4, single.observation_f32(), 16) == 0);
  for (int t = 1; t <= 5; ++t) {
    const auto& results = envs.step(std::vector<std::int64_t>{1, t % 2, 0});
    const StepResult r = single.step(t % 2);
    CHECK(results[1].truncated == r.truncated);
    CHECK(results[1].terminated == r.terminated);
    CHECK(envs.has_final_observation(1) == (t == 5));
    if (t < 5) CHECK(std::memcmp(envs.observations_f32() + 4, single.observation_f32(), 16) == 0);
  }
  // The final observation is the one the truncating step produced; the current one starts the
  // next episode (reset() of env 1 drawing from its own Rng, as single.reset() does).
  CHECK(std::memcmp(envs.final_observation_f32(1), single.observation_f32(), 16) == 0);
  CHECK(envs.final_episode_length(1) == 5);
  CHECK(envs.final_episode_return(1) == 5.0);
  single.reset();
  CHECK(std::memcmp(envs.observations_f32() + 4, single.observation_f32(), 16) == 0);
  CHECK_FALSE(std::memcmp(envs.final_observation_f32(1), envs.observations_f32() + 4, 16) == 0);
  envs.step(std::vector<std::int64_t>{0, 0, 0});
  CHECK_FALSE(envs.has_final_observation(1));
  CHECK_THROWS_AS(envs.final_observation_f32(1), Error);
}

TEST_CASE("vector env rejects bad actions before stepping and mismatched envs") {
  VectorEnv envs = VectorEnv::make("cartpole", 2);
  envs.reset(1);
  const std::vector<float> before(envs.observations_f32(), envs.observations_f32() + 8);
  CHECK_THROWS_AS(envs.step(std::vector<std::int64_t>{0, 2}), Error);
  CHECK_THROWS_AS(envs.step(std::vector<std::int64_t>{0}), Error);
  CHECK(std::memcmp(before.data(), envs.observations_f32(), 32) == 0);  // env 0 did not step
  std::vector<std::unique_ptr<Env>> mixed;
  mixed.push_back(make_env("cartpole"));
  mixed.push_back(make_env("pong"));
  CHECK_THROWS_AS(VectorEnv(std::move(mixed)), Error);
  CHECK(envs.grain() == 4096);
}

TEST_CASE("vector env gives the same bits with 1 and 2 threads") {
  auto run = [](int threads) {
    ThreadScope scope(threads);
    VectorEnv envs = VectorEnv::make("breakout", 4);
    CHECK(envs.grain() == 1);
    envs.reset(7);
    std::vector<std::uint8_t> trace;
    std::vector<std::int64_t> actions(4);
    for (int t = 0; t < 60; ++t) {
      for (int i = 0; i < 4; ++i) actions[i] = (t * 3 + i) % 4;
      const auto& results = envs.step(actions);
      for (const StepResult& r : results) trace.push_back(static_cast<std::uint8_t>(r.raw_reward));
      trace.insert(trace.end(), envs.observations_u8(), envs.observations_u8() + 4 * 4 * 84 * 84);
    }
    return trace;
  };
  CHECK(run(1) == run(2));
}

TEST_CASE("vector env save and load continue identically") {
  VectorEnv a = VectorEnv::make("pong", 2), b = VectorEnv::make("pong", 2);
  a.reset(3);
  for (int t = 0; t < 30; ++t) a.step(std::vector<std::int64_t>{t % 6, (t + 1) % 6});
  std::string blob;
  a.save_state(blob);
  b.load_state(blob);
  for (int t = 0; t < 30; ++t) {
    a.step(std::vector<std::int64_t>{2, 3});
    b.step(std::vector<std::int64_t>{2, 3});
  }
  CHECK(std::memcmp(a.observations_u8(), b.observations_u8(), 2 * 4 * 84 * 84) == 0);
  VectorEnv c = VectorEnv::make("pong", 3);
  CHECK_THROWS_AS(c.load_state(blob), Error);
}
