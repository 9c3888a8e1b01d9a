// Tests for nn/optim.hpp against values worked by hand: Adam's first step and the global
// gradient-norm clipping.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "nn/optim.hpp"

using namespace dqn;

TEST_CASE("Adam's first step moves each parameter by lr against its gradient's sign") {
  // Step 1, lr 0.1, betas (0.9, 0.999), eps 1e-8, by hand:
  //   m = 0.1 g, v = 0.001 g^2; m_hat = m / (1 - 0.9) = g; v_hat = v / (1 - 0.999) = g^2
  //   update = -lr * m_hat / (sqrt(v_hat) + eps) = -0.1 * g / (|g| + 1e-8)
  // so g = 0.5 moves 1.0 to 0.9 and g = -2 moves -1.0 to -0.9 (up to eps / |g| ~ 1e-8).
  Variable w(Shape{2});
  w.value[0] = 1.0f;
  w.value[1] = -1.0f;
  w.grad[0] = 0.5f;
  w.grad[1] = -2.0f;
  Adam adam({{"w", &w}}, AdamHyper{.lr = 0.1});
  adam.step();
  CHECK(adam.steps() == 1);
  CHECK(w.value[0] == doctest::Approx(0.9).epsilon(1e-6));
  CHECK(w.value[1] == doctest::Approx(-0.9).epsilon(1e-6));
  CHECK(adam.first_moments()[0][0] == doctest::Approx(0.05).epsilon(1e-6));
  CHECK(adam.second_moments()[0][1] == doctest::Approx(0.004).epsilon(1e-5));  // 0.001 * 4

  // Step 2 with the same gradient: m = 0.9*0.05 + 0.1*0.5 = 0.095, m_hat = 0.095/0.19 = 0.5;
  // v = 0.999*0.00025 + 0.001*0.25 = 0.00049975, v_hat = 0.00049975/0.001999 = 0.25:
  // the update is again -0.1 * 0.5 / 0.5 = -0.1.
  adam.step();
  CHECK(w.value[0] == doctest::Approx(0.8).epsilon(1e-5));
}

TEST_CASE("clip_grad_norm scales all gradients together to max_norm and returns the norm") {
  // Gradients (3, 4) and (12): global norm sqrt(9 + 16 + 144) = 13.
  Variable a(Shape{2}), b(Shape{1});
  a.grad[0] = 3.0f;
  a.grad[1] = 4.0f;
  b.grad[0] = 12.0f;
  const std::vector<NamedVariable> params{{"a", &a}, {"b", &b}};
  CHECK(clip_grad_norm(params, 6.5f) == doctest::Approx(13.0));
  // coef = 6.5 / (13 + 1e-6): every gradient halves, the direction is kept.
  CHECK(a.grad[0] == doctest::Approx(1.5).epsilon(1e-6));
  CHECK(a.grad[1] == doctest::Approx(2.0).epsilon(1e-6));
  CHECK(b.grad[0] == doctest::Approx(6.0).epsilon(1e-6));
  CHECK(grad_sq_norm(params) == doctest::Approx(42.25).epsilon(1e-5));  // 6.5^2
}

TEST_CASE("clip_grad_norm leaves gradients below max_norm bit for bit") {
  Variable a(Shape{2});
  a.grad[0] = 3.0f;
  a.grad[1] = 4.0f;
  CHECK(clip_grad_norm({{"a", &a}}, 10.0f) == doctest::Approx(5.0));
  CHECK(a.grad[0] == 3.0f);
  CHECK(a.grad[1] == 4.0f);
  CHECK_THROWS_AS(clip_grad_norm({{"a", &a}}, 0.0f), Error);
}
