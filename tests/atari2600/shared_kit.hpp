// tests/atari2600/shared_kit.hpp: where the Atari verification kit (../shared/atari beside the
// repository root) is, for the tests that need files that may not enter the repository: the CPU
// test suites and the Tetris ROM. Those tests skip with a message when the kit is absent.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace atari2600_test {

// ATARI_SHARED_DIR overrides; otherwise <repository>/../shared/atari (CI's layout).
inline std::filesystem::path shared_kit() {
  if (const char* dir = std::getenv("ATARI_SHARED_DIR")) return dir;
  return std::filesystem::path(DQN_SOURCE_DIR) / ".." / "shared" / "atari";
}

inline bool kit_has(const std::filesystem::path& relative) {
  return std::filesystem::exists(shared_kit() / relative);
}

inline std::vector<std::uint8_t> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::filesystem::path source_path(const std::string& relative) {
  return std::filesystem::path(DQN_SOURCE_DIR) / relative;
}

}  // namespace atari2600_test
