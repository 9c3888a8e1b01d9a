// Tests for core/conv2d.hpp: fast against ref on a spread of awkward shapes, strides and pads and
// on the Nature CNN at batch 32 and 1; the ref backward against central differences; bitwise
// determinism of the threaded backward; dx written (and written through a ReLU) against
// accumulating onto zeros; uint8 frames read in place against their float conversion.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/activation.hpp"
#include "core/bf16.hpp"
#include "core/conv2d.hpp"
#include "core/parallel.hpp"
#include "tests/core/kernel_check.hpp"
#include "tests/fixtures.hpp"

using namespace dqn;
using namespace dqn::test;

namespace {

// Forward and backward of the fast kernel against the double reference within the summation
// bound of kernel_check.hpp. Terms per element: forward C_in*KH*KW (+ bias); dw and db
// N*H_out*W_out (+ the prior value); dx at most C_out*KH*KW (+ prior) for stride 1, fewer
// for larger strides. The bound's sum|terms| comes from the reference on absolute values.
void check_fast(const Conv2dShape& s, bool with_dx = true) {
  CAPTURE(s.N);
  CAPTURE(s.C_in);
  CAPTURE(s.H);
  CAPTURE(s.W);
  CAPTURE(s.C_out);
  CAPTURE(s.KH);
  CAPTURE(s.KW);
  CAPTURE(s.stride);
  CAPTURE(s.pad);
  const auto x = random_floats(x_size(s), 31), w = random_floats(w_size(s), 32);
  const auto b = random_floats(s.C_out, 33), dout = random_floats(out_size(s), 34);
  const auto xd = to_double(x), wd = to_double(w), bd = to_double(b), gd = to_double(dout);
  const auto xa = abs_of(xd), wa = abs_of(wd), ba = abs_of(bd), ga = abs_of(gd);
  std::vector<float> ws(conv2d_workspace_floats(s));

  std::vector<float> out(out_size(s));
  std::vector<double> truth(out.size()), bound(out.size());
  conv2d_forward_fast(out.data(), x.data(), w.data(), b.data(), s, ws.data());
  conv2d_forward_ref(truth.data(), xd.data(), wd.data(), bd.data(), s);
  conv2d_forward_ref(bound.data(), xa.data(), wa.data(), ba.data(), s);
  check_within_bound(out, truth, bound, s.C_in * s.KH * s.KW + 1, "conv2d forward");

  // Gradients start non-zero to check that the kernels accumulate.
  auto dx = random_floats(x_size(s), 35), dw = random_floats(w_size(s), 36);
  auto db = random_floats(s.C_out, 37);
  auto dx_t = to_double(dx), dw_t = to_double(dw), db_t = to_double(db);
  auto dx_b = abs_of(dx_t), dw_b = abs_of(dw_t), db_b = abs_of(db_t);
  conv2d_backward_fast(with_dx ? dx.data() : nullptr, dw.data(), db.data(), dout.data(), x.data(),
                       w.data(), s, ws.data());
  conv2d_backward_ref(with_dx ? dx_t.data() : nullptr, dw_t.data(), db_t.data(), gd.data(),
                      xd.data(), wd.data(), s);
  conv2d_backward_ref(with_dx ? dx_b.data() : nullptr, dw_b.data(), db_b.data(), ga.data(),
                      xa.data(), wa.data(), s);
  const std::int64_t per_image = s.N * s.H_out() * s.W_out() + 1;
  check_within_bound(dw, dw_t, dw_b, per_image, "conv2d dw");
  check_within_bound(db, db_t, db_b, per_image, "conv2d db");
  if (with_dx) check_within_bound(dx, dx_t, dx_b, s.C_out * s.KH * s.KW + 1, "conv2d dx");
}

}  // namespace

TEST_CASE("conv2d fast matches the reference on a spread of awkward shapes, strides and pads") {
  // {N, C_in, H, W, C_out, KH, KW, stride, pad}: sizes from 1, 7, 15, 16, 17, 37, every stride
  // from 1 to 3, pads 0 to 2, kernels 1 to 5 and non-square, an output of a single pixel.
  const Conv2dShape shapes[] = {
      {1, 1, 1, 1, 1, 1, 1, 1, 0},
      {7, 3, 15, 16, 17, 3, 3, 1, 1},
      {2, 16, 17, 15, 7, 3, 3, 2, 1},
      {3, 17, 16, 16, 16, 5, 5, 1, 2},
      {1, 7, 37, 37, 15, 4, 4, 3, 0},
      {16, 2, 7, 7, 37, 3, 2, 2, 2},
      {17, 1, 9, 11, 3, 1, 3, 1, 0},
      {5, 15, 8, 8, 1, 8, 8, 4, 2},
      {4, 37, 6, 7, 17, 2, 2, 2, 0},
      {2, 4, 5, 5, 3, 5, 5, 1, 0},
      // No padding with 37 and 80 output channels: the lowering-free kernels' tiles of 1, 2 and
      // 4 channel vectors together, and a last vector that is partly padding.
      {3, 5, 11, 9, 37, 3, 2, 2, 0},
      {2, 3, 10, 12, 80, 3, 3, 1, 0},
      // The gathering col2im's limits: stride 2 over 31 columns (16 per phase, the last column
      // and row never read), stride 1 over 16, and stride 2 over 33 (17 per phase: the scatter).
      {2, 3, 12, 31, 5, 3, 4, 2, 0},
      {2, 3, 10, 16, 5, 3, 3, 1, 0},
      {2, 3, 9, 33, 5, 3, 3, 2, 0},
  };
  for (int threads : {1, 2}) {
    ThreadScope scope(threads);
    CAPTURE(threads);
    for (const auto& s : shapes) check_fast(s);
  }
}

TEST_CASE("conv2d fast matches the reference on the Nature CNN at batch 32, 2 threads") {
  ThreadScope scope(2);
  check_fast({32, 4, 84, 84, 32, 8, 8, 4, 0}, /*with_dx=*/false);  // the input needs no gradient
  check_fast({32, 32, 20, 20, 64, 4, 4, 2, 0});
  check_fast({32, 64, 9, 9, 64, 3, 3, 1, 0});
}

TEST_CASE("conv2d fast matches the reference on the Nature CNN at batch 1, 1 and 2 threads") {
  for (int threads : {1, 2}) {
    ThreadScope scope(threads);
    check_fast({1, 4, 84, 84, 32, 8, 8, 4, 0});
    check_fast({1, 32, 20, 20, 64, 4, 4, 2, 0});
    check_fast({1, 64, 9, 9, 64, 3, 3, 1, 0});
  }
}

TEST_CASE("conv2d fast matches the reference on the data-efficient CNN's 5x5 stride-5 layers") {
  // van Hasselt et al. 2019: 84 -> 16 -> 3 with non-overlapping windows whose last columns and
  // rows (84 = 16 * 5 + 4, 16 = 3 * 5 + 1) are never read: the kernels must skip them, not wrap.
  for (int threads : {1, 2}) {
    ThreadScope scope(threads);
    CAPTURE(threads);
    for (const std::int64_t batch : {1, 32}) {
      check_fast({batch, 4, 84, 84, 32, 5, 5, 5, 0}, /*with_dx=*/batch == 1);
      check_fast({batch, 32, 16, 16, 64, 5, 5, 5, 0});
    }
  }
}

TEST_CASE("conv2d fast splits a large single image over 2 threads and still matches") {
  // 2 * 64 * (16*3*3) * (64*64) = 75 MFLOP per image, above the 32 MFLOP at which a batch
  // smaller than the thread count is split inside the image (channels, then GEMM rows).
  ThreadScope scope(2);
  check_fast({1, 16, 64, 64, 64, 3, 3, 1, 1});
}

TEST_CASE("conv2d backward reference matches central differences in double, stride 2 pad 1") {
  // out is linear in x, w and b separately: central differences are exact up to roundoff, no kinks.
  for (const Conv2dShape& s :
       {Conv2dShape{2, 2, 5, 6, 3, 3, 3, 2, 1}, Conv2dShape{1, 3, 4, 4, 2, 2, 3, 1, 2}}) {
    auto x = random_doubles(x_size(s), 41), w = random_doubles(w_size(s), 42);
    auto b = random_doubles(s.C_out, 43);
    const auto g = random_doubles(out_size(s), 44);
    std::vector<double> out(out_size(s));
    auto loss = [&] {
      conv2d_forward_ref(out.data(), x.data(), w.data(), b.data(), s);
      return dot(out, g);
    };
    std::vector<double> dx(x.size(), 0.0), dw(w.size(), 0.0), db(b.size(), 0.0);
    conv2d_backward_ref(dx.data(), dw.data(), db.data(), g.data(), x.data(), w.data(), s);
    check_gradient(loss, x, dx, "conv dx");
    check_gradient(loss, w, dw, "conv dw");
    check_gradient(loss, b, db, "conv db");
  }
}

TEST_CASE("conv2d forward reference by hand: a 2x2 sum kernel over a padded 2x2 image") {
  // x = [[1,2],[3,4]], pad 1, 2x2 kernel of ones, stride 1: out (3,3) = windowed sums + b.
  const Conv2dShape s{1, 1, 2, 2, 1, 2, 2, 1, 1};
  const double x[4] = {1, 2, 3, 4}, w[4] = {1, 1, 1, 1}, b[1] = {0.5};
  double out[9];
  conv2d_forward_ref(out, x, w, b, s);
  const double expected[9] = {1.5, 3.5, 2.5, 4.5, 10.5, 6.5, 3.5, 7.5, 4.5};
  for (int i = 0; i < 9; ++i) CHECK(out[i] == expected[i]);
}

TEST_CASE("conv2d backward fast gives identical bits on repeated runs with 2 threads") {
  ThreadScope scope(2);
  const Conv2dShape s{8, 32, 20, 20, 64, 4, 4, 2, 0};
  const auto x = random_floats(x_size(s), 1), w = random_floats(w_size(s), 2);
  const auto dout = random_floats(out_size(s), 3);
  std::vector<float> ws(conv2d_workspace_floats(s));
  auto run = [&] {
    std::vector<float> dx(x_size(s), 0.0f), dw(w_size(s), 0.0f), db(s.C_out, 0.0f);
    conv2d_backward_fast(dx.data(), dw.data(), db.data(), dout.data(), x.data(), w.data(), s,
                         ws.data());
    dx.insert(dx.end(), dw.begin(), dw.end());
    dx.insert(dx.end(), db.begin(), db.end());
    return dx;
  };
  const auto first = run();
  for (int r = 0; r < 5; ++r) CHECK(run() == first);
}

TEST_CASE(
    "conv2d fast without padding gives the same bits at 1 and 2 threads, forward and backward") {
  // The Nature layers at batch 32 and awkward shapes (odd channel counts, a partial channel
  // vector, strides 1-4, a batch of 3): every sum runs whole on one thread in a fixed order.
  const Conv2dShape shapes[] = {{32, 4, 84, 84, 32, 8, 8, 4, 0},
                                {32, 32, 20, 20, 64, 4, 4, 2, 0},
                                {32, 64, 9, 9, 64, 3, 3, 1, 0},
                                {3, 5, 11, 9, 37, 3, 2, 2, 0},
                                {5, 3, 10, 12, 80, 3, 3, 1, 0}};
  for (const auto& s : shapes) {
    CAPTURE(s.C_in);
    CAPTURE(s.C_out);
    const auto x = random_floats(x_size(s), 1), w = random_floats(w_size(s), 2);
    const auto b = random_floats(s.C_out, 3), dout = random_floats(out_size(s), 4);
    std::vector<float> results[2];
    for (int threads : {1, 2}) {
      ThreadScope scope(threads);
      std::vector<float> ws(conv2d_workspace_floats(s));
      std::vector<float> out(out_size(s)), dx(x_size(s), 0.5f), dw(w_size(s), 0.25f);
      std::vector<float> db(s.C_out, 0.125f);
      conv2d_forward_fast(out.data(), x.data(), w.data(), b.data(), s, ws.data());
      conv2d_backward_fast(dx.data(), dw.data(), db.data(), dout.data(), x.data(), w.data(), s,
                           ws.data());
      for (const auto* v : {&out, &dx, &dw, &db})
        results[threads - 1].insert(results[threads - 1].end(), v->begin(), v->end());
    }
    CHECK(std::memcmp(results[0].data(), results[1].data(), results[0].size() * sizeof(float)) ==
          0);
  }
}

TEST_CASE("conv2d matches PyTorch nn.Conv2d with stride 2 and padding 1, ref in double and fast") {
  const auto f = load_fixture("tests/fixtures/core_conv2d.txt");
  const Conv2dShape s{2, 3, 7, 6, 4, 3, 3, 2, 1};
  REQUIRE(f.at("x").shape == std::vector<std::int64_t>{2, 3, 7, 6});
  REQUIRE(f.at("out").shape == std::vector<std::int64_t>{2, 4, s.H_out(), s.W_out()});
  const auto &x = f.at("x").values, &w = f.at("w").values, &b = f.at("b").values;
  const auto& g = f.at("dout").values;
  // Reference in double: at most 27 products of O(1) per element, summed in another order than
  // oneDNN's: 1e-12 absolute is a wide margin over the ~1e-15 differences.
  std::vector<double> out(out_size(s)), dx(x.size(), 0.0), dw(w.size(), 0.0), db(b.size(), 0.0);
  conv2d_forward_ref(out.data(), x.data(), w.data(), b.data(), s);
  conv2d_backward_ref(dx.data(), dw.data(), db.data(), g.data(), x.data(), w.data(), s);
  const std::pair<const std::vector<double>*, const char*> checks[] = {
      {&out, "out"}, {&dx, "dx"}, {&dw, "dw"}, {&db, "db"}};
  for (const auto& [got, name] : checks) {
    const auto& want = f.at(name).values;
    REQUIRE(got->size() == want.size());
    std::int64_t bad = 0;
    for (std::size_t i = 0; i < want.size(); ++i)
      if (!(std::fabs((*got)[i] - want[i]) <= 1e-12)) ++bad;
    INFO(name);
    CHECK(bad == 0);
  }
  // Fast in float on the rounded inputs: the summation bound with 2 extra terms for the input
  // rounding (see test_linear.cpp).
  const auto xf = f.at("x").as_float(), wf = f.at("w").as_float(), bf = f.at("b").as_float();
  const auto gf = f.at("dout").as_float();
  std::vector<float> ws(conv2d_workspace_floats(s));
  std::vector<float> out_f(out.size()), dx_f(x.size(), 0.0f), dw_f(w.size(), 0.0f),
      db_f(b.size(), 0.0f);
  conv2d_forward_fast(out_f.data(), xf.data(), wf.data(), bf.data(), s, ws.data());
  conv2d_backward_fast(dx_f.data(), dw_f.data(), db_f.data(), gf.data(), xf.data(), wf.data(), s,
                       ws.data());
  const auto xa = abs_of(x), wa = abs_of(w), ba = abs_of(b), ga = abs_of(g);
  std::vector<double> out_b(out.size()), dx_b(x.size(), 0.0), dw_b(w.size(), 0.0),
      db_b(b.size(), 0.0);
  conv2d_forward_ref(out_b.data(), xa.data(), wa.data(), ba.data(), s);
  conv2d_backward_ref(dx_b.data(), dw_b.data(), db_b.data(), ga.data(), xa.data(), wa.data(), s);
  const std::int64_t per_image = s.N * s.H_out() * s.W_out();
  check_within_bound(out_f, f.at("out").values, out_b, 27 + 3, "fast out vs torch");
  check_within_bound(dx_f, f.at("dx").values, dx_b, 4 * 9 + 2, "fast dx vs torch");
  check_within_bound(dw_f, f.at("dw").values, dw_b, per_image + 2, "fast dw vs torch");
  check_within_bound(db_f, f.at("db").values, db_b, per_image + 2, "fast db vs torch");
}

namespace {

// Runs check(s, bf16) for every shape at 1 and 2 threads, FP32 and bf16 kernels.
template <std::size_t S, class Check>
void for_each_conv_case(const Conv2dShape (&shapes)[S], Check&& check) {
  for (const auto& s : shapes)
    for (int threads : {1, 2})
      for (bool bf16 : {false, true}) {
        CAPTURE(s.C_in);
        CAPTURE(s.pad);
        CAPTURE(threads);
        CAPTURE(bf16);
        ThreadScope scope(threads);
        check(s, bf16);
      }
}

}  // namespace

TEST_CASE(
    "conv2d backward's dx modes: kSet gives kAdd's bits on zeros, kSetThroughRelu then a "
    "relu_backward_set") {
  // dx starts as NaN for the writing modes, which an add would keep: every element must be
  // written. x is a ReLU's output (about half exact zeros), as the tape hands kSetThroughRelu.
  // Shapes: padded (im2col, phase-split col2im), stride 1 (one phase, col2im straight onto dx:
  // gathered up to 16 columns, scattered beyond), stride 2 without padding (gathered, a second
  // vector past 16 columns), stride 3 (phases, scattered), and one large image at 2 threads
  // (channels split inside it); the bf16 kernel too (its padded shapes take the fallback).
  const Conv2dShape shapes[] = {
      {3, 2, 9, 7, 5, 3, 3, 2, 1},     {4, 64, 9, 9, 64, 3, 3, 1, 0},
      {5, 32, 20, 20, 64, 4, 4, 2, 0}, {2, 3, 19, 18, 4, 3, 3, 1, 0},
      {2, 3, 13, 13, 5, 3, 3, 3, 0},   {1, 8, 96, 96, 32, 3, 3, 1, 1}};  // 42 MFLOP: split inside
  for_each_conv_case(shapes, [](const Conv2dShape& s, bool bf16) {
    auto x = random_floats(x_size(s), 41);
    for (float& v : x) v = std::max(v, 0.0f);
    const auto w = random_floats(w_size(s), 42), dout = random_floats(out_size(s), 43);
    std::vector<float> ws(std::max(conv2d_workspace_floats(s), conv2d_bf16_workspace_floats(s)));
    auto run = [&](DxWrite mode) {
      std::vector<float> dx(x_size(s), mode == DxWrite::kAdd ? 0.0f : std::nanf(""));
      std::vector<float> dw(w_size(s), 0.0f), db(s.C_out, 0.0f);
      if (bf16)
        conv2d_backward_bf16_fast(dx.data(), dw.data(), db.data(), dout.data(), x.data(), w.data(),
                                  s, ws.data(), mode);
      else
        conv2d_backward_fast(dx.data(), dw.data(), db.data(), dout.data(), x.data(), w.data(), s,
                             ws.data(), mode);
      dx.insert(dx.end(), dw.begin(), dw.end());
      dx.insert(dx.end(), db.begin(), db.end());
      return dx;
    };
    const auto bits_equal = [](const std::vector<float>& a, const std::vector<float>& b) {
      return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
    };
    auto added = run(DxWrite::kAdd);
    CHECK(bits_equal(run(DxWrite::kSet), added));
    // Through the ReLU: dx selected by x in place, dw and db unchanged. The select must matter.
    const auto zeros_before = std::count(added.begin(), added.begin() + x_size(s), 0.0f);
    relu_backward_set_ref(added.data(), added.data(), x.data(), x_size(s));
    CHECK(std::count(added.begin(), added.begin() + x_size(s), 0.0f) >
          zeros_before + x_size(s) / 4);
    CHECK(bits_equal(run(DxWrite::kSetThroughRelu), added));
  });
}

TEST_CASE("conv2d forward with relu equals the forward then relu_forward_ref, bit for bit") {
  // Every store path: register tiles (no padding), im2col one sample at a time and in blocks
  // (padded), one large image split inside it at 2 threads; FP32 and bf16; 1 and 2 threads.
  const Conv2dShape shapes[] = {{3, 2, 9, 7, 5, 3, 3, 2, 1},
                                {1, 3, 20, 20, 6, 3, 3, 1, 1},
                                {5, 32, 20, 20, 64, 4, 4, 2, 0},
                                {4, 5, 11, 9, 37, 3, 2, 2, 0},
                                {1, 8, 96, 96, 32, 3, 3, 1, 1}};
  for_each_conv_case(shapes, [](const Conv2dShape& s, bool bf16) {
    auto x = random_floats(x_size(s), 61);
    const auto w = random_floats(w_size(s), 62), b = random_floats(s.C_out, 63);
    x[0] = std::nanf("");  // NaN stays NaN through the ReLU, as relu_forward_ref keeps it
    std::vector<float> ws(std::max(conv2d_workspace_floats(s), conv2d_bf16_workspace_floats(s)));
    auto forward = [&](float* out, bool relu) {
      if (bf16)
        conv2d_forward_bf16_fast(out, x.data(), w.data(), b.data(), s, ws.data(), relu);
      else
        conv2d_forward_fast(out, x.data(), w.data(), b.data(), s, ws.data(), relu);
    };
    std::vector<float> plain(out_size(s)), fused(out_size(s));
    forward(plain.data(), false);
    relu_forward_ref(plain.data(), plain.data(), out_size(s));
    forward(fused.data(), true);
    CHECK(std::memcmp(plain.data(), fused.data(), plain.size() * sizeof(float)) == 0);
    std::int64_t zeros = 0;
    for (float v : fused) zeros += v == 0.0f;
    CHECK(zeros > 0);  // the ReLU did cut something
  });
}

TEST_CASE("conv2d fast on uint8 frames gives the bits of their float conversion, 1 and 2 threads") {
  // The first layer of a pixel net converts one sample at a time into its chunk's slice instead
  // of reading the whole batch converted: the same bits, forward and backward (kernel_check.hpp's
  // cases).
  for (const auto& s : kFrameShapes)
    for_each_frames_case(
        s, 81,
        [&](const auto& frames, const auto& xf, const auto& w, const auto& b, const auto& dout,
            float scale, bool relu) {
          REQUIRE(conv2d_reads_u8(s));
          std::vector<float> ws(conv2d_workspace_floats(s));
          std::vector<float> out_f(out_size(s)), out_u(out_size(s), 7.0f);
          conv2d_forward_fast(out_f.data(), xf.data(), w.data(), b.data(), s, ws.data(), relu);
          conv2d_forward_u8_fast(out_u.data(), frames.data(), scale, w.data(), b.data(), s,
                                 ws.data(), relu);
          CHECK(bits_equal(out_f, out_u));
          auto dw_f = random_floats(w_size(s), 85), db_f = random_floats(s.C_out, 86);
          auto dw_u = dw_f, db_u = db_f;
          conv2d_backward_fast(nullptr, dw_f.data(), db_f.data(), dout.data(), xf.data(), w.data(),
                               s, ws.data());
          conv2d_backward_u8_fast(dw_u.data(), db_u.data(), dout.data(), frames.data(), scale, s,
                                  ws.data());
          CHECK(bits_equal(dw_f, dw_u));
          CHECK(bits_equal(db_f, db_u));
        });
  // Padding (im2col), and a single large image split inside over two threads, read floats only:
  // the predicate says so and the kernels give a clear error, not a guess.
  const Conv2dShape padded{2, 3, 9, 9, 5, 3, 3, 1, 1}, one_large{1, 16, 64, 64, 64, 3, 3, 1, 0};
  CHECK_FALSE(conv2d_reads_u8(padded));
  CHECK(conv2d_reads_u8(one_large));  // one thread: the lowering-free path
  ThreadScope scope(2);
  CHECK_FALSE(conv2d_reads_u8(one_large));
  CHECK_THROWS_WITH_AS(
      conv2d_backward_u8_fast(nullptr, nullptr, nullptr, nullptr, 1.0f, one_large, nullptr),
      doctest::Contains("conv2d_reads_u8"), std::exception);
}
