// core/autodiff.cpp: every op of the tape, its forward and, right under it, its backward.
//
// Dispatch: the float tape calls the *_fast kernels, the double tape the *_ref kernels (the
// gradient checks run in double). Shapes are checked here, once, at the op boundary; the
// kernels below trust them.
#include "core/autodiff.hpp"

#include <algorithm>
#include <type_traits>

#include "core/activation.hpp"
#include "core/bf16.hpp"
#include "core/categorical.hpp"
#include "core/elementwise.hpp"
#include "core/linear.hpp"
#include "core/loss.hpp"
#include "core/matmul.hpp"
#include "core/noisy_linear.hpp"
#include "core/reduce.hpp"

namespace dqn {
namespace {

template <class T>
constexpr bool kFast = std::is_same_v<T, float>;

constexpr std::size_t kReservedNodes = 256;  // more than any network here records in a step

template <class T>
void axpy(T* y, T alpha, const T* x, std::int64_t n) {
  if constexpr (kFast<T>)
    axpy_fast(y, alpha, x, n);
  else
    axpy_ref<T>(y, alpha, x, n);
}

const char* op_name(Op op) {
  switch (op) {
    case Op::kInput:
      return "input";
    case Op::kU8Input:
      return "input_u8";
    case Op::kParam:
      return "param";
    case Op::kLinear:
      return "linear";
    case Op::kConv2d:
      return "conv2d";
    case Op::kRelu:
      return "relu";
    case Op::kFlatten:
      return "flatten";
    case Op::kGatherActions:
      return "gather_actions";
    case Op::kMaxActions:
      return "max_actions";
    case Op::kHuber:
      return "huber";
    case Op::kAdd:
      return "add";
    case Op::kSub:
      return "sub";
    case Op::kMul:
      return "mul";
    case Op::kScale:
      return "scale";
    case Op::kSum:
      return "sum";
    case Op::kMean:
      return "mean";
    case Op::kRowMean:
      return "row_mean";
    case Op::kAddColumn:
      return "add_column";
    case Op::kLogSoftmax:
      return "log_softmax";
    case Op::kSoftmax:
      return "softmax";
    case Op::kGatherAtoms:
      return "gather_atoms";
    case Op::kCrossEntropy:
      return "cross_entropy";
    case Op::kDuelingAtoms:
      return "dueling_atoms";
    case Op::kNoisyLinear:
      return "noisy_linear";
  }
  return "?";
}

}  // namespace

template <class T>
BasicTape<T>::BasicTape() {
  nodes_.reserve(kReservedNodes);
}

template <class T>
void BasicTape<T>::reset() {
  nodes_.clear();
  released_ = false;
}

template <class T>
const typename BasicTape<T>::Node& BasicTape<T>::node(Value v) const {
  DQN_CHECK(v.id >= 0 && v.id < static_cast<std::int32_t>(nodes_.size()), "tape: value id ", v.id,
            " is not on this tape (it has ", nodes_.size(),
            " values); was the tape reset() after the value was made?");
  return nodes_[v.id];
}

template <class T>
void BasicTape<T>::settle(const Node& n) const {
  if (!n.unconverted) return;
  if constexpr (kFast<T>)
    u8_to_float_fast(n.data, n.u8, n.scalar, n.shape.numel());
  else
    u8_to_float_ref<T>(n.data, n.u8, n.scalar, n.shape.numel());
  n.unconverted = false;
}

template <class T>
typename BasicTape<T>::Node& BasicTape<T>::push(Op op, Shape shape, bool requires_grad, Value a,
                                                Value b, Value c) {
  // Every op reads its inputs' values after pushing its node; conv2d settles its x itself,
  // since it may read the frames instead.
  for (const Value v : {a, b, c})
    if (v.id >= 0 && !(op == Op::kConv2d && v.id == a.id)) settle(nodes_[v.id]);
  const auto id = static_cast<std::int32_t>(nodes_.size());
  if (values_.size() <= nodes_.size()) {  // first time this step is this long: grow the pools
    values_.emplace_back();
    grads_.emplace_back();
    argmax_.emplace_back();
    formed_.emplace_back();
  }
  Node& n = nodes_.emplace_back();
  n.op = op;
  n.a = a;
  n.b = b;
  n.c = c;
  n.shape = shape;
  n.requires_grad = requires_grad && grad_enabled_;
  if (op != Op::kInput && op != Op::kParam && op != Op::kFlatten) {
    values_[id].resize_for_overwrite(shape);
    n.data = values_[id].data();
  }
  return n;
}

template <class T>
void BasicTape<T>::set_precision(Precision p) {
  DQN_CHECK(kFast<T> || p == Precision::kFp32,
            "set_precision: bf16 runs on a float Tape only; a double TapeD computes exactly "
            "(it is the gradient checks' oracle)");
  precision_ = p;
}

template <class T>
T* BasicTape<T>::workspace(std::int64_t floats) {
  if (workspace_.numel() < floats) workspace_.resize_for_overwrite(Shape{floats});
  return workspace_.data();
}

template <class T>
T BasicTape<T>::item(Value v) const {
  const Node& n = node(v);
  DQN_CHECK(n.shape.numel() == 1, "tape.item(): expected a scalar, got shape ", n.shape.str());
  settle(n);
  return n.data[0];
}

// ---------------------------------------------------------------- leaves

template <class T>
Value BasicTape<T>::input(View<const T> x) {
  Node& n = push(Op::kInput, x.shape, false);
  n.data = const_cast<T*>(x.data);  // never written: inputs have no gradient
  return Value{static_cast<std::int32_t>(nodes_.size() - 1)};
}

template <class T>
Value BasicTape<T>::input_u8(View<const std::uint8_t> x, T scale) {
  Node& n = push(Op::kU8Input, x.shape, false);
  n.u8 = x.data;
  n.scalar = scale;
  n.unconverted = true;  // converted by settle(), when an op first reads it
  return Value{static_cast<std::int32_t>(nodes_.size() - 1)};
}

template <class T>
Value BasicTape<T>::param(BasicVariable<T>& v) {
  DQN_CHECK(v.grad.shape() == v.value.shape(), "tape.param: the variable's grad has shape ",
            v.grad.shape().str(), " but its value has shape ", v.value.shape().str(),
            "; construct it with BasicVariable(shape)");
  Node& n = push(Op::kParam, v.value.shape(), true);
  n.data = v.value.data();
  n.variable = &v;
  return Value{static_cast<std::int32_t>(nodes_.size() - 1)};
}

// ---------------------------------------------------------------- linear
// y = x W^T + b  (PyTorch's nn.Linear convention: W is (out, in)).

template <class T>
Value BasicTape<T>::linear(Value x, Value w, Value b) {
  const Shape xs = node(x).shape, ws = node(w).shape, bs = node(b).shape;
  DQN_CHECK(xs.rank == 2 && ws.rank == 2 && ws[1] == xs[1],
            "linear: x (N,C_in) and w (C_out,C_in) "
            "must agree on C_in, got x ",
            xs.str(), " and w ", ws.str());
  check_shape("linear", "b", Shape{ws[0]}, bs);
  const std::int64_t N = xs[0], C_in = xs[1], C_out = ws[0];
  Node& n =
      push(Op::kLinear, Shape{N, C_out}, needs_grad(x) || needs_grad(w) || needs_grad(b), x, w, b);
  const Node &X = nodes_[x.id], &W = nodes_[w.id], &B = nodes_[b.id];
  if constexpr (kFast<T>) {
    if (bf16())
      linear_forward_bf16_fast(n.data, X.data, W.data, B.data, N, C_in, C_out,
                               workspace(linear_bf16_workspace_floats(N, C_in, C_out)));
    else
      linear_forward_fast(n.data, X.data, W.data, B.data, N, C_in, C_out);
  } else
    linear_forward_ref<T>(n.data, X.data, W.data, B.data, N, C_in, C_out);
  return Value{static_cast<std::int32_t>(nodes_.size() - 1)};
}

// ---------------------------------------------------------------- conv2d

template <class T>
Conv2dShape BasicTape<T>::conv_shape(const Node& n) const {
  const Shape xs = nodes_[n.a.id].shape, ws = nodes_[n.b.id].shape;
  return Conv2dShape{xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3], n.stride, n.pad};
}

template <class T>
Value BasicTape<T>::conv2d(Value x, Value w, Value b, std::int64_t stride, std::int64_t pad,
                           bool relu) {
  const Shape xs = node(x).shape, ws = node(w).shape, bs = node(b).shape;
  DQN_CHECK(xs.rank == 4 && ws.rank == 4 && ws[1] == xs[1],
            "conv2d: x (N,C_in,H,W) and w (C_out,C_in,KH,KW) must agree on C_in, got x ", xs.str(),
            " and w ", ws.str());
  check_shape("conv2d", "b", Shape{ws[0]}, bs);
  DQN_CHECK(stride >= 1 && pad >= 0, "conv2d: needs stride >= 1 and pad >= 0, got stride ", stride,
            " pad ", pad);
  DQN_CHECK(xs[2] + 2 * pad >= ws[2] && xs[3] + 2 * pad >= ws[3], "conv2d: a ", ws[2], "x", ws[3],
            " kernel does not fit an input of ", xs[2], "x", xs[3], " with padding ", pad);
  const Conv2dShape s{xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3], stride, pad};
  Node& n = push(Op::kConv2d, Shape{s.N, s.C_out, s.H_out(), s.W_out()},
                 needs_grad(x) || needs_grad(w) || needs_grad(b), x, w, b);
  n.stride = stride;
  n.pad = pad;
  n.relu = relu;
  const Node &X = nodes_[x.id], &W = nodes_[w.id], &B = nodes_[b.id];
  if constexpr (kFast<T>) {
    if (bf16() && X.unconverted && conv2d_bf16_reads_u8(s)) {
      conv2d_forward_bf16_u8_fast(n.data, X.u8, X.scalar, W.data, B.data, s,
                                  workspace(conv2d_bf16_workspace_floats(s)), relu);
      return Value{static_cast<std::int32_t>(nodes_.size() - 1)};
    }
    if (!bf16() && X.unconverted && conv2d_reads_u8(s)) {
      conv2d_forward_u8_fast(n.data, X.u8, X.scalar, W.data, B.data, s,
                             workspace(conv2d_workspace_floats(s)), relu);
      return Value{static_cast<std::int32_t>(nodes_.size() - 1)};
    }
  }
  settle(X);
  if constexpr (kFast<T>) {
    if (bf16())
      conv2d_forward_bf16_fast(n.data, X.data, W.data, B.data, s,
                               workspace(conv2d_bf16_workspace_floats(s)), relu);
    else
      conv2d_forward_fast(n.data, X.data, W.data, B.data, s, workspace(conv2d_workspace_floats(s)),
                          relu);
  } else {
    conv2d_forward_ref<T>(n.data, X.data, W.data, B.data, s);
    if (relu) relu_forward_ref<T>(n.data, n.data, n.shape.numel());
  }
  return Value{static_cast<std::int32_t>(nodes_.size() - 1)};
}

// ---------------------------------------------------------------- relu, flatten

template <class T>
Value BasicTape<T>::relu(Value x) {
  const Shape xs = node(x).shape;
  Node& n = push(Op::kRelu, xs, needs_grad(x), x);
  if constexpr (kFast<T>)
    relu_forward_fast(n.data, nodes_[x.id].data, xs.numel());
  else
    relu_forward_ref<T>(n.data, nodes_[x.id].data, xs.numel());
  return Value{static_cast<std::int32_t>(nodes_.size() - 1)};
}

template <class T>
Value BasicTape<T>::flatten(Value x) {
  const Shape xs = node(x).shape;
  DQN_CHECK(xs.rank >= 1, "flatten: needs at least one dimension, got a scalar");
  const std::int64_t rows = xs[0];
  Node& n = push(Op::kFlatten, Shape{rows, rows == 0 ? 0 : xs.numel() / rows}, needs_grad(x), x);
  n.data = nodes_[x.id].data;  // same memory, new shape
  return Value{static_cast<std::int32_t>(nodes_.size() - 1)};
}

// ---------------------------------------------------------------- gather, max over actions

template <class T>
Value BasicTape<T>::gather_actions(Value q, const std::int64_t* actions) {
  const Shape qs = node(q).shape;
  DQN_CHECK(qs.rank == 2, "gather_actions: q must be (N,A), got ", qs.str());
  for (std::int64_t i = 0; i < qs[0]; ++i)
    DQN_CHECK(actions[i] >= 0 && actions[i] < qs[1], "gather_actions: action ", actions[i],
              " at row ", i, " is outside [0, ", qs[1], ")");
  Node& n = push(Op::kGatherActions, Shape{qs[0]}, needs_grad(q), q);
  n.actions = actions;
  if constexpr (kFast<T>)
    gather_actions_forward_fast(n.data, nodes_[q.id].data, actions, qs[0], qs[1]);
  else
    gather_actions_forward_ref<T>(n.data, nodes_[q.id].data, actions, qs[0], qs[1]);
  return Value{static_cast<std::int32_t>(nodes_.size() - 1)};
}

template <class T>
Value BasicTape<T>::max_actions(Value q) {
  const Shape qs = node(q).shape;
  DQN_CHECK(qs.rank == 2 && qs[1] >= 1, "max_actions: q must be (N,A) with A >= 1, got ", qs.str());
  Node& n = push(Op::kMaxActions, Shape{qs[0]}, needs_grad(q), q);
  BasicTensor<std::int64_t>& argmax = argmax_[nodes_.size() - 1];
  argmax.resize_for_overwrite(Shape{qs[0]});
  if constexpr (kFast<T>)
    max_actions_fast(n.data, argmax.data(), nodes_[q.id].data, qs[0], qs[1]);
  else
    max_actions_ref<T>(n.data, argmax.data(), nodes_[q.id].data, qs[0], qs[1]);
  return Value{static_cast<std::int32_t>(nodes_.size() - 1)};
}

// ---------------------------------------------------------------- huber

template <class T>
Value BasicTape<T>::huber(Value pred, Value target, T delta) {
  const Shape ps = node(pred).shape;
  check_shape("huber", "target", ps, node(target).shape);
  DQN_CHECK(delta > T(0), "huber: delta must be > 0, got ", delta);
  Node& n = push(Op::kHuber, Shape{}, needs_grad(pred) || needs_grad(target), pred, target);
  n.scalar = delta;
  const T* p = nodes_[pred.id].data;
  const T* t = nodes_[target.id].data;
  if constexpr (kFast<T>)
    n.data[0] = huber_forward_fast(p, t, ps.numel(), delta);
  else
    n.data[0] = huber_forward_ref<T>(p, t, ps.numel(), delta);
  return Value{static_cast<std::int32_t>(nodes_.size() - 1)};
}

// ---------------------------------------------------------------- element-wise and reductions
// Small, cold ops (losses built from primitives, the dueling head): plain loops suffice.

template <class T>
Value BasicTape<T>::add(Value a, Value b) {
  const Shape as = node(a).shape;
  check_shape("add", "b", as, node(b).shape);
  Node& n = push(Op::kAdd, as, needs_grad(a) || needs_grad(b), a, b);
  const T *x = nodes_[a.id].data, *y = nodes_[b.id].data;
  for (std::int64_t i = 0; i < as.numel(); ++i) n.data[i] = x[i] + y[i];
  return Value{static_cast<std::int32_t>(nodes_.size() - 1)};
}

template <class T>
Value BasicTape<T>::sub(Value a, Value b) {
  const Shape as = node(a).shape;
  check_shape("sub", "b", as, node(b).shape);
  Node& n = push(Op::kSub, as, needs_grad(a) || needs_grad(b), a, b);
  const T *x = nodes_[a.id].data, *y = nodes_[b.id].data;
  for (std::int64_t i = 0; i < as.numel(); ++i) n.data[i] = x[i] - y[i];
  return Value{static_cast<std::int32_t>(nodes_.size() - 1)};
}

template <class T>
Value BasicTape<T>::mul(Value a, Value b) {
  const Shape as = node(a).shape;
  check_shape("mul", "b", as, node(b).shape);
  Node& n = push(Op::kMul, as, needs_grad(a) || needs_grad(b), a, b);
  const T *x = nodes_[a.id].data, *y = nodes_[b.id].data;
  for (std::int64_t i = 0; i < as.numel(); ++i) n.data[i] = x[i] * y[i];
  return Value{static_cast<std::int32_t>(nodes_.size() - 1)};
}

template <class T>
Value BasicTape<T>::scale(Value a, T s) {
  const Shape as = node(a).shape;
  Node& n = push(Op::kScale, as, needs_grad(a), a);
  n.scalar = s;
  const T* x = nodes_[a.id].data;
  for (std::int64_t i = 0; i < as.numel(); ++i) n.data[i] = s * x[i];
  return Value{static_cast<std::int32_t>(nodes_.size() - 1)};
}

template <class T>
Value BasicTape<T>::sum(Value a) {
  const Shape as = node(a).shape;
  Node& n = push(Op::kSum, Shape{}, needs_grad(a), a);
  if constexpr (kFast<T>)
    n.data[0] = sum_fast(nodes_[a.id].data, as.numel());
  else
    n.data[0] = sum_ref<T>(nodes_[a.id].data, as.numel());
  return Value{static_cast<std::int32_t>(nodes_.size() - 1)};
}

template <class T>
Value BasicTape<T>::mean(Value a) {
  const Shape as = node(a).shape;
  DQN_CHECK(as.numel() > 0, "mean: the input ", as.str(), " is empty");
  Node& n = push(Op::kMean, Shape{}, needs_grad(a), a);
  T total;
  if constexpr (kFast<T>)
    total = sum_fast(nodes_[a.id].data, as.numel());
  else
    total = sum_ref<T>(nodes_[a.id].data, as.numel());
  n.data[0] = total / static_cast<T>(as.numel());
  return Value{static_cast<std::int32_t>(nodes_.size() - 1)};
}

template <class T>
Value BasicTape<T>::row_mean(Value a) {
  const Shape as = node(a).shape;
  DQN_CHECK(as.rank == 2 && as[1] > 0, "row_mean: expected (N,A) with A > 0, got ", as.str());
  Node& n = push(Op::kRowMean, Shape{as[0], 1}, needs_grad(a), a);
  const T* x = nodes_[a.id].data;
  for (std::int64_t i = 0; i < as[0]; ++i) {
    T total = 0;
    for (std::int64_t j = 0; j < as[1]; ++j) total += x[i * as[1] + j];
    n.data[i] = total / static_cast<T>(as[1]);
  }
  return Value{static_cast<std::int32_t>(nodes_.size() - 1)};
}

template <class T>
Value BasicTape<T>::add_column(Value a, Value c) {
  const Shape as = node(a).shape;
  DQN_CHECK(as.rank == 2, "add_column: a must be (N,A), got ", as.str());
  check_shape("add_column", "c", Shape{as[0], 1}, node(c).shape);
  Node& n = push(Op::kAddColumn, as, needs_grad(a) || needs_grad(c), a, c);
  const T *x = nodes_[a.id].data, *col = nodes_[c.id].data;
  for (std::int64_t i = 0; i < as[0]; ++i)
    for (std::int64_t j = 0; j < as[1]; ++j) n.data[i * as[1] + j] = x[i * as[1] + j] + col[i];
  return Value{static_cast<std::int32_t>(nodes_.size() - 1)};
}

// ---------------------------------------------------------------- C51: softmaxes, atoms, loss

template <class T>
Value BasicTape<T>::log_softmax(Value x) {
  const Shape xs = node(x).shape;
  DQN_CHECK(xs.rank == 2 && xs[1] >= 1, "log_softmax: expected (R,K) with K >= 1, got ", xs.str());
  Node& n = push(Op::kLogSoftmax, xs, needs_grad(x), x);
  if constexpr (kFast<T>)
    log_softmax_forward_fast(n.data, nodes_[x.id].data, xs[0], xs[1]);
  else
    log_softmax_forward_ref<T>(n.data, nodes_[x.id].data, xs[0], xs[1]);
  return Value{static_cast<std::int32_t>(nodes_.size() - 1)};
}

template <class T>
Value BasicTape<T>::softmax(Value x) {
  const Shape xs = node(x).shape;
  DQN_CHECK(xs.rank == 2 && xs[1] >= 1, "softmax: expected (R,K) with K >= 1, got ", xs.str());
  Node& n = push(Op::kSoftmax, xs, needs_grad(x), x);
  if constexpr (kFast<T>)
    softmax_forward_fast(n.data, nodes_[x.id].data, xs[0], xs[1]);
  else
    softmax_forward_ref<T>(n.data, nodes_[x.id].data, xs[0], xs[1]);
  return Value{static_cast<std::int32_t>(nodes_.size() - 1)};
}

template <class T>
Value BasicTape<T>::gather_atoms(Value logits, const std::int64_t* actions, std::int64_t atoms) {
  const Shape ls = node(logits).shape;
  DQN_CHECK(atoms >= 1 && ls.rank == 2 && ls[1] % atoms == 0,
            "gather_atoms: logits must be (N, A*atoms) with atoms = ", atoms, ", got ", ls.str());
  const std::int64_t A = ls[1] / atoms;
  for (std::int64_t i = 0; i < ls[0]; ++i)
    DQN_CHECK(actions[i] >= 0 && actions[i] < A, "gather_atoms: action ", actions[i], " at row ", i,
              " is outside [0, ", A, ")");
  Node& n = push(Op::kGatherAtoms, Shape{ls[0], atoms}, needs_grad(logits), logits);
  n.actions = actions;
  n.atoms = atoms;
  const T* x = nodes_[logits.id].data;
  for (std::int64_t i = 0; i < ls[0]; ++i)
    for (std::int64_t k = 0; k < atoms; ++k)
      n.data[i * atoms + k] = x[i * ls[1] + actions[i] * atoms + k];
  return Value{static_cast<std::int32_t>(nodes_.size() - 1)};
}

template <class T>
Value BasicTape<T>::cross_entropy(Value logp, Value target) {
  const Shape ps = node(logp).shape;
  DQN_CHECK(ps.rank == 2, "cross_entropy: logp must be (N,K), got ", ps.str());
  check_shape("cross_entropy", "target", ps, node(target).shape);
  Node& n =
      push(Op::kCrossEntropy, Shape{ps[0]}, needs_grad(logp) || needs_grad(target), logp, target);
  cross_entropy_forward<T>(n.data, nodes_[logp.id].data, nodes_[target.id].data, ps[0], ps[1]);
  return Value{static_cast<std::int32_t>(nodes_.size() - 1)};
}

template <class T>
Value BasicTape<T>::dueling_atoms(Value v, Value adv) {
  const Shape vs = node(v).shape, as = node(adv).shape;
  DQN_CHECK(vs.rank == 2 && as.rank == 2 && vs[0] == as[0] && vs[1] >= 1 && as[1] % vs[1] == 0,
            "dueling_atoms: expected v (N,K) and adv (N,A*K), got v ", vs.str(), " and adv ",
            as.str());
  Node& n = push(Op::kDuelingAtoms, as, needs_grad(v) || needs_grad(adv), v, adv);
  const std::int64_t N = as[0], K = vs[1], A = as[1] / K;
  const T *x = nodes_[adv.id].data, *val = nodes_[v.id].data;
  for (std::int64_t i = 0; i < N; ++i)
    for (std::int64_t k = 0; k < K; ++k) {
      // The same float operations as the K = 1 head (row_mean, scale by -1, add_column twice).
      T total = 0;
      for (std::int64_t a = 0; a < A; ++a) total += x[i * A * K + a * K + k];
      const T mean = total / static_cast<T>(A);
      for (std::int64_t a = 0; a < A; ++a)
        n.data[i * A * K + a * K + k] = (x[i * A * K + a * K + k] + -mean) + val[i * K + k];
    }
  return Value{static_cast<std::int32_t>(nodes_.size() - 1)};
}

// ---------------------------------------------------------------- noisy linear (fused)
// Fortunato et al. 2018, factorised Gaussian noise: W = mu_w + sigma_w . (f_out f_in^T),
// b = mu_b + sigma_b . f_out, y = x W^T + b. W and b live in formed_[node] from forward to
// backward (dX needs W); the noise matrix itself is never stored.

template <class T>
Value BasicTape<T>::noisy_linear(Value x, Value w_mu, Value w_sigma, Value b_mu, Value b_sigma,
                                 View<const T> f_in, View<const T> f_out) {
  const Shape xs = node(x).shape, ws = node(w_mu).shape;
  DQN_CHECK(xs.rank == 2 && ws.rank == 2 && ws[1] == xs[1],
            "noisy_linear: x (N,C_in) and w_mu (C_out,C_in) must agree on C_in, got x ", xs.str(),
            " and w_mu ", ws.str());
  const std::int64_t N = xs[0], C_in = xs[1], C_out = ws[0];
  check_shape("noisy_linear", "w_sigma", ws, node(w_sigma).shape);
  check_shape("noisy_linear", "b_mu", Shape{C_out}, node(b_mu).shape);
  check_shape("noisy_linear", "b_sigma", Shape{C_out}, node(b_sigma).shape);
  check_shape("noisy_linear", "f_in", Shape{C_in}, f_in.shape);
  check_shape("noisy_linear", "f_out", Shape{C_out}, f_out.shape);
  const bool grad = needs_grad(x) || needs_grad(w_mu) || needs_grad(w_sigma) || needs_grad(b_mu) ||
                    needs_grad(b_sigma);
  Node& n = push(Op::kNoisyLinear, Shape{N, C_out}, grad, x, w_mu, w_sigma);
  n.d = b_mu;
  n.e = b_sigma;
  n.f_in = f_in.data;
  n.f_out = f_out.data;
  BasicTensor<T>& formed = formed_[nodes_.size() - 1];
  if (formed.numel() < C_out * C_in + C_out)
    formed.resize_for_overwrite(Shape{C_out * C_in + C_out});
  T* w = formed.data();
  T* b = w + C_out * C_in;
  const Node &X = nodes_[x.id], &M = nodes_[w_mu.id], &S = nodes_[w_sigma.id],
             &BM = nodes_[b_mu.id], &BS = nodes_[b_sigma.id];
  if constexpr (kFast<T>) {
    // W is kept only for backward's dX = dY W; without it (the target network's pass, or x
    // without a gradient) each GEMM tile forms the rows it reads and W never reaches memory.
    noisy_linear_forward_fast(n.data, n.requires_grad && X.requires_grad ? w : nullptr, b, X.data,
                              M.data, S.data, BM.data, BS.data, f_in.data, f_out.data, N, C_in,
                              C_out);
  } else {
    const T one = 1;  // the bias is a 1-column weight whose f_in is {1}: sigma * (f_out * 1) exact
    noisy_weight_ref<T>(w, M.data, S.data, f_in.data, f_out.data, C_out, C_in);
    noisy_weight_ref<T>(b, BM.data, BS.data, &one, f_out.data, C_out, 1);
    linear_forward_ref<T>(n.data, X.data, w, b, N, C_in, C_out);
  }
  return Value{static_cast<std::int32_t>(nodes_.size() - 1)};
}

// ---------------------------------------------------------------- backward

template <class T>
void BasicTape<T>::backward(Value loss) {
  backward(loss, {});
}

template <class T>
bool BasicTape<T>::take_fresh(const BasicVariable<T>* v) {
  // Every entry for v goes (a variable listed twice is still written once).
  bool found = false;
  for (std::size_t i = fresh_.size(); i-- > 0;)
    if (fresh_[i] == v) {
      fresh_[i] = fresh_.back();
      fresh_.pop_back();
      found = true;
    }
  return found;
}

template <class T>
T* BasicTape<T>::grad_acc(Node* x) {
  if (x == nullptr || !x->requires_grad) return nullptr;
  if (x->op == Op::kParam && deferred_ != nullptr && !deferred_->empty())
    form_deferred(x->variable);
  if (x->op == Op::kParam && !fresh_.empty() && take_fresh(x->variable)) x->variable->zero_grad();
  if (x->grad_unwritten) {
    x->grad_unwritten = false;
    if constexpr (kFast<T>)
      fill_fast(x->grad, T(0), x->shape.numel());
    else
      std::fill(x->grad, x->grad + x->shape.numel(), T(0));
  }
  return x->grad;
}

template <class T>
T* BasicTape<T>::grad_set(Node* x, bool* fresh) {
  *fresh = false;
  if (x == nullptr || !x->requires_grad) return nullptr;
  if (x->op == Op::kParam && deferred_ != nullptr && !deferred_->empty())
    form_deferred(x->variable);
  if (x->op == Op::kParam && !fresh_.empty()) *fresh = take_fresh(x->variable);
  if (x->grad_unwritten) {
    x->grad_unwritten = false;
    *fresh = true;
  }
  return x->grad;
}

template <class T>
void BasicTape<T>::backward(Value loss, const std::vector<BasicVariable<T>*>& set) {
  backward(loss, set, nullptr);
}

template <class T>
void BasicTape<T>::form_deferred(const BasicVariable<T>* v) {
  for (std::size_t i = 0; i < deferred_->size(); ++i) {
    const DeferredSigma<T> d = (*deferred_)[i];
    if (d.mu != v && d.sigma != v) continue;
    if constexpr (kFast<T>)
      noisy_sigma_grad_fast(d.sigma->grad.data(), d.mu->grad.data(), d.f_in, d.f_out, d.C_out,
                            d.C_in);
    else
      noisy_sigma_grad_ref<T>(d.sigma->grad.data(), d.mu->grad.data(), d.f_in, d.f_out, d.C_out,
                              d.C_in);
    deferred_->erase(deferred_->begin() + static_cast<std::ptrdiff_t>(i));
    return;
  }
}

template <class T>
void BasicTape<T>::backward(Value loss, const std::vector<BasicVariable<T>*>& set,
                            std::vector<DeferredSigma<T>>* deferred,
                            std::vector<SqNormParts>* norms) {
  if (deferred != nullptr) deferred->clear();
  deferred_ = deferred;
  norms_ = norms;
  fresh_.assign(set.begin(), set.end());
  const Node& l = node(loss);
  DQN_CHECK(!released_,
            "backward: the graph was already released by an earlier backward(); run "
            "the forward pass again (after reset()) before calling backward() once more");
  DQN_CHECK(l.shape.numel() == 1, "backward: needs a scalar loss, got shape ", l.shape.str(),
            "; reduce it first with mean() or sum()");
  DQN_CHECK(l.requires_grad,
            "backward: the loss does not depend on any parameter that requires "
            "a gradient (was it computed inside a NoGradScope, or from inputs only?)");
  // Gradient buffers: parameters accumulate into their own .grad; every other node that needs
  // one gets a buffer from the pool, marked unwritten rather than zero-filled. In the reverse
  // sweep a node's first writer (its last consumer) may then write it outright: relu and
  // conv2d's dX (zeroed sample by sample inside its chunk, just before col2im adds onto it) do,
  // with the same bits as adding onto zeros; every other writer gets it zero-filled (grad_acc).
  // On the Nature CNN this drops most of a 5.5 MB zero pass from every update.
  for (Node& n : nodes_) n.consumers = 0;
  for (const Node& n : nodes_)
    for (const Value in : {n.a, n.b, n.c, n.d, n.e})
      if (in.id >= 0) ++nodes_[in.id].consumers;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    Node& n = nodes_[i];
    if (!n.requires_grad) continue;
    if (n.op == Op::kParam) {
      n.grad = n.variable->grad.data();
    } else {
      grads_[i].resize_for_overwrite(n.shape);
      n.grad = grads_[i].data();
      n.grad_unwritten = true;
    }
  }
  grad_acc(&nodes_[loss.id])[0] += T(1);
  for (std::size_t i = nodes_.size(); i-- > 0;) {
    Node& n = nodes_[i];
    if (!n.requires_grad || n.op == Op::kParam) continue;
    grad_acc(&n);  // a node no consumer wrote (one the loss does not reach) has a zero gradient
    backward_node(n);
  }
  for (BasicVariable<T>* v : fresh_) v->zero_grad();  // set variables the loss does not reach
  fresh_.clear();
  deferred_ = nullptr;
  norms_ = nullptr;
  released_ = true;
}

template <class T>
void BasicTape<T>::backward_node(Node& n) {
  Node* A = n.a.id >= 0 ? &nodes_[n.a.id] : nullptr;
  Node* B = n.b.id >= 0 ? &nodes_[n.b.id] : nullptr;
  Node* C = n.c.id >= 0 ? &nodes_[n.c.id] : nullptr;
  auto grad_of = [this](Node* x) -> T* { return grad_acc(x); };
  const T* dout = n.grad;
  const std::int64_t numel = n.shape.numel();
  if (n.op != Op::kLinear && n.op != Op::kNoisyLinear && n.op != Op::kRelu && n.op != Op::kConv2d) {
    // The other ops only add into their inputs' buffers (some through A->grad directly): an
    // unwritten buffer or set variable among the inputs is zero-filled before they do, and a
    // deferred sigma formed. The four above ask for their buffers themselves.
    grad_acc(A);
    grad_acc(B);
    grad_acc(C);
  }

  switch (n.op) {
    case Op::kInput:
    case Op::kU8Input:
    case Op::kParam:
      return;
    case Op::kLinear: {
      // dX += dY W,  dW += dY^T X,  db += column sums of dY (the kernel accumulates all three).
      const std::int64_t N = A->shape[0], C_in = A->shape[1], C_out = B->shape[0];
      T* dx = grad_of(A);
      bool w_fresh = false, b_fresh = false;
      T* dw = grad_set(B, &w_fresh);
      T* db = grad_set(C, &b_fresh);
      if constexpr (kFast<T>) {
        // Both fresh (backward with a set): the GEMM writes dW and db outright, no zero pass.
        if (w_fresh && b_fresh) {
          if (bf16())
            linear_backward_bf16_fast(dx, dw, db, dout, A->data, B->data, N, C_in, C_out,
                                      /*accumulate_dw=*/false,
                                      workspace(linear_bf16_workspace_floats(N, C_in, C_out)),
                                      norm_parts(dw, C_out * C_in));
          else
            linear_backward_overwrite_fast(dx, dw, db, dout, A->data, B->data, N, C_in, C_out,
                                           norm_parts(dw, C_out * C_in));
          return;
        }
      }
      if (w_fresh) B->variable->zero_grad();  // otherwise accumulate onto zeros
      if (b_fresh) C->variable->zero_grad();
      if (dw == nullptr) {  // frozen weights (inputs, not params): only dX is needed
        if (dx == nullptr) return;
        if constexpr (kFast<T>) {
          if (bf16())
            linear_backward_bf16_fast(dx, nullptr, nullptr, dout, A->data, B->data, N, C_in, C_out,
                                      true,
                                      workspace(linear_bf16_workspace_floats(N, C_in, C_out)));
          else
            matmul_nn_fast(dx, dout, B->data, N, C_out, C_in, true);
        } else
          matmul_nn_ref<T>(dx, dout, B->data, N, C_out, C_in, true);
        DQN_CHECK(db == nullptr,
                  "linear: a bias that needs a gradient with a weight that does "
                  "not is not supported; make both parameters");
        return;
      }
      if constexpr (kFast<T>) {
        if (bf16())
          linear_backward_bf16_fast(dx, dw, db, dout, A->data, B->data, N, C_in, C_out, true,
                                    workspace(linear_bf16_workspace_floats(N, C_in, C_out)));
        else
          linear_backward_fast(dx, dw, db, dout, A->data, B->data, N, C_in, C_out);
      } else
        linear_backward_ref<T>(dx, dw, db, dout, A->data, B->data, N, C_in, C_out);
      return;
    }
    case Op::kConv2d: {
      const Conv2dShape s = conv_shape(n);
      T* dw = grad_of(B);
      DQN_CHECK(dw != nullptr, "conv2d: backward needs the weight to be a parameter (tape.param)");
      T* db = grad_of(C);
      bool dx_fresh = false;
      T* dx = grad_set(A, &dx_fresh);
      // x a fused conv2d + ReLU's output whose only consumer is this convolution: its gradient
      // is whole once written here, so the ReLU's backward is made where each sample's dx is
      // stored (DxWrite::kSetThroughRelu), and A's own backward skips the pass below. On the
      // Nature CNN that is layers 1 and 2 (layer 3 feeds the linear layer through flatten).
      const bool through_relu =
          kFast<T> && dx_fresh && A->op == Op::kConv2d && A->relu && A->consumers == 1;
      if (through_relu) A->relu_applied = true;
      const DxWrite dx_write = through_relu ? DxWrite::kSetThroughRelu
                               : dx_fresh   ? DxWrite::kSet
                                            : DxWrite::kAdd;
      if (n.relu && !n.relu_applied) {
        // The fused ReLU's backward, in place on this node's own gradient: dout = 0 + dout where
        // the output (relu(z), positive exactly where z is) is positive, else 0; the bits a
        // separate relu node's relu_backward_set would hand the convolution.
        T* g = n.grad;
        if constexpr (kFast<T>)
          relu_backward_set_fast(g, g, n.data, numel);
        else
          relu_backward_set_ref<T>(g, g, n.data, numel);
      }
      if constexpr (kFast<T>) {
        // x never converted: the forward read the frames (input_u8, which has no gradient).
        if (A->unconverted && dx == nullptr) {
          if (bf16() && conv2d_bf16_reads_u8(s)) {
            conv2d_backward_bf16_u8_fast(dw, db, dout, A->u8, A->scalar, B->data, s,
                                         workspace(conv2d_bf16_workspace_floats(s)));
            return;
          }
          if (!bf16() && conv2d_reads_u8(s)) {
            conv2d_backward_u8_fast(dw, db, dout, A->u8, A->scalar, s,
                                    workspace(conv2d_workspace_floats(s)));
            return;
          }
        }
      }
      settle(*A);
      if constexpr (kFast<T>) {
        if (bf16())
          conv2d_backward_bf16_fast(dx, dw, db, dout, A->data, B->data, s,
                                    workspace(conv2d_bf16_workspace_floats(s)), dx_write);
        else
          conv2d_backward_fast(dx, dw, db, dout, A->data, B->data, s,
                               workspace(conv2d_workspace_floats(s)), dx_write);
      } else {
        if (dx_fresh) std::fill(dx, dx + A->shape.numel(), T(0));
        conv2d_backward_ref<T>(dx, dw, db, dout, A->data, B->data, s);
      }
      return;
    }
    case Op::kRelu: {
      bool fresh = false;
      T* dx = grad_set(A, &fresh);
      if constexpr (kFast<T>) {
        if (fresh)
          relu_backward_set_fast(dx, dout, A->data, numel);
        else
          relu_backward_fast(dx, dout, A->data, numel);
      } else {
        if (fresh)
          relu_backward_set_ref<T>(dx, dout, A->data, numel);
        else
          relu_backward_ref<T>(dx, dout, A->data, numel);
      }
      return;
    }
    case Op::kFlatten:
      axpy<T>(A->grad, T(1), dout, numel);
      return;
    case Op::kGatherActions:
      if constexpr (kFast<T>)
        gather_actions_backward_fast(A->grad, dout, n.actions, A->shape[0], A->shape[1]);
      else
        gather_actions_backward_ref<T>(A->grad, dout, n.actions, A->shape[0], A->shape[1]);
      return;
    case Op::kMaxActions: {
      const std::int64_t* argmax = argmax_[&n - nodes_.data()].data();
      const std::int64_t actions = A->shape[1];
      for (std::int64_t i = 0; i < A->shape[0]; ++i) A->grad[i * actions + argmax[i]] += dout[i];
      return;
    }
    case Op::kHuber: {
      // d/dpred of mean(huber(pred - target)) is clamp(pred - target, -delta, delta) / n, and
      // d/dtarget is its negative, which is the same formula with the arguments swapped.
      const std::int64_t count = A->shape.numel();
      if (T* dp = grad_of(A)) {
        if constexpr (kFast<T>)
          huber_backward_fast(dp, A->data, B->data, count, n.scalar, dout[0]);
        else
          huber_backward_ref<T>(dp, A->data, B->data, count, n.scalar, dout[0]);
      }
      if (T* dt = grad_of(B)) {
        if constexpr (kFast<T>)
          huber_backward_fast(dt, B->data, A->data, count, n.scalar, dout[0]);
        else
          huber_backward_ref<T>(dt, B->data, A->data, count, n.scalar, dout[0]);
      }
      return;
    }
    case Op::kAdd:
      if (T* da = grad_of(A)) axpy<T>(da, T(1), dout, numel);
      if (T* db = grad_of(B)) axpy<T>(db, T(1), dout, numel);
      return;
    case Op::kSub:
      if (T* da = grad_of(A)) axpy<T>(da, T(1), dout, numel);
      if (T* db = grad_of(B)) axpy<T>(db, T(-1), dout, numel);
      return;
    case Op::kMul:
      if (T* da = grad_of(A))
        for (std::int64_t i = 0; i < numel; ++i) da[i] += dout[i] * B->data[i];
      if (T* db = grad_of(B))
        for (std::int64_t i = 0; i < numel; ++i) db[i] += dout[i] * A->data[i];
      return;
    case Op::kScale:
      axpy<T>(A->grad, n.scalar, dout, numel);
      return;
    case Op::kSum:
    case Op::kMean: {
      const std::int64_t count = A->shape.numel();
      const T g = n.op == Op::kSum ? dout[0] : dout[0] / static_cast<T>(count);
      for (std::int64_t i = 0; i < count; ++i) A->grad[i] += g;
      return;
    }
    case Op::kRowMean: {
      const std::int64_t rows = A->shape[0], cols = A->shape[1];
      for (std::int64_t i = 0; i < rows; ++i)
        for (std::int64_t j = 0; j < cols; ++j)
          A->grad[i * cols + j] += dout[i] / static_cast<T>(cols);
      return;
    }
    case Op::kAddColumn: {
      const std::int64_t rows = n.shape[0], cols = n.shape[1];
      if (T* da = grad_of(A)) axpy<T>(da, T(1), dout, numel);
      if (T* dc = grad_of(B))
        for (std::int64_t i = 0; i < rows; ++i)
          for (std::int64_t j = 0; j < cols; ++j) dc[i] += dout[i * cols + j];
      return;
    }
    case Op::kLogSoftmax:
      if constexpr (kFast<T>)
        log_softmax_backward_fast(A->grad, dout, n.data, n.shape[0], n.shape[1]);
      else
        log_softmax_backward_ref<T>(A->grad, dout, n.data, n.shape[0], n.shape[1]);
      return;
    case Op::kSoftmax:
      if constexpr (kFast<T>)
        softmax_backward_fast(A->grad, dout, n.data, n.shape[0], n.shape[1]);
      else
        softmax_backward_ref<T>(A->grad, dout, n.data, n.shape[0], n.shape[1]);
      return;
    case Op::kGatherAtoms: {
      const std::int64_t rows = n.shape[0], atoms = n.atoms, width = A->shape[1];
      for (std::int64_t i = 0; i < rows; ++i)
        for (std::int64_t k = 0; k < atoms; ++k)
          A->grad[i * width + n.actions[i] * atoms + k] += dout[i * atoms + k];
      return;
    }
    case Op::kCrossEntropy: {
      // d/dlogp[i,j] = -target[i,j] dout[i], d/dtarget[i,j] = -logp[i,j] dout[i].
      const std::int64_t rows = A->shape[0], K = A->shape[1];
      if (T* dp = grad_of(A))
        for (std::int64_t i = 0; i < rows; ++i)
          for (std::int64_t j = 0; j < K; ++j) dp[i * K + j] -= B->data[i * K + j] * dout[i];
      if (T* dt = grad_of(B))
        for (std::int64_t i = 0; i < rows; ++i)
          for (std::int64_t j = 0; j < K; ++j) dt[i * K + j] -= A->data[i * K + j] * dout[i];
      return;
    }
    case Op::kDuelingAtoms: {
      // out[i,a,k] = v[i,k] + adv[i,a,k] - mean_a' adv[i,a',k]:
      // dv[i,k] += sum_a dout[i,a,k],  dadv[i,a,k] += dout[i,a,k] - (1/A) sum_a' dout[i,a',k].
      const std::int64_t N = n.shape[0], K = A->shape[1], acts = n.shape[1] / K;
      T* dv = grad_of(A);
      T* dadv = grad_of(B);
      for (std::int64_t i = 0; i < N; ++i)
        for (std::int64_t k = 0; k < K; ++k) {
          T total = 0;
          for (std::int64_t a = 0; a < acts; ++a) total += dout[i * acts * K + a * K + k];
          if (dv) dv[i * K + k] += total;
          if (dadv)
            for (std::int64_t a = 0; a < acts; ++a)
              dadv[i * acts * K + a * K + k] +=
                  dout[i * acts * K + a * K + k] - total / static_cast<T>(acts);
        }
      return;
    }
    case Op::kNoisyLinear: {
      // dX += dY W (the formed W); dW = dY^T X and db = column sums of dY into scratch, then
      // dmu += dW, dsigma += dW . (f_out f_in^T) in one pass (and the same for the bias).
      const std::int64_t N = A->shape[0], C_in = A->shape[1], C_out = B->shape[0];
      const T* w = formed_[&n - nodes_.data()].data();
      Node* BM = &nodes_[n.d.id];
      Node* BS = &nodes_[n.e.id];
      T* dx = grad_of(A);
      Node* const params[4] = {B, C, BM, BS};
      bool fresh[4];
      T* dmu = grad_set(B, &fresh[0]);
      T* dsigma = grad_set(C, &fresh[1]);
      T* dbmu = grad_set(BM, &fresh[2]);
      T* dbsigma = grad_set(BS, &fresh[3]);
      const T one = 1;
      if constexpr (kFast<T>) {
        if (fresh[0] && fresh[1] && fresh[2] && fresh[3]) {
          // All four written outright (backward with a set): dmu = dW is the GEMM's own output,
          // and dsigma = dW . noise one pass over it. The general path below would zero dmu and
          // dsigma, write dW to scratch, then read dW, dmu, dsigma and write dmu, dsigma.
          linear_backward_overwrite_fast(dx, dmu, dbmu, dout, A->data, w, N, C_in, C_out);
          if (deferred_ != nullptr)
            deferred_->push_back({B->variable, C->variable, n.f_in, n.f_out, C_out, C_in});
          else
            noisy_sigma_grad_fast(dsigma, dmu, n.f_in, n.f_out, C_out, C_in);
          noisy_sigma_grad_fast(dbsigma, dbmu, &one, n.f_out, C_out, 1);
          return;
        }
      }
      for (int k = 0; k < 4; ++k)  // otherwise accumulate onto zeros
        if (fresh[k]) params[k]->variable->zero_grad();
      if (!dmu && !dsigma && !dbmu && !dbsigma) {  // constant weights: only dX
        if (dx == nullptr) return;
        if constexpr (kFast<T>)
          matmul_nn_fast(dx, dout, w, N, C_out, C_in, true);
        else
          matmul_nn_ref<T>(dx, dout, w, N, C_out, C_in, true);
        return;
      }
      T* dw = workspace(C_out * C_in + C_out);  // no other op's scratch is live here
      T* db = dw + C_out * C_in;
      if constexpr (kFast<T>) {
        linear_backward_overwrite_fast(dx, dw, db, dout, A->data, w, N, C_in, C_out);
        noisy_grad_fast(dmu, dsigma, dw, n.f_in, n.f_out, C_out, C_in);
        noisy_grad_fast(dbmu, dbsigma, db, &one, n.f_out, C_out, 1);
      } else {
        for (std::int64_t i = 0; i < C_out * C_in + C_out; ++i) dw[i] = T(0);
        linear_backward_ref<T>(dx, dw, db, dout, A->data, w, N, C_in, C_out);
        noisy_grad_ref<T>(dmu, dsigma, dw, n.f_in, n.f_out, C_out, C_in);
        noisy_grad_ref<T>(dbmu, dbsigma, db, &one, n.f_out, C_out, 1);
      }
      return;
    }
  }
  throw_error("tape: no backward for op ", op_name(n.op));
}

template class BasicTape<float>;
template class BasicTape<double>;

}  // namespace dqn
