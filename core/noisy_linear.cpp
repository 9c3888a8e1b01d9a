// core/noisy_linear.cpp: the fused noisy layer's two weight-sized passes, SIMD along a row with
// the row's f_out[o] broadcast, rows split over threads. Memory-bound: forming the Nature CNN's
// fc weight (3136 x 512) reads mu and sigma and writes W, 19 MB; the gradient pass reads dW and
// updates dmu and dsigma, 32 MB. The composed graph this replaces made six such passes forward
// (eps_w, sigma . eps_w, mu + ...) and four backward, each through a generic kernel. When the
// gradients start from zero, noisy_sigma_grad_fast's one read of dW (= dmu) and one write of
// dsigma replace the gradient pass's five streams and the two zero passes before it. The
// training path goes further: noisy_linear_forward_fast forms W inside the GEMM's tiles (the
// target network's W never reaches memory), and noisy_pair_sqnorm_fast lets the gradient norm
// read dmu once for both sums so that dsigma need not be written at all.
#include "core/noisy_linear.hpp"

#include <algorithm>
#include <array>

#include "core/elementwise.hpp"
#include "core/matmul.hpp"
#include "core/parallel.hpp"
#include "core/simd.hpp"
#include "core/simd_sum.hpp"

namespace dqn {

using simd::VecF;

namespace {
// Rows per parallel_for grain: about kElementwiseGrain elements, so a small layer stays on the
// calling thread and the Nature CNN's fc (1.6M elements) uses every thread.
std::int64_t row_grain(std::int64_t C_in) {
  return std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(C_in, 1));
}
}  // namespace

namespace {
// Rows [lo, hi) of W into w + (o - lo) * C_in.
void form_rows(float* w, const float* mu, const float* sigma, const float* f_in, const float* f_out,
               std::int64_t lo, std::int64_t hi, std::int64_t C_in) {
  for (std::int64_t o = lo; o < hi; ++o) {
    const float fo = f_out[o];
    const VecF fov = VecF::set1(fo);
    const float* m = mu + o * C_in;
    const float* s = sigma + o * C_in;
    float* out = w + (o - lo) * C_in;
    std::int64_t i = 0;
    // The reference's order: mu + sigma * (f_out * f_in), three roundings (no FMA).
    for (; i + VecF::kLanes <= C_in; i += VecF::kLanes)
      (VecF::load(m + i) + VecF::load(s + i) * (fov * VecF::load(f_in + i))).store(out + i);
    for (; i < C_in; ++i) out[i] = m[i] + s[i] * (fo * f_in[i]);
  }
}
}  // namespace

void noisy_weight_fast(float* w, const float* mu, const float* sigma, const float* f_in,
                       const float* f_out, std::int64_t C_out, std::int64_t C_in) {
  parallel_for(0, C_out, row_grain(C_in), [=](std::int64_t lo, std::int64_t hi) {
    form_rows(w + lo * C_in, mu, sigma, f_in, f_out, lo, hi, C_in);
  });
}

void noisy_linear_forward_fast(float* y, float* w, float* b, const float* x, const float* mu,
                               const float* sigma, const float* b_mu, const float* b_sigma,
                               const float* f_in, const float* f_out, std::int64_t N,
                               std::int64_t C_in, std::int64_t C_out) {
  const float one = 1;  // the bias: a 1-column weight with f_in = {1}
  form_rows(b, b_mu, b_sigma, &one, f_out, 0, C_out, 1);
  for (std::int64_t r = 0; r < N; ++r) std::copy(b, b + C_out, y + r * C_out);
  const auto rows = [=](std::int64_t j, std::int64_t count, float* dst) {
    form_rows(dst, mu, sigma, f_in, f_out, j, j + count, C_in);
  };
  matmul_nt_formed_fast(y, x, N, C_in, C_out, /*accumulate=*/true, w, rows, mu, sigma);
}

void noisy_grad_fast(float* dmu, float* dsigma, const float* dw, const float* f_in,
                     const float* f_out, std::int64_t C_out, std::int64_t C_in) {
  parallel_for(0, C_out, row_grain(C_in), [=](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t o = lo; o < hi; ++o) {
      const float fo = f_out[o];
      const VecF fov = VecF::set1(fo);
      const float* g = dw + o * C_in;
      float* dm = dmu ? dmu + o * C_in : nullptr;
      float* ds = dsigma ? dsigma + o * C_in : nullptr;
      std::int64_t i = 0;
      if (dm && ds) {  // the training case: one pass reads dW once for both
        for (; i + VecF::kLanes <= C_in; i += VecF::kLanes) {
          const VecF gv = VecF::load(g + i);
          (VecF::load(dm + i) + gv).store(dm + i);
          (VecF::load(ds + i) + gv * (fov * VecF::load(f_in + i))).store(ds + i);
        }
        for (; i < C_in; ++i) {
          dm[i] += g[i];
          ds[i] += g[i] * (fo * f_in[i]);
        }
      } else if (dm) {
        for (; i + VecF::kLanes <= C_in; i += VecF::kLanes)
          (VecF::load(dm + i) + VecF::load(g + i)).store(dm + i);
        for (; i < C_in; ++i) dm[i] += g[i];
      } else if (ds) {
        for (; i + VecF::kLanes <= C_in; i += VecF::kLanes)
          (VecF::load(ds + i) + VecF::load(g + i) * (fov * VecF::load(f_in + i))).store(ds + i);
        for (; i < C_in; ++i) ds[i] += g[i] * (fo * f_in[i]);
      }
    }
  });
}

void noisy_sigma_grad_fast(float* dsigma, const float* dw, const float* f_in, const float* f_out,
                           std::int64_t C_out, std::int64_t C_in) {
  parallel_for(0, C_out, row_grain(C_in), [=](std::int64_t lo, std::int64_t hi) {
    const VecF zero = VecF::set1(0.0f);
    for (std::int64_t o = lo; o < hi; ++o) {
      const float fo = f_out[o];
      const VecF fov = VecF::set1(fo);
      const float* g = dw + o * C_in;
      float* ds = dsigma + o * C_in;
      std::int64_t i = 0;
      for (; i + VecF::kLanes <= C_in; i += VecF::kLanes)
        (zero + VecF::load(g + i) * (fov * VecF::load(f_in + i))).store(ds + i);
      for (; i < C_in; ++i) ds[i] = 0.0f + g[i] * (fo * f_in[i]);
    }
  });
}

namespace {
// Two doubles summed component-wise, for parallel_reduce (which needs T(0) and +=).
struct TwoSums {
  double mu = 0, sigma = 0;
  TwoSums() = default;
  explicit TwoSums(int) {}
  TwoSums& operator+=(const TwoSums& o) {
    mu += o.mu;
    sigma += o.sigma;
    return *this;
  }
};
}  // namespace

void noisy_pair_sqnorm_fast(float* sq_mu, float* sq_sigma, const float* dmu, const float* f_in,
                            const float* f_out, std::int64_t C_out, std::int64_t C_in) {
  constexpr std::int64_t L = VecF::kLanes;
  const std::int64_t n = C_out * C_in;
  // The same ranges and cascade as sqnorm_fast over n elements, so each sum has its bits.
  const TwoSums r =
      parallel_reduce<TwoSums>(0, n, kElementwiseGrain, [&](std::int64_t lo, std::int64_t hi) {
        // Row o of element i, tracked forward: the cascade visits i in increasing order.
        std::int64_t o = C_in > 0 ? lo / C_in : 0, row_end = (o + 1) * C_in;
        const VecF zero = VecF::zero();
        auto noise = [&](std::int64_t i) {  // f_out[o] * f_in[col] for the L elements at i
          while (i >= row_end) {
            ++o;
            row_end += C_in;
          }
          if (i + L <= row_end)
            return VecF::set1(f_out[o]) * VecF::load(f_in + i - (row_end - C_in));
          alignas(64) float lanes[L];  // a vector across a row boundary: lane by lane
          for (std::int64_t l = 0; l < L; ++l)
            lanes[l] = f_out[(i + l) / C_in] * f_in[(i + l) % C_in];
          return VecF::load(lanes);
        };
        const auto sums = detail::cascade_sums<2>(
            lo, hi,
            [&](std::int64_t i) {
              const VecF g = VecF::load(dmu + i);
              const VecF s = zero + g * noise(i);
              return std::array<VecF, 2>{g * g, s * s};
            },
            [&](std::int64_t i) {
              const float g = dmu[i];
              const float s = 0.0f + g * (f_out[i / C_in] * f_in[i % C_in]);
              return std::array<float, 2>{g * g, s * s};
            });
        TwoSums t;
        t.mu = sums[0];
        t.sigma = sums[1];
        return t;
      });
  *sq_mu = static_cast<float>(r.mu);
  *sq_sigma = static_cast<float>(r.sigma);
}

}  // namespace dqn
