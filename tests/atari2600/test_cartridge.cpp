// Tests for envs/atari2600/cartridge.{hpp,cpp}: detection equals the class ALE's core picks for
// synthetic images (goldens/cart_detect.txt, made by make_cart_detect.py with the oracle), the
// override, size checks, and each scheme's bank switching worked out by hand from its spec.
#include <doctest/doctest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "envs/atari2600/cartridge.hpp"
#include "envs/atari2600/error.hpp"
#include "shared_kit.hpp"

using namespace atari2600;
using atari2600_test::source_path;

namespace {

// The same images as make_cart_detect.py's make_image.
std::vector<std::uint8_t> make_image(std::size_t size, const std::string& pattern) {
  std::vector<std::uint8_t> d(size);
  for (std::size_t i = 0; i < size; ++i) d[i] = static_cast<std::uint8_t>((7 * i + 3) & 0xFF);
  d[size - 4] = 0x00, d[size - 3] = 0xF0;
  std::istringstream parts(pattern);
  std::string part;
  while (std::getline(parts, part, '+')) {
    if (part.rfind("sc_", 0) == 0) {
      const std::size_t banks = part == "sc_two" ? 2 : size / 4096;
      for (std::size_t b = 0; b < banks; ++b) {
        const std::size_t n = part == "sc_128" ? 128 : 256;
        const auto v = static_cast<std::uint8_t>(part == "sc_distinct" ? 0x10 + b : 0x55);
        for (std::size_t i = 0; i < n; ++i) d[b * 4096 + i] = v;
      }
    } else if (part == "halves") {
      std::copy(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(size / 2),
                d.begin() + static_cast<std::ptrdiff_t>(size / 2));
    } else if (part.rfind("sig@", 0) == 0) {
      const long where = std::stol(part.substr(4, part.find(':') - 4));
      const std::size_t at = static_cast<std::size_t>(
          (where % static_cast<long>(size) + static_cast<long>(size)) % static_cast<long>(size));
      const std::string hex = part.substr(part.find(':') + 1);
      for (std::size_t i = 0; i < hex.size() / 2; ++i) {
        d[at + i] = static_cast<std::uint8_t>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
      }
    } else if (part.rfind("sig", 0) == 0) {
      const std::string hex = part.substr(part.find(':') + 1);
      for (std::size_t i = 0; i < hex.size() / 2; ++i) {
        const auto byte = static_cast<std::uint8_t>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
        d[0x400 + i] = byte;
        if (part.rfind("sig2", 0) == 0) d[0x440 + i] = byte;
      }
    }
  }
  return d;
}

std::vector<std::uint8_t> banks_image(std::size_t size, std::size_t bank_size) {
  std::vector<std::uint8_t> d(size);
  for (std::size_t i = 0; i < size; ++i) d[i] = static_cast<std::uint8_t>(i / bank_size);
  return d;
}

}  // namespace

TEST_CASE("cartridge detection picks the class ALE's core picks for every recorded image") {
  std::ifstream in(source_path("tests/atari2600/goldens/cart_detect.txt"));
  REQUIRE(in);
  std::string line;
  int cases = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::size_t size = 0;
    std::string pattern, want;
    words >> size >> pattern >> want;
    const CartType got = Cartridge::detect(make_image(size, pattern));
    CHECK_MESSAGE(cart_class_name(got) == want, size << " " << pattern);
    ++cases;
  }
  CHECK(cases == 56);
}

TEST_CASE("cartridge detection rejects what it cannot run, with a fix in the message") {
  CHECK_THROWS_AS(Cartridge::detect(std::vector<std::uint8_t>(1024, 0xEA)), Error);
  CHECK_THROWS_AS(Cartridge::detect(std::vector<std::uint8_t>(12288, 0xEA)), Error);  // FASC
  // Schemes ALE's core would pick but this emulator lacks (the oracle says UA and 3E for these).
  CHECK_THROWS_AS(Cartridge::detect(make_image(8192, "sig:8d4002")), Error);
  CHECK_THROWS_AS(Cartridge::detect(make_image(8192, "sig:853ea900")), Error);
  CHECK_THROWS_AS(Cartridge::detect({}), Error);
  CHECK_THROWS_AS(Cartridge(std::vector<std::uint8_t>(4096), CartType::kF8), Error);
  CHECK(parse_cart_type("F6SC") == CartType::kF6SC);
  CHECK_THROWS_AS(parse_cart_type("F9"), Error);
}

TEST_CASE("cartridge F8 switches on reads and writes of $1FF8/$1FF9 and starts in bank 1") {
  Cartridge c(banks_image(8192, 4096), CartType::kF8);
  std::mt19937 rng(1);
  c.reset(rng);
  CHECK(c.read(0x1000) == 1);
  c.read(0x1FF8);
  CHECK(c.read(0x1000) == 0);
  c.write(0xFFF9, 0);  // mirrors: only A12 and the low 12 bits matter
  CHECK(c.read(0xF123) == 1);
}

TEST_CASE("cartridge F6 and F4 hotspots select every bank") {
  Cartridge f6(banks_image(16384, 4096), CartType::kF6);
  Cartridge f4(banks_image(32768, 4096), CartType::kF4);
  std::mt19937 rng(1);
  f6.reset(rng), f4.reset(rng);
  for (int b = 0; b < 4; ++b) {
    f6.read(static_cast<std::uint16_t>(0x1FF6 + b));
    CHECK(f6.read(0x1800) == b);
  }
  for (int b = 0; b < 8; ++b) {
    f4.read(static_cast<std::uint16_t>(0x1FF4 + b));
    CHECK(f4.read(0x1800) == b);
  }
}

TEST_CASE("cartridge Superchip RAM: write at $1000-$107F, read at $1080-$10FF, redrawn at reset") {
  Cartridge c(banks_image(8192, 4096), CartType::kF8SC);
  std::mt19937 rng(7), same(7);
  c.reset(rng);
  CHECK(c.read(0x1080) == static_cast<std::uint8_t>(same()));  // one draw per byte, in order
  c.write(0x1005, 0xAB);
  CHECK(c.read(0x1085) == 0xAB);
  CHECK(c.read(0x1005 + 0x100) == 1);  // outside the window: ROM of the start bank
}

TEST_CASE("cartridge E0: three switchable 1K segments and the last bank fixed at $1C00") {
  Cartridge c(banks_image(8192, 1024), CartType::kE0);
  std::mt19937 rng(1);
  c.reset(rng);
  c.read(0x1FE2);  // segment 0 <- bank 2
  c.read(0x1FED);  // segment 1 <- bank 5
  c.read(0x1FF1);  // segment 2 <- bank 1
  CHECK(c.read(0x1000) == 2);
  CHECK(c.read(0x1400) == 5);
  CHECK(c.read(0x1800) == 1);
  CHECK(c.read(0x1C00) == 7);
}

TEST_CASE("cartridge 3F: a write to $00-$3F picks the first 2K, the last 2K stays") {
  Cartridge c(banks_image(8192, 2048), CartType::k3F);
  std::mt19937 rng(1);
  c.reset(rng);
  CHECK(c.read(0x1800) == 3);
  c.tia_write(0x003F, 2);
  CHECK(c.read(0x1000) == 2);
  c.tia_write(0x0040, 1);  // not in $00-$3F: no switch
  CHECK(c.read(0x1000) == 2);
}
