// Tests for core/adam.hpp: the first step by hand, fast = ref bit for bit over several steps (and
// on a scaled gradient), and the bias correction against the textbook formula in double.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/adam.hpp"
#include "core/elementwise.hpp"
#include "core/parallel.hpp"
#include "tests/core/kernel_check.hpp"
#include "tests/fixtures.hpp"

using namespace dqn;
using namespace dqn::test;

TEST_CASE("adam first step from zero moments moves each parameter by -lr sign(g), up to eps") {
  // Step 1: m = 0.1 g, v = 0.001 g^2, bias_c1 = 0.1, bias_c2 = 0.001, so
  // denom = |g| + eps and the update is -lr g / (|g| + eps) = -lr sign(g) (1 - eps/|g|).
  // With lr = 0.01: 1 -> 0.99 for g = 0.5, 1 -> 1.01 for g = -2, unchanged for g = 0.
  AdamHyper h;
  h.lr = 0.01;
  for (int fast = 0; fast < 2; ++fast) {
    float param[3] = {1.0f, 1.0f, 1.0f}, m[3] = {0, 0, 0}, v[3] = {0, 0, 0};
    const float grad[3] = {0.5f, -2.0f, 0.0f};
    if (fast)
      adam_step_fast(param, m, v, grad, 3, h, 1);
    else
      adam_step_ref(param, m, v, grad, 3, h, 1);
    CAPTURE(fast);
    // eps/|g| = 2e-8 is below float resolution at 0.01, so the float results are the rounded
    // hand values (one ulp of slack for the chain of roundings).
    CHECK(param[0] == doctest::Approx(0.99f).epsilon(1.2e-7));
    CHECK(param[1] == doctest::Approx(1.01f).epsilon(1.2e-7));
    CHECK(param[2] == 1.0f);
    CHECK(m[0] == doctest::Approx(0.05f).epsilon(1.2e-7));
    CHECK(v[1] == doctest::Approx(0.004f).epsilon(2.4e-7));
  }
}

TEST_CASE("adam fast equals the reference bit for bit over 5 steps on awkward sizes") {
  // Both evaluate the same operations in the same order with one rounding each (the header's
  // recipe), so equality is exact, including the scalar tail and across threads.
  for (int threads : {1, 2}) {
    ThreadScope scope(threads);
    for (std::int64_t n : std::initializer_list<std::int64_t>{1, 7, 15, 16, 17, 37, 1000,
                                                              2 * kElementwiseGrain + 37}) {
      CAPTURE(n);
      auto p_f = random_floats(n, 1), m_f = std::vector<float>(n, 0.0f), v_f = m_f;
      auto p_r = p_f, m_r = m_f, v_r = v_f;
      AdamHyper h;
      h.lr = 2.3e-3;
      for (std::int64_t step = 1; step <= 5; ++step) {
        const auto g = random_floats(n, 100 + step);
        adam_step_fast(p_f.data(), m_f.data(), v_f.data(), g.data(), n, h, step);
        adam_step_ref(p_r.data(), m_r.data(), v_r.data(), g.data(), n, h, step);
      }
      CHECK(p_f == p_r);
      CHECK(m_f == m_r);
      CHECK(v_f == v_r);
    }
  }
}

TEST_CASE(
    "adam on a scaled gradient equals scaling it, then the reference, and leaves it as it was") {
  // adam_step_scaled_fast forms scale * g as it reads g: the product scale_ref writes, one
  // rounding, so the result is exact against the two-pass version, tails and threads included.
  // Scales: a clipping coefficient, one that rounds every product, and 1 (exact).
  for (int threads : {1, 2}) {
    ThreadScope scope(threads);
    for (std::int64_t n :
         std::initializer_list<std::int64_t>{1, 17, 1000, 2 * kElementwiseGrain + 37}) {
      for (float scale : {0.37f, 1.0f / 3.0f, 1.0f}) {
        CAPTURE(threads);
        CAPTURE(n);
        CAPTURE(scale);
        auto p_f = random_floats(n, 2), m_f = std::vector<float>(n, 0.0f), v_f = m_f;
        auto p_r = p_f, m_r = m_f, v_r = v_f;
        AdamHyper h;
        h.lr = 2.3e-3;
        for (std::int64_t step = 1; step <= 3; ++step) {
          const auto g = random_floats(n, 200 + step);
          auto g_fast = g, g_scaled = g;
          adam_step_scaled_fast(p_f.data(), m_f.data(), v_f.data(), g_fast.data(), scale, n, h,
                                step);
          CHECK(g_fast == g);  // not written back
          scale_ref(g_scaled.data(), g_scaled.data(), scale, n);
          adam_step_ref(p_r.data(), m_r.data(), v_r.data(), g_scaled.data(), n, h, step);
        }
        CHECK(p_f == p_r);
        CHECK(m_f == m_r);
        CHECK(v_f == v_r);
      }
    }
  }
}

TEST_CASE("adam reference in double follows the bias-corrected update of Kingma and Ba") {
  // Textbook form: m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t),
  // p -= lr m_hat / (sqrt(v_hat) + eps); algebraically equal to the PyTorch arrangement.
  const std::int64_t n = 9;
  AdamHyper h;
  h.lr = 0.05;
  h.eps = 1e-3;  // large enough that putting eps in the wrong place would show
  auto p = random_doubles(n, 1), m = std::vector<double>(n, 0.0), v = m;
  auto p_book = p, m_book = m, v_book = v;
  for (std::int64_t t = 1; t <= 7; ++t) {
    const auto g = random_doubles(n, 10 + t);
    adam_step_ref(p.data(), m.data(), v.data(), g.data(), n, h, t);
    for (std::int64_t i = 0; i < n; ++i) {
      m_book[i] = h.beta1 * m_book[i] + (1 - h.beta1) * g[i];
      v_book[i] = h.beta2 * v_book[i] + (1 - h.beta2) * g[i] * g[i];
      const double m_hat = m_book[i] / (1 - std::pow(h.beta1, t));
      const double v_hat = v_book[i] / (1 - std::pow(h.beta2, t));
      p_book[i] -= h.lr * m_hat / (std::sqrt(v_hat) + h.eps);
    }
  }
  for (std::int64_t i = 0; i < n; ++i) CHECK(p[i] == doctest::Approx(p_book[i]).epsilon(1e-12));
}

TEST_CASE("adam matches PyTorch torch.optim.Adam in float32 over 3 steps, bit for bit") {
  // The fixture ran torch.optim.Adam(lr=1e-2) (single-tensor path) on 37 float32 parameters: two
  // AVX-512 vectors and a 5-element tail, with one zero gradient. Same operations, same
  // roundings (adam.hpp), so the parameters must agree exactly after every step.
  const auto f = load_fixture("tests/fixtures/core_adam.txt");
  auto p_fast = f.at("param0").as_float();
  const std::int64_t n = static_cast<std::int64_t>(p_fast.size());
  auto p_ref = p_fast;
  std::vector<float> m_fast(n, 0.0f), v_fast(n, 0.0f), m_ref(n, 0.0f), v_ref(n, 0.0f);
  AdamHyper h;
  h.lr = 1e-2;
  for (int step = 1; step <= 3; ++step) {
    CAPTURE(step);
    const auto g = f.at("grad" + std::to_string(step)).as_float();
    adam_step_fast(p_fast.data(), m_fast.data(), v_fast.data(), g.data(), n, h, step);
    adam_step_ref(p_ref.data(), m_ref.data(), v_ref.data(), g.data(), n, h, step);
    const auto want = f.at("param" + std::to_string(step)).as_float();
    std::int64_t bad_fast = 0, bad_ref = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      bad_fast += p_fast[i] != want[i];
      bad_ref += p_ref[i] != want[i];
    }
    CHECK(bad_fast == 0);
    CHECK(bad_ref == 0);
  }
}
