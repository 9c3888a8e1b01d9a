// Tests for core/reduce.hpp: gather / max by hand (ties!), sums against the double reference,
// determinism with 2 threads, and the gather gradient against central differences.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <vector>

#include "core/elementwise.hpp"
#include "core/parallel.hpp"
#include "core/reduce.hpp"
#include "tests/core/kernel_check.hpp"

using namespace dqn;
using namespace dqn::test;

TEST_CASE("gather picks q at each row's action and its backward accumulates there only") {
  const float q[6] = {1, 2, 3, 4, 5, 6};  // (N=3, A=2)
  const std::int64_t actions[3] = {1, 0, 1};
  float out[3];
  gather_actions_forward_fast(out, q, actions, 3, 2);
  CHECK(out[0] == 2);
  CHECK(out[1] == 3);
  CHECK(out[2] == 6);
  float dq[6] = {1, 1, 1, 1, 1, 1};
  const float dout[3] = {10, 20, 30};
  gather_actions_backward_fast(dq, dout, actions, 3, 2);
  const float expected[6] = {1, 11, 21, 1, 1, 31};
  for (int i = 0; i < 6; ++i) CHECK(dq[i] == expected[i]);
}

TEST_CASE("max over actions returns the first index on ties, as torch.argmax") {
  const float q[9] = {0, 0, 0, 1, 3, 3, -1, -2, -1};  // (N=3, A=3)
  float value[3];
  std::int64_t argmax[3];
  max_actions_fast(value, argmax, q, 3, 3);
  CHECK(argmax[0] == 0);
  CHECK(argmax[1] == 1);
  CHECK(argmax[2] == 0);
  CHECK(value[0] == 0);
  CHECK(value[1] == 3);
  CHECK(value[2] == -1);
  std::int64_t argmax_only[3];
  max_actions_ref<float>(nullptr, argmax_only, q, 3, 3);  // value may be null
  for (int i = 0; i < 3; ++i) CHECK(argmax_only[i] == argmax[i]);
}

TEST_CASE("sum_fast and sqnorm_fast match the double reference on awkward sizes") {
  for (int threads : {1, 2}) {
    ThreadScope scope(threads);
    for (std::int64_t n : std::initializer_list<std::int64_t>{0, 1, 7, 15, 16, 17, 37, 1025, 100000,
                                                              2 * kElementwiseGrain + 5}) {
      CAPTURE(n);
      const auto x = random_floats(n, 1);
      const auto xd = to_double(x);
      const auto xa = abs_of(xd);
      // Cascade-sum error <= ~40 u sum|x| (simd_sum.hpp), plus the final rounding to float:
      // 64 u sum|x| (the reference in double is the truth).
      const double sum_abs = sum_ref(xa.data(), n);
      CHECK(std::fabs(sum_fast(x.data(), n) - sum_ref(xd.data(), n)) <=
            64 * kUnitRoundoffF * sum_abs + 1e-30);
      const double sq = sqnorm_ref(xd.data(), n);
      CHECK(std::fabs(sqnorm_fast(x.data(), n) - sq) <= 64 * kUnitRoundoffF * sq + 1e-30);
    }
  }
}

TEST_CASE("sum_fast and sqnorm_fast give identical bits on repeated runs with 2 threads") {
  ThreadScope scope(2);
  const std::int64_t n =
      3 * kElementwiseGrain + 11;  // three chunks' worth: the threads really split it
  const auto x = random_floats(n, 2);
  const float s = sum_fast(x.data(), n), q = sqnorm_fast(x.data(), n);
  for (int r = 0; r < 20; ++r) {
    CHECK(sum_fast(x.data(), n) == s);
    CHECK(sqnorm_fast(x.data(), n) == q);
  }
}

namespace {
bool same_bits(float a, float b) {
  return std::memcmp(&a, &b, sizeof(float)) == 0;
}
}  // namespace

TEST_CASE("SqNormParts gives sqnorm_fast's bits however its pieces fall") {
  // Pieces aligned to the blocks, straddling them, one element long, out of order, overlapping
  // none or all of x, at 1 and 2 threads (two chunks whose blocks start at n/2, not at a
  // multiple of 1024): finish() must equal sqnorm_fast bit for bit. The sizes take in the Nature
  // CNN's fc weight (512 x 3136) and sizes that leave a partial last block per chunk.
  for (int threads : {1, 2}) {
    ThreadScope scope(threads);
    for (std::int64_t n : std::initializer_list<std::int64_t>{
             0, 1, 1023, 1025, 100000, 2 * kElementwiseGrain + 5, 512 * 3136}) {
      CAPTURE(threads);
      CAPTURE(n);
      const auto x = random_floats(n, 7);
      const float want = sqnorm_fast(x.data(), n);
      SqNormParts parts;
      for (std::int64_t piece :
           std::initializer_list<std::int64_t>{0, 1, 1000, 1024, 3136 * 8, n + 1}) {
        CAPTURE(piece);
        parts.reset(x.data(), n);
        CHECK(parts.data() == x.data());
        CHECK(parts.size() == n);
        if (piece > 0) {  // the pieces from the last to the first, every one but the middle one
          const std::int64_t count = (n + piece - 1) / piece;
          for (std::int64_t p = count - 1; p >= 0; --p)
            if (p != count / 2 || count < 3) parts.form(p * piece, std::min(n, (p + 1) * piece));
        }
        CHECK(same_bits(parts.finish(), want));
        CHECK(same_bits(parts.finish(), want));  // finish() twice: the same
      }
    }
  }
}

TEST_CASE("SqNormParts's terms are those of the values when formed: reset() forgets them") {
  // A block formed, then its values changed, then reset(): finish() sees the new values. And a
  // formed block is used as formed (the kernel's promise that its values are final): changing
  // the values after form() without reset() is the one misuse finish() cannot see, so the test
  // pins that the terms come from form() time, which is what makes the promise necessary.
  const std::int64_t n = 4096;
  auto x = random_floats(n, 8);
  SqNormParts parts;
  parts.reset(x.data(), n);
  parts.form(0, n);
  const float before = sqnorm_fast(x.data(), n);
  x[5] = 100.0f;
  CHECK(same_bits(parts.finish(), before));
  parts.reset(x.data(), n);
  CHECK(same_bits(parts.finish(), sqnorm_fast(x.data(), n)));
  CHECK(parts.finish() > before);
  // form() takes only the blocks whole inside its range: [0, 1500) forms block 0, not block 1,
  // so a value of block 1 written after it still counts.
  x = random_floats(n, 8);
  parts.reset(x.data(), n);
  parts.form(0, 1500);
  x[1400] = 100.0f;
  CHECK(same_bits(parts.finish(), sqnorm_fast(x.data(), n)));
}

TEST_CASE("gather backward reference matches central differences in double") {
  // out is linear in q: no kinks.
  const std::int64_t N = 5, A = 3;
  auto q = random_doubles(N * A, 3);
  const std::int64_t actions[N] = {2, 0, 1, 1, 2};
  const auto g = random_doubles(N, 4);
  std::vector<double> out(N);
  auto loss = [&] {
    gather_actions_forward_ref(out.data(), q.data(), actions, N, A);
    return dot(out, g);
  };
  std::vector<double> dq(N * A, 0.0);
  gather_actions_backward_ref(dq.data(), g.data(), actions, N, A);
  check_gradient(loss, q, dq, "gather dq");
}
