// envs/env.cpp: the Env defaults and make_env, the one place that maps names to envs.
#include "envs/env.hpp"

#include "core/error.hpp"
#include "envs/atari_preprocessing.hpp"
#include "envs/atari_screen.hpp"
#include "envs/cartpole.hpp"

namespace dqn {

const float* Env::observation_f32() const {
  throw_error(name(), ": observations are uint8 ", observation_shape().str(),
              ", not float32: call observation_u8() (observation_is_u8() says which)");
}

const std::uint8_t* Env::observation_u8() const {
  throw_error(name(), ": observations are float32 ", observation_shape().str(),
              ", not uint8: call observation_f32() (observation_is_u8() says which)");
}

std::unique_ptr<Env> make_env(const std::string& name, const EnvOptions& options) {
  if (name == "cartpole") return std::make_unique<CartPole>(options.max_episode_steps);
  if (name == "breakout" || name == "pong" || name == "catch") {
    AtariSettings settings;
    settings.repeat_action_probability = options.repeat_action_probability;
    return std::make_unique<AtariPreprocessing>(make_atari_game(name, settings), options);
  }
  throw_error("make_env: expected one of cartpole, breakout, pong, catch, got '", name, "'");
}

}  // namespace dqn
