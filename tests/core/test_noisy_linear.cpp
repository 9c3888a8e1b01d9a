// Tests for the fused noisy linear op (core/noisy_linear.hpp, BasicTape::noisy_linear):
// the two weight-sized kernels fast == ref bit for bit on awkward and real sizes at 1 and 2
// threads; the op's gradients by central differences in double; the float op against the double
// reference within the summation bound; the float op equal, bit for bit, to the composed graph
// linear(x, add(mu, mul(sigma, eps_w)), ...) it replaces; and the same bits at 1 and 2 threads.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/adam.hpp"
#include "core/autodiff.hpp"
#include "core/elementwise.hpp"
#include "core/linear.hpp"
#include "core/noisy_linear.hpp"
#include "core/parallel.hpp"
#include "core/reduce.hpp"
#include "kernel_check.hpp"
#include "tests/gradient_check.hpp"

using namespace dqn;
using dqn::test::random_floats;

namespace {

// f(eps) = sgn(eps) sqrt|eps| of a normal draw, as NoisyLinear draws its noise.
std::vector<float> noise(std::int64_t n, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) {
    const double e = rng.normal();
    x = static_cast<float>(e < 0 ? -std::sqrt(-e) : std::sqrt(e));
  }
  return v;
}

void check_kernels_bitwise(std::int64_t C_out, std::int64_t C_in) {
  CAPTURE(C_out);
  CAPTURE(C_in);
  const std::int64_t n = C_out * C_in;
  const auto mu = random_floats(n, 1), sigma = random_floats(n, 2), dw = random_floats(n, 3);
  const auto f_in = noise(C_in, 4), f_out = noise(C_out, 5);
  std::vector<float> w_fast(n), w_ref(n);
  noisy_weight_fast(w_fast.data(), mu.data(), sigma.data(), f_in.data(), f_out.data(), C_out, C_in);
  noisy_weight_ref<float>(w_ref.data(), mu.data(), sigma.data(), f_in.data(), f_out.data(), C_out,
                          C_in);
  CHECK(w_fast == w_ref);
  // Accumulating onto non-zero gradients, both outputs, and each alone.
  auto dmu_fast = random_floats(n, 6), ds_fast = random_floats(n, 7);
  auto dmu_ref = dmu_fast, ds_ref = ds_fast;
  noisy_grad_fast(dmu_fast.data(), ds_fast.data(), dw.data(), f_in.data(), f_out.data(), C_out,
                  C_in);
  noisy_grad_ref<float>(dmu_ref.data(), ds_ref.data(), dw.data(), f_in.data(), f_out.data(), C_out,
                        C_in);
  CHECK(dmu_fast == dmu_ref);
  CHECK(ds_fast == ds_ref);
  noisy_grad_fast(nullptr, ds_fast.data(), dw.data(), f_in.data(), f_out.data(), C_out, C_in);
  noisy_grad_ref<float>(nullptr, ds_ref.data(), dw.data(), f_in.data(), f_out.data(), C_out, C_in);
  noisy_grad_fast(dmu_fast.data(), nullptr, dw.data(), f_in.data(), f_out.data(), C_out, C_in);
  noisy_grad_ref<float>(dmu_ref.data(), nullptr, dw.data(), f_in.data(), f_out.data(), C_out, C_in);
  CHECK(dmu_fast == dmu_ref);
  CHECK(ds_fast == ds_ref);
  // The writing sigma kernel: fast == ref, and both equal accumulating onto zeros, to the bit
  // (a -0 product must come out +0, as 0 + -0 does). dw gets a few -0 and +0 entries.
  auto dw_zeros = dw;
  for (std::int64_t i = 0; i < n; i += 3)
    dw_zeros[static_cast<std::size_t>(i)] = (i % 2) ? -0.0f : 0.0f;
  std::vector<float> set_fast(n, std::nanf("")), set_ref(n, std::nanf("")), acc(n, 0.0f);
  noisy_sigma_grad_fast(set_fast.data(), dw_zeros.data(), f_in.data(), f_out.data(), C_out, C_in);
  noisy_sigma_grad_ref<float>(set_ref.data(), dw_zeros.data(), f_in.data(), f_out.data(), C_out,
                              C_in);
  noisy_grad_ref<float>(nullptr, acc.data(), dw_zeros.data(), f_in.data(), f_out.data(), C_out,
                        C_in);
  CHECK(std::memcmp(set_fast.data(), acc.data(), acc.size() * sizeof(float)) == 0);
  CHECK(std::memcmp(set_ref.data(), acc.data(), acc.size() * sizeof(float)) == 0);
}

// Everything one noisy_linear forward + backward produces, in float.
struct NoisyRun {
  std::vector<float> y, dx, dmu, dsigma, dbmu, dbsigma;
};

// The op's inputs, seeded by the sizes.
struct NoisyInputs {
  std::int64_t N, C_in, C_out;
  std::vector<float> x, mu, sigma, bmu, bsigma, f_in, f_out, r;
  NoisyInputs(std::int64_t n, std::int64_t c_in, std::int64_t c_out)
      : N(n),
        C_in(c_in),
        C_out(c_out),
        x(random_floats(n * c_in, 11)),
        mu(random_floats(c_out * c_in, 12)),
        sigma(random_floats(c_out * c_in, 13, 0.0f, 0.5f)),
        bmu(random_floats(c_out, 14)),
        bsigma(random_floats(c_out, 15, 0.0f, 0.5f)),
        f_in(noise(c_in, 16)),
        f_out(noise(c_out, 17)),
        r(random_floats(n * c_out, 18)) {}
};

template <class T>
BasicTensor<T> tensor_of(const std::vector<float>& v, Shape shape, bool absolute = false) {
  BasicTensor<T> t(shape);
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    const T value = static_cast<T>(v[static_cast<std::size_t>(i)]);
    t[i] = absolute ? std::abs(value) : value;
  }
  return t;
}

template <class T>
BasicVariable<T> variable_of(const std::vector<float>& v, Shape shape, bool absolute = false) {
  BasicVariable<T> var(shape);
  var.value = tensor_of<T>(v, shape, absolute);
  return var;
}

// loss = sum(y . r): dL/dy = r. `composed` builds the graph the fused op replaces.
template <class T>
std::vector<std::vector<double>> run_op(const NoisyInputs& in, bool composed = false,
                                        bool absolute = false) {
  const std::int64_t N = in.N, C_in = in.C_in, C_out = in.C_out;
  auto x = variable_of<T>(in.x, Shape{N, C_in}, absolute);
  auto mu = variable_of<T>(in.mu, Shape{C_out, C_in}, absolute);
  auto sigma = variable_of<T>(in.sigma, Shape{C_out, C_in}, absolute);
  auto bmu = variable_of<T>(in.bmu, Shape{C_out}, absolute);
  auto bsigma = variable_of<T>(in.bsigma, Shape{C_out}, absolute);
  const auto f_in = tensor_of<T>(in.f_in, Shape{C_in}, absolute);
  const auto f_out = tensor_of<T>(in.f_out, Shape{C_out}, absolute);
  const auto r = tensor_of<T>(in.r, Shape{N, C_out}, absolute);
  BasicTensor<T> eps_w(Shape{C_out, C_in});
  for (std::int64_t o = 0; o < C_out; ++o)
    for (std::int64_t i = 0; i < C_in; ++i) eps_w[o * C_in + i] = f_out[o] * f_in[i];
  BasicTape<T> tape;
  Value y;
  if (composed) {
    const Value w = tape.add(tape.param(mu), tape.mul(tape.param(sigma), tape.input(eps_w.view())));
    const Value b =
        tape.add(tape.param(bmu), tape.mul(tape.param(bsigma), tape.input(f_out.view())));
    y = tape.linear(tape.param(x), w, b);
  } else {
    y = tape.noisy_linear(tape.param(x), tape.param(mu), tape.param(sigma), tape.param(bmu),
                          tape.param(bsigma), f_in.view(), f_out.view());
  }
  std::vector<std::vector<double>> out;
  const View<const T> yv = tape.view(y);
  out.emplace_back(yv.data, yv.data + yv.numel());
  tape.backward(tape.sum(tape.mul(y, tape.input(r.view()))));
  for (auto* v : {&x, &mu, &sigma, &bmu, &bsigma})
    out.emplace_back(v->grad.data(), v->grad.data() + v->grad.numel());
  return out;
}

}  // namespace

TEST_CASE(
    "noisy_weight, noisy_grad and noisy_sigma_grad: fast equals ref bit for bit, 1 and 2 threads") {
  for (int threads : {1, 2}) {
    ThreadScope scope(threads);
    CAPTURE(threads);
    for (std::int64_t rows = 1; rows <= 7; ++rows)
      for (std::int64_t cols : {1, 3, 7, 15, 16, 17, 31, 33, 65}) check_kernels_bitwise(rows, cols);
    check_kernels_bitwise(512, 3136);  // the Nature CNN's fc, which splits over threads
    check_kernels_bitwise(256, 576);   // the data-efficient CNN's fc
    check_kernels_bitwise(6, 512);     // a noisy head
  }
}

// The forward kernel forms W inside the GEMM's tiles (or whole first, off the streaming path):
// it must give the bits of forming W with noisy_weight_fast and calling linear_forward_fast, and
// a kept W must be exactly noisy_weight_fast's. Sizes: batch 1 and 65 and a tiny layer (formed
// whole, then Eigen), batches 16 to 64 against weights of 2^16+ elements (streamed, with partial
// row tiles: 250 and 300 rows are not multiples of the tile's 8 or 12), the Nature CNN's and the
// data-efficient CNN's fc at batch 32. y starts as NaN, so every element must be written.
TEST_CASE("noisy_linear_forward_fast equals forming W then linear_forward_fast, bit for bit") {
  for (int threads : {1, 2}) {
    ThreadScope scope(threads);
    for (const auto& [N, C_in, C_out] :
         {std::array<std::int64_t, 3>{1, 300, 250}, std::array<std::int64_t, 3>{5, 19, 7},
          std::array<std::int64_t, 3>{16, 300, 250}, std::array<std::int64_t, 3>{17, 300, 250},
          std::array<std::int64_t, 3>{33, 257, 300}, std::array<std::int64_t, 3>{64, 300, 250},
          std::array<std::int64_t, 3>{65, 300, 250}, std::array<std::int64_t, 3>{32, 3136, 512},
          std::array<std::int64_t, 3>{32, 576, 256}}) {
      CAPTURE(threads);
      CAPTURE(N);
      CAPTURE(C_in);
      const NoisyInputs in(N, C_in, C_out);
      std::vector<float> w(static_cast<std::size_t>(C_out * C_in)), b(C_out);
      const float one = 1;
      noisy_weight_fast(w.data(), in.mu.data(), in.sigma.data(), in.f_in.data(), in.f_out.data(),
                        C_out, C_in);
      noisy_weight_fast(b.data(), in.bmu.data(), in.bsigma.data(), &one, in.f_out.data(), C_out, 1);
      std::vector<float> want(static_cast<std::size_t>(N * C_out));
      linear_forward_fast(want.data(), in.x.data(), w.data(), b.data(), N, C_in, C_out);
      for (bool keep : {false, true}) {
        CAPTURE(keep);
        std::vector<float> y(want.size(), std::nanf("")), b_got(C_out, std::nanf(""));
        std::vector<float> w_got(keep ? w.size() : 0, std::nanf(""));
        noisy_linear_forward_fast(y.data(), keep ? w_got.data() : nullptr, b_got.data(),
                                  in.x.data(), in.mu.data(), in.sigma.data(), in.bmu.data(),
                                  in.bsigma.data(), in.f_in.data(), in.f_out.data(), N, C_in,
                                  C_out);
        CHECK(std::memcmp(y.data(), want.data(), want.size() * sizeof(float)) == 0);
        CHECK(std::memcmp(b_got.data(), b.data(), b.size() * sizeof(float)) == 0);
        if (keep) CHECK(std::memcmp(w_got.data(), w.data(), w.size() * sizeof(float)) == 0);
      }
    }
  }
}

// The tape keeps W only when backward needs it for dX; a pass without gradients (the target
// network's) forms it tile by tile and drops it. Both give the same output bits.
TEST_CASE("tape noisy_linear: the same output with and without gradients (W kept or not)") {
  const NoisyInputs in(32, 3136, 512);
  Variable x = variable_of<float>(in.x, Shape{32, 3136}),
           mu = variable_of<float>(in.mu, Shape{512, 3136}),
           sigma = variable_of<float>(in.sigma, Shape{512, 3136}, true),
           bmu = variable_of<float>(in.bmu, Shape{512}),
           bsigma = variable_of<float>(in.bsigma, Shape{512}, true);
  const Tensor f_in = tensor_of<float>(in.f_in, Shape{3136}),
               f_out = tensor_of<float>(in.f_out, Shape{512});
  auto forward = [&](bool grad) {
    Tape tape;
    tape.set_grad_enabled(grad);
    const Value y =
        tape.noisy_linear(tape.param(x), tape.param(mu), tape.param(sigma), tape.param(bmu),
                          tape.param(bsigma), f_in.view(), f_out.view());
    const ConstTensorView v = tape.view(y);
    return std::vector<float>(v.data, v.data + v.shape.numel());
  };
  const std::vector<float> with = forward(true);
  CHECK(forward(false) == with);
}

TEST_CASE("tape noisy_linear: gradients match central differences in double") {
  Rng rng(21);
  const std::int64_t N = 3, C_in = 5, C_out = 4;
  VariableD x(Shape{N, C_in}), mu(Shape{C_out, C_in}), sigma(Shape{C_out, C_in}), bmu(Shape{C_out}),
      bsigma(Shape{C_out});
  for (auto* v : {&x, &mu, &sigma, &bmu, &bsigma})
    for (std::int64_t i = 0; i < v->value.numel(); ++i) v->value[i] = rng.uniform(-1.0, 1.0);
  TensorD f_in(Shape{C_in}), f_out(Shape{C_out});
  for (std::int64_t i = 0; i < C_in; ++i) f_in[i] = rng.uniform(-1.5, 1.5);
  for (std::int64_t o = 0; o < C_out; ++o) f_out[o] = rng.uniform(-1.5, 1.5);
  // A smooth loss (mean of y^2): no kinks for the differences to straddle.
  auto loss = [&](TapeD& t) {
    const Value y = t.noisy_linear(t.param(x), t.param(mu), t.param(sigma), t.param(bmu),
                                   t.param(bsigma), f_in.view(), f_out.view());
    return t.mean(t.mul(y, y));
  };
  const std::vector<VariableD*> vars = {&x, &mu, &sigma, &bmu, &bsigma};
  dqn::test::check_gradients(loss, vars);  // central differences, h = 1e-6
}

TEST_CASE("tape noisy_linear: float fast within the summation bound of the double reference") {
  struct Size {
    std::int64_t N, C_in, C_out;
  };
  std::vector<Size> sizes;
  for (std::int64_t n = 1; n <= 7; ++n) sizes.push_back({n, 2 * n + 13, 3 * n + 2});
  sizes.push_back({32, 3136, 512});  // the Nature CNN's fc at batch 32
  sizes.push_back({32, 576, 256});   // the data-efficient CNN's fc
  sizes.push_back({32, 512, 6});     // a noisy head
  for (int threads : {1, 2}) {
    ThreadScope scope(threads);
    for (const Size& s : sizes) {
      CAPTURE(threads);
      CAPTURE(s.N);
      CAPTURE(s.C_in);
      CAPTURE(s.C_out);
      const NoisyInputs in(s.N, s.C_in, s.C_out);
      const auto got = run_op<float>(in);
      const auto truth = run_op<double>(in);
      const auto bound = run_op<double>(in, false, /*absolute=*/true);  // sum |a_k b_k| per output
      // Each output is a dot product over at most max(N, C_in, C_out) terms, plus the few
      // roundings of forming W (mu + sigma * (f_out * f_in)).
      const std::int64_t K = std::max({s.N, s.C_in, s.C_out}) + 4;
      const char* names[] = {"y", "dx", "dmu", "dsigma", "dbmu", "dbsigma"};
      for (std::size_t k = 0; k < got.size(); ++k) {
        std::vector<float> g(got[k].begin(), got[k].end());
        dqn::test::check_within_bound(g, truth[k], bound[k], K, names[k]);
      }
    }
  }
}

TEST_CASE("tape noisy_linear equals the composed graph it replaces, bit for bit, 1 and 2 threads") {
  // W = add(mu, mul(sigma, eps_w)) then linear: the same float operations, so the same bits
  // (dmu: 0 + dW + ..., dsigma: dW * (f_out * f_in)). Threads must not change any bit either.
  for (const auto& [N, C_in, C_out] :
       {std::array<std::int64_t, 3>{5, 19, 7}, std::array<std::int64_t, 3>{32, 3136, 512}}) {
    CAPTURE(N);
    const NoisyInputs in(N, C_in, C_out);
    std::vector<std::vector<double>> one;
    {
      ThreadScope scope(1);
      one = run_op<float>(in);
      CHECK(one == run_op<float>(in, /*composed=*/true));
    }
    ThreadScope scope(2);
    CHECK(run_op<float>(in) == one);
    CHECK(run_op<float>(in, /*composed=*/true) == one);
  }
}

namespace {
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}
bool same_bits(float a, float b) {
  return std::memcmp(&a, &b, sizeof(float)) == 0;
}

// Sizes for the deferred-sigma kernels: rows below, at and above a vector, columns that are and
// are not whole vectors (so that a vector of the flat array straddles rows, even several rows
// when C_in < 16), the real layers, and 300 x 500 = 150,000 elements, above kElementwiseGrain,
// whose reduction splits into chunks at 2 threads at a column that is not a vector boundary.
std::vector<std::array<std::int64_t, 2>> pair_sizes() {
  std::vector<std::array<std::int64_t, 2>> sizes;
  for (std::int64_t rows : {1, 2, 7})
    for (std::int64_t cols : {1, 3, 15, 16, 17, 33, 65}) sizes.push_back({rows, cols});
  for (const auto& s :
       {std::array<std::int64_t, 2>{512, 3136}, {256, 576}, {306, 512}, {6, 512}, {300, 500}})
    sizes.push_back(s);
  return sizes;
}
}  // namespace

// noisy_pair_sqnorm_fast stands in for sqnorm_fast over dmu and over the formed dsigma in the
// gradient norm: it must give both sums' bits. dmu has some -0 and +0 entries.
TEST_CASE(
    "noisy_pair_sqnorm_fast equals sqnorm_fast of dmu and of the formed dsigma, bit for bit") {
  for (int threads : {1, 2}) {
    ThreadScope scope(threads);
    for (const auto& [C_out, C_in] : pair_sizes()) {
      CAPTURE(threads);
      CAPTURE(C_out);
      CAPTURE(C_in);
      const std::int64_t n = C_out * C_in;
      auto dmu = random_floats(n, 21);
      for (std::int64_t i = 1; i < n; i += 7)
        dmu[static_cast<std::size_t>(i)] = (i % 2) ? -0.0f : 0.0f;
      const auto f_in = noise(C_in, 22), f_out = noise(C_out, 23);
      std::vector<float> dsigma(static_cast<std::size_t>(n));
      noisy_sigma_grad_fast(dsigma.data(), dmu.data(), f_in.data(), f_out.data(), C_out, C_in);
      float sq_mu = -1, sq_sigma = -1;
      noisy_pair_sqnorm_fast(&sq_mu, &sq_sigma, dmu.data(), f_in.data(), f_out.data(), C_out, C_in);
      CHECK(same_bits(sq_mu, sqnorm_fast(dmu.data(), n)));
      CHECK(same_bits(sq_sigma, sqnorm_fast(dsigma.data(), n)));
      CHECK(sq_sigma > 0.0f);
    }
  }
}

// adam_step_noisy_pair_fast replaces: form dsigma, scale both gradients (when clipping), two
// adam_step_fast calls. Same bits for mu, sigma and all four moments, with and without a scale,
// at the first step and a later one (moments non-zero), at 1 and 2 threads; dmu is not changed.
TEST_CASE("adam_step_noisy_pair_fast equals forming dsigma, scaling and two adam_step_fast") {
  const AdamHyper h{1e-3, 0.9, 0.999, 1e-8};
  for (int threads : {1, 2}) {
    ThreadScope scope(threads);
    for (const auto& [C_out, C_in] : pair_sizes())
      for (float scale : {1.0f, 0.37f})
        for (std::int64_t step : {1, 7}) {
          CAPTURE(threads);
          CAPTURE(C_out);
          CAPTURE(C_in);
          CAPTURE(scale);
          CAPTURE(step);
          const std::int64_t n = C_out * C_in;
          const auto dmu = random_floats(n, 31);
          const auto f_in = noise(C_in, 32), f_out = noise(C_out, 33);
          auto mu = random_floats(n, 34), sigma = random_floats(n, 35, 0.0f, 0.5f);
          auto m_mu = random_floats(n, 36, -0.1f, 0.1f), m_s = random_floats(n, 37, -0.1f, 0.1f);
          auto v_mu = random_floats(n, 38, 0.0f, 0.1f), v_s = random_floats(n, 39, 0.0f, 0.1f);
          // Expected: the passes the fused kernel replaces.
          auto e_mu = mu, e_sigma = sigma, e_m_mu = m_mu, e_m_s = m_s, e_v_mu = v_mu, e_v_s = v_s;
          auto g_mu = dmu;
          std::vector<float> g_s(static_cast<std::size_t>(n));
          noisy_sigma_grad_fast(g_s.data(), g_mu.data(), f_in.data(), f_out.data(), C_out, C_in);
          if (scale < 1.0f) {
            scale_fast(g_mu.data(), g_mu.data(), scale, n);
            scale_fast(g_s.data(), g_s.data(), scale, n);
          }
          adam_step_fast(e_mu.data(), e_m_mu.data(), e_v_mu.data(), g_mu.data(), n, h, step);
          adam_step_fast(e_sigma.data(), e_m_s.data(), e_v_s.data(), g_s.data(), n, h, step);
          const auto dmu_before = dmu;
          adam_step_noisy_pair_fast(mu.data(), m_mu.data(), v_mu.data(), sigma.data(), m_s.data(),
                                    v_s.data(), dmu.data(), f_in.data(), f_out.data(), C_out, C_in,
                                    scale, h, step);
          CHECK(same_bits(mu, e_mu));
          CHECK(same_bits(sigma, e_sigma));
          CHECK(same_bits(m_mu, e_m_mu));
          CHECK(same_bits(m_s, e_m_s));
          CHECK(same_bits(v_mu, e_v_mu));
          CHECK(same_bits(v_s, e_v_s));
          CHECK(same_bits(dmu, dmu_before));
        }
  }
}

// backward(loss, set, &deferred): mu's gradient as backward(loss, set) writes it, sigma's left
// unwritten and listed, and the listed formula giving backward(loss, set)'s sigma gradient. A
// sigma (or mu) that a second op also uses must be formed on the spot and dropped from the
// list: here the same noisy layer applied twice (a shared weight), and sigma also fed to a
// plain op (mul). Gradient buffers start as NaN: whatever backward must write, it writes.
TEST_CASE("tape backward with a deferred list: sigma left to the consumer, formed when shared") {
  const NoisyInputs in(17, 37, 23);
  auto vars = [&] {
    std::array<Variable, 5> v{
        variable_of<float>(in.x, Shape{17, 37}), variable_of<float>(in.mu, Shape{23, 37}),
        variable_of<float>(in.sigma, Shape{23, 37}, true), variable_of<float>(in.bmu, Shape{23}),
        variable_of<float>(in.bsigma, Shape{23}, true)};
    for (auto& x : v) x.grad.fill(std::nanf(""));
    return v;
  };
  const Tensor f_in = tensor_of<float>(in.f_in, Shape{37}),
               f_out = tensor_of<float>(in.f_out, Shape{23});
  const Tensor r = tensor_of<float>(in.r, Shape{17, 23});
  const Tensor sig_w = tensor_of<float>(in.mu, Shape{23, 37});
  // shape 0: one use; 1: the layer twice (on x and on x * 0.5); 2: also sum(sigma . sig_w).
  auto run = [&](std::array<Variable, 5>& v, int shape, bool defer,
                 std::vector<DeferredSigma<float>>* deferred) {
    Tape tape;
    auto layer = [&](Value x) {
      return tape.noisy_linear(x, tape.param(v[1]), tape.param(v[2]), tape.param(v[3]),
                               tape.param(v[4]), f_in.view(), f_out.view());
    };
    Value loss = tape.sum(tape.mul(layer(tape.param(v[0])), tape.input(r.view())));
    if (shape == 1)
      loss = tape.add(loss, tape.sum(tape.mul(layer(tape.scale(tape.param(v[0]), 0.5f)),
                                              tape.input(r.view()))));
    if (shape == 2)
      loss = tape.add(loss, tape.sum(tape.mul(tape.param(v[2]), tape.input(sig_w.view()))));
    std::vector<Variable*> set{&v[0], &v[1], &v[2], &v[3], &v[4]};
    if (defer)
      tape.backward(loss, set, deferred);
    else
      tape.backward(loss, set);
  };
  auto grad = [](const Variable& v) {
    return std::vector<float>(v.grad.data(), v.grad.data() + v.grad.numel());
  };
  for (int shape : {0, 1, 2}) {
    CAPTURE(shape);
    auto want = vars(), got = vars();
    run(want, shape, false, nullptr);
    std::vector<DeferredSigma<float>> deferred(3);  // stale entries must be cleared
    run(got, shape, true, &deferred);
    for (int k : {0, 1, 3, 4}) CHECK(same_bits(grad(got[k]), grad(want[k])));
    if (shape == 0) {
      REQUIRE(deferred.size() == 1);
      const DeferredSigma<float>& d = deferred[0];
      CHECK(d.mu == &got[1]);
      CHECK(d.sigma == &got[2]);
      CHECK(d.C_out == 23);
      CHECK(d.C_in == 37);
      CHECK(std::isnan(got[2].grad[0]));  // never written
      std::vector<float> formed(23 * 37);
      noisy_sigma_grad_fast(formed.data(), d.mu->grad.data(), d.f_in, d.f_out, d.C_out, d.C_in);
      CHECK(same_bits(formed, grad(want[2])));
    } else {
      CHECK(deferred.empty());  // formed where the second use needed it
      CHECK(same_bits(grad(got[2]), grad(want[2])));
    }
  }
}

TEST_CASE("tape noisy_linear refuses mismatched shapes, naming the argument") {
  Variable x(Shape{2, 3}), mu(Shape{4, 3}), sigma(Shape{4, 3}), bmu(Shape{4}), bsigma(Shape{4});
  Tensor f_in(Shape{3}), f_out(Shape{4}), bad(Shape{5});
  Tape tape;
  CHECK_THROWS_WITH_AS(
      tape.noisy_linear(tape.param(x), tape.param(mu), tape.param(sigma), tape.param(bmu),
                        tape.param(bsigma), f_in.view(), bad.view()),
      doctest::Contains("f_out"), Error);
  tape.reset();
  CHECK_THROWS_WITH_AS(
      tape.noisy_linear(tape.param(x), tape.param(mu), tape.param(sigma), tape.param(bmu),
                        tape.param(bsigma), bad.view(), f_out.view()),
      doctest::Contains("f_in"), Error);
}
