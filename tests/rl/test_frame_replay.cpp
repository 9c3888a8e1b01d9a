// Tests for rl/frame_replay.hpp: stacks rebuilt from single frames, never across an episode
// boundary, true final frames for s', wrap-around, the resident memory a
// transition costs, and save/load with its checks.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.hpp"
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

namespace {

// This process's resident memory in bytes: /proc/self/statm gives sizes in pages, the resident
// set second (proc(5)).
std::int64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::int64_t size = 0, resident = 0;
  statm >> size >> resident;
  REQUIRE(resident > 0);
  return resident * static_cast<std::int64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace

TEST_CASE("a stored transition costs about 7.1 KB of resident memory, so a million fit in 7.1 GB") {
  // Measured, not computed from the design: how much this process's resident memory grows while
  // a 20,000-slot buffer of 84x84 frames is built and every slot written. The design says 7,056
  // bytes of frame and 16 of action, reward and flags, 7,072 a slot. Storing stacks instead (s
  // and s', 8 frames) would be 56 KB, storing s alone 28 KB.
  // Tolerance [0.95, 1.25]: the 141 MB frame array is far above glibc's mmap threshold (32 MB
  // at most), so it comes from fresh pages and counts whole; only the small arrays (0.4 MB,
  // 0.3%) could reuse memory freed earlier. Above: page rounding (at most a 2 MB huge page at
  // each end of each array, 4%) and, under ASan, shadow memory (one byte per eight, 12.5%).
  constexpr std::int64_t kSlots = 20000, kDesign = 7056 + 16;
  const std::int64_t before = resident_bytes();
  FrameReplay r(kSlots);
  std::vector<std::uint8_t> frame(84 * 84);
  for (std::int64_t i = 0; i < kSlots; ++i) {
    frame[0] = static_cast<std::uint8_t>(i);
    r.add(frame.data(), i % 100 == 0, i % 4, 1.0f, false, false);
  }
  REQUIRE(r.size() == kSlots);
  const std::int64_t per_slot = (resident_bytes() - before) / kSlots;
  MESSAGE("resident bytes per stored transition: ", per_slot, " (design ", kDesign, ")");
  CHECK(per_slot >= kDesign * 95 / 100);
  CHECK(per_slot <= kDesign * 125 / 100);
  CHECK(r.memory_bytes() == kDesign * kSlots);  // the figure `dqn train` prints before allocating
}

TEST_CASE(
    "save and load restore the slots exactly, and impossible contents are refused unchanged") {
  FrameReplay a(8, 2, 2);
  for (int i = 0; i < 11; ++i) {
    a.add(frame(static_cast<std::uint8_t>(i)).data(), i % 4 == 0, i % 3, 0.5f * i, i % 4 == 3,
          false);
    if (i % 4 == 3) a.add_final(frame(100).data());
  }
  PieceWriter pieces;
  a.save(pieces);
  const std::string blob = pieces.concatenated();
  FrameReplay b(8, 2, 2);
  b.load(blob, 3);
  CHECK(b.size() == a.size());
  CHECK(b.write_position() == a.write_position());
  for (std::int64_t slot = 0; slot < 8; ++slot)
    CHECK(stack_values(a, slot) == stack_values(b, slot));
  // Layout of FrameReplay::save for 8 slots of 2x2: capacity, height, width, size, next (i64),
  // frames (8 x 4 bytes), actions (8 i64), rewards (8 f32), then four flag arrays of 8 bytes:
  // terminated, truncated, episode start, starts transition.
  constexpr std::size_t kActions = 40 + 32, kRewards = kActions + 64, kFlags = kRewards + 32;
  REQUIRE(blob.size() == kFlags + 32);
  auto patched = [&](std::size_t offset, auto value) {
    std::string out = blob;
    std::memcpy(out.data() + offset, &value, sizeof value);
    return out;
  };
  const struct {
    std::string blob;
    const char* expected;
  } cases[] = {
      {patched(24, std::int64_t{-3}), "size -3"},
      {patched(32, std::int64_t{8}), "write position 8"},
      {patched(kActions + 8 * 2, std::int64_t{3}), "action of slot 2 is outside [0, 3)"},
      {patched(kRewards + 4 * 5, std::nanf("")), "reward of slot 5 is not finite"},
      {patched(kFlags + 1, std::uint8_t{2}), "terminated flag of slot 1 is 2"},
      {patched(kFlags + 8 + 3, std::uint8_t{7}), "truncated flag of slot 3 is 7"},
      {patched(kFlags + 16, std::uint8_t{9}), "episode start flag of slot 0 is 9"},
      {patched(kFlags + 24 + 7, std::uint8_t{2}), "starts transition flag of slot 7 is 2"},
  };
  for (const auto& c : cases) {
    const std::string expected = c.expected;
    CAPTURE(expected);
    FrameReplay fresh(8, 2, 2);
    try {
      fresh.load(c.blob, 3);
      FAIL("expected an Error");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find(c.expected) != std::string::npos);
    }
    CHECK(fresh.size() == 0);
    CHECK(stack_values(fresh, 1) == std::vector<std::uint8_t>{0, 0, 0, 0});
  }
}

namespace {
struct Expected {
  std::int64_t slot;
  float reward, terminated, discount;
  std::vector<std::uint8_t> next_stack;  // s', one value a frame
};
void check_gather(const FrameReplay& r, const std::vector<Expected>& expected) {
  Batch batch;
  std::vector<std::int64_t> slots;
  for (const Expected& e : expected) slots.push_back(e.slot);
  r.gather(slots.data(), static_cast<std::int64_t>(slots.size()), batch);
  REQUIRE(batch.discounts.size() == slots.size());
  for (std::size_t b = 0; b < expected.size(); ++b) {
    const Expected& e = expected[b];
    const auto i = static_cast<std::int64_t>(b);
    CAPTURE(e.slot);
    CHECK(batch.rewards[i] == e.reward);
    CHECK(batch.terminated[i] == e.terminated);
    CHECK(batch.discounts[b] == e.discount);
    const std::uint8_t* s = batch.next_frames.data() + i * 16;
    CHECK(std::vector<std::uint8_t>{s[0], s[4], s[8], s[12]} == e.next_stack);
  }
}
}  // namespace

TEST_CASE(
    "frame replay: 3-step returns stop at termination, truncation bootstraps from the final "
    "frame") {
  // gamma = 0.5; each episode's rewards are 1, 2, 3, 4 (slots t = 0..3), then its final frame.
  // Episode A (frames 1-4, final 5; slots 0-4) terminates at t = 3, B (frames 11-14, final 15;
  // slots 5-9) is truncated at t = 3, C (frames 21, 22; slots 10, 11) goes on. By hand:
  //   window ends at k = 0: R = 4                      disc 0.5,   s' = the final frame's stack
  //   window ends at k = 1: R = 3 + 0.5 * 4 = 5        disc 0.25
  //   window ends at k = 2: R = 2 + 1.5 + 1 = 4.5      disc 0.125
  //   full window (t = 0):  R = 1 + 1 + 0.75 = 2.75    disc 0.125, s' = the stack at t = 3
  // Planted bugs caught: s' from the slot after the first transition (A's slot 0 gets
  // [1,1,1,2]), the sum running through the final-frame slot into the next episode, and a window
  // whose s' slot is not yet written being sampled (C's slot 10).
  FrameReplay r(16, 2, 2);
  r.set_n_step(3, 0.5);
  for (const std::uint8_t base : {0, 10}) {
    for (int t = 0; t < 4; ++t)
      r.add(frame(static_cast<std::uint8_t>(base + t + 1)).data(), t == 0, 0, t + 1.0f,
            base == 0 && t == 3, base == 10 && t == 3);
    r.add_final(frame(static_cast<std::uint8_t>(base + 5)).data());
  }
  r.add(frame(21).data(), true, 0, 1, false, false);
  r.add(frame(22).data(), false, 0, 2, false, false);
  check_gather(r, {{3, 4, 1, 0.5f, {2, 3, 4, 5}},
                   {2, 5, 1, 0.25f, {2, 3, 4, 5}},
                   {1, 4.5f, 1, 0.125f, {2, 3, 4, 5}},
                   {0, 2.75f, 0, 0.125f, {1, 2, 3, 4}}});
  check_gather(r, {{8, 4, 0, 0.5f, {12, 13, 14, 15}},
                   {7, 5, 0, 0.25f, {12, 13, 14, 15}},
                   {6, 4.5f, 0, 0.125f, {12, 13, 14, 15}},
                   {5, 2.75f, 0, 0.125f, {11, 12, 13, 14}}});
  for (const std::int64_t slot : {4, 9, 10, 11}) CHECK_FALSE(r.sampleable(slot));
  r.add(frame(23).data(), false, 0, 3, false, false);
  CHECK_FALSE(r.sampleable(10));  // its s' (slot 13) is not written yet
  r.add(frame(24).data(), false, 0, 4, false, false);
  check_gather(r, {{10, 2.75f, 0, 0.125f, {21, 22, 23, 24}}});
  // C terminates at slot 14 (reward 5), final frame 26 in slot 15; D's first frame overwrites
  // slot 0, so A's stacks that reach back to frame 1 (slots 1-3) can no longer be rebuilt.
  r.add(frame(25).data(), false, 0, 5, true, false);
  r.add_final(frame(26).data());
  r.add(frame(31).data(), true, 0, 1, false, false);
  for (const std::int64_t slot : {1, 2, 3}) CHECK_FALSE(r.sampleable(slot));
  check_gather(r,
               {{12, 6.25f, 1, 0.125f, {23, 24, 25, 26}}, {13, 6.5f, 1, 0.25f, {23, 24, 25, 26}}});
  // Uniform sampling draws only complete windows, and what it draws is what gather gives.
  Batch batch;
  Rng rng(9);
  for (int k = 0; k < 100; ++k) {
    r.sample(4, rng, batch);
    for (const std::int64_t slot : batch.indices) CHECK(r.sampleable(slot));
  }
}
