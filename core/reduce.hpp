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
#include <vector>

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

// sqnorm_fast(x, n) formed in parts, by the kernel that writes x while its pieces are in cache:
// the clipping norm of the Nature CNN's 6.4 MB fc weight gradient without reading it back from
// memory. sqnorm_fast is a fixed sequence: the range of each of its thread chunks cut into
// blocks of 1024 from the chunk's start, each block's float cascade sum made a double term, the
// terms added in order within a chunk, the chunks' sums in chunk order. form() makes the terms of
// the blocks inside a piece; finish() makes any block not yet formed (those that straddle two
// pieces, or all of them when no kernel formed any) and adds every term in that order, so the
// result is sqnorm_fast's, bit for bit, however the pieces fell.
//
//   parts.reset(dw, n);                     // before the kernel writes dw (outside any chunk)
//   ... parts.form(lo, hi) for each written piece [lo, hi) of dw, on any thread ...
//   float sq = parts.finish();              // == sqnorm_fast(dw, n), outside any chunk
class SqNormParts {
 public:
  // Forgets every term: x (n floats) will be written. Takes the chunks sqnorm_fast(x, n) uses
  // at the current thread count.
  void reset(const float* x, std::int64_t n);
  // The terms of every block that lies whole inside [lo, hi) of x, whose values are final.
  // Calls on disjoint ranges may run at once on different threads.
  void form(std::int64_t lo, std::int64_t hi);
  // sqnorm_fast(x, n) (computed whole if the thread count changed since reset()).
  float finish();
  const float* data() const { return x_; }
  std::int64_t size() const { return n_; }
  // Blocks formed since reset(), of blocks() in all (tests: did a kernel form them?).
  std::int64_t formed() const;
  std::int64_t blocks() const { return static_cast<std::int64_t>(terms_.size()); }

 private:
  std::int64_t chunk_lo(std::int64_t c) const { return n_ * c / chunks_; }
  const float* x_ = nullptr;
  std::int64_t n_ = 0, chunks_ = 0;
  std::vector<std::int64_t> first_block_;  // chunk c's blocks: [first_block_[c], first_block_[c+1])
  std::vector<double> terms_;
  std::vector<std::uint8_t> formed_;
};

}  // namespace dqn
