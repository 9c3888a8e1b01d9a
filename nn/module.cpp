// nn/module.cpp: Linear, Conv2d, ReLU, Flatten and Sequential.
#include "nn/module.hpp"

#include <cmath>
#include <string>

#include "core/activation.hpp"
#include "core/error.hpp"
#include "core/linear.hpp"

namespace dqn {
namespace {

// PyTorch's default initialisation for Linear and Conv2d: weight and bias both uniform in
// +-1/sqrt(fan_in) (kaiming_uniform_ with a = sqrt(5) reduces to this bound).
void init_uniform_fan_in(Variable& v, std::int64_t fan_in, Rng& rng) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  for (std::int64_t i = 0; i < v.value.numel(); ++i)
    v.value[i] = static_cast<float>(rng.uniform(-bound, bound));
}

}  // namespace

// ---------------------------------------------------------------- Linear

Linear::Linear(std::int64_t in, std::int64_t out, Rng& rng)
    : weight(Shape{out, in}), bias(Shape{out}), in_features(in), out_features(out) {
  DQN_CHECK(in >= 1 && out >= 1, "Linear: needs in_features >= 1 and out_features >= 1, got ", in,
            " and ", out);
  init_uniform_fan_in(weight, in, rng);
  init_uniform_fan_in(bias, in, rng);
}

Value Linear::forward(Tape& tape, Value x) {
  return tape.linear(x, tape.param(weight), tape.param(bias));
}

void Linear::infer(ConstTensorView x, Tensor& y) {
  const Shape out = output_shape(x.shape);
  y.resize_for_overwrite(out);
  linear_forward_fast(y.data(), x.data, weight.value.data(), bias.value.data(), x.shape[0],
                      in_features, out_features);
}

Shape Linear::output_shape(const Shape& input) const {
  DQN_CHECK(input.rank == 2 && input[1] == in_features, "Linear(", in_features, ", ", out_features,
            "): expected input (N,", in_features, "), got ", input.str());
  return Shape{input[0], out_features};
}

void Linear::parameters(const std::string& prefix, std::vector<NamedVariable>& out) {
  out.push_back({prefix + ".weight", &weight});
  out.push_back({prefix + ".bias", &bias});
}

std::string Linear::describe() const {
  return "Linear(" + std::to_string(in_features) + ", " + std::to_string(out_features) + ")";
}

// ---------------------------------------------------------------- NoisyLinear

NoisyLinear::NoisyLinear(std::int64_t in, std::int64_t out, double sigma0_, Rng& rng)
    : weight_mu(Shape{out, in}),
      weight_sigma(Shape{out, in}),
      bias_mu(Shape{out}),
      bias_sigma(Shape{out}),
      in_features(in),
      out_features(out),
      sigma0(sigma0_),
      f_in_(Shape{in}),
      f_out_(Shape{out}) {
  DQN_CHECK(in >= 1 && out >= 1, "NoisyLinear: needs in_features >= 1 and out_features >= 1, got ",
            in, " and ", out);
  DQN_CHECK(sigma0_ >= 0 && std::isfinite(sigma0_), "NoisyLinear: sigma0 must be >= 0, got ",
            sigma0_);
  // Fortunato et al. 2018, section 3.2 (factorised): mu ~ U[-1/sqrt(p), 1/sqrt(p)],
  // sigma = sigma0 / sqrt(p), p the number of inputs. Draw order: weight_mu, then bias_mu.
  init_uniform_fan_in(weight_mu, in, rng);
  init_uniform_fan_in(bias_mu, in, rng);
  const float sigma = static_cast<float>(sigma0_ / std::sqrt(static_cast<double>(in)));
  weight_sigma.value.fill(sigma);
  bias_sigma.value.fill(sigma);
  // eps (the tensors' zero fill) stays 0 until the first resample(): a noise-free layer.
}

void NoisyLinear::resample(Rng& rng) {
  for (std::int64_t i = 0; i < in_features; ++i)
    f_in_[i] = static_cast<float>(noisy_f(rng.normal()));
  for (std::int64_t o = 0; o < out_features; ++o)
    f_out_[o] = static_cast<float>(noisy_f(rng.normal()));
  noise_on_ = true;
}

Value NoisyLinear::forward(Tape& tape, Value x) {
  if (!noise_on_) return tape.linear(x, tape.param(weight_mu), tape.param(bias_mu));
  return tape.noisy_linear(x, tape.param(weight_mu), tape.param(weight_sigma), tape.param(bias_mu),
                           tape.param(bias_sigma), f_in_.view(), f_out_.view());
}

void NoisyLinear::infer(ConstTensorView x, Tensor& y) {
  const Shape out = output_shape(x.shape);
  y.resize_for_overwrite(out);
  const std::int64_t n = x.shape[0];
  linear_forward_fast(y.data(), x.data, weight_mu.value.data(), bias_mu.value.data(), n,
                      in_features, out_features);
  if (!noise_on_) return;
  // The factorised form, without forming the (out, in) noisy weight: y_o += f(eps_out)_o *
  // (sum_i sigma_oi x_i f(eps_in)_i + sigma_b_o). Two products over mu and sigma instead of
  // reading mu, sigma and eps_w and writing mu + sigma . eps_w: a noisy Nature CNN's fc 512
  // holds 1.6M weights, and acting redraws its noise every step.
  x_noise_.resize_for_overwrite(x.shape);
  y_noise_.resize_for_overwrite(out);
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t i = 0; i < in_features; ++i)
      x_noise_[r * in_features + i] = x.data[r * in_features + i] * f_in_[i];
  linear_forward_fast(y_noise_.data(), x_noise_.data(), weight_sigma.value.data(),
                      bias_sigma.value.data(), n, in_features, out_features);
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t o = 0; o < out_features; ++o)
      y[r * out_features + o] += f_out_[o] * y_noise_[r * out_features + o];
}

Shape NoisyLinear::output_shape(const Shape& input) const {
  DQN_CHECK(input.rank == 2 && input[1] == in_features, "NoisyLinear(", in_features, ", ",
            out_features, "): expected input (N,", in_features, "), got ", input.str());
  return Shape{input[0], out_features};
}

void NoisyLinear::parameters(const std::string& prefix, std::vector<NamedVariable>& out) {
  out.push_back({prefix + ".weight_mu", &weight_mu});
  out.push_back({prefix + ".weight_sigma", &weight_sigma});
  out.push_back({prefix + ".bias_mu", &bias_mu});
  out.push_back({prefix + ".bias_sigma", &bias_sigma});
}

std::string NoisyLinear::describe() const {
  return "NoisyLinear(" + std::to_string(in_features) + ", " + std::to_string(out_features) + ")";
}

// ---------------------------------------------------------------- Conv2d

Conv2d::Conv2d(std::int64_t in_c, std::int64_t out_c, std::int64_t k, std::int64_t s,
               std::int64_t p, Rng& rng)
    : weight(Shape{out_c, in_c, k, k}),
      bias(Shape{out_c}),
      in_channels(in_c),
      out_channels(out_c),
      kernel(k),
      stride(s),
      pad(p) {
  DQN_CHECK(in_c >= 1 && out_c >= 1 && k >= 1 && s >= 1 && p >= 0,
            "Conv2d: needs channels >= 1, kernel >= 1, stride >= 1, padding >= 0; got in ", in_c,
            " out ", out_c, " kernel ", k, " stride ", s, " padding ", p);
  init_uniform_fan_in(weight, in_c * k * k, rng);
  init_uniform_fan_in(bias, in_c * k * k, rng);
}

Value Conv2d::forward(Tape& tape, Value x) {
  return tape.conv2d(x, tape.param(weight), tape.param(bias), stride, pad);
}

void Conv2d::infer(ConstTensorView x, Tensor& y) {
  infer_impl(x, y, /*relu=*/false);
}

void Conv2d::infer_relu(ConstTensorView x, Tensor& y) {
  infer_impl(x, y, /*relu=*/true);
}

void Conv2d::infer_impl(ConstTensorView x, Tensor& y, bool relu) {
  const Shape out = output_shape(x.shape);
  const Conv2dShape s{x.shape[0], in_channels, x.shape[2], x.shape[3], out_channels,
                      kernel,     kernel,      stride,     pad};
  const std::int64_t scratch = conv2d_workspace_floats(s);
  if (workspace_.numel() < scratch) workspace_.resize_for_overwrite(Shape{scratch});
  y.resize_for_overwrite(out);
  conv2d_forward_fast(y.data(), x.data, weight.value.data(), bias.value.data(), s,
                      workspace_.data(), relu);
}

Shape Conv2d::output_shape(const Shape& input) const {
  DQN_CHECK(input.rank == 4 && input[1] == in_channels, "Conv2d(", in_channels, ", ", out_channels,
            "): expected input (N,", in_channels, ",H,W), got ", input.str());
  const Conv2dShape s{input[0], in_channels, input[2], input[3], out_channels,
                      kernel,   kernel,      stride,   pad};
  DQN_CHECK(input[2] + 2 * pad >= kernel && input[3] + 2 * pad >= kernel, "Conv2d: a ", kernel, "x",
            kernel, " kernel does not fit an input of ", input[2], "x", input[3]);
  return Shape{input[0], out_channels, s.H_out(), s.W_out()};
}

void Conv2d::parameters(const std::string& prefix, std::vector<NamedVariable>& out) {
  out.push_back({prefix + ".weight", &weight});
  out.push_back({prefix + ".bias", &bias});
}

std::string Conv2d::describe() const {
  return "Conv2d(" + std::to_string(in_channels) + ", " + std::to_string(out_channels) +
         ", kernel_size=" + std::to_string(kernel) + ", stride=" + std::to_string(stride) +
         (pad ? ", padding=" + std::to_string(pad) : std::string()) + ")";
}

// ---------------------------------------------------------------- ReLU, Flatten

void ReLU::infer(ConstTensorView x, Tensor& y) {
  y.resize_for_overwrite(x.shape);
  relu_forward_fast(y.data(), x.data, x.numel());
}

Shape Flatten::output_shape(const Shape& input) const {
  DQN_CHECK(input.rank >= 1, "Flatten: needs at least one dimension");
  return Shape{input[0], input[0] == 0 ? 0 : input.numel() / input[0]};
}

void Flatten::infer(ConstTensorView x, Tensor& y) {
  y.resize_for_overwrite(output_shape(x.shape));
  y.copy_from(View<const float>{x.data, y.shape()});
}

// ---------------------------------------------------------------- Sequential

void Sequential::add(std::unique_ptr<Module> module) {
  modules_.push_back(std::move(module));
  activations_.emplace_back();
}

Value Sequential::forward(Tape& tape, Value x) {
  for (std::size_t i = 0; i < modules_.size(); ++i) {
    // A Conv2d followed by a ReLU runs as one tape op (Tape::conv2d with relu): the same values
    // and gradients, without the ReLU's own pass over the activations and its buffer.
    if (Conv2d* conv = conv_before_relu(i)) {
      x = tape.conv2d(x, tape.param(conv->weight), tape.param(conv->bias), conv->stride, conv->pad,
                      /*relu=*/true);
      ++i;
      continue;
    }
    x = modules_[i]->forward(tape, x);
  }
  return x;
}

// The Conv2d at i when a ReLU follows it (forward() and infer() then run the two as one).
Conv2d* Sequential::conv_before_relu(std::size_t i) const {
  auto* conv = dynamic_cast<Conv2d*>(modules_[i].get());
  if (conv == nullptr || i + 1 >= modules_.size()) return nullptr;
  return dynamic_cast<ReLU*>(modules_[i + 1].get()) != nullptr ? conv : nullptr;
}

void Sequential::infer(ConstTensorView x, Tensor& y) {
  DQN_CHECK(!modules_.empty(), "Sequential: infer() on an empty Sequential");
  ConstTensorView current = x;
  for (std::size_t i = 0; i < modules_.size(); ++i) {
    Conv2d* conv = conv_before_relu(i);
    const std::size_t last = conv != nullptr ? i + 1 : i;  // the module whose output this is
    Tensor& out = last + 1 == modules_.size() ? y : activations_[last];
    if (conv != nullptr)
      conv->infer_relu(current, out);
    else
      modules_[i]->infer(current, out);
    current = out.view();
    i = last;
  }
}

Shape Sequential::output_shape(const Shape& input) const {
  Shape s = input;
  for (const auto& m : modules_) s = m->output_shape(s);
  return s;
}

void Sequential::parameters(const std::string& prefix, std::vector<NamedVariable>& out) {
  for (std::size_t i = 0; i < modules_.size(); ++i)
    modules_[i]->parameters(prefix + "." + std::to_string(i), out);
}

std::string Sequential::describe() const {
  std::string text = "Sequential(";
  for (std::size_t i = 0; i < modules_.size(); ++i) {
    text += (i ? ", " : "");
    text += modules_[i]->describe();
  }
  return text + ")";
}

}  // namespace dqn
