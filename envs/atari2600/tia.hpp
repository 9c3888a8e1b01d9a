// envs/atari2600/tia.hpp: the TIA's video side as ALE 0.12 (Stella 2.4) computes it: objects,
// playfield, collisions, frame boundaries and the lazily drawn frame buffers. No audio.
//
// Clocks. The TIA counts colour clocks, 3 per CPU cycle. A frame's line 0 starts at CPU cycle
// frame_start; clock = 3 * (cycle - frame_start), line = clock / 228, hc = clock % 228, and the
// picture is hc 68..227 (column hc - 68) of lines ystart .. ystart + height - 1.
//
// Lazy drawing (README 4.3): pixels are computed only when a register access happens (and at
// the end of a frame), up to the access's clock plus the register's write delay, then the write
// takes effect. Because the CPU counts a whole instruction before its accesses, "the access's
// clock" is the instruction's end. A write whose delay reaches back before what is already
// drawn takes effect at once.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

namespace atari2600 {

struct TiaState {
  // Registers as written (colours with bit 0 cleared, as ALE stores pixel values).
  std::uint8_t colup0 = 0, colup1 = 0, colupf = 0, colubk = 0;
  std::uint8_t ctrlpf = 0, pf0 = 0, pf1 = 0, pf2 = 0;
  std::uint8_t nusiz0 = 0, nusiz1 = 0, refp0 = 0, refp1 = 0;
  std::uint8_t grp0 = 0, grp1 = 0, grp0_old = 0, grp1_old = 0;  // old = VDEL copies
  std::uint8_t enam0 = 0, enam1 = 0, enabl = 0, enabl_old = 0;
  std::uint8_t vdelp0 = 0, vdelp1 = 0, vdelbl = 0, resmp0 = 0, resmp1 = 0;
  std::uint8_t hmp0 = 0, hmp1 = 0, hmm0 = 0, hmm1 = 0, hmbl = 0;
  std::uint8_t vsync = 0, vblank = 0;
  // Object positions: the column (0..159) of the first pixel.
  std::int32_t pos_p0 = 0, pos_p1 = 0, pos_m0 = 0, pos_m1 = 0, pos_bl = 0;
  // A RESPx usually suppresses the player's first copy (it is only started when the position
  // counter wraps); ALE turns it back on when it finishes drawing a row of the picture (probe
  // collisions, row 0: a reset above the picture still hides the copy on its first row) and at
  // HMOVE (probe hmove_table). See Tia::reset_player.
  bool p0_first_off = false, p1_first_off = false;
  std::uint16_t collisions = 0;  // 15 latches, bit layout in tia.cpp
  bool hmove_blank = false;      // the next clocks 68-75 drawn are black
  // Inputs: fire buttons (true = pressed) and the paddles' resistances (0 = none).
  bool fire0 = false, fire1 = false;
  std::uint8_t pad0_ = 0;  // explicit padding (here and below): saved states are the same bytes
  std::array<std::int32_t, 4> paddle{};
  std::uint8_t pad1_[4]{};
  std::uint64_t dump_release_cycle = 0;  // CPU cycle at which VBLANK bit 7 was last cleared
  // Frame bookkeeping.
  std::uint64_t frame_start = 0;            // CPU cycle of line 0
  std::int64_t drawn = 0;                   // frame clock up to which pixels are done
  std::uint64_t vsync_finish = UINT64_MAX;  // absolute clock from which VSYNC off ends a frame
  bool frame_done = false;                  // set by a write that ends the frame
  std::uint8_t back = 0;                    // buffer being drawn (the other one is the last frame)
  std::uint8_t data_bus = 0;                // last byte on the data bus (for bits 5-0 of reads)
  // CTRLPF bit 0 as last written; ctrlpf's bit 0 is the reflection the right half is drawn
  // with, which a write reaches only before the right half starts (see Tia::write).
  std::uint8_t pf_reflect_written = 0;
  std::uint8_t pad2_[4]{};
};

class Tia {
 public:
  static constexpr int kWidth = 160;
  static constexpr int kClocksPerLine = 228;
  static constexpr int kHBlank = 68;
  static constexpr int kMaxRows = 250;  // PAL height; NTSC uses 210 of them

  // Write registers (address & $3F).
  enum Reg : std::uint8_t {
    VSYNC = 0x00,
    VBLANK,
    WSYNC,
    RSYNC,
    NUSIZ0,
    NUSIZ1,
    COLUP0,
    COLUP1,
    COLUPF,
    COLUBK,
    CTRLPF,
    REFP0,
    REFP1,
    PF0,
    PF1,
    PF2,
    RESP0,
    RESP1,
    RESM0,
    RESM1,
    RESBL,
    AUDC0,
    AUDC1,
    AUDF0,
    AUDF1,
    AUDV0,
    AUDV1,
    GRP0,
    GRP1,
    ENAM0,
    ENAM1,
    ENABL,
    HMP0,
    HMP1,
    HMM0,
    HMM1,
    HMBL,
    VDELP0,
    VDELP1,
    VDELBL,
    RESMP0,
    RESMP1,
    HMOVE,
    HMCLR,
    CXCLR
  };
  // Read registers (address & $0F).
  enum ReadReg : std::uint8_t {
    CXM0P = 0x0,
    CXM1P,
    CXP0FB,
    CXP1FB,
    CXM0FB,
    CXM1FB,
    CXBLPF,
    CXPPMM,
    INPT0,
    INPT1,
    INPT2,
    INPT3,
    INPT4,
    INPT5
  };

  Tia();
  // Display window: first line shown and number of rows (ALE's YStart and Height properties).
  void set_window(int ystart, int height);
  void set_line_cap(int lines) { line_cap_ = lines; }
  void set_hmove_blanks(bool on) { hmove_blanks_ = on; }
  // Console reset: registers cleared, both frame buffers cleared, a new frame at `cycle`.
  void reset(std::uint64_t cycle);

  // A write that returns extra CPU cycles to stall (WSYNC) is accounted by the caller.
  int write(std::uint16_t address, std::uint8_t value, std::uint64_t cycle);
  std::uint8_t read(std::uint16_t address, std::uint64_t cycle);

  // Frame control, used by the console after each instruction.
  bool frame_done() const { return s_.frame_done; }
  int line(std::uint64_t cycle) const {
    return static_cast<int>((cycle - s_.frame_start) / (kClocksPerLine / 3));
  }
  // Draws up to `cycle`, then starts the next frame at the start of that cycle's line and
  // swaps buffers; the finished frame becomes screen().
  void end_frame(std::uint64_t cycle);
  // ALE's partial frame (25,000 instructions without an end): rows from `cycle`'s line down
  // are greyed ((p & 15) >> 1) in the buffer being drawn, which stays the current frame.
  void grey_partial(std::uint64_t cycle);

  // Whether spans write pixels (true) or only collisions (false); see the top of this file.
  void set_render(bool on) { render_ = on; }
  bool render() const { return render_; }
  // Brings pixels and collisions up to `cycle` (what end_frame does first).
  void catch_up(std::uint64_t cycle) { draw_to(frame_clock(cycle)); }
  // True when every pixel of the window lies in the frame clocks [begin, s_.drawn): a frame
  // whose drawing covered that writes each pixel of its buffer, whatever the buffer held.
  bool covers_window(std::int64_t begin) const {
    return begin <= static_cast<std::int64_t>(ystart_) * kClocksPerLine + kHBlank &&
           s_.drawn >= static_cast<std::int64_t>(ystart_ + height_) * kClocksPerLine;
  }
  // Index into a buffer of the first pixel drawn at or after frame clock `clock` (pixels are
  // laid out in the order they are drawn, so the clocks [a, b) drew [index(a), index(b))).
  std::size_t pixel_index(std::int64_t clock) const {
    const std::int64_t row = clock / kClocksPerLine - ystart_;
    if (row < 0) return 0;
    if (row >= height_) return static_cast<std::size_t>(height_) * kWidth;
    const int x = std::clamp(static_cast<int>(clock % kClocksPerLine) - kHBlank, 0, kWidth);
    return static_cast<std::size_t>(row) * kWidth + static_cast<std::size_t>(x);
  }

  // The last finished frame, height() rows of 160 palette indices; during a partial frame the
  // buffer being drawn.
  const std::uint8_t* screen() const { return buffers_[shown_].data(); }
  int height() const { return height_; }
  int ystart() const { return ystart_; }

  TiaState& state() { return s_; }
  const TiaState& state() const { return s_; }
  // Save/restore includes both buffers (rows a frame never reaches keep older content).
  std::array<std::vector<std::uint8_t>, 2>& buffers() { return buffers_; }
  std::uint8_t& shown() { return shown_; }
  int shown_index() const { return shown_; }

  void set_data_bus(std::uint8_t v) { s_.data_bus = v; }

  // Object bits of a pixel, for drawing and collisions.
  static constexpr std::uint8_t kObjPF = 1, kObjBL = 2, kObjP0 = 4, kObjM0 = 8, kObjP1 = 16,
                                kObjM1 = 32;
  // Bits at column x (the reference: every object tested at x).
  static std::uint8_t object_mask_ref(int x, const TiaState& s);
  // Bits for columns [x0, x1) of the current state (the fast way used for drawing); equal to
  // the reference.
  void object_masks(std::uint8_t* mask, int x0, int x1);
  // Forget the cached object rows (after the state was changed from outside).
  void invalidate_rows() {
    for (auto& r : rows_) r.key = UINT32_MAX;
    for (auto& r : bits_) r.key = UINT32_MAX;
    for (auto& p : pairs_) p.key = UINT64_MAX;
    ++obj_version_;
    ++version_;
  }

 private:
  void draw_to(std::int64_t clock);
  // draw_to, or for a skipped frame whose spans could set no latch, only their side effects.
  void catch_up_to(std::int64_t clock);
  void reset_player(std::int32_t& pos, bool& first_off, int new_pos, std::uint8_t nusiz,
                    std::int64_t clock);
  void draw_line_span(int line, int from_hc, int to_hc);
  // Columns [x0, x1) of picture row `row`: pixels (when render_) and collision latches.
  void span(int row, int x0, int x1, bool blank_span);
  // Only the latches of columns [x0, x1), from the objects' rows as bits (skipped frames).
  void collide_span(int x0, int x1);
  std::int64_t frame_clock(std::uint64_t cycle) const {
    return 3 * static_cast<std::int64_t>(cycle - s_.frame_start);
  }

  // Derived data, not state: each object's row of bits and the register values it was built
  // from (playfield, P0, P1, M0, M1, ball).
  struct RowCache {
    std::uint32_t key = UINT32_MAX;
    std::array<std::uint8_t, kWidth> bits{};
  };
  std::array<RowCache, 6> rows_;
  // The same rows as 160 bits (bit x = column x) in the order of the kObj bits (playfield,
  // ball, P0, M0, P1, M1), for collisions without pixels: a pair of objects collides in a
  // span when their rows AND to non-zero there, three words instead of 160 bytes.
  struct RowBits {
    std::uint32_t key = UINT32_MAX;
    std::array<std::uint64_t, 3> w{};
  };
  std::array<RowBits, 6> bits_;
  // Per pair of objects (15, in the order (0,1), (0,2), ... (4,5)): whether their rows meet
  // anywhere on the line, for the pair of keys it was found under.
  struct PairCache {
    std::uint64_t key = UINT64_MAX;
    std::uint64_t meet = 0;
  };
  std::array<PairCache, 15> pairs_;
  // Bumped with version_ by every change but the playfield's; obj_latches_ holds the latches
  // of the pairs without the playfield whose rows meet on the line at obj_latches_version_.
  std::uint64_t obj_version_ = 1, obj_latches_version_ = 0;
  std::uint16_t obj_latches_ = 0;
  // The OR of the six rows, valid while mask_version_ == version_ (bumped by every write that
  // changes the picture, and by anything else that changes the state from outside).
  std::array<std::uint8_t, kWidth> mask_{};
  std::uint64_t version_ = 1, mask_version_ = 0;

  TiaState s_;
  std::array<std::vector<std::uint8_t>, 2> buffers_;
  std::uint8_t shown_ = 1;
  int ystart_ = 34, height_ = 210, line_cap_ = 290;
  bool hmove_blanks_ = true;
  bool render_ = true;  // not state: a hint of the console's caller, see set_render
};

}  // namespace atari2600
