// envs/atari2600/tia.cpp: TIA registers, object drawing and collisions (see tia.hpp).
//
// Rules marked "README 4.x" come from ../shared/atari/README.md; rules marked "probe" were
// measured with the project's probe ROMs against the ALE oracle (tests/atari2600/probes/).
#include "envs/atari2600/tia.hpp"

#include <algorithm>

namespace atari2600 {
namespace {

// Collision latches: two bits per read register, bit 2k = the register's bit 6, 2k+1 = bit 7.
constexpr std::uint16_t kM0P1 = 1u << 1, kM0P0 = 1u << 0, kM1P0 = 1u << 3, kM1P1 = 1u << 2,
                        kP0PF = 1u << 5, kP0BL = 1u << 4, kP1PF = 1u << 7, kP1BL = 1u << 6,
                        kM0PF = 1u << 9, kM0BL = 1u << 8, kM1PF = 1u << 11, kM1BL = 1u << 10,
                        kBLPF = 1u << 13, kP0P1 = 1u << 15, kM0M1 = 1u << 14;

// NUSIZ modes 0-7: copy offsets (in pixels from the object's position) and the player's
// stretch factor. Modes 5 and 7 are one double / quad wide copy.
struct Copies {
  int count;
  int offset[3];
  int stretch;
};
constexpr Copies kCopies[8] = {
    {1, {0, 0, 0}, 1},  {2, {0, 16, 0}, 1}, {2, {0, 32, 0}, 1},  {3, {0, 16, 32}, 1},
    {2, {0, 64, 0}, 1}, {1, {0, 0, 0}, 2},  {3, {0, 32, 64}, 1}, {1, {0, 0, 0}, 4},
};

inline int wrap160(int v) {
  return ((v % 160) + 160) % 160;
}

// Measured by tests/atari2600/probes/measure_hmove.py (probe hmove_table): pixels moved
// left by HMOVE at CPU cycle c of a line (row) for HMxx >> 4 = 0..15 (column). Cycles 0-2,
// out of this probe's reach, repeat cycle 3 (probe hmove_early shows ALE agrees).
constexpr std::int8_t kHmoveMotion[76][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1},          // 0
    {0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1},          // 1
    {0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1},          // 2
    {0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1},          // 3
    {0, 1, 2, 3, 4, 5, 6, 6, -8, -7, -6, -5, -4, -3, -2, -1},          // 4
    {0, 1, 2, 3, 4, 5, 5, 5, -8, -7, -6, -5, -4, -3, -2, -1},          // 5
    {0, 1, 2, 3, 4, 5, 5, 5, -8, -7, -6, -5, -4, -3, -2, -1},          // 6
    {0, 1, 2, 3, 4, 4, 4, 4, -8, -7, -6, -5, -4, -3, -2, -1},          // 7
    {0, 1, 2, 3, 3, 3, 3, 3, -8, -7, -6, -5, -4, -3, -2, -1},          // 8
    {0, 1, 2, 2, 2, 2, 2, 2, -8, -7, -6, -5, -4, -3, -2, -1},          // 9
    {0, 1, 2, 2, 2, 2, 2, 2, -8, -7, -6, -5, -4, -3, -2, -1},          // 10
    {0, 1, 1, 1, 1, 1, 1, 1, -8, -7, -6, -5, -4, -3, -2, -1},          // 11
    {0, 0, 0, 0, 0, 0, 0, 0, -8, -7, -6, -5, -4, -3, -2, -1},          // 12
    {-1, -1, -1, -1, -1, -1, -1, -1, -8, -7, -6, -5, -4, -3, -2, -1},  // 13
    {-1, -1, -1, -1, -1, -1, -1, -1, -8, -7, -6, -5, -4, -3, -2, -1},  // 14
    {-2, -2, -2, -2, -2, -2, -2, -2, -8, -7, -6, -5, -4, -3, -2, -2},  // 15
    {-3, -3, -3, -3, -3, -3, -3, -3, -8, -7, -6, -5, -4, -3, -3, -3},  // 16
    {-4, -4, -4, -4, -4, -4, -4, -4, -8, -7, -6, -5, -4, -4, -4, -4},  // 17
    {-4, -4, -4, -4, -4, -4, -4, -4, -8, -7, -6, -5, -4, -4, -4, -4},  // 18
    {-5, -5, -5, -5, -5, -5, -5, -5, -8, -7, -6, -5, -5, -5, -5, -5},  // 19
    {-6, -6, -6, -6, -6, -6, -6, -6, -8, -7, -6, -6, -6, -6, -6, -6},  // 20
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 21
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 22
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 23
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 24
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 25
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 26
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 27
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 28
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 29
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 30
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 31
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 32
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 33
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 34
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 35
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 36
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 37
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 38
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 39
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 40
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 41
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 42
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 43
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 44
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 45
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 46
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 47
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 48
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 49
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 50
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 51
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 52
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 53
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},                  // 54
    {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0},                  // 55
    {0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0},                  // 56
    {0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0},                  // 57
    {0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0},                  // 58
    {0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0},                  // 59
    {0, 0, 0, 1, 2, 3, 4, 5, 0, 0, 0, 0, 0, 0, 0, 0},                  // 60
    {0, 0, 1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 0, 0, 0, 0},                  // 61
    {0, 0, 1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 0, 0, 0, 0},                  // 62
    {0, 1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 0, 0, 0, 0, 0},                  // 63
    {1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0},                  // 64
    {2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0, 0, 0, 0, 1},                  // 65
    {2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0, 0, 0, 0, 1},                  // 66
    {3, 4, 5, 6, 7, 8, 9, 10, 0, 0, 0, 0, 0, 0, 1, 2},                 // 67
    {4, 5, 6, 7, 8, 9, 10, 11, 0, 0, 0, 0, 0, 1, 2, 3},                // 68
    {5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 0, 0, 1, 2, 3, 4},               // 69
    {5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 0, 0, 1, 2, 3, 4},               // 70
    {6, 7, 8, 9, 10, 11, 12, 13, 0, 0, 0, 1, 2, 3, 4, 5},              // 71
    {7, 8, 9, 10, 11, 12, 13, 14, 0, 0, 1, 2, 3, 4, 5, 6},             // 72
    {8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7},            // 73
    {8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7},            // 74
    {0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1},          // 75
};

// See Tia::reset_player.
constexpr int kResetDelay = 4;
constexpr int kResetFinish = 11;

bool player_pixel(int x, int pos, std::uint8_t nusiz, bool reflect, std::uint8_t graphics,
                  bool first_off) {
  if (graphics == 0) return false;
  const Copies& c = kCopies[nusiz & 7];
  const int d = wrap160(x - pos);
  for (int k = first_off ? 1 : 0; k < c.count; ++k) {
    const int e = wrap160(d - c.offset[k] - (c.stretch > 1 ? 1 : 0));
    if (e < 8 * c.stretch) {
      const int bit = e / c.stretch;
      return graphics & (reflect ? (1 << bit) : (0x80 >> bit));
    }
  }
  return false;
}

bool missile_pixel(int x, int pos, std::uint8_t nusiz) {
  const Copies& c = kCopies[nusiz & 7];
  const int width = 1 << ((nusiz >> 4) & 3);
  const int d = wrap160(x - pos);
  const int count = c.stretch == 1 ? c.count : 1;
  for (int k = 0; k < count; ++k) {
    const int e = d - c.offset[k];
    if (e >= 0 && e < width) return true;
  }
  return false;
}

// Playfield bit for column x: PF0 bits 4-7, PF1 bits 7-0, PF2 bits 0-7 make 20 four-pixel
// cells on the left half; the right half repeats them, or mirrors them when CTRLPF bit 0 is set.
bool playfield_pixel(int x, const TiaState& s) {
  int cell = x / 4;
  if (cell >= 20) cell = (s.ctrlpf & 1) ? 39 - cell : cell - 20;
  if (cell < 4) return s.pf0 & (0x10 << cell);
  if (cell < 12) return s.pf1 & (0x80 >> (cell - 4));
  return s.pf2 & (1 << (cell - 12));
}

// Rows as bits (Tia::collide_span). kRev8: the bits of a byte reversed; kStretch2/4: each
// bit of a byte repeated 2 or 4 times (bit i -> bits f*i .. f*i + f - 1).
constexpr std::array<std::uint8_t, 256> make_rev8() {
  std::array<std::uint8_t, 256> t{};
  for (int v = 0; v < 256; ++v) {
    int r = 0;
    for (int b = 0; b < 8; ++b) r |= ((v >> b) & 1) << (7 - b);
    t[static_cast<std::size_t>(v)] = static_cast<std::uint8_t>(r);
  }
  return t;
}
constexpr auto kRev8 = make_rev8();
constexpr std::array<std::uint32_t, 256> make_stretch(int f) {
  std::array<std::uint32_t, 256> t{};
  for (int v = 0; v < 256; ++v) {
    std::uint32_t r = 0;
    for (int b = 0; b < 8; ++b) {
      if ((v >> b) & 1) r |= ((1u << f) - 1) << (f * b);
    }
    t[static_cast<std::size_t>(v)] = r;
  }
  return t;
}
constexpr auto kStretch2 = make_stretch(2);
constexpr auto kStretch4 = make_stretch(4);

using Bits160 = std::array<std::uint64_t, 3>;

// ORs `bits` in at column `pos`; the bits must end at or before column 160.
inline void put_aligned(Bits160& w, int pos, std::uint64_t bits) {
  const int word = pos >> 6, sh = pos & 63;
  w[static_cast<std::size_t>(word)] |= bits << sh;
  if (sh != 0 && word < 2) w[static_cast<std::size_t>(word + 1)] |= bits >> (64 - sh);
}
// ORs the `width` (<= 32) bits of `pattern` in from column `pos` (0..159), wrapping at 160.
inline void put_bits(Bits160& w, int pos, std::uint64_t pattern, int width) {
  const int first = std::min(width, 160 - pos);
  put_aligned(w, pos, pattern & ((1ull << first) - 1));
  if (first < width) put_aligned(w, 0, pattern >> first);
}

}  // namespace

Tia::Tia() {
  for (auto& b : buffers_) b.assign(static_cast<std::size_t>(kWidth) * kMaxRows, 0);
}

void Tia::set_window(int ystart, int height) {
  ystart_ = ystart;
  height_ = std::clamp(height, 1, kMaxRows);
}

void Tia::reset(std::uint64_t cycle) {
  const auto fire0 = s_.fire0, fire1 = s_.fire1;
  const auto paddle = s_.paddle;
  s_ = TiaState{};
  s_.fire0 = fire0, s_.fire1 = fire1, s_.paddle = paddle;
  s_.frame_start = cycle;
  for (auto& b : buffers_) std::fill(b.begin(), b.end(), 0);
  shown_ = 1;
  invalidate_rows();
}

void Tia::draw_to(std::int64_t clock) {
  while (s_.drawn < clock) {
    const int line = static_cast<int>(s_.drawn / kClocksPerLine);
    const int from = static_cast<int>(s_.drawn % kClocksPerLine);
    const std::int64_t line_end = static_cast<std::int64_t>(line + 1) * kClocksPerLine;
    const int to = clock >= line_end ? kClocksPerLine : static_cast<int>(clock % kClocksPerLine);
    draw_line_span(line, from, to);
    s_.drawn = std::min(clock, line_end);
  }
}

// Object bits of one pixel, the obvious way: the reference for object_masks().
std::uint8_t Tia::object_mask_ref(int x, const TiaState& s) {
  const std::uint8_t g0 = s.vdelp0 & 1 ? s.grp0_old : s.grp0;
  const std::uint8_t g1 = s.vdelp1 & 1 ? s.grp1_old : s.grp1;
  const bool m0_on = (s.enam0 & 2) && !(s.resmp0 & 2);
  const bool m1_on = (s.enam1 & 2) && !(s.resmp1 & 2);
  const bool bl_on = ((s.vdelbl & 1) ? s.enabl_old : s.enabl) & 2;
  const int bl_width = 1 << ((s.ctrlpf >> 4) & 3);
  std::uint8_t m = 0;
  if (playfield_pixel(x, s)) m |= kObjPF;
  if (bl_on && wrap160(x - s.pos_bl) < bl_width) m |= kObjBL;
  if (player_pixel(x, s.pos_p0, s.nusiz0, s.refp0 & 8, g0, s.p0_first_off)) m |= kObjP0;
  if (m0_on && missile_pixel(x, s.pos_m0, s.nusiz0)) m |= kObjM0;
  if (player_pixel(x, s.pos_p1, s.nusiz1, s.refp1 & 8, g1, s.p1_first_off)) m |= kObjP1;
  if (m1_on && missile_pixel(x, s.pos_m1, s.nusiz1)) m |= kObjM1;
  return m;
}

// The same bits for columns [x0, x1), the fast way: each object's row of 160 bits is built
// once and kept until one of the registers it depends on changes (a key of those registers).
void Tia::object_masks(std::uint8_t* mask, int x0, int x1) {
  const TiaState& s = s_;
  auto row = [](RowCache& c, std::uint32_t key, auto&& build) -> const std::uint8_t* {
    if (c.key != key) {
      c.key = key;
      c.bits.fill(0);
      build(c.bits);
    }
    return c.bits.data();
  };
  const std::uint8_t* pf = row(rows_[0],
                               static_cast<std::uint32_t>(s.pf0 >> 4) | (s.pf1 << 4) |
                                   (s.pf2 << 12) | ((s.ctrlpf & 1u) << 20),
                               [&](auto& bits) {
                                 // 40 cells of 4 pixels; the playfield changes almost every line,
                                 // so this is built cell by cell rather than pixel by pixel.
                                 for (int cell = 0; cell < 40; ++cell) {
                                   if (playfield_pixel(cell * 4, s)) {
                                     std::fill_n(bits.begin() + cell * 4, 4, kObjPF);
                                   }
                                 }
                               });
  auto player_row = [&](RowCache& c, int pos, std::uint8_t nusiz, bool reflect, std::uint8_t g,
                        bool first_off, std::uint8_t bit) {
    const std::uint32_t key = static_cast<std::uint32_t>(pos) | ((nusiz & 7u) << 8) |
                              (reflect ? 1u << 11 : 0) | (static_cast<std::uint32_t>(g) << 12) |
                              (first_off ? 1u << 20 : 0);
    return row(c, key, [&](auto& bits) {
      if (g == 0) return;
      const Copies& cp = kCopies[nusiz & 7];
      // Double and quad width players start one pixel later (probe: resp0, frames 3 and 5).
      const int shift = cp.stretch > 1 ? 1 : 0;
      for (int k = first_off ? 1 : 0; k < cp.count; ++k) {
        for (int e = 0; e < 8 * cp.stretch; ++e) {
          const int b = e / cp.stretch;
          if (g & (reflect ? (1 << b) : (0x80 >> b))) {
            bits[static_cast<std::size_t>(wrap160(pos + cp.offset[k] + shift + e))] = bit;
          }
        }
      }
    });
  };
  auto missile_row = [&](RowCache& c, int pos, std::uint8_t nusiz, bool on, std::uint8_t bit) {
    const std::uint32_t key = static_cast<std::uint32_t>(pos) |
                              (static_cast<std::uint32_t>(nusiz & 0x37) << 8) | (on ? 1u << 16 : 0);
    return row(c, key, [&](auto& bits) {
      if (!on) return;
      const Copies& cp = kCopies[nusiz & 7];
      const int width = 1 << ((nusiz >> 4) & 3);
      const int count = cp.stretch == 1 ? cp.count : 1;
      for (int k = 0; k < count; ++k) {
        for (int e = 0; e < width; ++e)
          bits[static_cast<std::size_t>(wrap160(pos + cp.offset[k] + e))] = bit;
      }
    });
  };
  const std::uint8_t g0 = s.vdelp0 & 1 ? s.grp0_old : s.grp0;
  const std::uint8_t g1 = s.vdelp1 & 1 ? s.grp1_old : s.grp1;
  const std::uint8_t* p0 =
      player_row(rows_[1], s.pos_p0, s.nusiz0, s.refp0 & 8, g0, s.p0_first_off, kObjP0);
  const std::uint8_t* p1 =
      player_row(rows_[2], s.pos_p1, s.nusiz1, s.refp1 & 8, g1, s.p1_first_off, kObjP1);
  const std::uint8_t* m0 =
      missile_row(rows_[3], s.pos_m0, s.nusiz0, (s.enam0 & 2) && !(s.resmp0 & 2), kObjM0);
  const std::uint8_t* m1 =
      missile_row(rows_[4], s.pos_m1, s.nusiz1, (s.enam1 & 2) && !(s.resmp1 & 2), kObjM1);
  const bool bl_on = ((s.vdelbl & 1) ? s.enabl_old : s.enabl) & 2;
  const std::uint32_t bl_width = 1u << ((s.ctrlpf >> 4) & 3);
  const std::uint8_t* bl =
      row(rows_[5], static_cast<std::uint32_t>(s.pos_bl) | (bl_width << 8) | (bl_on ? 1u << 16 : 0),
          [&](auto& bits) {
            if (!bl_on) return;
            for (std::uint32_t e = 0; e < bl_width; ++e) {
              bits[static_cast<std::size_t>(wrap160(s.pos_bl + static_cast<int>(e)))] = kObjBL;
            }
          });
  for (int x = x0; x < x1; ++x) mask[x] = pf[x] | bl[x] | p0[x] | p1[x] | m0[x] | m1[x];
}

namespace {

// Collision latches set by each combination of object bits.
constexpr std::array<std::uint16_t, 64> make_collision_table() {
  std::array<std::uint16_t, 64> t{};
  for (int m = 0; m < 64; ++m) {
    const bool pf = m & Tia::kObjPF, bl = m & Tia::kObjBL, p0 = m & Tia::kObjP0,
               m0 = m & Tia::kObjM0, p1 = m & Tia::kObjP1, m1 = m & Tia::kObjM1;
    std::uint16_t cx = 0;
    if (m0)
      cx |= (p1 ? kM0P1 : 0) | (p0 ? kM0P0 : 0) | (pf ? kM0PF : 0) | (bl ? kM0BL : 0) |
            (m1 ? kM0M1 : 0);
    if (m1) cx |= (p0 ? kM1P0 : 0) | (p1 ? kM1P1 : 0) | (pf ? kM1PF : 0) | (bl ? kM1BL : 0);
    if (p0) cx |= (pf ? kP0PF : 0) | (bl ? kP0BL : 0) | (p1 ? kP0P1 : 0);
    if (p1) cx |= (pf ? kP1PF : 0) | (bl ? kP1BL : 0);
    if (bl && pf) cx |= kBLPF;
    t[static_cast<std::size_t>(m)] = cx;
  }
  return t;
}
constexpr auto kCollisionTable = make_collision_table();

// Which colour register shows for each combination of object bits, per mode: 0 COLUBK,
// 2 COLUP0, 3 COLUP1, 4 COLUPF (playfield and ball). Modes (probe modes):
//   kModeNormal    P0/M0 > P1/M1 > PF/BL > BK
//   kModePriority  PF/BL > P0/M0 > P1/M1 > BK (CTRLPF bit 2; with score mode too only while
//                  an object besides the playfield is enabled, see span())
//   kModeScoreL/R  score mode (CTRLPF bit 1) without priority (or with it while nothing but the
//                  playfield is enabled): the playfield takes player 0's
//                  colour and rank on the left half, player 1's on the right half.
constexpr std::uint8_t kSrcBK = 0, kSrcP0 = 2, kSrcP1 = 3, kSrcPF = 4;
constexpr int kModeNormal = 0, kModePriority = 1, kModeScoreL = 2, kModeScoreR = 3;
constexpr std::array<std::array<std::uint8_t, 64>, 4> make_source_table() {
  std::array<std::array<std::uint8_t, 64>, 4> t{};
  for (int mode = 0; mode < 4; ++mode) {
    for (int m = 0; m < 64; ++m) {
      bool pf = m & Tia::kObjPF, bl = m & Tia::kObjBL;
      bool p0 = m & (Tia::kObjP0 | Tia::kObjM0), p1 = m & (Tia::kObjP1 | Tia::kObjM1);
      if (mode == kModeScoreL) p0 = p0 || pf, pf = false;
      if (mode == kModeScoreR) p1 = p1 || pf, pf = false;
      std::uint8_t src;
      if (mode == kModePriority) {
        src = (pf || bl) ? kSrcPF : p0 ? kSrcP0 : p1 ? kSrcP1 : kSrcBK;
      } else {
        src = p0 ? kSrcP0 : p1 ? kSrcP1 : (pf || bl) ? kSrcPF : kSrcBK;
      }
      t[static_cast<std::size_t>(mode)][static_cast<std::size_t>(m)] = src;
    }
  }
  return t;
}
constexpr auto kSourceTable = make_source_table();

// The objects other than the playfield that the registers enable for the rest of the line: a
// player whose shown graphic (the old copy under VDEL) is non-zero, a missile enabled and not
// locked to its player, the ball enabled (the old copy under VDELBL).
unsigned enabled_objects(const TiaState& s) {
  const std::uint8_t g0 = s.vdelp0 & 1 ? s.grp0_old : s.grp0;
  const std::uint8_t g1 = s.vdelp1 & 1 ? s.grp1_old : s.grp1;
  return ((((s.vdelbl & 1) ? s.enabl_old : s.enabl) & 2) ? Tia::kObjBL : 0u) |
         (g0 ? Tia::kObjP0 : 0u) | (g1 ? Tia::kObjP1 : 0u) |
         (((s.enam0 & 2) && !(s.resmp0 & 2)) ? Tia::kObjM0 : 0u) |
         (((s.enam1 & 2) && !(s.resmp1 & 2)) ? Tia::kObjM1 : 0u);
}
bool objects_enabled(const TiaState& s) {
  return enabled_objects(s) != 0;
}

}  // namespace

void Tia::draw_line_span(int line, int from_hc, int to_hc) {
  const int start = std::max(from_hc, static_cast<int>(kHBlank));
  const bool blank_span = s_.hmove_blank && from_hc < kHBlank + 8 && to_hc > kHBlank;
  if (to_hc > kHBlank + 7 && from_hc <= kHBlank + 7) s_.hmove_blank = false;
  if (start >= to_hc) return;
  const int row = line - ystart_;
  if (row < 0 || row >= height_) return;
  const int x0 = start - kHBlank, x1 = to_hc - kHBlank;
  span(row, x0, x1, blank_span);
  // A player's first-copy skip ends with the next finished row of the picture (probe
  // collisions: resets above the picture hide the players on row 0). After the span: the
  // span itself still skips.
  if (to_hc == kClocksPerLine && (s_.p0_first_off || s_.p1_first_off)) {
    s_.p0_first_off = s_.p1_first_off = false;
    ++version_;
    ++obj_version_;
  }
  // A late reflection write takes effect when a row of the picture is finished.
  if (to_hc == kClocksPerLine && (s_.ctrlpf & 1) != s_.pf_reflect_written) {
    s_.ctrlpf = static_cast<std::uint8_t>((s_.ctrlpf & 0xFE) | s_.pf_reflect_written);
    ++version_;
    ++obj_version_;
  }
}

void Tia::span(int row, int x0, int x1, bool blank_span) {
  const TiaState& s = s_;
  std::uint8_t* out = buffers_[s.back].data() + static_cast<std::size_t>(row) * kWidth;
  if (s.vblank & 2) {
    // VBLANK: black, and no collisions (probe collisions, blocks 3 and 4).
    if (render_) std::fill(out + x0, out + x1, std::uint8_t{0});
    return;
  }
  std::uint16_t cx = s.collisions;
  if (!render_) {
    // No pixels wanted: only the latches. The objects that can show on this row (tested from
    // the registers, erring towards "can") bound the latches the span could set; when those
    // are all set already (or no two objects exist), the span changes nothing. Most spans
    // end here (profile, Tetris: building the object rows was 18% of the time, drawing 23%).
    const unsigned present = (((s.pf0 & 0xF0) | s.pf1 | s.pf2) ? kObjPF : 0u) | enabled_objects(s);
    if ((cx | kCollisionTable[present]) == cx) return;
    collide_span(x0, x1);
    return;
  }
  if (mask_version_ != version_) {  // some register changed since the row was built
    object_masks(mask_.data(), 0, kWidth);
    mask_version_ = version_;
  }
  const std::array<std::uint8_t, kWidth>& mask = mask_;
  const std::uint8_t colours[5] = {s.colubk, 0, s.colup0, s.colup1, s.colupf};
  // Score and priority modes together (probe score_priority): while no object but the
  // playfield is enabled, the playfield takes score mode's colours (COLUP0 left of pixel 80,
  // COLUP1 right of it, reflection or not); as soon as a player, missile or ball is enabled,
  // priority mode's rule holds for every pixel of the span, the playfield's own included
  // (COLUPF, above the players). "Enabled" is the register state, not the pixel: a player with
  // a non-zero graphic (after VDEL) anywhere on the line, a missile with ENAM set and RESMP
  // clear, the ball with ENABL set (after VDEL). A write that changes it mid-line switches the
  // rule from that pixel on, so spans suffice.
  const bool both = (s.ctrlpf & 6) == 6 && !objects_enabled(s);
  const bool priority = (s.ctrlpf & 4) && !both, score = (s.ctrlpf & 2) && !priority;
  const auto& left = kSourceTable[priority ? kModePriority : score ? kModeScoreL : kModeNormal];
  const auto& right = kSourceTable[priority ? kModePriority : score ? kModeScoreR : kModeNormal];
  const int split = std::clamp(80, x0, x1);
  for (int x = x0; x < split; ++x) {
    const std::uint8_t m = mask[static_cast<std::size_t>(x)];
    cx |= kCollisionTable[m];
    out[x] = colours[left[m]];
  }
  for (int x = split; x < x1; ++x) {
    const std::uint8_t m = mask[static_cast<std::size_t>(x)];
    cx |= kCollisionTable[m];
    out[x] = colours[right[m]];
  }
  if (blank_span) {
    std::fill(out + x0, out + std::min(x1, 8), std::uint8_t{0});
  }
  s_.collisions = cx;
}

// Collisions of columns [x0, x1) without pixels. Equal to OR-ing kCollisionTable over the
// span's object masks (a pair's latch is set when both objects cover one column; the skip
// tests check it against drawn runs). Spans are many (Tetris: ~500 a frame, 30 columns on
// average) and overlaps rare, so the work per span is kept to a few compares:
//  * each object's row as 160 bits (bit x = column x), cached under a key of the registers
//    it is built from (the keys of object_masks);
//  * for each pair whose latch is still clear, whether the two rows meet anywhere on the
//    line, cached under the pair of keys; only a pair that meets is ANDed over the span.
// (Profile: building bit rows per span cost 23% of the time, interval tests 33%.)
void Tia::collide_span(int x0, int x1) {
  const TiaState& s = s_;
  const std::uint8_t g0 = s.vdelp0 & 1 ? s.grp0_old : s.grp0;
  const std::uint8_t g1 = s.vdelp1 & 1 ? s.grp1_old : s.grp1;
  const bool m0_on = (s.enam0 & 2) && !(s.resmp0 & 2);
  const bool m1_on = (s.enam1 & 2) && !(s.resmp1 & 2);
  const bool bl_on = ((s.vdelbl & 1) ? s.enabl_old : s.enabl) & 2;
  const int bl_width = 1 << ((s.ctrlpf >> 4) & 3);
  // Objects that can show on this row, from the registers (span() tested the same already).
  // Index as the kObj bits: 0 PF, 1 BL, 2 P0, 3 M0, 4 P1, 5 M1.
  const unsigned present = (((s.pf0 & 0xF0) | s.pf1 | s.pf2) ? 1u : 0u) | (bl_on ? 2u : 0u) |
                           (g0 ? 4u : 0u) | (m0_on ? 8u : 0u) | (g1 ? 16u : 0u) |
                           (m1_on ? 32u : 0u);
  std::uint16_t cx = s_.collisions;
  if ((cx | kCollisionTable[present]) == cx) return;
  // The cheapest exit: the latches of the pairs without the playfield that meet anywhere on
  // the line are known while no object but the playfield changed (obj_version_), and those
  // with the playfield are bounded by `present`. (Tetris: ~900 spans a frame reach here, the
  // players are in every one and never meet; their playfield latches are set early.)
  constexpr std::uint16_t kPfLatches = kP0PF | kP1PF | kM0PF | kM1PF | kBLPF;
  const bool objects_known = obj_latches_version_ == obj_version_;
  if (objects_known && (cx | obj_latches_ | (kCollisionTable[present] & kPfLatches)) == cx) {
    return;
  }

  auto player_key = [](int pos, std::uint8_t nusiz, bool reflect, std::uint8_t g, bool first_off) {
    return static_cast<std::uint32_t>(pos) | ((nusiz & 7u) << 8) | (reflect ? 1u << 11 : 0) |
           (static_cast<std::uint32_t>(g) << 12) | (first_off ? 1u << 20 : 0);
  };
  auto missile_key = [](int pos, std::uint8_t nusiz, bool on) {
    return static_cast<std::uint32_t>(pos) | (static_cast<std::uint32_t>(nusiz & 0x37) << 8) |
           (on ? 1u << 16 : 0);
  };
  const std::uint32_t keys[6] = {static_cast<std::uint32_t>(s.pf0 >> 4) | (s.pf1 << 4) |
                                     (s.pf2 << 12) | ((s.ctrlpf & 1u) << 20),
                                 static_cast<std::uint32_t>(s.pos_bl) |
                                     (static_cast<std::uint32_t>(bl_width) << 8) |
                                     (bl_on ? 1u << 16 : 0),
                                 player_key(s.pos_p0, s.nusiz0, s.refp0 & 8, g0, s.p0_first_off),
                                 missile_key(s.pos_m0, s.nusiz0, m0_on),
                                 player_key(s.pos_p1, s.nusiz1, s.refp1 & 8, g1, s.p1_first_off),
                                 missile_key(s.pos_m1, s.nusiz1, m1_on)};

  auto build_player = [](Bits160& w, int pos, std::uint8_t nusiz, bool reflect, std::uint8_t g,
                         bool first_off) {
    if (g == 0) return;
    const Copies& cp = kCopies[nusiz & 7];
    // Bit i = pixel i of a copy: the graphics' bit 7 first unless reflected.
    const std::uint8_t g8 = reflect ? g : kRev8[g];
    const std::uint64_t pattern = cp.stretch == 1   ? g8
                                  : cp.stretch == 2 ? kStretch2[g8]
                                                    : kStretch4[g8];
    const int shift = cp.stretch > 1 ? 1 : 0;  // double/quad one pixel late (object_masks)
    for (int k = first_off ? 1 : 0; k < cp.count; ++k) {
      put_bits(w, wrap160(pos + cp.offset[k] + shift), pattern, 8 * cp.stretch);
    }
  };
  auto build_missile = [](Bits160& w, int pos, std::uint8_t nusiz, bool on) {
    if (!on) return;
    const Copies& cp = kCopies[nusiz & 7];
    const int width = 1 << ((nusiz >> 4) & 3);
    const int count = cp.stretch == 1 ? cp.count : 1;
    for (int k = 0; k < count; ++k) {
      put_bits(w, wrap160(pos + cp.offset[k]), (1ull << width) - 1, width);
    }
  };
  auto bits = [&](int i) -> const Bits160& {
    RowBits& c = bits_[static_cast<std::size_t>(i)];
    if (c.key == keys[i]) return c.w;
    c.key = keys[i];
    Bits160& w = c.w;
    w = {0, 0, 0};
    switch (i) {
      case 0: {
        // 20 cells of 4 pixels on the left, repeated or (CTRLPF bit 0) mirrored.
        const std::uint32_t left = static_cast<std::uint32_t>(s.pf0 >> 4) |
                                   (static_cast<std::uint32_t>(kRev8[s.pf1]) << 4) |
                                   (static_cast<std::uint32_t>(s.pf2) << 12);
        const std::uint32_t right =
            (s.ctrlpf & 1) ? ((static_cast<std::uint32_t>(kRev8[left & 0xFF]) << 16) |
                              (static_cast<std::uint32_t>(kRev8[(left >> 8) & 0xFF]) << 8) |
                              kRev8[(left >> 16) & 0xFF]) >>
                                 4
                           : left;
        const std::uint64_t cells = left | (static_cast<std::uint64_t>(right) << 20);
        auto cell_byte = [&](int k) { return kStretch4[(cells >> (8 * k)) & 0xFF]; };
        w[0] = cell_byte(0) | (static_cast<std::uint64_t>(cell_byte(1)) << 32);
        w[1] = cell_byte(2) | (static_cast<std::uint64_t>(cell_byte(3)) << 32);
        w[2] = cell_byte(4);
        break;
      }
      case 1:
        if (bl_on) put_bits(w, s.pos_bl, (1ull << bl_width) - 1, bl_width);
        break;
      case 2:
        build_player(w, s.pos_p0, s.nusiz0, s.refp0 & 8, g0, s.p0_first_off);
        break;
      case 3:
        build_missile(w, s.pos_m0, s.nusiz0, m0_on);
        break;
      case 4:
        build_player(w, s.pos_p1, s.nusiz1, s.refp1 & 8, g1, s.p1_first_off);
        break;
      default:
        build_missile(w, s.pos_m1, s.nusiz1, m1_on);
        break;
    }
    return w;
  };
  if (!objects_known) {  // the pairs without the playfield, over the whole line
    std::uint16_t meet = 0;
    for (int i = 1; i < 6; ++i) {
      for (int j = i + 1; j < 6; ++j) {
        if (!(present >> i & 1) || !(present >> j & 1)) continue;
        const Bits160& bi = bits(i);
        const Bits160& bj = bits(j);
        if ((bi[0] & bj[0]) | (bi[1] & bj[1]) | (bi[2] & bj[2])) {
          meet |= kCollisionTable[(1u << i) | (1u << j)];
        }
      }
    }
    obj_latches_ = meet;
    obj_latches_version_ = obj_version_;
    if ((cx | obj_latches_ | (kCollisionTable[present] & kPfLatches)) == cx) return;
  }
  int pair = 0;
  for (int i = 0; i < 6; ++i) {
    for (int j = i + 1; j < 6; ++j, ++pair) {
      if (!(present >> i & 1) || !(present >> j & 1)) continue;
      const std::uint16_t latch = kCollisionTable[(1u << i) | (1u << j)];
      if ((cx & latch) == latch) continue;
      PairCache& pc = pairs_[static_cast<std::size_t>(pair)];
      const std::uint64_t key = (static_cast<std::uint64_t>(keys[i]) << 32) | keys[j];
      if (pc.key != key) {
        const Bits160& bi = bits(i);
        const Bits160& bj = bits(j);
        pc.key = key;
        pc.meet = (bi[0] & bj[0]) | (bi[1] & bj[1]) | (bi[2] & bj[2]);
      }
      if (!pc.meet) continue;
      // They meet somewhere on the line: inside the span?
      const Bits160& bi = bits(i);
      const Bits160& bj = bits(j);
      for (int k = 0; k < 3; ++k) {
        const int lo = std::max(x0, 64 * k), hi = std::min(x1, 64 * k + 64);
        if (lo >= hi) continue;
        const int n = hi - lo;
        const std::uint64_t span = (n == 64 ? ~0ull : ((1ull << n) - 1)) << (lo - 64 * k);
        const auto kk = static_cast<std::size_t>(k);
        if (bi[kk] & bj[kk] & span) {
          cx |= latch;
          break;
        }
      }
    }
  }
  s_.collisions = cx;
}

// Skipped frames, before a register changes: when no span of the current state can set a
// latch that is still clear, the spans up to `clock` would only finish rows and pass HMOVE
// blanks, which is done here without them (profile: Tetris drew ~900 spans a frame, with the
// same two players over and over). Only with both first-copy skips off, since their end at a
// row's end changes the objects within the range.
void Tia::catch_up_to(std::int64_t clock) {
  if (render_ || clock <= s_.drawn || s_.p0_first_off || s_.p1_first_off ||
      (s_.ctrlpf & 1) != s_.pf_reflect_written) {
    draw_to(clock);
    return;
  }
  const TiaState& s = s_;
  if (!(s.vblank & 2)) {
    const unsigned present = (((s.pf0 & 0xF0) | s.pf1 | s.pf2) ? kObjPF : 0u) | enabled_objects(s);
    const std::uint16_t cx = s.collisions;
    if ((cx | kCollisionTable[present]) != cx) {
      // Known only while the objects have not changed since collide_span computed it.
      constexpr std::uint16_t kPfLatches = kP0PF | kP1PF | kM0PF | kM1PF | kBLPF;
      if (obj_latches_version_ != obj_version_ ||
          (cx | obj_latches_ | (kCollisionTable[present] & kPfLatches)) != cx) {
        draw_to(clock);
        return;
      }
    }
  }
  // draw_line_span clears the HMOVE blank in a span that holds a line's clock 75.
  if (s_.hmove_blank) {
    std::int64_t c = (s_.drawn / kClocksPerLine) * kClocksPerLine + kHBlank + 7;
    if (c < s_.drawn) c += kClocksPerLine;
    if (c < clock) s_.hmove_blank = false;
  }
  s_.drawn = clock;
}

// RESPx: where the new position falls relative to the object's current copies decides
// what this line shows (probes resp0_pairs, resp0, resp1 and Tetris's title screen).
// With e = (new position - start of a current copy) mod 160:
//  * e < 4, the copy's start was just decoded: every copy is drawn at the new position, the
//    first one included, on this line already;
//  * 4 <= e < 4 + copy width, the copy is being drawn: it is finished first (the picture is
//    brought 11 clocks ahead with the old position), then the first copy is skipped for the
//    rest of the line;
//  * otherwise the first copy is skipped for the rest of the line (it is only started when the
//    position counter wraps, on the next line).
void Tia::reset_player(std::int32_t& pos, bool& first_off, int new_pos, std::uint8_t nusiz,
                       std::int64_t clock) {
  const Copies& c = kCopies[nusiz & 7];
  const int width = 8 * c.stretch;
  enum { kNeither, kDelay, kDisplay } when = kNeither;
  for (int k = 0; k < c.count && when == kNeither; ++k) {
    const int e = wrap160(new_pos - (pos + c.offset[k]));
    if (e < kResetDelay) {
      when = kDelay;
    } else if (e < kResetDelay + width) {
      when = kDisplay;
    }
  }
  if (when == kDisplay) draw_to(clock + kResetFinish);
  pos = new_pos;
  first_off = when != kDelay;
}

namespace {

// Per write register, what happens before the write takes effect (speed: tables instead of
// two jumps on the register per write, which the profile showed as a quarter of the time):
//  * kDelay: README 4.11 write delays, in colour clocks, before a write shows on the screen
//    (-1: the playfield's, which depends on the cycle, kPfDelay);
//  * kChange: whether the picture must be brought up to date first. Writes that leave the
//    drawing state as it is (a colour written again, WSYNC, the motion registers until
//    HMOVE, audio) skip it; the pixels come out the same at the next draw.
//    kNever: never; kAlways; kSame: when the value differs from the field's; kColour: when
//    value & $FE differs from the field's.
//  * kField: the TiaState field compared.
enum Change : std::uint8_t { kNever, kAlways, kSame, kColour };
struct WriteRule {
  std::int8_t delay = 0;
  Change change = kAlways;
  std::uint8_t TiaState::*field = nullptr;
};
constexpr std::array<WriteRule, 64> make_write_rules() {
  std::array<WriteRule, 64> t{};
  using T = Tia;
  for (int r : {T::VBLANK, T::REFP0, T::REFP1, T::GRP0, T::GRP1}) t[r].delay = 1;
  for (int r : {T::NUSIZ0, T::NUSIZ1, T::RESM0, T::RESM1}) t[r].delay = 8;
  for (int r : {T::PF0, T::PF1, T::PF2}) t[r].delay = -1;
  // CTRLPF: kAlways (the default), its reflection bit as written may differ from ctrlpf's.
  for (int r : {T::VSYNC, T::WSYNC, T::RSYNC, T::HMP0, T::HMP1, T::HMM0, T::HMM1, T::HMBL, T::HMCLR,
                T::AUDC0, T::AUDC1, T::AUDF0, T::AUDF1, T::AUDV0, T::AUDV1}) {
    t[r].change = kNever;
  }
  auto colour = [&](int r, std::uint8_t TiaState::*f) { t[r].change = kColour, t[r].field = f; };
  auto same = [&](int r, std::uint8_t TiaState::*f) { t[r].change = kSame, t[r].field = f; };
  colour(T::COLUP0, &TiaState::colup0);
  colour(T::COLUP1, &TiaState::colup1);
  colour(T::COLUPF, &TiaState::colupf);
  colour(T::COLUBK, &TiaState::colubk);
  same(T::PF0, &TiaState::pf0);
  same(T::PF1, &TiaState::pf1);
  same(T::PF2, &TiaState::pf2);
  same(T::NUSIZ0, &TiaState::nusiz0);
  same(T::NUSIZ1, &TiaState::nusiz1);
  same(T::REFP0, &TiaState::refp0);
  same(T::REFP1, &TiaState::refp1);
  same(T::ENAM0, &TiaState::enam0);
  same(T::ENAM1, &TiaState::enam1);
  same(T::ENABL, &TiaState::enabl);
  same(T::VDELP0, &TiaState::vdelp0);
  same(T::VDELP1, &TiaState::vdelp1);
  same(T::VDELBL, &TiaState::vdelbl);
  same(T::VBLANK, &TiaState::vblank);
  return t;
}
constexpr auto kWriteRules = make_write_rules();
constexpr int kPfDelay[4] = {4, 5, 2, 3};

}  // namespace

int Tia::write(std::uint16_t address, std::uint8_t value, std::uint64_t cycle) {
  const int reg = address & 0x3F;
  const std::int64_t clock = frame_clock(cycle);
  // A frame's clock is never negative (the frame starts at or before `cycle`): unsigned
  // division is the cheaper one.
  const int hc = static_cast<int>(static_cast<std::uint64_t>(clock) % kClocksPerLine);
  const WriteRule& rule = kWriteRules[static_cast<std::size_t>(reg)];
  const int delay = rule.delay >= 0 ? rule.delay : kPfDelay[(hc / 3) % 4];
  bool changes_picture = true;
  switch (rule.change) {
    case kNever:
      changes_picture = false;
      break;
    case kSame:
      changes_picture = s_.*rule.field != value;
      break;
    case kColour:
      // A skipped frame has no pixels to bring up to date, and colours set no latch.
      changes_picture = render_ && s_.*rule.field != (value & 0xFE);
      break;
    case kAlways:
      break;
  }
  if (changes_picture) catch_up_to(clock + delay);
  // README 4.2: any TIA write beyond the line cap ends the frame (the write still happens).
  if (static_cast<std::uint64_t>(clock) / kClocksPerLine > static_cast<std::uint64_t>(line_cap_)) {
    s_.frame_done = true;
  }

  int stall = 0;
  switch (reg) {
    case VSYNC: {
      const std::uint64_t abs_clock = 3 * cycle;
      if (value & 2) {
        s_.vsync_finish = abs_clock + kClocksPerLine;
      } else if (abs_clock >= s_.vsync_finish) {
        s_.frame_done = true;
        s_.vsync_finish = UINT64_MAX;
      }
      s_.vsync = value;
      break;
    }
    case VBLANK:
      if ((s_.vblank & 0x80) && !(value & 0x80)) s_.dump_release_cycle = cycle;
      s_.vblank = value;
      break;
    case WSYNC:
      stall = (kClocksPerLine - hc) / 3;
      if (hc == 0) stall = 0;
      break;
    case NUSIZ0:
      s_.nusiz0 = value;
      break;
    case NUSIZ1:
      s_.nusiz1 = value;
      break;
    case COLUP0:
      s_.colup0 = value & 0xFE;
      break;
    case COLUP1:
      s_.colup1 = value & 0xFE;
      break;
    case COLUPF:
      s_.colupf = value & 0xFE;
      break;
    case COLUBK:
      s_.colubk = value & 0xFE;
      break;
    case CTRLPF:
      // The reflection bit (probe reflect): a write before the last pixel of the left half
      // (clock 147) reflects this line's right half already; a later one leaves the right half
      // of the line as it was, and of every line up to the end of the next row of the picture
      // (the first row after a late write above the picture still shows the old reflection).
      s_.pf_reflect_written = value & 1;
      s_.ctrlpf =
          hc < kHBlank + 79 ? value : static_cast<std::uint8_t>((value & 0xFE) | (s_.ctrlpf & 1));
      break;
    case REFP0:
      s_.refp0 = value;
      break;
    case REFP1:
      s_.refp1 = value;
      break;
    case PF0:
      s_.pf0 = value;
      break;
    case PF1:
      s_.pf1 = value;
      break;
    case PF2:
      s_.pf2 = value;
      break;
    // README 4.11: RESPx puts the player at 3 in horizontal blank, else hc - 68 + 5.
    case RESP0:
      reset_player(s_.pos_p0, s_.p0_first_off, hc < kHBlank ? 3 : wrap160(hc - kHBlank + 5),
                   s_.nusiz0, clock);
      break;
    case RESP1:
      reset_player(s_.pos_p1, s_.p1_first_off, hc < kHBlank ? 3 : wrap160(hc - kHBlank + 5),
                   s_.nusiz1, clock);
      break;
    // Missiles never skip their first copy: what looks like a skip is RESMx's 8-clock write
    // delay (probes resm0, resm0_pairs, collisions row 0, the reset lines of hmove).
    case RESM0:
      s_.pos_m0 = hc < kHBlank ? 2 : wrap160(hc - kHBlank + 4);
      break;
    case RESM1:
      s_.pos_m1 = hc < kHBlank ? 2 : wrap160(hc - kHBlank + 4);
      break;
    case RESBL:
      s_.pos_bl = hc < kHBlank ? 2 : wrap160(hc - kHBlank + 4);
      break;
    case GRP0:
      s_.grp0 = value, s_.grp1_old = s_.grp1;
      break;
    case GRP1:
      s_.grp1 = value, s_.grp0_old = s_.grp0, s_.enabl_old = s_.enabl;
      break;
    case ENAM0:
      s_.enam0 = value;
      break;
    case ENAM1:
      s_.enam1 = value;
      break;
    case ENABL:
      s_.enabl = value;
      break;
    case HMP0:
      s_.hmp0 = value;
      break;
    case HMP1:
      s_.hmp1 = value;
      break;
    case HMM0:
      s_.hmm0 = value;
      break;
    case HMM1:
      s_.hmm1 = value;
      break;
    case HMBL:
      s_.hmbl = value;
      break;
    case VDELP0:
      s_.vdelp0 = value;
      break;
    case VDELP1:
      s_.vdelp1 = value;
      break;
    case VDELBL:
      s_.vdelbl = value;
      break;
    case RESMP0:
      if ((s_.resmp0 & 2) && !(value & 2)) s_.pos_m0 = wrap160(s_.pos_p0 + 3);
      s_.resmp0 = value;
      break;
    case RESMP1:
      if ((s_.resmp1 & 2) && !(value & 2)) s_.pos_m1 = wrap160(s_.pos_p1 + 3);
      s_.resmp1 = value;
      break;
    case HMOVE: {
      // ALE applies the whole motion at once; how far depends on the cycle (kHmoveMotion).
      const int cpu_cycle = hc / 3;
      auto move = [&](std::int32_t& pos, std::uint8_t hm) {
        pos = wrap160(pos - kHmoveMotion[cpu_cycle][hm >> 4]);
      };
      move(s_.pos_p0, s_.hmp0);
      move(s_.pos_p1, s_.hmp1);
      move(s_.pos_m0, s_.hmm0);
      move(s_.pos_m1, s_.hmm1);
      move(s_.pos_bl, s_.hmbl);
      // HMOVE also ends any first-copy skip (probe hmove_table, row 0 of the cycle-3 frames).
      s_.p0_first_off = s_.p1_first_off = false;
      if (hmove_blanks_ && (cpu_cycle <= 20 || cpu_cycle == 75)) s_.hmove_blank = true;
      break;
    }
    case HMCLR:
      s_.hmp0 = s_.hmp1 = s_.hmm0 = s_.hmm1 = s_.hmbl = 0;
      break;
    case CXCLR:
      s_.collisions = 0;
      break;
    default:  // RSYNC and the audio registers: nothing to draw
      break;
  }
  // Colours, VBLANK and the score/priority bits do not change which objects cover a pixel.
  const bool colour_only = reg == COLUP0 || reg == COLUP1 || reg == COLUPF || reg == COLUBK ||
                           reg == VBLANK || reg == CXCLR;
  if (changes_picture && !colour_only) {
    ++version_;  // the combined object row is stale now
    if (reg != PF0 && reg != PF1 && reg != PF2) ++obj_version_;
  }
  return stall;
}

std::uint8_t Tia::read(std::uint16_t address, std::uint64_t cycle) {
  const int reg = address & 0x0F;
  if (reg <= CXPPMM) catch_up_to(frame_clock(cycle));  // only collisions depend on the picture
  const std::uint8_t bus = s_.data_bus & 0x3F;
  auto latch = [&](int k) {
    const unsigned bits = (s_.collisions >> (2 * k)) & 3;
    return static_cast<std::uint8_t>(((bits & 2) ? 0x80 : 0) | ((bits & 1) ? 0x40 : 0));
  };
  switch (reg) {
    case CXM0P:
    case CXM1P:
    case CXP0FB:
    case CXP1FB:
    case CXM0FB:
    case CXM1FB:
    case CXBLPF:
    case CXPPMM:
      return latch(reg) | bus;
    case INPT0:
    case INPT1:
    case INPT2:
    case INPT3: {
      // README 4.7: a paddle's capacitor charges after the dump is released.
      const std::int64_t r = s_.paddle[reg - INPT0];
      if (r == 0) return 0x80 | bus;
      if (s_.vblank & 0x80) return bus;
      const auto n = static_cast<std::uint64_t>(1.6 * static_cast<double>(r) * 1e-8 * 1.19e6);
      return (cycle - s_.dump_release_cycle > n ? 0x80 : 0x00) | bus;
    }
    case INPT4:
      return (s_.fire0 ? 0x00 : 0x80) | bus;
    case INPT5:
      return (s_.fire1 ? 0x00 : 0x80) | bus;
    default:  // $xE, $xF: nothing drives bits 7-6
      return bus;
  }
}

void Tia::end_frame(std::uint64_t cycle) {
  draw_to(frame_clock(cycle));
  const std::uint64_t line_cycles = kClocksPerLine / 3;
  s_.frame_start += line_cycles * ((cycle - s_.frame_start) / line_cycles);
  s_.drawn = frame_clock(cycle);
  shown_ = s_.back;
  s_.back ^= 1;
  s_.frame_done = false;
}

void Tia::grey_partial(std::uint64_t cycle) {
  draw_to(frame_clock(cycle));
  const int first = std::max(0, line(cycle) - ystart_);
  auto& b = buffers_[s_.back];
  for (std::size_t i = static_cast<std::size_t>(first) * kWidth;
       i < static_cast<std::size_t>(height_) * kWidth; ++i) {
    b[i] = static_cast<std::uint8_t>((b[i] & 15) >> 1);
  }
  shown_ = s_.back;
}

}  // namespace atari2600
