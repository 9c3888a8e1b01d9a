// core/loss.cpp: SIMD Huber loss. The per-element loss is computed without a branch as
// c (a - 0.5 c) with a = |d| and c = min(a, delta), which equals 0.5 a^2 when a <= delta (a - 0.5a
// and 0.5a are exact) and delta (a - 0.5 delta) otherwise: the same float as the reference's
// branches. The mean uses the cascade sum of simd_sum.hpp (deterministic per thread count).
#include "core/loss.hpp"

#include "core/elementwise.hpp"
#include "core/parallel.hpp"
#include "core/simd.hpp"
#include "core/simd_loop.hpp"
#include "core/simd_sum.hpp"

namespace dqn {

using detail::for_each_lane;
using simd::VecF;

float huber_forward_fast(const float* pred, const float* target, std::int64_t n, float delta) {
  if (n <= 0) return 0.0f;
  const VecF dv = VecF::set1(delta), half = VecF::set1(0.5f), zero = VecF::zero();
  const double sum =
      parallel_reduce<double>(0, n, kElementwiseGrain, [&](std::int64_t lo, std::int64_t hi) {
        return detail::cascade_sum(
            lo, hi,
            [&](std::int64_t i) {
              const VecF d = VecF::load(pred + i) - VecF::load(target + i);
              const VecF a = d.max(zero - d);
              const VecF c = a.min(dv);
              return c * (a - half * c);
            },
            [&](std::int64_t i) {
              const float a = std::abs(pred[i] - target[i]);
              const float c = std::min(a, delta);
              return c * (a - 0.5f * c);
            });
      });
  return static_cast<float>(sum / static_cast<double>(n));
}

void huber_backward_fast(float* dpred, const float* pred, const float* target, std::int64_t n,
                         float delta, float dloss) {
  const float scale = static_cast<float>(1.0 / static_cast<double>(n)) * dloss;
  const VecF hi_v = VecF::set1(delta), lo_v = VecF::set1(-delta), sv = VecF::set1(scale);
  for_each_lane(
      n,
      [=](std::int64_t i) {
        const VecF d = VecF::load(pred + i) - VecF::load(target + i);
        (VecF::load(dpred + i) + d.min(hi_v).max(lo_v) * sv).store(dpred + i);
      },
      [=](std::int64_t i) { dpred[i] += std::clamp(pred[i] - target[i], -delta, delta) * scale; });
}

}  // namespace dqn
