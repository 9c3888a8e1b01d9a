// Parity of 26 games (those whose mode loop ends on Tetris's RAM, less up_n_down: see the script)
// with the ALE oracle running that game's logic on tetris.bin (goldens/games_on_tetris.txt, made by
// make_game_goldens.sh): per step and per reset, the frame counters (mode loops, soft resets,
// starting actions), action (the minimal set), reward, terminal, lives and screen. The ROM comes
// from ../shared/atari; the test skips with a message without it.
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "envs/atari2600/ale.hpp"
#include "envs/atari2600/error.hpp"
#include "shared_kit.hpp"
#include "tests/under_asan.hpp"

using namespace atari2600;

namespace {

std::string hash_text(const AleRunner& r) {
  const Console& c = r.console();
  const std::uint64_t h =
      screen_hash(c.screen(), static_cast<std::size_t>(c.screen_height()) * Tia::kWidth);
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(h));
  return text;
}

std::string line(const char* kind, const AleRunner& r, const std::string& action,
                 const std::string& reward) {
  std::ostringstream s;
  s << kind << ' ' << r.tia_frames() << ' ' << r.frame() << ' ' << r.episode_frame() << ' '
    << action << ' ' << reward << ' ' << int(r.terminal()) << ' ' << r.lives() << ' '
    << hash_text(r);
  return s.str();
}

}  // namespace

// ASan checks memory; the release run checks parity. 26 games' 400 steps with their reset
// protocols take 18 s in release and well over 15 minutes under ASan, while every game's
// synthetic-RAM test (test_games.cpp) and the Tetris parity run the same code there.
using dqn::test::kUnderAsan;

TEST_CASE("every game's logic on tetris.bin matches the ALE oracle step for step" *
          doctest::skip(kUnderAsan)) {
  if (!atari2600_test::kit_has("roms/tetris.bin")) {
    MESSAGE("skipped: no ../shared/atari/roms/tetris.bin (set ATARI_SHARED_DIR to the kit)");
    return;
  }
  const auto rom = atari2600_test::read_bytes(atari2600_test::shared_kit() / "roms/tetris.bin");
  std::ifstream in(atari2600_test::source_path("tests/atari2600/goldens/games_on_tetris.txt"));
  REQUIRE(in);
  std::vector<std::pair<std::string, std::vector<std::string>>> runs;
  for (std::string text; std::getline(in, text);) {
    if (text.empty() || text[0] == '#') continue;
    if (text.rfind("game ", 0) == 0) {
      runs.push_back({text.substr(5), {}});
    } else {
      REQUIRE(!runs.empty());
      runs.back().second.push_back(text);
    }
  }
  CHECK(runs.size() == 26);
  for (const auto& [game, expected] : runs) {
    INFO("game " << game);
    AleOptions o;
    o.game = game;
    AleRunner runner(rom, o);
    std::vector<std::string> got{line("reset", runner, "-", "-")};
    std::mt19937 g(1);  // the oracle's --random 400 --seed 1
    const std::vector<int> minimal = runner.minimal_actions();
    while (got.size() < expected.size()) {
      const int action = minimal[g() % minimal.size()];
      const int reward = runner.act(action);
      got.push_back(line("step", runner, std::to_string(action), std::to_string(reward)));
      if (runner.terminal() || runner.truncated()) {
        runner.reset_game();
        got.push_back(line("reset", runner, "-", "-"));
      }
    }
    std::size_t first_bad = 0;
    while (first_bad < expected.size() && got[first_bad] == expected[first_bad]) ++first_bad;
    INFO("line " << first_bad);
    INFO("oracle: " << (first_bad < expected.size() ? expected[first_bad] : ""));
    INFO("ours:   " << (first_bad < got.size() ? got[first_bad] : ""));
    CHECK(first_bad == expected.size());
  }
}

TEST_CASE("a mode that never shows in RAM is an error, not ALE's endless loop") {
  if (!atari2600_test::kit_has("roms/tetris.bin")) {
    MESSAGE("skipped: no ../shared/atari/roms/tetris.bin (set ATARI_SHARED_DIR to the kit)");
    return;
  }
  const auto rom = atari2600_test::read_bytes(atari2600_test::shared_kit() / "roms/tetris.bin");
  AleOptions o;
  o.game = "demon_attack";  // waits for $EA = 1, which Tetris never writes
  CHECK_THROWS_WITH_AS(AleRunner(rom, o), doctest::Contains("never appeared"), Error);
}

TEST_CASE("modes and difficulties outside a game's lists are refused with the lists") {
  const auto rom =
      atari2600_test::read_bytes(atari2600_test::source_path("tests/atari2600/probes/probe.bin"));
  AleOptions o;
  o.game = "breakout";
  o.mode = 2;
  CHECK_THROWS_WITH_AS(AleRunner(rom, o), doctest::Contains("0, 4, 8"), Error);
  o.mode = -1;
  o.difficulty = 2;
  CHECK_THROWS_WITH_AS(AleRunner(rom, o), doctest::Contains("difficulties are 0, 1"), Error);
}

TEST_CASE("the difficulty switches reach SWCHB bits 6 and 7") {
  const auto rom =
      atari2600_test::read_bytes(atari2600_test::source_path("tests/atari2600/probes/probe.bin"));
  Console console(rom);
  for (int d = 0; d < 4; ++d) {
    Inputs in;
    in.difficulty = d;
    console.set_inputs(in);
    const int swchb = console.riot().state().swchb;
    CHECK(((swchb >> 6) & 1) == (d & 1));
    CHECK(((swchb >> 7) & 1) == (d >> 1));
    CHECK((swchb & 0x3F) == 0x3F);
  }
}

TEST_CASE("a run saved mid-game continues with the same game logic state (beam_rider's counter)") {
  if (!atari2600_test::kit_has("roms/tetris.bin")) {
    MESSAGE("skipped: no ../shared/atari/roms/tetris.bin (set ATARI_SHARED_DIR to the kit)");
    return;
  }
  const auto rom = atari2600_test::read_bytes(atari2600_test::shared_kit() / "roms/tetris.bin");
  AleOptions o;
  o.game = "beam_rider";  // a lives counter of its own, read from RAM through a latch
  AleRunner a(rom, o), b(rom, o);
  std::mt19937 g(3);
  for (int i = 0; i < 200; ++i) a.act(static_cast<int>(g() % 18));
  b.load_state(a.save_state());
  CHECK(a.save_state() == b.save_state());
  for (int i = 0; i < 300; ++i) {
    const int action = static_cast<int>(g() % 18);
    REQUIRE(a.act(action) == b.act(action));
    REQUIRE(a.lives() == b.lives());
    REQUIRE(a.terminal() == b.terminal());
    if (a.terminal()) a.reset_game(), b.reset_game();
  }
}
