// Tests for rl/replay.hpp: circular storage, true final observations, uniform sampling.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "rl/replay.hpp"

using namespace dqn;

TEST_CASE("the buffer overwrites its oldest transition once full") {
  ReplayBuffer buffer(3, 1);
  for (int i = 0; i < 5; ++i) {
    const float o = static_cast<float>(i), n = o + 0.5f;
    buffer.add(&o, i, static_cast<float>(i), &n, false, false);
  }
  CHECK(buffer.size() == 3);
  Batch batch;
  Rng rng(1);
  std::vector<int> seen(5, 0);
  for (int k = 0; k < 100; ++k) {
    buffer.sample(4, rng, batch);
    for (std::int64_t b = 0; b < 4; ++b) {
      ++seen[batch.actions[b]];
      CHECK(batch.obs[b] == static_cast<float>(batch.actions[b]));  // rows stay together
      CHECK(batch.next_obs[b] == batch.obs[b] + 0.5f);
    }
  }
  CHECK(seen[0] == 0);
  CHECK(seen[1] == 0);
  CHECK(seen[2] > 0);
}

TEST_CASE("a truncated transition keeps its true final observation and is not terminal") {
  ReplayBuffer buffer(4, 2);
  const float obs[] = {1, 2}, final_obs[] = {3, 4};
  buffer.add(obs, 1, 1.0f, final_obs, /*terminated=*/false, /*truncated=*/true);
  Batch batch;
  Rng rng(2);
  buffer.sample(1, rng, batch);
  CHECK(batch.next_obs[0] == 3.0f);
  CHECK(batch.next_obs[1] == 4.0f);
  CHECK(batch.terminated[0] == 0.0f);
  CHECK(buffer.truncated(0));
}

TEST_CASE("sampling is uniform over stored transitions (chi-square at a fixed seed)") {
  constexpr int kSize = 50, kDraws = 100000;
  ReplayBuffer buffer(kSize, 1);
  for (int i = 0; i < kSize; ++i) {
    const float o = 0;
    buffer.add(&o, i, 0, &o, false, false);
  }
  std::vector<int> counts(kSize, 0);
  Batch batch;
  Rng rng(3);
  for (int k = 0; k < kDraws / 100; ++k) {
    buffer.sample(100, rng, batch);
    for (std::int64_t a : batch.actions) ++counts[a];
  }
  const double expected = static_cast<double>(kDraws) / kSize;
  double chi2 = 0;
  for (int c : counts) chi2 += (c - expected) * (c - expected) / expected;
  // 49 degrees of freedom: P(chi2 > 85.4) = 0.001.
  CHECK(chi2 < 85.4);
}

TEST_CASE("save and load restore the buffer exactly, and a mismatched one is refused") {
  ReplayBuffer a(8, 2);
  for (int i = 0; i < 11; ++i) {
    const float o[] = {static_cast<float>(i), 1}, n[] = {2, static_cast<float>(i)};
    a.add(o, i % 2, 0.5f * i, n, i % 3 == 0, i % 5 == 0);
  }
  PieceWriter pieces;
  a.save(pieces);
  const std::string blob = pieces.concatenated();
  ReplayBuffer b(8, 2);
  b.load(blob, 2);
  Batch x, y;
  Rng r1(9), r2(9);
  a.sample(16, r1, x);
  b.sample(16, r2, y);
  for (std::int64_t i = 0; i < 32; ++i) CHECK(x.obs[i] == y.obs[i]);
  ReplayBuffer wrong(4, 2);
  CHECK_THROWS_AS(wrong.load(blob, 2), Error);
  CHECK_THROWS_AS(b.load(blob.substr(0, blob.size() / 2), 2), Error);
}

namespace {

// Overwrites the bytes of `value` at `offset` of a saved buffer.
template <class T>
std::string patched(std::string blob, std::size_t offset, T value) {
  std::memcpy(blob.data() + offset, &value, sizeof value);
  return blob;
}

}  // namespace

TEST_CASE("load refuses impossible contents, naming the field, and leaves the buffer as it was") {
  // Layout of ReplayBuffer::save for capacity 8, obs_dim 2: capacity, obs_dim, size, next (i64),
  // obs and next obs (8 x 2 f32 each), rewards (8 f32), actions (8 i64), terminated, truncated
  // (8 bytes each).
  constexpr std::size_t kSize = 16, kNext = 24, kObs = 32, kNextObs = kObs + 64,
                        kRewards = kNextObs + 64, kActions = kRewards + 32,
                        kTerminated = kActions + 64, kTruncated = kTerminated + 8;
  ReplayBuffer a(8, 2);
  for (int i = 0; i < 5; ++i) {
    const float o[] = {static_cast<float>(i), 1}, n[] = {2, static_cast<float>(i)};
    a.add(o, i % 2, 0.5f * i, n, false, false);
  }
  PieceWriter pieces;
  a.save(pieces);
  const std::string blob = pieces.concatenated();
  REQUIRE(blob.size() == kTruncated + 8);
  ReplayBuffer b(8, 2);
  b.load(blob, 2);  // the untouched blob loads
  const float nan = std::nanf("");
  const struct {
    std::string blob;
    const char* expected;
  } cases[] = {
      {patched<std::int64_t>(blob, kSize, -1), "size -1"},
      {patched<std::int64_t>(blob, kSize, 9), "size 9"},
      {patched<std::int64_t>(blob, kNext, 8), "write position 8"},
      {patched<std::int64_t>(blob, kNext, 3), "write position 3"},  // 5 stored, not full
      {patched(blob, kObs + 4 * 3, nan), "observation value 3"},
      {patched(blob, kNextObs, nan), "next observation value 0"},
      {patched(blob, kRewards + 4 * 2, nan), "reward value 2"},
      {patched<std::int64_t>(blob, kActions + 8 * 1, 2), "transition 1 is outside [0, 2)"},
      {patched<std::int64_t>(blob, kActions + 8 * 7, -1), "transition 7 is outside [0, 2)"},
      {patched<std::uint8_t>(blob, kTerminated + 4, 2), "terminated flag of transition 4 is 2"},
      {patched<std::uint8_t>(blob, kTruncated + 6, 255), "truncated flag of transition 6 is 255"},
  };
  for (const auto& c : cases) {
    const std::string expected = c.expected;
    CAPTURE(expected);
    ReplayBuffer fresh(8, 2);
    try {
      fresh.load(c.blob, 2);
      FAIL("expected an Error");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find(c.expected) != std::string::npos);
    }
    CHECK(fresh.size() == 0);  // nothing was changed: the blob's first observation is (0, 1)
    CHECK(fresh.obs(0)[1] == 0.0f);
  }
}

namespace {

// One transition of a one-float observation: s = obs, s' = next_obs.
void add(ReplayBuffer& r, float obs, float reward, float next_obs, bool terminated,
         bool truncated) {
  r.add(&obs, 0, reward, &next_obs, terminated, truncated);
}

struct Expected {
  std::int64_t slot;
  float reward, terminated, discount, next_obs;
};

void check_gather(const ReplayBuffer& r, const std::vector<Expected>& expected) {
  Batch batch;
  std::vector<std::int64_t> slots;
  for (const Expected& e : expected) slots.push_back(e.slot);
  r.gather(slots.data(), static_cast<std::int64_t>(slots.size()), batch);
  REQUIRE(batch.discounts.size() == slots.size());
  for (std::size_t b = 0; b < expected.size(); ++b) {
    const Expected& e = expected[b];
    CAPTURE(e.slot);
    CHECK(batch.rewards[static_cast<std::int64_t>(b)] == e.reward);
    CHECK(batch.terminated[static_cast<std::int64_t>(b)] == e.terminated);
    CHECK(batch.discounts[b] == e.discount);
    CHECK(batch.next_obs[static_cast<std::int64_t>(b)] == e.next_obs);
  }
}

}  // namespace

TEST_CASE("3-step returns stop at termination and bootstrap from a truncation's final obs") {
  // gamma = 0.5 keeps every sum exact in float. Each episode's rewards are 1, 2, 3, 4, 5, and its
  // transition t has s = base + t, s' = base + t + 1 (the true final observation at the end).
  // Episode A (slots 0-4) terminates at t = 4, episode B (slots 5-9) is truncated at t = 4,
  // episode C (slots 10, 11) goes on. Hand-computed, R = r_t + 0.5 r_{t+1} + 0.25 r_{t+2}:
  //   window ends at k = 0: R = 5                         disc 0.5
  //   window ends at k = 1: R = 4 + 0.5 * 5 = 6.5         disc 0.25
  //   window ends at k = 2: R = 3 + 2 + 1.25 = 6.25       disc 0.125
  //   full windows:  t = 1: R = 2 + 1.5 + 1 = 4.5, t = 0: R = 1 + 1 + 0.75 = 2.75, disc 0.125
  // Planted bugs caught: summing past the termination (A's slots 2-4 take B's rewards), taking s'
  // from the next slot's s (B's final 25 becomes C's 30), the terminated flag of the first
  // transition instead of the window's last (slot 2 reads 0), gamma^n at a truncation instead of
  // gamma^m (slot 9's 0.5 becomes 0.125).
  ReplayBuffer r(12, 1);
  r.set_n_step(3, 0.5);
  for (int t = 0; t < 5; ++t) add(r, 10.0f + t, t + 1.0f, 11.0f + t, t == 4, false);
  for (int t = 0; t < 5; ++t) add(r, 20.0f + t, t + 1.0f, 21.0f + t, false, t == 4);
  add(r, 30, 1, 31, false, false);
  add(r, 31, 2, 32, false, false);
  check_gather(r, {{4, 5, 1, 0.5f, 15},
                   {3, 6.5f, 1, 0.25f, 15},
                   {2, 6.25f, 1, 0.125f, 15},
                   {1, 4.5f, 0, 0.125f, 14},
                   {0, 2.75f, 0, 0.125f, 13}});
  check_gather(r, {{9, 5, 0, 0.5f, 25},
                   {8, 6.5f, 0, 0.25f, 25},
                   {7, 6.25f, 0, 0.125f, 25},
                   {6, 4.5f, 0, 0.125f, 24},
                   {5, 2.75f, 0, 0.125f, 23}});
  // C's window is not stored yet: neither slot may be sampled, by gather or by sample.
  CHECK_FALSE(r.sampleable(10));
  CHECK_FALSE(r.sampleable(11));
  Batch batch;
  CHECK_THROWS_AS(r.gather(std::vector<std::int64_t>{10}.data(), 1, batch), Error);
  Rng rng(4);
  for (int k = 0; k < 200; ++k) {
    r.sample(4, rng, batch);
    for (const std::int64_t i : batch.indices) CHECK(i < 10);
  }

  // C's third transition overwrites slot 0: slot 10's window wraps to it.
  add(r, 32, 3, 33, false, false);
  CHECK(r.sampleable(10));
  CHECK_FALSE(r.sampleable(11));
  CHECK_FALSE(r.sampleable(0));
  check_gather(r, {{10, 2.75f, 0, 0.125f, 33}, {1, 4.5f, 0, 0.125f, 14}});
  // C terminates at its fourth (slot 1): its last three windows end there.
  add(r, 33, 4, 34, true, false);
  check_gather(r, {{11, 4.5f, 1, 0.125f, 34}, {0, 5, 1, 0.25f, 34}, {1, 4, 1, 0.5f, 34}});
}

TEST_CASE("one-step replay (n = 1) fills no discounts and samples every stored transition") {
  ReplayBuffer r(8, 1);
  for (int t = 0; t < 3; ++t) add(r, static_cast<float>(t), 1, 0, false, false);
  for (std::int64_t i = 0; i < 3; ++i) CHECK(r.sampleable(i));
  CHECK_FALSE(r.sampleable(3));
  Batch batch;
  Rng rng(1);
  r.sample(16, rng, batch);
  CHECK(batch.discounts.empty());
  CHECK_THROWS_AS(r.set_n_step(9, 0.5), Error);  // a window longer than the buffer
}
