// envs/atari2600/cpu6502.hpp: the 6507 (a 6502 core) timed the way ALE 0.12's CPU times it.
//
// Parity target is the Arcade Learning Environment (Stella 2.4's M6502Low), not the hardware:
//  * an instruction's whole base cycle count is added to `cycles` BEFORE it executes, so every
//    bus access of the instruction is seen at the instruction's end (a 3-cycle STA that starts
//    at colour clock 27 writes at 36); a page-crossing penalty of an indexed read is added before
//    its data access; a taken branch adds 1 (2 to another page) after the decision;
//  * almost none of the hardware's dummy accesses are made (no operand read by implied
//    instructions, no re-read on page crossing, one write by read-modify-write instructions);
//    the ones ALE makes are kept because on a 2600 they can hit a register or a hotspot: BRK
//    reads the byte after its opcode, JSR reads $0100+S before pushing, RTS/RTI read $0100+S
//    before pulling and RTS reads the byte at the pulled address;
//  * P always reads with bits 5 and 4 set (the B flag is constant); PHP and BRK push P | $30;
//  * decimal ADC/SBC (and RRA/ISB) follow ALE's table rules (README section 3.3), which differ
//    from the hardware for N, V, Z and for non-BCD operands;
//  * (zp,X) and (zp),Y read a pointer at $FF's high byte from $0100, not $0000;
//  * LAX zp takes 4 cycles, NOP abs 4, NOP abs,X 4 plus 1 when the page is crossed.
// Evidence: ../shared/atari/README.md 3.3/4.1 and tests/atari2600/test_cpu6502.cpp (Klaus
// Dormann's functional test, the Harte subset against ALE's results).
//
// Addresses are 16 bits here; the console masks them to the 6507's 13 lines, so the same core
// runs the flat 64 KiB CPU tests.
#pragma once

#include <cstdint>

namespace atari2600 {

// What the CPU is wired to. `read` and `write` see the CPU's cycle counter already advanced to
// the instruction's end (see above), through Cpu6502::cycles().
class Bus {
 public:
  virtual std::uint8_t read(std::uint16_t address) = 0;
  virtual void write(std::uint16_t address, std::uint8_t value) = 0;

 protected:
  ~Bus() = default;
};

// The whole CPU state: plain data, saved and restored as it is.
struct CpuState {
  std::uint16_t pc = 0;
  std::uint8_t a = 0, x = 0, y = 0;
  std::uint8_t s = 0xFF;
  std::uint8_t p = 0x30;     // N V 1 B D I Z C; bits 5 and 4 always read as set (ALE)
  std::uint8_t pad0_ = 0;    // explicit padding: saved states are the same bytes every time
  std::uint64_t cycles = 0;  // CPU cycles since power-on
  std::uint64_t instructions = 0;
  bool jammed = false;  // a JAM opcode ran: ALE stops with a fatal error
  std::uint8_t pad1_[7]{};
};

class Cpu6502 {
 public:
  // P flag bits.
  static constexpr std::uint8_t kFlagC = 0x01, kFlagZ = 0x02, kFlagI = 0x04, kFlagD = 0x08,
                                kFlagB = 0x10, kFlagU = 0x20, kFlagV = 0x40, kFlagN = 0x80;

  // ALE's reset: A = X = Y = 0, S = $FF, P = $30 (I clear), PC from $FFFC/$FFFD. The cycle
  // counter keeps running (the console counts from power-on).
  void reset(Bus& bus);

  // Runs one instruction and returns its cycles (base + page crossing + branch). Throws
  // atari2600::Error on a JAM opcode (ALE stops there too), leaving state().jammed set.
  int step(Bus& bus);
  // The same for a concrete bus type, whose calls the compiler can inline (cpu6502_impl.hpp).
  template <class BusT>
  int step_on(BusT& bus);

  CpuState& state() { return s_; }
  const CpuState& state() const { return s_; }
  std::uint64_t cycles() const { return s_.cycles; }

  // Mnemonic as ALE's trace prints it (upper case documented, lower case undocumented).
  static const char* mnemonic(std::uint8_t opcode);
  // Instruction length in bytes (1-3).
  static int length(std::uint8_t opcode);

 private:
  CpuState s_;
};

}  // namespace atari2600
