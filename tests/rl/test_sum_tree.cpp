// Tests for rl/sum_tree.hpp: the sum-tree and min-tree held against their flat-array references
// on awkward sizes and after many updates, and the descent's edge cases.
//
// Planted bugs these catch (each tried by hand): a descent that goes right on u <= left instead
// of u < left (the exact dyadic case finds the neighbour of every boundary), inner nodes adjusted
// by a difference instead of recomputed (the bitwise total after 20,000 updates drifts), a min
// tree that keeps zeros (min() becomes 0), and find() returning a zero-priority slot at the end.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/rng.hpp"
#include "rl/sum_tree.hpp"

using namespace dqn;

namespace {

const std::int64_t kSizes[] = {1, 2, 3, 7, 8, 9, 1000, 1023, 1025};

// Every slot of positive priority must be found at the middle of the interval the reference
// gives it, and at its left end where that end is exact.
void check_find_agrees(const SumTree& tree, const SumTreeRef& ref, std::int64_t n,
                       bool exact_boundaries) {
  double prefix = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double p = ref.get(i);
    if (p <= 0) continue;
    CAPTURE(i);
    REQUIRE(tree.find(prefix + 0.5 * p) == i);
    REQUIRE(ref.find(prefix + 0.5 * p) == i);
    if (exact_boundaries) {
      REQUIRE(tree.find(prefix) == i);
      REQUIRE(ref.find(prefix) == i);
    }
    prefix += p;
  }
}

}  // namespace

TEST_CASE("sum tree: exact priorities give the reference's total and finds, to the bit") {
  // Multiples of 1/8 below 2^10: every partial sum is exact in double, so the tree's and the
  // flat array's summation orders give the same bits and every interval boundary is exact.
  for (const std::int64_t n : kSizes) {
    CAPTURE(n);
    SumTree tree(n);
    SumTreeRef ref(n);
    Rng rng(static_cast<std::uint64_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      // About one slot in five holds 0 (not sampleable).
      const double p = rng.below(5) == 0 ? 0.0 : static_cast<double>(rng.below(8192)) / 8;
      tree.set(i, p);
      ref.set(i, p);
    }
    REQUIRE(tree.total() == ref.total());
    if (tree.total() > 0) check_find_agrees(tree, ref, n, true);
  }
}

TEST_CASE("sum and min trees agree with the references after 20,000 random updates") {
  for (const std::int64_t n : kSizes) {
    CAPTURE(n);
    SumTree tree(n);
    SumTreeRef ref(n);
    MinTree min_tree(n);
    MinTreeRef min_ref(n);
    Rng rng(7 + static_cast<std::uint64_t>(n));
    for (int k = 0; k < 20000; ++k) {
      const auto i = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(n)));
      // Priorities as PER makes them, (|delta| + eps)^alpha over many scales, and some zeros.
      const double p = rng.below(10) == 0 ? 0.0 : std::pow(rng.uniform(0.0, 50.0) + 1e-6, 0.6);
      tree.set(i, p);
      ref.set(i, p);
      min_tree.set(i, p);
      min_ref.set(i, p);
      if (k % 997 == 0) REQUIRE(min_tree.min() == min_ref.min());
    }
    CHECK(min_tree.min() == min_ref.min());
    CHECK(tree.total() == doctest::Approx(ref.total()).epsilon(1e-12));
    // Recomputed, never adjusted: a tree built afresh from the same leaves holds the same bits.
    SumTree fresh(n);
    for (std::int64_t i = 0; i < n; ++i) fresh.set(i, ref.get(i));
    CHECK(fresh.total() == tree.total());
    if (ref.total() > 0) check_find_agrees(tree, ref, n, false);
  }
}

TEST_CASE("sum tree: u at or past the total finds the last positive slot, never a zero one") {
  SumTree tree(7);
  SumTreeRef ref(7);
  const double p[7] = {0, 2, 0, 1, 3, 0, 0};
  for (int i = 0; i < 7; ++i) {
    tree.set(i, p[i]);
    ref.set(i, p[i]);
  }
  REQUIRE(tree.total() == 6);
  // Hand-computed: slot 1 owns [0, 2), slot 3 [2, 3), slot 4 [3, 6).
  CHECK(tree.find(0) == 1);
  CHECK(tree.find(1.999) == 1);
  CHECK(tree.find(2) == 3);
  CHECK(tree.find(2.5) == 3);
  CHECK(tree.find(3) == 4);
  CHECK(tree.find(5.999) == 4);
  for (const double u : {6.0, 6.5, std::nextafter(6.0, 0.0)}) {
    CHECK(tree.find(u) == 4);
    CHECK(ref.find(u) == 4);
  }
}

TEST_CASE("min tree: zeros are left out, and +inf means no slot can be sampled") {
  MinTree tree(3);
  CHECK(tree.min() == std::numeric_limits<double>::infinity());
  tree.set(0, 0.5);
  tree.set(2, 0.25);
  CHECK(tree.min() == 0.25);
  tree.set(2, 0);
  CHECK(tree.min() == 0.5);
  tree.set(0, 0);
  CHECK(tree.min() == std::numeric_limits<double>::infinity());
}
