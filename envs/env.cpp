// envs/env.cpp: the Env defaults and make_env, the one place that maps names to envs.
#include "envs/env.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "core/error.hpp"
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

std::unique_ptr<Env> make_env(const std::string& name, const EnvOptions& options) {
  if (name == "cartpole") return std::make_unique<CartPole>(options.max_episode_steps);
  if (name == "breakout" || name == "pong" || name == "catch") {
    AtariSettings settings;
    settings.repeat_action_probability = options.repeat_action_probability;
    return std::make_unique<AtariPreprocessing>(make_atari_game(name, settings), options);
  }
  if (name.rfind("ale:", 0) == 0) {
    DQN_CHECK(!options.rom_path.empty(), "make_env: ", name,
              " runs a ROM on the emulator: give its file (EnvOptions::rom_path, --rom)");
    std::error_code ec;
    DQN_CHECK(std::filesystem::is_regular_file(options.rom_path, ec), "make_env: the ROM '",
              options.rom_path, "' is not a regular file; give the path of a .bin ROM image");
    // Cartridge schemes here address at most 512 KiB; a larger file is not a 2600 ROM.
    const auto size = std::filesystem::file_size(options.rom_path, ec);
    DQN_CHECK(!ec && size <= (1u << 20), "make_env: the ROM '", options.rom_path, "' is ", size,
              " bytes, more than any 2600 cartridge holds; is it the right file?");
    std::ifstream in(options.rom_path, std::ios::binary);
    std::vector<std::uint8_t> rom((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
    AtariSettings settings;
    settings.repeat_action_probability = options.repeat_action_probability;
    return std::make_unique<AtariPreprocessing>(
        std::make_unique<RomGame>(std::move(rom), name.substr(4), settings), options);
  }
  throw_error(
      "make_env: expected one of cartpole, breakout, pong, catch, ale:raw, ale:tetris, got '", name,
      "'");
}

}  // namespace dqn
