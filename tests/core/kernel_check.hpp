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
#include <cstring>
#include <string>
#include <vector>

#include "core/conv2d.hpp"
#include "core/elementwise.hpp"
#include "core/parallel.hpp"
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

// Frames-in-place convolutions (the first layer of a pixel net reading uint8 frames) hold
// their outputs to the same kernel on the frames' float conversion, bit for bit. For shape s:
// random frames (every value 0-255), weights, bias and output gradient, then
// check(frames, xf, w, b, dout, scale, relu) with xf = u8_to_float_fast(frames, scale), for
// scale 1/255 (the Nature CNN's) and 0.37 (so that no product is exact), with and without
// the fused ReLU, at 1 and 2 threads.
template <class Check>
void for_each_frames_case(const Conv2dShape& s, std::uint64_t seed, Check&& check) {
  CAPTURE(s.N);
  CAPTURE(s.C_in);
  CAPTURE(s.W);
  CAPTURE(s.C_out);
  Rng rng(seed);
  std::vector<std::uint8_t> frames(static_cast<std::size_t>(x_size(s)));
  for (auto& v : frames) v = static_cast<std::uint8_t>(rng.below(256));
  const auto w = random_floats(w_size(s), seed + 1), b = random_floats(s.C_out, seed + 2);
  const auto dout = random_floats(out_size(s), seed + 3);
  for (const float scale : {1.0f / 255.0f, 0.37f})
    for (const bool relu : {false, true})
      for (int threads : {1, 2}) {
        ThreadScope scope(threads);
        CAPTURE(scale);
        CAPTURE(relu);
        CAPTURE(threads);
        std::vector<float> xf(frames.size());
        u8_to_float_fast(xf.data(), frames.data(), scale, x_size(s));
        check(frames, xf, w, b, dout, scale, relu);
      }
}

// Shapes for them: a single element, odd channel counts and batches, widths with a partial
// vector, and the Nature CNN's first layer at batch 32.
inline const Conv2dShape kFrameShapes[] = {
    {1, 1, 1, 1, 1, 1, 1, 1, 0},    {3, 5, 11, 9, 37, 3, 2, 2, 0},   {5, 4, 20, 20, 7, 8, 8, 4, 0},
    {4, 3, 17, 19, 17, 4, 4, 3, 0}, {32, 4, 84, 84, 32, 8, 8, 4, 0},
};

inline bool bits_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
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
