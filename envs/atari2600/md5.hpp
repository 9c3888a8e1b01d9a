// envs/atari2600/md5.hpp: MD5 (RFC 1321) of a byte string as 32 lower-case hex digits, the key
// by which ALE and this project recognise a ROM (GAMES.md §2). Not for security.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace atari2600 {

std::string md5_hex(const std::uint8_t* data, std::size_t size);
inline std::string md5_hex(const std::vector<std::uint8_t>& bytes) {
  return md5_hex(bytes.data(), bytes.size());
}
inline std::string md5_hex(std::string_view text) {
  return md5_hex(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
}

}  // namespace atari2600
