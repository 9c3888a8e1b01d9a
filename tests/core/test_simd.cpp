// Tests for core/simd.hpp's partial-vector steps: load_first reads only the first n lanes (the
// rest come back 0) and store_first writes only them, for every n from 0 to a full vector; and
// exp_nonpositive against exp in double; the 16x16 transpose and the ReLU select.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/simd.hpp"

using dqn::simd::VecF;

TEST_CASE("simd load_first and store_first touch exactly the first n lanes") {
  constexpr int L = VecF::kLanes;
  for (int n = 0; n <= L; ++n) {
    CAPTURE(n);
    std::vector<float> src(L), dst(2 * L, -1.0f);
    for (int i = 0; i < L; ++i) src[i] = static_cast<float>(i + 1);
    // Loaded lanes past n are 0: storing the whole vector shows them.
    VecF::load_first(src.data(), n).store(dst.data());
    for (int i = 0; i < L; ++i) CHECK(dst[i] == (i < n ? src[i] : 0.0f));
    // A partial store leaves everything from lane n on as it was.
    std::vector<float> out(2 * L, -1.0f);
    VecF::load(src.data()).store_first(out.data(), n);
    for (int i = 0; i < 2 * L; ++i) CHECK(out[i] == (i < n ? src[i] : -1.0f));
  }
}

TEST_CASE("simd exp_nonpositive is within 2 ulp of exp from -87.3 to 0, and 0 from -87.3 down") {
  // Every 2^-10 step of (-87.3, 0] (covering every reduction interval n), 0 exactly, tiny
  // arguments near 0 where exp(x) ~ 1 + x, and the two sides of ln2 / 2 where n changes.
  constexpr int L = VecF::kLanes;
  std::vector<float> xs;
  for (double x = -87.29; x <= 0.0; x += 1.0 / 1024) xs.push_back(static_cast<float>(x));
  for (float x : {0.0f, -0.0f, -1e-30f, -1e-7f, -87.29f, -0.34657359f, -0.34657360f})
    xs.push_back(x);
  double worst_ulps = 0;
  for (std::size_t i = 0; i < xs.size(); i += L) {
    const int n = static_cast<int>(std::min<std::size_t>(L, xs.size() - i));
    float out[L];
    dqn::simd::exp_nonpositive(VecF::load_first(xs.data() + i, n)).store_first(out, n);
    for (int k = 0; k < n; ++k) {
      const double truth = std::exp(static_cast<double>(xs[i + k]));
      // One ulp of a float near truth: 2^(exponent - 23).
      const double ulp = std::ldexp(1.0, std::ilogb(truth) - 23);
      worst_ulps = std::max(worst_ulps, std::fabs(out[k] - truth) / ulp);
    }
  }
  MESSAGE("exp_nonpositive: worst error ", worst_ulps, " ulp over ", xs.size(), " arguments");
  CHECK(worst_ulps <= 2.0);
  float out[L];
  dqn::simd::exp_nonpositive(VecF::set1(0.0f)).store(out);
  CHECK(out[0] == 1.0f);  // exactly: the softmax's largest term
  dqn::simd::exp_nonpositive(VecF::set1(-200.0f)).store(out);
  CHECK(out[0] == 0.0f);  // std::exp underflows to 0 in float here too
  dqn::simd::exp_nonpositive(VecF::set1(-87.3f)).store(out);
  CHECK(out[0] == 0.0f);  // the documented cut (exp is 1.2e-38 there, below any softmax's use)
}

#if defined(DQN_HAVE_TRANSPOSE16)
TEST_CASE("simd transpose16 moves r[i] lane j to r[j] lane i; relu_select keeps NaN and -0") {
  VecF r[16];
  float in[16][16], out[16][16];
  for (int i = 0; i < 16; ++i) {
    for (int j = 0; j < 16; ++j) in[i][j] = static_cast<float>(100 * i + j);
    r[i] = VecF::load(in[i]);
  }
  dqn::simd::transpose16(r);
  for (int i = 0; i < 16; ++i) r[i].store(out[i]);
  int wrong = 0;
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) wrong += out[j][i] != in[i][j];
  CHECK(wrong == 0);

  float x[16] = {-1.0f, -0.0f, 0.0f, 1.0f, -1e-30f, std::nanf(""), -INFINITY, INFINITY};
  float y[16];
  dqn::simd::relu_select(VecF::load(x)).store(y);
  for (int i = 0; i < 16; ++i) {
    const float want = x[i] < 0.0f ? 0.0f : x[i];  // relu_forward_ref's rule
    CHECK(std::memcmp(&y[i], &want, sizeof want) == 0);
  }
}
#endif
