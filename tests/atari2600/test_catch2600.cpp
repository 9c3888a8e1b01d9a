// Tests of our own cartridge, envs/atari2600/roms/catch2600.asm, on our emulator: that the
// library's built-in bytes are the committed .bin with the table's MD5, that the picture shows
// the ball and the paddle exactly where the RAM map says (so the rules read what the player
// sees), that a game is ten balls scored +1/-1, and that the game is winnable: a paddle that
// follows the ball catches every one. Parity with ALE is test_parity.cpp's (goldens).
#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "envs/atari2600/ale.hpp"
#include "envs/atari2600/bundled.hpp"
#include "envs/atari2600/games.hpp"
#include "envs/atari2600/md5.hpp"
#include "shared_kit.hpp"

using namespace atari2600;
using atari2600_test::read_bytes;
using atari2600_test::source_path;

namespace {

// The .asm's constants, restated: kernel line k is screen row k + 3 (ALE's YStart 34 is 3
// lines before the kernel's first), the ball 8x8 in colour $0E, the paddle 24x8 at kernel line
// 176 in colour $C8.
constexpr int kRowOffset = 3, kPadY = 176, kBall = 8, kPadW = 24;
constexpr std::uint8_t kBallColour = 0x0E, kPadColour = 0xC8;

std::vector<std::uint8_t> rom() {
  const auto bytes = catch2600_rom();
  return {bytes.begin(), bytes.end()};
}

// The screen this RAM should give: black, the ball (unless bally is off the kernel's 192 lines)
// and the paddle.
std::vector<std::uint8_t> expected_screen(const Ram& ram) {
  std::vector<std::uint8_t> s(160 * 210, 0);
  const int bx = at(ram, 0x85), by = at(ram, 0x86), px = at(ram, 0x87);
  for (int y = by; y < std::min(by + kBall, 192); ++y)
    for (int x = bx; x < bx + kBall; ++x)
      s[static_cast<std::size_t>((y + kRowOffset) * 160 + x)] = kBallColour;
  for (int y = kPadY; y < kPadY + 8; ++y)
    for (int x = px; x < px + kPadW; ++x)
      s[static_cast<std::size_t>((y + kRowOffset) * 160 + x)] = kPadColour;
  return s;
}

struct Episode {
  int score = 0, steps = 0, screens_wrong = 0;
  int caught = 0, missed = 0;
  int min_ballx = 255, max_ballx = 0, min_padx = 255, max_padx = 0;
};

// Plays one episode to its end, one frame per step; `policy` picks among NOOP, RIGHT, LEFT.
template <class Policy>
Episode play(AleRunner& ale, Policy policy) {
  Episode e;
  while (!ale.terminal() && e.steps < 5000) {
    e.score += ale.act(policy(ale.console().ram()));
    ++e.steps;
    const Ram& ram = ale.console().ram();
    const std::uint8_t* screen = ale.console().screen();
    if (!std::equal(screen, screen + 160 * 210, expected_screen(ram).begin())) ++e.screens_wrong;
    if (at(ram, 0x86) < 192) {
      e.min_ballx = std::min<int>(e.min_ballx, at(ram, 0x85));
      e.max_ballx = std::max<int>(e.max_ballx, at(ram, 0x85));
    }
    e.min_padx = std::min<int>(e.min_padx, at(ram, 0x87));
    e.max_padx = std::max<int>(e.max_padx, at(ram, 0x87));
  }
  e.caught = at(ale.console().ram(), 0x81);
  e.missed = at(ale.console().ram(), 0x82);
  return e;
}

}  // namespace

TEST_CASE("catch2600: the built-in ROM is the committed .bin and has the table's MD5") {
  const std::vector<std::uint8_t> file =
      read_bytes(source_path("envs/atari2600/roms/catch2600.bin"));
  CHECK(file.size() == 2048);
  CHECK(rom() == file);
  CHECK(md5_hex(file) == find_game("catch2600")->md5);
  CHECK(find_game_by_md5(md5_hex(file)) == find_game("catch2600"));
}

TEST_CASE("catch2600: random play shows ball and paddle where RAM says, ten balls a game") {
  AleOptions o;
  o.game = "catch2600";
  AleRunner ale(rom(), o);
  CHECK(ale.minimal_actions() == std::vector<int>{0, 3, 4});
  CHECK(ale.lives() == 10);
  CHECK(at(ale.console().ram(), 0x86) == 8);  // the RESET frames of ALE's protocol restarted it
  std::mt19937 draw(11);
  Episode all;
  for (int episode = 0; episode < 4; ++episode) {
    CAPTURE(episode);
    const Episode e = play(ale, [&](const Ram&) {
      static const int kActions[3] = {0, 3, 4};
      return kActions[draw() % 3];
    });
    CHECK(ale.terminal());
    CHECK(ale.lives() == 0);
    CHECK(e.screens_wrong == 0);
    CHECK(e.caught + e.missed == 10);
    CHECK(e.score == e.caught - e.missed);  // the rewards add up to the game's own count
    // A ball falls 162 lines at 2 a frame (81 frames); ten of them, and the first step.
    CHECK(e.steps == 10 * 81);
    all.min_ballx = std::min(all.min_ballx, e.min_ballx);
    all.max_ballx = std::max(all.max_ballx, e.max_ballx);
    all.min_padx = std::min(all.min_padx, e.min_padx);
    all.max_padx = std::max(all.max_padx, e.max_padx);
    ale.reset_game();
  }
  // Columns stay inside the field the .asm promises (12..152 for the ball, 12..136 paddle).
  CHECK(all.min_ballx >= 12);
  CHECK(all.max_ballx <= 152);
  CHECK(all.min_padx >= 12);
  CHECK(all.max_padx <= 136);
}

TEST_CASE("catch2600: a paddle that follows the ball catches all ten, hugging both walls") {
  AleOptions o;
  o.game = "catch2600";
  AleRunner ale(rom(), o);
  // The paddle's centre chases the ball's centre: RIGHT, LEFT or NOOP within 3 px.
  const auto follow = [](const Ram& ram) {
    const int ball = at(ram, 0x85) + kBall / 2, pad = at(ram, 0x87) + kPadW / 2;
    return ball > pad + 2 ? 3 : ball < pad - 2 ? 4 : 0;
  };
  const Episode e = play(ale, follow);
  CHECK(e.score == 10);
  CHECK(e.caught == 10);
  CHECK(e.screens_wrong == 0);
  // And one that holds RIGHT the whole game pins the paddle to the right wall.
  ale.reset_game();
  const Episode right = play(ale, [](const Ram&) { return 3; });
  CHECK(right.max_padx == 136);
  CHECK(right.caught + right.missed == 10);
  ale.reset_game();
  const Episode left = play(ale, [](const Ram&) { return 4; });
  CHECK(left.min_padx == 12);
}
