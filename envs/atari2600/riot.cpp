// envs/atari2600/riot.cpp: the 6532's timer and ports (see riot.hpp for the timing rules).
#include "envs/atari2600/riot.hpp"

namespace atari2600 {

void Riot::reset_timer(std::uint8_t value, std::uint64_t cycle) {
  s_.timer_value = value;
  s_.timer_shift = 6;
  s_.timer_start = cycle;
  s_.latched = false;
  s_.latch_cycle = 0;
}

std::uint8_t Riot::intim(std::uint64_t cycle) {
  const std::int64_t v = s_.timer_value;
  const int s = s_.timer_shift;
  const std::int64_t d =
      static_cast<std::int64_t>(cycle) - 1 - static_cast<std::int64_t>(s_.timer_start);
  const std::int64_t t = v - (d >> s) - 1;
  if (t >= 0) return static_cast<std::uint8_t>(t);
  const std::int64_t t2 = (v << s) - d - 1;
  if (!s_.latched && t2 <= -2) {
    s_.latched = true;
    s_.latch_cycle = cycle;
  }
  if (!s_.latched) return static_cast<std::uint8_t>(t2 & 0xFF);
  const std::int64_t value = v - (d >> s) -
                             (static_cast<std::int64_t>(s_.latch_cycle) -
                              (static_cast<std::int64_t>(s_.timer_start) + (v << s)));
  return static_cast<std::uint8_t>(value & 0xFF);
}

std::uint8_t Riot::read_register(std::uint16_t address, std::uint64_t cycle) {
  switch (address & 0x07) {
    case 0:
      return s_.swcha;
    case 1:
      return s_.swacnt;
    case 2:
      return s_.swchb;
    case 3:
      return s_.swbcnt;
    case 4:
    case 6:
      return intim(cycle);
    default: {  // 5, 7: the interrupt flag
      const std::int64_t d =
          static_cast<std::int64_t>(cycle) - 1 - static_cast<std::int64_t>(s_.timer_start);
      const bool expired = s_.timer_value - (d >> s_.timer_shift) - 1 < 0;
      return (expired && !s_.latched) ? 0x80 : 0x00;
    }
  }
}

void Riot::write_register(std::uint16_t address, std::uint8_t value, std::uint64_t cycle) {
  if ((address & 0x14) == 0x14) {
    static constexpr std::uint8_t kShift[4] = {0, 3, 6, 10};
    s_.timer_value = value;
    s_.timer_shift = kShift[address & 0x03];
    s_.timer_start = cycle;
    s_.latched = false;
    return;
  }
  if ((address & 0x14) == 0x04) return;  // edge-detect control: no interrupts on a 2600
  switch (address & 0x03) {
    case 0:
      s_.swcha_out = value;
      break;
    case 1:
      s_.swacnt = value;
      break;
    case 2:
      s_.swchb_out = value;
      break;
    default:
      s_.swbcnt = value;
      break;
  }
}

}  // namespace atari2600
