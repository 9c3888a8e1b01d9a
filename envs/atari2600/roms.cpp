// envs/atari2600/roms.cpp: ROM identification by MD5 and the messages for missing or wrong ROMs.
#include "envs/atari2600/roms.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>

#include "envs/atari2600/cartridge.hpp"
#include "envs/atari2600/error.hpp"
#include "envs/atari2600/md5.hpp"

namespace atari2600 {
namespace {

namespace fs = std::filesystem;

std::vector<std::uint8_t> read_all(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw_error("cannot open the ROM '", file.string(), "'; check the path and its rights");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Where users who own the games find them (the wording: never shipped, never downloaded).
constexpr const char* kHowToGet =
    "This project never ships or downloads commercial ROMs. If you own the game, install the ROM "
    "set that ships with ALE's Python package (pip install ale-py; its ale_py/roms folder) and "
    "give that folder with --roms DIR or the DQN_ROMS environment variable, or the file with "
    "--rom FILE";

}  // namespace

RomFile identify_rom(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec))
    throw_error("the ROM '", file.string(), "' is not a regular file; give the path of a .bin");
  RomFile r;
  r.path = file;
  r.bytes = fs::file_size(file, ec);
  if (ec) throw_error("cannot read the size of the ROM '", file.string(), "': ", ec.message());
  if (r.bytes > kMaxRomBytes) return r;  // not a ROM; no MD5
  const std::vector<std::uint8_t> bytes = read_all(file);
  r.md5 = md5_hex(bytes);
  r.game = find_game_by_md5(r.md5);
  try {
    r.banks = cart_type_name(Cartridge::detect(bytes));
  } catch (const Error&) {
    // not an image the emulator can run; banks stays empty
  }
  return r;
}

std::vector<RomFile> scan_rom_folder(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw_error("the ROM folder '", dir.string(), "' is not a folder; give the folder that holds ",
                "the .bin files (e.g. ale_py/roms of ALE's Python package)");
  std::vector<RomFile> out;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file(ec)) out.push_back(identify_rom(entry.path()));
  }
  if (ec) throw_error("cannot list the ROM folder '", dir.string(), "': ", ec.message());
  std::sort(out.begin(), out.end(),
            [](const RomFile& a, const RomFile& b) { return a.path < b.path; });
  return out;
}

std::string expected_rom(const Game& game) {
  return std::string(game.id) + ".bin (md5 " + std::string(game.md5) + ", " +
         std::to_string(game.rom_bytes) + " bytes)";
}

LoadedRom load_rom(const std::string& id, const std::string& rom_file, const std::string& rom_dir) {
  const Game* game = find_game(id);
  if (!game) {
    std::string known = "raw";
    for (const Game& g : games()) known.append(", ").append(g.id);
    throw_error("no game '", id, "'; the games are ", known);
  }
  const bool raw = game == &raw_game();
  LoadedRom out;
  if (!rom_file.empty()) {
    const RomFile f = identify_rom(rom_file);
    if (f.md5.empty())
      throw_error("the ROM '", rom_file, "' is ", f.bytes, " bytes, more than any 2600 cartridge ",
                  "holds; is it the right file?");
    if (!raw && f.game != game) {
      if (f.game)
        throw_error("the ROM '", rom_file, "' is ", f.game->id, "'s (md5 ", f.md5, "), not ", id,
                    "'s; run it as ale:", f.game->id, ", or give ", expected_rom(*game));
      throw_error("the ROM '", rom_file, "' (md5 ", f.md5, ") is not the ", id,
                  " ROM ALE supports, ", expected_rom(*game),
                  "; a ROM that is not in the table runs only as ale:raw (no reward, no "
                  "episode end), never under a game's rules");
    }
    if (raw && !f.game)
      out.warning = "the ROM '" + rom_file + "' (md5 " + f.md5 +
                    ") is none of the supported games: it runs as ale:raw, with no reward and "
                    "no episode end (only the frame cap ends it)";
    out.bytes = read_all(rom_file);
    out.path = rom_file;
    return out;
  }
  if (raw) throw_error("ale:raw runs any ROM file but needs it: give --rom FILE");
  if (game->bundled_rom) {  // our own cartridge: in the library, whatever folder is given
    const auto bytes = game->bundled_rom();
    out.bytes.assign(bytes.begin(), bytes.end());
    out.path = "envs/atari2600/roms/" + std::string(game->id) + ".bin (built in)";
    return out;
  }
  if (rom_dir.empty())
    throw_error("ale:", id, " needs its ROM, ", expected_rom(*game),
                ": give --rom FILE, or a ROM folder with --roms DIR or the DQN_ROMS environment "
                "variable, in which it is found by MD5. ",
                kHowToGet);
  for (const RomFile& f : scan_rom_folder(rom_dir)) {
    if (f.game == game) {
      out.bytes = read_all(f.path);
      out.path = f.path;
      return out;
    }
  }
  throw_error("ale:", id, " needs its ROM, ", expected_rom(*game), ", and no file in '", rom_dir,
              "' has that MD5 (dqn roms ", rom_dir, " lists what is there). ", kHowToGet);
}

}  // namespace atari2600
