// Tests for envs/atari2600/ale.{hpp,cpp} that need no oracle: the action-list syntax of the
// oracle's --actions / --actions-file, the joystick each ALE action presses, and that act()
// refuses actions outside 0-17. The protocol itself is checked against the oracle by
// test_parity.cpp (every golden starts with ALE's reset line).
#include <doctest/doctest.h>

#include <vector>

#include "envs/atari2600/ale.hpp"
#include "envs/atari2600/error.hpp"
#include "shared_kit.hpp"

using namespace atari2600;

TEST_CASE("ale action lists: names, numbers, NAME*K, commas, spaces and comments") {
  CHECK(parse_actions("FIRE*3,right, 0") == std::vector<int>{1, 1, 1, 3, 0});
  CHECK(parse_actions("noop\nDOWNLEFTFIRE*2 # the rest is a comment, FIRE\n17") ==
        std::vector<int>{0, 17, 17, 17});
  CHECK(parse_actions("").empty());
  CHECK_THROWS_AS(parse_actions("JUMP"), Error);
  CHECK_THROWS_AS(parse_actions("18"), Error);
  CHECK_THROWS_AS(parse_actions("FIRE*"), Error);
  CHECK_THROWS_AS(parse_actions("FIRE*x"), Error);
}

TEST_CASE("ale actions press the joystick as ALE maps them") {
  const Inputs upleftfire = action_inputs(kUpLeftFire);
  CHECK(upleftfire.up);
  CHECK(upleftfire.left);
  CHECK(upleftfire.fire);
  CHECK(!upleftfire.down);
  CHECK(!upleftfire.right);
  const Inputs noop = action_inputs(kNoop);
  CHECK(!(noop.up || noop.down || noop.left || noop.right || noop.fire));
  CHECK(action_inputs(kDownRight).down);
  CHECK(action_inputs(kDownRight).right);
  CHECK_THROWS_AS(action_inputs(18), Error);
}

TEST_CASE("ale act refuses an action outside 0-17 and unknown game logic") {
  const auto rom =
      atari2600_test::read_bytes(atari2600_test::source_path("tests/atari2600/probes/probe.bin"));
  AleRunner ale(rom);
  CHECK_THROWS_AS(ale.act(-1), Error);
  CHECK_THROWS_AS(ale.act(40), Error);
  AleOptions options;
  options.game = "pitfall";
  CHECK_THROWS_AS(AleRunner(rom, options), Error);
}
