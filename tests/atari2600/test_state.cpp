// Tests for save_state / load_state of envs/atari2600/console.{hpp,cpp} and ale.{hpp,cpp}: a
// machine restored from a snapshot taken mid-frame or mid-episode continues bit for bit like
// the one that was never stopped, and a foreign or damaged blob is refused without harm.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "envs/atari2600/ale.hpp"
#include "envs/atari2600/error.hpp"
#include "shared_kit.hpp"

using namespace atari2600;
using atari2600_test::read_bytes;
using atari2600_test::source_path;

namespace {

std::vector<std::uint8_t> probe_rom(const std::string& name) {
  return read_bytes(source_path("tests/atari2600/probes/" + name + ".bin"));
}

// Everything observable: RAM, the screen, CPU registers and cycle count.
std::string fingerprint(const Console& c) {
  std::string s(reinterpret_cast<const char*>(c.ram().data()), c.ram().size());
  s.append(reinterpret_cast<const char*>(c.screen()),
           static_cast<std::size_t>(c.screen_height()) * Tia::kWidth);
  auto& cpu = const_cast<Console&>(c).cpu().state();
  s += std::to_string(cpu.pc) + "," + std::to_string(cpu.a) + "," + std::to_string(cpu.x) + "," +
       std::to_string(cpu.y) + "," + std::to_string(cpu.p) + "," + std::to_string(cpu.cycles);
  return s;
}

}  // namespace

TEST_CASE("state: a console restored in the middle of a frame continues bit-exactly") {
  // The hmove probe moves objects every line, so any lost TIA detail shows within frames.
  Console a(probe_rom("hmove"));
  a.system_reset();
  for (int f = 0; f < 5; ++f) a.run_frame();
  for (int i = 0; i < 1234; ++i) a.cpu().step(a);  // stop mid-frame, mid-line
  const std::string blob = a.save_state();

  Console b(probe_rom("hmove"));
  b.system_reset();
  b.run_frame();  // a different state, to be overwritten
  b.load_state(blob);
  for (int f = 0; f < 6; ++f) {
    a.run_frame();
    b.run_frame();
    REQUIRE(fingerprint(a) == fingerprint(b));
  }
}

TEST_CASE("state: a Superchip cartridge's RAM and bank survive a snapshot") {
  Console a(probe_rom("bank_f6sc"));
  a.system_reset();
  for (int f = 0; f < 7; ++f) a.run_frame();
  const std::string blob = a.save_state();
  Console b(probe_rom("bank_f6sc"));
  b.load_state(blob);
  for (int f = 0; f < 9; ++f) {
    a.run_frame();
    b.run_frame();
    REQUIRE(fingerprint(a) == fingerprint(b));
  }
}

TEST_CASE("state: an ALE run restored mid-episode gives the same rewards, RAM and screens") {
  // Sticky actions on, so the restored run must also carry the action generator along.
  const auto rom = probe_rom("probe");
  AleOptions options;
  options.repeat_action_probability = 0.25;
  options.random_seed = 9;
  AleRunner a(rom, options), b(rom, options);
  for (int s = 0; s < 40; ++s) a.act(s % kNumActions);
  b.load_state(a.save_state());
  for (int s = 0; s < 60; ++s) {
    const int action = (7 * s) % kNumActions;
    CHECK(a.act(action) == b.act(action));
    CHECK(a.applied() == b.applied());
    REQUIRE(fingerprint(a.console()) == fingerprint(b.console()));
    CHECK(a.frame() == b.frame());
    CHECK(a.episode_frame() == b.episode_frame());
  }
}

TEST_CASE("state: a blob from another ROM, or cut short, is refused and changes nothing") {
  Console a(probe_rom("hmove"));
  a.system_reset();
  a.run_frame();
  Console other(probe_rom("timer"));
  other.system_reset();
  other.run_frame();
  const std::string before = fingerprint(a);
  CHECK_THROWS_AS(a.load_state(other.save_state()), Error);
  std::string cut = a.save_state();
  cut.resize(cut.size() / 2);
  CHECK_THROWS_AS(a.load_state(cut), Error);
  CHECK_THROWS_AS(a.load_state("not a state"), Error);
  CHECK(fingerprint(a) == before);

  AleRunner run(probe_rom("probe"));
  const std::string good = run.save_state();
  CHECK_THROWS_AS(run.load_state(good.substr(0, good.size() / 3)), Error);
  CHECK_THROWS_AS(run.load_state(""), Error);
}
