// Parity tests: runs recorded by the ALE oracle (tests/atari2600/goldens/*.txt, made by
// make_goldens.sh) replayed through atari2600::rom_trace, which must give the oracle's screen
// hash, RAM, reward and terminal flag on every line. The golden's "# run:" line says how the
// run was made. Tetris comes from ../shared/atari (it may not enter the repository); without
// the kit that test skips with a message. The probe ROMs are in the repository.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "envs/atari2600/ale.hpp"
#include "shared_kit.hpp"

using namespace atari2600;
using atari2600_test::read_bytes;
using atari2600_test::shared_kit;
using atari2600_test::source_path;

namespace {

struct GoldenLine {
  std::string kind, step, reward, terminal, screen, ram;
};

struct Golden {
  std::map<std::string, std::string> run;
  bool ram_hashed = false;
  std::vector<GoldenLine> lines;
};

Golden read_golden(const std::filesystem::path& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in, "cannot open golden " << path);
  Golden g;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# run: ", 0) == 0) {
      std::istringstream words(line.substr(7));
      std::string word;
      while (words >> word) {
        const auto eq = word.find('=');
        g.run[word.substr(0, eq)] = word.substr(eq + 1);
      }
    } else if (line.rfind("# ram: ", 0) == 0) {
      g.ram_hashed = line.substr(7) == "hash";
    } else if (!line.empty() && line[0] != '#') {
      std::istringstream words(line);
      GoldenLine l;
      words >> l.kind >> l.step >> l.reward >> l.terminal >> l.screen >> l.ram;
      g.lines.push_back(l);
    }
  }
  return g;
}

// The value of "key": in one of rom_trace's JSON lines (flat, machine-written).
std::string field(const std::string& json, const std::string& key) {
  const std::string k = "\"" + key + "\":";
  const auto at = json.find(k);
  if (at == std::string::npos) return "";
  auto start = at + k.size();
  if (json[start] == '"') {
    ++start;
    return json.substr(start, json.find('"', start) - start);
  }
  const auto end = json.find_first_of(",}", start);
  return json.substr(start, end - start);
}

std::string ram_hash(const std::string& hex) {
  std::vector<std::uint8_t> bytes;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  char out[17];
  std::snprintf(out, sizeof(out), "%016llx",
                static_cast<unsigned long long>(screen_hash(bytes.data(), bytes.size())));
  return out;
}

struct ParityResult {
  bool skipped = false;
  std::size_t compared = 0, equal = 0;
};

// Replays one golden; reports every differing line (up to 10) and the counts.
ParityResult check_golden(const std::string& name) {
  const Golden g = read_golden(source_path("tests/atari2600/goldens/" + name));
  const std::string rom = g.run.at("rom");
  std::filesystem::path rom_path;
  if (rom.rfind("shared:", 0) == 0) {
    rom_path = shared_kit() / rom.substr(7);
    if (!std::filesystem::exists(rom_path)) {
      MESSAGE("skipped: " << rom_path << " is absent (the kit lives in ../shared/atari)");
      return {true, 0, 0};
    }
  } else {
    rom_path = source_path(rom.substr(5));
  }
  RomTraceOptions o;
  o.game = g.run.at("game");
  if (g.run.count("random")) o.random_steps = std::stoi(g.run.at("random"));
  if (g.run.count("seed")) o.seed = static_cast<std::uint32_t>(std::stoul(g.run.at("seed")));
  if (g.run.count("frames")) o.frames = std::stoi(g.run.at("frames"));
  if (g.run.count("actions")) o.actions = parse_actions(g.run.at("actions"));
  o.reset_on_terminal = g.run.count("reset_on_terminal") && g.run.at("reset_on_terminal") == "1";
  if (g.run.count("set")) {  // the oracle's --set KEY=VALUE options, comma-separated
    std::istringstream sets(g.run.at("set"));
    std::string set;
    while (std::getline(sets, set, ',')) {
      const std::string key = set.substr(0, set.find('=')), value = set.substr(set.find('=') + 1);
      if (key == "type") {
        o.cart_type = parse_cart_type(value);
      } else if (key == "repeat_action_probability") {
        o.repeat_action_probability = std::stod(value);
      } else if (key == "random_seed") {
        o.random_seed = static_cast<std::uint32_t>(std::stoul(value));
      } else if (key == "lc" && value == "PADDLES") {
        o.left_paddles = true;
      } else if (key == "cp") {
        o.swap_paddles = value == "YES";
      } else {
        FAIL("golden " << name << ": unsupported --set " << set);
      }
    }
  }
  std::ostringstream out;
  rom_trace(read_bytes(rom_path), o, out);
  std::istringstream lines(out.str());
  std::string json;
  ParityResult r;
  int reported = 0;
  for (const GoldenLine& want : g.lines) {
    if (!std::getline(lines, json)) {
      FAIL_CHECK(name << ": rom_trace stopped after " << r.compared << " lines of "
                      << g.lines.size());
      break;
    }
    ++r.compared;
    GoldenLine got;
    got.kind = field(json, "kind");
    got.reward = field(json, "reward");
    if (got.reward.empty()) got.reward = "0";
    got.terminal = field(json, "terminal") == "true" ? "1" : "0";
    got.screen = field(json, "screen");
    got.ram = g.ram_hashed ? ram_hash(field(json, "ram")) : field(json, "ram");
    const bool same = got.kind == want.kind && got.reward == want.reward &&
                      got.terminal == want.terminal && got.screen == want.screen &&
                      got.ram == want.ram;
    if (same) {
      ++r.equal;
    } else if (++reported <= 10) {
      FAIL_CHECK(name << " line " << r.compared << " (" << want.kind << " " << want.step
                      << "): got reward " << got.reward << " terminal " << got.terminal
                      << " screen " << got.screen << " ram " << got.ram << "; oracle: reward "
                      << want.reward << " terminal " << want.terminal << " screen " << want.screen
                      << " ram " << want.ram);
    }
  }
  MESSAGE(name << ": " << r.equal << " of " << r.compared << " lines equal the oracle's");
  return r;
}

}  // namespace

TEST_CASE("parity: Tetris, 20 episodes of seeded random play, equals ALE on every step") {
  const ParityResult r = check_golden("tetris_random44500_seed1.txt");
  if (r.skipped) return;
  CHECK(r.compared == 44521);  // 44,500 steps + 21 reset lines (power-on and 20 terminals)
  CHECK(r.equal == r.compared);
}

TEST_CASE("parity: Tetris with sticky actions (p = 0.25) equals ALE, also past the episode's end") {
  const ParityResult r = check_golden("tetris_sticky_random3000_seed3.txt");
  if (r.skipped) return;
  CHECK(r.compared == 3001);
  CHECK(r.equal == r.compared);
}

// Our own cartridge (envs/atari2600/roms/catch2600.asm), as the raw game: power-on, ALE's reset
// protocol, a whole game of ten balls under random play over all 18 actions (LEFT and RIGHT
// move the paddle, so its every position is drawn), and the frozen frames after game over.
TEST_CASE("parity: catch2600, a whole game of seeded random play, equals ALE on every frame") {
  const ParityResult r = check_golden("catch2600_random1000_seed2.txt");
  CHECK(r.compared == 1001);  // the reset line and 1,000 one-frame steps, RAM in full
  CHECK(r.equal == r.compared);
}

TEST_CASE("parity: catch2600, 3,000 frames of seeded random play, equals ALE on every frame") {
  const ParityResult r = check_golden("catch2600_random3000_seed1.txt");
  CHECK(r.compared == 3001);
  CHECK(r.equal == r.compared);
}

// The probe ROMs (tests/atari2600/probes/*.asm say what each one shows).
TEST_CASE("parity: probe resp0 (RESP0 at every cycle, NUSIZ copies, reflection)") {
  const ParityResult r = check_golden("resp0.txt");
  CHECK(r.equal == r.compared);
}
TEST_CASE("parity: probe resp1 (RESP1 at every cycle)") {
  const ParityResult r = check_golden("resp1.txt");
  CHECK(r.equal == r.compared);
}
TEST_CASE("parity: probe resm0 (RESM0 at every cycle, missile widths)") {
  const ParityResult r = check_golden("resm0.txt");
  CHECK(r.equal == r.compared);
}
TEST_CASE("parity: probe resbl (RESBL at every cycle, ball sizes)") {
  const ParityResult r = check_golden("resbl.txt");
  CHECK(r.equal == r.compared);
}
TEST_CASE("parity: probe hmove (HMOVE at every cycle with every motion value)") {
  const ParityResult r = check_golden("hmove.txt");
  CHECK(r.equal == r.compared);
}
TEST_CASE("parity: probe playfield (PF writes at every cycle, reflection, score, priority)") {
  const ParityResult r = check_golden("playfield.txt");
  CHECK(r.equal == r.compared);
}
TEST_CASE("parity: probe collisions (all latches, inside and outside the picture, VBLANK)") {
  const ParityResult r = check_golden("collisions.txt");
  CHECK(r.equal == r.compared);
}
TEST_CASE("parity: probe timer (all prescalers, reads around underflow)") {
  const ParityResult r = check_golden("timer.txt");
  CHECK(r.equal == r.compared);
}
TEST_CASE("parity: probe resp0_pairs (RESP0 where the old copies are, every NUSIZ mode)") {
  const ParityResult r = check_golden("resp0_pairs.txt");
  CHECK(r.equal == r.compared);
}
TEST_CASE("parity: probe resm0_pairs (RESM0 where the old copies are, every width)") {
  const ParityResult r = check_golden("resm0_pairs.txt");
  CHECK(r.equal == r.compared);
}
TEST_CASE("parity: probe hmove_table (the motion of HMOVE by cycle and value, one player)") {
  const ParityResult r = check_golden("hmove_table.txt");
  CHECK(r.equal == r.compared);
}
TEST_CASE("parity: probe bank_f8 (F8: start bank, hotspots)") {
  const ParityResult r = check_golden("bank_f8.txt");
  CHECK(r.equal == r.compared);
}
TEST_CASE("parity: probe bank_f6 (F6)") {
  const ParityResult r = check_golden("bank_f6.txt");
  CHECK(r.equal == r.compared);
}
TEST_CASE("parity: probe bank_f4 (F4)") {
  const ParityResult r = check_golden("bank_f4.txt");
  CHECK(r.equal == r.compared);
}
TEST_CASE("parity: probe bank_f8sc (F8SC: Superchip RAM and its power-on draws)") {
  const ParityResult r = check_golden("bank_f8sc.txt");
  CHECK(r.equal == r.compared);
}
TEST_CASE("parity: probe bank_f6sc (F6SC)") {
  const ParityResult r = check_golden("bank_f6sc.txt");
  CHECK(r.equal == r.compared);
}
TEST_CASE("parity: probe bank_f4sc (F4SC)") {
  const ParityResult r = check_golden("bank_f4sc.txt");
  CHECK(r.equal == r.compared);
}
TEST_CASE("parity: probe bank_e0 (E0: segments, start banks)") {
  const ParityResult r = check_golden("bank_e0.txt");
  CHECK(r.equal == r.compared);
}
TEST_CASE("parity: probe bank_3f (3F: bank select by writes to $3F)") {
  const ParityResult r = check_golden("bank_3f.txt");
  CHECK(r.equal == r.compared);
}
TEST_CASE(
    "parity: probe probe (the kit's probe: power-on timer and RAM, inputs, HMOVE, RESP0 "
    "mid-line)") {
  const ParityResult r = check_golden("probe.txt");
  CHECK(r.equal == r.compared);
}
TEST_CASE("parity: probe nosync (no VSYNC: frames end at ALE's line cap)") {
  const ParityResult r = check_golden("nosync.txt");
  CHECK(r.equal == r.compared);
}
TEST_CASE("parity: probe noio (no TIA access: partial frames, greyed)") {
  const ParityResult r = check_golden("noio.txt");
  CHECK(r.equal == r.compared);
}
TEST_CASE("parity: probe bank_fe (FE: the half by address line A13, across JSR and RTS)") {
  const ParityResult r = check_golden("bank_fe.txt");
  CHECK(r.equal == r.compared);
}
TEST_CASE("parity: probe paddles (pot charge times, paddle moves and clamps, buttons)") {
  const ParityResult r = check_golden("paddles.txt");
  CHECK(r.equal == r.compared);
}
TEST_CASE("parity: probe paddles with swapped paddles (Pong's wiring)") {
  const ParityResult r = check_golden("paddles+swap.txt");
  CHECK(r.equal == r.compared);
}
TEST_CASE("parity: probe modes (vertical delay, score and priority modes, RESMPx)") {
  const ParityResult r = check_golden("modes.txt");
  CHECK(r.equal == r.compared);
}
TEST_CASE("parity: probe score_priority (score and priority modes together)") {
  // The playfield's colour follows score mode while only the playfield is enabled and priority
  // mode once any other object is (envs/atari2600/README.md); every frame must match.
  const ParityResult r = check_golden("score_priority.txt");
  CHECK(r.compared == 33);
  CHECK(r.equal == r.compared);
}
TEST_CASE("parity: probe reflect (CTRLPF reflection written mid-line and on the first row)") {
  // A reflection write from clock 147 on leaves the right half as it was until a row of the
  // picture is finished (envs/atari2600/README.md); every frame must match.
  const ParityResult r = check_golden("reflect.txt");
  CHECK(r.compared == 65);
  CHECK(r.equal == r.compared);
}
TEST_CASE("parity: probe offscreen (no collisions above or below ALE's picture rows)") {
  const ParityResult r = check_golden("offscreen.txt");
  CHECK(r.equal == r.compared);
}
TEST_CASE("parity: probe hmove_early (HMOVE landing on cycles 0-2, from the line before)") {
  const ParityResult r = check_golden("hmove_early.txt");
  CHECK(r.equal == r.compared);
}
