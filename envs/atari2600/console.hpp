// envs/atari2600/console.hpp: the Atari 2600 console: the 6507 wired to the TIA, the RIOT and
// the cartridge through the 13-line bus, power-on and reset as ALE 0.12 performs them, one ALE
// frame per run_frame(), inputs, and save/restore of the whole machine.
//
// Bus decode (README 4.1; ALE masks addresses with $1FFF): A12 = 1 cartridge; A12 = 0 and
// A7 = 0 TIA (writes decode address & $3F, reads & $0F); A7 = 1, A9 = 0 RIOT RAM; A7 = 1,
// A9 = 1 RIOT registers.
//
// Randomness (README 4.6): one std::mt19937 seeded with 4753849. Power-on: RAM byte i = draw
// i+1 & $FF, then the timer from draw 129. Each system_reset() draws the timer again (and one
// draw per Superchip RAM byte).
//
// Skipped frames (speed). set_render(false) says nobody will look at the coming frames: they
// run with the TIA computing collisions only (tia.hpp), and the buffer such a frame ends in
// is marked stale, with a copy of the machine as the frame began (a few hundred bytes of
// plain state). Pixels stay exact whatever the hint says, because every way to a stale
// buffer's pixels redraws it first, by running its frame again from that copy with drawing
// on (materialize):
//  * screen() and save_state() (saved state is bit-identical to a run that drew everything);
//  * a frame that does not cover the whole window (ends early, or is partial and greys the
//    rows below it) keeps the buffer's older pixels there, so those are materialized first.
// Only frames that cover the whole window stay stale; replaying one needs nothing of the
// buffer's older content, so a replay never depends on another replay. Trap: a skipped
// frame that does not cover the window is replayed at once (it cannot be left stale).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "envs/atari2600/cartridge.hpp"
#include "envs/atari2600/cpu6502.hpp"
#include "envs/atari2600/riot.hpp"
#include "envs/atari2600/tia.hpp"

namespace atari2600 {

struct ConsoleOptions {
  std::optional<CartType> cart_type;  // empty: detect from the image as ALE does
  int ystart = 34;                    // first scanline shown (ALE's Display.YStart)
  int height = 210;                   // rows shown (Display.Height)
  bool hmove_blanks = true;           // Emulation.HmoveBlanks
  std::uint32_t seed = 4753849;       // ALE's system_random_seed
};

struct FrameInfo {
  bool complete = true;  // false: 25,000 instructions ran without the frame ending
  int lines = 0;         // the frame's scanline counter when it ended
};

// Joystick and console switch state for one frame (true = pressed).
struct Inputs {
  bool up = false, down = false, left = false, right = false, fire = false;
  bool reset = false, select = false;
  // The difficulty switches as ALE's difficulty number (GAMES.md §1.6): bit 0 = left (P0) at A,
  // bit 1 = right (P1) at A; SWCHB bits 6 and 7.
  int difficulty = 0;
  // A paddle pair on the left port instead of the joystick (ALE's Controller.Left = PADDLES):
  // pin 0 is pot INPT0 with its button on SWCHA bit 7, pin 1 is INPT1 with SWCHA bit 6
  // (README 4.7). Resistances in ohms; 0 = always charged.
  bool left_paddles = false;
  std::array<bool, 2> paddle_button{};
  std::array<std::int32_t, 2> paddle_resistance{};
};

class Console final : public Bus {
 public:
  // Power-on: draws RAM and timer; the machine still needs a system_reset() to start the CPU.
  Console(std::vector<std::uint8_t> rom, const ConsoleOptions& options = {});

  // ALE's System::reset: timer from a fresh draw, TIA and frame buffers cleared, cartridge to
  // its start banks (Superchip RAM redrawn), CPU reset. RIOT RAM is kept.
  void system_reset();
  // One ALE frame (README 4.2). Throws atari2600::Error if the CPU jams.
  FrameInfo run_frame();

  // A hint for the frames that follow: false = their pixels will not be read (see the top of
  // this file). Pixels read anyway come out right, at the cost of running the frame again.
  void set_render(bool on) { render_ = on; }
  bool render() const { return render_; }

  void set_inputs(const Inputs& in);
  // README 4.7: paddle resistance per pot (0 = none connected).
  void set_paddle(int index, std::int32_t resistance) {
    tia_.state().paddle.at(index) = resistance;
  }
  // PAL frames are longer: ALE caps them at 342 lines instead of 290.
  void set_line_cap(int lines) {
    materialize(0), materialize(1);  // a replay must end where its frame ended
    tia_.set_line_cap(lines);
  }
  void set_window(int ystart, int height) {
    materialize(0), materialize(1);  // a replay draws with the window of its own time
    tia_.set_window(ystart, height);
  }

  // RIOT RAM ($80..$FF) and the last finished frame (tia().height() rows of 160 pixels).
  const std::array<std::uint8_t, 128>& ram() const { return riot_.state().ram; }
  const std::uint8_t* screen() const {
    const_cast<Console*>(this)->materialize(tia_.shown_index());
    return tia_.screen();
  }
  int screen_height() const { return tia_.height(); }

  // The whole machine as bytes, and back. load_state throws on a blob from another ROM or
  // layout and then leaves the console unchanged.
  std::string save_state() const;
  void load_state(const std::string& blob);

  Cpu6502& cpu() { return cpu_; }
  Tia& tia() { return tia_; }
  Riot& riot() { return riot_; }
  Cartridge& cartridge() { return cart_; }
  const Cartridge& cartridge() const { return cart_; }
  std::mt19937& rng() { return rng_; }

  // Bus, as the CPU sees it. Inline for the accesses that touch no chip with timing, which
  // are most of them (profile: the CPU's fetches from an unbanked ROM, RIOT RAM for the zero
  // page and the stack); the TIA, the RIOT's registers and banked cartridges go out of line.
  std::uint8_t read(std::uint16_t address) override {
    const unsigned a = address & 0x1FFFu;
    std::uint8_t v;
    if (a & 0x1000) {
      const unsigned flat = cart_.flat_mask();
      if (!flat) return read_slow(address);
      v = cart_.image()[a & flat];
    } else if ((a & 0x280) == 0x080) {
      v = riot_.read_ram(static_cast<std::uint16_t>(a));
    } else {
      return read_slow(address);
    }
    data_bus_ = v;
    return v;
  }
  // The CPU's opcode and operand fetches (cpu6502_impl.hpp uses it when a bus has it): from
  // an unbanked ROM, inlined into every opcode's code; anything else through read().
  [[gnu::always_inline]] std::uint8_t fetch(std::uint16_t address) {
    const unsigned flat = cart_.flat_mask();
    if ((address & 0x1000) && flat) {
      const std::uint8_t v = cart_.image()[address & flat];
      data_bus_ = v;
      return v;
    }
    return read(address);
  }
  void write(std::uint16_t address, std::uint8_t value) override {
    const unsigned a = address & 0x1FFFu;
    if ((a & 0x1280) == 0x080) {
      data_bus_ = value;
      riot_.write_ram(static_cast<std::uint16_t>(a), value);
    } else {
      write_slow(address, value);
    }
  }

 private:
  // Everything a frame changes, apart from the frame buffers.
  struct Snapshot {
    CpuState cpu;
    TiaState tia;
    RiotState riot;
    CartState cart;
    std::uint8_t data_bus = 0;
  };
  Snapshot snapshot() const;
  std::uint8_t read_slow(std::uint16_t address);
  void write_slow(std::uint16_t address, std::uint8_t value);
  void restore(const Snapshot& s);
  // Runs instructions until the frame ends or ALE's limit; true when it ended.
  bool emulate();
  // Redraws buffer b if stale, by running its frame again from its snapshot.
  void materialize(int b);
  // Runs the frame starting at `from` again with drawing on (into its buffer, up to where it
  // ended), then puts the machine back as it was.
  void replay(const Snapshot& from);

  Cpu6502 cpu_;
  Tia tia_;
  Riot riot_;
  Cartridge cart_;
  std::mt19937 rng_;
  std::uint8_t data_bus_ = 0;
  // Skipped frames: derived, never saved (save_state materializes first).
  bool render_ = true;
  std::array<bool, 2> stale_{};        // buffer b holds no drawn picture yet
  std::array<Snapshot, 2> replay_{};   // for a stale buffer: the machine as its frame began
  std::vector<std::uint8_t> scratch_;  // a drawn frame's pixels while its buffer is redrawn
};

}  // namespace atari2600
