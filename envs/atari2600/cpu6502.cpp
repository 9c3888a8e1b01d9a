// envs/atari2600/cpu6502.cpp: the 6507's non-template parts: mnemonics, instruction lengths,
// reset, and step() over the abstract Bus. The opcode map (mnemonic, addressing mode, ALE's base
// cycles) and the interpreter are in cpu6502_impl.hpp. See cpu6502.hpp for ALE's timing rules.
#include "envs/atari2600/cpu6502.hpp"

#include "envs/atari2600/cpu6502_impl.hpp"

namespace atari2600 {
using namespace cpu_detail;

const char* Cpu6502::mnemonic(std::uint8_t opcode) {
  return kMnemonic[opcode];
}

int Cpu6502::length(std::uint8_t opcode) {
  switch (kModes[opcode]) {
    case Mode::kImp:
      return opcode == 0x00 ? 2 : 1;  // BRK skips a signature byte
    case Mode::kAbs:
    case Mode::kAbx:
    case Mode::kAby:
    case Mode::kInd:
      return 3;
    default:
      return 2;
  }
}

void Cpu6502::reset(Bus& bus) {
  s_.a = s_.x = s_.y = 0;
  s_.s = 0xFF;
  s_.p = 0x30;
  s_.jammed = false;
  const std::uint8_t lo = bus.read(0xFFFC);
  const std::uint8_t hi = bus.read(0xFFFD);
  s_.pc = static_cast<std::uint16_t>(lo | (hi << 8));
}

int Cpu6502::step(Bus& bus) {
  return step_on(bus);
}

}  // namespace atari2600
