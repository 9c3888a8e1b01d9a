// core/rng.cpp: xoshiro256** and the distributions declared in rng.hpp.
#include "core/rng.hpp"

#include <cmath>

#include "core/error.hpp"

namespace dqn {
namespace {

// SplitMix64 (Steele, Lea & Flood 2014): the recommended seeder for the xoshiro family.
std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// 64x64 -> 128-bit products for Lemire's method (a GCC/Clang extension, hence the marker).
__extension__ typedef unsigned __int128 U128;

std::uint64_t rotl(std::uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

}  // namespace

Rng::Rng(std::uint64_t seed, std::uint64_t stream) {
  // Mix the stream id through its own SplitMix64 step so streams 0, 1, 2... are unrelated.
  std::uint64_t stream_mix = stream;
  std::uint64_t x = seed ^ splitmix64(stream_mix);
  for (auto& word : s_) word = splitmix64(x);
  // An all-zero state would be a fixed point; SplitMix64 cannot produce four zeros, but be sure.
  if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) s_[0] = 1;
}

void Rng::set_state(const State& s) {
  DQN_CHECK((s[0] | s[1] | s[2] | s[3]) != 0,
            "Rng::set_state: expected a state saved by Rng::state(), got all four words zero, "
            "which xoshiro256** never produces: the saved state is corrupt");
  s_ = s;
}

std::uint64_t Rng::next_u64() {
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

std::uint64_t Rng::below(std::uint64_t n) {
  DQN_CHECK(n >= 1, "Rng::below(n): n must be >= 1, got 0");
  // Multiply-shift maps 64 random bits onto [0, n); reject the few low products that would
  // make some values one count more likely than others.
  U128 m = static_cast<U128>(next_u64()) * n;
  std::uint64_t low = static_cast<std::uint64_t>(m);
  if (low < n) {
    const std::uint64_t threshold = (0 - n) % n;  // 2^64 mod n
    while (low < threshold) {
      m = static_cast<U128>(next_u64()) * n;
      low = static_cast<std::uint64_t>(m);
    }
  }
  return static_cast<std::uint64_t>(m >> 64);
}

std::int64_t Rng::uniform_int(std::int64_t lo, std::int64_t hi) {
  DQN_CHECK(lo < hi, "Rng::uniform_int(lo, hi): needs lo < hi, got lo=", lo, " hi=", hi);
  return lo + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(hi - lo)));
}

float Rng::uniform_float() {
  return static_cast<float>(next_u64() >> 40) * 0x1.0p-24f;
}

double Rng::uniform_double() {
  return static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
}

double Rng::normal() {
  while (true) {
    const double u = 2.0 * uniform_double() - 1.0;
    const double v = 2.0 * uniform_double() - 1.0;
    const double s = u * u + v * v;
    if (s > 0.0 && s < 1.0) return u * std::sqrt(-2.0 * std::log(s) / s);
  }
}

Rng Rng::split(std::uint64_t stream_id) const {
  // Fold the parent's whole state into one seed, then let the constructor mix in the id.
  std::uint64_t x = s_[0];
  std::uint64_t seed = splitmix64(x) ^ s_[1];
  seed = splitmix64(seed) ^ s_[2];
  seed = splitmix64(seed) ^ s_[3];
  return Rng(seed, stream_id + 1);
}

}  // namespace dqn
