// Tests for the losses of nn/optim.hpp: Huber on both sides of delta and MSE (built from tape
// primitives), values and gradients worked by hand.
#include <doctest/doctest.h>

#include "nn/optim.hpp"

using namespace dqn;

TEST_CASE("Huber is quadratic inside delta and linear outside, with mean reduction") {
  // d = pred - target = (0.5, -3): huber = (0.5 * 0.25, 3 - 0.5) = (0.125, 2.5), mean 1.3125.
  Variable pred(Shape{2});
  pred.value[0] = 1.5f;
  pred.value[1] = -1.0f;
  Tensor target(Shape{2});
  target[0] = 1.0f;
  target[1] = 2.0f;
  Tape tape;
  const Value loss = huber_loss(tape, tape.param(pred), tape.input(target.view()), 1.0f);
  CHECK(tape.item(loss) == doctest::Approx(1.3125f));
  tape.backward(loss);
  // d/dpred = clamp(d, -1, 1) / n = (0.5 / 2, -1 / 2).
  CHECK(pred.grad[0] == doctest::Approx(0.25f));
  CHECK(pred.grad[1] == doctest::Approx(-0.5f));
}

TEST_CASE("MSE built from primitives has the hand-computed value and gradient") {
  // d = (0.5, -3): mean(d^2) = (0.25 + 9) / 2 = 4.625; d/dpred = 2 d / n = (0.5, -3).
  Variable pred(Shape{2});
  pred.value[0] = 1.5f;
  pred.value[1] = -1.0f;
  Tensor target(Shape{2});
  target[0] = 1.0f;
  target[1] = 2.0f;
  Tape tape;
  const Value loss = mse_loss(tape, tape.param(pred), tape.input(target.view()));
  CHECK(tape.item(loss) == doctest::Approx(4.625f));
  tape.backward(loss);
  CHECK(pred.grad[0] == doctest::Approx(0.5f));
  CHECK(pred.grad[1] == doctest::Approx(-3.0f));
}
