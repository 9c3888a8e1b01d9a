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

#include <cstdint>
#include <memory>
#include <string>
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
  Shape output_shape(const Shape& input) const override;
  void parameters(const std::string& prefix, std::vector<NamedVariable>& out) override;
  std::string describe() const override;

  Variable weight, bias;
  std::int64_t in_features, out_features;
};

// 2-D convolution, square kernel and stride, zero padding. Initialised as PyTorch's
// nn.Conv2d (the same bounds as Linear with fan_in = in_channels * k * k).
class Conv2d : public Module {
 public:
  Conv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel,
         std::int64_t stride, std::int64_t pad, Rng& rng);
  Value forward(Tape& tape, Value x) override;
  void infer(ConstTensorView x, Tensor& y) override;
  Shape output_shape(const Shape& input) const override;
  void parameters(const std::string& prefix, std::vector<NamedVariable>& out) override;
  std::string describe() const override;

  Variable weight, bias;
  std::int64_t in_channels, out_channels, kernel, stride, pad;

 private:
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
  std::vector<std::unique_ptr<Module>> modules_;
  std::vector<Tensor> activations_;  // infer()'s intermediate outputs, one per child
};

}  // namespace dqn
