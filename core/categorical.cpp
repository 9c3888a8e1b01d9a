// core/categorical.cpp: the fast float kernels of core/categorical.hpp.
//
// Softmax rows are short (K = 51 atoms in C51), so the passes that are pure arithmetic (max,
// shift, scale) run in SIMD with a masked last vector, and exp stays the scalar std::exp (core
// has no vector exp; a polynomial one would buy little at K = 51 next to the network's GEMMs).
// The exps are summed in float, in index order.
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

}  // namespace

void log_softmax_forward_fast(float* out, const float* x, std::int64_t R, std::int64_t K) {
  for (std::int64_t r = 0; r < R; ++r) {
    const float* row = x + r * K;
    const float m = row_max(row, K);
    float s = 0.0f;
    for (std::int64_t j = 0; j < K; ++j) s += std::exp(row[j] - m);
    // (x - m) - log s, as the reference: one shift by -(m + log s) would round differently.
    const float log_sum = std::log(s);
    for (std::int64_t j = 0; j < K; ++j) out[r * K + j] = (row[j] - m) - log_sum;
  }
}

void log_softmax_backward_fast(float* dx, const float* dout, const float* out, std::int64_t R,
                               std::int64_t K) {
  for (std::int64_t r = 0; r < R; ++r) {
    const float s = row_sum(dout + r * K, K);
    for (std::int64_t j = 0; j < K; ++j)
      dx[r * K + j] += dout[r * K + j] - std::exp(out[r * K + j]) * s;
  }
}

void softmax_forward_fast(float* out, const float* x, std::int64_t R, std::int64_t K) {
  for (std::int64_t r = 0; r < R; ++r) {
    const float* row = x + r * K;
    float* o = out + r * K;
    const float m = row_max(row, K);
    float s = 0.0f;
    for (std::int64_t j = 0; j < K; ++j) {
      o[j] = std::exp(row[j] - m);
      s += o[j];
    }
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
  const float dz = (v_max - v_min) / static_cast<float>(K - 1);
  const float top = static_cast<float>(K - 1);
  float b[kMaxProjectionAtoms];
  const VecF one = VecF::set1(1.0f), zero = VecF::zero();
  for (std::int64_t i = 0; i < N; ++i) {
    // b_j exactly as the reference computes it, so the two differ only in the weights' rounding.
    const float scale = discounts[i] * (1.0f - terminated[i]);
    for (std::int64_t j = 0; j < K; ++j) {
      const float z = categorical_atom<float>(j, K, v_min, v_max);
      const float tz = std::clamp(rewards[i] + scale * z, v_min, v_max);
      b[j] = std::clamp((tz - v_min) / dz, 0.0f, top);
    }
    const float* p = p_next + i * K;
    for (std::int64_t k = 0; k < K; ++k) {
      const VecF vk = VecF::set1(static_cast<float>(k));
      VecF acc = zero;
      std::int64_t j = 0;
      for (; j + VecF::kLanes <= K; j += VecF::kLanes) {
        const VecF d = VecF::load(b + j) - vk;
        const VecF w = zero.max(one - d.max(zero - d));  // max(0, 1 - |b_j - k|)
        acc = w.fma(VecF::load(p + j), acc);
      }
      float s = acc.sum();
      for (; j < K; ++j) s += std::max(0.0f, 1.0f - std::abs(b[j] - static_cast<float>(k))) * p[j];
      m[i * K + k] = s;
    }
  }
}

}  // namespace dqn
