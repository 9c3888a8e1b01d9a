// core/adam.cpp: the fused SIMD Adam update; the arithmetic is spelled out in core/adam.hpp.
#include "core/adam.hpp"

#include "core/simd.hpp"
#include "core/simd_loop.hpp"

namespace dqn {

using detail::for_each_lane;
using simd::VecF;

namespace {
// Adam does a square root and a division per element besides its 7 array passes, so a chunk pays
// for a fork/join sooner than a plain element-wise op (kElementwiseGrain): with 2^15 the MLP's
// 256x256 weight (65,536) is updated by two threads.
constexpr std::int64_t kAdamGrain = std::int64_t{1} << 15;
}  // namespace

void adam_step_fast(float* param, float* m, float* v, const float* grad, std::int64_t n,
                    const AdamHyper& h, std::int64_t step) {
  const AdamScalars<float> k(h, step);
  const VecF b1 = VecF::set1(k.beta1), omb1 = VecF::set1(k.one_minus_beta1);
  const VecF b2 = VecF::set1(k.beta2), omb2 = VecF::set1(k.one_minus_beta2);
  const VecF bc2s = VecF::set1(k.bias_c2_sqrt), eps = VecF::set1(k.eps);
  const VecF neg_step = VecF::set1(k.neg_step_size);
  for_each_lane(
      n,
      [=](std::int64_t i) {
        const VecF g = VecF::load(grad + i);
        const VecF m_new = g.fma(omb1, VecF::load(m + i) * b1);
        const VecF v_new = VecF::load(v + i) * b2 + omb2 * g * g;
        const VecF denom = v_new.sqrt() / bc2s + eps;
        m_new.store(m + i);
        v_new.store(v + i);
        (VecF::load(param + i) + neg_step * m_new / denom).store(param + i);
      },
      [=](std::int64_t i) {
        const float g = grad[i];
        m[i] = std::fma(g, k.one_minus_beta1, m[i] * k.beta1);
        v[i] = v[i] * k.beta2 + k.one_minus_beta2 * g * g;
        const float denom = std::sqrt(v[i]) / k.bias_c2_sqrt + k.eps;
        param[i] = param[i] + k.neg_step_size * m[i] / denom;
      },
      kAdamGrain);
}

}  // namespace dqn
