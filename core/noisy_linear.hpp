// core/noisy_linear.hpp: the kernels of the fused factorised-Gaussian noisy linear layer
// (Fortunato et al. 2018, "Noisy Networks for Exploration", section 3, factorised case):
//
//   W = mu_w + sigma_w . (f_out f_in^T),   b = mu_b + sigma_b . f_out,   y = x W^T + b,
//
// with f_in (C_in) and f_out (C_out) the transformed noise f(eps) = sgn(eps) sqrt|eps|. The
// tape op (BasicTape::noisy_linear) runs the forward with noisy_linear_forward_fast, whose GEMM
// tiles form the rows of W they read (W is kept only for backward's dX), and in backward turns
// the linear layer's dW into the gradients of mu and sigma with noisy_grad_* (or, in the
// training update, writes dmu = dW and leaves dsigma to be formed inside the gradient norm and
// Adam: noisy_pair_sqnorm_fast, adam_step_noisy_pair_fast in core/adam.hpp). The noise matrix
// f_out f_in^T (C_out x C_in) is never stored: each element is f_out[o] * f_in[i], computed
// where it is used.
//
//   noisy_weight_fast(w, mu, sigma, f_in, f_out, C_out, C_in);          // W, row by row
//   noisy_linear_forward_fast(y, w_or_null, b, x, mu, sigma, ...);      // y = x W^T + b
//   noisy_grad_fast(dmu, dsigma, dw, f_in, f_out, C_out, C_in);         // dmu += dW, ...
//   noisy_sigma_grad_fast(dsigma, dw, f_in, f_out, C_out, C_in);        // dsigma = dW . noise
//   noisy_pair_sqnorm_fast(&sq_mu, &sq_sigma, dmu, f_in, f_out, ...);   // |dmu|^2, |dsigma|^2
//
// Each element is computed as mu + sigma * (f_out[o] * f_in[i]) (three roundings, in that order,
// -ffp-contract=off), the same operations the composed graph add(mu, mul(sigma, eps_w)) with
// eps_w = f_out f_in^T performed, so *_fast equals *_ref bit for bit, and the fused layer gives
// the same bits as the composed one did. A bias is the case C_in = 1 with f_in = {1}: sigma *
// (f_out * 1) = sigma * f_out exactly.
#pragma once

#include <cstdint>

namespace dqn {

// w[o,i] = mu[o,i] + sigma[o,i] * (f_out[o] * f_in[i])
// w, mu, sigma (C_out,C_in)  f_in (C_in)  f_out (C_out). w must not alias mu or sigma.
template <class T>
void noisy_weight_ref(T* w, const T* mu, const T* sigma, const T* f_in, const T* f_out,
                      std::int64_t C_out, std::int64_t C_in) {
  for (std::int64_t o = 0; o < C_out; ++o)
    for (std::int64_t i = 0; i < C_in; ++i)
      w[o * C_in + i] = mu[o * C_in + i] + sigma[o * C_in + i] * (f_out[o] * f_in[i]);
}

// Accumulates dmu[o,i] += dw[o,i] (if dmu) and dsigma[o,i] += dw[o,i] * (f_out[o] * f_in[i])
// (if dsigma): dW/dmu = 1 and dW/dsigma = the noise. dw (C_out,C_in) is the linear layer's
// weight gradient; no buffer aliases another.
template <class T>
void noisy_grad_ref(T* dmu, T* dsigma, const T* dw, const T* f_in, const T* f_out,
                    std::int64_t C_out, std::int64_t C_in) {
  for (std::int64_t o = 0; o < C_out; ++o)
    for (std::int64_t i = 0; i < C_in; ++i) {
      const T g = dw[o * C_in + i];
      if (dmu) dmu[o * C_in + i] += g;
      if (dsigma) dsigma[o * C_in + i] += g * (f_out[o] * f_in[i]);
    }
}

// dsigma[o,i] = 0 + dw[o,i] * (f_out[o] * f_in[i]), WRITTEN: noisy_grad's sigma part when the
// gradient starts from zero (BasicTape::backward with a set), so dsigma is never zeroed and dmu
// can be dW itself. The "0 +" gives the accumulating kernel's bits on a zeroed buffer (-0 -> +0).
template <class T>
void noisy_sigma_grad_ref(T* dsigma, const T* dw, const T* f_in, const T* f_out, std::int64_t C_out,
                          std::int64_t C_in) {
  for (std::int64_t o = 0; o < C_out; ++o)
    for (std::int64_t i = 0; i < C_in; ++i)
      dsigma[o * C_in + i] = T(0) + dw[o * C_in + i] * (f_out[o] * f_in[i]);
}

// Same contracts, float SIMD, one pass over the rows; rows split over threads above
// kElementwiseGrain elements. Every element is computed the same way whatever the split, so the
// bits do not depend on the thread count (and equal *_ref's).
void noisy_weight_fast(float* w, const float* mu, const float* sigma, const float* f_in,
                       const float* f_out, std::int64_t C_out, std::int64_t C_in);
// The layer's forward, y (N,C_out) = x (N,C_in) W^T + b with W and b formed as above: the bits
// of noisy_weight_fast into a buffer then linear_forward_fast, without W ever being written
// whole and read back when it is not kept (matmul_nt_formed_fast). w: (C_out,C_in) to keep W in
// (the training forward, whose backward needs it for dX), or null (a pass without gradients,
// such as the target network's). b: (C_out), receives the formed bias.
void noisy_linear_forward_fast(float* y, float* w, float* b, const float* x, const float* mu,
                               const float* sigma, const float* b_mu, const float* b_sigma,
                               const float* f_in, const float* f_out, std::int64_t N,
                               std::int64_t C_in, std::int64_t C_out);
void noisy_grad_fast(float* dmu, float* dsigma, const float* dw, const float* f_in,
                     const float* f_out, std::int64_t C_out, std::int64_t C_in);
void noisy_sigma_grad_fast(float* dsigma, const float* dw, const float* f_in, const float* f_out,
                           std::int64_t C_out, std::int64_t C_in);

// The squared L2 norms of dmu and of the sigma gradient noisy_sigma_grad would form from it, in
// one read of dmu and without forming it: *sq_mu = sqnorm_fast(dmu, n) and *sq_sigma =
// sqnorm_fast(dsigma, n) with dsigma = noisy_sigma_grad_fast(dmu, ...), bit for bit (the same
// ranges, cascade and products), n = C_out * C_in. For gradient clipping over a deferred sigma
// (BasicTape::backward with a deferred list).
void noisy_pair_sqnorm_fast(float* sq_mu, float* sq_sigma, const float* dmu, const float* f_in,
                            const float* f_out, std::int64_t C_out, std::int64_t C_in);

}  // namespace dqn
