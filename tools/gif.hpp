// tools/gif.hpp: a from-scratch animated GIF writer (GIF89a, LZW), for `dqn play --gif`.
//
//   dqn::tools::GifWriter gif("breakout.gif", 210, 160, dqn::tools::GifColour::kRgb);
//   for each step: game.get_screen_rgb(rgb); gif.add_frame(rgb);   // (210,160,3)
//   gif.finish();                                                   // writes the file
//
// One global palette for every frame: 256 greys for grey frames (pixel value = palette index),
// or the frames' own colours for RGB frames, in order of first appearance. Our games use a dozen
// colours and CartPole's picture five; should more than 256 appear, each later colour takes the
// nearest palette entry (squared RGB distance), which is documented loss, not an error.
// Frames are LZW-compressed as they arrive (GIF's variable-width codes, 9 to 12 bits, a clear
// code when the table fills); the header, which holds the palette, is written by finish().
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace dqn::tools {

enum class GifColour { kGrey, kRgb };

class GifWriter {
 public:
  // delay_cs: hundredths of a second per frame (GIF's unit; 4 = 25 fps). scale: each pixel drawn
  // as scale x scale (84x84 observations are easier to see at 4).
  GifWriter(std::string path, std::int64_t height, std::int64_t width, GifColour colour,
            int delay_cs = 4, int scale = 1);
  GifWriter(const GifWriter&) = delete;
  GifWriter& operator=(const GifWriter&) = delete;
  ~GifWriter();  // finishes the file if finish() was not called (errors are then swallowed)

  // pixels: (height,width) grey or (height,width,3) RGB, as given to the constructor.
  void add_frame(const std::uint8_t* pixels);
  // Writes header, palette, frames and trailer; throws dqn::Error if the file cannot be written.
  void finish();
  std::int64_t frames() const { return frames_; }

 private:
  std::uint8_t palette_index(std::uint8_t r, std::uint8_t g, std::uint8_t b);

  std::string path_;
  std::int64_t height_, width_;
  GifColour colour_;
  int delay_cs_, scale_;
  std::int64_t frames_ = 0;
  bool finished_ = false;
  std::vector<std::uint8_t> palette_;  // RGB triples, at most 256
  std::unordered_map<std::uint32_t, std::uint8_t> colour_index_;
  std::string body_;  // the frames' extension and image blocks, compressed
  std::vector<std::uint8_t> indices_;
};

// GIF's LZW (spec GIF89a, appendix F) of palette indices with 8-bit minimum code size, as the
// bytes that go into an image's data sub-blocks (without the sub-block framing).
std::vector<std::uint8_t> gif_lzw_encode(const std::uint8_t* indices, std::size_t n);

}  // namespace dqn::tools
