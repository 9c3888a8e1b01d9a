// core/adam.hpp: the Adam update (Kingma & Ba 2015, Algorithm 1) with PyTorch 1.13's exact float
// arithmetic (torch.optim.Adam, _single_tensor_adam: not fused, no amsgrad, no weight decay), so
// a run can be compared with the PyTorch seed step for step.
//
// Legend: n parameters.  param (n)  m (n) first moment  v (n) second moment  grad (n)
//
//   AdamHyper h;                       // lr 1e-3, betas (0.9, 0.999), eps 1e-8: PyTorch defaults
//   adam_step_fast(w, m_w, v_w, dw, n, h, ++step);
//
// Per element, in this order and with these roundings (T = float):
//   m = fma(g, T(1 - beta1), m * T(beta1))         exp_avg.mul_(b1).add_(g, alpha=1-b1); ATen's
//                                                   vectorised add with alpha is fmadd(g, a, m)
//   v = v * T(beta2) + T(1 - beta2) * g * g        exp_avg_sq.mul_(b2).addcmul_(g, g, value=1-b2)
//   denom = sqrt(v) / T(sqrt(bias_c2)) + T(eps)    (exp_avg_sq.sqrt() / bias_c2_sqrt).add_(eps)
//   param = param + T(-step_size) * m / denom      param.addcdiv_(m, denom, value=-step_size)
// with the scalars in double, each cast to T once:
//   bias_c1 = 1 - beta1^step, bias_c2 = 1 - beta2^step, step_size = lr / bias_c1.
//
// Trap 1 (bias correction): `step` is the 1-based count of THIS update. Passing 0 divides by
// 1 - beta^0 = 0; passing the count before incrementing makes the first steps ~10x too large
// (at step 1, 1 - 0.9^1 = 0.1 rescales m exactly back to g).
// Trap 2 (where eps goes): eps is added AFTER the square root of the bias-corrected second moment,
// sqrt(v / bias_c2) + eps, as PyTorch and the paper do, not inside it (sqrt(v_hat + eps)) and not
// to the uncorrected sqrt(v). At step 1 that makes the update -lr * g / (|g| + eps), i.e. -lr times
// sign(g) up to eps, whatever the gradient's scale.
#pragma once

#include <cmath>
#include <cstdint>

namespace dqn {

// Adam's hyperparameters, defaults as torch.optim.Adam (and Kingma & Ba 2015, Sec. 2).
struct AdamHyper {
  double lr = 1e-3;      // step size alpha
  double beta1 = 0.9;    // decay of the first-moment (mean) estimate
  double beta2 = 0.999;  // decay of the second-moment (uncentred variance) estimate
  double eps = 1e-8;     // added to sqrt(v_hat) to avoid division by zero
};

// The per-step scalars of the update, computed in double and cast to T once.
template <class T>
struct AdamScalars {
  T beta1, one_minus_beta1, beta2, one_minus_beta2, bias_c2_sqrt, eps, neg_step_size;
  AdamScalars(const AdamHyper& h, std::int64_t step) {
    const double s = static_cast<double>(step);
    const double bias_c1 = 1.0 - std::pow(h.beta1, s);
    const double bias_c2 = 1.0 - std::pow(h.beta2, s);
    beta1 = static_cast<T>(h.beta1);
    one_minus_beta1 = static_cast<T>(1.0 - h.beta1);
    beta2 = static_cast<T>(h.beta2);
    one_minus_beta2 = static_cast<T>(1.0 - h.beta2);
    bias_c2_sqrt = static_cast<T>(std::sqrt(bias_c2));
    eps = static_cast<T>(h.eps);
    neg_step_size = static_cast<T>(-(h.lr / bias_c1));
  }
};

// One Adam update in place. step >= 1 is this update's 1-based count (see Trap 1).
// param (n)  m (n)  v (n)  grad (n)
template <class T>
void adam_step_ref(T* param, T* m, T* v, const T* grad, std::int64_t n, const AdamHyper& h,
                   std::int64_t step) {
  const AdamScalars<T> k(h, step);
  for (std::int64_t i = 0; i < n; ++i) {
    const T g = grad[i];
    m[i] = std::fma(g, k.one_minus_beta1, m[i] * k.beta1);
    v[i] = v[i] * k.beta2 + k.one_minus_beta2 * g * g;
    const T denom = std::sqrt(v[i]) / k.bias_c2_sqrt + k.eps;  // eps after the sqrt: Trap 2
    param[i] = param[i] + k.neg_step_size * m[i] / denom;
  }
}

// The same update as one fused SIMD pass over the four arrays (each read once, three written
// once), split over threads above kElementwiseGrain. Bit-identical to adam_step_ref<float>.
void adam_step_fast(float* param, float* m, float* v, const float* grad, std::int64_t n,
                    const AdamHyper& h, std::int64_t step);

// The same update on the gradient grad_scale * grad, formed as it is read (clipping's scale,
// clip_coefficient): bit for bit scale_fast(grad, grad, grad_scale, n) then adam_step_fast, with
// one weight-sized pass fewer (a read and a write of grad: 6.7 MB on the Nature CNN, at every
// update that clips). grad itself is not scaled.
void adam_step_scaled_fast(float* param, float* m, float* v, const float* grad, float grad_scale,
                           std::int64_t n, const AdamHyper& h, std::int64_t step);

// Adam on a noisy layer's weight pair (core/noisy_linear.hpp) whose sigma gradient was never
// formed (BasicTape::backward with a deferred list): the gradients are g_mu = s * dmu and
// g_sigma = s * (0 + dmu . (f_out f_in^T)), s the clipping scale (1 when not clipping, exact),
// formed in registers from one read of dmu. Bit for bit what forming dsigma with
// noisy_sigma_grad_fast, scaling both with scale_fast (when clipping) and two adam_step_fast
// calls do, with two weight-sized passes fewer and dmu read once instead of twice. dmu itself is
// not scaled. mu, sigma, their moments and dmu are (C_out, C_in); f_in (C_in), f_out (C_out).
void adam_step_noisy_pair_fast(float* mu, float* m_mu, float* v_mu, float* sigma, float* m_sigma,
                               float* v_sigma, const float* dmu, const float* f_in,
                               const float* f_out, std::int64_t C_out, std::int64_t C_in,
                               float grad_scale, const AdamHyper& h, std::int64_t step);

}  // namespace dqn
