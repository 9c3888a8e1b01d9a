// envs/atari2600/roms.hpp: finding the user's ROM files. The project ships no commercial ROM;
// a game's ROM is recognised by its MD5 (GAMES.md §2), so file names do not matter and a ROM
// folder (ALE's Python package ships one) can be given once.
//
//   RomFile f = identify_rom("roms/pong.bin");      // f.game: the table's game, or nullptr
//   auto all = scan_rom_folder("roms");              // every file of a folder, identified
//   LoadedRom r = load_rom("pong", "", "roms");      // the file for ale:pong, or a clear error
//
// The project's own cartridges (bundled.hpp, e.g. catch2600) need no file: load_rom returns the
// bytes compiled into the library unless a --rom file is given.
//
// Rule (issue #17): a ROM that is not in the table runs only as "raw" (no reward, no episode
// end), never under another game's rules; a known ROM runs as its own game or as raw.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "envs/atari2600/games.hpp"

namespace atari2600 {

// No 2600 cartridge scheme addresses more than this; bigger files are not read whole.
constexpr std::uintmax_t kMaxRomBytes = 1u << 20;

struct RomFile {
  std::filesystem::path path;
  std::uintmax_t bytes = 0;
  std::string md5;             // empty for a file too big to be a ROM
  const Game* game = nullptr;  // the table's game with this MD5, if any
  // The bank scheme the emulator's detection picks ("2K", "F8", ...; empty when it refuses the
  // image). GAMES.md §8.1: for a table ROM it should equal game->bank; if not, ALE's behaviour
  // is whatever the detector says, and `dqn roms` points the difference out.
  std::string banks;
};

// Throws atari2600::Error when the file cannot be read.
RomFile identify_rom(const std::filesystem::path& file);
// The regular files directly in `dir`, sorted by name. Throws when `dir` is not a folder.
std::vector<RomFile> scan_rom_folder(const std::filesystem::path& dir);

// "pong.bin (md5 60e0ea3cbe0913d39803477945e9e5ec, 2048 bytes)": what a game's ROM must be.
std::string expected_rom(const Game& game);

struct LoadedRom {
  std::vector<std::uint8_t> bytes;
  std::filesystem::path path;
  std::string warning;  // non-empty: say it to the user (an unrecognised ROM run as raw)
};

// The ROM for game `id` ("raw" or a table id): `rom_file` when given (its MD5 must be the
// game's, any MD5 for raw), else the file of `rom_dir` with the game's MD5. Throws
// atari2600::Error saying which file (name and MD5) is expected and how to get it.
LoadedRom load_rom(const std::string& id, const std::string& rom_file, const std::string& rom_dir);

}  // namespace atari2600
