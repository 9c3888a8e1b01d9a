// core/adam.cpp: the fused SIMD Adam update; the arithmetic is spelled out in core/adam.hpp.
#include "core/adam.hpp"

#include <algorithm>
#include <cmath>

#include "core/parallel.hpp"
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

// One element's and one vector's update, in adam.hpp's order: shared by both kernels below, so
// the noisy pair's update is adam_step_fast's to the bit.
struct AdamLanes {
  VecF b1, omb1, b2, omb2, bc2s, eps, neg_step;
  explicit AdamLanes(const AdamScalars<float>& k)
      : b1(VecF::set1(k.beta1)),
        omb1(VecF::set1(k.one_minus_beta1)),
        b2(VecF::set1(k.beta2)),
        omb2(VecF::set1(k.one_minus_beta2)),
        bc2s(VecF::set1(k.bias_c2_sqrt)),
        eps(VecF::set1(k.eps)),
        neg_step(VecF::set1(k.neg_step_size)) {}
  void update(VecF g, float* param, float* m, float* v) const {
    const VecF m_new = g.fma(omb1, VecF::load(m) * b1);
    const VecF v_new = VecF::load(v) * b2 + omb2 * g * g;
    const VecF denom = v_new.sqrt() / bc2s + eps;
    m_new.store(m);
    v_new.store(v);
    (VecF::load(param) + neg_step * m_new / denom).store(param);
  }
};

inline void adam_element(float g, float& param, float& m, float& v, const AdamScalars<float>& k) {
  m = std::fma(g, k.one_minus_beta1, m * k.beta1);
  v = v * k.beta2 + k.one_minus_beta2 * g * g;
  const float denom = std::sqrt(v) / k.bias_c2_sqrt + k.eps;
  param = param + k.neg_step_size * m / denom;
}
}  // namespace

namespace {
// Adam over grad, or over scale * grad formed as each vector is read (kScaled): one template so
// that the unscaled update stays as it was, without a multiply by 1.
template <bool kScaled>
void adam_pass(float* param, float* m, float* v, const float* grad, float grad_scale,
               std::int64_t n, const AdamHyper& h, std::int64_t step) {
  const AdamScalars<float> k(h, step);
  const AdamLanes lanes(k);
  const VecF sv = VecF::set1(grad_scale);
  const auto vec = [=](std::int64_t i) {
    VecF g = VecF::load(grad + i);
    if constexpr (kScaled) g = sv * g;  // scale_fast's product, the same rounding
    lanes.update(g, param + i, m + i, v + i);
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
    adam_element(kScaled ? grad_scale * grad[i] : grad[i], param[i], m[i], v[i], k);
  };
  if (n >= kAdamPrefetchMin)
    for_each_lane(n, vec_prefetching, scalar, kAdamGrain);
  else
    for_each_lane(n, vec, scalar, kAdamGrain);
}
}  // namespace

void adam_step_fast(float* param, float* m, float* v, const float* grad, std::int64_t n,
                    const AdamHyper& h, std::int64_t step) {
  adam_pass<false>(param, m, v, grad, 1.0f, n, h, step);
}

void adam_step_scaled_fast(float* param, float* m, float* v, const float* grad, float grad_scale,
                           std::int64_t n, const AdamHyper& h, std::int64_t step) {
  adam_pass<true>(param, m, v, grad, grad_scale, n, h, step);
}

void adam_step_noisy_pair_fast(float* mu, float* m_mu, float* v_mu, float* sigma, float* m_sigma,
                               float* v_sigma, const float* dmu, const float* f_in,
                               const float* f_out, std::int64_t C_out, std::int64_t C_in,
                               float grad_scale, const AdamHyper& h, std::int64_t step) {
  const AdamScalars<float> k(h, step);
  const AdamLanes lanes(k);
  const VecF scale = VecF::set1(grad_scale), zero = VecF::zero();
  const std::int64_t grain =
      std::max<std::int64_t>(1, kAdamGrain / std::max<std::int64_t>(C_in, 1));
  parallel_for(0, C_out, grain, [=](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t o = lo; o < hi; ++o) {
      const float fo = f_out[o];
      const VecF fov = VecF::set1(fo);
      const std::int64_t r = o * C_in;
      std::int64_t i = 0;
      for (; i + VecF::kLanes <= C_in; i += VecF::kLanes) {
        const VecF g = VecF::load(dmu + r + i);
        // dsigma as noisy_sigma_grad_fast forms it, then clipping's scale, as scale_fast would.
        const VecF g_sigma = scale * (zero + g * (fov * VecF::load(f_in + i)));
        lanes.update(scale * g, mu + r + i, m_mu + r + i, v_mu + r + i);
        lanes.update(g_sigma, sigma + r + i, m_sigma + r + i, v_sigma + r + i);
      }
      for (; i < C_in; ++i) {
        const float g = dmu[r + i];
        const float g_sigma = grad_scale * (0.0f + g * (fo * f_in[i]));
        adam_element(grad_scale * g, mu[r + i], m_mu[r + i], v_mu[r + i], k);
        adam_element(g_sigma, sigma[r + i], m_sigma[r + i], v_sigma[r + i], k);
      }
    }
  });
}

}  // namespace dqn
