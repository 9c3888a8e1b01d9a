// core/loss.hpp: the Huber (smooth-L1) loss DQN trains with (Mnih et al. 2015 clip the TD error's
// gradient to [-1, 1], which is exactly Huber with delta = 1).
//
// Legend: n elements (the batch's TD errors).
//   pred (n) Q(s,a)  target (n) the TD target  dpred (n)
//
// Per element, with d = pred - target:
//   l(d) = 0.5 d^2                   if |d| <= delta
//        = delta (|d| - 0.5 delta)   otherwise
// and the loss is the MEAN over n: PyTorch's HuberLoss(delta=delta, reduction='mean'), which at
// delta = 1 equals SmoothL1Loss(beta=1). (Trap: SmoothL1Loss(beta) divides the quadratic part by
// beta, so for delta != 1 the two differ by a factor delta.)
//
//   float loss = huber_forward_fast(q_sa, td_target, 64, 1.0f);
//   huber_backward_fast(dq_sa, q_sa, td_target, 64, 1.0f, 1.0f);
//
// Backward ACCUMULATES into dpred.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace dqn {

// Mean Huber loss, accumulated in double in index order. pred (n)  target (n)
template <class T>
T huber_forward_ref(const T* pred, const T* target, std::int64_t n, T delta) {
  double sum = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    const T d = pred[i] - target[i];
    const T a = std::abs(d);
    sum += static_cast<double>(a <= delta ? T(0.5) * a * a : delta * (a - T(0.5) * delta));
  }
  return n > 0 ? static_cast<T>(sum / static_cast<double>(n)) : T(0);
}

// Accumulates: dpred += dloss * clamp(pred - target, -delta, delta) / n.
// The 1/n is rounded to T first and applied as (1/n) * dloss, as PyTorch's huber_loss_backward.
// pred (n)  target (n)  dpred (n)
template <class T>
void huber_backward_ref(T* dpred, const T* pred, const T* target, std::int64_t n, T delta,
                        T dloss) {
  const T scale = static_cast<T>(1.0 / static_cast<double>(n)) * dloss;
  for (std::int64_t i = 0; i < n; ++i)
    dpred[i] += std::clamp(pred[i] - target[i], -delta, delta) * scale;
}

float huber_forward_fast(const float* pred, const float* target, std::int64_t n, float delta);
void huber_backward_fast(float* dpred, const float* pred, const float* target, std::int64_t n,
                         float delta, float dloss);

}  // namespace dqn
