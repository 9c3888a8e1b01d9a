// Tests for core/activation.hpp: ReLU fast = ref bit for bit, the zero-gradient-at-zero rule, and
// the ref backward against central differences.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <vector>

#include "core/activation.hpp"
#include "core/elementwise.hpp"
#include "core/parallel.hpp"
#include "tests/core/kernel_check.hpp"
#include "tests/fixtures.hpp"

using namespace dqn;
using namespace dqn::test;

TEST_CASE("relu fast forward and backward equal the reference exactly on awkward sizes") {
  // A select is exact, so equality is bitwise; the sizes straddle the vector width and the
  // thread grain (2 kElementwiseGrain + 37 splits over 2 threads).
  for (int threads : {1, 2}) {
    ThreadScope scope(threads);
    for (std::int64_t n : std::initializer_list<std::int64_t>{1, 7, 15, 16, 17, 37, 64 * 256,
                                                              2 * kElementwiseGrain + 37}) {
      CAPTURE(n);
      auto x = random_floats(n, 1);
      x[0] = 0.0f;  // exactly zero must behave like the reference (output 0, gradient 0)
      const auto dout = random_floats(n, 2);
      std::vector<float> out_f(n), out_r(n);
      relu_forward_fast(out_f.data(), x.data(), n);
      relu_forward_ref(out_r.data(), x.data(), n);
      CHECK(out_f == out_r);
      auto dx_f = random_floats(n, 3);
      auto dx_r = dx_f;
      relu_backward_fast(dx_f.data(), dout.data(), x.data(), n);
      relu_backward_ref(dx_r.data(), dout.data(), x.data(), n);
      CHECK(dx_f == dx_r);
    }
  }
}

TEST_CASE("relu gradient is exactly 0 at x = 0, as PyTorch") {
  const float x[3] = {0.0f, -0.0f, 1e-30f};
  const float dout[3] = {5.0f, 5.0f, 5.0f};
  float dx_f[3] = {0, 0, 0}, dx_r[3] = {0, 0, 0};
  relu_backward_fast(dx_f, dout, x, 3);
  relu_backward_ref(dx_r, dout, x, 3);
  CHECK(dx_f[0] == 0.0f);
  CHECK(dx_f[1] == 0.0f);
  CHECK(dx_f[2] == 5.0f);  // the smallest positive input already passes the gradient
  CHECK(dx_r[0] == 0.0f);
  CHECK(dx_r[1] == 0.0f);
  CHECK(dx_r[2] == 5.0f);
}

TEST_CASE("relu backward reference matches central differences in double, away from the kink") {
  // Inputs are kept at |x| >= 0.1 so that x +- h (h = 1e-5) never crosses 0, where ReLU has no
  // derivative and a central difference would average the two sides.
  const std::int64_t n = 50;
  auto x = random_doubles(n, 7, 0.1, 1.0);
  const auto sign = random_doubles(n, 8);
  for (std::int64_t i = 0; i < n; ++i)
    if (sign[i] < 0) x[i] = -x[i];
  const auto g = random_doubles(n, 9);
  std::vector<double> out(n);
  auto loss = [&] {
    relu_forward_ref(out.data(), x.data(), n);
    return dot(out, g);
  };
  std::vector<double> dx(n, 0.0);
  relu_backward_ref(dx.data(), g.data(), x.data(), n);
  check_gradient(loss, x, dx, "relu dx");
}

TEST_CASE("relu matches PyTorch torch.relu and its gradient, zeros included") {
  // Selects and one addition onto zero: exact, in double and in float (inputs rounded to float
  // and back compare against the rounded expectation).
  const auto f = load_fixture("tests/fixtures/core_relu.txt");
  const auto &x = f.at("x").values, &g = f.at("dout").values;
  const std::int64_t n = static_cast<std::int64_t>(x.size());
  std::vector<double> out(n), dx(n, 0.0);
  relu_forward_ref(out.data(), x.data(), n);
  relu_backward_ref(dx.data(), g.data(), x.data(), n);
  CHECK(out == f.at("out").values);
  CHECK(dx == f.at("dx").values);
  const auto xf = f.at("x").as_float(), gf = f.at("dout").as_float();
  std::vector<float> out_f(n), dx_f(n, 0.0f);
  relu_forward_fast(out_f.data(), xf.data(), n);
  relu_backward_fast(dx_f.data(), gf.data(), xf.data(), n);
  CHECK(out_f == f.at("out").as_float());
  CHECK(dx_f == f.at("dx").as_float());
  std::int64_t zeros = 0;
  for (std::int64_t i = 0; i < n; ++i)
    if (x[i] == 0.0) {
      ++zeros;
      CHECK(dx_f[i] == 0.0f);
    }
  CHECK(zeros == 4);
}

TEST_CASE("relu keeps NaN as NaN in both variants, as torch.relu, so divergence stays visible") {
  constexpr std::int64_t n = 37;  // a vector body and a scalar tail
  std::vector<float> x(n, -1.0f), out_fast(n), out_ref(n);
  x[3] = std::nanf("");      // inside a vector
  x[n - 1] = std::nanf("");  // in the tail
  relu_forward_fast(out_fast.data(), x.data(), n);
  relu_forward_ref(out_ref.data(), x.data(), n);
  CHECK(std::isnan(out_fast[3]));
  CHECK(std::isnan(out_fast[n - 1]));
  CHECK(std::isnan(out_ref[3]));
  CHECK(out_fast[0] == 0.0f);
}

TEST_CASE("relu_backward_set writes the bits relu_backward adds onto zeros, -0 and NaN included") {
  for (int threads : {1, 2}) {
    ThreadScope scope(threads);
    for (std::int64_t n :
         std::initializer_list<std::int64_t>{1, 17, 64 * 256 + 5, 2 * kElementwiseGrain + 37}) {
      CAPTURE(n);
      auto x = random_floats(n, 4);
      auto dout = random_floats(n, 5);
      x[0] = 0.0f;
      dout[0] = -0.0f;  // under x = 0: the gradient is +0
      if (n > 3) {
        x[1] = 1.0f;
        dout[1] = -0.0f;  // 0 + -0 = +0, as accumulating onto a zeroed buffer gives
        x[2] = 2.0f;
        dout[2] = std::nanf("");
        x[3] = -1.0f;
        dout[3] = std::nanf("");  // dropped by the select
      }
      std::vector<float> added(n, 0.0f), added_ref(n, 0.0f);
      relu_backward_fast(added.data(), dout.data(), x.data(), n);
      relu_backward_ref(added_ref.data(), dout.data(), x.data(), n);
      std::vector<float> set(n, std::nanf("")), set_ref(n, std::nanf(""));
      relu_backward_set_fast(set.data(), dout.data(), x.data(), n);
      relu_backward_set_ref(set_ref.data(), dout.data(), x.data(), n);
      for (const auto* v : {&added_ref, &set, &set_ref})
        CHECK(std::memcmp(v->data(), added.data(), n * sizeof(float)) == 0);
    }
  }
}
