// Tests for core/linear.hpp: fast against ref on awkward and MLP sizes, accumulation, and the ref
// backward against central differences in double.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/linear.hpp"
#include "core/parallel.hpp"
#include "core/reduce.hpp"
#include "tests/core/kernel_check.hpp"
#include "tests/fixtures.hpp"

using namespace dqn;
using namespace dqn::test;

namespace {

// Forward and backward of the fast kernel against the double reference, within the summation
// bound (kernel_check.hpp) with K = terms summed + 1 for the bias or the prior gradient.
void check_fast(std::int64_t N, std::int64_t C_in, std::int64_t C_out, bool with_bias) {
  CAPTURE(N);
  CAPTURE(C_in);
  CAPTURE(C_out);
  CAPTURE(with_bias);
  const auto x = random_floats(N * C_in, 11), w = random_floats(C_out * C_in, 12);
  const auto b = random_floats(C_out, 13), dout = random_floats(N * C_out, 14);
  const auto xd = to_double(x), wd = to_double(w), bd = to_double(b), gd = to_double(dout);
  const auto xa = abs_of(xd), wa = abs_of(wd), ba = abs_of(bd), ga = abs_of(gd);
  const float* bias = with_bias ? b.data() : nullptr;

  std::vector<float> out(N * C_out);
  std::vector<double> truth(out.size()), bound(out.size());
  linear_forward_fast(out.data(), x.data(), w.data(), bias, N, C_in, C_out);
  linear_forward_ref(truth.data(), xd.data(), wd.data(), with_bias ? bd.data() : nullptr, N, C_in,
                     C_out);
  linear_forward_ref(bound.data(), xa.data(), wa.data(), with_bias ? ba.data() : nullptr, N, C_in,
                     C_out);
  check_within_bound(out, truth, bound, C_in + 1, "linear forward");

  // Gradients start non-zero to check that the kernels accumulate.
  auto dx = random_floats(N * C_in, 15), dw = random_floats(C_out * C_in, 16);
  auto db = random_floats(C_out, 17);
  auto dx_t = to_double(dx), dw_t = to_double(dw), db_t = to_double(db);
  auto dx_b = abs_of(dx_t), dw_b = abs_of(dw_t), db_b = abs_of(db_t);
  linear_backward_fast(dx.data(), dw.data(), db.data(), dout.data(), x.data(), w.data(), N, C_in,
                       C_out);
  linear_backward_ref(dx_t.data(), dw_t.data(), db_t.data(), gd.data(), xd.data(), wd.data(), N,
                      C_in, C_out);
  linear_backward_ref(dx_b.data(), dw_b.data(), db_b.data(), ga.data(), xa.data(), wa.data(), N,
                      C_in, C_out);
  check_within_bound(dx, dx_t, dx_b, C_out + 1, "linear dx");
  check_within_bound(dw, dw_t, dw_b, N + 1, "linear dw");
  check_within_bound(db, db_t, db_b, N + 1, "linear db");
}

const std::int64_t kAwkward[] = {1, 7, 15, 16, 17, 37};

}  // namespace

TEST_CASE("linear fast forward and backward match the reference on awkward sizes") {
  for (int threads : {1, 2}) {
    ThreadScope scope(threads);
    for (std::int64_t N : kAwkward)
      for (std::int64_t C_in : kAwkward)
        for (std::int64_t C_out : kAwkward) check_fast(N, C_in, C_out, (N + C_in + C_out) % 2 == 0);
  }
}

TEST_CASE("linear fast matches the reference on the DQN layers, 1 and 2 threads") {
  for (int threads : {1, 2}) {
    ThreadScope scope(threads);
    // MLP 4 -> 256 -> 256 -> 2 at batch 64, its batch-1 acting forward, the Nature CNN head.
    check_fast(64, 4, 256, true);
    check_fast(64, 256, 256, true);
    check_fast(64, 256, 2, true);
    check_fast(1, 256, 256, true);
    check_fast(32, 3136, 512, true);
    check_fast(32, 512, 6, true);
  }
}

TEST_CASE("linear backward gives the same bits at 1 and 2 threads on the Nature CNN head") {
  // At two threads the head's dX goes whole and dW as row pieces taken by whichever thread is
  // free (linear.cpp); at one, as two whole products. Every element must come out the same,
  // with and without db, accumulating (linear_backward_fast) and overwriting dw and db.
  const std::int64_t N = 32, C_in = 3136, C_out = 512;
  const auto x = random_floats(N * C_in, 31), w = random_floats(C_out * C_in, 32);
  const auto dout = random_floats(N * C_out, 33);
  for (bool overwrite : {false, true})
    for (bool with_db : {false, true}) {
      CAPTURE(overwrite);
      CAPTURE(with_db);
      if (overwrite && !with_db) continue;  // the overwriting form requires db
      std::vector<float> dx[2], dw[2], db[2];
      for (int t = 0; t < 2; ++t) {
        ThreadScope scope(t + 1);
        dx[t] = random_floats(N * C_in, 34);
        dw[t] = random_floats(C_out * C_in, 35);
        db[t] = random_floats(C_out, 36);
        float* dbp = with_db ? db[t].data() : nullptr;
        if (overwrite)
          linear_backward_overwrite_fast(dx[t].data(), dw[t].data(), dbp, dout.data(), x.data(),
                                         w.data(), N, C_in, C_out);
        else
          linear_backward_fast(dx[t].data(), dw[t].data(), dbp, dout.data(), x.data(), w.data(), N,
                               C_in, C_out);
      }
      CHECK(dx[0] == dx[1]);
      CHECK(dw[0] == dw[1]);
      CHECK(db[0] == db[1]);
    }
}

TEST_CASE("linear backward forming dw's norm terms gives the same dx, dw, db and sqnorm_fast(dw)") {
  // With a SqNormParts reset for dw, dW goes in row pieces at any thread count, each forming its
  // norm terms after its stores: dx, dw and db must be those of the call without it, bit for
  // bit, and finish() sqnorm_fast(dw)'s bits. The Nature CNN's head (dW streams, 64 pieces) and
  // a layer too narrow to stream (no pieces: finish() reads dw whole); with and without dx.
  const std::int64_t shapes[][3] = {{32, 3136, 512}, {64, 256, 256}, {64, 40, 300}};
  for (const auto& sh : shapes)
    for (int threads : {1, 2})
      for (bool with_dx : {true, false}) {
        const std::int64_t N = sh[0], C_in = sh[1], C_out = sh[2];
        CAPTURE(N);
        CAPTURE(C_in);
        CAPTURE(threads);
        CAPTURE(with_dx);
        ThreadScope scope(threads);
        const auto x = random_floats(N * C_in, 41), w = random_floats(C_out * C_in, 42);
        const auto dout = random_floats(N * C_out, 43);
        std::vector<float> dx[2], dw[2], db[2];
        float sq[2] = {};
        for (int with_norm = 0; with_norm < 2; ++with_norm) {
          dx[with_norm] = random_floats(N * C_in, 44);
          dw[with_norm] = random_floats(C_out * C_in, 45);  // overwritten
          db[with_norm] = random_floats(C_out, 46);
          SqNormParts parts;
          parts.reset(dw[with_norm].data(), C_out * C_in);
          linear_backward_overwrite_fast(
              with_dx ? dx[with_norm].data() : nullptr, dw[with_norm].data(), db[with_norm].data(),
              dout.data(), x.data(), w.data(), N, C_in, C_out, with_norm ? &parts : nullptr);
          sq[with_norm] = parts.finish();
        }
        CHECK(dx[0] == dx[1]);
        CHECK(dw[0] == dw[1]);
        CHECK(db[0] == db[1]);
        CHECK(std::memcmp(&sq[1], &sq[0], sizeof(float)) == 0);
        const float want = sqnorm_fast(dw[1].data(), C_out * C_in);
        CHECK(std::memcmp(&sq[1], &want, sizeof(float)) == 0);
      }
}

TEST_CASE("linear backward skips dx and db when they are null") {
  const std::int64_t N = 3, C_in = 5, C_out = 4;
  const auto x = random_floats(N * C_in, 1), w = random_floats(C_out * C_in, 2);
  const auto dout = random_floats(N * C_out, 3);
  std::vector<float> dw_fast(C_out * C_in, 0.0f), dw_ref(C_out * C_in, 0.0f);
  linear_backward_fast(nullptr, dw_fast.data(), nullptr, dout.data(), x.data(), w.data(), N, C_in,
                       C_out);
  linear_backward_ref<float>(nullptr, dw_ref.data(), nullptr, dout.data(), x.data(), w.data(), N,
                             C_in, C_out);
  for (std::size_t i = 0; i < dw_ref.size(); ++i) CHECK(dw_fast[i] == doctest::Approx(dw_ref[i]));
}

TEST_CASE("linear backward reference matches central differences in double") {
  // L = <out, g>. out is linear in each of x, w, b separately, so central differences are exact
  // up to roundoff: no kinks to avoid here.
  const std::int64_t N = 3, C_in = 5, C_out = 4;
  auto x = random_doubles(N * C_in, 21), w = random_doubles(C_out * C_in, 22);
  auto b = random_doubles(C_out, 23);
  const auto g = random_doubles(N * C_out, 24);
  std::vector<double> out(N * C_out);
  auto loss = [&] {
    linear_forward_ref(out.data(), x.data(), w.data(), b.data(), N, C_in, C_out);
    return dot(out, g);
  };
  std::vector<double> dx(x.size(), 0.0), dw(w.size(), 0.0), db(b.size(), 0.0);
  linear_backward_ref(dx.data(), dw.data(), db.data(), g.data(), x.data(), w.data(), N, C_in,
                      C_out);
  check_gradient(loss, x, dx, "dx");
  check_gradient(loss, w, dw, "dw");
  check_gradient(loss, b, db, "db");
}

TEST_CASE("linear matches PyTorch nn.Linear forward and gradients, ref in double and fast") {
  const auto f = load_fixture("tests/fixtures/core_linear.txt");
  const std::int64_t N = 3, C_in = 5, C_out = 4;
  REQUIRE(f.at("x").shape == std::vector<std::int64_t>{N, C_in});
  REQUIRE(f.at("w").shape == std::vector<std::int64_t>{C_out, C_in});
  const auto &x = f.at("x").values, &w = f.at("w").values, &b = f.at("b").values;
  const auto& g = f.at("dout").values;
  // Reference in double: only the summation order differs from PyTorch's (5 terms of O(1)):
  // agreement to 1e-12 absolute is ~1e4 ulps of margin.
  std::vector<double> out(N * C_out), dx(N * C_in, 0.0), dw(C_out * C_in, 0.0), db(C_out, 0.0);
  linear_forward_ref(out.data(), x.data(), w.data(), b.data(), N, C_in, C_out);
  linear_backward_ref(dx.data(), dw.data(), db.data(), g.data(), x.data(), w.data(), N, C_in,
                      C_out);
  const std::pair<const std::vector<double>*, const char*> checks[] = {
      {&out, "out"}, {&dx, "dx"}, {&dw, "dw"}, {&db, "db"}};
  for (const auto& [got, name] : checks) {
    const auto& want = f.at(name).values;
    REQUIRE(got->size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) CHECK(std::fabs((*got)[i] - want[i]) <= 1e-12);
  }
  // Fast in float on the rounded inputs: the summation bound with K + 2 terms (the extra 2u per
  // product covers rounding x and w to float).
  const auto xf = f.at("x").as_float(), wf = f.at("w").as_float(), bf = f.at("b").as_float();
  const auto gf = f.at("dout").as_float();
  std::vector<float> out_f(N * C_out), dx_f(N * C_in, 0.0f), dw_f(C_out * C_in, 0.0f),
      db_f(C_out, 0.0f);
  linear_forward_fast(out_f.data(), xf.data(), wf.data(), bf.data(), N, C_in, C_out);
  linear_backward_fast(dx_f.data(), dw_f.data(), db_f.data(), gf.data(), xf.data(), wf.data(), N,
                       C_in, C_out);
  const auto xa = abs_of(x), wa = abs_of(w), ba = abs_of(b), ga = abs_of(g);
  std::vector<double> out_b(N * C_out), dx_b(N * C_in, 0.0), dw_b(C_out * C_in, 0.0),
      db_b(C_out, 0.0);
  linear_forward_ref(out_b.data(), xa.data(), wa.data(), ba.data(), N, C_in, C_out);
  linear_backward_ref(dx_b.data(), dw_b.data(), db_b.data(), ga.data(), xa.data(), wa.data(), N,
                      C_in, C_out);
  check_within_bound(out_f, f.at("out").values, out_b, C_in + 3, "fast out vs torch");
  check_within_bound(dx_f, f.at("dx").values, dx_b, C_out + 2, "fast dx vs torch");
  check_within_bound(dw_f, f.at("dw").values, dw_b, N + 2, "fast dw vs torch");
  check_within_bound(db_f, f.at("db").values, db_b, N + 2, "fast db vs torch");
}
