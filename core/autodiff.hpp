// core/autodiff.hpp: a small tape-based (Wengert list) reverse-mode autodiff.
//
//   Tape tape;                                   // lives as long as the training loop
//   tape.reset();                                // each step: forget the graph, keep the buffers
//   Value x = tape.input(batch);                 // constant input, no gradient
//   Value h = tape.relu(tape.linear(x, tape.param(w1), tape.param(b1)));
//   Value q = tape.linear(h, tape.param(w2), tape.param(b2));
//   Value loss = tape.huber(tape.gather_actions(q, actions), tape.input(targets), 1.0f);
//   tape.backward(loss);                         // w1.grad += dloss/dw1, ...
//
// Each op computes its value at once (eager) and appends a record to the tape; backward() walks
// the records in reverse and calls each op's backward kernel, written right under its forward in
// autodiff.cpp. Gradients of leaves (Variables) ACCUMULATE until the caller zeroes them, as in
// PyTorch. Ops built from primitives (mse = mean(mul(d, d))) need no backward of their own.
//
// No allocation in steady state: record i of a step reuses buffer i of the previous step, and a
// tensor only reallocates when it must grow, so step 2..N of a fixed-shape training loop allocate
// nothing (tests/alloc checks this).
//
// The tape is a template: Tape (float) runs the *_fast kernels; TapeD (double) runs the *_ref
// kernels, which is what the finite-difference gradient checks use.
//
// Precision::kBf16 (a float tape only; config `precision=bf16`): linear and conv2d, forward and
// backward, round their operands to bfloat16 and sum in FP32 (core/bf16.hpp); everything else,
// and every stored value and gradient, stays FP32. noisy_linear keeps FP32 products.
#pragma once

#include <cstdint>
#include <type_traits>
#include <vector>

#include "core/conv2d.hpp"
#include "core/elementwise.hpp"
#include "core/reduce.hpp"
#include "core/tensor.hpp"

namespace dqn {

enum class Precision : std::uint8_t { kFp32, kBf16 };

// A leaf that outlives the tape: a parameter's value and its accumulated gradient.
template <class T>
struct BasicVariable {
  BasicTensor<T> value;
  BasicTensor<T> grad;

  BasicVariable() = default;
  explicit BasicVariable(Shape shape) : value(shape), grad(shape) {}
  void zero_grad() {
    if constexpr (std::is_same_v<T, float>)
      fill_fast(grad.data(), 0.0f, grad.numel());  // on every thread for a large weight
    else
      grad.fill(T(0));
  }
};
using Variable = BasicVariable<float>;
using VariableD = BasicVariable<double>;

// A noisy layer's weight-sigma gradient that BasicTape::backward(loss, set, deferred) left for
// its consumer to form: dsigma[o,i] = 0 + mu->grad[o,i] * (f_out[o] * f_in[i]).
template <class T>
struct DeferredSigma {
  BasicVariable<T>* mu = nullptr;
  BasicVariable<T>* sigma = nullptr;
  const T* f_in = nullptr;   // (C_in)
  const T* f_out = nullptr;  // (C_out)
  std::int64_t C_out = 0, C_in = 0;
};

// A handle to a value recorded on a tape (valid until the tape's next reset()).
struct Value {
  std::int32_t id = -1;
};

enum class Op : std::uint8_t {
  kInput,
  kParam,
  kLinear,
  kConv2d,
  kRelu,
  kFlatten,
  kGatherActions,
  kMaxActions,
  kHuber,
  kAdd,
  kSub,
  kMul,
  kScale,
  kSum,
  kMean,
  kRowMean,
  kAddColumn,
  kU8Input,
  // C51 (Bellemare et al. 2017; core/categorical.hpp)
  kLogSoftmax,
  kSoftmax,
  kGatherAtoms,
  kCrossEntropy,
  kDuelingAtoms,
  // Noisy nets (Fortunato et al. 2018; core/noisy_linear.hpp)
  kNoisyLinear
};

template <class T>
class BasicTape {
 public:
  BasicTape();

  // Forgets the recorded graph; every buffer stays for the next step.
  void reset();
  // While false (see NoGradScope) ops compute values but record nothing to differentiate:
  // for acting and for the target network's forward pass.
  bool grad_enabled() const { return grad_enabled_; }
  void set_grad_enabled(bool enabled) { grad_enabled_ = enabled; }
  // The products' precision (see the file comment). Throws for kBf16 on a double tape, whose
  // *_ref kernels are the exact oracle.
  void set_precision(Precision p);
  Precision precision() const { return precision_; }

  // ---- leaves ----
  // A constant input. The tape points at x's memory, which must stay valid until reset().
  Value input(View<const T> x);
  // A uint8 input (Atari frames) converted to T and multiplied by `scale` (1/255 in the
  // Nature CNN) into a tape buffer. The tape points at x's memory, which must stay valid until
  // reset(): the conversion waits for the first op that reads the value, and a conv2d that
  // can read the frames itself (conv2d_reads_u8, conv2d_bf16_reads_u8) never makes it.
  Value input_u8(View<const std::uint8_t> x, T scale);
  // A parameter: its gradient is accumulated into v.grad by backward().
  Value param(BasicVariable<T>& v);

  // ---- ops (each says its shapes) ----
  Value linear(Value x, Value w, Value b);  // x (N,C_in)  w (C_out,C_in)  b (C_out) -> (N,C_out)
  // x (N,C,H,W) w (O,C,KH,KW) b (O) -> (N,O,H',W'). relu: the output is relu(conv), the same
  // values and gradients as relu(conv2d(...)) bit for bit, with the ReLU applied where the
  // convolution stores its output and folded into its backward (no pass and no buffer of its
  // own); Sequential uses it for a Conv2d followed by a ReLU. An x straight from input_u8 is
  // read as frames, forward and backward, where the fast kernels can (conv2d_reads_u8 and
  // conv2d_bf16_reads_u8: no padding), with the bits of reading their float conversion, which is
  // then never written (3.6 MB for the Nature CNN's batch of 32, written and read back by each of
  // an update's two forward passes).
  Value conv2d(Value x, Value w, Value b, std::int64_t stride, std::int64_t pad, bool relu = false);
  Value relu(Value x);     // any shape; gradient 0 at 0 (as PyTorch)
  Value flatten(Value x);  // (N, ...) -> (N, rest); a view, no copy
  // q (N,A), actions (N) -> (N): q[i, actions[i]]. `actions` must stay valid until reset().
  Value gather_actions(Value q, const std::int64_t* actions);
  Value max_actions(Value q);  // (N,A) -> (N); gradient flows to the (first) argmax
  Value huber(Value pred, Value target, T delta);  // mean over elements -> scalar
  Value add(Value a, Value b);                     // same shapes
  Value sub(Value a, Value b);
  Value mul(Value a, Value b);
  Value scale(Value a, T s);
  Value sum(Value a);                  // -> scalar
  Value mean(Value a);                 // -> scalar
  Value row_mean(Value a);             // (N,A) -> (N,1)
  Value add_column(Value a, Value c);  // a (N,A) + c (N,1) broadcast over columns -> (N,A)

  // ---- C51 (Bellemare et al. 2017): categorical heads, see core/categorical.hpp ----
  Value log_softmax(Value x);  // (R,K) -> (R,K), over the last axis (max-subtracted)
  Value softmax(Value x);      // (R,K) -> (R,K), over the last axis
  // logits (N, A*atoms), actions (N) -> (N, atoms): row actions[i] of sample i's (A, atoms)
  // block. `actions` must stay valid until reset().
  Value gather_atoms(Value logits, const std::int64_t* actions, std::int64_t atoms);
  // logp (N,K), target (N,K) -> (N): -sum_j target[i,j] logp[i,j], one loss per sample.
  Value cross_entropy(Value logp, Value target);
  // The dueling combination per atom (Hessel et al. 2018, eq. in "Dueling networks"):
  // v (N,K), adv (N, A*K) -> (N, A*K): v[i,k] + adv[i,a,k] - mean_a' adv[i,a',k].
  Value dueling_atoms(Value v, Value adv);

  // ---- noisy nets (Fortunato et al. 2018, factorised Gaussian; core/noisy_linear.hpp) ----
  // linear(x, w_mu + w_sigma . (f_out f_in^T), b_mu + b_sigma . f_out), fused: the noisy weight
  // is formed once into a buffer this node owns (reused every step, never the noise matrix) and
  // backward turns the linear dW into dmu += dW and dsigma += dW . (f_out f_in^T) in one pass.
  // x (N,C_in)  w_mu, w_sigma (C_out,C_in)  b_mu, b_sigma (C_out)  f_in (C_in)  f_out (C_out)
  // -> (N,C_out). f_in and f_out are constants that must stay valid until reset().
  Value noisy_linear(Value x, Value w_mu, Value w_sigma, Value b_mu, Value b_sigma,
                     View<const T> f_in, View<const T> f_out);

  // Fills .grad of every parameter reachable from `loss` (a scalar); the graph is then released.
  void backward(Value loss);
  // zero_grad() of every variable in `set`, then backward(loss), with the same bits but without
  // the zero pass where it can be skipped: a set variable's first gradient is WRITTEN by ops that
  // can write one outright (linear, noisy_linear: their weight-sized dW straight into .grad),
  // zero-filled just before an op that only accumulates, and zero-filled at the end if the loss
  // does not reach it. Variables outside `set` accumulate as in backward(). The training update
  // uses this: on the noisy Nature CNN it saves four 6.4 MB passes an update (bench_update).
  void backward(Value loss, const std::vector<BasicVariable<T>*>& set);
  // backward(loss, set), except that a noisy_linear weight sigma that the op would WRITE is left
  // unformed: its gradient is dsigma[o,i] = 0 + dmu[o,i] * (f_out[o] * f_in[i]) with dmu =
  // mu->grad (written), and the op appends {mu, sigma, f_in, f_out, C_out, C_in} to *deferred
  // instead of spending a weight-sized pass writing it (and the consumer another reading it).
  // sigma->grad keeps whatever it held. The consumer must form the gradient where it reads it,
  // before mu's gradient or the noise changes (nn/optim's grad_sq_norm and Adam::step take the
  // list and form it inside their own passes). A deferred sigma or its mu that another op then
  // touches is formed there and then, and dropped from the list, so the list stays exact.
  // With `norms`: each SqNormParts there that the caller reset for a set weight's .grad gets
  // that gradient's clipping-norm terms from the op that writes it, piece by piece as it writes
  // (the FP32 linear op where dW streams: linear_backward_overwrite_fast), so that finish() is
  // sqnorm_fast of the gradient without another pass over it. Any other part stays as reset,
  // and finish() reads its gradient whole.
  void backward(Value loss, const std::vector<BasicVariable<T>*>& set,
                std::vector<DeferredSigma<T>>* deferred, std::vector<SqNormParts>* norms = nullptr);

  const Shape& shape(Value v) const { return node(v).shape; }
  View<const T> view(Value v) const {
    settle(node(v));
    return View<const T>{node(v).data, node(v).shape};
  }
  T item(Value v) const;  // the value of a scalar
  std::int64_t size() const { return static_cast<std::int64_t>(nodes_.size()); }

 private:
  struct Node {
    Op op;
    Value a, b, c;      // inputs (id -1 where unused)
    Value d, e;         // noisy_linear's b_mu and b_sigma
    T* data = nullptr;  // value
    T* grad = nullptr;  // gradient buffer, set up by backward() where needed
    // A non-parameter node's buffer holds nothing yet: its first writer may write it outright
    // (grad_set), any other is given it zero-filled (grad_acc). See backward().
    bool grad_unwritten = false;
    Shape shape;
    bool requires_grad = false;
    T scalar = 0;                           // scale factor or huber delta
    const std::int64_t* actions = nullptr;  // gather
    std::int64_t stride = 1, pad = 0;       // conv2d
    bool relu = false;                      // conv2d with its ReLU fused
    // backward(): the nodes that name this one as an input, and (a fused conv2d + ReLU) whether
    // its only consumer, a convolution, already applied the ReLU's backward to its gradient.
    int consumers = 0;
    bool relu_applied = false;
    std::int64_t atoms = 0;                // gather_atoms
    BasicVariable<T>* variable = nullptr;  // param
    const T* f_in = nullptr;               // noisy_linear's noise (C_in), (C_out)
    const T* f_out = nullptr;
    // input_u8: the frames, and whether data still waits for their conversion (settle()).
    const std::uint8_t* u8 = nullptr;
    mutable bool unconverted = false;
  };

  const Node& node(Value v) const;
  // Converts an input_u8 node's frames into its data if not yet done; any other node as is.
  void settle(const Node& n) const;
  Node& push(Op op, Shape shape, bool requires_grad, Value a = {}, Value b = {}, Value c = {});
  bool needs_grad(Value v) const { return v.id >= 0 && nodes_[v.id].requires_grad; }
  void backward_node(Node& n);
  // The gradient buffer an op adds into (nullptr if x needs none); a set variable or a node
  // buffer not yet written is zero-filled first.
  T* grad_acc(Node* x);
  // The gradient buffer of x and, in *fresh, whether the op must WRITE it (x is a set variable
  // or a node buffer this backward has not yet written; it is then counted as written).
  T* grad_set(Node* x, bool* fresh);
  bool take_fresh(const BasicVariable<T>* v);
  T* workspace(std::int64_t floats);
  Conv2dShape conv_shape(const Node& n) const;

  std::vector<Node> nodes_;
  std::vector<BasicTensor<T>> values_;             // values_[i]: node i's own output buffer
  std::vector<BasicTensor<T>> grads_;              // grads_[i]: node i's gradient buffer
  std::vector<BasicTensor<std::int64_t>> argmax_;  // argmax_[i]: max_actions node i's argmax
  std::vector<BasicTensor<T>> formed_;  // formed_[i]: noisy_linear node i's W (C_out*C_in), b
  BasicTensor<T> workspace_;
  std::vector<BasicVariable<T>*> fresh_;  // backward(loss, set): set variables not yet written
  std::vector<DeferredSigma<T>>* deferred_ = nullptr;  // backward(loss, set, deferred)
  std::vector<SqNormParts>* norms_ = nullptr;          // backward(loss, set, deferred, norms)
  void form_deferred(const BasicVariable<T>* v);       // forms and drops v's entry, if v is in one
  // The part of *norms_ reset for grad (n floats), or nullptr.
  SqNormParts* norm_parts(const T* grad, std::int64_t n) const {
    if (norms_ == nullptr) return nullptr;
    for (SqNormParts& p : *norms_)
      if (static_cast<const void*>(p.data()) == static_cast<const void*>(grad) && p.size() == n)
        return &p;
    return nullptr;
  }
  bool grad_enabled_ = true;
  bool released_ = false;
  Precision precision_ = Precision::kFp32;
  bool bf16() const { return precision_ == Precision::kBf16; }
};

using Tape = BasicTape<float>;
using TapeD = BasicTape<double>;

// Turns gradient recording off for a scope: `{ NoGradScope guard(tape); ...target forward... }`.
template <class T>
class BasicNoGradScope {
 public:
  explicit BasicNoGradScope(BasicTape<T>& tape) : tape_(tape), saved_(tape.grad_enabled()) {
    tape.set_grad_enabled(false);
  }
  ~BasicNoGradScope() { tape_.set_grad_enabled(saved_); }
  BasicNoGradScope(const BasicNoGradScope&) = delete;
  BasicNoGradScope& operator=(const BasicNoGradScope&) = delete;

 private:
  BasicTape<T>& tape_;
  bool saved_;
};
using NoGradScope = BasicNoGradScope<float>;

}  // namespace dqn
