// envs/atari2600/riot.hpp: the 6532 RIOT: 128 bytes of RAM, the interval timer, the two I/O
// ports (SWCHA joysticks, SWCHB console switches), timed the way ALE 0.12's M6532 times them.
//
// Timer (README 4.5, ALE's rules): a write of V to TIM1T/TIM8T/TIM64T/T1024T at CPU cycle T0
// sets the shift s = 0/3/6/10. A read of INTIM at cycle R: d = R - 1 - T0, t = V - (d >> s) - 1;
// t >= 0 is the value; once expired, t2 = (V << s) - d - 1 counts down one per cycle, and the
// first read that sees t2 <= -2 latches "read after interrupt" at its cycle R1, after which the
// value is V - (d >> s) - (R1 - (T0 + (V << s))). All taken mod 256. TIMINT reads $80 while
// expired and not yet latched. Evidence: tests/atari2600 probe goldens (timer.asm).
#pragma once

#include <array>
#include <cstdint>

namespace atari2600 {

struct RiotState {
  std::array<std::uint8_t, 128> ram{};
  std::uint8_t timer_value = 0;   // V
  std::uint8_t timer_shift = 6;   // s
  bool latched = false;           // an INTIM read after expiry happened
  std::uint8_t pad0_[5]{};        // explicit padding (also below): saved states are the same bytes
  std::uint64_t timer_start = 0;  // T0, CPU cycle of the write
  std::uint64_t latch_cycle = 0;  // R1
  std::uint8_t swcha = 0xFF;      // joystick pins as the program reads them (0 = pressed)
  std::uint8_t swchb = 0x3F;      // console switches (README 4.7: $3F with nothing pressed)
  std::uint8_t swacnt = 0, swbcnt = 0;
  std::uint8_t swcha_out = 0, swchb_out = 0;
  std::uint8_t pad1_[2]{};
};

class Riot {
 public:
  // RIOT register addresses as ALE decodes them (address & $17 for the timer writes).
  static constexpr std::uint16_t kSWCHA = 0x280, kSWACNT = 0x281, kSWCHB = 0x282, kSWBCNT = 0x283,
                                 kINTIM = 0x284, kTIMINT = 0x285, kTIM1T = 0x294, kTIM8T = 0x295,
                                 kTIM64T = 0x296, kT1024T = 0x297;

  // Timer start of a reset: V from the console's random draw, divider 64, T0 = `cycle`.
  void reset_timer(std::uint8_t value, std::uint64_t cycle);

  std::uint8_t read_ram(std::uint16_t address) const { return s_.ram[address & 0x7F]; }
  void write_ram(std::uint16_t address, std::uint8_t v) { s_.ram[address & 0x7F] = v; }
  // Register access (A9 = 1) at CPU cycle `cycle`.
  std::uint8_t read_register(std::uint16_t address, std::uint64_t cycle);
  void write_register(std::uint16_t address, std::uint8_t value, std::uint64_t cycle);

  RiotState& state() { return s_; }
  const RiotState& state() const { return s_; }

 private:
  std::uint8_t intim(std::uint64_t cycle);
  RiotState s_;
};

}  // namespace atari2600
