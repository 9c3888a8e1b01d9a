// nn/module.hpp: modules with named parameters, as PyTorch's state dict names them.
//
// A Module has two ways to run:
//   forward(tape, x)  records onto a Tape, for training (gradients reach its Variables);
//   infer(x, y)       runs the fast kernels directly into module-owned buffers, for acting
//                     (batch-1 greedy actions need no tape and allocate nothing after the first).
//
//   Sequential net;
//   net.add(std::make_unique<Linear>(4, 256, rng));   // parameters net.0.weight, net.0.bias
//   net.add(std::make_unique<ReLU>());
//   Value q = net.forward(tape, tape.input(obs));
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "core/autodiff.hpp"
#include "core/conv2d.hpp"
#include "core/rng.hpp"
#include "core/tensor.hpp"

namespace dqn {

struct NamedVariable {
  std::string name;
  Variable* variable;
};

class Module {
 public:
  virtual ~Module() = default;
  virtual Value forward(Tape& tape, Value x) = 0;
  // y = module(x) without a tape. y is resized as needed (no allocation once large enough).
  virtual void infer(ConstTensorView x, Tensor& y) = 0;
  virtual Shape output_shape(const Shape& input) const = 0;
  // Appends this module's parameters, names prefixed (prefix "net.0" -> "net.0.weight").
  virtual void parameters(const std::string& /*prefix*/, std::vector<NamedVariable>& /*out*/) {}
  virtual std::string describe() const = 0;
};

// y = x W^T + b with W (out, in). Initialised as PyTorch's nn.Linear.reset_parameters: W by
// kaiming_uniform_(a=sqrt(5)), which works out to U(-1/sqrt(in), 1/sqrt(in)), and b by
// U(-1/sqrt(in), 1/sqrt(in)) (torch/nn/modules/linear.py).
class Linear : public Module {
 public:
  Linear(std::int64_t in_features, std::int64_t out_features, Rng& rng);
  Value forward(Tape& tape, Value x) override;
  void infer(ConstTensorView x, Tensor& y) override;
  // infer() followed by a ReLU, in one pass (Sequential's Conv2d + ReLU).
  void infer_relu(ConstTensorView x, Tensor& y);
  Shape output_shape(const Shape& input) const override;
  void parameters(const std::string& prefix, std::vector<NamedVariable>& out) override;
  std::string describe() const override;

  Variable weight, bias;
  std::int64_t in_features, out_features;
};

// A factorised-Gaussian noisy linear layer (Fortunato et al. 2018, "Noisy Networks for
// Exploration", section 3 and 3.2's factorised case):
//
//   y = x (mu_w + sigma_w . eps_w)^T + mu_b + sigma_b . eps_b,
//   eps_w = f(eps_out) f(eps_in)^T (out, in),   eps_b = f(eps_out),   f(x) = sgn(x) sqrt|x|,
//
// with eps_in (in) and eps_out (out) standard normal: in + out draws a sample instead of
// in * out. mu and sigma are both learned; the noise is not a parameter. Initialisation as the
// paper's factorised case (section 3.2): mu_w, mu_b ~ U[-1/sqrt(p), 1/sqrt(p)] and
// sigma_w = sigma_b = sigma0 / sqrt(p), p = in_features (sigma0 = 0.5 in the paper).
//
// Noise state: eps starts at zero, and the layer starts noise-free (mean weights only). The
// owner draws a new sample with resample(rng) (which also turns the noise on) and switches it
// off for evaluation with set_noise(false). Nothing here draws randomness on its own.
//
// The tape sees one fused op, tape.noisy_linear (core/noisy_linear.hpp): it forms W = mu_w +
// sigma_w . (f_out f_in^T) in one SIMD pass into a buffer the tape keeps, runs the linear GEMM,
// and in backward turns dW into dmu and dsigma in one pass. The noise matrix eps_w (out x in,
// 1.6M floats for the Nature CNN's fc) is never stored (bench_update: a noisy Nature CNN update
// 1.19x the plain one at 1 thread, 1.47x with the composed add/mul graph this replaced).
// infer() (acting) never forms W at all: it uses the factorised form, two products over mu and
// sigma.
class NoisyLinear : public Module {
 public:
  NoisyLinear(std::int64_t in_features, std::int64_t out_features, double sigma0, Rng& rng);
  Value forward(Tape& tape, Value x) override;
  void infer(ConstTensorView x, Tensor& y) override;
  Shape output_shape(const Shape& input) const override;
  void parameters(const std::string& prefix, std::vector<NamedVariable>& out) override;
  std::string describe() const override;

  // New eps_in, eps_out from rng (in draws, then out draws, each Rng::normal()); noise on.
  // Only the two factor vectors are stored: in + out floats, whatever the layer's size.
  void resample(Rng& rng);
  // Off: forward and infer use the mean weights mu (evaluation). On: mu + sigma . eps.
  void set_noise(bool on) { noise_on_ = on; }
  bool noise_on() const { return noise_on_; }
  // The current factorised noise f(eps_in) (in) and f(eps_out) (out); the weight noise is
  // their outer product, f(eps_out)[o] * f(eps_in)[i], computed where it is used.
  const Tensor& noise_in() const { return f_in_; }
  const Tensor& noise_out() const { return f_out_; }

  Variable weight_mu, weight_sigma, bias_mu, bias_sigma;
  std::int64_t in_features, out_features;
  double sigma0;

 private:
  Tensor f_in_, f_out_;       // f(eps_in), f(eps_out) = eps_b
  Tensor x_noise_, y_noise_;  // infer()'s x . f(eps_in) and (x . f(eps_in)) sigma_w^T
  bool noise_on_ = false;
};

// f(x) = sgn(x) sqrt|x|, the factorised noise's transform (Fortunato et al. 2018, eq. 11).
inline double noisy_f(double x) {
  return x < 0 ? -std::sqrt(-x) : std::sqrt(x);
}

// The noisy layer on any tape: linear(x, w_mu + w_sigma . (f_out f_in^T), b_mu + b_sigma . f_out)
// with f_in (in) and f_out (out) constants, as the fused tape op. A template so the double tape
// (the *_ref kernels) can check its gradients by finite differences; NoisyLinear::forward is
// the float one.
template <class T>
Value noisy_linear(BasicTape<T>& tape, Value x, Value w_mu, Value w_sigma, Value b_mu,
                   Value b_sigma, std::type_identity_t<View<const T>> f_in,
                   std::type_identity_t<View<const T>> f_out) {
  return tape.noisy_linear(x, w_mu, w_sigma, b_mu, b_sigma, f_in, f_out);
}

// 2-D convolution, square kernel and stride, zero padding. Initialised as PyTorch's
// nn.Conv2d (the same bounds as Linear with fan_in = in_channels * k * k).
class Conv2d : public Module {
 public:
  Conv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel,
         std::int64_t stride, std::int64_t pad, Rng& rng);
  Value forward(Tape& tape, Value x) override;
  void infer(ConstTensorView x, Tensor& y) override;
  // infer() followed by a ReLU, in one pass (Sequential's Conv2d + ReLU).
  void infer_relu(ConstTensorView x, Tensor& y);
  Shape output_shape(const Shape& input) const override;
  void parameters(const std::string& prefix, std::vector<NamedVariable>& out) override;
  std::string describe() const override;

  Variable weight, bias;
  std::int64_t in_channels, out_channels, kernel, stride, pad;

 private:
  void infer_impl(ConstTensorView x, Tensor& y, bool relu);
  Tensor workspace_;  // im2col scratch for infer()
};

class ReLU : public Module {
 public:
  Value forward(Tape& tape, Value x) override { return tape.relu(x); }
  void infer(ConstTensorView x, Tensor& y) override;
  Shape output_shape(const Shape& input) const override { return input; }
  std::string describe() const override { return "ReLU()"; }
};

// (N, ...) -> (N, rest).
class Flatten : public Module {
 public:
  Value forward(Tape& tape, Value x) override { return tape.flatten(x); }
  void infer(ConstTensorView x, Tensor& y) override;
  Shape output_shape(const Shape& input) const override;
  std::string describe() const override { return "Flatten()"; }
};

class Sequential : public Module {
 public:
  void add(std::unique_ptr<Module> module);
  Value forward(Tape& tape, Value x) override;
  void infer(ConstTensorView x, Tensor& y) override;
  Shape output_shape(const Shape& input) const override;
  // Children are named by their index, as torch.nn.Sequential: "net.0", "net.1", ...
  void parameters(const std::string& prefix, std::vector<NamedVariable>& out) override;
  std::string describe() const override;
  std::int64_t size() const { return static_cast<std::int64_t>(modules_.size()); }

 private:
  Conv2d* conv_before_relu(std::size_t i) const;

  std::vector<std::unique_ptr<Module>> modules_;
  std::vector<Tensor> activations_;  // infer()'s intermediate outputs, one per child
};

}  // namespace dqn
