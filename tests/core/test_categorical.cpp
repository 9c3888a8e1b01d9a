// Tests for core/categorical.hpp and the C51 tape ops: softmax and log-softmax (fast against
// reference on awkward and real sizes, stability), the categorical projection (by hand, against
// each other, mass conservation), and finite-difference gradients of every new op in double.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/autodiff.hpp"
#include "core/categorical.hpp"
#include "core/rng.hpp"
#include "tests/core/kernel_check.hpp"
#include "tests/gradient_check.hpp"

using namespace dqn;
using dqn::test::kUnitRoundoffF;

namespace {

// Row shapes (R, K): K around every SIMD width (1, 8, 16 lanes) and its tails, and C51's 51.
const std::vector<std::pair<std::int64_t, std::int64_t>> kShapes = {
    {1, 1}, {3, 2}, {2, 7}, {5, 8}, {4, 9}, {3, 15}, {3, 16}, {2, 17}, {128, 51}, {2, 100}};

// Logits spread over [-30, 30] around a large offset: exp without the max subtraction would
// overflow float (exp(1000) = inf), so this also checks the stabilisation.
std::vector<float> logits(std::int64_t n, std::uint64_t seed, float offset) {
  std::vector<float> x = test::random_floats(n, seed, -30.0f, 30.0f);
  for (float& v : x) v += offset;
  return x;
}

// max_j |x_j - max x| of each row: exp's argument, whose own rounding (u |x - m|) is the
// largest error term of the float softmax.
std::vector<double> spread(const std::vector<float>& x, std::int64_t R, std::int64_t K) {
  std::vector<double> s(static_cast<std::size_t>(R * K));
  for (std::int64_t r = 0; r < R; ++r) {
    const float m = *std::max_element(x.begin() + r * K, x.begin() + (r + 1) * K);
    double worst = 0;
    for (std::int64_t j = 0; j < K; ++j) worst = std::max(worst, double(m) - x[r * K + j]);
    for (std::int64_t j = 0; j < K; ++j) s[r * K + j] = worst;
  }
  return s;
}

}  // namespace

TEST_CASE("log_softmax and softmax: fast equals the double reference to float rounding") {
  // Error budget per element: the shift x - m rounds once (u |x - m|), the float sum of K exps
  // each within an ulp (K u relative), log and exp once more. So log_softmax is within
  // (K + 2 + |x - m|_max) u * (1 + |truth|) and softmax within (K + 2 + |x - m|_max) u * truth,
  // doubled for margin; an indexing or tail bug is off by O(1).
  for (const float offset : {0.0f, 1000.0f, -1000.0f}) {
    for (const auto& shape : kShapes) {
      const std::int64_t R = shape.first, K = shape.second;
      CAPTURE(R);
      CAPTURE(K);
      CAPTURE(offset);
      const std::vector<float> x = logits(R * K, static_cast<std::uint64_t>(R * 100 + K), offset);
      const std::vector<double> xd = test::to_double(x), s = spread(x, R, K);
      std::vector<double> ls_ref(x.size()), sm_ref(x.size());
      log_softmax_forward_ref<double>(ls_ref.data(), xd.data(), R, K);
      softmax_forward_ref<double>(sm_ref.data(), xd.data(), R, K);
      std::vector<float> ls(x.size()), sm(x.size());
      log_softmax_forward_fast(ls.data(), x.data(), R, K);
      softmax_forward_fast(sm.data(), x.data(), R, K);
      int bad = 0;
      for (std::size_t i = 0; i < x.size(); ++i) {
        const double budget = 2.0 * (static_cast<double>(K) + 2.0 + s[i]) * kUnitRoundoffF;
        if (!(std::fabs(ls[i] - ls_ref[i]) <= budget * (1.0 + std::fabs(ls_ref[i])))) ++bad;
        if (!(std::fabs(sm[i] - sm_ref[i]) <= budget * sm_ref[i] + 1e-38)) ++bad;
        if (!std::isfinite(ls[i])) ++bad;
      }
      CHECK(bad == 0);
    }
  }
}

TEST_CASE("log_softmax stays finite where log(softmax) underflows, and rows of softmax sum to 1") {
  const float x[] = {0.0f, -200.0f, 5.0f, 5.0f};
  float ls[4], sm[4];
  log_softmax_forward_fast(ls, x, 2, 2);
  softmax_forward_fast(sm, x, 2, 2);
  // exp(-200) is 0 in float, so log(softmax) would give -inf; log_softmax gives -200.
  CHECK(sm[1] == 0.0f);
  CHECK(ls[0] == 0.0f);
  CHECK(ls[1] == -200.0f);
  CHECK(sm[2] == 0.5f);
  CHECK(sm[3] == 0.5f);
  CHECK(ls[2] == doctest::Approx(-std::log(2.0)).epsilon(1e-7));
  double lsd[4];
  const double xd[] = {0.0, -200.0, 5.0, 5.0};
  log_softmax_forward_ref<double>(lsd, xd, 2, 2);
  CHECK(lsd[1] == doctest::Approx(-200.0).epsilon(1e-15));
}

TEST_CASE("log_softmax and softmax backward: fast equals the double reference") {
  for (const auto& shape : kShapes) {
    const std::int64_t R = shape.first, K = shape.second;
    CAPTURE(R);
    CAPTURE(K);
    const std::vector<float> x = logits(R * K, static_cast<std::uint64_t>(K * 7 + R), 0.0f);
    const std::vector<float> g = test::random_floats(R * K, static_cast<std::uint64_t>(K + 3));
    std::vector<float> ls(x.size()), sm(x.size());
    log_softmax_forward_fast(ls.data(), x.data(), R, K);
    softmax_forward_fast(sm.data(), x.data(), R, K);
    const std::vector<double> lsd = test::to_double(ls), smd = test::to_double(sm),
                              gd = test::to_double(g);
    // Same forward outputs on both sides, so only the backward formulas' rounding differs:
    // a K-term sum (K u relative to sum |g| or sum |g p|) and a product; bound = sum|.| + |g|.
    std::vector<double> dl_ref(x.size(), 0.0), ds_ref(x.size(), 0.0);
    log_softmax_backward_ref<double>(dl_ref.data(), gd.data(), lsd.data(), R, K);
    softmax_backward_ref<double>(ds_ref.data(), gd.data(), smd.data(), R, K);
    std::vector<float> dl(x.size(), 0.0f), ds(x.size(), 0.0f);
    log_softmax_backward_fast(dl.data(), g.data(), ls.data(), R, K);
    softmax_backward_fast(ds.data(), g.data(), sm.data(), R, K);
    int bad = 0;
    for (std::int64_t r = 0; r < R; ++r) {
      double sum_g = 0;
      for (std::int64_t j = 0; j < K; ++j) sum_g += std::fabs(gd[r * K + j]);
      for (std::int64_t j = 0; j < K; ++j) {
        const std::size_t i = static_cast<std::size_t>(r * K + j);
        const double tol = 4.0 * (K + 2) * kUnitRoundoffF * (sum_g + std::fabs(gd[i]));
        if (!(std::fabs(dl[i] - dl_ref[i]) <= tol)) ++bad;
        if (!(std::fabs(ds[i] - ds_ref[i]) <= tol)) ++bad;
      }
    }
    CHECK(bad == 0);
  }
}

// ---------------------------------------------------------------- projection

namespace {

// Both variants on one row, in float (fast, ref) and double (ref), returned as double rows.
struct Projected {
  std::vector<double> ref_d, ref_f, fast;
};
Projected project(const std::vector<double>& p, double r, double discount, double terminal,
                  double v_min, double v_max) {
  const auto K = static_cast<std::int64_t>(p.size());
  Projected out{std::vector<double>(p.size()), {}, {}};
  categorical_projection_ref<double>(out.ref_d.data(), p.data(), &r, &discount, &terminal, 1, K,
                                     v_min, v_max);
  const std::vector<float> pf(p.begin(), p.end());
  const float rf = static_cast<float>(r), df = static_cast<float>(discount),
              tf = static_cast<float>(terminal);
  std::vector<float> a(p.size()), b(p.size());
  categorical_projection_ref<float>(a.data(), pf.data(), &rf, &df, &tf, 1, K,
                                    static_cast<float>(v_min), static_cast<float>(v_max));
  categorical_projection_fast(b.data(), pf.data(), &rf, &df, &tf, 1, K, static_cast<float>(v_min),
                              static_cast<float>(v_max));
  out.ref_f.assign(a.begin(), a.end());
  out.fast.assign(b.begin(), b.end());
  return out;
}

void check_row(const Projected& got, const std::vector<double>& expected, const char* what) {
  INFO(what);
  for (std::size_t k = 0; k < expected.size(); ++k) {
    CAPTURE(k);
    CHECK(got.ref_d[k] == doctest::Approx(expected[k]).epsilon(1e-12).scale(1.0));
    CHECK(got.ref_f[k] == doctest::Approx(expected[k]).epsilon(1e-6).scale(1.0));
    CHECK(got.fast[k] == doctest::Approx(expected[k]).epsilon(1e-6).scale(1.0));
  }
}

}  // namespace

TEST_CASE("the categorical projection on hand-worked examples (support -2..2, dz = 1)") {
  // z = (-2, -1, 0, 1, 2); p = (0.1, 0.2, 0.3, 0.2, 0.2).
  const std::vector<double> p = {0.1, 0.2, 0.3, 0.2, 0.2};

  // r = 0.5, discount 0.5: Tz = (-0.5, 0, 0.5, 1, 1.5), b = Tz + 2 = (1.5, 2, 2.5, 3, 3.5).
  //   b 1.5 -> 0.05 to atoms 1 and 2;  b 2 (l == u) -> 0.2 to atom 2;  b 2.5 -> 0.15 to 2 and 3;
  //   b 3 (l == u) -> 0.2 to atom 3;  b 3.5 -> 0.1 to atoms 3 and 4.
  check_row(project(p, 0.5, 0.5, 0.0, -2, 2), {0, 0.05, 0.4, 0.45, 0.1}, "interior, two exact");

  // Terminal: every atom collapses onto r = 0.7, b = 2.7: 0.3 to atom 2, 0.7 to atom 3.
  check_row(project(p, 0.7, 0.99, 1.0, -2, 2), {0, 0, 0.3, 0.7, 0}, "terminal between atoms");

  // Terminal with r on an atom (b = 3 exactly): the l == u trap. Algorithm 1 as printed would
  // give both shares 0 and return a row of zeros.
  check_row(project(p, 1.0, 0.99, 1.0, -2, 2), {0, 0, 0, 1, 0}, "terminal on an atom");

  // r = 1.5, discount 1: Tz = (-0.5, 0.5, 1.5, 2.5, 3.5), the last two clipped to v_max = 2:
  //   b 1.5 -> 0.05 to 1 and 2;  b 2.5 -> 0.1 to 2 and 3;  b 3.5 -> 0.15 to 3 and 4;
  //   b 4 (clipped, l == u) -> 0.2 + 0.2 to atom 4.
  check_row(project(p, 1.5, 1.0, 0.0, -2, 2), {0, 0.05, 0.15, 0.25, 0.55}, "clipped at v_max");

  // Far outside the support on either side: everything on the end atom.
  check_row(project(p, 5.0, 0.9, 0.0, -2, 2), {0, 0, 0, 0, 1}, "all above v_max");
  check_row(project(p, -10.0, 0.9, 0.0, -2, 2), {1, 0, 0, 0, 0}, "all below v_min");
}

TEST_CASE("the C51 support [-10, 10] with 51 atoms: a terminal reward of 1 lands on atoms 27, 28") {
  // b = (1 + 10) / 0.4 = 27.5: half the mass on each neighbour (z_27 = 0.8, z_28 = 1.2).
  std::vector<double> p(51, 1.0 / 51.0);
  const Projected got = project(p, 1.0, 0.99, 1.0, -10, 10);
  std::vector<double> expected(51, 0.0);
  expected[27] = expected[28] = 0.5;
  check_row(got, expected, "terminal r = 1");
  CHECK(categorical_atom<float>(27, 51, -10, 10) == doctest::Approx(0.8));
  CHECK(categorical_atom<float>(50, 51, -10, 10) == 10.0f);
}

TEST_CASE("the projection: fast equals reference, and mass is conserved, on random batches") {
  // Rewards on a grid of dz / 4 (so many b_j are whole numbers: the l == u case), terminals, and
  // supports whose float dz is inexact. Tolerance: each m_k sums at most K products p_j w_j
  // whose weights differ between the two forms by an ulp or two; 4 K u bounds that.
  for (const std::int64_t K : {2, 3, 8, 17, 51, 101}) {
    for (const auto& support :
         {std::pair{-10.0f, 10.0f}, std::pair{0.0f, 100.0f}, std::pair{-3.3f, 7.1f}}) {
      const float v_min = support.first, v_max = support.second;
      CAPTURE(K);
      CAPTURE(v_min);
      const std::int64_t N = 37;
      Rng rng(static_cast<std::uint64_t>(K));
      std::vector<float> p(static_cast<std::size_t>(N * K)), r(N), d(N), t(N);
      const float dz = (v_max - v_min) / static_cast<float>(K - 1);
      for (std::int64_t i = 0; i < N; ++i) {
        float total = 0;
        for (std::int64_t j = 0; j < K; ++j) total += p[i * K + j] = rng.uniform(0.0f, 1.0f);
        for (std::int64_t j = 0; j < K; ++j) p[i * K + j] /= total;
        r[i] = i % 3 == 0 ? v_min + dz * static_cast<float>(rng.uniform_int(-8, 4 * K + 8)) / 4.0f
                          : rng.uniform(v_min - 5.0f, v_max + 5.0f);
        d[i] = i % 4 == 0 ? 1.0f : rng.uniform(0.5f, 1.0f);
        t[i] = i % 5 == 0 ? 1.0f : 0.0f;
      }
      std::vector<float> ref(p.size()), fast(p.size());
      categorical_projection_ref<float>(ref.data(), p.data(), r.data(), d.data(), t.data(), N, K,
                                        v_min, v_max);
      categorical_projection_fast(fast.data(), p.data(), r.data(), d.data(), t.data(), N, K, v_min,
                                  v_max);
      int bad = 0, lost = 0;
      for (std::int64_t i = 0; i < N; ++i) {
        double sum_ref = 0, sum_fast = 0;
        for (std::int64_t k = 0; k < K; ++k) {
          const std::size_t e = static_cast<std::size_t>(i * K + k);
          if (!(std::fabs(ref[e] - fast[e]) <= 4.0 * K * kUnitRoundoffF)) ++bad;
          if (ref[e] < 0 || fast[e] < 0) ++bad;
          sum_ref += ref[e];
          sum_fast += fast[e];
        }
        if (std::fabs(sum_ref - 1.0) > 4.0 * K * kUnitRoundoffF) ++lost;
        if (std::fabs(sum_fast - 1.0) > 4.0 * K * kUnitRoundoffF) ++lost;
      }
      CHECK(bad == 0);
      CHECK(lost == 0);
    }
  }
}

// ---------------------------------------------------------------- tape ops, gradients

namespace {

using dqn::test::check_gradients;
using dqn::test::fill;

}  // namespace

TEST_CASE("softmax and log_softmax ops have finite-difference gradients") {
  Rng rng(31);
  VariableD x(Shape{3, 5}), c(Shape{3, 5});
  fill(x, rng, -3, 3);
  fill(c, rng, -1, 1);
  // Weighted sums, so every output element carries its own upstream gradient.
  check_gradients([&](TapeD& t) { return t.sum(t.mul(t.softmax(t.param(x)), t.param(c))); },
                  {&x, &c});
  check_gradients([&](TapeD& t) { return t.sum(t.mul(t.log_softmax(t.param(x)), t.param(c))); },
                  {&x, &c});
}

TEST_CASE(
    "the C51 loss graph (dueling per atom, gather, log_softmax, cross-entropy) has "
    "finite-difference gradients") {
  // N = 3 samples, A = 2 actions, K = 4 atoms; the target distribution is itself a softmax of a
  // parameter so the cross-entropy's gradient with respect to its target is checked too, and
  // per-sample weights as prioritized replay applies them.
  Rng rng(32);
  VariableD v(Shape{3, 4}), adv(Shape{3, 8}), target_logits(Shape{3, 4}), w(Shape{3});
  fill(v, rng, -1, 1);
  fill(adv, rng, -2, 2);
  fill(target_logits, rng, -1, 1);
  fill(w, rng, 0.2, 1);
  const std::int64_t actions[] = {1, 0, 1};
  auto loss = [&](TapeD& t) {
    const Value logits = t.dueling_atoms(t.param(v), t.param(adv));
    const Value logp = t.log_softmax(t.gather_atoms(logits, actions, 4));
    const Value ce = t.cross_entropy(logp, t.softmax(t.param(target_logits)));
    return t.mean(t.mul(ce, t.param(w)));
  };
  check_gradients(loss, {&v, &adv, &target_logits, &w});
}

TEST_CASE("gather_atoms, dueling_atoms and cross_entropy compute what they say") {
  Tape tape;
  // logits (2, 2 actions x 3 atoms)
  Tensor x(Shape{2, 6});
  for (std::int64_t i = 0; i < 12; ++i) x[i] = static_cast<float>(i);
  const std::int64_t actions[] = {1, 0};
  const auto g = tape.view(tape.gather_atoms(tape.input(x.view()), actions, 3));
  CHECK(g.shape == Shape{2, 3});
  const float expected[] = {3, 4, 5, 6, 7, 8};
  for (int i = 0; i < 6; ++i) CHECK(g[i] == expected[i]);

  // v (1, 2 atoms), adv (1, 3 actions x 2 atoms): mean over actions per atom is (2, 20).
  Tensor v(Shape{1, 2}), a(Shape{1, 6});
  v[0] = 100;
  v[1] = 200;
  const float adv[] = {1, 10, 2, 20, 3, 30};
  for (int i = 0; i < 6; ++i) a[i] = adv[i];
  const auto d = tape.view(tape.dueling_atoms(tape.input(v.view()), tape.input(a.view())));
  const float duel[] = {99, 190, 100, 200, 101, 210};
  for (int i = 0; i < 6; ++i) CHECK(d[i] == duel[i]);

  Tensor lp(Shape{1, 2}), m(Shape{1, 2});
  lp[0] = -1;
  lp[1] = -3;
  m[0] = 0.25f;
  m[1] = 0.75f;
  CHECK(tape.view(tape.cross_entropy(tape.input(lp.view()), tape.input(m.view())))[0] == 2.5f);

  const std::int64_t bad[] = {2, 0};
  CHECK_THROWS_WITH_AS(tape.gather_atoms(tape.input(x.view()), bad, 3),
                       doctest::Contains("action 2 at row 0"), Error);
  CHECK_THROWS_WITH_AS(tape.gather_atoms(tape.input(x.view()), actions, 4),
                       doctest::Contains("(N, A*atoms)"), Error);
}
