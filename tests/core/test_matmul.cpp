// Tests for core/matmul.hpp: the fast GEMMs (Eigen and the streaming tiles) against the triple
// loops, on awkward and DQN sizes.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <vector>

#include "core/matmul.hpp"
#include "core/parallel.hpp"
#include "tests/core/kernel_check.hpp"

using namespace dqn;
using namespace dqn::test;

namespace {

enum class Form { kNN, kNT, kTN };

// Runs the fast float product and checks it against the double reference within the summation
// bound of kernel_check.hpp, for both accumulate = false and true (C starts random).
void check_form(Form form, std::int64_t M, std::int64_t K, std::int64_t N) {
  // A is (M,K) for NN/NT and (K,M) for TN; B is (K,N) for NN/TN and (N,K) for NT: same sizes.
  const auto a = random_floats(M * K, 1 + M * 1000 + K);
  const auto b = random_floats(K * N, 2 + N * 1000 + K);
  const auto c0 = random_floats(M * N, 3);
  for (bool accumulate : {false, true}) {
    std::vector<float> c = c0;
    std::vector<double> truth = to_double(c0), bound = abs_of(to_double(c0));
    const auto ad = to_double(a), bd = to_double(b), aa = abs_of(ad), ba = abs_of(bd);
    switch (form) {
      case Form::kNN:
        matmul_nn_fast(c.data(), a.data(), b.data(), M, K, N, accumulate);
        matmul_nn_ref(truth.data(), ad.data(), bd.data(), M, K, N, accumulate);
        matmul_nn_ref(bound.data(), aa.data(), ba.data(), M, K, N, accumulate);
        break;
      case Form::kNT:
        matmul_nt_fast(c.data(), a.data(), b.data(), M, K, N, accumulate);
        matmul_nt_ref(truth.data(), ad.data(), bd.data(), M, K, N, accumulate);
        matmul_nt_ref(bound.data(), aa.data(), ba.data(), M, K, N, accumulate);
        break;
      case Form::kTN:
        matmul_tn_fast(c.data(), a.data(), b.data(), M, K, N, accumulate);
        matmul_tn_ref(truth.data(), ad.data(), bd.data(), M, K, N, accumulate);
        matmul_tn_ref(bound.data(), aa.data(), ba.data(), M, K, N, accumulate);
        break;
    }
    check_within_bound(c, truth, bound, K + 1, "matmul");
  }
}

const std::int64_t kAwkward[] = {1, 7, 15, 16, 17, 37};

}  // namespace

TEST_CASE("matmul fast NN, NT and TN match the reference on awkward sizes, 1 and 2 threads") {
  for (int threads : {1, 2}) {
    ThreadScope scope(threads);
    for (Form form : {Form::kNN, Form::kNT, Form::kTN})
      for (std::int64_t M : kAwkward)
        for (std::int64_t K : kAwkward)
          for (std::int64_t N : kAwkward) {
            CAPTURE(threads);
            CAPTURE(M);
            CAPTURE(K);
            CAPTURE(N);
            check_form(form, M, K, N);
          }
  }
}

TEST_CASE("matmul fast matches the reference on the DQN shapes, split over 2 threads") {
  ThreadScope scope(2);
  // MLP at batch 64: forward NT (64,4)->(64,256), (64,256)->(64,256), (64,256)->(64,2);
  // backward NN dX = dY.W and TN dW = dY^T.X; the Nature CNN head 3136 -> 512 -> 6 at batch 32.
  check_form(Form::kNT, 64, 4, 256);
  check_form(Form::kNT, 64, 256, 256);
  check_form(Form::kNT, 64, 256, 2);
  check_form(Form::kNN, 64, 256, 256);
  check_form(Form::kNN, 64, 2, 256);
  check_form(Form::kTN, 256, 64, 256);
  check_form(Form::kTN, 256, 64, 4);
  check_form(Form::kNT, 32, 3136, 512);
  check_form(Form::kTN, 512, 32, 3136);
  // The conv im2col GEMMs: w (C_out, C_in*KH*KW) . col (C_in*KH*KW, H_out*W_out).
  check_form(Form::kNN, 32, 256, 400);
  check_form(Form::kNN, 64, 512, 81);
  check_form(Form::kNN, 64, 576, 49);
}

TEST_CASE("matmul streaming tiles match the reference with every kind of tail, 1 and 2 threads") {
  // A small batch against a weight of 2^16 elements or more takes the streaming tiles. Sizes
  // leave partial tiles everywhere: NT pads 17 and 33 batch rows to whole vectors and ends with
  // 250 mod (rows per tile) weight rows; NN and TN end with rows that fill no whole tile, single
  // vectors and a last partial vector (131 = 2x48 + 16 + 16 + 3 on AVX-512).
  for (int threads : {1, 2}) {
    ThreadScope scope(threads);
    CAPTURE(threads);
    check_form(Form::kNT, 17, 300, 250);
    check_form(Form::kNT, 33, 1000, 131);
    check_form(Form::kNN, 37, 1000, 131);
    check_form(Form::kNN, 2, 600, 419);
    check_form(Form::kTN, 201, 33, 419);
    check_form(Form::kTN, 131, 64, 1000);
    // Leftover columns of 1 and 2 vectors, partial or whole (on AVX-512: 53 = 48 + 5,
    // 68 = 48 + 16 + 4, 656 = 13x48 + 32, 1060 = 22x48 + 4).
    check_form(Form::kNN, 9, 1300, 53);
    check_form(Form::kNN, 9, 1300, 68);
    check_form(Form::kTN, 100, 20, 656);
    check_form(Form::kTN, 67, 40, 1060);
    // The Nature CNN head's three products at batch 32.
    check_form(Form::kNT, 32, 3136, 512);
    check_form(Form::kNN, 32, 512, 3136);
    check_form(Form::kTN, 512, 32, 3136);
  }
}

TEST_CASE("matmul streaming tiles give the same bits at 1 and 2 threads") {
  // Each output element is summed by one thread in k order, whatever the split.
  const std::int64_t M = 32, K = 512, N = 3136;
  const auto a = random_floats(M * K, 7), b = random_floats(K * N, 8);
  std::vector<float> one(M * N), two(M * N);
  {
    ThreadScope scope(1);
    matmul_nn_fast(one.data(), a.data(), b.data(), M, K, N, false);
  }
  {
    ThreadScope scope(2);
    matmul_nn_fast(two.data(), a.data(), b.data(), M, K, N, false);
  }
  CHECK(one == two);
}

TEST_CASE("matmul TN pieces, run in any order, give the whole product's bits") {
  // The Nature CNN head's weight gradient dW = dout^T . x, cut by rows, C starting random, with
  // and without accumulation; pieces run last to first, as a second thread may take them.
  const std::int64_t batch = 32, C_out = 512, C_in = 3136;
  const auto dout = random_floats(batch * C_out, 21), x = random_floats(batch * C_in, 23);
  // At most one piece a tile: 512 rows are 64 tiles of 8 with AVX-512 (128 of 4 with AVX2).
  const std::int64_t tiles = matmul_tn_pieces(C_out, batch, C_in, 1 << 30);
  REQUIRE(tiles >= 64);
  for (bool accumulate : {false, true}) {
    CAPTURE(accumulate);
    for (std::int64_t most : {1, 5, 7, 14, 1000}) {
      CAPTURE(most);
      const std::int64_t pieces = matmul_tn_pieces(C_out, batch, C_in, most);
      REQUIRE(pieces == std::min(most, tiles));
      auto whole = random_floats(C_out * C_in, 25), parts = whole;
      matmul_tn_fast(whole.data(), dout.data(), x.data(), C_out, batch, C_in, accumulate);
      for (std::int64_t p = pieces - 1; p >= 0; --p)
        matmul_tn_piece(parts.data(), dout.data(), x.data(), C_out, batch, C_in, accumulate, p,
                        pieces);
      CHECK(parts == whole);
    }
  }
  // 37 rows (a weight of 74,000, enough to stream): the last tile short, in whichever piece.
  const auto a = random_floats(batch * 37, 26), b = random_floats(batch * 2000, 27);
  for (std::int64_t most : {1, 2, 3, 5}) {
    const std::int64_t pieces = matmul_tn_pieces(37, batch, 2000, most);
    REQUIRE(pieces == most);
    std::vector<float> whole(37 * 2000), parts(37 * 2000, -1.0f);
    matmul_tn_fast(whole.data(), a.data(), b.data(), 37, batch, 2000, false);
    for (std::int64_t p = 0; p < pieces; ++p)
      matmul_tn_piece(parts.data(), a.data(), b.data(), 37, batch, 2000, false, p, pieces);
    CHECK(parts == whole);
  }
}

TEST_CASE("matmul TN pieces: none where the product does not stream, bad counts rejected") {
  // A batch of 1 and a small weight take Eigen's GEMM, which has no pieces.
  CHECK(matmul_tn_pieces(512, 1, 3136, 7) == 0);
  CHECK(matmul_tn_pieces(64, 32, 64, 7) == 0);
  std::vector<float> c(512 * 3136), a(32 * 512), b(32 * 3136);
  CHECK_THROWS_WITH_AS(
      matmul_tn_piece(c.data(), a.data(), b.data(), 512, 32, 3136, false, 0, 100000),
      doctest::Contains("take the count from matmul_tn_pieces"), std::exception);
  CHECK_THROWS_AS(matmul_tn_piece(c.data(), a.data(), b.data(), 512, 32, 3136, false, 7, 7),
                  std::exception);
  CHECK_THROWS_AS(matmul_tn_piece(c.data(), a.data(), b.data(), 64, 1, 64, false, 0, 1),
                  std::exception);
}

TEST_CASE("matmul with K = 0 writes zeros, or leaves C unchanged when accumulating") {
  std::vector<float> c(6, 5.0f);
  matmul_nn_fast(c.data(), nullptr, nullptr, 2, 0, 3, true);
  for (float x : c) CHECK(x == 5.0f);
  matmul_nt_fast(c.data(), nullptr, nullptr, 2, 0, 3, false);
  for (float x : c) CHECK(x == 0.0f);
}
