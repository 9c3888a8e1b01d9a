// envs/atari2600/md5.cpp: RFC 1321 MD5, written from the RFC's description: 64-byte blocks,
// four rounds of 16 operations, little-endian words, the length in bits appended.
#include "envs/atari2600/md5.hpp"

#include <array>
#include <cmath>

namespace atari2600 {
namespace {

std::uint32_t rotl(std::uint32_t x, int c) {
  return (x << c) | (x >> (32 - c));
}

// RFC 1321 §3.4: T[i] = floor(2^32 * |sin(i + 1)|), computed once (the values are exact in
// double precision), and the per-round shift amounts.
const std::array<std::uint32_t, 64>& sine_table() {
  static const std::array<std::uint32_t, 64> t = [] {
    std::array<std::uint32_t, 64> v{};
    for (int i = 0; i < 64; ++i)
      v[static_cast<std::size_t>(i)] =
          static_cast<std::uint32_t>(std::floor(4294967296.0 * std::fabs(std::sin(i + 1.0))));
    return v;
  }();
  return t;
}
constexpr int kShift[4][4] = {{7, 12, 17, 22}, {5, 9, 14, 20}, {4, 11, 16, 23}, {6, 10, 15, 21}};

void block(std::array<std::uint32_t, 4>& h, const std::uint8_t* p) {
  std::uint32_t x[16];
  for (int i = 0; i < 16; ++i)
    x[i] = std::uint32_t(p[4 * i]) | std::uint32_t(p[4 * i + 1]) << 8 |
           std::uint32_t(p[4 * i + 2]) << 16 | std::uint32_t(p[4 * i + 3]) << 24;
  std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
  const auto& t = sine_table();
  for (int i = 0; i < 64; ++i) {
    const int round = i / 16;
    std::uint32_t f;
    int k;
    if (round == 0) {
      f = (b & c) | (~b & d), k = i;
    } else if (round == 1) {
      f = (b & d) | (c & ~d), k = (5 * i + 1) % 16;
    } else if (round == 2) {
      f = b ^ c ^ d, k = (3 * i + 5) % 16;
    } else {
      f = c ^ (b | ~d), k = (7 * i) % 16;
    }
    const std::uint32_t next =
        b + rotl(a + f + x[k] + t[static_cast<std::size_t>(i)], kShift[round][i % 4]);
    a = d, d = c, c = b, b = next;
  }
  h[0] += a, h[1] += b, h[2] += c, h[3] += d;
}

}  // namespace

std::string md5_hex(const std::uint8_t* data, std::size_t size) {
  std::array<std::uint32_t, 4> h = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u};
  std::size_t full = size / 64 * 64;
  for (std::size_t i = 0; i < full; i += 64) block(h, data + i);
  // Padding: 0x80, zeros to 56 mod 64, then the length in bits, little-endian.
  std::uint8_t tail[128] = {};
  const std::size_t rest = size - full;
  for (std::size_t i = 0; i < rest; ++i) tail[i] = data[full + i];
  tail[rest] = 0x80;
  const std::size_t tail_size = rest < 56 ? 64 : 128;
  const std::uint64_t bits = static_cast<std::uint64_t>(size) * 8;
  for (int i = 0; i < 8; ++i) tail[tail_size - 8 + i] = static_cast<std::uint8_t>(bits >> (8 * i));
  for (std::size_t i = 0; i < tail_size; i += 64) block(h, tail + i);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::uint32_t w : h)
    for (int i = 0; i < 4; ++i) {
      const std::uint8_t byte = static_cast<std::uint8_t>(w >> (8 * i));
      out += kHex[byte >> 4];
      out += kHex[byte & 15];
    }
  return out;
}

}  // namespace atari2600
