// envs/atari2600/bundled.hpp: the cartridges this project wrote itself and ships (roms/*.asm,
// assembled with dasm and committed as roms/*.bin), compiled into the library by
// cmake/embed_rom.cmake. A game of the table (games.hpp) whose `bundled_rom` is set runs without
// any ROM file: issue #17's "whole path of a real cartridge ... on a fresh machine with no ROM
// from outside".
#pragma once

#include <cstdint>
#include <span>

namespace atari2600 {

// Catch (roms/catch2600.asm): the bytes of roms/catch2600.bin, 2048 of them.
std::span<const std::uint8_t> catch2600_rom();

}  // namespace atari2600
