// Tests for envs/atari2600/cpu6502.{hpp,cpp}: Klaus Dormann's functional test reaches its
// success address with ALE's instruction and cycle counts, and every record of the Harte subset
// ends in Harte's final state and cycle count, or in ALE's where the kit's ale-vs-harte.jsonl
// records that ALE differs (decimal mode, undocumented NOP/LAX cycle counts, the $FF pointer).
// Both suites live in ../shared/atari (licences keep them out of the repository); without it
// these tests skip with a message.
#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "envs/atari2600/cpu6502.hpp"
#include "envs/atari2600/error.hpp"
#include "shared_kit.hpp"

using namespace atari2600;
using atari2600_test::kit_has;
using atari2600_test::read_bytes;
using atari2600_test::shared_kit;

namespace {

// The CPU tests' machine: 64 KiB of RAM, nothing else.
class FlatBus final : public Bus {
 public:
  std::array<std::uint8_t, 65536> mem{};
  std::uint8_t read(std::uint16_t address) override { return mem[address]; }
  void write(std::uint16_t address, std::uint8_t value) override { mem[address] = value; }
};

struct Snapshot {
  unsigned pc = 0, s = 0, a = 0, x = 0, y = 0, p = 0, cycles = 0;
  std::vector<std::pair<unsigned, unsigned>> ram;
};

struct HarteRecord {
  std::string name;
  Snapshot initial, final;
};

class Reader {
 public:
  explicit Reader(const std::vector<std::uint8_t>& d) : d_(d) {}
  bool done() const { return i_ >= d_.size(); }
  unsigned u8() {
    if (i_ >= d_.size()) throw Error("Harte file: record cut short");
    return d_[i_++];
  }
  unsigned u16() {
    const unsigned hi = u8();
    return (hi << 8) | u8();
  }
  Snapshot state() {
    Snapshot s;
    s.pc = u16();
    s.s = u8(), s.a = u8(), s.x = u8(), s.y = u8(), s.p = u8();
    const unsigned n = u8();
    for (unsigned k = 0; k < n; ++k) {
      const unsigned address = u16();
      s.ram.emplace_back(address, u8());
    }
    return s;
  }
  HarteRecord record() {
    HarteRecord r;
    for (int k = 0; k < 10; ++k) {
      const char c = static_cast<char>(u8());
      if (c) r.name += c;
    }
    r.initial = state();
    r.final = state();
    r.final.cycles = u8();
    for (unsigned k = 0; k < r.final.cycles; ++k) u16(), u8(), u8();
    return r;
  }

 private:
  const std::vector<std::uint8_t>& d_;
  std::size_t i_ = 0;
};

// The number after "key": in a JSON line (the kit's lines are flat and machine-written).
long json_number(const std::string& line, const std::string& key, std::size_t from = 0) {
  const std::size_t k = line.find("\"" + key + "\":", from);
  REQUIRE_MESSAGE(k != std::string::npos, "key " << key << " missing in: " << line);
  return std::stol(line.substr(k + key.size() + 3));
}
std::string json_string(const std::string& line, const std::string& key) {
  const std::size_t k = line.find("\"" + key + "\":\"");
  REQUIRE(k != std::string::npos);
  const std::size_t start = k + key.size() + 4;
  return line.substr(start, line.find('"', start) - start);
}

// ALE's final state for each (file, index) where it differs from Harte's.
std::map<std::pair<std::string, long>, Snapshot> load_ale_differences() {
  std::map<std::pair<std::string, long>, Snapshot> out;
  std::ifstream in(shared_kit() / "cpu-tests" / "ale-vs-harte.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t ale = line.find("\"ale\":{");
    REQUIRE(ale != std::string::npos);
    Snapshot s;
    s.pc = static_cast<unsigned>(json_number(line, "pc", ale));
    s.s = static_cast<unsigned>(json_number(line, "s", ale));
    s.a = static_cast<unsigned>(json_number(line, "a", ale));
    s.x = static_cast<unsigned>(json_number(line, "x", ale));
    s.y = static_cast<unsigned>(json_number(line, "y", ale));
    s.p = static_cast<unsigned>(json_number(line, "p", ale));
    s.cycles = static_cast<unsigned>(json_number(line, "cycles", ale));
    std::size_t k = line.find("\"ram\":[", ale);
    REQUIRE(k != std::string::npos);
    k += 7;
    while (line[k] == '[' || line[k] == ',') {
      if (line[k] == ',') ++k;
      unsigned address = 0, value = 0;
      REQUIRE(std::sscanf(line.c_str() + k, "[%u,%u]", &address, &value) == 2);
      s.ram.emplace_back(address, value);
      k = line.find(']', k) + 1;
    }
    out[{json_string(line, "file"), json_number(line, "index")}] = std::move(s);
  }
  return out;
}

}  // namespace

TEST_CASE("cpu6502 passes Klaus Dormann's functional test with ALE's instruction and cycle count") {
  const auto image_path = shared_kit() / "cpu-tests/klaus/6502_functional_test.bin";
  if (!std::filesystem::exists(image_path)) {
    MESSAGE("skipped: " << image_path << " is absent (the kit lives in ../shared/atari)");
    return;
  }
  const auto image = read_bytes(image_path);
  REQUIRE(image.size() == 65536);
  FlatBus bus;
  std::copy(image.begin(), image.end(), bus.mem.begin());
  Cpu6502 cpu;
  cpu.state().pc = 0x0400;  // A = X = Y = 0, S = $FF, P = $30 as the oracle starts it
  std::uint16_t previous = 0;
  for (long i = 0; i < 40'000'000; ++i) {
    previous = cpu.state().pc;
    cpu.step(bus);
    if (cpu.state().pc == previous) break;  // a jump or branch to itself: success or a trap
  }
  // `ale-oracle --cpu-run cpu-tests/klaus/6502_functional_test.bin` (README 3.1):
  // {"stop_pc":"3469","instructions":30646177,"cycles":96241367}. Any other stop address is a
  // trap: look it up in 6502_functional_test.lst.
  CHECK_MESSAGE(cpu.state().pc == 0x3469, "trapped at $" << std::hex << cpu.state().pc);
  CHECK(cpu.state().instructions == 30646177u);
  CHECK(cpu.cycles() == 96241367u);
}

TEST_CASE("cpu6502 ends every Harte record in Harte's state, or ALE's where ALE differs") {
  const auto harte = shared_kit() / "cpu-tests" / "harte";
  if (!std::filesystem::exists(harte) || !kit_has("cpu-tests/ale-vs-harte.jsonl")) {
    MESSAGE("skipped: " << harte << " is absent (the kit lives in ../shared/atari)");
    return;
  }
  const auto ale = load_ale_differences();
  long total = 0, checked_against_ale = 0, files = 0, failures = 0;
  for (const char* folder : {"nmos", "undocumented"}) {
    for (const auto& entry : std::filesystem::directory_iterator(harte / folder)) {
      const auto data = read_bytes(entry.path());
      const std::string file = std::string(folder) + "/" + entry.path().filename().string();
      ++files;
      Reader reader(data);
      for (long index = 0; !reader.done(); ++index) {
        const HarteRecord rec = reader.record();
        Snapshot want = rec.final;
        if (const auto it = ale.find({file, index}); it != ale.end()) {
          want = it->second;
          ++checked_against_ale;
        }
        FlatBus bus;
        for (const auto& [address, value] : rec.initial.ram)
          bus.mem[address] = static_cast<std::uint8_t>(value);
        Cpu6502 cpu;
        CpuState& s = cpu.state();
        s.pc = static_cast<std::uint16_t>(rec.initial.pc);
        s.s = static_cast<std::uint8_t>(rec.initial.s);
        s.a = static_cast<std::uint8_t>(rec.initial.a);
        s.x = static_cast<std::uint8_t>(rec.initial.x);
        s.y = static_cast<std::uint8_t>(rec.initial.y);
        s.p = static_cast<std::uint8_t>(rec.initial.p | 0x30);
        const int cycles = cpu.step(bus);
        bool ok = s.pc == want.pc && s.s == want.s && s.a == want.a && s.x == want.x &&
                  s.y == want.y && (s.p & 0xCF) == (want.p & 0xCF) &&
                  static_cast<unsigned>(cycles) == want.cycles;
        std::string memory;
        for (const auto& [address, value] : want.ram) {
          if (bus.mem[address] != value) {
            ok = false;
            memory += " [" + std::to_string(address) + "]=" + std::to_string(bus.mem[address]) +
                      " want " + std::to_string(value);
          }
        }
        if (!ok && ++failures <= 20) {
          FAIL_CHECK(file << " record " << index << " '" << rec.name << "': got pc=" << s.pc
                          << " s=" << int{s.s} << " a=" << int{s.a} << " x=" << int{s.x}
                          << " y=" << int{s.y} << " p=" << int{s.p} << " cycles=" << cycles
                          << "; want pc=" << want.pc << " s=" << want.s << " a=" << want.a
                          << " x=" << want.x << " y=" << want.y << " p=" << want.p
                          << " cycles=" << want.cycles << memory);
        }
        ++total;
      }
    }
  }
  MESSAGE(total << " Harte records in " << files << " files, " << checked_against_ale
                << " of them against ALE's recorded result");
  CHECK(failures == 0);
  CHECK(files == 244);
  CHECK(total == 244000);
}

TEST_CASE("cpu6502 stops on a JAM opcode with an error instead of running on") {
  FlatBus bus;
  bus.mem[0x1000] = 0x02;
  Cpu6502 cpu;
  cpu.state().pc = 0x1000;
  CHECK_THROWS_AS(cpu.step(bus), Error);
  CHECK(cpu.state().jammed);
}
