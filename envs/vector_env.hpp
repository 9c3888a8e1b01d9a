// envs/vector_env.hpp: N copies of an env stepped together, with auto-reset.
//
//   VectorEnv envs = VectorEnv::make("breakout", 8);
//   envs.reset(42);                          // env i: reset(42 + i), as gymnasium's vector envs
//   const auto& results = envs.step(actions);  // actions (N)
//   const std::uint8_t* obs = envs.observations_u8();   // (N, 4, 84, 84)
//   for i: if (results[i].terminated || results[i].truncated)
//            final = envs.final_observation_u8(i);     // the episode's true last observation
//
// Auto-reset: an env whose episode ended this step is reset at once, and observations() holds
// its new episode's first observation. The observation the finished step produced is kept in
// final_observation(i): a truncated episode must bootstrap from it, never from the reset one
// (that would value the first state of the next episode as the successor).
//
// Threads: steps run through dqn::parallel_for with a grain chosen per env kind: 1 env per chunk
// for Atari (one step is ~10-50 us of emulation and resizing, far above the ~1 us cost of waking
// a thread) and 4096 per chunk for CartPole (a step is ~20 ns, so only thousands of envs pay
// for a thread). Each env owns its Rng and is stepped by exactly one thread, so results are the
// same bits for any thread count.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.hpp"
#include "envs/env.hpp"

namespace dqn {

class VectorEnv {
 public:
  // All envs must share the observation shape, type and action count.
  explicit VectorEnv(std::vector<std::unique_ptr<Env>> envs);
  static VectorEnv make(const std::string& name, std::int64_t n, const EnvOptions& options = {});

  std::int64_t size() const { return static_cast<std::int64_t>(envs_.size()); }
  Shape single_observation_shape() const { return envs_[0]->observation_shape(); }
  bool observation_is_u8() const { return u8_; }
  std::int64_t num_actions() const { return envs_[0]->num_actions(); }
  std::int64_t grain() const { return grain_; }

  // Env i: reset(seed + i). Clears the final observations and episode statistics.
  void reset(std::uint64_t seed);
  // actions (N), each in [0, num_actions); throws before stepping anything if one is not.
  const std::vector<StepResult>& step(const std::int64_t* actions);
  const std::vector<StepResult>& step(const std::vector<std::int64_t>& actions) {
    DQN_CHECK(static_cast<std::int64_t>(actions.size()) == size(), "VectorEnv::step: expected ",
              size(), " actions, got ", actions.size());
    return step(actions.data());
  }

  // (N, observation shape): the current observation of each env.
  const float* observations_f32() const;
  const std::uint8_t* observations_u8() const;
  // Whether env i's episode ended on the last step, and then its last observation.
  bool has_final_observation(std::int64_t i) const {
    return has_final_[static_cast<std::size_t>(i)];
  }
  const float* final_observation_f32(std::int64_t i) const;
  const std::uint8_t* final_observation_u8(std::int64_t i) const;
  // Return (sum of raw rewards) and length of the episode that ended on the last step in env i.
  double final_episode_return(std::int64_t i) const {
    return final_return_[static_cast<std::size_t>(i)];
  }
  std::int64_t final_episode_length(std::int64_t i) const {
    return final_length_[static_cast<std::size_t>(i)];
  }

  Env& env(std::int64_t i) { return *envs_[static_cast<std::size_t>(i)]; }

  void save_state(std::string& blob) const;
  void load_state(std::string_view blob);

 private:
  void copy_observation(std::int64_t i, bool to_final);

  std::vector<std::unique_ptr<Env>> envs_;
  bool u8_;
  std::int64_t obs_size_;  // values per observation
  std::int64_t grain_;
  bool started_ = false;  // reset(seed) or load_state has run
  std::vector<StepResult> results_;
  std::vector<float> obs_f32_, final_f32_;
  std::vector<std::uint8_t> obs_u8_, final_u8_;
  std::vector<std::uint8_t> has_final_;
  std::vector<double> episode_return_, final_return_;
  std::vector<std::int64_t> episode_length_, final_length_;
};

}  // namespace dqn
