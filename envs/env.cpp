// envs/env.cpp: the Env defaults and make_env, the one place that maps names to envs.
#include "envs/env.hpp"

#include <cstdlib>
#include <iostream>
#include <mutex>
#include <set>
#include <vector>

#include "core/error.hpp"
#include "envs/atari2600/error.hpp"
#include "envs/atari2600/roms.hpp"
#include "envs/atari_preprocessing.hpp"
#include "envs/atari_screen.hpp"
#include "envs/cartpole.hpp"
#include "envs/rom_game.hpp"

namespace dqn {

const float* Env::observation_f32() const {
  throw_error(name(), ": observations are uint8 ", observation_shape().str(),
              ", not float32: call observation_u8() (observation_is_u8() says which)");
}

const std::uint8_t* Env::observation_u8() const {
  throw_error(name(), ": observations are float32 ", observation_shape().str(),
              ", not uint8: call observation_f32() (observation_is_u8() says which)");
}

std::vector<std::string> env_names() {
  std::vector<std::string> names = {"cartpole", "mini:breakout", "mini:pong", "mini:catch",
                                    "ale:raw"};
  for (const auto& g : atari2600::games()) names.push_back("ale:" + std::string(g.id));
  return names;
}

std::unique_ptr<Env> make_env(const std::string& name, const EnvOptions& options) {
  if (name == "cartpole") return std::make_unique<CartPole>(options.max_episode_steps);
  // The built-in games (envs/breakout.hpp, pong.hpp, catch.hpp) are "mini:" games so that
  // nobody takes them, or their scores, for ALE's; the bare names of earlier runs still work.
  const std::string mini = name.rfind("mini:", 0) == 0 ? name.substr(5) : name;
  const bool rom_game = name.rfind("ale:", 0) == 0;
  DQN_CHECK(rom_game || (options.game_mode == -1 && options.game_difficulty == 0),
            "make_env: ", name,
            " has no ALE modes or difficulties; game_mode and game_difficulty apply to ale: "
            "games only (leave them at -1 and 0)");
  if (mini == "breakout" || mini == "pong" || mini == "catch") {
    AtariSettings settings;
    settings.repeat_action_probability = options.repeat_action_probability;
    return std::make_unique<AtariPreprocessing>(make_atari_game(mini, settings), options);
  }
  if (rom_game) {
    // The ROM: --rom, else the folder of --roms or DQN_ROMS, searched by MD5 (issue #17).
    std::string rom_dir = options.rom_dir;
    if (const char* env = std::getenv("DQN_ROMS"); rom_dir.empty() && env) rom_dir = env;
    atari2600::LoadedRom rom;
    try {
      rom = atari2600::load_rom(name.substr(4), options.rom_path, rom_dir);
    } catch (const atari2600::Error& e) {
      throw_error("make_env: ", e.what());
    }
    if (!rom.warning.empty()) {
      // Said once per file and process (a run makes a training and an evaluation env).
      static std::mutex mutex;
      static std::set<std::string> warned;
      const std::lock_guard<std::mutex> lock(mutex);
      if (warned.insert(rom.path.string()).second)
        std::cerr << "dqn: warning: " << rom.warning << "\n";
    }
    AtariSettings settings;
    settings.repeat_action_probability = options.repeat_action_probability;
    settings.mode = options.game_mode;
    settings.difficulty = options.game_difficulty;
    return std::make_unique<AtariPreprocessing>(
        std::make_unique<RomGame>(std::move(rom.bytes), name.substr(4), settings), options);
  }
  std::string valid;
  for (const auto& n : env_names()) valid.append(valid.empty() ? "" : ", ").append(n);
  throw_error("make_env: expected one of ", valid, "; got '", name, "'");
}

}  // namespace dqn
