// envs/rom_game.hpp: a ROM on the project's own Atari 2600 (envs/atari2600/, ALE 0.12's rules)
// as an AtariScreen, so the same AtariPreprocessing (frame skip, max-pool, 84x84, stack) that
// plays the built-in games plays it: the bridge from the emulator to DQN.
//
//   RomGame game(rom_bytes, "tetris", settings);  // "raw" or an id of atari2600::games()
//   AtariPreprocessing env(std::make_unique<RomGame>(...), EnvOptions{});
//
// The game logic (reward, terminal, lives, modes, starting actions) comes from the table in
// envs/atari2600/games.hpp; "raw" has no reward and never ends.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "envs/atari2600/ale.hpp"
#include "envs/atari_screen.hpp"

namespace dqn {

class RomGame final : public AtariScreen {
 public:
  // Loads the ROM the way ALE's loadROM does (power-on and its reset protocol). Throws
  // dqn::Error for bytes that are no ROM the emulator knows, or an unknown game.
  RomGame(std::vector<std::uint8_t> rom, const std::string& game, const AtariSettings& settings);

  std::string game_name() const override { return game_; }
  std::vector<int> minimal_action_set() const override { return runner_->minimal_actions(); }
  void reset_game() override;
  // ALE: setInt("random_seed", seed) then loadROM: a new power-on whose sticky draws follow it.
  void set_seed(std::uint64_t seed) override;
  int act(int action) override;
  void idle_frame(int action) override;
  // The emulator then skips drawing frames (envs/atari2600/console.hpp, "Skipped frames").
  void set_screen_wanted(bool wanted) override { runner_->console().set_render(wanted); }
  bool game_over() const override { return runner_->terminal(); }
  int lives() const override { return runner_->lives(); }
  std::int64_t episode_frame_number() const override {
    return static_cast<std::int64_t>(runner_->episode_frame());
  }
  std::int64_t frame_number() const override { return static_cast<std::int64_t>(runner_->frame()); }
  void get_screen(std::uint8_t* palette_indices) const override;
  void get_screen_grayscale(std::uint8_t* grey) const override;
  void get_screen_rgb(std::uint8_t* rgb) const override;
  void save_state(std::string& blob) const override;
  void load_state(std::string_view blob) override;

 private:
  std::unique_ptr<atari2600::AleRunner> make_runner(std::uint32_t seed) const;
  const std::uint8_t* screen() const;

  std::vector<std::uint8_t> rom_;
  std::string game_;
  AtariSettings settings_;
  std::unique_ptr<atari2600::AleRunner> runner_;
};

}  // namespace dqn
