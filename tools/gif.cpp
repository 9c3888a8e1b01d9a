// tools/gif.cpp: GIF89a container and LZW encoder (see gif.hpp).
#include "tools/gif.hpp"

#include <cstdio>
#include <limits>

#include "core/error.hpp"

namespace dqn::tools {
namespace {

constexpr int kMinCodeSize = 8;  // 256-entry palettes
constexpr int kClear = 1 << kMinCodeSize, kEnd = kClear + 1, kMaxCode = 4095;

// Packs variable-width codes least significant bit first, as GIF requires.
class BitWriter {
 public:
  explicit BitWriter(std::vector<std::uint8_t>& out) : out_(out) {}
  void put(int code, int bits) {
    acc_ |= static_cast<std::uint32_t>(code) << nbits_;
    nbits_ += bits;
    while (nbits_ >= 8) {
      out_.push_back(static_cast<std::uint8_t>(acc_ & 0xFF));
      acc_ >>= 8;
      nbits_ -= 8;
    }
  }
  void flush() {
    if (nbits_ > 0) out_.push_back(static_cast<std::uint8_t>(acc_ & 0xFF));
    acc_ = 0, nbits_ = 0;
  }

 private:
  std::vector<std::uint8_t>& out_;
  std::uint32_t acc_ = 0;
  int nbits_ = 0;
};

void put_u16(std::string& s, int v) {
  s.push_back(static_cast<char>(v & 0xFF));
  s.push_back(static_cast<char>((v >> 8) & 0xFF));
}

}  // namespace

std::vector<std::uint8_t> gif_lzw_encode(const std::uint8_t* indices, std::size_t n) {
  std::vector<std::uint8_t> out;
  BitWriter bits(out);
  // Dictionary: (prefix code << 8 | next index) -> code. Codes 0..255 are the single indices.
  std::unordered_map<std::uint32_t, int> dict;
  dict.reserve(8192);
  int code_size = kMinCodeSize + 1;
  int next_code = kEnd + 1;
  bits.put(kClear, code_size);
  if (n == 0) {
    bits.put(kEnd, code_size);
    bits.flush();
    return out;
  }
  int prefix = indices[0];
  for (std::size_t i = 1; i < n; ++i) {
    const std::uint8_t c = indices[i];
    const std::uint32_t key = (static_cast<std::uint32_t>(prefix) << 8) | c;
    const auto it = dict.find(key);
    if (it != dict.end()) {
      prefix = it->second;
      continue;
    }
    bits.put(prefix, code_size);
    // The decoder adds an entry per code it reads (after the first) and widens its codes once
    // its next free code needs another bit; the encoder, one entry ahead, widens at the same
    // code by comparing the entry it just made.
    if (next_code <= kMaxCode) {
      dict.emplace(key, next_code);
      if (next_code == (1 << code_size) && code_size < 12) ++code_size;
      ++next_code;
    }
    if (next_code > kMaxCode) {  // table full: start over
      bits.put(kClear, code_size);
      dict.clear();
      code_size = kMinCodeSize + 1;
      next_code = kEnd + 1;
    }
    prefix = c;
  }
  bits.put(prefix, code_size);
  bits.put(kEnd, code_size);
  bits.flush();
  return out;
}

GifWriter::GifWriter(std::string path, std::int64_t height, std::int64_t width, GifColour colour,
                     int delay_cs, int scale)
    : path_(std::move(path)),
      height_(height),
      width_(width),
      colour_(colour),
      delay_cs_(delay_cs),
      scale_(scale) {
  DQN_CHECK(height >= 1 && width >= 1 && height * scale <= 65535 && width * scale <= 65535,
            "GifWriter: expected a frame of 1..65535 pixels a side after scaling, got (", height,
            ",", width, ") x ", scale);
  DQN_CHECK(scale >= 1 && scale <= 16, "GifWriter: expected scale in [1, 16], got ", scale);
  DQN_CHECK(delay_cs >= 0 && delay_cs <= 65535, "GifWriter: expected delay_cs in [0, 65535], got ",
            delay_cs, " (hundredths of a second; 4 = 25 fps)");
  if (colour_ == GifColour::kGrey) {
    for (int i = 0; i < 256; ++i) palette_.insert(palette_.end(), 3, static_cast<std::uint8_t>(i));
  }
  indices_.resize(static_cast<std::size_t>(height * scale * width * scale));
}

GifWriter::~GifWriter() {
  if (finished_) return;
  try {
    finish();
  } catch (...) {  // a destructor must not throw; call finish() to see the error
  }
}

std::uint8_t GifWriter::palette_index(std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  const std::uint32_t key = (std::uint32_t{r} << 16) | (std::uint32_t{g} << 8) | b;
  if (const auto it = colour_index_.find(key); it != colour_index_.end()) return it->second;
  std::uint8_t index;
  if (palette_.size() < 256 * 3) {
    index = static_cast<std::uint8_t>(palette_.size() / 3);
    palette_.insert(palette_.end(), {r, g, b});
  } else {  // palette full: the nearest colour
    int best = std::numeric_limits<int>::max();
    index = 0;
    for (std::size_t i = 0; i < 256; ++i) {
      const int dr = palette_[3 * i] - r, dg = palette_[3 * i + 1] - g,
                db = palette_[3 * i + 2] - b;
      const int d = dr * dr + dg * dg + db * db;
      if (d < best) best = d, index = static_cast<std::uint8_t>(i);
    }
  }
  colour_index_.emplace(key, index);
  return index;
}

void GifWriter::add_frame(const std::uint8_t* pixels) {
  DQN_CHECK(!finished_, "GifWriter::add_frame: the file ", path_, " is already finished");
  const std::int64_t out_w = width_ * scale_;
  for (std::int64_t y = 0; y < height_; ++y) {
    for (std::int64_t x = 0; x < width_; ++x) {
      const std::int64_t p = y * width_ + x;
      const std::uint8_t index =
          colour_ == GifColour::kGrey
              ? pixels[p]
              : palette_index(pixels[3 * p], pixels[3 * p + 1], pixels[3 * p + 2]);
      for (int sy = 0; sy < scale_; ++sy) {
        std::uint8_t* row = indices_.data() + (y * scale_ + sy) * out_w + x * scale_;
        for (int sx = 0; sx < scale_; ++sx) row[sx] = index;
      }
    }
  }
  // Graphic control extension: no disposal, the delay, no transparency.
  body_.append("\x21\xF9\x04\x00", 4);
  put_u16(body_, delay_cs_);
  body_.append("\x00\x00", 2);
  // Image descriptor: the whole canvas, no local palette, not interlaced.
  body_.push_back('\x2C');
  put_u16(body_, 0), put_u16(body_, 0);
  put_u16(body_, static_cast<int>(out_w)), put_u16(body_, static_cast<int>(height_ * scale_));
  body_.push_back('\x00');
  body_.push_back(static_cast<char>(kMinCodeSize));
  const std::vector<std::uint8_t> data = gif_lzw_encode(indices_.data(), indices_.size());
  for (std::size_t i = 0; i < data.size(); i += 255) {  // sub-blocks of at most 255 bytes
    const std::size_t len = std::min<std::size_t>(255, data.size() - i);
    body_.push_back(static_cast<char>(len));
    body_.append(reinterpret_cast<const char*>(data.data() + i), len);
  }
  body_.push_back('\x00');
  ++frames_;
}

void GifWriter::finish() {
  DQN_CHECK(!finished_, "GifWriter::finish: ", path_, " is already finished");
  finished_ = true;
  std::string head = "GIF89a";
  put_u16(head, static_cast<int>(width_ * scale_));
  put_u16(head, static_cast<int>(height_ * scale_));
  head.push_back('\xF7');      // global palette of 2^(7+1) = 256 entries, 8 bits per primary
  head.append("\x00\x00", 2);  // background index, pixel aspect ratio
  std::vector<std::uint8_t> palette = palette_;
  palette.resize(256 * 3, 0);
  head.append(reinterpret_cast<const char*>(palette.data()), palette.size());
  head.append("\x21\xFF\x0BNETSCAPE2.0\x03\x01\x00\x00\x00", 19);  // loop forever
  std::FILE* f = std::fopen(path_.c_str(), "wb");
  DQN_CHECK(f != nullptr, "GifWriter: cannot open ", path_,
            " for writing: does its folder exist and is it writable?");
  const bool ok = std::fwrite(head.data(), 1, head.size(), f) == head.size() &&
                  std::fwrite(body_.data(), 1, body_.size(), f) == body_.size() &&
                  std::fputc(0x3B, f) != EOF;  // trailer
  const bool closed = std::fclose(f) == 0;
  DQN_CHECK(ok && closed, "GifWriter: writing ", path_, " failed: is the disk full?");
}

}  // namespace dqn::tools
