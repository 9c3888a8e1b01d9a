// core/reduce.hpp: the reductions of a DQN step: Q(s,a) for the taken actions, max_a Q(s',a) and
// argmax for the target and for acting, and the sums behind the loss and gradient-norm clipping.
//
// Legend: N batch rows, A actions, n elements.
//   q (N,A) Q-values  actions (N) int64 in [0, A)  out (N)  dq (N,A)
//
//   gather_actions_forward_fast(q_sa, q, actions, 64, 2);        // Q(s_i, a_i)
//   max_actions_fast(q_next_max, nullptr, q_next, 64, 2);        // max_a Q(s', a)
//   float norm = std::sqrt(sqnorm_fast(grad, n));                // clip_grad_norm_
//
// Backward ACCUMULATES into dq. Actions are trusted here (the op above checks 0 <= a < A).
// sum/sqnorm accumulate in double: the reference sequentially, the fast one by cascaded float
// blocks (core/simd_sum.hpp), deterministic for a given thread count.
#pragma once

#include <cstdint>

namespace dqn {

// out[i] = q[i, actions[i]].  q (N,A)  actions (N)  out (N)
template <class T>
void gather_actions_forward_ref(T* out, const T* q, const std::int64_t* actions, std::int64_t N,
                                std::int64_t A) {
  for (std::int64_t i = 0; i < N; ++i) out[i] = q[i * A + actions[i]];
}

// Accumulates: dq[i, actions[i]] += dout[i]; other entries untouched.  dout (N)  dq (N,A)
template <class T>
void gather_actions_backward_ref(T* dq, const T* dout, const std::int64_t* actions, std::int64_t N,
                                 std::int64_t A) {
  for (std::int64_t i = 0; i < N; ++i) dq[i * A + actions[i]] += dout[i];
}

// value[i] = max_a q[i,a], argmax[i] = the FIRST a reaching it (torch.argmax's tie rule, so a
// freshly zero-initialised head picks action 0, as PyTorch would). Either output may be null.
// q (N,A), A >= 1  value (N)  argmax (N)
template <class T>
void max_actions_ref(T* value, std::int64_t* argmax, const T* q, std::int64_t N, std::int64_t A) {
  for (std::int64_t i = 0; i < N; ++i) {
    std::int64_t best = 0;
    for (std::int64_t a = 1; a < A; ++a)
      if (q[i * A + a] > q[i * A + best]) best = a;  // strict: ties keep the first
    if (value) value[i] = q[i * A + best];
    if (argmax) argmax[i] = best;
  }
}

// sum of x (n), accumulated in double in index order.
template <class T>
T sum_ref(const T* x, std::int64_t n) {
  double s = 0.0;
  for (std::int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i]);
  return static_cast<T>(s);
}

// sum of x^2 (n), each square and the sum in double, in index order.
template <class T>
T sqnorm_ref(const T* x, std::int64_t n) {
  double s = 0.0;
  for (std::int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  return static_cast<T>(s);
}

// N*A is tiny in DQN (64 x 2, 32 x 18): these are the obvious loops, no SIMD, no threads.
void gather_actions_forward_fast(float* out, const float* q, const std::int64_t* actions,
                                 std::int64_t N, std::int64_t A);
void gather_actions_backward_fast(float* dq, const float* dout, const std::int64_t* actions,
                                  std::int64_t N, std::int64_t A);
void max_actions_fast(float* value, std::int64_t* argmax, const float* q, std::int64_t N,
                      std::int64_t A);
// SIMD cascade sums in float blocks of 1024 carried in double; threads above kElementwiseGrain.
float sum_fast(const float* x, std::int64_t n);
float sqnorm_fast(const float* x, std::int64_t n);

}  // namespace dqn
