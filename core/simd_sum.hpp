// core/simd_sum.hpp (private to core/*.cpp): the one summation loop behind sum_fast, sqnorm_fast
// and huber_forward_fast.
//
// Cascade summation: each block of kSumBlock elements is summed in float by kSumAccumulators
// independent vector accumulators (enough to hide the 4-cycle add latency on 2 ports: 2 x 4 = 8
// would be ideal, 4 already reaches the load bandwidth for a memory-bound sum), and each block's
// float total is added to a double. A block sums at most kSumBlock / (kSumAccumulators x lanes)
// + log2 terms per lane in float, so the error is about 40 u sum|x| (u = 2^-24) instead of n u
// for a naive float loop, and the double carries the rest. The order depends only on n and the
// range given, so the result is deterministic; parallel_reduce fixes the ranges per thread count.
#pragma once

#include <cstdint>

#include "core/simd.hpp"

namespace dqn::detail {

constexpr std::int64_t kSumBlock = 1024;
constexpr int kSumAccumulators = 4;

// sum over i in [lo, hi) of term(VecF at i) in vector lanes plus scalar_term(i) for the tail.
// `vec_term(i)` returns the VecF of terms for elements i .. i + kLanes - 1; `scalar_term(i)` the
// float term of element i (must equal one lane of vec_term).
template <class VecTerm, class ScalarTerm>
double cascade_sum(std::int64_t lo, std::int64_t hi, VecTerm&& vec_term, ScalarTerm&& scalar_term) {
  using simd::VecF;
  constexpr std::int64_t L = VecF::kLanes;
  double total = 0.0;
  for (std::int64_t block = lo; block < hi; block += kSumBlock) {
    const std::int64_t end = block + kSumBlock < hi ? block + kSumBlock : hi;
    VecF acc[kSumAccumulators];
    for (auto& a : acc) a = VecF::zero();
    std::int64_t i = block;
    for (; i + kSumAccumulators * L <= end; i += kSumAccumulators * L)
      for (int a = 0; a < kSumAccumulators; ++a) acc[a] = acc[a] + vec_term(i + a * L);
    for (; i + L <= end; i += L) acc[0] = acc[0] + vec_term(i);
    float tail = 0.0f;
    for (; i < end; ++i) tail += scalar_term(i);
    static_assert(kSumAccumulators == 4, "the combine below names four accumulators");
    const VecF both = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    total += static_cast<double>(both.sum()) + static_cast<double>(tail);
  }
  return total;
}

}  // namespace dqn::detail
