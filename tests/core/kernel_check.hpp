// tests/core/kernel_check.hpp: shared helpers for holding a fast float kernel against its
// reference.
//
// The tolerance is the classic summation bound (Higham, "Accuracy and Stability of Numerical
// Algorithms", 2nd ed., eq. 3.5): a float dot product of K terms computed in any order is within
// K * u * sum|a_k b_k| of the exact value, u = 2^-24. So each test runs the *reference in double*
// twice, once on the inputs (the near-exact truth) and once on their absolute values (the bound's
// sum|a_k b_k| for every output element), and checks |fast - truth| <= 2 * K * u * bound. The
// factor 2 covers the rounding of the output itself and of the bias add; a real bug (a wrong
// index, a missing tail) is off by O(1) of the value and fails by orders of magnitude.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/conv2d.hpp"
#include "core/rng.hpp"

namespace dqn::test {

constexpr double kUnitRoundoffF = 1.0 / (1 << 24);  // 2^-24, half an ulp of 1.0f

// Element counts of a convolution's input, weight and output (core/conv2d.hpp's layouts).
inline std::int64_t x_size(const Conv2dShape& s) {
  return s.N * s.C_in * s.H * s.W;
}
inline std::int64_t w_size(const Conv2dShape& s) {
  return s.C_out * s.C_in * s.KH * s.KW;
}
inline std::int64_t out_size(const Conv2dShape& s) {
  return s.N * s.C_out * s.H_out() * s.W_out();
}

inline std::vector<float> random_floats(std::int64_t n, std::uint64_t seed, float lo = -1.0f,
                                        float hi = 1.0f) {
  Rng rng(seed);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = rng.uniform(lo, hi);
  return v;
}

inline std::vector<double> random_doubles(std::int64_t n, std::uint64_t seed, double lo = -1.0,
                                          double hi = 1.0) {
  Rng rng(seed);
  std::vector<double> v(static_cast<std::size_t>(n));
  for (double& x : v) x = rng.uniform(lo, hi);
  return v;
}

inline std::vector<double> to_double(const std::vector<float>& v) {
  return std::vector<double>(v.begin(), v.end());
}

inline std::vector<double> abs_of(const std::vector<double>& v) {
  std::vector<double> a(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) a[i] = std::fabs(v[i]);
  return a;
}

// Checks |got - truth| <= 2 * K * u * bound + 1e-30 elementwise (see the file comment) and
// reports the first violation with its index.
inline void check_within_bound(const std::vector<float>& got, const std::vector<double>& truth,
                               const std::vector<double>& bound, std::int64_t K,
                               const std::string& what) {
  REQUIRE(got.size() == truth.size());
  REQUIRE(got.size() == bound.size());
  std::int64_t bad = 0;
  std::size_t first = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double tol = 2.0 * static_cast<double>(K) * kUnitRoundoffF * bound[i] + 1e-30;
    if (!(std::fabs(static_cast<double>(got[i]) - truth[i]) <= tol)) {
      if (bad == 0) first = i;
      ++bad;
    }
  }
  INFO(what, ": ", bad, " of ", got.size(), " elements outside the bound; first at ", first,
       " got ", (bad ? got[first] : 0.0f), " expected ", (bad ? truth[first] : 0.0));
  CHECK(bad == 0);
}

// Checks an analytic gradient against central differences of the scalar loss() with respect to
// every element of p (each perturbed by +-h and restored). Central differences have error
// O(h^2 f''') plus roundoff ~ 1e-16 |loss| / h; for the piecewise-polynomial kernels here, kept
// away from kinks, the h^2 term is zero or tiny, so with h = 1e-5 in double the two agree to
// ~1e-9 and tol = 1e-6 (relative to max(1, |gradient|)) leaves a wide margin while any indexing
// bug is off by O(1).
template <class Loss>
void check_gradient(Loss&& loss, std::vector<double>& p, const std::vector<double>& analytic,
                    const std::string& what, double h = 1e-5, double tol = 1e-6) {
  REQUIRE(p.size() == analytic.size());
  std::int64_t bad = 0;
  std::size_t first = 0;
  double first_numeric = 0.0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const double saved = p[i];
    p[i] = saved + h;
    const double up = loss();
    p[i] = saved - h;
    const double down = loss();
    p[i] = saved;
    const double numeric = (up - down) / (2.0 * h);
    if (!(std::fabs(numeric - analytic[i]) <= tol * std::max(1.0, std::fabs(numeric)))) {
      if (bad == 0) {
        first = i;
        first_numeric = numeric;
      }
      ++bad;
    }
  }
  INFO(what, ": ", bad, " of ", p.size(), " gradient entries disagree; first at ", first,
       " analytic ", (bad ? analytic[first] : 0.0), " numeric ", first_numeric);
  CHECK(bad == 0);
}

// sum_i a[i] * b[i] in double: the scalar loss L = <out, g> whose gradient w.r.t. out is g.
inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

}  // namespace dqn::test
