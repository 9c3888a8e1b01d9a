// tests/fuzz/fuzz_atari_rom.cpp: libFuzzer target for the Atari 2600 ROM loader and machine.
//
// Built and run by tests/fuzz/run_fuzz_atari.sh with clang's -fsanitize=fuzzer,address,undefined;
// not part of the CMake build (which uses g++, and has no libFuzzer).
//
// The property under test: for ANY bytes, building a console either succeeds or throws
// atari2600::Error (unknown size, wrong size for a forced type), and running the machine never
// crashes, reads out of bounds or hangs: a frame is at most 25,000 instructions, a JAM opcode
// throws atari2600::Error, and a saved state loads back into the same console.
//
// The first byte picks the cartridge type: 0-10 force one of the 11 schemes, anything else
// lets detection choose, so every scheme's mapping sees arbitrary code. The rest is the ROM.
#include <cstdint>
#include <optional>
#include <vector>

#include "envs/atari2600/console.hpp"
#include "envs/atari2600/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  atari2600::ConsoleOptions options;
  if (data[0] <= static_cast<std::uint8_t>(atari2600::CartType::k3F)) {
    options.cart_type = static_cast<atari2600::CartType>(data[0]);
  }
  std::vector<std::uint8_t> rom(data + 1, data + size);
  std::optional<atari2600::Console> console;
  try {
    console.emplace(rom, options);
  } catch (const atari2600::Error&) {
    return 0;  // a size no scheme accepts: refused with a message, as it should be
  }
  try {
    console->system_reset();
    console->run_frame();
    const std::string state = console->save_state();
    console->run_frame();
    console->load_state(state);
    console->run_frame();
  } catch (const atari2600::Error&) {
    // JAM opcodes: ALE stops there too.
  }
  return 0;
}
