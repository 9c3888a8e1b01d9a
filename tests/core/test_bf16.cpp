// Tests for core/bf16.hpp: the rounding bit for bit (scalar and vector, every class of float),
// the bf16 kernels against their references on awkward and real sizes at 1 and 2 threads, the
// same bits at either thread count, and the error bfloat16 adds, stated and checked both ways.
//
// Two bounds, both from kernel_check.hpp's summation argument:
//  * fast vs reference: the reference rounds the operands, then sums in double; the fast kernel
//    sums the same exact products (a product of two bfloat16 values fits a float) in FP32, so
//    they differ by FP32 summation error only: |fast - ref| <= 2 K u sum|a_k b_k|, u = 2^-24.
//  * bfloat16 vs exact: rounding to nearest moves each operand by at most u = 2^-8 of itself
//    (8 significand bits), so each product by at most (1 + u)^2 - 1 = 2^-7 + 2^-16 of itself
//    and the sum by at most that times sum|a_k b_k|, plus the FP32 summation error above. The
//    tests also check that the error is really there (above FP32's): a kernel that silently ran
//    in FP32 would fail them.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/autodiff.hpp"
#include "core/bf16.hpp"
#include "core/bf16_pack.hpp"
#include "core/conv2d.hpp"
#include "core/linear.hpp"
#include "core/parallel.hpp"
#include "core/reduce.hpp"
#include "core/rng.hpp"
#include "core/simd.hpp"
#include "tests/core/kernel_check.hpp"

using namespace dqn;
using namespace dqn::test;

namespace {

constexpr double kBf16Product = 1.0 / 128 + 1.0 / 65536;  // (1 + 2^-8)^2 - 1

float from_bits(std::uint32_t u) {
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}
std::uint32_t bits_of(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}

// `random` random bit patterns (normals of every exponent, subnormals, infinities, NaNs), then
// ties (a random pattern rarely has its low 16 bits at 0x8000, so they are added on purpose)
// and both zeros.
std::vector<float> every_class_of_float(int random, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> x;
  for (int i = 0; i < random; ++i)
    x.push_back(from_bits(static_cast<std::uint32_t>(rng.next_u64() >> 32)));
  for (std::uint32_t hi : {0x3f80u, 0x3f81u, 0x7f7fu, 0x0080u, 0x8080u})
    x.push_back(from_bits((hi << 16) | 0x8000u));
  x.push_back(0.0f);
  x.push_back(-0.0f);
  return x;
}

std::vector<double> rounded_double(const std::vector<float>& v) {
  std::vector<double> r(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) r[i] = bf16_round(v[i]);
  return r;
}

// |got - exact| <= kBf16Product * bound + the FP32 summation bound, elementwise; returns the
// largest error relative to the bound's sum|a_k b_k| so callers can check it is not FP32-small.
double check_bf16_error(const std::vector<float>& got, const std::vector<double>& exact,
                        const std::vector<double>& bound, std::int64_t K, const char* what) {
  REQUIRE(got.size() == exact.size());
  std::int64_t bad = 0;
  double worst = 0.0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(got[i] - exact[i]);
    const double tol = (kBf16Product + 2.0 * K * kUnitRoundoffF) * bound[i] + 1e-30;
    if (!(err <= tol)) ++bad;
    if (bound[i] > 0) worst = std::max(worst, err / bound[i]);
  }
  INFO(what, ": ", bad, " elements beyond the bfloat16 bound");
  CHECK(bad == 0);
  return worst;
}

}  // namespace

TEST_CASE("bf16_bits rounds to nearest even and keeps specials, as VCVTNEPS2BF16") {
  CHECK(bf16_bits(1.0f) == 0x3f80);
  CHECK(bf16_bits(-2.0f) == 0xc000);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even neighbour (1.0).
  CHECK(bf16_bits(1.0f + 1.0f / 256) == 0x3f80);
  // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): up.
  CHECK(bf16_bits(1.0f + 3.0f / 256) == 0x3f82);
  CHECK(bf16_bits(1.0f + 1.0f / 256 + 1.0f / 65536) == 0x3f81);  // just past the tie: up
  CHECK(bf16_bits(std::numeric_limits<float>::infinity()) == 0x7f80);
  CHECK(bf16_bits(-std::numeric_limits<float>::infinity()) == 0xff80);
  CHECK(bf16_bits(std::numeric_limits<float>::max()) == 0x7f80);  // beyond bf16's max: inf
  const std::uint16_t nan = bf16_bits(from_bits(0x7f800001u));    // a signalling NaN
  CHECK((nan & 0x7f80) == 0x7f80);
  CHECK((nan & 0x007f) != 0);                          // still a NaN (quieted), not inf
  CHECK(bf16_bits(from_bits(0x00000001u)) == 0x0000);  // subnormals: zero, keeping the sign
  CHECK(bf16_bits(from_bits(0x807fffffu)) == 0x8000);
  CHECK(bf16_round(0.1f) == 0.10009765625f);
}

TEST_CASE("bf16_round_fast equals bf16_round bit for bit on every class of float") {
  // Random bit patterns cover normals of every exponent, subnormals, infinities and NaNs; the
  // ties are added on purpose (a random pattern rarely has its low 16 bits at 0x8000).
  const std::vector<float> x = every_class_of_float(100000, 7);
  for (int n : {1, 15, 16, 17, 33, static_cast<int>(x.size())}) {
    CAPTURE(n);
    std::vector<float> got(static_cast<std::size_t>(n));
    bf16_round_fast(got.data(), x.data(), n);
    std::int64_t bad = 0;
    for (int i = 0; i < n; ++i)
      if (bits_of(got[i]) != bits_of(bf16_round(x[i]))) ++bad;
    CHECK(bad == 0);
  }
  // In place, as the fallback path uses it.
  std::vector<float> y(x.begin(), x.begin() + 1000);
  bf16_round_fast(y.data(), y.data(), 1000);
  for (int i = 0; i < 1000; ++i) REQUIRE(bits_of(y[i]) == bits_of(bf16_round(x[i])));
}

TEST_CASE("bf16 reports its kernels") {
  MESSAGE("bf16 kernels on this build: ", std::string(bf16_kernel_name()));
  if (bf16_amx_available())
    MESSAGE("this CPU has AMX-BF16 tiles; the bf16 kernels do not use them (core/bf16.hpp)");
  else
    MESSAGE("no AMX-BF16 on this CPU: nothing AMX to test here");
  CHECK(std::string(bf16_kernel_name()).size() > 0);
}

namespace {

// Forward and backward of the bf16 linear kernels against the reference (on rounded operands, in
// double) and against the exact product, at the current thread count. Returns the outputs so
// the caller can compare thread counts bit for bit.
std::vector<float> check_linear(std::int64_t N, std::int64_t C_in, std::int64_t C_out,
                                double* worst_error) {
  CAPTURE(N);
  CAPTURE(C_in);
  CAPTURE(C_out);
  const auto x = random_floats(N * C_in, 41), w = random_floats(C_out * C_in, 42);
  const auto b = random_floats(C_out, 43), dout = random_floats(N * C_out, 44);
  std::vector<float> ws(linear_bf16_workspace_floats(N, C_in, C_out));

  std::vector<float> out(N * C_out);
  linear_forward_bf16_fast(out.data(), x.data(), w.data(), b.data(), N, C_in, C_out, ws.data());
  const auto xr = rounded_double(x), wr = rounded_double(w), gr = rounded_double(dout);
  const auto xd = to_double(x), wd = to_double(w), bd = to_double(b), gd = to_double(dout);
  const auto xa = abs_of(xd), wa = abs_of(wd), ba = abs_of(bd), ga = abs_of(gd);
  std::vector<double> ref(out.size()), exact(out.size()), bound(out.size());
  linear_forward_ref(ref.data(), xr.data(), wr.data(), bd.data(), N, C_in, C_out);
  linear_forward_ref(exact.data(), xd.data(), wd.data(), bd.data(), N, C_in, C_out);
  linear_forward_ref(bound.data(), xa.data(), wa.data(), ba.data(), N, C_in, C_out);
  check_within_bound(out, ref, bound, C_in + 1, "bf16 linear forward vs reference");
  *worst_error = std::max(*worst_error, check_bf16_error(out, exact, bound, C_in + 1, "forward"));

  // Backward, accumulating onto non-zero gradients; then again writing dw and db.
  for (bool accumulate : {true, false}) {
    CAPTURE(accumulate);
    auto dx = random_floats(N * C_in, 45), dw = random_floats(C_out * C_in, 46);
    auto db = random_floats(C_out, 47);
    std::vector<double> dx_r = to_double(dx), dw_r = to_double(dw), db_r = to_double(db);
    if (!accumulate) {
      std::fill(dw_r.begin(), dw_r.end(), 0.0);
      std::fill(db_r.begin(), db_r.end(), 0.0);
    }
    auto dx_e = dx_r, dw_e = dw_r, dx_b = abs_of(dx_r), dw_b = abs_of(dw_r);
    linear_backward_bf16_fast(dx.data(), dw.data(), db.data(), dout.data(), x.data(), w.data(), N,
                              C_in, C_out, accumulate, ws.data());
    linear_backward_ref<double>(dx_r.data(), dw_r.data(), nullptr, gr.data(), xr.data(), wr.data(),
                                N, C_in, C_out);
    linear_backward_ref<double>(dx_e.data(), dw_e.data(), nullptr, gd.data(), xd.data(), wd.data(),
                                N, C_in, C_out);
    linear_backward_ref<double>(dx_b.data(), dw_b.data(), nullptr, ga.data(), xa.data(), wa.data(),
                                N, C_in, C_out);
    for (std::int64_t i = 0; i < N; ++i)  // db sums the unrounded dout
      for (std::int64_t o = 0; o < C_out; ++o) db_r[o] += gd[i * C_out + o];
    std::vector<double> db_b(C_out, 0.0);
    for (std::int64_t o = 0; o < C_out; ++o) {
      db_b[o] = std::fabs(db_r[o]);
      for (std::int64_t i = 0; i < N; ++i) db_b[o] += ga[i * C_out + o];
    }
    check_within_bound(dx, dx_r, dx_b, C_out + 1, "bf16 linear dx vs reference");
    check_within_bound(dw, dw_r, dw_b, N + 1, "bf16 linear dw vs reference");
    check_within_bound(db, db_r, db_b, N + 1, "bf16 linear db");
    *worst_error = std::max(*worst_error, check_bf16_error(dx, dx_e, dx_b, C_out + 1, "dx"));
    *worst_error = std::max(*worst_error, check_bf16_error(dw, dw_e, dw_b, N + 1, "dw"));
    out.insert(out.end(), dx.begin(), dx.end());
    out.insert(out.end(), dw.begin(), dw.end());
    out.insert(out.end(), db.begin(), db.end());
  }
  return out;
}

}  // namespace

TEST_CASE(
    "bf16 linear kernels match the reference, carry the stated error, same bits at 1 and 2 "
    "threads") {
  // {N, C_in, C_out}: odd sums (a pair half-empty), batches of 1, 3, 17, 32 and 33 (one and
  // two column vectors, partial ones), and the Nature CNN's two layers at batch 32.
  const std::int64_t shapes[][3] = {{1, 1, 1},    {3, 7, 5},       {17, 37, 17}, {32, 33, 48},
                                    {33, 64, 50}, {32, 3136, 512}, {32, 512, 6}, {5, 130, 129}};
  double worst = 0.0;
  for (const auto& sh : shapes) {
    std::vector<float> by_threads[2];
    for (int threads : {1, 2}) {
      ThreadScope scope(threads);
      CAPTURE(threads);
      by_threads[threads - 1] = check_linear(sh[0], sh[1], sh[2], &worst);
    }
    CHECK(std::memcmp(by_threads[0].data(), by_threads[1].data(),
                      by_threads[0].size() * sizeof(float)) == 0);
  }
  // The rounding is really there: an FP32 kernel's error relative to sum|a b| is at most K u
  // for FP32's u = 2^-24 (2e-4 for K = 3136, typically far less); bfloat16's reaches a good
  // part of 2^-7.
  MESSAGE("worst bf16 linear error relative to sum|a b|: ", worst);
  CHECK(worst > 1.0 / 4096);
}

#if defined(DQN_HAVE_BF16_DOT)
TEST_CASE("the pair packers round every class of float as bf16_bits, low half first") {
  // pack_pairs (two rows interleaved: simd::bf16_pairs) and pack_rows (neighbours in a row)
  // against the scalar rule on random bit patterns (normals of every exponent, subnormals,
  // infinities, NaNs), ties, zeros; odd lengths leave a scalar tail and a half pair.
  const std::vector<float> x = every_class_of_float(4094, 11);
  auto pair = [](float lo, float hi) {
    return static_cast<std::uint32_t>(bf16_bits(lo)) |
           (static_cast<std::uint32_t>(bf16_bits(hi)) << 16);
  };
  for (std::int64_t n : {std::int64_t{1}, std::int64_t{33}, std::int64_t{2050}}) {
    CAPTURE(n);
    // pack_pairs: rows 0 and 1 of a (2, n) matrix, rows x[0, n) and x[n, 2n).
    std::vector<std::uint32_t> got(static_cast<std::size_t>(n));
    bf16::pack_pairs(got.data(), n, x.data(), n, 2, n);
    std::int64_t bad = 0;
    for (std::int64_t j = 0; j < n; ++j) bad += got[j] != pair(x[j], x[n + j]);
    CHECK(bad == 0);
    // pack_rows: one row of n (odd n: the last pair's high half is 0).
    std::vector<std::uint32_t> rows(static_cast<std::size_t>(bf16::pairs(n)));
    bf16::pack_rows(rows.data(), bf16::pairs(n), x.data(), n, 1, n);
    bad = 0;
    for (std::int64_t q = 0; q < bf16::pairs(n); ++q)
      bad += rows[q] != pair(x[2 * q], 2 * q + 1 < n ? x[2 * q + 1] : 0.0f);
    CHECK(bad == 0);
  }
}

TEST_CASE("gemm_pairs_pack_a and _pack_b give the bits of packing whole, then gemm_pairs") {
  // Packing the FP32 operand a row tile or a column panel at a time, just before its tiles,
  // must not change a single sum: shapes with a partial row tile (M mod 12, 8), odd K (a half
  // pair), partial column vectors, several panels (128 or 192 columns) and a last partial one,
  // writing and accumulating, 1 and 2 threads.
  const std::int64_t shapes[][3] = {{1, 1, 1},     {13, 7, 5},   {32, 3136, 32}, {32, 512, 3136},
                                    {25, 65, 130}, {9, 33, 200}, {40, 130, 97}};
  for (const auto& sh : shapes)
    for (int threads : {1, 2})
      for (bool accumulate : {false, true}) {
        const std::int64_t M = sh[0], K = sh[1], N = sh[2], Q = bf16::pairs(K);
        CAPTURE(M);
        CAPTURE(K);
        CAPTURE(N);
        CAPTURE(threads);
        CAPTURE(accumulate);
        ThreadScope scope(threads);
        const auto a = random_floats(M * K, 51), b = random_floats(K * N, 52);
        const auto c0 = random_floats(M * N, 53);
        const std::int64_t ldb = bf16::padded_cols(N);
        std::vector<std::uint32_t> ap(M * Q), bp(Q * ldb, 0u), bt(Q * ldb, 0u);
        std::vector<std::uint32_t> scratch(num_threads() * bf16::gemm_pairs_scratch(K));
        bf16::pack_rows(ap.data(), Q, a.data(), K, M, K);
        bf16::pack_pairs(bp.data(), ldb, b.data(), N, K, N);
        // A . B with A packed whole, and with A packed a row tile at a time.
        auto whole = c0, tiled = c0;
        bf16::gemm_pairs(whole.data(), N, ap.data(), Q, 1, bp.data(), ldb, M, Q, N, accumulate);
        bf16::gemm_pairs_pack_a(tiled.data(), N, a.data(), K, bp.data(), ldb, M, K, N, accumulate,
                                scratch.data());
        CHECK(std::memcmp(whole.data(), tiled.data(), whole.size() * sizeof(float)) == 0);
        // The same with B packed a panel at a time.
        auto paneled = c0;
        bf16::gemm_pairs_pack_b(paneled.data(), N, ap.data(), Q, 1, b.data(), N, M, K, N,
                                accumulate, scratch.data());
        CHECK(std::memcmp(whole.data(), paneled.data(), whole.size() * sizeof(float)) == 0);
      }
}

TEST_CASE("gemm_pairs_norm gives gemm_pairs' C and sqnorm_fast(C)'s bits, forming in cache") {
  // {M, Q, N}: the fc layer's dW at batch 32 (512 rows: 42 whole row tiles and one of 8, 3136
  // columns of two-vector tiles), partial row tiles of both shapes (N = 40 takes 8 x 3 tiles),
  // one row, and a B of 1 MB that would not stay in L2 (plain gemm_pairs, nothing formed).
  const std::int64_t shapes[][3] = {
      {512, 16, 3136}, {29, 5, 40}, {1, 3, 1}, {100, 7, 2000}, {70, 300, 900}};
  for (const auto& sh : shapes)
    for (int threads : {1, 2})
      for (bool accumulate : {false, true}) {
        const std::int64_t M = sh[0], Q = sh[1], N = sh[2], ldb = bf16::padded_cols(N);
        CAPTURE(M);
        CAPTURE(Q);
        CAPTURE(N);
        CAPTURE(threads);
        CAPTURE(accumulate);
        ThreadScope scope(threads);
        const auto af = random_floats(M * 2 * Q, 61), bf = random_floats(2 * Q * N, 62);
        const auto c0 = random_floats(M * N, 63);
        std::vector<std::uint32_t> ap(M * Q), bp(Q * ldb, 0u);
        bf16::pack_rows(ap.data(), Q, af.data(), 2 * Q, M, 2 * Q);
        bf16::pack_pairs(bp.data(), ldb, bf.data(), N, 2 * Q, N);
        auto plain = c0, formed = c0;
        bf16::gemm_pairs(plain.data(), N, ap.data(), Q, 1, bp.data(), ldb, M, Q, N, accumulate);
        SqNormParts parts;
        parts.reset(formed.data(), M * N);
        bf16::gemm_pairs_norm(formed.data(), ap.data(), Q, 1, bp.data(), ldb, M, Q, N, accumulate,
                              parts);
        CHECK(std::memcmp(plain.data(), formed.data(), plain.size() * sizeof(float)) == 0);
        // Blocks straddling two row tiles (of 12 or 8 rows) or two chunks are left to
        // finish(); a B past L2 forms none.
        const std::int64_t tiles = (M + 7) / 8;
        if (Q * ldb * 4 > (std::int64_t{512} << 10))
          CHECK(parts.formed() == 0);
        else if (M * N >= 12 * 1024 * 4)
          CHECK(parts.formed() >= parts.blocks() - tiles - threads);
        const float got = parts.finish(), want = sqnorm_fast(formed.data(), M * N);
        CHECK(std::memcmp(&got, &want, sizeof got) == 0);
      }
  // A part reset for another buffer is refused, not half used.
  std::vector<float> c(12 * 32), other(12 * 32);
  std::vector<std::uint32_t> ap(12), bp(48, 0u);
  SqNormParts parts;
  parts.reset(other.data(), static_cast<std::int64_t>(other.size()));
  CHECK_THROWS_WITH_AS(
      bf16::gemm_pairs_norm(c.data(), ap.data(), 1, 1, bp.data(), 48, 12, 1, 32, false, parts),
      doctest::Contains("must be reset for C"), Error);
}
#endif

TEST_CASE("bf16 linear backward forming dw's norm terms gives the same dx, dw, db and norm") {
  // As the FP32 op's test (test_linear.cpp): dw, dx and db bit for bit those of the call
  // without the part, finish() sqnorm_fast(dw)'s bits; the fc layer's terms formed by the op
  // with AVX512_BF16 (the FP32 fallback leaves them to finish()). Accumulating into dw leaves
  // the part alone: its terms would be of a gradient not yet whole.
  const std::int64_t shapes[][3] = {{32, 3136, 512}, {17, 130, 129}};
  for (const auto& sh : shapes)
    for (int threads : {1, 2})
      for (bool accumulate : {false, true}) {
        const std::int64_t N = sh[0], C_in = sh[1], C_out = sh[2];
        CAPTURE(N);
        CAPTURE(threads);
        CAPTURE(accumulate);
        ThreadScope scope(threads);
        const auto x = random_floats(N * C_in, 41), w = random_floats(C_out * C_in, 42);
        const auto dout = random_floats(N * C_out, 43);
        std::vector<float> ws(linear_bf16_workspace_floats(N, C_in, C_out));
        std::vector<float> dx[2], dw[2], db[2];
        SqNormParts parts[2];
        for (int with_norm = 0; with_norm < 2; ++with_norm) {
          dx[with_norm] = random_floats(N * C_in, 44);
          dw[with_norm] = random_floats(C_out * C_in, 45);
          db[with_norm] = random_floats(C_out, 46);
          parts[with_norm].reset(dw[with_norm].data(), C_out * C_in);
          linear_backward_bf16_fast(dx[with_norm].data(), dw[with_norm].data(),
                                    db[with_norm].data(), dout.data(), x.data(), w.data(), N, C_in,
                                    C_out, accumulate, ws.data(),
                                    with_norm ? &parts[with_norm] : nullptr);
        }
        CHECK(dx[0] == dx[1]);
        CHECK(dw[0] == dw[1]);
        CHECK(db[0] == db[1]);
        if (accumulate || !bf16_dot_available())
          CHECK(parts[1].formed() == 0);
        else if (C_out * C_in >= 12 * 1024 * 4)
          CHECK(parts[1].formed() >= parts[1].blocks() - (C_out + 11) / 12 - threads);
        const float got = parts[1].finish(), want = sqnorm_fast(dw[1].data(), C_out * C_in);
        CHECK(std::memcmp(&got, &want, sizeof got) == 0);
      }
}

namespace {

std::vector<float> check_conv(const Conv2dShape& s, bool with_dx, double* worst_error) {
  CAPTURE(s.N);
  CAPTURE(s.C_in);
  CAPTURE(s.H);
  CAPTURE(s.W);
  CAPTURE(s.C_out);
  CAPTURE(s.KH);
  CAPTURE(s.KW);
  CAPTURE(s.stride);
  CAPTURE(s.pad);
  const auto x = random_floats(x_size(s), 51), w = random_floats(w_size(s), 52);
  const auto b = random_floats(s.C_out, 53), dout = random_floats(out_size(s), 54);
  const auto xr = rounded_double(x), wr = rounded_double(w), gr = rounded_double(dout);
  const auto xd = to_double(x), wd = to_double(w), bd = to_double(b), gd = to_double(dout);
  const auto xa = abs_of(xd), wa = abs_of(wd), ba = abs_of(bd), ga = abs_of(gd);
  std::vector<float> ws(conv2d_bf16_workspace_floats(s));

  std::vector<float> out(out_size(s));
  conv2d_forward_bf16_fast(out.data(), x.data(), w.data(), b.data(), s, ws.data());
  std::vector<double> ref(out.size()), exact(out.size()), bound(out.size());
  conv2d_forward_ref(ref.data(), xr.data(), wr.data(), bd.data(), s);
  conv2d_forward_ref(exact.data(), xd.data(), wd.data(), bd.data(), s);
  conv2d_forward_ref(bound.data(), xa.data(), wa.data(), ba.data(), s);
  const std::int64_t K = s.C_in * s.KH * s.KW + 1;
  check_within_bound(out, ref, bound, K, "bf16 conv2d forward vs reference");
  *worst_error = std::max(*worst_error, check_bf16_error(out, exact, bound, K, "conv forward"));

  auto dx = random_floats(x_size(s), 55), dw = random_floats(w_size(s), 56);
  auto db = random_floats(s.C_out, 57);
  auto dx_r = to_double(dx), dw_r = to_double(dw), db_r = to_double(db);
  auto dx_e = dx_r, dw_e = dw_r, db_e = db_r;
  auto dx_b = abs_of(dx_r), dw_b = abs_of(dw_r), db_b = abs_of(db_r);
  conv2d_backward_bf16_fast(with_dx ? dx.data() : nullptr, dw.data(), db.data(), dout.data(),
                            x.data(), w.data(), s, ws.data());
  conv2d_backward_ref<double>(with_dx ? dx_r.data() : nullptr, dw_r.data(), nullptr, gr.data(),
                              xr.data(), wr.data(), s);
  conv2d_backward_ref(with_dx ? dx_e.data() : nullptr, dw_e.data(), db_e.data(), gd.data(),
                      xd.data(), wd.data(), s);
  conv2d_backward_ref(with_dx ? dx_b.data() : nullptr, dw_b.data(), db_b.data(), ga.data(),
                      xa.data(), wa.data(), s);
  const std::int64_t per_w = s.N * s.H_out() * s.W_out() + 1, per_x = s.C_out * s.KH * s.KW + 1;
  check_within_bound(dw, dw_r, dw_b, per_w, "bf16 conv2d dw vs reference");
  check_within_bound(db, db_e, db_b, per_w, "bf16 conv2d db (FP32, unrounded dout)");
  *worst_error = std::max(*worst_error, check_bf16_error(dw, dw_e, dw_b, per_w, "conv dw"));
  if (with_dx) {
    check_within_bound(dx, dx_r, dx_b, per_x, "bf16 conv2d dx vs reference");
    *worst_error = std::max(*worst_error, check_bf16_error(dx, dx_e, dx_b, per_x, "conv dx"));
  }
  out.insert(out.end(), dx.begin(), dx.end());
  out.insert(out.end(), dw.begin(), dw.end());
  out.insert(out.end(), db.begin(), db.end());
  return out;
}

}  // namespace

TEST_CASE(
    "bf16 conv2d kernels match the reference, carry the stated error, same bits at 1 and "
    "2 threads") {
  // Without padding (the VDPBF16PS kernels): odd channel counts in and out (a half-empty pair,
  // a partial channel vector), odd batches (a half-empty sample pair), strides 1 to 4, odd
  // output sizes, 37 and 80 output channels (tiles of 1, 2 and 4 vectors). With padding: the
  // rounding fallback. Then the Nature CNN's three layers at batch 32.
  const Conv2dShape shapes[] = {
      {1, 1, 1, 1, 1, 1, 1, 1, 0},      {3, 5, 11, 9, 37, 3, 2, 2, 0},
      {2, 3, 10, 12, 80, 3, 3, 1, 0},   {5, 4, 20, 20, 7, 8, 8, 4, 0},
      {4, 37, 6, 7, 17, 2, 2, 2, 0},    {7, 3, 15, 16, 17, 3, 3, 1, 1},
      {2, 16, 17, 15, 7, 3, 3, 2, 1},   {32, 4, 84, 84, 32, 8, 8, 4, 0},
      {32, 32, 20, 20, 64, 4, 4, 2, 0}, {32, 64, 9, 9, 64, 3, 3, 1, 0},
  };
  double worst = 0.0;
  for (const auto& s : shapes) {
    const bool with_dx = s.C_in != 4;  // the first Nature layer needs no dx
    std::vector<float> by_threads[2];
    for (int threads : {1, 2}) {
      ThreadScope scope(threads);
      CAPTURE(threads);
      by_threads[threads - 1] = check_conv(s, with_dx, &worst);
    }
    // The VDPBF16PS kernels split no sum over threads. The fallback (padding, or no
    // AVX512_BF16) runs the FP32 kernel, whose dw partials follow the thread count.
    if (bf16_dot_available() && s.pad == 0)
      CHECK(std::memcmp(by_threads[0].data(), by_threads[1].data(),
                        by_threads[0].size() * sizeof(float)) == 0);
  }
  MESSAGE("worst bf16 conv2d error relative to sum|a b|: ", worst);
  CHECK(worst > 1.0 / 4096);
}

namespace {

// A small Nature-style net: conv 8x8 stride 4 -> relu -> conv 4x4 stride 2 -> relu -> flatten
// -> linear -> relu -> linear, loss = mean of squared outputs, on a tape of element type T.
template <class T>
struct SmallNet {
  BasicVariable<T> c1w{Shape{8, 4, 8, 8}}, c1b{Shape{8}}, c2w{Shape{16, 8, 4, 4}}, c2b{Shape{16}};
  BasicVariable<T> f1w{Shape{32, 16 * 3 * 3}}, f1b{Shape{32}}, f2w{Shape{5, 32}}, f2b{Shape{5}};
  BasicTensor<T> x{Shape{6, 4, 36, 36}};
  std::vector<BasicVariable<T>*> params() {
    return {&c1w, &c1b, &c2w, &c2b, &f1w, &f1b, &f2w, &f2b};
  }
  explicit SmallNet(std::uint64_t seed) {
    Rng rng(seed);
    for (auto* v : params())
      for (std::int64_t i = 0; i < v->value.numel(); ++i)
        v->value[i] = static_cast<T>(rng.uniform(-0.2f, 0.2f));
    for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<T>(rng.uniform(0.0f, 1.0f));
  }
  // Gradients of every parameter, flattened per parameter.
  std::vector<std::vector<double>> gradients(BasicTape<T>& t) {
    for (auto* v : params()) v->zero_grad();
    t.reset();
    Value h = t.relu(t.conv2d(t.input(x.view()), t.param(c1w), t.param(c1b), 4, 0));
    h = t.relu(t.conv2d(h, t.param(c2w), t.param(c2b), 2, 0));
    h = t.relu(t.linear(t.flatten(h), t.param(f1w), t.param(f1b)));
    const Value q = t.linear(h, t.param(f2w), t.param(f2b));
    t.backward(t.mean(t.mul(q, q)));
    std::vector<std::vector<double>> g;
    for (auto* v : params()) g.emplace_back(v->grad.data(), v->grad.data() + v->grad.numel());
    return g;
  }
};

double relative_error(const std::vector<double>& got, const std::vector<double>& exact) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    num += (got[i] - exact[i]) * (got[i] - exact[i]);
    den += exact[i] * exact[i];
  }
  return std::sqrt(num / den);
}

}  // namespace

TEST_CASE("a bf16 tape's gradients are within the stated bfloat16 error of the exact ones") {
  // The exact gradients: the double tape (its *_ref kernels pass the finite-difference checks
  // of test_autodiff.cpp) on the same values; the error is measured per parameter, norm-wise.
  // What to expect: each product stage rounds its operands (u = 2^-8 each), an error of about
  // 2^-7 of sum|a b| per output (checked exactly, per kernel, above). The gradient of a
  // parameter L layers from the loss passes through about 2L such stages, and where its terms
  // cancel (a weight gradient sums many terms of both signs) the relative error grows by
  // sum|terms| / |sum|. Measured on this net (deterministic: seeded, same bits every run):
  // 0.026-0.033 for the two conv layers (4 and 3 layers from the loss), 0.0034-0.0054 for the
  // two fc layers, FP32 ~3e-7 throughout. The bound 2^-4 = 0.0625 is about twice the worst,
  // while a wrong index or a lost pair is off by O(1). And the error must exceed 2^-12 and 100x
  // FP32's: a bf16 tape that silently ran FP32 products would fail.
  SmallNet<double> exact_net(3);
  SmallNet<float> net(3);
  TapeD tape_d;
  const auto exact = exact_net.gradients(tape_d);
  for (int threads : {1, 2}) {
    ThreadScope scope(threads);
    CAPTURE(threads);
    Tape fp32, bf16;
    bf16.set_precision(Precision::kBf16);
    const auto g32 = net.gradients(fp32), g16 = net.gradients(bf16);
    double worst16 = 0, worst32 = 0;
    for (std::size_t k = 0; k < exact.size(); ++k) {
      CAPTURE(k);
      const double e16 = relative_error(g16[k], exact[k]), e32 = relative_error(g32[k], exact[k]);
      CHECK(e16 <= 1.0 / 16);
      CHECK(e32 <= 1e-5);
      worst16 = std::max(worst16, e16);
      worst32 = std::max(worst32, e32);
    }
    MESSAGE("worst gradient error, bf16 ", worst16, ", fp32 ", worst32);
    CHECK(worst16 > 1.0 / 4096);
    CHECK(worst32 < worst16 / 100);
  }
  TapeD d;
  CHECK_THROWS_WITH_AS(d.set_precision(Precision::kBf16),
                       doctest::Contains("bf16 runs on a float Tape only"), std::exception);
}

TEST_CASE("bf16 conv2d on uint8 frames gives the bits of their float conversion, 1 and 2 threads") {
  // The first layer of a pixel net packs the frames itself instead of reading their FP32
  // conversion: the same bits, forward and backward (kernel_check.hpp's cases).
  for (const auto& s : kFrameShapes) {
    if (!conv2d_bf16_reads_u8(s)) {
      MESSAGE("skipped: no AVX512_BF16 on this CPU, so bf16 convolutions convert frames first");
      CHECK_THROWS_WITH_AS(
          conv2d_forward_bf16_u8_fast(nullptr, nullptr, 1.0f, nullptr, nullptr, s, nullptr),
          doctest::Contains("conv2d_bf16_reads_u8"), std::exception);
      continue;
    }
    for_each_frames_case(
        s, 61,
        [&](const auto& frames, const auto& xf, const auto& w, const auto& b, const auto& dout,
            float scale, bool relu) {
          std::vector<float> ws(conv2d_bf16_workspace_floats(s));
          std::vector<float> out_f(out_size(s)), out_u(out_size(s), 7.0f);
          conv2d_forward_bf16_fast(out_f.data(), xf.data(), w.data(), b.data(), s, ws.data(), relu);
          conv2d_forward_bf16_u8_fast(out_u.data(), frames.data(), scale, w.data(), b.data(), s,
                                      ws.data(), relu);
          CHECK(bits_equal(out_f, out_u));
          auto dw_f = random_floats(w_size(s), 65), db_f = random_floats(s.C_out, 66);
          auto dw_u = dw_f, db_u = db_f;
          conv2d_backward_bf16_fast(nullptr, dw_f.data(), db_f.data(), dout.data(), xf.data(),
                                    w.data(), s, ws.data());
          conv2d_backward_bf16_u8_fast(dw_u.data(), db_u.data(), dout.data(), frames.data(), scale,
                                       w.data(), s, ws.data());
          CHECK(bits_equal(dw_f, dw_u));
          CHECK(bits_equal(db_f, db_u));
        });
  }
  // Padding takes the rounding fallback, which reads floats only: a clear error, not a guess.
  const Conv2dShape padded{2, 3, 9, 9, 5, 3, 3, 1, 1};
  CHECK_FALSE(conv2d_bf16_reads_u8(padded));
  CHECK_THROWS_WITH_AS(conv2d_backward_bf16_u8_fast(nullptr, nullptr, nullptr, nullptr, 1.0f,
                                                    nullptr, padded, nullptr),
                       doctest::Contains("rounding fallback"), std::exception);
}

TEST_CASE("a tape's input_u8 gives the same values and gradients read as frames or as floats") {
  // A small Nature-style net on uint8 frames: conv 8x8/4 + ReLU (fused) -> conv 4x4/2 + ReLU ->
  // flatten -> linear. On a bf16 tape the first convolution reads the frames (input_u8 is never
  // converted); on an FP32 one it converts them when the convolution first reads them. Either
  // way every output and gradient must have the bits of the same net on tape.input() of the
  // frames converted by u8_to_float_fast. The frames are then read once more through view(),
  // which must convert them then.
  const Shape xs{5, 4, 36, 36};
  std::vector<std::uint8_t> frames(static_cast<std::size_t>(xs.numel()));
  Rng rng(71);
  for (auto& v : frames) v = static_cast<std::uint8_t>(rng.below(256));
  constexpr float kScale = 1.0f / 255.0f;
  std::vector<float> xf(xs.numel());
  u8_to_float_fast(xf.data(), frames.data(), kScale, xs.numel());
  Variable c1w(Shape{8, 4, 8, 8}), c1b(Shape{8}), c2w(Shape{16, 8, 4, 4}), c2b(Shape{16});
  Variable fw(Shape{6, 16 * 3 * 3}), fb(Shape{6});
  const std::vector<Variable*> params{&c1w, &c1b, &c2w, &c2b, &fw, &fb};
  for (auto* v : params)
    for (std::int64_t i = 0; i < v->value.numel(); ++i) v->value[i] = rng.uniform(-0.2f, 0.2f);
  for (const Precision p : {Precision::kFp32, Precision::kBf16})
    for (int threads : {1, 2}) {
      ThreadScope scope(threads);
      CAPTURE(static_cast<int>(p));
      CAPTURE(threads);
      std::vector<float> got[2];
      for (int as_frames : {0, 1}) {
        Tape t;
        t.set_precision(p);
        for (auto* v : params) v->zero_grad();
        const Value x = as_frames ? t.input_u8(View<const std::uint8_t>{frames.data(), xs}, kScale)
                                  : t.input(ConstTensorView{xf.data(), xs});
        Value h = t.conv2d(x, t.param(c1w), t.param(c1b), 4, 0, /*relu=*/true);
        h = t.conv2d(h, t.param(c2w), t.param(c2b), 2, 0, /*relu=*/true);
        const Value q = t.linear(t.flatten(h), t.param(fw), t.param(fb));
        const Value loss = t.mean(t.mul(q, q));
        auto& g = got[as_frames];
        g.push_back(t.item(loss));
        t.backward(loss);
        for (auto* v : params) g.insert(g.end(), v->grad.data(), v->grad.data() + v->grad.numel());
        const View<const float> seen = t.view(x);
        CHECK(std::memcmp(seen.data, xf.data(), xf.size() * sizeof(float)) == 0);
      }
      CHECK(bits_equal(got[0], got[1]));
    }
}
