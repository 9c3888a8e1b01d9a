// Tests for envs/rom_game.hpp: a ROM on our own 2600 behind AtariPreprocessing, as DQN sees it.
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "envs/atari2600/ale.hpp"
#include "envs/atari2600/bundled.hpp"
#include "envs/atari2600/palette.hpp"
#include "envs/atari_preprocessing.hpp"
#include "envs/env.hpp"
#include "envs/rom_game.hpp"

using namespace dqn;

namespace {

std::string source(const std::string& path) {
  return std::string(DQN_SOURCE_DIR) + "/" + path;
}

std::vector<std::uint8_t> read_rom(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("rom game: a probe ROM steps through AtariPreprocessing, its screens ALE's") {
  const std::string rom = source("tests/atari2600/probes/hmove.bin");
  // The emulator alone, one frame at a time: the reference for what the env must show.
  atari2600::AleRunner direct(read_rom(rom));
  RomGame game(read_rom(rom), "raw", AtariSettings{});
  for (int f = 0; f < 20; ++f) {
    REQUIRE(game.act(atari2600::kNoop) == direct.act(atari2600::kNoop));
    std::vector<std::uint8_t> indices(210 * 160), grey(210 * 160), rgb(210 * 160 * 3);
    game.get_screen(indices.data());
    game.get_screen_grayscale(grey.data());
    game.get_screen_rgb(rgb.data());
    REQUIRE(std::memcmp(indices.data(), direct.console().screen(), indices.size()) == 0);
    std::vector<std::uint8_t> want_grey(indices.size()), want_rgb(rgb.size());
    for (std::size_t i = 0; i < indices.size(); ++i) {
      want_grey[i] = atari2600::ntsc_grey(indices[i]);
      const std::uint32_t c = atari2600::ntsc_palette()[indices[i]];
      want_rgb[3 * i] = static_cast<std::uint8_t>(c >> 16);
      want_rgb[3 * i + 1] = static_cast<std::uint8_t>(c >> 8);
      want_rgb[3 * i + 2] = static_cast<std::uint8_t>(c);
    }
    REQUIRE(grey == want_grey);
    REQUIRE(rgb == want_rgb);
  }
  CHECK(game.frame_number() == static_cast<std::int64_t>(direct.frame()));

  EnvOptions o;
  o.rom_path = rom;
  auto env = make_env("ale:raw", o);
  CHECK(env->observation_shape() == Shape{4, 84, 84});
  CHECK(env->num_actions() == static_cast<std::int64_t>(game.minimal_action_set().size()));
  env->reset(3);
  for (int i = 0; i < 10; ++i) CHECK_FALSE(env->step(0).terminated);  // raw: never over
}

TEST_CASE("rom game: save and load continue bit-exactly, and bad ROM paths are refused") {
  EnvOptions o;
  o.rom_path = source("tests/atari2600/probes/paddles.bin");
  auto a = make_env("ale:raw", o), b = make_env("ale:raw", o);
  a->reset(1);
  for (int i = 0; i < 30; ++i) a->step(i % a->num_actions());
  std::string blob;
  a->save_state(blob);
  b->load_state(blob);
  for (int i = 0; i < 30; ++i) {
    a->step((i * 5) % a->num_actions());
    b->step((i * 5) % b->num_actions());
    REQUIRE(std::memcmp(a->observation_u8(), b->observation_u8(), 4 * 84 * 84) == 0);
  }
  CHECK_THROWS_AS(make_env("ale:raw", EnvOptions{}), Error);  // no ROM given
  EnvOptions folder;
  folder.rom_path = source("tests");
  CHECK_THROWS_AS(make_env("ale:raw", folder), Error);
  EnvOptions unknown = o;
  CHECK_THROWS_AS(make_env("ale:pitfall", unknown), Error);  // no rules for it yet
}

TEST_CASE("rom game: Tetris under random play through AtariPreprocessing reaches game over") {
  const std::string rom = std::string(DQN_SOURCE_DIR) + "/../shared/atari/roms/tetris.bin";
  if (!std::filesystem::exists(rom)) {
    MESSAGE("skipped: " << rom << " is absent (the Atari kit lives in ../shared/atari)");
    return;
  }
  EnvOptions o;
  o.rom_path = rom;
  o.noop_max = 0;
  auto env = make_env("ale:tetris", o);
  env->reset(7);
  Rng rng(7);
  StepResult r;
  std::int64_t steps = 0;
  do {
    r = env->step(rng.uniform_int(0, env->num_actions()));
    ++steps;
  } while (!r.terminated && !r.truncated && steps < 20000);
  MESSAGE("Tetris: game over after " << steps << " agent steps (4 frames each)");
  CHECK(r.terminated);
  CHECK_FALSE(r.truncated);
}

TEST_CASE("rom game: ale:tetris finds its ROM in --roms or DQN_ROMS by MD5, mini: games build") {
  const std::string kit = std::string(DQN_SOURCE_DIR) + "/../shared/atari/roms";
  CHECK(make_env("mini:pong")->num_actions() == 6);
  CHECK(make_env("mini:catch")->num_actions() == 3);
  CHECK_THROWS_WITH_AS(make_env("ale:pong", EnvOptions{}), doctest::Contains("pong.bin (md5"),
                       Error);
  if (!std::filesystem::exists(kit + "/tetris.bin")) {
    MESSAGE("skipped the Tetris part: " << kit << "/tetris.bin is absent");
    return;
  }
  EnvOptions o;
  o.rom_dir = kit;
  CHECK(make_env("ale:tetris", o)->num_actions() == 5);  // NOOP FIRE RIGHT LEFT DOWN
  const char* before = std::getenv("DQN_ROMS");
  const std::string saved = before ? before : "";
  setenv("DQN_ROMS", kit.c_str(), 1);
  CHECK(make_env("ale:tetris", EnvOptions{})->num_actions() == 5);
  EnvOptions full;
  full.full_action_space = true;
  CHECK(make_env("ale:tetris", full)->num_actions() == 18);
  if (before)
    setenv("DQN_ROMS", saved.c_str(), 1);
  else
    unsetenv("DQN_ROMS");
}

TEST_CASE("rom game: modes and difficulties reach the game, checked against its lists") {
  EnvOptions o;
  o.rom_path = source("tests/atari2600/probes/paddles.bin");
  o.game_mode = 0;
  CHECK(make_env("ale:raw", o)->num_actions() == 18);  // raw has mode 0 only
  o.game_mode = 3;
  CHECK_THROWS_WITH_AS(make_env("ale:raw", o), doctest::Contains("its modes are 0"), Error);
  o.game_mode = -1;
  o.game_difficulty = 2;
  CHECK_THROWS_WITH_AS(make_env("ale:raw", o), doctest::Contains("its difficulties are 0"), Error);
  EnvOptions mini;
  mini.game_difficulty = 1;
  CHECK_THROWS_WITH_AS(make_env("mini:breakout", mini), doctest::Contains("ale: games only"),
                       Error);
}

// Our own cartridge needs no ROM file: its bytes are in the library (envs/atari2600/bundled.hpp),
// so ale:catch2600 builds from any folder, with or without --roms, and a wrong --rom is refused.
TEST_CASE("rom game: ale:catch2600 runs with no ROM file, ten balls to a game") {
  EnvOptions o;
  o.noop_max = 0;
  auto env = make_env("ale:catch2600", o);
  CHECK(env->num_actions() == 3);  // NOOP RIGHT LEFT
  env->reset(3);
  Rng rng(3);
  StepResult r;
  std::int64_t steps = 0;
  double score = 0;
  do {
    r = env->step(rng.uniform_int(0, env->num_actions()));
    score += r.reward;
    ++steps;
  } while (!r.terminated && !r.truncated && steps < 1000);
  CHECK(r.terminated);
  // Ten balls of 81 frames each, 4 frames an agent step: the tenth lands in step 203.
  CHECK(steps == 203);
  CHECK(score >= -10);
  CHECK(score <= 10);
  EnvOptions elsewhere;
  elsewhere.rom_dir = source("tests");  // a folder without it: the built-in ROM still serves
  CHECK(make_env("ale:catch2600", elsewhere)->num_actions() == 3);
  EnvOptions wrong;
  wrong.rom_path = source("tests/atari2600/probes/probe.bin");
  CHECK_THROWS_WITH_AS(make_env("ale:catch2600", wrong), doctest::Contains("catch2600.bin (md5"),
                       Error);
}

// ALE's act() draws its two sticky-action numbers for every frame of a frame skip, also for the
// frames after a game over (the Atari kit's README 4.8). A catch2600 game ends inside an agent
// step (ten balls of 81 frames: 202.5 steps), so AtariPreprocessing, which repeats the frames
// itself, must still draw for the 2 frames left, or the next game runs on other numbers than the
// emulator doing ALE's own frame skip. Six games, step by step, one path against the other.
TEST_CASE("rom game: sticky actions stay in step with ALE's act() after a game over mid skip") {
  const std::uint32_t seed = 7;
  atari2600::AleOptions ao;
  ao.game = "catch2600";
  ao.frame_skip = 4;
  ao.repeat_action_probability = 0.25;
  ao.random_seed = seed;
  const auto rom = atari2600::catch2600_rom();
  atari2600::AleRunner runner(std::vector<std::uint8_t>(rom.begin(), rom.end()), ao);
  EnvOptions o;
  o.noop_max = 0;
  o.repeat_action_probability = 0.25;
  auto env = make_env("ale:catch2600", o);
  env->reset(seed);
  const std::vector<int> ale_actions = runner.minimal_actions();
  REQUIRE(static_cast<std::int64_t>(ale_actions.size()) == env->num_actions());
  Rng rng(11);
  std::vector<int> ale_rewards, env_rewards;
  for (int game = 0; game < 6; ++game) {
    runner.reset_game();  // env->reset(seed), as Gymnasium's, loads the ROM and then resets too
    if (game > 0) env->reset();
    for (std::int64_t step = 0;; ++step) {
      REQUIRE(step < 1000);
      const std::int64_t a = rng.uniform_int(0, env->num_actions());
      ale_rewards.push_back(runner.act(ale_actions[static_cast<std::size_t>(a)]));
      const StepResult r = env->step(a);
      env_rewards.push_back(static_cast<int>(r.raw_reward));
      REQUIRE(runner.terminal() == r.terminated);
      if (r.terminated) break;
    }
  }
  CHECK(ale_rewards.size() == 6 * 203);
  CHECK(ale_rewards == env_rewards);
}
