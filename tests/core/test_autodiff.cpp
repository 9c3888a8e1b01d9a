// Tests for core/autodiff.hpp: whole-graph gradients by central finite differences in double
// (TapeD runs the *_ref kernels), gradient accumulation, no-grad scopes, and misuse errors.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/autodiff.hpp"
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
