// Tests for rl/prioritized.hpp: priorities (|delta| + eps)^alpha, new slots at the max priority,
// unsampleable slots at 0, stratified sampling, importance weights and beta's schedule, all
// hand-computed, and the snapshot's checks.
//
// Planted bugs these catch (each tried by hand): weights normalised by the batch's largest
// instead of by p_min (the [4, 1] case gives 1 and 2), alpha applied to |delta| before adding eps
// (the eps = 1 case gives 1.73 + 1 instead of 2), new slots at priority 1 instead of the max so
// far, the segment draw (b + u) / B times the total replaced by u times the total (the
// one-slot-per-segment case fails), and beta annealed over the wrong span.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "rl/prioritized.hpp"

using namespace dqn;

TEST_CASE("priorities: new slots enter at the largest priority so far, unsampleable ones at 0") {
  Priorities p(4, 0.5, 1.0);
  p.reset_slot(0, true);
  p.reset_slot(1, false);
  CHECK(p.priority(0) == 1.0);  // the max before any update (Schaul et al. 2016, Algorithm 1)
  CHECK(p.priority(1) == 0.0);
  const std::int64_t idx[] = {0};
  const float td[] = {8.0f};
  p.update(idx, td, 1);
  CHECK(p.priority(0) == 3.0);  // (8 + 1)^0.5
  CHECK(p.max_priority() == 3.0);
  p.reset_slot(2, true);
  CHECK(p.priority(2) == 3.0);
  // A smaller error lowers the slot but not the max.
  const float small[] = {0.0f};
  p.update(idx, small, 1);
  CHECK(p.priority(0) == 1.0);  // (0 + 1)^0.5
  CHECK(p.max_priority() == 3.0);
  // refresh_slot changes only a slot whose sampleability flipped.
  p.refresh_slot(0, true);
  CHECK(p.priority(0) == 1.0);
  p.refresh_slot(1, true);
  CHECK(p.priority(1) == 3.0);
  p.refresh_slot(0, false);
  CHECK(p.priority(0) == 0.0);
  CHECK(p.total() == 6.0);
}

TEST_CASE("priorities: (|delta| + eps)^alpha, with alpha 0 giving uniform priorities") {
  Priorities p(2, 0.6, 1e-6);
  const std::int64_t idx[] = {0, 1};
  const float td[] = {2.5f, 0.0f};
  p.update(idx, td, 2);
  CHECK(p.priority(0) == doctest::Approx(std::pow(2.5 + 1e-6, 0.6)).epsilon(1e-15));
  CHECK(p.priority(1) == doctest::Approx(std::pow(1e-6, 0.6)).epsilon(1e-15));
  Priorities uniform(2, 0.0, 1e-6);
  uniform.update(idx, td, 2);
  CHECK(uniform.priority(0) == 1.0);
  CHECK(uniform.priority(1) == 1.0);
}

TEST_CASE("stratified sampling puts one draw in each of B equal segments of the total") {
  // Priorities 3, 0, 1 (total 4) and B = 4: segments [0,1), [1,2), [2,3) lie in slot 0's
  // interval [0, 3), segment [3, 4) in slot 2's; slot 1 (priority 0) is never drawn. This holds
  // for every draw of the Rng.
  Priorities p(3, 1.0, 1.0);
  const std::int64_t idx[] = {0, 2};
  const float td[] = {2.0f, 0.0f};  // (2 + 1)^1 = 3, (0 + 1)^1 = 1
  p.update(idx, td, 2);
  REQUIRE(p.total() == 4.0);
  Rng rng(3);
  std::int64_t got[4];
  float w[4];
  for (int k = 0; k < 100; ++k) {
    p.sample(got, w, 4, 0.5, rng);
    CHECK(got[0] == 0);
    CHECK(got[1] == 0);
    CHECK(got[2] == 0);
    CHECK(got[3] == 2);
    // w = (p_i / p_min)^-beta: (3 / 1)^-0.5 for slot 0, 1 for slot 2 (the smallest priority).
    CHECK(w[0] == doctest::Approx(1 / std::sqrt(3.0)).epsilon(1e-7));
    CHECK(w[3] == 1.0f);
  }
}

TEST_CASE("a slot is drawn in proportion to its priority (B = 1, 200k draws at a fixed seed)") {
  Priorities p(4, 1.0, 1.0);
  const std::int64_t idx[] = {0, 1, 3};
  const float td[] = {0.0f, 1.0f, 5.0f};  // priorities 1, 2, 0, 6: total 9
  p.update(idx, td, 3);
  Rng rng(11);
  std::vector<std::int64_t> counts(4, 0);
  const int draws = 200000;
  for (int k = 0; k < draws; ++k) {
    std::int64_t i;
    float w;
    p.sample(&i, &w, 1, 1.0, rng);
    ++counts[static_cast<std::size_t>(i)];
  }
  CHECK(counts[2] == 0);
  const double expected[] = {1.0 / 9, 2.0 / 9, 0, 6.0 / 9};
  for (int i : {0, 1, 3}) {
    // Within 5 standard deviations of the binomial count (about 150 draws).
    const double mean = draws * expected[i], sd = std::sqrt(mean * (1 - expected[i]));
    CHECK(std::abs(static_cast<double>(counts[static_cast<std::size_t>(i)]) - mean) < 5 * sd);
  }
}

TEST_CASE("beta anneals linearly from beta_start to 1 over the run, then stays at 1") {
  CHECK(linear_beta(0.4, 0, 1000) == 0.4);
  CHECK(linear_beta(0.4, 500, 1000) == doctest::Approx(0.7));
  CHECK(linear_beta(0.4, 1000, 1000) == 1.0);
  CHECK(linear_beta(0.4, 2000, 1000) == 1.0);
}

TEST_CASE("priorities: save and load round-trip; bad values and mismatched slots are refused") {
  Priorities p(3, 0.5, 1.0);
  p.reset_slot(0, true);
  p.reset_slot(1, false);
  const std::int64_t idx[] = {0};
  const float td[] = {3.0f};
  p.update(idx, td, 1);  // slot 0: 2, max 2
  p.reset_slot(2, true);
  PieceWriter w;
  p.save(w);
  const std::string bytes = w.concatenated();
  auto sampleable = [](std::int64_t i) { return i != 1; };
  Priorities q(3, 0.5, 1.0);
  q.load(bytes, sampleable);
  CHECK(q.priority(0) == 2.0);
  CHECK(q.priority(1) == 0.0);
  CHECK(q.priority(2) == 2.0);
  CHECK(q.max_priority() == 2.0);
  CHECK(q.total() == 4.0);

  auto error = [&](std::string b, const std::function<bool(std::int64_t)>& s) {
    Priorities r(3, 0.5, 1.0);
    try {
      r.load(b, s);
    } catch (const Error& e) {
      CHECK(r.total() == 0.0);  // unchanged
      return std::string(e.what());
    }
    return std::string();
  };
  auto with = [&](std::size_t offset, double v) {
    std::string b = bytes;
    std::memcpy(b.data() + offset, &v, 8);
    return b;
  };
  CHECK(error(bytes, sampleable).empty());
  CHECK(error(with(8, std::nan("")), sampleable).find("max priority is nan") != std::string::npos);
  CHECK(error(with(16, -1.0), sampleable).find("priority of slot 0 is -1") != std::string::npos);
  CHECK(error(with(16, 3.0), sampleable).find("priority of slot 0 is 3") != std::string::npos);
  CHECK(error(with(24, 2.0), sampleable).find("slot 1 is 2, expected 0") != std::string::npos);
  CHECK(error(bytes, [](std::int64_t) { return true; }).find("slot 1 is 0, expected > 0") !=
        std::string::npos);
  CHECK(error(bytes.substr(0, 30), sampleable).find("truncated") != std::string::npos);
  Priorities other(4, 0.5, 1.0);
  CHECK_THROWS_AS(other.load(bytes, sampleable), Error);
}
