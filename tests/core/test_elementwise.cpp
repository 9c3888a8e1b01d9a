// Tests for core/elementwise.hpp: every fast kernel against its reference on awkward sizes, with
// 1 and 2 threads, including in-place use.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/elementwise.hpp"
#include "core/parallel.hpp"
#include "tests/core/kernel_check.hpp"

using namespace dqn;
using namespace dqn::test;

namespace {
const std::int64_t kSizes[] = {1, 7, 15, 16, 17, 37, 1000, 2 * kElementwiseGrain + 37};
}

TEST_CASE("add, sub, mul and scale fast equal the reference bit for bit") {
  // One correctly rounded operation per element in both: no tolerance needed.
  for (int threads : {1, 2}) {
    ThreadScope scope(threads);
    for (std::int64_t n : kSizes) {
      CAPTURE(n);
      const auto a = random_floats(n, 1), b = random_floats(n, 2);
      std::vector<float> f(n), r(n);
      add_fast(f.data(), a.data(), b.data(), n);
      add_ref(r.data(), a.data(), b.data(), n);
      CHECK(f == r);
      sub_fast(f.data(), a.data(), b.data(), n);
      sub_ref(r.data(), a.data(), b.data(), n);
      CHECK(f == r);
      mul_fast(f.data(), a.data(), b.data(), n);
      mul_ref(r.data(), a.data(), b.data(), n);
      CHECK(f == r);
      scale_fast(f.data(), a.data(), 0.3f, n);
      scale_ref(r.data(), a.data(), 0.3f, n);
      CHECK(f == r);
      // In place: out == a.
      std::vector<float> in_place = a;
      add_fast(in_place.data(), in_place.data(), b.data(), n);
      add_ref(r.data(), a.data(), b.data(), n);
      CHECK(in_place == r);
    }
  }
}

TEST_CASE("axpy fast is within one rounding of the reference") {
  // axpy_fast fuses alpha*x + y (one rounding), the reference rounds twice: they may differ by
  // the product's rounding, at most u |alpha x| (plus u of the result); bound 2 u (|alpha x|+|y|).
  for (int threads : {1, 2}) {
    ThreadScope scope(threads);
    for (std::int64_t n : kSizes) {
      CAPTURE(n);
      const auto x = random_floats(n, 3), y0 = random_floats(n, 4);
      auto f = y0, r = y0;
      axpy_fast(f.data(), -0.7f, x.data(), n);
      axpy_ref(r.data(), -0.7f, x.data(), n);
      std::int64_t bad = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        const double bound = 2 * kUnitRoundoffF * (std::fabs(0.7 * x[i]) + std::fabs(y0[i]));
        if (!(std::fabs(static_cast<double>(f[i]) - r[i]) <= bound)) ++bad;
      }
      CHECK(bad == 0);
    }
  }
}

TEST_CASE("fill fast writes the value to every element, 1 and 2 threads") {
  for (int threads : {1, 2}) {
    ThreadScope scope(threads);
    for (std::int64_t n : kSizes) {
      CAPTURE(n);
      std::vector<float> f(n + 1, 7.0f), r(n + 1, 7.0f);
      fill_fast(f.data(), -0.5f, n);
      fill_ref(r.data(), -0.5f, n);
      CHECK(f == r);  // the element past the end stays 7 in both
    }
  }
}

TEST_CASE("u8_to_float fast equals the reference and maps 255 to 1 at scale 1/255") {
  for (int threads : {1, 2}) {
    ThreadScope scope(threads);
    for (std::int64_t n : kSizes) {
      CAPTURE(n);
      std::vector<std::uint8_t> x(n);
      for (std::int64_t i = 0; i < n; ++i) x[i] = static_cast<std::uint8_t>((i * 37 + 11) % 256);
      std::vector<float> f(n), r(n);
      u8_to_float_fast(f.data(), x.data(), 1.0f / 255.0f, n);
      u8_to_float_ref(r.data(), x.data(), 1.0f / 255.0f, n);
      CHECK(f == r);
    }
  }
  const std::uint8_t ends[2] = {0, 255};
  float out[2];
  u8_to_float_fast(out, ends, 1.0f / 255.0f, 2);
  CHECK(out[0] == 0.0f);
  CHECK(out[1] == doctest::Approx(1.0f).epsilon(1e-7));
}
