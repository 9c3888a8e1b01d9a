// core/rng.hpp: the project's only source of randomness, and its own distributions.
//
// Generator: xoshiro256** (Blackman & Vigna, "Scrambled linear pseudorandom number generators",
// 2021), seeded through SplitMix64 so that nearby seeds give unrelated states.
// Distributions are written here, not taken from <random>: the standard library fixes the
// engines' output but not how std::uniform_int_distribution or std::normal_distribution turn it
// into numbers, so the same seed gives different runs on libstdc++ and libc++.
//
//   Rng rng(42);                       // a run's root generator
//   Rng env_rng = rng.split(1);        // independent streams: one per env, replay, exploration
//   std::int64_t a = rng.uniform_int(0, 6);   // in [0, 6)
//   float u = rng.uniform_float();            // in [0, 1)
//
// Every stochastic function in the project takes an Rng&; a seed fixes a run.
#pragma once

#include <array>
#include <cstdint>

namespace dqn {

class Rng {
 public:
  using State = std::array<std::uint64_t, 4>;

  explicit Rng(std::uint64_t seed = 0, std::uint64_t stream = 0);

  std::uint64_t next_u64();
  // Uniform integer in [0, n), n >= 1, without modulo bias (Lemire, "Fast random integer
  // generation in an interval", 2019).
  std::uint64_t below(std::uint64_t n);
  // Uniform integer in [lo, hi), lo < hi.
  std::int64_t uniform_int(std::int64_t lo, std::int64_t hi);
  // Uniform in [0, 1) with 24 (float) or 53 (double) random mantissa bits: every value is exact.
  float uniform_float();
  double uniform_double();
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform_float(); }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform_double(); }
  // Standard normal by Marsaglia's polar method (needs only log and sqrt; one value per call).
  double normal();
  bool bernoulli(double p) { return uniform_double() < p; }

  // A new generator whose stream depends on this one's state and the id, leaving this one
  // untouched: split(1) and split(2) are independent of each other and of the parent.
  Rng split(std::uint64_t stream_id) const;

  const State& state() const { return s_; }
  // Restores a state saved with state(). Throws dqn::Error on the all-zero state: xoshiro256**
  // never reaches it, and from it every output is 0 forever (a sampler that rejects zeros, such
  // as below() or normal(), would then loop without end).
  void set_state(const State& s);
  friend bool operator==(const Rng& a, const Rng& b) { return a.s_ == b.s_; }

 private:
  State s_{};
};

}  // namespace dqn
