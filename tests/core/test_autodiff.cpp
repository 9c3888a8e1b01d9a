// Tests for core/autodiff.hpp: whole-graph gradients by central finite differences in double
// (TapeD runs the *_ref kernels), gradient accumulation, backward with a set of variables against
// zero_grad + backward, no-grad scopes, and misuse errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/autodiff.hpp"
#include "core/bf16.hpp"
#include "core/parallel.hpp"
#include "core/reduce.hpp"
#include "core/rng.hpp"
#include "tests/gradient_check.hpp"

using namespace dqn;

namespace {

using dqn::test::check_gradients;
using dqn::test::fill;

}  // namespace

TEST_CASE("an MLP with Huber loss on gathered Q-values has finite-difference gradients") {
  Rng rng(1);
  VariableD w1(Shape{5, 3}), b1(Shape{5}), w2(Shape{2, 5}), b2(Shape{2});
  for (auto* v : {&w1, &b1, &w2, &b2}) fill(*v, rng, -1, 1);
  TensorD x(Shape{4, 3}), target(Shape{4});
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = rng.uniform(-1.0, 1.0);
  // Targets far from the Q-values on some rows and near on others exercises both Huber
  // branches; finite differences stay away from the kink at |d| = delta because the differences
  // here are either < 0.6 or > 1.5 (checked below).
  for (std::int64_t i = 0; i < 4; ++i) target[i] = (i % 2) ? 3.0 : 0.1;
  const std::int64_t actions[] = {0, 1, 1, 0};
  auto loss = [&](TapeD& t) {
    Value h = t.relu(t.linear(t.input(x.view()), t.param(w1), t.param(b1)));
    Value q = t.linear(h, t.param(w2), t.param(b2));
    return t.huber(t.gather_actions(q, actions), t.input(target.view()), 1.0);
  };
  // ReLU kink: FD across x = 0 is wrong by design; make sure no pre-activation is that close.
  TapeD probe;
  const Value pre = probe.linear(probe.input(x.view()), probe.param(w1), probe.param(b1));
  for (std::int64_t i = 0; i < 20; ++i) REQUIRE(std::abs(probe.view(pre)[i]) > 1e-4);
  check_gradients(loss, {&w1, &b1, &w2, &b2}, 1e-6);
}

TEST_CASE("a small conv net (stride 2, padding 1) with flatten has finite-difference gradients") {
  Rng rng(2);
  VariableD w(Shape{3, 2, 3, 3}), b(Shape{3}), fw(Shape{2, 3 * 3 * 3}), fb(Shape{2});
  for (auto* v : {&w, &b, &fw, &fb}) fill(*v, rng, -0.5, 0.5);
  TensorD x(Shape{2, 2, 6, 6});
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = rng.uniform(-1.0, 1.0);
  auto loss = [&](TapeD& t) {
    Value h = t.relu(t.conv2d(t.input(x.view()), t.param(w), t.param(b), 2, 1));
    Value q = t.linear(t.flatten(h), t.param(fw), t.param(fb));
    return t.mean(t.mul(q, q));
  };
  check_gradients(loss, {&w, &b, &fw, &fb}, 1e-6);
}

TEST_CASE("the dueling combination and max over actions have finite-difference gradients") {
  Rng rng(3);
  VariableD a(Shape{3, 4}), v(Shape{3, 1});
  fill(a, rng, -1, 1);
  fill(v, rng, -1, 1);
  auto loss = [&](TapeD& t) {
    Value adv = t.param(a);
    Value centred = t.add_column(adv, t.scale(t.row_mean(adv), -1.0));
    Value q = t.add_column(centred, t.param(v));
    return t.sum(t.add(t.max_actions(q), t.scale(t.max_actions(t.sub(q, q)), 0.5)));
  };
  check_gradients(loss, {&a, &v}, 1e-6);
}

TEST_CASE("gradients accumulate across backward calls until zeroed") {
  Variable w(Shape{1, 1}), b(Shape{1});
  w.value[0] = 2.0f;
  Tensor x(Shape{1, 1});
  x[0] = 3.0f;
  Tape tape;
  for (int i = 0; i < 2; ++i) {
    tape.reset();
    tape.backward(tape.sum(tape.linear(tape.input(x.view()), tape.param(w), tape.param(b))));
  }
  CHECK(w.grad[0] == 6.0f);  // d(wx+b)/dw = x = 3, twice
  CHECK(b.grad[0] == 2.0f);
  w.zero_grad();
  CHECK(w.grad[0] == 0.0f);
}

namespace {

// Every op family whose backward touches a parameter's buffer: linear (both the written and the
// accumulating path), conv2d, a parameter used twice (a shared square weight), ops that add into
// a parameter directly (relu, scale, add), a noisy layer, and one listed variable the loss never
// reaches. Returns every variable's gradient bits after either zero_grad() + backward(loss) or
// backward(loss, set) on buffers pre-filled with NaN.
std::vector<std::uint32_t> set_or_zero_then_backward(bool use_set, int threads) {
  ThreadScope scope(threads);
  Rng rng(9);
  Variable cw(Shape{4, 2, 3, 3}), cb(Shape{4}), w(Shape{6, 36}), b(Shape{6}), sq(Shape{6, 6}),
      sqb(Shape{6}), p(Shape{3, 6}), mu(Shape{5, 6}), sigma(Shape{5, 6}), bmu(Shape{5}),
      bsigma(Shape{5}), unused(Shape{7}), outside(Shape{3, 6});
  std::vector<Variable*> all = {&cw, &cb,    &w,   &b,      &sq,     &sqb,    &p,
                                &mu, &sigma, &bmu, &bsigma, &unused, &outside};
  for (Variable* v : all)
    for (std::int64_t i = 0; i < v->value.numel(); ++i) v->value[i] = rng.uniform(-1.0f, 1.0f);
  Tensor x(Shape{3, 2, 6, 6}), f_in(Shape{6}), f_out(Shape{5});
  for (Tensor* t : {&x, &f_in, &f_out})
    for (std::int64_t i = 0; i < t->numel(); ++i) (*t)[i] = rng.uniform(-1.0f, 1.0f);
  std::vector<Variable*> set;
  for (Variable* v : all) {
    v->grad.fill(std::nanf(""));  // what the set must never read
    if (v != &outside) set.push_back(v);
  }
  outside.grad.fill(0.5f);  // not in the set: accumulates onto what is there
  Tape tape;
  const Value h =
      tape.relu(tape.conv2d(tape.input(x.view()), tape.param(cw), tape.param(cb), 2, 1));
  Value y = tape.linear(tape.flatten(h), tape.param(w), tape.param(b));
  y = tape.linear(tape.relu(y), tape.param(sq), tape.param(sqb));
  y = tape.linear(y, tape.param(sq), tape.param(sqb));  // the same weight a second time
  y = tape.add(y, tape.add(tape.scale(tape.relu(tape.param(p)), 0.5f), tape.param(outside)));
  y = tape.noisy_linear(y, tape.param(mu), tape.param(sigma), tape.param(bmu), tape.param(bsigma),
                        f_in.view(), f_out.view());
  const Value loss = tape.mean(tape.mul(y, y));
  if (use_set) {
    tape.backward(loss, set);
  } else {
    for (Variable* v : set) v->zero_grad();
    tape.backward(loss);
  }
  std::vector<std::uint32_t> bits;
  for (Variable* v : all)
    for (std::int64_t i = 0; i < v->grad.numel(); ++i) {
      std::uint32_t u;
      std::memcpy(&u, &v->grad[i], sizeof u);
      bits.push_back(u);
    }
  return bits;
}

}  // namespace

TEST_CASE("backward with a set equals zero_grad then backward, bit for bit, 1 and 2 threads") {
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    const auto expected = set_or_zero_then_backward(false, threads);
    const auto got = set_or_zero_then_backward(true, threads);
    REQUIRE(got.size() == expected.size());
    std::size_t differ = 0;
    for (std::size_t i = 0; i < got.size(); ++i) differ += got[i] != expected[i];
    CHECK(differ == 0);
    // The listed variable off the loss's path came back as zeros, not NaN (the tail of the list
    // before `outside`, whose 18 floats accumulated onto 0.5).
    for (std::size_t i = got.size() - 18 - 7; i < got.size() - 18; ++i) CHECK(got[i] == 0u);
  }
}

TEST_CASE("backward with norms hands a weight's SqNormParts to the linear op that writes it") {
  // The Nature CNN's head (dW streams): the op forms every block of the weight's norm but the
  // few straddling its pieces, and finish() is sqnorm_fast of the written gradient, at 1 and 2
  // threads, FP32 and bf16. A part reset for another buffer is left alone.
  for (int threads : {1, 2})
    for (Precision precision : {Precision::kFp32, Precision::kBf16}) {
      CAPTURE(threads);
      CAPTURE(precision == Precision::kBf16);
      ThreadScope scope(threads);
      Rng rng(10);
      Variable w(Shape{512, 3136}), b(Shape{512});
      for (std::int64_t i = 0; i < w.value.numel(); ++i) w.value[i] = rng.uniform(-0.02f, 0.02f);
      Tensor x(Shape{32, 3136}), elsewhere(Shape{512 * 3136});
      for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = rng.uniform(-1.0f, 1.0f);
      Tape tape;
      tape.set_precision(precision);
      const Value y = tape.linear(tape.input(x.view()), tape.param(w), tape.param(b));
      const Value loss = tape.mean(tape.mul(y, y));
      std::vector<SqNormParts> norms(2);
      norms[0].reset(w.grad.data(), w.grad.numel());
      norms[1].reset(elsewhere.data(), elsewhere.numel());
      tape.backward(loss, {&w, &b}, nullptr, &norms);
      // The bf16 op forms them where it runs VDPBF16PS (its FP32 fallback leaves them to finish()).
      if (precision == Precision::kFp32 || bf16_dot_available())
        CHECK(norms[0].formed() > norms[0].blocks() - 64);
      else
        CHECK(norms[0].formed() == 0);
      CHECK(norms[1].formed() == 0);
      const float got = norms[0].finish(), want = sqnorm_fast(w.grad.data(), w.grad.numel());
      CHECK(std::memcmp(&got, &want, sizeof got) == 0);
      CHECK(want > 0.0f);
    }
}

TEST_CASE("inside a NoGradScope values are computed but nothing can be differentiated") {
  Variable w(Shape{2, 2}), b(Shape{2});
  w.value[0] = 1.0f;
  Tensor x(Shape{1, 2});
  x[0] = 5.0f;
  Tape tape;
  Value y;
  {
    NoGradScope scope(tape);
    y = tape.sum(tape.linear(tape.input(x.view()), tape.param(w), tape.param(b)));
  }
  CHECK(tape.item(y) == 5.0f);
  CHECK(tape.grad_enabled());
  CHECK_THROWS_WITH_AS(tape.backward(y), doctest::Contains("NoGradScope"), Error);
}

TEST_CASE("misuse throws one error type saying what was expected and how to fix it") {
  Variable w(Shape{3, 2}), b(Shape{3});
  Tensor x(Shape{4, 5});
  Tape tape;
  // Shape mismatch names both shapes.
  CHECK_THROWS_WITH_AS(tape.linear(tape.input(x.view()), tape.param(w), tape.param(b)),
                       doctest::Contains("x (4,5) and w (3,2)"), Error);
  // Backward from a non-scalar.
  Tensor x2(Shape{4, 2});
  tape.reset();
  Value q = tape.linear(tape.input(x2.view()), tape.param(w), tape.param(b));
  CHECK_THROWS_WITH_AS(tape.backward(q), doctest::Contains("scalar loss, got shape (4,3)"), Error);
  // Twice through a released graph.
  Value loss = tape.mean(q);
  tape.backward(loss);
  CHECK_THROWS_WITH_AS(tape.backward(loss), doctest::Contains("already released"), Error);
  // A value from before reset().
  tape.reset();
  CHECK_THROWS_WITH_AS(tape.item(loss), doctest::Contains("reset()"), Error);
  // An action outside the Q-values.
  const std::int64_t bad[] = {0, 7, 0, 0};
  tape.reset();
  Value q2 = tape.linear(tape.input(x2.view()), tape.param(w), tape.param(b));
  CHECK_THROWS_WITH_AS(tape.gather_actions(q2, bad), doctest::Contains("action 7 at row 1"), Error);
}

namespace {

// A conv net whose activations fan out: z = conv(x) feeds relu and, later, a scaled copy; h =
// relu(z) feeds the linear layer and a second relu; one relu'd branch never reaches the loss.
// Node buffers are not zero-filled (backward marks them unwritten: a node's first writer may
// write it outright, the rest add), so the same tape reused on new data must give the bits of a
// fresh one, whatever its buffers held.
std::vector<float> fan_out_grads(Tape& tape, const Tensor& x, Variable& cw, Variable& cb,
                                 Variable& fw, Variable& fb) {
  for (Variable* v : {&cw, &cb, &fw, &fb}) v->zero_grad();
  tape.reset();
  const Value z = tape.conv2d(tape.input(x.view()), tape.param(cw), tape.param(cb), 1, 0);
  const Value h = tape.relu(z);
  const Value q = tape.linear(tape.flatten(h), tape.param(fw), tape.param(fb));
  tape.relu(tape.conv2d(h, tape.param(cw), tape.param(cb), 1, 0));  // off the loss's path
  const Value side = tape.mean(tape.mul(tape.relu(h), tape.scale(z, 0.5f)));
  tape.backward(tape.add(tape.mean(tape.mul(q, q)), side));
  std::vector<float> g;
  for (Variable* v : {&cw, &cb, &fw, &fb})
    g.insert(g.end(), v->grad.data(), v->grad.data() + v->grad.numel());
  return g;
}

}  // namespace

TEST_CASE(
    "a reused tape's gradients equal a fresh tape's bit for bit, with fan-out, 1 and 2 threads") {
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    ThreadScope scope(threads);
    Rng rng(11);
    Variable cw(Shape{4, 4, 3, 3}), cb(Shape{4}), fw(Shape{3, 4 * 7 * 7}), fb(Shape{3});
    for (Variable* v : {&cw, &cb, &fw, &fb})
      for (std::int64_t i = 0; i < v->value.numel(); ++i) v->value[i] = rng.uniform(-0.5f, 0.5f);
    Tensor x1(Shape{5, 4, 9, 9}), x2(Shape{5, 4, 9, 9});
    for (Tensor* t : {&x1, &x2})
      for (std::int64_t i = 0; i < t->numel(); ++i) (*t)[i] = rng.uniform(-1.0f, 1.0f);
    Tape reused, fresh;
    const auto first = fan_out_grads(reused, x1, cw, cb, fw, fb);
    const auto again = fan_out_grads(reused, x2, cw, cb, fw, fb);
    const auto expected = fan_out_grads(fresh, x2, cw, cb, fw, fb);
    REQUIRE(again.size() == expected.size());
    CHECK(std::memcmp(again.data(), expected.data(), again.size() * sizeof(float)) == 0);
    CHECK(first != again);  // the first run's buffers held other values
  }
}

TEST_CASE("a conv net whose activations fan out has finite-difference gradients") {
  // The same fan-out in double: the node written first by one consumer and added to by the
  // other, in both orders (z: relu first, scale later; h: linear first, relu later).
  Rng rng(12);
  VariableD cw(Shape{3, 2, 3, 3}), cb(Shape{3}), fw(Shape{2, 3 * 4 * 4}), fb(Shape{2});
  for (auto* v : {&cw, &cb, &fw, &fb}) fill(*v, rng, -0.5, 0.5);
  TensorD x(Shape{2, 2, 6, 6});
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = rng.uniform(-1.0, 1.0);
  auto loss = [&](TapeD& t) {
    const Value z = t.conv2d(t.input(x.view()), t.param(cw), t.param(cb), 1, 0);
    const Value h = t.relu(z);
    const Value q = t.linear(t.flatten(h), t.param(fw), t.param(fb));
    const Value side = t.mean(t.mul(t.relu(h), t.scale(z, 0.5)));
    return t.add(t.mean(t.mul(q, q)), side);
  };
  check_gradients(loss, {&cw, &cb, &fw, &fb}, 1e-6);
}

namespace {

// relu(conv2d(x)) as two ops or as conv2d(..., relu = true): the output and every parameter's
// gradient, and the input's (through a conv below it), as bits. The first layer's gradient is
// written through its ReLU by the second convolution (DxWrite::kSetThroughRelu) when it is the
// only consumer: pad2 0 takes the register tiles' dx, 1 the im2col path's (the bf16 fallback's).
// shared 1 or 2 adds a second consumer of the first layer's output (its mean, into the loss: a
// gradient the ReLU must still zero), which must arrive before the ReLU's backward is made:
// recorded before the second convolution (so the backward sweep reaches it after) or after it.
std::vector<float> conv_relu_run(bool fused, bool bf16, int threads, std::int64_t pad2,
                                 int shared) {
  ThreadScope scope(threads);
  Rng rng(13);
  const std::int64_t side2 = 4 + 2 * pad2;
  Variable c1w(Shape{6, 3, 3, 3}), c1b(Shape{6}), c2w(Shape{5, 6, 2, 2}), c2b(Shape{5}),
      fw(Shape{2, 5 * side2 * side2}), fb(Shape{2});
  for (Variable* v : {&c1w, &c1b, &c2w, &c2b, &fw, &fb}) {
    for (std::int64_t i = 0; i < v->value.numel(); ++i) v->value[i] = rng.uniform(-0.5f, 0.5f);
    v->zero_grad();
  }
  Tensor x(Shape{4, 3, 9, 9});
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = rng.uniform(-1.0f, 1.0f);
  Tape tape;
  if (bf16) tape.set_precision(Precision::kBf16);
  auto conv_relu = [&](Value in, Variable& w, Variable& b, std::int64_t stride, std::int64_t pad) {
    return fused ? tape.conv2d(in, tape.param(w), tape.param(b), stride, pad, true)
                 : tape.relu(tape.conv2d(in, tape.param(w), tape.param(b), stride, pad));
  };
  const Value h1 = conv_relu(tape.input(x.view()), c1w, c1b, 2, 1);  // 4x6x5x5, im2col
  Value extra;
  if (shared == 1) extra = tape.mean(h1);
  const Value h2 = conv_relu(h1, c2w, c2b, 1, pad2);  // 4x5xside2xside2
  if (shared == 2) extra = tape.mean(h1);
  const Value q = tape.linear(tape.flatten(h2), tape.param(fw), tape.param(fb));
  Value loss = tape.mean(tape.mul(q, q));
  if (shared != 0) loss = tape.add(loss, extra);
  tape.backward(loss);
  const ConstTensorView hv = tape.view(h2);
  std::vector<float> out(hv.data, hv.data + hv.shape.numel());
  for (Variable* v : {&c1w, &c1b, &c2w, &c2b, &fw, &fb})
    out.insert(out.end(), v->grad.data(), v->grad.data() + v->grad.numel());
  return out;
}

}  // namespace

TEST_CASE("conv2d with relu gives relu(conv2d)'s values and gradients bit for bit") {
  for (int threads : {1, 2})
    for (bool bf16 : {false, true})
      for (std::int64_t pad2 : {0, 1})
        for (int shared : {0, 1, 2}) {
          CAPTURE(threads);
          CAPTURE(bf16);
          CAPTURE(pad2);
          CAPTURE(shared);
          const auto two_ops = conv_relu_run(false, bf16, threads, pad2, shared);
          const auto fused = conv_relu_run(true, bf16, threads, pad2, shared);
          REQUIRE(two_ops.size() == fused.size());
          CHECK(std::memcmp(two_ops.data(), fused.data(), two_ops.size() * sizeof(float)) == 0);
        }
}

TEST_CASE("conv2d with relu has finite-difference gradients (stride 2 pad 1, then stride 1)") {
  Rng rng(14);
  VariableD c1w(Shape{3, 2, 3, 3}), c1b(Shape{3}), c2w(Shape{2, 3, 2, 2}), c2b(Shape{2});
  for (auto* v : {&c1w, &c1b, &c2w, &c2b}) fill(*v, rng, -0.5, 0.5);
  TensorD x(Shape{2, 2, 6, 6});
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = rng.uniform(-1.0, 1.0);
  auto loss = [&](TapeD& t) {
    const Value h = t.conv2d(t.input(x.view()), t.param(c1w), t.param(c1b), 2, 1, true);
    const Value y = t.conv2d(h, t.param(c2w), t.param(c2b), 1, 0, true);
    return t.mean(t.mul(y, y));
  };
  check_gradients(loss, {&c1w, &c1b, &c2w, &c2b}, 1e-6);
}
