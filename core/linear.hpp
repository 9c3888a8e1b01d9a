// core/linear.hpp: the fully connected layer, out = x . w^T + b (PyTorch nn.Linear's layout).
//
// Legend: N batch rows, C_in input features, C_out output features.
//   x (N,C_in)  w (C_out,C_in)  b (C_out, may be nullptr)  out (N,C_out)
//
//   linear_forward_fast(out, x, w, b, 64, 4, 256);        // the MLP's first layer at batch 64
//   linear_backward_fast(dx, dw, db, dout, x, w, 64, 4, 256);
//
// Backward kernels ACCUMULATE (+=) into dx, dw and db, so the caller zeroes them once per step and
// a parameter used twice sums its gradients. Buffers never alias each other.
// *_ref are the obvious loops for any T (double for gradient checks); *_fast are float GEMMs.
#pragma once

#include <cstdint>

namespace dqn {

class SqNormParts;  // core/reduce.hpp

// out[i,o] = b[o] + sum_k x[i,k] w[o,k]
// x (N,C_in)  w (C_out,C_in)  b (C_out) or nullptr  out (N,C_out)
template <class T>
void linear_forward_ref(T* out, const T* x, const T* w, const T* b, std::int64_t N,
                        std::int64_t C_in, std::int64_t C_out) {
  for (std::int64_t i = 0; i < N; ++i)
    for (std::int64_t o = 0; o < C_out; ++o) {
      T sum = b ? b[o] : T(0);
      for (std::int64_t k = 0; k < C_in; ++k) sum += x[i * C_in + k] * w[o * C_in + k];
      out[i * C_out + o] = sum;
    }
}

// Accumulates: dx += dout . w (if dx), dw += dout^T . x, db += column sums of dout (if db).
// dout (N,C_out)  x (N,C_in)  w (C_out,C_in)  dx (N,C_in)  dw (C_out,C_in)  db (C_out)
template <class T>
void linear_backward_ref(T* dx, T* dw, T* db, const T* dout, const T* x, const T* w, std::int64_t N,
                         std::int64_t C_in, std::int64_t C_out) {
  for (std::int64_t i = 0; i < N; ++i)
    for (std::int64_t o = 0; o < C_out; ++o) {
      const T g = dout[i * C_out + o];
      if (db) db[o] += g;
      for (std::int64_t k = 0; k < C_in; ++k) {
        if (dx) dx[i * C_in + k] += g * w[o * C_in + k];
        dw[o * C_in + k] += g * x[i * C_in + k];
      }
    }
}

// Same contract as linear_forward_ref, float only: the bias is written first and one GEMM adds
// x . w^T onto it (no second pass over out).
void linear_forward_fast(float* out, const float* x, const float* w, const float* b, std::int64_t N,
                         std::int64_t C_in, std::int64_t C_out);

// db (+)= the column sums of dout (N,C_out), rows in order, lanes across columns: the addition
// order of linear_backward_ref. Written (not added) when !accumulate. The FP32 and bf16 linear
// backward kernels share it.
void linear_bias_grad_fast(float* db, const float* dout, std::int64_t N, std::int64_t C_out,
                           bool accumulate);

// Same contract as linear_backward_ref (accumulates): two GEMMs and a SIMD column sum. db sums
// rows in the reference's order, so db matches the reference bit for bit. With two threads and
// dx, dX and dW + db run side by side: where dW streams (the Nature CNN's head), dX whole and
// dW in row pieces that the threads take as they come free (the bits of dW whole); otherwise
// as two tasks (parallel_tasks).
void linear_backward_fast(float* dx, float* dw, float* db, const float* dout, const float* x,
                          const float* w, std::int64_t N, std::int64_t C_in, std::int64_t C_out);

// As linear_backward_fast, but dw and db (both required) are OVERWRITTEN (dw = dout^T . x,
// db = column sums) while dx still accumulates: for a caller that post-processes the weight
// gradient from scratch (the fused noisy layer) and would otherwise zero it first, one extra
// weight-sized pass. With dw_norm, reset for dw (C_out * C_in floats), the pieces of dw form
// their terms of its clipping norm as they are written (core/reduce.hpp): same dw, and
// dw_norm->finish() then gives sqnorm_fast(dw) without reading dw again.
void linear_backward_overwrite_fast(float* dx, float* dw, float* db, const float* dout,
                                    const float* x, const float* w, std::int64_t N,
                                    std::int64_t C_in, std::int64_t C_out,
                                    SqNormParts* dw_norm = nullptr);

}  // namespace dqn
