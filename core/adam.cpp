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
// Elements from which Adam's four arrays (16 B an element) outgrow L2 (1 MB a core on Zen 4):
// 2^17 x 16 B = 2 MB. The MLP's 65,536-weight layer stays below, the CNNs' fc layers above.
constexpr std::int64_t kAdamPrefetchMin = std::int64_t{1} << 17;
}  // namespace

void adam_step_fast(float* param, float* m, float* v, const float* grad, std::int64_t n,
                    const AdamHyper& h, std::int64_t step) {
  const AdamScalars<float> k(h, step);
  const VecF b1 = VecF::set1(k.beta1), omb1 = VecF::set1(k.one_minus_beta1);
  const VecF b2 = VecF::set1(k.beta2), omb2 = VecF::set1(k.one_minus_beta2);
  const VecF bc2s = VecF::set1(k.bias_c2_sqrt), eps = VecF::set1(k.eps);
  const VecF neg_step = VecF::set1(k.neg_step_size);
  const auto vec = [=](std::int64_t i) {
    const VecF g = VecF::load(grad + i);
    const VecF m_new = g.fma(omb1, VecF::load(m + i) * b1);
    const VecF v_new = VecF::load(v + i) * b2 + omb2 * g * g;
    const VecF denom = v_new.sqrt() / bc2s + eps;
    m_new.store(m + i);
    v_new.store(v + i);
    (VecF::load(param + i) + neg_step * m_new / denom).store(param + i);
  };
  // Beyond L2 the seven streams wait on the next level and software prefetch pays (simd.hpp):
  // bench_adam, one thread, 1.69M parameters (the Nature CNN's, 27 MB with the moments, held in
  // L3 by the benchmark's loop): 700 -> 530-560 us. Inside a whole Rainbow update, whose 57 MB
  // come from DRAM, it measured no faster: there bandwidth, not latency, is the bound. Within L2
  // the hints are pure overhead (the MLP's 67,586: 12.4 -> 14.7 us), so small tensors go
  // without.
  const auto vec_prefetching = [=](std::int64_t i) {
    simd::prefetch_ahead(grad + i);
    simd::prefetch_ahead_for_write(m + i);
    simd::prefetch_ahead_for_write(v + i);
    simd::prefetch_ahead_for_write(param + i);
    vec(i);
  };
  const auto scalar = [=](std::int64_t i) {
    const float g = grad[i];
    m[i] = std::fma(g, k.one_minus_beta1, m[i] * k.beta1);
    v[i] = v[i] * k.beta2 + k.one_minus_beta2 * g * g;
    const float denom = std::sqrt(v[i]) / k.bias_c2_sqrt + k.eps;
    param[i] = param[i] + k.neg_step_size * m[i] / denom;
  };
  if (n >= kAdamPrefetchMin)
    for_each_lane(n, vec_prefetching, scalar, kAdamGrain);
  else
    for_each_lane(n, vec, scalar, kAdamGrain);
}

}  // namespace dqn
