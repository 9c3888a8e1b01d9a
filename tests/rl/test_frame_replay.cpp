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
