// Tests for the skipped frames of envs/atari2600/console.hpp (set_render(false)): a console
// told that nobody reads its pixels must still give, whenever they are read, the screens of a
// console that drew every frame, and the same RAM, cycles, frame ends and saved state. The
// hints and reads follow a fixed random pattern, so runs of skipped frames end in drawn ones,
// skipped ones are read, and partial (greyed) frames meet stale buffers.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "envs/atari2600/ale.hpp"
#include "shared_kit.hpp"

using namespace atari2600;
using atari2600_test::kit_has;
using atari2600_test::read_bytes;
using atari2600_test::shared_kit;
using atari2600_test::source_path;

namespace {

bool same_screen(const Console& a, const Console& b) {
  return std::memcmp(a.screen(), b.screen(),
                     static_cast<std::size_t>(a.screen_height()) * Tia::kWidth) == 0;
}

// Steps `drawn` (every frame drawn) and `lazy` (hints from `g`) one frame each with `step`,
// checking after every frame; `frames` frames.
template <class Step>
void compare(Console& drawn, Console& lazy, int frames, std::mt19937& g, Step&& step,
             const std::string& name) {
  int reads = 0, skipped = 0;
  for (int f = 0; f < frames; ++f) {
    const bool render = g() % 3 == 0;
    skipped += render ? 0 : 1;
    lazy.set_render(render);
    step(f);
    INFO(name << ", frame " << f);
    REQUIRE(drawn.ram() == lazy.ram());
    REQUIRE(drawn.cpu().state().cycles == lazy.cpu().state().cycles);
    REQUIRE(drawn.tia().state().collisions == lazy.tia().state().collisions);
    switch (g() % 6) {
      case 0:
        ++reads;
        REQUIRE(same_screen(drawn, lazy));
        break;
      case 1:
        ++reads;
        REQUIRE(drawn.save_state() == lazy.save_state());
        break;
      default:
        break;
    }
  }
  REQUIRE(same_screen(drawn, lazy));
  REQUIRE(drawn.save_state() == lazy.save_state());
  CHECK(reads > 0);
  CHECK(skipped > 0);
}

}  // namespace

TEST_CASE(
    "skip: every probe ROM gives the drawn run's screens, RAM and state with frames skipped") {
  // noio and nosync: partial greyed frames and frames cut at the line cap; collisions, hmove,
  // resp0...: busy kernels whose collisions must still latch in skipped frames.
  int roms = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(source_path("tests/atari2600/probes"))) {
    if (entry.path().extension() != ".bin") continue;
    const auto rom = read_bytes(entry.path());
    Console drawn(rom), lazy(rom);
    drawn.system_reset();
    lazy.system_reset();
    std::mt19937 g(static_cast<std::uint32_t>(roms + 1));
    compare(
        drawn, lazy, 120, g,
        [&](int) {
          const FrameInfo a = drawn.run_frame(), b = lazy.run_frame();
          REQUIRE(a.complete == b.complete);
          REQUIRE(a.lines == b.lines);
        },
        entry.path().filename().string());
    ++roms;
  }
  CHECK(roms >= 28);
}

TEST_CASE("skip: Tetris under random play gives the drawn run's screens with frames skipped") {
  if (!kit_has("roms/tetris.bin")) {
    MESSAGE("skipped: " << shared_kit() / "roms/tetris.bin"
                        << " is absent");
    return;
  }
  const auto rom = read_bytes(shared_kit() / "roms/tetris.bin");
  AleOptions options;
  options.game = "tetris";
  AleRunner drawn(rom, options), lazy(rom, options);
  const auto actions = drawn.minimal_actions();
  std::mt19937 g(11), pick(1);
  compare(
      drawn.console(), lazy.console(), 4000, g,
      [&](int) {
        const int action = actions[pick() % actions.size()];
        REQUIRE(drawn.act(action) == lazy.act(action));
        REQUIRE(drawn.terminal() == lazy.terminal());
        if (drawn.terminal()) drawn.reset_game(), lazy.reset_game();
      },
      "tetris");
}
