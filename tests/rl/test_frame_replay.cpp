// Tests for rl/frame_replay.hpp: stacks rebuilt from single frames, never across an episode
// boundary, true final frames for s', wrap-around, and the bytes a transition costs.
#include <doctest/doctest.h>

#include <vector>

#include "rl/frame_replay.hpp"

using namespace dqn;

namespace {
// 2x2 frames filled with one value make stacks easy to read: a stack is 4 values.
std::vector<std::uint8_t> frame(std::uint8_t v) {
  return std::vector<std::uint8_t>(4, v);
}
std::vector<std::uint8_t> stack_values(const FrameReplay& r, std::int64_t slot) {
  std::vector<std::uint8_t> out(16);
  r.stack_at(slot, out.data());
  return {out[0], out[4], out[8], out[12]};
}
}  // namespace

TEST_CASE(
    "a stack repeats the episode's first frame instead of reaching into the previous episode") {
  FrameReplay r(16, 2, 2);
  // Episode A: frames 1, 2 (final); episode B: frames 10, 11, 12.
  r.add(frame(1).data(), true, 0, 0, false, false);
  r.add_final(frame(2).data());
  r.add(frame(10).data(), true, 1, 1, false, false);
  r.add(frame(11).data(), false, 1, 1, false, false);
  r.add(frame(12).data(), false, 1, 1, false, false);
  CHECK(stack_values(r, 2) == std::vector<std::uint8_t>{10, 10, 10, 10});
  CHECK(stack_values(r, 3) == std::vector<std::uint8_t>{10, 10, 10, 11});
  CHECK(stack_values(r, 4) == std::vector<std::uint8_t>{10, 10, 11, 12});
  CHECK(stack_values(r, 1) == std::vector<std::uint8_t>{1, 1, 1, 2});  // A's final observation
}

TEST_CASE(
    "samples pair s with its own s', final frames included, and never start at a final slot") {
  FrameReplay r(64, 2, 2);
  std::uint8_t value = 0;
  for (int episode = 0; episode < 5; ++episode) {
    for (int t = 0; t < 6; ++t) {
      ++value;
      r.add(frame(value).data(), t == 0, t % 3, static_cast<float>(value), t == 5, false);
    }
    r.add_final(frame(++value).data());
  }
  Batch batch;
  Rng rng(1);
  for (int k = 0; k < 50; ++k) {
    r.sample(8, rng, batch);
    for (std::int64_t b = 0; b < 8; ++b) {
      const std::uint8_t newest = batch.frames[b * 16 + 12];
      const std::uint8_t next_newest = batch.next_frames[b * 16 + 12];
      CHECK(next_newest == newest + 1);                       // s' follows s
      CHECK(batch.rewards[b] == static_cast<float>(newest));  // the slot's own transition
      CHECK(batch.next_frames[b * 16 + 8] == newest);         // s' shares s's newest frame
    }
  }
}

TEST_CASE("after wrap-around, stacks whose older frames were overwritten are never sampled") {
  FrameReplay r(8, 2, 2);
  for (std::uint8_t v = 1; v <= 20; ++v) r.add(frame(v).data(), v == 1, 0, v, false, false);
  Batch batch;
  Rng rng(2);
  for (int k = 0; k < 200; ++k) {
    r.sample(4, rng, batch);
    for (std::int64_t b = 0; b < 4; ++b) {
      // Slots hold 13..20; a valid s needs 3 older frames and s' one newer: newest in 16..19.
      const std::uint8_t newest = batch.frames[b * 16 + 12];
      CHECK(newest >= 16);
      CHECK(newest <= 19);
      CHECK(batch.frames[b * 16] == newest - 3);
    }
  }
}

TEST_CASE("a transition costs about 7.1 KB, so a million fit in under 7.5 GB") {
  // Measured on a 10,000-slot buffer: the arrays grow linearly with capacity.
  const FrameReplay r(10000);
  const std::int64_t per_transition = r.memory_bytes() / 10000;
  MESSAGE("bytes per stored transition: ", per_transition);
  CHECK(per_transition == 7056 + 16);
  CHECK(per_transition * 1'000'000 < 7'500'000'000LL);
}
