// envs/atari2600/cpu6502_impl.hpp: the opcode map and Cpu6502::step_on, the instruction
// interpreter as a template over the bus type, so that the console (a final class) gets its
// bus calls inlined while the CPU tests use a flat 64 KiB bus. Included by cpu6502.cpp and
// console.cpp only; see cpu6502.hpp for ALE's timing rules.
#pragma once

#include <array>
#include <type_traits>

#include "envs/atari2600/cpu6502.hpp"
#include "envs/atari2600/error.hpp"

namespace atari2600 {
namespace cpu_detail {

enum class Mode : std::uint8_t {
  kImp,
  kImm,
  kZp,
  kZpx,
  kZpy,
  kAbs,
  kAbx,
  kAby,
  kInd,
  kIzx,
  kIzy,
  kRel
};

// Mnemonics in opcode order. Lower case = undocumented. "jam" stops the CPU.
inline constexpr std::array<const char*, 256> kMnemonic = {
    "BRK", "ORA", "jam", "slo", "nop", "ORA", "ASL", "slo",
    "PHP", "ORA", "ASL", "anc", "nop", "ORA", "ASL", "slo",  // 0
    "BPL", "ORA", "jam", "slo", "nop", "ORA", "ASL", "slo",
    "CLC", "ORA", "nop", "slo", "nop", "ORA", "ASL", "slo",  // 1
    "JSR", "AND", "jam", "rla", "BIT", "AND", "ROL", "rla",
    "PLP", "AND", "ROL", "anc", "BIT", "AND", "ROL", "rla",  // 2
    "BMI", "AND", "jam", "rla", "nop", "AND", "ROL", "rla",
    "SEC", "AND", "nop", "rla", "nop", "AND", "ROL", "rla",  // 3
    "RTI", "EOR", "jam", "sre", "nop", "EOR", "LSR", "sre",
    "PHA", "EOR", "LSR", "alr", "JMP", "EOR", "LSR", "sre",  // 4
    "BVC", "EOR", "jam", "sre", "nop", "EOR", "LSR", "sre",
    "CLI", "EOR", "nop", "sre", "nop", "EOR", "LSR", "sre",  // 5
    "RTS", "ADC", "jam", "rra", "nop", "ADC", "ROR", "rra",
    "PLA", "ADC", "ROR", "arr", "JMP", "ADC", "ROR", "rra",  // 6
    "BVS", "ADC", "jam", "rra", "nop", "ADC", "ROR", "rra",
    "SEI", "ADC", "nop", "rra", "nop", "ADC", "ROR", "rra",  // 7
    "nop", "STA", "nop", "sax", "STY", "STA", "STX", "sax",
    "DEY", "nop", "TXA", "ane", "STY", "STA", "STX", "sax",  // 8
    "BCC", "STA", "jam", "sha", "STY", "STA", "STX", "sax",
    "TYA", "STA", "TXS", "tas", "shy", "STA", "shx", "sha",  // 9
    "LDY", "LDA", "LDX", "lax", "LDY", "LDA", "LDX", "lax",
    "TAY", "LDA", "TAX", "lxa", "LDY", "LDA", "LDX", "lax",  // A
    "BCS", "LDA", "jam", "lax", "LDY", "LDA", "LDX", "lax",
    "CLV", "LDA", "TSX", "las", "LDY", "LDA", "LDX", "lax",  // B
    "CPY", "CMP", "nop", "dcp", "CPY", "CMP", "DEC", "dcp",
    "INY", "CMP", "DEX", "sbx", "CPY", "CMP", "DEC", "dcp",  // C
    "BNE", "CMP", "jam", "dcp", "nop", "CMP", "DEC", "dcp",
    "CLD", "CMP", "nop", "dcp", "nop", "CMP", "DEC", "dcp",  // D
    "CPX", "SBC", "nop", "isb", "CPX", "SBC", "INC", "isb",
    "INX", "SBC", "NOP", "sbc", "CPX", "SBC", "INC", "isb",  // E
    "BEQ", "SBC", "jam", "isb", "nop", "SBC", "INC", "isb",
    "SED", "SBC", "nop", "isb", "nop", "SBC", "INC", "isb",  // F
};

// ALE's base cycles. Differences from the NMOS data sheet (README 3.3): $A7 LAX zp takes 4.
inline constexpr std::array<std::uint8_t, 256> kCycles = {
    7, 6, 0, 8, 3, 3, 5, 5, 3, 2, 2, 2, 4, 4, 6, 6,  // 0
    2, 5, 0, 8, 4, 4, 6, 6, 2, 4, 2, 7, 4, 4, 7, 7,  // 1
    6, 6, 0, 8, 3, 3, 5, 5, 4, 2, 2, 2, 4, 4, 6, 6,  // 2
    2, 5, 0, 8, 4, 4, 6, 6, 2, 4, 2, 7, 4, 4, 7, 7,  // 3
    6, 6, 0, 8, 3, 3, 5, 5, 3, 2, 2, 2, 3, 4, 6, 6,  // 4
    2, 5, 0, 8, 4, 4, 6, 6, 2, 4, 2, 7, 4, 4, 7, 7,  // 5
    6, 6, 0, 8, 3, 3, 5, 5, 4, 2, 2, 2, 5, 4, 6, 6,  // 6
    2, 5, 0, 8, 4, 4, 6, 6, 2, 4, 2, 7, 4, 4, 7, 7,  // 7
    2, 6, 2, 6, 3, 3, 3, 3, 2, 2, 2, 2, 4, 4, 4, 4,  // 8
    2, 6, 0, 6, 4, 4, 4, 4, 2, 5, 2, 5, 5, 5, 5, 5,  // 9
    2, 6, 2, 6, 3, 3, 3, 4, 2, 2, 2, 2, 4, 4, 4, 4,  // A  ($A7 LAX zp: 4, ALE)
    2, 5, 0, 5, 4, 4, 4, 4, 2, 4, 2, 4, 4, 4, 4, 4,  // B
    2, 6, 2, 8, 3, 3, 5, 5, 2, 2, 2, 2, 4, 4, 6, 6,  // C
    2, 5, 0, 8, 4, 4, 6, 6, 2, 4, 2, 7, 4, 4, 7, 7,  // D
    2, 6, 2, 8, 3, 3, 5, 5, 2, 2, 2, 2, 4, 4, 6, 6,  // E
    2, 5, 0, 8, 4, 4, 6, 6, 2, 4, 2, 7, 4, 4, 7, 7,  // F
};

// The addressing mode follows the opcode's column and the parity of its row (see any 6502
// opcode matrix); the few exceptions are the X-register stores/loads, which index with Y.
constexpr Mode mode_of(int op) {
  const int row = op >> 4, col = op & 15;
  const bool odd = row & 1;
  switch (col) {
    case 0:
      if (odd) return Mode::kRel;
      if (op == 0x20) return Mode::kAbs;
      return row >= 8 ? Mode::kImm : Mode::kImp;
    case 1:
    case 3:
      return odd ? Mode::kIzy : Mode::kIzx;
    case 2:
      return (!odd && row >= 8) ? Mode::kImm : Mode::kImp;
    case 4:
    case 5:
      return odd ? Mode::kZpx : Mode::kZp;
    case 6:
    case 7:
      if (!odd) return Mode::kZp;
      return (op == 0x96 || op == 0x97 || op == 0xB6 || op == 0xB7) ? Mode::kZpy : Mode::kZpx;
    case 8:
    case 10:
      return Mode::kImp;
    case 9:
    case 11:
      return odd ? Mode::kAby : Mode::kImm;
    case 12:
      if (op == 0x6C) return Mode::kInd;
      return odd ? Mode::kAbx : Mode::kAbs;
    case 13:
      return odd ? Mode::kAbx : Mode::kAbs;
    default:  // 14, 15
      if (!odd) return Mode::kAbs;
      return (op == 0x9E || op == 0x9F || op == 0xBE || op == 0xBF) ? Mode::kAby : Mode::kAbx;
  }
}

constexpr std::array<Mode, 256> make_modes() {
  std::array<Mode, 256> m{};
  for (int i = 0; i < 256; ++i) m[i] = mode_of(i);
  return m;
}
inline constexpr std::array<Mode, 256> kModes = make_modes();

// ALE's decimal rules (README 3.3, checked there against all 262,144 cases).
inline int dec(int v) {
  return 10 * (v >> 4) + (v & 15);
}
inline int bcd(int n) {
  return (((n % 100) / 10) << 4) | (n % 10);
}

}  // namespace cpu_detail

template <class BusT>
int Cpu6502::step_on(BusT& bus) {
  using namespace cpu_detail;
  CpuState& r = s_;
  const std::uint64_t start = r.cycles;
  auto read = [&](unsigned address) __attribute__((always_inline)) {
    return bus.read(static_cast<std::uint16_t>(address));
  };
  auto write = [&](unsigned address, unsigned v) __attribute__((always_inline)) {
    bus.write(static_cast<std::uint16_t>(address), static_cast<std::uint8_t>(v));
  };
  auto fetch = [&]() __attribute__((always_inline)) {
    if constexpr (requires { bus.fetch(std::uint16_t{0}); }) {
      return bus.fetch(r.pc++);
    } else {
      return read(r.pc++);
    }
  };
  auto set_nz = [&](unsigned v) __attribute__((always_inline)) {
    r.p = static_cast<std::uint8_t>((r.p & ~(kFlagN | kFlagZ)) | (v & 0x80) |
                                    ((v & 0xFF) == 0 ? kFlagZ : 0));
  };
  auto set_flag = [&](std::uint8_t flag, bool on) __attribute__((always_inline)) {
    r.p = static_cast<std::uint8_t>(on ? (r.p | flag) : (r.p & ~flag));
  };
  auto push = [&](unsigned v) __attribute__((always_inline)) {
    write(0x100u | r.s, v), --r.s;
  };
  auto pull = [&]() __attribute__((always_inline)) {
    return read(0x100u | ++r.s);
  };

  const std::uint8_t opcode = fetch();

  // One instance of the instruction's code per opcode (speed): with the opcode a constant,
  // its addressing mode and the operation fold to straight-line code behind one jump,
  // instead of a jump on the mode and another on the operation (the profile showed those
  // two mispredicted jumps as the interpreter's main cost).
  auto exec = [&](auto opcode_constant) __attribute__((always_inline)) {
    constexpr std::uint8_t op = decltype(opcode_constant)::value;
    if constexpr (kCycles[op] == 0) {
      r.jammed = true;
      --r.pc;
      throw_error("6507: JAM opcode $", std::hex, int{op}, " at $", r.pc,
                  ": the CPU stops here (ALE stops with a fatal error too); the ROM is broken "
                  "or was mapped with the wrong cartridge type");
    }
    r.cycles += kCycles[op];
    ++r.instructions;
    // Effective address. Page-crossing penalty only for the read instructions that have one;
    // stores and read-modify-writes always take their base count.
    constexpr Mode mode = kModes[op];
    unsigned ea = 0;
    auto penalty = [&](unsigned base, unsigned address) __attribute__((always_inline)) {
      if ((base ^ address) & 0xFF00) {
        switch (op) {
          case 0x11:
          case 0x31:
          case 0x51:
          case 0x71:
          case 0xB1:
          case 0xD1:
          case 0xF1:  // (zp),Y
          case 0x19:
          case 0x39:
          case 0x59:
          case 0x79:
          case 0xB9:
          case 0xD9:
          case 0xF9:  // abs,Y
          case 0x1D:
          case 0x3D:
          case 0x5D:
          case 0x7D:
          case 0xBD:
          case 0xDD:
          case 0xFD:  // abs,X
          case 0xBC:
          case 0xBE:
          case 0xBF:
          case 0xB3:
          case 0xBB:
          case 0x1C:
          case 0x3C:
          case 0x5C:
          case 0x7C:
          case 0xDC:
          case 0xFC:  // NOP abs,X (ALE)
            ++r.cycles;
            break;
          default:
            break;
        }
      }
    };
    unsigned base = 0;  // un-indexed address, for the SHA/SHX/SHY/TAS family
    switch (mode) {
      case Mode::kImp:
      case Mode::kRel:
        break;
      case Mode::kImm:
        ea = r.pc++;
        break;
      case Mode::kZp:
        ea = fetch();
        break;
      case Mode::kZpx:
        ea = (fetch() + r.x) & 0xFF;
        break;
      case Mode::kZpy:
        ea = (fetch() + r.y) & 0xFF;
        break;
      case Mode::kAbs: {
        if (op == 0x20) break;  // JSR fetches its operand around the pushes
        const unsigned lo = fetch();
        ea = lo | (fetch() << 8);
        break;
      }
      case Mode::kAbx: {
        const unsigned lo = fetch();
        base = lo | (fetch() << 8);
        ea = (base + r.x) & 0xFFFF;
        penalty(base, ea);
        break;
      }
      case Mode::kAby: {
        const unsigned lo = fetch();
        base = lo | (fetch() << 8);
        ea = (base + r.y) & 0xFFFF;
        penalty(base, ea);
        break;
      }
      case Mode::kInd: {
        const unsigned lo = fetch();
        const unsigned ptr = lo | (fetch() << 8);
        // The NMOS page bug: the high byte comes from the same page.
        const unsigned target_lo = read(ptr);
        ea = target_lo | (read((ptr & 0xFF00) | ((ptr + 1) & 0xFF)) << 8);
        break;
      }
      case Mode::kIzx: {
        const unsigned zp = (fetch() + r.x) & 0xFF;
        // ALE: a pointer at $FF takes its high byte from $0100 (README 3.3, zp_pointer_ff).
        const unsigned lo = read(zp);
        ea = lo | (read(zp + 1) << 8);
        break;
      }
      case Mode::kIzy: {
        const unsigned zp = fetch();
        const unsigned lo = read(zp);
        base = lo | (read(zp + 1) << 8);
        ea = (base + r.y) & 0xFFFF;
        penalty(base, ea);
        break;
      }
    }

    auto adc = [&](unsigned m) {
      const unsigned a = r.a, c = r.p & kFlagC;
      if (r.p & kFlagD) {
        const int s = dec(static_cast<int>(a)) + dec(static_cast<int>(m)) + static_cast<int>(c);
        const unsigned res = static_cast<unsigned>(bcd(s % 256));
        set_flag(kFlagC, s > 99);
        set_flag(kFlagV, ((a ^ res) & (res ^ m) & 0x80) != 0);
        r.a = static_cast<std::uint8_t>(res);
      } else {
        const unsigned s = a + m + c;
        set_flag(kFlagC, s > 0xFF);
        set_flag(kFlagV, (~(a ^ m) & (a ^ s) & 0x80) != 0);
        r.a = static_cast<std::uint8_t>(s);
      }
      set_nz(r.a);
    };
    auto sbc = [&](unsigned m) {
      const unsigned a = r.a, c = r.p & kFlagC;
      if (r.p & kFlagD) {
        int d = dec(static_cast<int>(a)) - dec(static_cast<int>(m)) - (1 - static_cast<int>(c));
        if (d < 0) d += 100;
        const unsigned res = static_cast<unsigned>(d >= 0 ? bcd(d) : dec(256 + d)) & 0xFF;
        set_flag(kFlagC, a >= m + 1 - c);
        set_flag(kFlagV, ((a ^ res) & (res ^ m) & 0x80) != 0);
        r.a = static_cast<std::uint8_t>(res);
      } else {
        const unsigned d = a - m - (1 - c);
        set_flag(kFlagC, d < 0x100);
        set_flag(kFlagV, ((a ^ m) & (a ^ d) & 0x80) != 0);
        r.a = static_cast<std::uint8_t>(d);
      }
      set_nz(r.a);
    };
    auto compare = [&](unsigned reg, unsigned m) {
      set_flag(kFlagC, reg >= m);
      set_nz((reg - m) & 0xFF);
    };
    auto asl = [&](unsigned v) {
      set_flag(kFlagC, v & 0x80);
      v = (v << 1) & 0xFF;
      set_nz(v);
      return v;
    };
    auto lsr = [&](unsigned v) {
      set_flag(kFlagC, v & 1);
      v >>= 1;
      set_nz(v);
      return v;
    };
    auto rol = [&](unsigned v) {
      const unsigned c = r.p & kFlagC;
      set_flag(kFlagC, v & 0x80);
      v = ((v << 1) | c) & 0xFF;
      set_nz(v);
      return v;
    };
    auto ror = [&](unsigned v) {
      const unsigned c = r.p & kFlagC;
      set_flag(kFlagC, v & 1);
      v = (v >> 1) | (c << 7);
      set_nz(v);
      return v;
    };
    auto branch = [&](bool taken) __attribute__((always_inline)) {
      const auto offset = static_cast<std::int8_t>(fetch());
      if (!taken) return;
      const unsigned target = (r.pc + offset) & 0xFFFF;
      r.cycles += ((target ^ r.pc) & 0xFF00) ? 2 : 1;
      r.pc = static_cast<std::uint16_t>(target);
    };
    // The "unstable" stores: value AND (high byte of the effective address + 1), written at the
    // effective address. That is the 2022 Harte data's model (its records show it whether or not
    // indexing crosses a page) and ALE gives the same results on all of them (README 3.3).
    auto unstable_store = [&](unsigned value, unsigned index) {
      const unsigned address = (base + index) & 0xFFFF;
      write(address, value & (((address >> 8) + 1) & 0xFF));
    };
    auto rmw = [&](auto&& f) {
      const unsigned v = f(read(ea));
      write(ea, v);
      return v;
    };

    switch (op) {
      // Loads, stores, transfers.
      case 0xA9:
      case 0xA5:
      case 0xB5:
      case 0xAD:
      case 0xBD:
      case 0xB9:
      case 0xA1:
      case 0xB1:
        r.a = read(ea), set_nz(r.a);
        break;
      case 0xA2:
      case 0xA6:
      case 0xB6:
      case 0xAE:
      case 0xBE:
        r.x = read(ea), set_nz(r.x);
        break;
      case 0xA0:
      case 0xA4:
      case 0xB4:
      case 0xAC:
      case 0xBC:
        r.y = read(ea), set_nz(r.y);
        break;
      case 0x85:
      case 0x95:
      case 0x8D:
      case 0x9D:
      case 0x99:
      case 0x81:
      case 0x91:
        write(ea, r.a);
        break;
      case 0x86:
      case 0x96:
      case 0x8E:
        write(ea, r.x);
        break;
      case 0x84:
      case 0x94:
      case 0x8C:
        write(ea, r.y);
        break;
      case 0xAA:
        r.x = r.a, set_nz(r.x);
        break;
      case 0xA8:
        r.y = r.a, set_nz(r.y);
        break;
      case 0x8A:
        r.a = r.x, set_nz(r.a);
        break;
      case 0x98:
        r.a = r.y, set_nz(r.a);
        break;
      case 0xBA:
        r.x = r.s, set_nz(r.x);
        break;
      case 0x9A:
        r.s = r.x;
        break;

      // Arithmetic and logic.
      case 0x69:
      case 0x65:
      case 0x75:
      case 0x6D:
      case 0x7D:
      case 0x79:
      case 0x61:
      case 0x71:
        adc(read(ea));
        break;
      case 0xE9:
      case 0xEB:
      case 0xE5:
      case 0xF5:
      case 0xED:
      case 0xFD:
      case 0xF9:
      case 0xE1:
      case 0xF1:
        sbc(read(ea));
        break;
      case 0x29:
      case 0x25:
      case 0x35:
      case 0x2D:
      case 0x3D:
      case 0x39:
      case 0x21:
      case 0x31:
        r.a &= read(ea), set_nz(r.a);
        break;
      case 0x09:
      case 0x05:
      case 0x15:
      case 0x0D:
      case 0x1D:
      case 0x19:
      case 0x01:
      case 0x11:
        r.a |= read(ea), set_nz(r.a);
        break;
      case 0x49:
      case 0x45:
      case 0x55:
      case 0x4D:
      case 0x5D:
      case 0x59:
      case 0x41:
      case 0x51:
        r.a ^= read(ea), set_nz(r.a);
        break;
      case 0xC9:
      case 0xC5:
      case 0xD5:
      case 0xCD:
      case 0xDD:
      case 0xD9:
      case 0xC1:
      case 0xD1:
        compare(r.a, read(ea));
        break;
      case 0xE0:
      case 0xE4:
      case 0xEC:
        compare(r.x, read(ea));
        break;
      case 0xC0:
      case 0xC4:
      case 0xCC:
        compare(r.y, read(ea));
        break;
      case 0x24:
      case 0x2C: {
        const unsigned m = read(ea);
        r.p = static_cast<std::uint8_t>((r.p & ~(kFlagN | kFlagV | kFlagZ)) | (m & 0xC0) |
                                        ((m & r.a) == 0 ? kFlagZ : 0));
        break;
      }

      // Shifts and increments.
      case 0x0A:
        r.a = static_cast<std::uint8_t>(asl(r.a));
        break;
      case 0x4A:
        r.a = static_cast<std::uint8_t>(lsr(r.a));
        break;
      case 0x2A:
        r.a = static_cast<std::uint8_t>(rol(r.a));
        break;
      case 0x6A:
        r.a = static_cast<std::uint8_t>(ror(r.a));
        break;
      case 0x06:
      case 0x16:
      case 0x0E:
      case 0x1E:
        rmw(asl);
        break;
      case 0x46:
      case 0x56:
      case 0x4E:
      case 0x5E:
        rmw(lsr);
        break;
      case 0x26:
      case 0x36:
      case 0x2E:
      case 0x3E:
        rmw(rol);
        break;
      case 0x66:
      case 0x76:
      case 0x6E:
      case 0x7E:
        rmw(ror);
        break;
      case 0xE6:
      case 0xF6:
      case 0xEE:
      case 0xFE:
        rmw([&](unsigned v) {
          v = (v + 1) & 0xFF;
          set_nz(v);
          return v;
        });
        break;
      case 0xC6:
      case 0xD6:
      case 0xCE:
      case 0xDE:
        rmw([&](unsigned v) {
          v = (v - 1) & 0xFF;
          set_nz(v);
          return v;
        });
        break;
      case 0xE8:
        ++r.x, set_nz(r.x);
        break;
      case 0xC8:
        ++r.y, set_nz(r.y);
        break;
      case 0xCA:
        --r.x, set_nz(r.x);
        break;
      case 0x88:
        --r.y, set_nz(r.y);
        break;

      // Flags.
      case 0x18:
        set_flag(kFlagC, false);
        break;
      case 0x38:
        set_flag(kFlagC, true);
        break;
      case 0x58:
        set_flag(kFlagI, false);
        break;
      case 0x78:
        set_flag(kFlagI, true);
        break;
      case 0xB8:
        set_flag(kFlagV, false);
        break;
      case 0xD8:
        set_flag(kFlagD, false);
        break;
      case 0xF8:
        set_flag(kFlagD, true);
        break;

      // Branches and jumps.
      case 0x10:
        branch(!(r.p & kFlagN));
        break;
      case 0x30:
        branch(r.p & kFlagN);
        break;
      case 0x50:
        branch(!(r.p & kFlagV));
        break;
      case 0x70:
        branch(r.p & kFlagV);
        break;
      case 0x90:
        branch(!(r.p & kFlagC));
        break;
      case 0xB0:
        branch(r.p & kFlagC);
        break;
      case 0xD0:
        branch(!(r.p & kFlagZ));
        break;
      case 0xF0:
        branch(r.p & kFlagZ);
        break;
      case 0x4C:
      case 0x6C:
        r.pc = static_cast<std::uint16_t>(ea);
        break;
      case 0x20: {
        const unsigned lo = fetch();
        read(0x100u | r.s);  // ALE's dummy stack read
        push(r.pc >> 8);
        push(r.pc & 0xFF);
        const unsigned hi = fetch();
        r.pc = static_cast<std::uint16_t>(lo | (hi << 8));
        break;
      }
      case 0x60: {
        read(0x100u | r.s);  // ALE's dummy stack read
        const unsigned lo = pull();
        const unsigned address = lo | (pull() << 8);
        read(address);  // ALE reads the byte at the pulled address before adding 1
        r.pc = static_cast<std::uint16_t>(address + 1);
        break;
      }
      case 0x40: {
        read(0x100u | r.s);
        r.p = static_cast<std::uint8_t>(pull() | 0x30);
        const unsigned lo = pull();
        r.pc = static_cast<std::uint16_t>(lo | (pull() << 8));
        break;
      }
      case 0x00: {
        fetch();  // the signature byte after BRK
        push(r.pc >> 8);
        push(r.pc & 0xFF);
        push(r.p | 0x30);
        r.p |= kFlagI;
        const unsigned lo = read(0xFFFE);
        r.pc = static_cast<std::uint16_t>(lo | (read(0xFFFF) << 8));
        break;
      }

      // Stack.
      case 0x48:
        push(r.a);
        break;
      case 0x08:
        push(r.p | 0x30);
        break;
      case 0x68:
        r.a = pull(), set_nz(r.a);
        break;
      case 0x28:
        r.p = static_cast<std::uint8_t>(pull() | 0x30);
        break;

      // Undocumented: combined operations.
      case 0x07:
      case 0x17:
      case 0x0F:
      case 0x1F:
      case 0x1B:
      case 0x03:
      case 0x13:  // SLO
        r.a |= rmw(asl), set_nz(r.a);
        break;
      case 0x27:
      case 0x37:
      case 0x2F:
      case 0x3F:
      case 0x3B:
      case 0x23:
      case 0x33:  // RLA
        r.a &= rmw(rol), set_nz(r.a);
        break;
      case 0x47:
      case 0x57:
      case 0x4F:
      case 0x5F:
      case 0x5B:
      case 0x43:
      case 0x53:  // SRE
        r.a ^= rmw(lsr), set_nz(r.a);
        break;
      case 0x67:
      case 0x77:
      case 0x6F:
      case 0x7F:
      case 0x7B:
      case 0x63:
      case 0x73:  // RRA
        adc(rmw(ror));
        break;
      case 0xC7:
      case 0xD7:
      case 0xCF:
      case 0xDF:
      case 0xDB:
      case 0xC3:
      case 0xD3:  // DCP
        compare(r.a, rmw([](unsigned v) { return (v - 1) & 0xFF; }));
        break;
      case 0xE7:
      case 0xF7:
      case 0xEF:
      case 0xFF:
      case 0xFB:
      case 0xE3:
      case 0xF3:  // ISB
        sbc(rmw([](unsigned v) { return (v + 1) & 0xFF; }));
        break;
      case 0x87:
      case 0x97:
      case 0x8F:
      case 0x83:  // SAX
        write(ea, r.a & r.x);
        break;
      case 0xA7:
      case 0xB7:
      case 0xAF:
      case 0xBF:
      case 0xA3:
      case 0xB3:  // LAX
        r.a = r.x = read(ea), set_nz(r.a);
        break;
      case 0x0B:
      case 0x2B:  // ANC
        r.a &= read(ea), set_nz(r.a), set_flag(kFlagC, r.a & 0x80);
        break;
      case 0x4B:  // ALR
        r.a = static_cast<std::uint8_t>(lsr(r.a & read(ea)));
        break;
      case 0x6B: {  // ARR, with the NMOS decimal-mode fix-ups (ALE equals Harte here)
        const unsigned t = r.a & read(ea);
        const unsigned c = r.p & kFlagC;
        unsigned v = (t >> 1) | (c << 7);
        if (r.p & kFlagD) {
          set_flag(kFlagN, c != 0);
          set_flag(kFlagZ, v == 0);
          set_flag(kFlagV, ((t ^ v) & 0x40) != 0);
          if ((t & 0x0F) + (t & 0x01) > 5) v = (v & 0xF0) | ((v + 6) & 0x0F);
          const bool carry = (t & 0xF0) + (t & 0x10) > 0x50;
          if (carry) v = (v + 0x60) & 0xFF;
          set_flag(kFlagC, carry);
        } else {
          set_nz(v);
          set_flag(kFlagC, v & 0x40);
          set_flag(kFlagV, ((v >> 6) ^ (v >> 5)) & 1);
        }
        r.a = static_cast<std::uint8_t>(v);
        break;
      }
      case 0x8B:  // ANE, magic constant $EE (Harte 2022; ALE agrees)
        r.a = static_cast<std::uint8_t>((r.a | 0xEE) & r.x & read(ea)), set_nz(r.a);
        break;
      case 0xAB:  // LXA, magic constant $EE
        r.a = r.x = static_cast<std::uint8_t>((r.a | 0xEE) & read(ea)), set_nz(r.a);
        break;
      case 0xCB: {  // SBX
        const unsigned ax = r.a & r.x, m = read(ea);
        set_flag(kFlagC, ax >= m);
        r.x = static_cast<std::uint8_t>(ax - m), set_nz(r.x);
        break;
      }
      case 0xBB:  // LAS
        r.a = r.x = r.s = static_cast<std::uint8_t>(read(ea) & r.s), set_nz(r.a);
        break;
      case 0x93:
      case 0x9F:
        unstable_store(r.a & r.x, r.y);
        break;  // SHA
      case 0x9B:
        r.s = r.a & r.x, unstable_store(r.s, r.y);
        break;  // TAS
      case 0x9C:
        unstable_store(r.y, r.x);
        break;  // SHY
      case 0x9E:
        unstable_store(r.x, r.y);
        break;  // SHX

      default:  // the NOPs, documented ($EA) and not; those with an operand read it
        if (mode != Mode::kImp) read(ea);
        break;
    }
  };
  switch (opcode) {
#define DQN_CPU_CASE(n)                                \
  case (n):                                            \
    exec(std::integral_constant<std::uint8_t, (n)>{}); \
    break;
#define DQN_CPU_CASE4(n) \
  DQN_CPU_CASE(n) DQN_CPU_CASE((n) + 1) DQN_CPU_CASE((n) + 2) DQN_CPU_CASE((n) + 3)
#define DQN_CPU_CASE16(n) \
  DQN_CPU_CASE4(n) DQN_CPU_CASE4((n) + 4) DQN_CPU_CASE4((n) + 8) DQN_CPU_CASE4((n) + 12)
#define DQN_CPU_CASE64(n) \
  DQN_CPU_CASE16(n) DQN_CPU_CASE16((n) + 16) DQN_CPU_CASE16((n) + 32) DQN_CPU_CASE16((n) + 48)
    DQN_CPU_CASE64(0x00) DQN_CPU_CASE64(0x40) DQN_CPU_CASE64(0x80) DQN_CPU_CASE64(0xC0)
#undef DQN_CPU_CASE64
#undef DQN_CPU_CASE16
#undef DQN_CPU_CASE4
#undef DQN_CPU_CASE
  }
  return static_cast<int>(r.cycles - start);
}

}  // namespace atari2600
