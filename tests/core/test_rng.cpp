// Tests for core/rng.hpp: reproducibility, stream independence and the distributions.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <string>

#include "core/error.hpp"
#include "core/rng.hpp"

using namespace dqn;

TEST_CASE("the same seed gives the same sequence and another seed does not") {
  Rng a(7), b(7), c(8);
  bool all_equal_to_c = true;
  for (int i = 0; i < 100; ++i) {
    const std::uint64_t x = a.next_u64();
    CHECK(x == b.next_u64());
    all_equal_to_c = all_equal_to_c && (x == c.next_u64());
  }
  CHECK_FALSE(all_equal_to_c);
}

TEST_CASE("xoshiro256** follows its definition from a known state") {
  // State {1, 2, 3, 4}, worked by hand from the generator's definition: output rotl(s1 * 5, 7) * 9,
  // then the state update leaves s1 = 2 ^ (3 ^ 1) = 0.
  Rng r;
  r.set_state({1, 2, 3, 4});
  CHECK(r.next_u64() == 11520ULL);  // rotl(10, 7) * 9 = 1280 * 9
  CHECK(r.next_u64() == 0ULL);      // s1 became 0 after the first step
}

TEST_CASE(
    "set_state refuses the all-zero state, which would repeat 0 forever, and keeps the old one") {
  Rng r(5);
  const Rng::State before = r.state();
  try {
    r.set_state({0, 0, 0, 0});
    FAIL("expected an Error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("all four words zero") != std::string::npos);
  }
  CHECK(r.state() == before);
  r.set_state({0, 0, 0, 1});  // one set bit is a valid state
  CHECK(r.state() == Rng::State{0, 0, 0, 1});
}

TEST_CASE("split streams differ from each other and leave the parent unchanged") {
  Rng parent(1);
  const Rng::State before = parent.state();
  Rng s1 = parent.split(1), s2 = parent.split(2);
  CHECK(parent.state() == before);
  CHECK(s1.next_u64() != s2.next_u64());
  CHECK(parent.split(1).state() == parent.split(1).state());
}

TEST_CASE("uniform_int covers its range evenly (chi-square at a fixed seed)") {
  Rng r(3);
  constexpr int kBins = 6, kDraws = 60000;
  std::array<int, kBins> counts{};
  for (int i = 0; i < kDraws; ++i) {
    const std::int64_t v = r.uniform_int(0, kBins);
    REQUIRE((v >= 0 && v < kBins));
    ++counts[v];
  }
  double chi2 = 0;
  for (int c : counts) chi2 += (c - kDraws / kBins) * (c - kDraws / kBins) / double(kDraws / kBins);
  // 5 degrees of freedom: P(chi2 > 20.5) = 0.001.
  CHECK(chi2 < 20.5);
  CHECK_THROWS(r.uniform_int(3, 3));
}

TEST_CASE("uniform floats lie in 0 to 1 and normals have mean 0 and variance 1") {
  Rng r(11);
  double sum = 0, sum_sq = 0;
  constexpr int kDraws = 200000;
  for (int i = 0; i < kDraws; ++i) {
    const float u = r.uniform_float();
    REQUIRE((u >= 0.0f && u < 1.0f));
    const double z = r.normal();
    sum += z;
    sum_sq += z * z;
  }
  // Standard errors: mean 1/sqrt(n) = 0.0022, variance sqrt(2/n) = 0.0032; allow 5 of each.
  CHECK(std::abs(sum / kDraws) < 0.011);
  CHECK(std::abs(sum_sq / kDraws - 1.0) < 0.016);
}
