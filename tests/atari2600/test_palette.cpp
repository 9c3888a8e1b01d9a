// Tests for envs/atari2600/palette.{hpp,cpp}: every NTSC colour and grey level equals what
// `ale-oracle --print-palette` printed (tests/atari2600/goldens/ntsc_palette.txt), and the odd
// pixel values are the greys of the even ones below them.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "envs/atari2600/palette.hpp"
#include "shared_kit.hpp"

using namespace atari2600;

TEST_CASE("palette: all 128 NTSC colours and their greys equal ALE's") {
  std::ifstream in(atari2600_test::source_path("tests/atari2600/goldens/ntsc_palette.txt"));
  REQUIRE(in);
  std::string line;
  int entries = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::string value, rgb;
    int grey = -1;
    words >> value >> rgb >> grey;
    const auto pixel = static_cast<std::uint8_t>(std::stoi(value, nullptr, 16));
    CHECK(ntsc_palette()[pixel] == std::stoul(rgb, nullptr, 16));
    CHECK(int{ntsc_grey(pixel)} == grey);
    const std::uint32_t g = static_cast<std::uint32_t>(grey);
    CHECK(ntsc_palette()[pixel + 1u] == ((g << 16) | (g << 8) | g));  // the odd neighbour
    CHECK(ntsc_grey(static_cast<std::uint8_t>(pixel + 1)) == ntsc_grey(pixel));
    ++entries;
  }
  CHECK(entries == 128);
}
