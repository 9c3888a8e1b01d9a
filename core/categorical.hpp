// core/categorical.hpp: the kernels of distributional DQN, C51 (Bellemare, Dabney and Munos
// 2017, "A Distributional Perspective on Reinforcement Learning"): softmax and log-softmax over
// the last axis, the per-sample cross-entropy, and the categorical projection of Algorithm 1.
//
// Legend: R rows, K atoms (the last axis), N samples.
//   x (R,K) logits  out (R,K)  dout (R,K)  dx (R,K)
//   support z_j = v_min + j dz, dz = (v_max - v_min) / (K - 1), j = 0..K-1
//
//   log_softmax_forward_fast(logp, logits, 64, 51);
//   log_softmax_backward_fast(dlogits, dlogp, logp, 64, 51);   // dlogits += ...
//   categorical_projection_fast(m, p_next, r, discounts, terminated, 64, 51, -10.0f, 10.0f);
//
// Backward ACCUMULATES into dx. *_ref are the obvious loops for any T (sums in double); *_fast are
// float, with SIMD where the arrays are long enough to matter. They agree to float rounding, not
// bit for bit (the exps are summed in another order, the projection is computed in another form).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace dqn {

// z_j = v_min + j (v_max - v_min) / (K - 1), computed in double and rounded once to T, so every
// user (projection, expected Q-values, the PyTorch fixture script) gets the same bits. K >= 2.
template <class T>
T categorical_atom(std::int64_t j, std::int64_t K, double v_min, double v_max) {
  return static_cast<T>(v_min +
                        static_cast<double>(j) * (v_max - v_min) / static_cast<double>(K - 1));
}

// ---------------------------------------------------------------- softmax, log-softmax
// Numerically stable: the row's maximum is subtracted before exp, so exp never overflows and the
// largest term is exactly 1 (the sum is >= 1 and its log is finite). Trap: log(softmax(x)) in
// two steps underflows to log(0) = -inf for atoms far below the maximum; log_softmax =
// (x - max) - log(sum exp(x - max)) stays finite, which the cross-entropy needs.

// out = log_softmax(x) over each row.  x (R,K)  out (R,K)
template <class T>
void log_softmax_forward_ref(T* out, const T* x, std::int64_t R, std::int64_t K) {
  for (std::int64_t r = 0; r < R; ++r) {
    const T* row = x + r * K;
    const T m = *std::max_element(row, row + K);
    double s = 0.0;
    for (std::int64_t j = 0; j < K; ++j) s += std::exp(static_cast<double>(row[j] - m));
    const T log_sum = static_cast<T>(std::log(s));
    for (std::int64_t j = 0; j < K; ++j) out[r * K + j] = (row[j] - m) - log_sum;
  }
}

// Accumulates: dx += dout - softmax(x) * sum_j dout_j, with softmax(x) = exp(out).
// dout (R,K)  out (R,K) the forward output  dx (R,K)
template <class T>
void log_softmax_backward_ref(T* dx, const T* dout, const T* out, std::int64_t R, std::int64_t K) {
  for (std::int64_t r = 0; r < R; ++r) {
    double s = 0.0;
    for (std::int64_t j = 0; j < K; ++j) s += static_cast<double>(dout[r * K + j]);
    for (std::int64_t j = 0; j < K; ++j)
      dx[r * K + j] += dout[r * K + j] - std::exp(out[r * K + j]) * static_cast<T>(s);
  }
}

// out = softmax(x) over each row.  x (R,K)  out (R,K)
template <class T>
void softmax_forward_ref(T* out, const T* x, std::int64_t R, std::int64_t K) {
  for (std::int64_t r = 0; r < R; ++r) {
    const T* row = x + r * K;
    const T m = *std::max_element(row, row + K);
    double s = 0.0;
    for (std::int64_t j = 0; j < K; ++j) s += std::exp(static_cast<double>(row[j] - m));
    for (std::int64_t j = 0; j < K; ++j)
      out[r * K + j] = static_cast<T>(std::exp(static_cast<double>(row[j] - m)) / s);
  }
}

// Accumulates: dx += out * (dout - sum_j dout_j out_j).  dout (R,K)  out (R,K)  dx (R,K)
template <class T>
void softmax_backward_ref(T* dx, const T* dout, const T* out, std::int64_t R, std::int64_t K) {
  for (std::int64_t r = 0; r < R; ++r) {
    double s = 0.0;
    for (std::int64_t j = 0; j < K; ++j)
      s += static_cast<double>(dout[r * K + j]) * static_cast<double>(out[r * K + j]);
    for (std::int64_t j = 0; j < K; ++j)
      dx[r * K + j] += out[r * K + j] * (dout[r * K + j] - static_cast<T>(s));
  }
}

void log_softmax_forward_fast(float* out, const float* x, std::int64_t R, std::int64_t K);
void log_softmax_backward_fast(float* dx, const float* dout, const float* out, std::int64_t R,
                               std::int64_t K);
void softmax_forward_fast(float* out, const float* x, std::int64_t R, std::int64_t K);
void softmax_backward_fast(float* dx, const float* dout, const float* out, std::int64_t R,
                           std::int64_t K);

// ---------------------------------------------------------------- cross-entropy
// loss[i] = -sum_j target[i,j] logp[i,j]: the KL term of Bellemare et al. 2017, eq. 7, up to the
// target's entropy, which has no gradient. Per sample, so prioritized replay can weigh each one
// and use it as the new priority (Hessel et al. 2018, section "Prioritized replay").
// N*K is a few thousand (64 x 51): plain loops for both tapes.  logp (N,K)  target (N,K)  out (N)
template <class T>
void cross_entropy_forward(T* out, const T* logp, const T* target, std::int64_t N, std::int64_t K) {
  for (std::int64_t i = 0; i < N; ++i) {
    T s = 0;
    for (std::int64_t j = 0; j < K; ++j) s += target[i * K + j] * logp[i * K + j];
    out[i] = -s;
  }
}

// q[r] = sum_j z[j] probs[r,j], in index order in T: the expected value of each row's
// distribution, Q(s,a) of a C51 head (Bellemare et al. 2017, section 4). Acting and the
// Double-DQN action choice both use this one loop.  probs (R,K)  z (K)  q (R)
template <class T>
void categorical_mean(T* q, const T* probs, const T* z, std::int64_t R, std::int64_t K) {
  for (std::int64_t r = 0; r < R; ++r) {
    T s = 0;
    for (std::int64_t j = 0; j < K; ++j) s += z[j] * probs[r * K + j];
    q[r] = s;
  }
}

// ---------------------------------------------------------------- projection
// The categorical projection Phi of Bellemare et al. 2017, Algorithm 1: the target distribution
// of r + discount (1 - terminated) Z(s', a*) has atoms T z_j = r + discount (1 - terminated) z_j
// with probabilities p_next[j]; each T z_j is clipped to [v_min, v_max] and its mass split
// between the two support atoms around it, in proportion to closeness:
//   b_j = (T z_j - v_min) / dz,  l = floor(b_j),  u = ceil(b_j)
//   m_l += p_j (u - b_j),  m_u += p_j (b_j - l).
// `discounts` is gamma^n per sample (n-step returns; Batch::discounts). Each output row sums to
// the input row's sum (1 for a distribution).
//
// TRAP (the l == u case): when b_j is a whole number (T z_j lands exactly on an atom, as it does
// for every atom of a terminal transition with a reward on the grid, or for a clipped one at
// v_min or v_max), l == u and both shares u - b_j and b_j - l are 0: Algorithm 1 as printed
// loses p_j. The whole mass must go to that atom.
// TRAP (rounding at v_max): in float, (v_max - v_min) / dz can come out a hair above K - 1, and
// ceil would then index atom K. b_j is clamped to [0, K - 1] as well as T z_j.
//
// p_next (N,K)  rewards (N)  discounts (N)  terminated (N) 0 or 1  m (N,K)
template <class T>
void categorical_projection_ref(T* m, const T* p_next, const T* rewards, const T* discounts,
                                const T* terminated, std::int64_t N, std::int64_t K, T v_min,
                                T v_max) {
  const T dz = (v_max - v_min) / static_cast<T>(K - 1);
  for (std::int64_t i = 0; i < N; ++i) {
    T* row = m + i * K;
    std::fill(row, row + K, T(0));
    const T scale = discounts[i] * (T(1) - terminated[i]);
    for (std::int64_t j = 0; j < K; ++j) {
      const T z = categorical_atom<T>(j, K, v_min, v_max);
      const T tz = std::clamp(rewards[i] + scale * z, v_min, v_max);
      const T b = std::clamp((tz - v_min) / dz, T(0), static_cast<T>(K - 1));
      const T l = std::floor(b), u = std::ceil(b);
      const T p = p_next[i * K + j];
      const auto li = static_cast<std::int64_t>(l), ui = static_cast<std::int64_t>(u);
      if (li == ui) {
        row[li] += p;  // the l == u trap above
      } else {
        row[li] += p * (u - b);
        row[ui] += p * (b - l);
      }
    }
  }
}

// The same projection, fast: the support computed once per call instead of per atom and
// sample in double, the b_j in SIMD, and the scatter in fractional form (f = b - floor(b): mass
// p (1 - f) to atom floor(b), p f to the next), in which the l == u case needs no branch. It
// differs from the reference by the rounding of u - b against 1 - f. At most kMaxProjectionAtoms
// atoms (stack buffers, so the kernel never allocates).
inline constexpr std::int64_t kMaxProjectionAtoms = 1024;
void categorical_projection_fast(float* m, const float* p_next, const float* rewards,
                                 const float* discounts, const float* terminated, std::int64_t N,
                                 std::int64_t K, float v_min, float v_max);

}  // namespace dqn
