// bench/bench_util.hpp: what every kernel benchmark shares: random inputs, the check of a fast
// output against its reference before timing, and the thread-count argument.
#pragma once

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.hpp"

namespace dqn::bench {

inline std::vector<float> random_floats(std::int64_t n, std::uint64_t seed, float lo = -1.0f,
                                        float hi = 1.0f) {
  Rng rng(seed);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = rng.uniform(lo, hi);
  return v;
}

// True when fast and ref agree to `rel` of the largest reference magnitude (benchmarks only
// guard against timing a broken kernel; the tests hold the precise bounds).
inline bool close_enough(const std::vector<float>& fast, const std::vector<float>& ref,
                         double rel = 1e-4) {
  if (fast.size() != ref.size()) return false;
  double scale = 1e-30;
  for (float r : ref) scale = std::max(scale, static_cast<double>(std::fabs(r)));
  for (std::size_t i = 0; i < fast.size(); ++i)
    if (!(std::fabs(static_cast<double>(fast[i]) - ref[i]) <= rel * scale)) return false;
  return true;
}

// GFLOP/s counter: flops per iteration, reported as a rate (1000-based).
inline benchmark::Counter gflops(double flops_per_iteration) {
  return benchmark::Counter(flops_per_iteration / 1e9,
                            benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace dqn::bench
