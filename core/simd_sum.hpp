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

#include <array>
#include <cstdint>

#include "core/simd.hpp"

namespace dqn::detail {

constexpr std::int64_t kSumBlock = 1024;
constexpr int kSumAccumulators = 4;

// S sums at once over i in [lo, hi): vec_terms(i) returns S VecF of terms for elements i .. i +
// kLanes - 1, scalar_terms(i) the S float terms of element i (each must equal one lane of the
// vector's). Each sum takes exactly the operations cascade_sum below would take alone, so a
// kernel that reads its input once for two sums gets the bits of two separate passes.
template <int S, class VecTerms, class ScalarTerms>
std::array<double, S> cascade_sums(std::int64_t lo, std::int64_t hi, VecTerms&& vec_terms,
                                   ScalarTerms&& scalar_terms) {
  using simd::VecF;
  constexpr std::int64_t L = VecF::kLanes;
  std::array<double, S> total{};
  for (std::int64_t block = lo; block < hi; block += kSumBlock) {
    const std::int64_t end = block + kSumBlock < hi ? block + kSumBlock : hi;
    // Every loop over acc unrolled, so that it lives in registers (the tile trap in simd.hpp).
    VecF acc[S][kSumAccumulators];
#pragma GCC unroll 16
    for (auto& sum : acc)
#pragma GCC unroll 16
      for (auto& a : sum) a = VecF::zero();
    std::int64_t i = block;
    for (; i + kSumAccumulators * L <= end; i += kSumAccumulators * L)
#pragma GCC unroll 16
      for (int a = 0; a < kSumAccumulators; ++a) {
        const std::array<VecF, S> t = vec_terms(i + a * L);
#pragma GCC unroll 16
        for (int k = 0; k < S; ++k) acc[k][a] = acc[k][a] + t[k];
      }
    for (; i + L <= end; i += L) {
      const std::array<VecF, S> t = vec_terms(i);
#pragma GCC unroll 16
      for (int k = 0; k < S; ++k) acc[k][0] = acc[k][0] + t[k];
    }
    std::array<float, S> tail{};
    for (; i < end; ++i) {
      const std::array<float, S> t = scalar_terms(i);
      for (int k = 0; k < S; ++k) tail[k] += t[k];
    }
    static_assert(kSumAccumulators == 4, "the combine below names four accumulators");
#pragma GCC unroll 16
    for (int k = 0; k < S; ++k) {
      const VecF both = (acc[k][0] + acc[k][1]) + (acc[k][2] + acc[k][3]);
      total[k] += static_cast<double>(both.sum()) + static_cast<double>(tail[k]);
    }
  }
  return total;
}

// sum over i in [lo, hi) of term(VecF at i) in vector lanes plus scalar_term(i) for the tail.
// `vec_term(i)` returns the VecF of terms for elements i .. i + kLanes - 1; `scalar_term(i)` the
// float term of element i (must equal one lane of vec_term).
template <class VecTerm, class ScalarTerm>
double cascade_sum(std::int64_t lo, std::int64_t hi, VecTerm&& vec_term, ScalarTerm&& scalar_term) {
  return cascade_sums<1>(
      lo, hi, [&](std::int64_t i) { return std::array<simd::VecF, 1>{vec_term(i)}; },
      [&](std::int64_t i) { return std::array<float, 1>{scalar_term(i)}; })[0];
}
}  // namespace dqn::detail
