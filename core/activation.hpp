// core/activation.hpp: ReLU, the DQN networks' only nonlinearity.
//
// Legend: n elements (any tensor shape, flattened).
//   x (n)  out (n)  dout (n)  dx (n)
//
//   relu_forward_fast(h, z, 64 * 256);
//   relu_backward_fast(dz, dh, z, 64 * 256);   // dz += dh where z > 0
//   relu_backward_set_fast(dz, dh, z, 64 * 256);   // dz = dh where z > 0, else 0
//
// relu_backward ACCUMULATES into dx; relu_backward_set WRITES it, with the bits of accumulating
// onto zeros (0 + v, so a -0 gradient comes out +0 either way); the tape uses it for a buffer no
// other op has written yet. *_ref are plain loops for any T; *_fast are float SIMD; both give
// identical bits (a select is exact).
#pragma once

#include <cstdint>

namespace dqn {

// out = max(x, 0), written as x < 0 ? 0 : x. Trap: a NaN input must stay NaN, as in PyTorch
// (torch.relu(nan) is nan): writing x > 0 ? x : 0 would turn it into 0 and hide a diverging
// network from the divergence guard. (-0 stays -0 in both variants.)
// x (n)  out (n)
template <class T>
void relu_forward_ref(T* out, const T* x, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = x[i] < T(0) ? T(0) : x[i];
}

// Accumulates: dx += dout * (x > 0).
// Trap: ReLU has no derivative at exactly x = 0; like PyTorch (threshold_backward) we use 0
// there, so a unit sitting at 0 gets no gradient. Using (x >= 0) instead would differ from
// PyTorch whenever an input is exactly 0 (e.g. a ReLU after a zero-initialised bias).
// dout (n)  x (n) the forward input  dx (n)
template <class T>
void relu_backward_ref(T* dx, const T* dout, const T* x, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i)
    if (x[i] > T(0)) dx[i] += dout[i];
}

// Writes: dx = 0 + dout * (x > 0), the bits relu_backward_ref gives on a zeroed dx. dx may be
// dout (in place). x may be the forward's output instead of its input: both are > 0 at the same
// places. dout (n)  x (n)  dx (n)
template <class T>
void relu_backward_set_ref(T* dx, const T* dout, const T* x, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dx[i] = x[i] > T(0) ? T(0) + dout[i] : T(0);
}

void relu_forward_fast(float* out, const float* x, std::int64_t n);
void relu_backward_fast(float* dx, const float* dout, const float* x, std::int64_t n);
void relu_backward_set_fast(float* dx, const float* dout, const float* x, std::int64_t n);

}  // namespace dqn
