// envs/rom_game.cpp: the emulator behind the AtariScreen interface.
#include "envs/rom_game.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "envs/atari2600/error.hpp"
#include "envs/atari2600/palette.hpp"

namespace dqn {

RomGame::RomGame(std::vector<std::uint8_t> rom, const std::string& game,
                 const AtariSettings& settings)
    : rom_(std::move(rom)), game_(game), settings_(settings) {
  DQN_CHECK(atari2600::find_game(game_) != nullptr, "RomGame: no game logic '", game_,
            "'; the emulator knows raw and the games of envs/atari2600/games.hpp (dqn roms)");
  runner_ = make_runner(static_cast<std::uint32_t>(settings_.random_seed));
}

std::unique_ptr<atari2600::AleRunner> RomGame::make_runner(std::uint32_t seed) const {
  atari2600::AleOptions o;
  o.game = game_;
  o.frame_skip = 1;  // AtariPreprocessing repeats frames itself
  o.repeat_action_probability = settings_.repeat_action_probability;
  o.random_seed = seed;
  o.mode = settings_.mode;
  o.difficulty = settings_.difficulty;
  try {
    auto runner = std::make_unique<atari2600::AleRunner>(rom_, o);
    DQN_CHECK(runner->console().screen_height() == kHeight, "RomGame: the ROM's screen has ",
              runner->console().screen_height(), " rows, expected ", kHeight,
              " (a PAL ROM? ALE's NTSC window is 210 rows)");
    return runner;
  } catch (const atari2600::Error& e) {
    throw_error("RomGame: ", e.what());
  }
}

void RomGame::reset_game() {
  try {
    runner_->reset_game();
  } catch (const atari2600::Error& e) {  // a mode that never shows, or a CPU jam
    throw_error("RomGame: ", e.what());
  }
}

void RomGame::set_seed(std::uint64_t seed) {
  // ALE's random_seed is a 32-bit int; the emulator's draws come from std::mt19937 as ALE's do.
  runner_ = make_runner(static_cast<std::uint32_t>(seed));
}

int RomGame::act(int action) {
  try {
    return runner_->act(action);
  } catch (const atari2600::Error& e) {  // a CPU jam: the ROM cannot go on
    throw_error("RomGame: ", e.what());
  }
}

void RomGame::idle_frame(int action) {
  runner_->idle_frame(action);
}

const std::uint8_t* RomGame::screen() const {
  return runner_->console().screen();
}

void RomGame::get_screen(std::uint8_t* palette_indices) const {
  std::copy_n(screen(), kHeight * kWidth, palette_indices);
}

void RomGame::get_screen_grayscale(std::uint8_t* grey) const {
  const std::uint8_t* s = screen();
  const auto& table = atari2600::ntsc_grey_table();
  for (int i = 0; i < kHeight * kWidth; ++i) grey[i] = table[s[i]];
}

void RomGame::get_screen_rgb(std::uint8_t* rgb) const {
  const auto& palette = atari2600::ntsc_palette();
  const std::uint8_t* s = screen();
  for (int i = 0; i < kHeight * kWidth; ++i) {
    const std::uint32_t c = palette[s[i]];
    rgb[3 * i] = static_cast<std::uint8_t>(c >> 16);
    rgb[3 * i + 1] = static_cast<std::uint8_t>(c >> 8);
    rgb[3 * i + 2] = static_cast<std::uint8_t>(c);
  }
}

void RomGame::save_state(std::string& blob) const {
  blob = runner_->save_state();
}

void RomGame::load_state(std::string_view blob) {
  try {
    runner_->load_state(std::string(blob));
  } catch (const atari2600::Error& e) {
    throw_error("RomGame: ", e.what());
  }
}

}  // namespace dqn
