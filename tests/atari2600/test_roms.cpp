// Tests for envs/atari2600/roms.{hpp,cpp}: ROMs recognised by MD5 whatever their file names, a
// folder scanned, and the messages for a missing ROM, another game's ROM and an unknown ROM
// (issue #17). Synthetic files stand in for the commercial ROMs this machine does not have;
// Tetris (../shared/atari) is the one real table ROM, and those checks skip without the kit.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "envs/atari2600/error.hpp"
#include "envs/atari2600/md5.hpp"
#include "envs/atari2600/roms.hpp"
#include "shared_kit.hpp"

using namespace atari2600;
namespace fs = std::filesystem;

namespace {

// A fresh folder under the system's temp dir, removed at the end of the test.
struct TempDir {
  TempDir() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("dqn_roms_" + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path path;
};

std::vector<std::uint8_t> random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) b = static_cast<std::uint8_t>(g());
  return v;
}

void write(const fs::path& p, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("roms: a random byte file is reported as unrecognised, with its MD5") {
  TempDir dir;
  const auto bytes = random_bytes(4096, 1);
  write(dir.path / "pong.bin", bytes);  // a game's file name does not make it that game
  const RomFile f = identify_rom(dir.path / "pong.bin");
  CHECK(f.game == nullptr);
  CHECK(f.bytes == 4096);
  CHECK(f.md5 == md5_hex(bytes));
  const auto all = scan_rom_folder(dir.path);
  REQUIRE(all.size() == 1);
  CHECK(all[0].game == nullptr);
}

TEST_CASE("roms: a missing ROM names the file, its MD5 and ALE's ROM set") {
  TempDir dir;
  write(dir.path / "other.bin", random_bytes(2048, 2));
  const std::string in_folder = message_of([&] { load_rom("pong", "", dir.path.string()); });
  CHECK(in_folder.find("pong.bin (md5 60e0ea3cbe0913d39803477945e9e5ec, 2048 bytes)") !=
        std::string::npos);
  CHECK(in_folder.find("ALE's Python package") != std::string::npos);
  CHECK(in_folder.find("never ships or downloads") != std::string::npos);
  const std::string no_folder = message_of([&] { load_rom("ms_pacman", "", ""); });
  CHECK(no_folder.find("ms_pacman.bin (md5 87e79cd41ce136fd4f72cc6e2c161bee") != std::string::npos);
  CHECK(no_folder.find("DQN_ROMS") != std::string::npos);
}

TEST_CASE("roms: an unknown ROM runs only as raw, with a warning, never under a game's rules") {
  TempDir dir;
  const fs::path file = dir.path / "mystery.bin";
  write(file, random_bytes(2048, 3));
  const std::string refused = message_of([&] { load_rom("breakout", file.string(), ""); });
  CHECK(refused.find("runs only as ale:raw") != std::string::npos);
  const LoadedRom raw = load_rom("raw", file.string(), "");
  CHECK(raw.bytes.size() == 2048);
  CHECK(raw.warning.find("none of the supported games") != std::string::npos);
  CHECK(message_of([&] { load_rom("raw", "", dir.path.string()); }).find("--rom FILE") !=
        std::string::npos);
  CHECK(message_of([&] { load_rom("pitfall", file.string(), ""); }).find("no game 'pitfall'") !=
        std::string::npos);
  write(dir.path / "huge.bin", std::vector<std::uint8_t>(kMaxRomBytes + 1));
  CHECK(message_of([&] {
          load_rom("raw", (dir.path / "huge.bin").string(), "");
        }).find("more than any 2600 cartridge") != std::string::npos);
  CHECK(message_of([&] { scan_rom_folder(file); }).find("is not a folder") != std::string::npos);
}

TEST_CASE("roms: tetris.bin is found by MD5 under any name, and refused as another game") {
  if (!atari2600_test::kit_has("roms/tetris.bin")) {
    MESSAGE("skipped: no ../shared/atari/roms/tetris.bin (set ATARI_SHARED_DIR to the kit)");
    return;
  }
  TempDir dir;
  const auto tetris = atari2600_test::read_bytes(atari2600_test::shared_kit() / "roms/tetris.bin");
  write(dir.path / "a_renamed_cartridge.bin", tetris);
  write(dir.path / "noise.bin", random_bytes(4096, 4));
  const auto all = scan_rom_folder(dir.path);
  REQUIRE(all.size() == 2);
  CHECK(all[0].path.filename() == "a_renamed_cartridge.bin");  // sorted by name
  REQUIRE(all[0].game != nullptr);
  CHECK(all[0].game->id == "tetris");
  CHECK(all[0].banks == "2K");  // the detector agrees with GAMES.md §2
  CHECK(all[1].game == nullptr);
  const LoadedRom found = load_rom("tetris", "", dir.path.string());
  CHECK(found.bytes == tetris);
  CHECK(found.warning.empty());
  const fs::path file = dir.path / "a_renamed_cartridge.bin";
  CHECK(message_of([&] { load_rom("pong", file.string(), ""); }).find("is tetris's") !=
        std::string::npos);
  CHECK(load_rom("raw", file.string(), "").warning.empty());  // a known ROM may run raw
}
