// core/reduce.cpp: the fast reductions. Gather and max are the reference loops on float (the
// arrays are a few hundred entries); sum and sqnorm are SIMD cascade sums (core/simd_sum.hpp).
#include "core/reduce.hpp"

#include "core/elementwise.hpp"
#include "core/parallel.hpp"
#include "core/simd.hpp"
#include "core/simd_sum.hpp"

namespace dqn {

using simd::VecF;

void gather_actions_forward_fast(float* out, const float* q, const std::int64_t* actions,
                                 std::int64_t N, std::int64_t A) {
  gather_actions_forward_ref(out, q, actions, N, A);
}

void gather_actions_backward_fast(float* dq, const float* dout, const std::int64_t* actions,
                                  std::int64_t N, std::int64_t A) {
  gather_actions_backward_ref(dq, dout, actions, N, A);
}

void max_actions_fast(float* value, std::int64_t* argmax, const float* q, std::int64_t N,
                      std::int64_t A) {
  max_actions_ref(value, argmax, q, N, A);
}

float sum_fast(const float* x, std::int64_t n) {
  return static_cast<float>(
      parallel_reduce<double>(0, n, kElementwiseGrain, [&](std::int64_t lo, std::int64_t hi) {
        return detail::cascade_sum(
            lo, hi, [&](std::int64_t i) { return VecF::load(x + i); },
            [&](std::int64_t i) { return x[i]; });
      }));
}

float sqnorm_fast(const float* x, std::int64_t n) {
  return static_cast<float>(
      parallel_reduce<double>(0, n, kElementwiseGrain, [&](std::int64_t lo, std::int64_t hi) {
        return detail::cascade_sum(
            lo, hi,
            [&](std::int64_t i) {
              const VecF v = VecF::load(x + i);
              return v * v;
            },
            [&](std::int64_t i) { return x[i] * x[i]; });
      }));
}

}  // namespace dqn
