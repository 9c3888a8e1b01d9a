// Tests for tools/gif.{hpp,cpp}: the file is a valid GIF89a (header, palette, loop extension,
// trailer) and a small LZW decoder written here from the GIF89a spec gets every frame back.
#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "tools/gif.hpp"

using namespace dqn;
using dqn::tools::GifColour;
using dqn::tools::GifWriter;

namespace {

// GIF89a appendix F, decoding side: variable-width codes LSB first, clear and end codes, the
// table grows by one entry per code after the first and widens codes at powers of two.
std::vector<std::uint8_t> lzw_decode(const std::vector<std::uint8_t>& data, int min_code_size) {
  const int clear = 1 << min_code_size, end = clear + 1;
  std::vector<std::vector<std::uint8_t>> table;
  auto reset = [&] {
    table.assign(clear + 2, {});
    for (int i = 0; i < clear; ++i) table[i] = {static_cast<std::uint8_t>(i)};
  };
  reset();
  int size = min_code_size + 1, prev = -1;
  std::size_t bitpos = 0;
  std::vector<std::uint8_t> out;
  while (bitpos + size <= data.size() * 8) {
    int code = 0;
    for (int b = 0; b < size; ++b, ++bitpos) code |= ((data[bitpos / 8] >> (bitpos % 8)) & 1) << b;
    if (code == clear) {
      reset();
      size = min_code_size + 1;
      prev = -1;
      continue;
    }
    if (code == end) return out;
    std::vector<std::uint8_t> entry;
    if (prev < 0) {
      REQUIRE(code < clear);
      entry = table[code];
    } else {
      if (code < static_cast<int>(table.size())) {
        entry = table[code];
      } else {
        REQUIRE(code == static_cast<int>(table.size()));
        entry = table[prev];
        entry.push_back(table[prev][0]);
      }
      if (table.size() < 4096) {
        std::vector<std::uint8_t> added = table[prev];
        added.push_back(entry[0]);
        table.push_back(added);
      }
    }
    out.insert(out.end(), entry.begin(), entry.end());
    prev = code;
    if (static_cast<int>(table.size()) == (1 << size) && size < 12) ++size;
  }
  FAIL("LZW data ended without an end code");
  return out;
}

struct Gif {
  int width = 0, height = 0;
  std::vector<std::uint8_t> palette;
  std::vector<std::vector<std::uint8_t>> frames;  // palette indices
  std::vector<int> delays;
  bool loops = false;
};

Gif parse(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::vector<std::uint8_t> b{std::istreambuf_iterator<char>(in),
                                    std::istreambuf_iterator<char>()};
  REQUIRE(b.size() > 13 + 768);
  REQUIRE(std::string(b.begin(), b.begin() + 6) == "GIF89a");
  REQUIRE(b.back() == 0x3B);  // trailer
  Gif g;
  g.width = b[6] | (b[7] << 8);
  g.height = b[8] | (b[9] << 8);
  REQUIRE(b[10] == 0xF7);  // global palette, 256 entries
  g.palette.assign(b.begin() + 13, b.begin() + 13 + 768);
  std::size_t p = 13 + 768;
  while (b[p] != 0x3B) {
    if (b[p] == 0x21 && b[p + 1] == 0xFF) {  // application extension
      g.loops = std::string(b.begin() + p + 3, b.begin() + p + 14) == "NETSCAPE2.0";
      p += 2;
      while (b[p] != 0) p += b[p] + 1;
      ++p;
    } else if (b[p] == 0x21 && b[p + 1] == 0xF9) {  // graphic control
      g.delays.push_back(b[p + 4] | (b[p + 5] << 8));
      p += 8;
    } else {
      REQUIRE(b[p] == 0x2C);  // image descriptor
      const int w = b[p + 5] | (b[p + 6] << 8), h = b[p + 7] | (b[p + 8] << 8);
      CHECK(w == g.width);
      CHECK(h == g.height);
      const int min_code = b[p + 10];
      p += 11;
      std::vector<std::uint8_t> data;
      while (b[p] != 0) {
        data.insert(data.end(), b.begin() + p + 1, b.begin() + p + 1 + b[p]);
        p += b[p] + 1;
      }
      ++p;
      g.frames.push_back(lzw_decode(data, min_code));
    }
  }
  return g;
}

std::string temp_path(const char* name) {
  return (std::filesystem::temp_directory_path() / name).string();
}

}  // namespace

TEST_CASE("gif grey frames decode back to the same pixels") {
  const std::string path = temp_path("dqn_test_gif_grey.gif");
  Rng rng(1);
  std::vector<std::vector<std::uint8_t>> frames;
  for (int f = 0; f < 3; ++f) {
    std::vector<std::uint8_t> px(84 * 84);
    // Noise fills the LZW table past 4096 codes (clear codes and 12-bit widths get exercised);
    // the last frame is flat (long runs).
    for (auto& v : px) v = f < 2 ? static_cast<std::uint8_t>(rng.uniform_int(0, 256)) : 142;
    frames.push_back(px);
  }
  {
    GifWriter gif(path, 84, 84, GifColour::kGrey, 5);
    for (const auto& f : frames) gif.add_frame(f.data());
    CHECK(gif.frames() == 3);
    gif.finish();
  }
  const Gif g = parse(path);
  CHECK(g.width == 84);
  CHECK(g.height == 84);
  CHECK(g.loops);
  REQUIRE(g.frames.size() == 3);
  for (int f = 0; f < 3; ++f) CHECK(g.frames[f] == frames[f]);
  CHECK(g.delays == std::vector<int>{5, 5, 5});
  CHECK(g.palette[3 * 200] == 200);  // grey palette: index = level
  std::filesystem::remove(path);
}

TEST_CASE("gif rgb frames get a palette of their colours and scale up") {
  const std::string path = temp_path("dqn_test_gif_rgb.gif");
  const std::uint8_t colours[3][3] = {{0, 0, 0}, {200, 72, 72}, {66, 72, 200}};
  std::vector<std::uint8_t> rgb(4 * 5 * 3);
  for (int i = 0; i < 20; ++i)
    for (int c = 0; c < 3; ++c) rgb[3 * i + c] = colours[i % 3][c];
  {
    GifWriter gif(path, 4, 5, GifColour::kRgb, 4, 2);
    gif.add_frame(rgb.data());
  }  // the destructor finishes the file
  const Gif g = parse(path);
  CHECK(g.width == 10);
  CHECK(g.height == 8);
  REQUIRE(g.frames.size() == 1);
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 10; ++x) {
      const int src = (y / 2) * 5 + x / 2, idx = g.frames[0][y * 10 + x];
      for (int c = 0; c < 3; ++c) REQUIRE(g.palette[3 * idx + c] == colours[src % 3][c]);
    }
  }
  CHECK(g.frames[0][0] == 0);  // colours numbered in order of first appearance
  CHECK(g.frames[0][2] == 1);
  std::filesystem::remove(path);
}

TEST_CASE("gif more than 256 colours map to the nearest and bad use throws") {
  const std::string path = temp_path("dqn_test_gif_many.gif");
  std::vector<std::uint8_t> rgb(1 * 300 * 3);
  for (int i = 0; i < 300; ++i)
    rgb[3 * i] = static_cast<std::uint8_t>(i % 256), rgb[3 * i + 1] = i >= 256 ? 1 : 0;
  GifWriter gif(path, 1, 300, GifColour::kRgb);
  gif.add_frame(rgb.data());
  gif.finish();
  const Gif g = parse(path);
  REQUIRE(g.frames.size() == 1);
  CHECK(g.frames[0][256] == g.frames[0][0]);  // (0,1,0) -> nearest (0,0,0)
  CHECK_THROWS_AS(gif.add_frame(rgb.data()), Error);
  CHECK_THROWS_AS(GifWriter(path, 0, 10, GifColour::kGrey), Error);
  GifWriter nowhere("/nonexistent-folder/x.gif", 2, 2, GifColour::kGrey);
  const std::uint8_t px[4] = {1, 2, 3, 4};
  nowhere.add_frame(px);
  CHECK_THROWS_AS(nowhere.finish(), Error);
  std::filesystem::remove(path);
}
