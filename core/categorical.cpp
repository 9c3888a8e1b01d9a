// core/categorical.cpp: the fast float kernels of core/categorical.hpp.
//
// Softmax rows are short (K = 51 atoms in C51): every pass runs in SIMD with a masked last
// vector, exp included (simd::exp_nonpositive, a Cephes polynomial within 2 ulp: the reference
// calls std::exp in double). The exps are summed in float, lane-wise then across lanes.
#include "core/categorical.hpp"

#include "core/error.hpp"
#include "core/simd.hpp"

namespace dqn {

using simd::VecF;

namespace {

float row_max(const float* x, std::int64_t K) {
  std::int64_t j = 0;
  VecF best = VecF::set1(x[0]);
  for (; j + VecF::kLanes <= K; j += VecF::kLanes) best = best.max(VecF::load(x + j));
  float lanes[VecF::kLanes];
  best.store(lanes);
  float m = x[0];
  for (float lane : lanes) m = std::max(m, lane);
  for (; j < K; ++j) m = std::max(m, x[j]);
  return m;
}

// y[j] = (x[j] + a) * s for j < K (the shift-and-scale passes of both softmaxes).
void shift_scale(float* y, const float* x, float a, float s, std::int64_t K) {
  const VecF va = VecF::set1(a), vs = VecF::set1(s);
  std::int64_t j = 0;
  for (; j + VecF::kLanes <= K; j += VecF::kLanes) ((VecF::load(x + j) + va) * vs).store(y + j);
  const int rest = static_cast<int>(K - j);
  if (rest > 0) ((VecF::load_first(x + j, rest) + va) * vs).store_first(y + j, rest);
}

float row_sum(const float* x, std::int64_t K) {
  VecF acc = VecF::zero();
  std::int64_t j = 0;
  for (; j + VecF::kLanes <= K; j += VecF::kLanes) acc = acc + VecF::load(x + j);
  const int rest = static_cast<int>(K - j);
  if (rest > 0) acc = acc + VecF::load_first(x + j, rest);
  return acc.sum();
}

float row_dot(const float* a, const float* b, std::int64_t K) {
  VecF acc = VecF::zero();
  std::int64_t j = 0;
  for (; j + VecF::kLanes <= K; j += VecF::kLanes)
    acc = VecF::load(a + j).fma(VecF::load(b + j), acc);
  const int rest = static_cast<int>(K - j);
  if (rest > 0) acc = VecF::load_first(a + j, rest).fma(VecF::load_first(b + j, rest), acc);
  return acc.sum();
}

// y[j] = exp(x[j] - m) for j < K, returning their sum (vector lanes summed at the end, then
// the tail in index order). Every argument is <= 0, as exp_nonpositive requires.
float exp_shifted(float* y, const float* x, float m, std::int64_t K) {
  const VecF vm = VecF::set1(m);
  VecF acc = VecF::zero();
  std::int64_t j = 0;
  for (; j + VecF::kLanes <= K; j += VecF::kLanes) {
    const VecF e = simd::exp_nonpositive(VecF::load(x + j) - vm);
    e.store(y + j);
    acc = acc + e;
  }
  float s = acc.sum();
  const int rest = static_cast<int>(K - j);
  if (rest > 0) {  // padding lanes would hold exp(0 - m): stored nowhere, summed never
    simd::exp_nonpositive(VecF::load_first(x + j, rest) - vm).store_first(y + j, rest);
    for (std::int64_t t = j; t < K; ++t) s += y[t];
  }
  return s;
}

}  // namespace

void log_softmax_forward_fast(float* out, const float* x, std::int64_t R, std::int64_t K) {
  for (std::int64_t r = 0; r < R; ++r) {
    const float* row = x + r * K;
    float* o = out + r * K;
    const float m = row_max(row, K);
    const float log_sum = std::log(exp_shifted(o, row, m, K));  // o: scratch for the exps
    // (x - m) - log s, as the reference: one shift by -(m + log s) would round differently.
    for (std::int64_t j = 0; j < K; ++j) o[j] = (row[j] - m) - log_sum;
  }
}

void log_softmax_backward_fast(float* dx, const float* dout, const float* out, std::int64_t R,
                               std::int64_t K) {
  for (std::int64_t r = 0; r < R; ++r) {
    const float *g = dout + r * K, *o = out + r * K;
    float* d = dx + r * K;
    const VecF vs = VecF::set1(row_sum(g, K));
    std::int64_t j = 0;
    // out <= 0 (a log-probability), so exp_nonpositive applies; padding lanes are never stored.
    for (; j + VecF::kLanes <= K; j += VecF::kLanes)
      (VecF::load(d + j) + (VecF::load(g + j) - simd::exp_nonpositive(VecF::load(o + j)) * vs))
          .store(d + j);
    const int rest = static_cast<int>(K - j);
    if (rest > 0)
      (VecF::load_first(d + j, rest) +
       (VecF::load_first(g + j, rest) - simd::exp_nonpositive(VecF::load_first(o + j, rest)) * vs))
          .store_first(d + j, rest);
  }
}

void softmax_forward_fast(float* out, const float* x, std::int64_t R, std::int64_t K) {
  for (std::int64_t r = 0; r < R; ++r) {
    const float* row = x + r * K;
    float* o = out + r * K;
    const float s = exp_shifted(o, row, row_max(row, K), K);
    shift_scale(o, o, 0.0f, 1.0f / s, K);
  }
}

void softmax_backward_fast(float* dx, const float* dout, const float* out, std::int64_t R,
                           std::int64_t K) {
  for (std::int64_t r = 0; r < R; ++r) {
    const float s = row_dot(dout + r * K, out + r * K, K);
    const VecF vs = VecF::set1(s);
    const float *g = dout + r * K, *p = out + r * K;
    float* d = dx + r * K;
    std::int64_t j = 0;
    for (; j + VecF::kLanes <= K; j += VecF::kLanes)
      VecF::load(p + j).fma(VecF::load(g + j) - vs, VecF::load(d + j)).store(d + j);
    for (; j < K; ++j) d[j] += p[j] * (g[j] - s);
  }
}

void categorical_projection_fast(float* m, const float* p_next, const float* rewards,
                                 const float* discounts, const float* terminated, std::int64_t N,
                                 std::int64_t K, float v_min, float v_max) {
  DQN_CHECK(K >= 2 && K <= kMaxProjectionAtoms, "categorical_projection: needs 2..",
            kMaxProjectionAtoms, " atoms, got ", K);
  // The support once per call (the reference recomputes each z_j in double, per sample).
  float z[kMaxProjectionAtoms], b[kMaxProjectionAtoms];
  for (std::int64_t j = 0; j < K; ++j) z[j] = categorical_atom<float>(j, K, v_min, v_max);
  const float dz = (v_max - v_min) / static_cast<float>(K - 1);
  const VecF lo = VecF::set1(v_min), hi = VecF::set1(v_max), vdz = VecF::set1(dz),
             zero = VecF::zero(), top = VecF::set1(static_cast<float>(K - 1));
  for (std::int64_t i = 0; i < N; ++i) {
    // b_j = clamp((clamp(r + scale z_j, v_min, v_max) - v_min) / dz, 0, K - 1), in SIMD.
    const VecF r = VecF::set1(rewards[i]),
               scale = VecF::set1(discounts[i] * (1.0f - terminated[i]));
    std::int64_t j = 0;
    for (; j + VecF::kLanes <= K; j += VecF::kLanes) {
      const VecF tz = scale.fma(VecF::load(z + j), r).max(lo).min(hi);
      ((tz - lo) / vdz).max(zero).min(top).store(b + j);
    }
    const int rest = static_cast<int>(K - j);
    if (rest > 0) {
      const VecF tz = scale.fma(VecF::load_first(z + j, rest), r).max(lo).min(hi);
      ((tz - lo) / vdz).max(zero).min(top).store_first(b + j, rest);
    }
    // The scatter in fractional form: l = floor(b), f = b - l, m_l += p (1 - f), m_{l+1} += p f.
    // On an atom f = 0 and the whole mass stays on l: the l == u trap of the reference's form
    // (u - b and b - l both 0) cannot occur here, and l + 1 is only touched when f > 0, which
    // b <= K - 1 keeps inside the support.
    float* row = m + i * K;
    const float* p = p_next + i * K;
    std::fill(row, row + K, 0.0f);
    for (std::int64_t k = 0; k < K; ++k) {
      const auto l = static_cast<std::int64_t>(b[k]);  // floor: b >= 0
      const float f = b[k] - static_cast<float>(l);
      row[l] += p[k] * (1.0f - f);
      if (f > 0.0f) row[l + 1] += p[k] * f;
    }
  }
}

}  // namespace dqn
