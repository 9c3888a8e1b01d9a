// Tests for core/loss.hpp: Huber by hand, fast against ref, and the ref gradient against central
// differences away from the |d| = delta seam.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/elementwise.hpp"
#include "core/loss.hpp"
#include "core/parallel.hpp"
#include "tests/core/kernel_check.hpp"
#include "tests/fixtures.hpp"

using namespace dqn;
using namespace dqn::test;

TEST_CASE("huber loss and gradient by hand on both branches") {
  // d = 0.5 (quadratic: 0.125), d = -3 (linear, delta 1: 1 * (3 - 0.5) = 2.5); mean = 1.3125.
  const float pred[2] = {1.5f, -1.0f}, target[2] = {1.0f, 2.0f};
  CHECK(huber_forward_ref(pred, target, 2, 1.0f) == 1.3125f);
  CHECK(huber_forward_fast(pred, target, 2, 1.0f) == 1.3125f);
  // With delta 2 the second is 2 * (3 - 1) = 4; mean (0.125 + 4) / 2 = 2.0625.
  CHECK(huber_forward_fast(pred, target, 2, 2.0f) == 2.0625f);
  // Gradient: clamp(d, -1, 1) / n * dloss = {0.5, -1} / 2 * 3 = {0.75, -1.5}, accumulated on 1.
  float dpred_f[2] = {1.0f, 1.0f}, dpred_r[2] = {1.0f, 1.0f};
  huber_backward_fast(dpred_f, pred, target, 2, 1.0f, 3.0f);
  huber_backward_ref(dpred_r, pred, target, 2, 1.0f, 3.0f);
  CHECK(dpred_f[0] == 1.75f);
  CHECK(dpred_f[1] == -0.5f);
  CHECK(dpred_r[0] == 1.75f);
  CHECK(dpred_r[1] == -0.5f);
}

TEST_CASE("huber fast matches the reference on awkward sizes, 1 and 2 threads") {
  for (int threads : {1, 2}) {
    ThreadScope scope(threads);
    for (std::int64_t n : std::initializer_list<std::int64_t>{1, 7, 15, 16, 17, 37, 64, 2000,
                                                              2 * kElementwiseGrain + 3}) {
      CAPTURE(n);
      const auto pred = random_floats(n, 1, -3.0f, 3.0f), target = random_floats(n, 2);
      for (float delta : {1.0f, 0.5f}) {
        // Per-element losses are the same floats; only the summation order differs. The cascade
        // sum errs by at most ~40 u sum|l| (simd_sum.hpp) and the reference sums in double, so
        // 64 u relative to the mean of non-negative terms is a safe bound.
        const double ref = huber_forward_ref(pred.data(), target.data(), n, delta);
        const double fast = huber_forward_fast(pred.data(), target.data(), n, delta);
        CHECK(std::fabs(fast - ref) <= 64 * kUnitRoundoffF * std::fabs(ref));
        // The gradient is per element and uses the same operations: bitwise equal.
        auto d_f = random_floats(n, 3);
        auto d_r = d_f;
        huber_backward_fast(d_f.data(), pred.data(), target.data(), n, delta, 0.7f);
        huber_backward_ref(d_r.data(), pred.data(), target.data(), n, delta, 0.7f);
        CHECK(d_f == d_r);
      }
    }
  }
}

TEST_CASE("huber backward reference matches central differences in double, away from the seam") {
  // |pred - target| is kept at least 0.05 away from delta: the loss is C1 there but its second
  // derivative jumps, so a difference straddling the seam would be off by O(h). Both branches are
  // exercised (|d| in [0, 0.95] and [1.05, 3]).
  const std::int64_t n = 40;
  const double delta = 1.0;
  auto pred = random_doubles(n, 4);
  const auto target = random_doubles(n, 5);
  const auto mag = random_doubles(n, 6, 0.0, 1.0);
  for (std::int64_t i = 0; i < n; ++i) {
    const double d = i % 2 ? 0.95 * mag[i] : 1.05 + 1.95 * mag[i];
    pred[i] = target[i] + (mag[i] > 0.5 ? d : -d);
  }
  const double dloss = 1.7;
  auto loss = [&] { return dloss * huber_forward_ref(pred.data(), target.data(), n, delta); };
  std::vector<double> dpred(n, 0.0);
  huber_backward_ref(dpred.data(), pred.data(), target.data(), n, delta, dloss);
  check_gradient(loss, pred, dpred, "huber dpred");
}

TEST_CASE("huber matches PyTorch HuberLoss at delta 1 and 0.5, and SmoothL1Loss at delta 1") {
  const auto f = load_fixture("tests/fixtures/core_huber.txt");
  const auto &pred = f.at("pred").values, &target = f.at("target").values;
  const std::int64_t n = static_cast<std::int64_t>(pred.size());
  const auto pf = f.at("pred").as_float(), tf = f.at("target").as_float();
  for (const auto& [tag, delta] : {std::pair<std::string, double>{"d1", 1.0}, {"d05", 0.5}}) {
    CAPTURE(tag);
    const double want = f.at("loss_" + tag).values[0];
    // Double: 16 terms summed in a different order: 1e-14 relative.
    CHECK(huber_forward_ref(pred.data(), target.data(), n, delta) ==
          doctest::Approx(want).epsilon(1e-14));
    // Float: inputs rounded to float (relative 2^-24 on values of O(1), differences of O(1)):
    // 1e-6 relative on the mean is ~16 ulps.
    CHECK(huber_forward_fast(pf.data(), tf.data(), n, static_cast<float>(delta)) ==
          doctest::Approx(want).epsilon(1e-6));
    std::vector<double> dpred(n, 0.0);
    huber_backward_ref(dpred.data(), pred.data(), target.data(), n, delta, 1.0);
    std::vector<float> dpred_f(n, 0.0f);
    huber_backward_fast(dpred_f.data(), pf.data(), tf.data(), n, static_cast<float>(delta), 1.0f);
    const auto& want_d = f.at("dpred_" + tag).values;
    for (std::int64_t i = 0; i < n; ++i) {
      CHECK(std::fabs(dpred[i] - want_d[i]) <= 1e-16);  // one clamp and one multiply
      // |dpred| <= delta / n; float inputs shift d by ~2^-24 |pred|: 1e-7 absolute.
      CHECK(std::fabs(dpred_f[i] - want_d[i]) <= 1e-7);
    }
  }
  CHECK(huber_forward_ref(pred.data(), target.data(), n, 1.0) ==
        doctest::Approx(f.at("smooth_l1").values[0]).epsilon(1e-14));
}
