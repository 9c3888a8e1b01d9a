// Tests for rl/trainer.hpp: CartPole solved at a fixed seed, bitwise determinism, bit-exact
// resume, and the errors a user can cause.
#include <doctest/doctest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "envs/cartpole.hpp"
#include "rl/trainer.hpp"
#include "tests/event_file_reader.hpp"

using namespace dqn;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// ctest may run test cases as parallel processes: folders carry the process id.
std::string temp_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("dqn_test_" + name + "_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

// A shortened cartpole run for the determinism and resume tests.
Config short_config() {
  Config c = make_preset("cartpole");
  c.total_steps = 6000;
  c.learning_starts = 500;
  c.train_freq = 64;
  c.gradient_steps = 16;
  c.target_update_interval = 64;
  c.hidden = {32, 32};
  c.eval_interval = 2000;
  c.eval_episodes = 2;
  c.final_eval_episodes = 2;
  return c;
}

bool same_parameters(QNetwork& a, QNetwork& b) {
  for (std::size_t i = 0; i < a.parameters().size(); ++i) {
    const Tensor& x = a.parameters()[i].variable->value;
    const Tensor& y = b.parameters()[i].variable->value;
    for (std::int64_t k = 0; k < x.numel(); ++k)
      if (x[k] != y[k]) return false;
  }
  return true;
}

}  // namespace

TEST_CASE(
    "the cartpole preset solves CartPole-v1 at seed 1 (mean >= 475 over 100 unseen episodes)") {
  // Seeded and deterministic: the same seed and thread count give the same run every time.
  const Config c = make_preset("cartpole");
  Trainer trainer(c, "");
  const TrainResult r = trainer.run();
  MESSAGE("final evaluation mean ", r.final_eval.mean, " (best periodic ", r.best_eval, " at step ",
          r.best_eval_step, ") in ", r.wall_seconds, " s");
  CHECK(r.finished);
  CHECK(r.env_steps == 50000);
  CHECK(r.final_eval.episodes == 100);
  CHECK(r.final_eval.mean >= 475.0);
}

TEST_CASE(
    "the cartpole preset with prioritized replay and 3-step returns solves CartPole-v1 at seed 1") {
  // Seeded and deterministic, like the test above; the Rainbow parts are off by default, so this
  // is their own check. Margin: at seeds 1-5 this configuration's returned policy scored 500.0
  // +- 0 over the 100 unseen episodes, its first evaluation of >= 475 came at 12,500-22,500
  // steps, and 10-15 of its 20 periodic evaluations were >= 475 (seed 1: 12, the first at
  // 20,000), so the pass does not hang on one lucky evaluation.
  Config c = make_preset("cartpole");
  c.prioritized_replay = true;
  c.n_step = 3;
  Trainer trainer(c, "");
  const TrainResult r = trainer.run();
  MESSAGE("final evaluation mean ", r.final_eval.mean, " (best periodic ", r.best_eval, " at step ",
          r.best_eval_step, ") in ", r.wall_seconds, " s");
  CHECK(r.finished);
  CHECK(r.final_eval.episodes == 100);
  CHECK(r.final_eval.mean >= 475.0);
}

TEST_CASE("full Rainbow (every part on) solves CartPole-v1 at seed 1") {
  // Hessel et al. 2018's six parts together on the cartpole preset: Double DQN, prioritized
  // replay, 3-step returns, C51, noisy nets, the dueling head. Seeded and deterministic. Two
  // values are CartPole's (bench/rainbow_cartpole.sh says why): C51's support [0, 100] and noisy
  // nets' sigma0 0.1. Margin: at seed 1 the returned policy scored 500.0 over the 100 unseen
  // episodes, and 10 of the 20 periodic evaluations (the first at 27,500 steps) were >= 475, so
  // the pass does not hang on one lucky evaluation. This is a seeded check that the whole
  // combination learns, not a claim for every seed: over seeds 1-10 it solves 5 (the README's
  // Rainbow table; noisy nets' stochastic behaviour and 3-step returns, which are not corrected
  // for being off-policy, are the weak pair on CartPole: with n = 1 it solves 10 of 10). About
  // 10 s.
  Config c = make_preset("cartpole");
  c.double_dqn = true;
  c.prioritized_replay = true;
  c.n_step = 3;
  c.distributional = true;
  c.v_min = 0;
  c.v_max = 100;
  c.noisy_nets = true;
  c.noisy_sigma0 = 0.1;
  c.dueling = true;
  Trainer trainer(c, "");
  const TrainResult r = trainer.run();
  MESSAGE("final evaluation mean ", r.final_eval.mean, " (best periodic ", r.best_eval, " at step ",
          r.best_eval_step, ") in ", r.wall_seconds, " s");
  const NetworkSpec& spec = trainer.agent().spec();
  CHECK((spec.atoms == 51 && spec.noisy && spec.dueling));
  CHECK(r.finished);
  CHECK(r.final_eval.episodes == 100);
  CHECK(r.final_eval.mean >= 475.0);
}

TEST_CASE("the cartpole preset with C51 (support [0, 100]) solves CartPole-v1 at seed 1") {
  // Seeded and deterministic. The support covers CartPole's discounted returns (at most
  // 1 / (1 - 0.99) = 100); the default [-10, 10] would clip every return above 10. Margin: at
  // seeds 1-5 this configuration's returned policy scored 500.0 +- 0 over the 100 unseen
  // episodes; 4-11 of the 20 periodic evaluations were >= 475 (seed 1: 11, the first at 12,500
  // steps), so the pass does not hang on one lucky evaluation. About 8 s.
  Config c = make_preset("cartpole");
  c.distributional = true;
  c.v_min = 0;
  c.v_max = 100;
  Trainer trainer(c, "");
  const TrainResult r = trainer.run();
  MESSAGE("final evaluation mean ", r.final_eval.mean, " (best periodic ", r.best_eval, " at step ",
          r.best_eval_step, ") in ", r.wall_seconds, " s");
  CHECK(trainer.agent().spec().atoms == 51);
  CHECK(r.finished);
  CHECK(r.final_eval.episodes == 100);
  CHECK(r.final_eval.mean >= 475.0);
}

TEST_CASE("two runs with the same seed write identical metrics and parameters") {
  const Config c = short_config();
  const std::string a = temp_dir("det_a"), b = temp_dir("det_b");
  Trainer ta(c, a), tb(c, b);
  ta.run();
  tb.run();
  CHECK(read_all(a + "/metrics.jsonl") == read_all(b + "/metrics.jsonl"));
  CHECK(read_all(a + "/metrics.jsonl").size() > 100);
  CHECK(same_parameters(ta.agent().online(), tb.agent().online()));
}

TEST_CASE("20k env steps in one go equal 10k, a pause, and a resume to 20k, bit for bit") {
  Config c = short_config();
  c.total_steps = 20000;
  c.eval_interval = 5000;
  const std::string straight = temp_dir("straight"), paused = temp_dir("paused");
  Trainer whole(c, straight);
  whole.run();
  {
    Trainer first_half(c, paused);
    const TrainResult half = first_half.run(10000);
    CHECK_FALSE(half.finished);
    CHECK(half.env_steps == 10000);
  }
  auto resumed = Trainer::resume(paused);
  const TrainResult r = resumed->run();
  CHECK(r.finished);
  CHECK(read_all(straight + "/metrics.jsonl") == read_all(paused + "/metrics.jsonl"));
  CHECK(same_parameters(whole.agent().online(), resumed->agent().online()));
  CHECK(same_parameters(whole.agent().target(), resumed->agent().target()));
}

TEST_CASE(
    "with prioritized replay (and 3-step returns), a paused and resumed run equals a straight "
    "one, bit for bit") {
  // The priorities and the max priority travel in the snapshot: a resume that lost them (or
  // rebuilt them at 1) would draw other minibatches from step 10k on. n-step returns are
  // rebuilt from the stored transitions, so they need nothing in the snapshot.
  for (const std::int64_t n_step : {1, 3}) {
    CAPTURE(n_step);
    Config c = short_config();
    c.total_steps = 20000;
    c.eval_interval = 5000;
    c.prioritized_replay = true;
    c.n_step = n_step;
    const std::string straight = temp_dir("per_straight" + std::to_string(n_step)),
                      paused = temp_dir("per_paused" + std::to_string(n_step));
    Trainer whole(c, straight);
    whole.run();
    {
      Trainer first_half(c, paused);
      CHECK(first_half.run(10000).env_steps == 10000);
    }
    auto resumed = Trainer::resume(paused);
    CHECK(resumed->run().finished);
    CHECK(read_all(straight + "/metrics.jsonl") == read_all(paused + "/metrics.jsonl"));
    CHECK(same_parameters(whole.agent().online(), resumed->agent().online()));
    REQUIRE(whole.priorities() != nullptr);
    for (std::int64_t i = 0; i < whole.priorities()->capacity(); ++i)
      REQUIRE(whole.priorities()->priority(i) == resumed->priorities()->priority(i));
    // And prioritization changed the run: its priorities are no longer all the initial 1.
    CHECK(whole.priorities()->max_priority() > 1.0);
  }
}

TEST_CASE(
    "a C51 run (with prioritized replay and 3-step returns) paused and resumed equals a "
    "straight one, bit for bit") {
  // The network's spec (atoms, support) travels in the snapshot's checkpoint and the config;
  // everything else C51 holds is rebuilt each update, so a resume must give the same bits.
  Config c = short_config();
  c.total_steps = 12000;
  c.eval_interval = 4000;
  c.distributional = true;
  c.atoms = 21;
  c.v_min = 0;
  c.v_max = 50;
  c.prioritized_replay = true;
  c.n_step = 3;
  const std::string straight = temp_dir("c51_straight"), paused = temp_dir("c51_paused");
  Trainer whole(c, straight);
  whole.run();
  {
    Trainer first_half(c, paused);
    CHECK(first_half.run(6000).env_steps == 6000);
  }
  auto resumed = Trainer::resume(paused);
  CHECK(resumed->agent().spec().atoms == 21);
  CHECK(resumed->agent().spec().v_max == 50.0);
  CHECK(resumed->run().finished);
  CHECK(read_all(straight + "/metrics.jsonl") == read_all(paused + "/metrics.jsonl"));
  CHECK(same_parameters(whole.agent().online(), resumed->agent().online()));
  CHECK(same_parameters(whole.agent().target(), resumed->agent().target()));
  for (std::int64_t i = 0; i < whole.priorities()->capacity(); ++i)
    REQUIRE(whole.priorities()->priority(i) == resumed->priorities()->priority(i));
}

TEST_CASE("resume refuses a corrupt snapshot with a clear error") {
  const Config c = short_config();
  const std::string dir = temp_dir("corrupt");
  {
    Trainer t(c, dir);
    t.run(1000);
  }
  const std::string path = dir + "/snapshot.bin";
  const std::string bytes = read_all(path);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 2);
  CHECK_THROWS_AS(Trainer::resume(dir), Error);
}

namespace {

// A 1000-step run's snapshot, small enough to load hundreds of times: a 2000-slot replay half
// full, two periodic evaluations done, 128 updates.
struct SnapshotFixture {
  Config config = [] {
    Config c = short_config();
    c.buffer_size = 2000;
    c.eval_interval = 500;
    return c;
  }();
  std::string bytes = [this] {
    Trainer t(config, "");
    t.run(1000);
    return t.snapshot_bytes();
  }();
};

// Offsets of the fields in a run snapshot (format 2, documented in rl/trainer.cpp).
struct SnapshotLayout {
  std::size_t counters, logs, pending, phases, event_file, update_sums, numbers, recent_count, rngs,
      env_state, obs, episode_start, params, adam_steps, replay_end;
  // Prioritized replay only: the priorities blob (capacity i64, max priority f64, then a f64
  // per slot) after the replay's; 0 without it.
  std::size_t priorities = 0;
  std::int64_t replay_capacity;
  SnapshotLayout(const std::string& bytes, const Config& config, std::int64_t param_count) {
    auto u64_at = [&](std::size_t at) {
      std::uint64_t v;
      std::memcpy(&v, bytes.data() + at, 8);
      return static_cast<std::size_t>(v);
    };
    counters = 8 + 8 + config.to_text(/*applicable_only=*/true).size();  // magic, config
    logs = counters + 6 * 8;  // step, episodes, updates, evals, episode_length, best_eval_step
    pending = logs + 2 * 8;   // metrics_bytes, timing_bytes
    phases = pending + 8;
    event_file = phases + 7 * 8;  // act, env, store, sample, update, eval, checkpoint seconds
    // The event file's name (a str), its length and metrics.csv's.
    update_sums = event_file + 8 + u64_at(event_file) + 2 * 8;
    numbers = update_sums + 2 * 8 + 3 * 8;  // updates, clipped; loss, mean_q, grad_norm sums
    recent_count = numbers + 7 * 8;         // 4 run numbers and loss, mean_q, grad_norm
    rngs = recent_count + 8 + 8 * u64_at(recent_count);
    env_state = rngs + 3 * 32;
    obs = env_state + 8 + u64_at(env_state);
    episode_start = obs + 4 * 4;  // CartPole: 4 floats, no frames
    params = episode_start + 8;
    adam_steps = params + 3 * static_cast<std::size_t>(param_count) * 4;
    replay_end = bytes.size() - 4;  // the replay blob is last, before the CRC
    replay_capacity = config.buffer_size;
    if (config.prioritized_replay) {  // ... unless the priorities follow it
      priorities = replay_end - 16 - 8 * static_cast<std::size_t>(replay_capacity);
      replay_end = priorities - 8;  // their byte count
    }
  }
  std::size_t max_priority() const { return priorities + 8; }
  std::size_t priority(std::int64_t slot) const {
    return priorities + 16 + 8 * static_cast<std::size_t>(slot);
  }
  // The replay blob's arrays from its end: obs, next obs (4 floats each), rewards, actions,
  // terminated, truncated; its header (capacity, obs_dim, size, next) before them.
  std::size_t replay_terminated() const { return replay_end - 2 * replay_capacity; }
  std::size_t replay_actions() const { return replay_terminated() - 8 * replay_capacity; }
  std::size_t replay_size() const {
    return replay_actions() - 4 * replay_capacity - 32 * replay_capacity - 16;
  }
};

template <class T>
void put(std::string& bytes, std::size_t offset, T value) {
  std::memcpy(bytes.data() + offset, &value, sizeof value);
}
template <class T>
T get(const std::string& bytes, std::size_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof value);
  return value;
}

// Rewrites the trailer so the bytes pass the checksum and reach the field checks.
void recompute_crc(std::string& bytes) {
  put(bytes, bytes.size() - 4, crc32(bytes.data(), bytes.size() - 4));
}

std::string load_error(const Config& config, const std::string& bytes) {
  try {
    Trainer::from_snapshot_bytes(config, bytes);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a snapshot loads back into the same run: saving the restored trainer gives its bytes") {
  const SnapshotFixture f;
  auto restored = Trainer::from_snapshot_bytes(f.config, f.bytes);
  CHECK(restored->snapshot_bytes() == f.bytes);
  // And it runs on from there.
  CHECK(restored->run(1100).env_steps == 1100);
}

TEST_CASE("a frame-replay (pixel) run's snapshot loads back: its checks hold for frame runs too") {
  // Catch through the Nature CNN path with a 60-slot frame replay that wraps: 300 steps are two
  // and a bit episodes, so slots = steps + finished episodes (each final frame takes a slot).
  Config c = make_preset("catch");
  c.buffer_size = 60;
  c.batch_size = 8;
  c.total_steps = 400;
  c.learning_starts = 400;  // no update: the CNN's updates are not what this tests
  c.eval_interval = 0;
  Trainer t(c, "");
  const TrainResult r = t.run(300);
  REQUIRE(r.episodes >= 2);
  const std::string bytes = t.snapshot_bytes();
  auto restored = Trainer::from_snapshot_bytes(c, bytes);
  CHECK(restored->snapshot_bytes() == bytes);
  CHECK(restored->run(320).env_steps == 320);
}

namespace {
// A Catch run (frame replay, 60 slots, wrapping) with prioritized replay and a few updates.
Config per_pixel_config() {
  Config c = make_preset("catch");
  c.buffer_size = 60;
  c.batch_size = 8;
  c.total_steps = 400;
  c.learning_starts = 100;
  c.train_freq = 50;
  c.gradient_steps = 2;
  c.eval_interval = 0;
  c.prioritized_replay = true;
  return c;
}
}  // namespace

TEST_CASE(
    "prioritized frame replay: a slot has a positive priority exactly when it can be sampled") {
  // Final-frame slots, stacks whose frames the ring overwrote, and the newest transitions (s' or
  // n-step window not yet written) must hold 0; every other slot a positive priority. Checked
  // after every step through two wraps of the ring, with updates changing priorities on the
  // way, for one-step and 3-step windows.
  for (const std::int64_t n_step : {1, 3}) {
    CAPTURE(n_step);
    Config c = per_pixel_config();
    c.n_step = n_step;
    Trainer t(c, "");
    std::int64_t zero = 0, positive = 0;
    for (std::int64_t step = 1; step <= 300; ++step) {
      t.run(step);
      const FrameReplay& replay = *t.frame_replay();
      const Priorities& p = *t.priorities();
      for (std::int64_t i = 0; i < replay.capacity(); ++i) {
        CAPTURE(step);
        CAPTURE(i);
        REQUIRE((p.priority(i) > 0) == replay.sampleable(i));
        (p.priority(i) > 0 ? positive : zero) += 1;
      }
    }
    CHECK(t.env_steps() == 300);
    CHECK(zero > 0);
    CHECK(positive > 0);
    CHECK(t.priorities()->max_priority() > 1.0);  // updates ran and set priorities
    // The snapshot carries the priorities and loads back to the same bytes.
    const std::string bytes = t.snapshot_bytes();
    auto restored = Trainer::from_snapshot_bytes(c, bytes);
    CHECK(restored->snapshot_bytes() == bytes);
    CHECK(restored->run(320).env_steps == 320);
  }
}

TEST_CASE(
    "prioritized CartPole replay with 3-step returns: positive priority exactly where the "
    "window is stored") {
  // The newest two transitions of an ongoing episode hold 0 until their window is written; an
  // episode's end completes all of its last windows at once. Through three wraps of a 300-slot
  // ring, with updates on the way.
  Config c = short_config();
  c.buffer_size = 300;
  c.learning_starts = 200;
  c.n_step = 3;
  c.prioritized_replay = true;
  Trainer t(c, "");
  std::int64_t zero = 0;
  for (std::int64_t step = 1; step <= 1000; ++step) {
    t.run(step);
    const ReplayBuffer& replay = *t.replay_buffer();
    for (std::int64_t i = 0; i < replay.capacity(); ++i) {
      CAPTURE(step);
      CAPTURE(i);
      REQUIRE((t.priorities()->priority(i) > 0) == replay.sampleable(i));
      zero += step > 300 && !replay.sampleable(i);
    }
  }
  CHECK(zero > 0);  // the ring was full, and some windows were still open
  CHECK(t.priorities()->max_priority() > 1.0);
}

TEST_CASE("a snapshot with a flipped byte anywhere is refused") {
  const SnapshotFixture f;
  const std::size_t n = f.bytes.size();
  REQUIRE(n > 100000);
  // Every byte of the header, config and counters, then ~500 positions spread over the rest
  // (networks, optimizer, replay), and the checksum itself.
  std::vector<std::size_t> positions;
  for (std::size_t at = 0; at < 600; ++at) positions.push_back(at);
  for (std::size_t at = 600; at < n; at += n / 500) positions.push_back(at);
  for (std::size_t at = n - 4; at < n; ++at) positions.push_back(at);
  for (const std::size_t at : positions) {
    CAPTURE(at);
    std::string bad = f.bytes;
    bad[at] = static_cast<char>(bad[at] ^ (1 << (at % 8)));  // one bit, a different one each time
    const std::string what = load_error(f.config, bad);
    REQUIRE_FALSE(what.empty());
    if (at >= 8) CHECK(what.find("checksum mismatch") != std::string::npos);
  }
  // The original still loads: nothing above was cached or changed.
  CHECK(load_error(f.config, f.bytes).empty());
}

TEST_CASE("crafted fields with a valid checksum are refused, naming the field") {
  const SnapshotFixture f;
  Trainer probe(f.config, "");
  const SnapshotLayout at(f.bytes, f.config, probe.agent().online().parameter_count());
  const auto step = get<std::int64_t>(f.bytes, at.counters);
  const auto updates = get<std::int64_t>(f.bytes, at.counters + 16);
  REQUIRE(step == 1000);  // the layout is read right
  REQUIRE(updates == 128);
  REQUIRE(get<std::int64_t>(f.bytes, at.adam_steps) == updates);
  REQUIRE(get<std::int64_t>(f.bytes, at.replay_size()) == 1000);
  REQUIRE(get<std::uint64_t>(f.bytes, at.episode_start) <= 1);

  struct Case {
    const char* name;
    std::size_t offset;
    std::function<void(std::string&, std::size_t)> edit;
    const char* expected;
  };
  auto i64 = [](std::int64_t v) { return [v](std::string& b, std::size_t o) { put(b, o, v); }; };
  auto f64 = [](double v) { return [v](std::string& b, std::size_t o) { put(b, o, v); }; };
  auto zero_rng = [](std::string& b, std::size_t o) {
    for (int w = 0; w < 4; ++w) put<std::uint64_t>(b, o + 8 * w, 0);
  };
  const double nan = std::nan("");
  const Case cases[] = {
      {"negative step", at.counters, i64(-1), "step is -1"},
      {"huge step", at.counters, i64(std::int64_t{1} << 62), "step is 4611686018427387904"},
      {"negative episodes", at.counters + 8, i64(-3), "episodes is -3"},
      {"episodes > steps", at.counters + 8, i64(1001), "episodes is 1001"},
      {"huge updates", at.counters + 16, i64(std::int64_t{1} << 60), "updates is"},
      {"too many evaluations", at.counters + 24, i64(3), "evals is 3"},
      {"negative episode length", at.counters + 32, i64(-1), "episode_length is -1"},
      {"best step after the step", at.counters + 40, i64(1500), "best_eval_step is 1500"},
      {"negative log length", at.logs, i64(-1), "metrics_bytes is -1"},
      {"pending flag", at.pending, i64(2), "pending evaluation flag is 2"},
      {"NaN phase time", at.phases + 8, f64(nan), "env phase time is nan"},
      {"negative metrics.csv length", at.update_sums - 8, i64(-1), "metrics.csv lengths are"},
      {"more clipped updates than updates", at.update_sums + 8, i64(1000000),
       "updates since the last log line are"},
      {"NaN loss sum", at.update_sums + 16, f64(nan), "sums since the last log line"},
      {"NaN episode return", at.numbers, f64(nan), "episode_return is nan"},
      {"NaN best score", at.numbers + 8, f64(nan), "best_eval is nan"},
      {"the no-evaluation marker after evaluations", at.numbers + 8, f64(-1e300), "last_eval is"},
      {"infinite wall time", at.numbers + 24, f64(INFINITY), "wall_seconds is inf"},
      {"NaN loss", at.numbers + 32, f64(nan), "loss, mean_q and grad_norm are nan"},
      {"recent returns count", at.recent_count, i64(21), "recent returns count is 21"},
      {"all-zero act Rng", at.rngs, zero_rng, "act Rng state is all zero"},
      {"all-zero replay Rng", at.rngs + 32, zero_rng, "replay Rng state is all zero"},
      {"all-zero eval Rng", at.rngs + 64, zero_rng, "eval Rng state is all zero"},
      {"observation not the env's", at.obs,
       [](std::string& b, std::size_t o) { put(b, o, get<float>(b, o) + 1); },
       "current observation differs"},
      {"episode_start flag", at.episode_start, i64(2), "episode_start is 2"},
      {"NaN weight", at.params, [](std::string& b, std::size_t o) { put(b, o, std::nanf("")); },
       "online network's"},
      {"Adam steps", at.adam_steps, i64(129), "optimizer's step count is 129"},
      {"replay size and write position", at.replay_size(),
       [](std::string& b, std::size_t o) {
         put<std::int64_t>(b, o, 999);  // consistent with each other, not with 1000 steps
         put<std::int64_t>(b, o + 8, 999);
       },
       "replay holds 999"},
      {"replay action", at.replay_actions(), i64(2), "action of transition 0 is outside [0, 2)"},
      {"replay flag", at.replay_terminated() + 3, [](std::string& b, std::size_t o) { b[o] = 2; },
       "terminated flag of transition 3 is 2"},
  };
  for (const Case& c : cases) {
    const std::string name = c.name;
    CAPTURE(name);
    std::string bad = f.bytes;
    c.edit(bad, c.offset);
    recompute_crc(bad);
    const std::string what = load_error(f.config, bad);
    CAPTURE(what);
    CHECK(what.find(c.expected) != std::string::npos);
    CHECK(what.find("the snapshot is damaged") != std::string::npos);
  }
}

TEST_CASE("crafted priorities with a valid checksum are refused, naming the slot") {
  // The fixture's run with prioritized replay: 1000 of 2000 slots written, 128 updates.
  SnapshotFixture f;
  f.config.prioritized_replay = true;
  f.bytes = [&] {
    Trainer t(f.config, "");
    t.run(1000);
    return t.snapshot_bytes();
  }();
  Trainer probe(f.config, "");
  const SnapshotLayout at(f.bytes, f.config, probe.agent().online().parameter_count());
  REQUIRE(get<std::int64_t>(f.bytes, at.replay_size()) == 1000);  // the layout is read right
  REQUIRE(get<std::int64_t>(f.bytes, at.priorities) == 2000);
  const double max_priority = get<double>(f.bytes, at.max_priority());
  REQUIRE(max_priority > 1.0);  // the updates set priorities above the initial 1
  REQUIRE(get<double>(f.bytes, at.priority(999)) > 0);
  REQUIRE(get<double>(f.bytes, at.priority(1000)) == 0);  // not written: not sampleable
  struct Case {
    const char* name;
    std::size_t offset;
    double value;
    const char* expected;
  };
  const Case cases[] = {
      {"NaN priority", at.priority(7), std::nan(""), "priority of slot 7 is nan"},
      {"negative priority", at.priority(7), -0.5, "priority of slot 7 is -0.5"},
      {"priority above the max", at.priority(7), 2 * max_priority, "expected a finite number in"},
      {"a stored transition at 0", at.priority(999), 0.0, "slot 999 is 0, expected > 0"},
      {"an empty slot above 0", at.priority(1000), 0.25, "slot 1000 is 0.25, expected 0"},
      {"infinite max priority", at.max_priority(), INFINITY, "the max priority is inf"},
  };
  for (const Case& c : cases) {
    const std::string name = c.name;
    CAPTURE(name);
    std::string bad = f.bytes;
    put(bad, c.offset, c.value);
    recompute_crc(bad);
    const std::string what = load_error(f.config, bad);
    CAPTURE(what);
    CHECK(what.find(c.expected) != std::string::npos);
    CHECK(what.find("the snapshot is damaged") != std::string::npos);
  }
  CHECK(load_error(f.config, f.bytes).empty());
  // A config without prioritized replay does not read a snapshot that has priorities.
  Config plain = f.config;
  plain.prioritized_replay = false;
  CHECK(load_error(plain, f.bytes).find("another config") != std::string::npos);
}

TEST_CASE(
    "format-1 and format-2 snapshots and another run's config are refused with their own "
    "messages") {
  const SnapshotFixture f;
  for (const char* magic : {"DQNSNAP1", "DQNSNAP2"}) {
    std::string old = f.bytes;
    old.replace(0, 8, magic);
    CHECK(load_error(f.config, old).find(std::string("snapshot format ") + magic[7]) !=
          std::string::npos);
  }
  Config other = f.config;
  other.lr *= 2;
  CHECK(load_error(other, f.bytes).find("another config") != std::string::npos);
}

TEST_CASE(
    "CartPole's step 500 is stored as truncated, not terminated, with the true final observation "
    "as s'") {
  // A hand-set greedy policy balances the pole for the whole 500 steps: the linear controller
  // push right when w . s > 0, w = (0.1, 0.5, 1, 0.5) over (x, x_dot, theta, theta_dot), which
  // held CartPole up for 500 steps from each of 300 random starts in a float64 simulation. Two
  // ReLUs compute it: h = (relu(w . s), relu(-w . s)), Q(s, left) = h1, Q(s, right) = h0.
  Config c = make_preset("cartpole");
  c.hidden = {2};
  c.epsilon_start = c.epsilon_end = 0;  // greedy from step 0: the hand-set network acts
  c.learning_starts = c.total_steps;    // no update changes it
  c.eval_interval = 0;
  c.buffer_size = 1000;
  Trainer t(c, "");
  const auto& params = t.agent().online().parameters();
  REQUIRE(params.size() == 4);  // net.0.weight (2,4), net.0.bias, net.2.weight (2,2), net.2.bias
  const float w[4] = {0.1f, 0.5f, 1.0f, 0.5f};
  for (int k = 0; k < 4; ++k) {
    params[0].variable->value[k] = w[k];
    params[0].variable->value[4 + k] = -w[k];
  }
  const float w2[4] = {0, 1, 1, 0};  // rows: Q(left) = h1, Q(right) = h0
  for (int k = 0; k < 4; ++k) params[2].variable->value[k] = w2[k];
  for (int p : {1, 3})
    for (int k = 0; k < 2; ++k) params[p].variable->value[k] = 0;

  // 501 env steps: the first episode's 500 transitions (indices 0..499), then the next
  // episode's first (index 500), whose s is the reset observation.
  const TrainResult r = t.run(501);
  REQUIRE(r.episodes == 1);
  const ReplayBuffer& replay = *t.replay_buffer();
  REQUIRE(replay.size() == 501);
  for (std::int64_t i = 0; i < 499; ++i) {
    CAPTURE(i);
    REQUIRE_FALSE(replay.terminated(i));
    REQUIRE_FALSE(replay.truncated(i));
    for (int k = 0; k < 4; ++k) REQUIRE(replay.next_obs(i)[k] == replay.obs(i + 1)[k]);
  }
  // The time limit: truncated, and not terminated, so the target still bootstraps from s'.
  CHECK(replay.truncated(499));
  CHECK_FALSE(replay.terminated(499));
  // s' is one physics step from s with the action taken (the stored s is the float32 rounding of
  // the env's float64 state: a difference of ~1e-7), and not the next episode's first
  // observation (index 500's s).
  const float* s = replay.obs(499);
  const CartPoleParams physics;
  const CartPoleState expected =
      cartpole_physics_step(physics, CartPoleState{s[0], s[1], s[2], s[3]}, replay.action(499));
  const float* final_obs = replay.next_obs(499);
  const float* reset_obs = replay.obs(500);
  double to_expected = 0, reset_to_expected = 0;
  for (int k = 0; k < 4; ++k) {
    to_expected = std::max(to_expected, std::abs(final_obs[k] - expected[k]));
    reset_to_expected = std::max(reset_to_expected, std::abs(reset_obs[k] - expected[k]));
    CHECK(std::abs(reset_obs[k]) <= 0.05);  // a reset draws each component from [-0.05, 0.05)
  }
  CHECK(to_expected < 1e-5);
  CHECK(reset_to_expected > 1e-3);
  CHECK_FALSE(cartpole_terminated(physics, expected));  // the pole is still up at step 500
}

TEST_CASE("a stop request (Ctrl-C) pauses at the next env step with a resumable snapshot") {
  const Config c = short_config();
  const std::string dir = temp_dir("stop");
  std::atomic<bool> stop{true};
  Trainer t(c, dir);
  t.set_stop_flag(&stop);
  const TrainResult r = t.run();
  CHECK_FALSE(r.finished);
  CHECK(std::filesystem::exists(dir + "/snapshot.bin"));
  auto resumed = Trainer::resume(dir);
  CHECK(resumed->run().finished);
}

TEST_CASE("a diverging run stops naming the step and the quantity and keeps its last checkpoint") {
  Config c = short_config();
  c.checkpoint_interval = 400;
  c.learning_starts = 450;
  c.train_freq = 1;
  c.gradient_steps = 1;
  const std::string dir = temp_dir("diverge");
  Trainer t(c, dir);
  t.run(500);
  // A NaN weight, as an exploding run would produce, reaches the Q-values at the next update.
  t.agent().online().parameters()[0].variable->value[0] = std::nanf("");
  try {
    t.run();
    FAIL("expected the divergence guard to stop the run");
  } catch (const Error& e) {
    const std::string what = e.what();
    CHECK(what.find("divergence") != std::string::npos);
    CHECK(what.find("step 501") != std::string::npos);
    CHECK(what.find("not finite") != std::string::npos);
    CHECK(what.find("the last good checkpoint is " + dir + "/checkpoint.dqn (env step 400)") !=
          std::string::npos);
  }
  // The last checkpoint (step 400, written before the NaN) is intact and loads.
  const CheckpointInfo info = read_checkpoint_info(dir + "/checkpoint.dqn");
  CHECK(info.meta.get_or("env_steps", "") == "400");
  Rng rng(0);
  QNetwork net(info.spec, rng);
  load_checkpoint(dir + "/checkpoint.dqn", net, nullptr, nullptr);
  for (const auto& p : net.parameters())
    for (std::int64_t i = 0; i < p.variable->value.numel(); ++i)
      REQUIRE(std::isfinite(p.variable->value[i]));
}

TEST_CASE("max_minutes stops training on the wall clock, then evaluates the returned policy") {
  Config c = short_config();
  c.total_steps = 1'000'000'000;  // would take hours: only the wall-clock budget can stop it
  c.max_minutes = 0.5 / 60;       // half a second
  Trainer trainer(c, "");
  const TrainResult r = trainer.run();
  CHECK(r.finished);
  CHECK(r.env_steps > 0);
  CHECK(r.env_steps < c.total_steps);
  CHECK(r.wall_seconds >= 0.5);
  CHECK(r.wall_seconds < 30);  // stops at the first env step past the budget
  CHECK(r.final_eval.episodes == 2);
}

TEST_CASE("the per-phase seconds of a run are positive where work was done and within its wall") {
  Config c = short_config();
  Trainer trainer(c, "");
  const TrainResult r = trainer.run();
  const PhaseSeconds& p = r.phases;
  CHECK(p.act > 0);
  CHECK(p.env > 0);
  CHECK(p.store > 0);
  CHECK(p.sample > 0);
  CHECK(p.update > 0);
  CHECK(p.eval > 0);
  CHECK(p.checkpoint == 0);  // no run folder: nothing is written
  CHECK(p.total() <= r.wall_seconds);
  CHECK(p.update > p.sample);  // an update costs more than drawing its batch
}

// ---------------------------------------------------------------- runs that lose nothing

namespace {

std::string events_file(const std::string& dir);

// What the progress callback throws to stand in for kill -9: the process dies between two
// snapshots, with lines in its logs that no snapshot covers.
struct Killed {};

std::string error_text(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("a run killed between checkpoints and resumed writes the metrics of a straight run") {
  Config c = short_config();
  c.total_steps = 8000;
  c.checkpoint_interval = 2000;
  c.log_interval = 500;
  const std::string straight = temp_dir("kill_straight"), killed = temp_dir("kill_resumed");
  Trainer whole(c, straight);
  whole.run();
  {
    Trainer t(c, killed);
    t.on_progress([](const TrainProgress& p) {
      if (p.step == 5500) throw Killed{};  // 1,500 steps past the last snapshot (step 4000)
    });
    CHECK_THROWS_AS(t.run(), Killed);
  }
  // The dead run's logs run past its snapshot: episodes up to step 5500 are in metrics.jsonl.
  CHECK(read_all(killed + "/metrics.jsonl").size() >
        read_all(straight + "/metrics.jsonl").size() / 2);
  auto resumed = Trainer::resume(killed);
  CHECK(resumed->env_steps() == 4000);
  const TrainResult r = resumed->run();
  CHECK(r.finished);
  CHECK(read_all(killed + "/metrics.jsonl") == read_all(straight + "/metrics.jsonl"));
  // Wall-clock figures differ, but every step's timing line appears once, in order.
  std::istringstream timing(read_all(killed + "/timing.jsonl"));
  std::string line;
  std::int64_t last = 0, lines = 0;
  while (std::getline(timing, line)) {
    if (line.rfind("{\"step\":", 0) != 0) continue;
    const std::int64_t step = std::stoll(line.substr(8));
    CHECK(step > last);
    last = step;
    ++lines;
  }
  CHECK(lines == c.total_steps / c.log_interval);
  CHECK(same_parameters(whole.agent().online(), resumed->agent().online()));
  // The TensorBoard file and metrics.csv were cut back and continued too: every point once, the
  // same as the straight run's but for the wall-clock steps/s.
  resumed.reset();  // closes the files
  auto killed_scalars = testing::scalars_by_tag(read_all(events_file(killed)));
  auto straight_scalars = testing::scalars_by_tag(read_all(events_file(straight)));
  killed_scalars.erase("charts/SPS");
  straight_scalars.erase("charts/SPS");
  CHECK(killed_scalars == straight_scalars);
  auto without_sps = [](const std::string& csv) {
    std::istringstream in(csv);
    std::string line, out;
    while (std::getline(in, line)) {
      std::size_t comma = 0;
      for (int k = 0; k < 4; ++k) comma = line.find(',', comma) + 1;
      out += line.substr(0, comma) + line.substr(line.find(',', comma)) + "\n";
    }
    return out;
  };
  CHECK(without_sps(read_all(killed + "/metrics.csv")) ==
        without_sps(read_all(straight + "/metrics.csv")));
}

TEST_CASE("a stop inside the final evaluation resumes into that evaluation, losing nothing") {
  Config c = short_config();
  c.log_interval = 500;  // a progress line at the last step, right before the final evaluation
  const std::string straight = temp_dir("final_straight"), stopped = temp_dir("final_stopped");
  Trainer whole(c, straight);
  const TrainResult expected = whole.run();
  std::atomic<bool> stop{false};
  {
    Trainer t(c, stopped);
    t.set_stop_flag(&stop);
    t.on_progress([&](const TrainProgress& p) {
      if (p.step == c.total_steps) stop = true;  // the loop is over: only the evaluation is left
    });
    const TrainResult r = t.run();
    CHECK_FALSE(r.finished);
    CHECK(r.env_steps == c.total_steps);
    CHECK_FALSE(std::filesystem::exists(stopped + "/model.dqn"));
    CHECK(std::filesystem::exists(stopped + "/snapshot.bin"));
  }
  auto resumed = Trainer::resume(stopped);
  const TrainResult r = resumed->run();
  CHECK(r.finished);
  CHECK(r.final_eval.mean == expected.final_eval.mean);
  CHECK(read_all(stopped + "/metrics.jsonl") == read_all(straight + "/metrics.jsonl"));
}

TEST_CASE("a stop during a periodic evaluation is honoured, and the evaluation runs again") {
  // The evaluation at step 2000 plays 3,000 episodes (about a second), and a thread raises the
  // stop flag 20 ms after the step before it. Wherever the flag lands, resuming must give the
  // straight run's metrics; where it lands inside the evaluation (almost always), the run stops
  // at step 2000 with that evaluation undone and redone after resume.
  Config c = short_config();
  c.total_steps = 2500;
  c.eval_interval = 2000;
  c.eval_episodes = 3000;
  c.log_interval = 1;
  const std::string straight = temp_dir("eval_straight"), stopped = temp_dir("eval_stopped");
  {
    Trainer whole(c, straight);
    whole.run();
  }
  std::atomic<bool> stop{false};
  std::thread raiser;
  std::int64_t paused_at = 0;
  {
    Trainer t(c, stopped);
    t.set_stop_flag(&stop);
    t.on_progress([&](const TrainProgress& p) {
      if (p.step == 1999)
        raiser = std::thread([&] {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          stop = true;
        });
    });
    const TrainResult r = t.run();
    raiser.join();
    CHECK_FALSE(r.finished);
    paused_at = r.env_steps;
  }
  MESSAGE("the stop landed at env step ", paused_at, " (2000: inside the evaluation)");
  auto resumed = Trainer::resume(stopped);
  CHECK(resumed->run().finished);
  CHECK(read_all(stopped + "/metrics.jsonl") == read_all(straight + "/metrics.jsonl"));
}

TEST_CASE("evaluate stops at once when the stop flag is raised") {
  Config c = short_config();
  auto env = make_env("cartpole");
  Rng rng(3);
  QNetwork net(network_spec_for(c, *env), rng);
  std::atomic<bool> stop{true};
  const EvalResult r = evaluate(net, *env, 1000000, 0, 0.0, rng, &stop);
  CHECK(r.interrupted);
}

TEST_CASE("a finished run has no snapshot, and resume says the run has finished") {
  Config c = short_config();
  c.checkpoint_interval = 2000;
  const std::string dir = temp_dir("finished");
  {
    Trainer t(c, dir);
    CHECK(t.run().finished);
  }
  CHECK(std::filesystem::exists(dir + "/model.dqn"));
  CHECK(std::filesystem::exists(dir + "/checkpoint.dqn"));
  CHECK_FALSE(std::filesystem::exists(dir + "/snapshot.bin"));
  const std::string message = error_text([&] { Trainer::resume(dir); });
  CHECK(message.find("has finished") != std::string::npos);
  CHECK(message.find("--config") != std::string::npos);
  const std::string metrics = read_all(dir + "/metrics.jsonl");
  CHECK(metrics.find("\"type\":\"summary\"") == metrics.rfind("\"type\":\"summary\""));
}

TEST_CASE("a new run refuses a folder holding a run, and overwrite replaces it entirely") {
  Config c = short_config();
  c.total_steps = 1000;
  const std::string dir = temp_dir("twice");
  {
    Trainer first(c, dir);
    first.run(600);  // leaves a snapshot, as an interrupted run does
  }
  const std::string before = read_all(dir + "/metrics.jsonl");
  const std::string message = error_text([&] { Trainer second(c, dir); });
  CHECK(message.find("already holds a run") != std::string::npos);
  CHECK(message.find("dqn resume") != std::string::npos);
  CHECK(read_all(dir + "/metrics.jsonl") == before);  // untouched
  {
    Trainer replaced(c, dir, /*overwrite=*/true);
    CHECK_FALSE(std::filesystem::exists(dir + "/snapshot.bin"));  // the stale one is gone
    replaced.run();
  }
  CHECK_FALSE(std::filesystem::exists(dir + "/snapshot.bin"));
  CHECK(std::filesystem::exists(dir + "/model.dqn"));
}

TEST_CASE("run folders that cannot work are refused before training, saying why") {
  const std::string base = temp_dir("folders");
  std::filesystem::create_directories(base);
  CHECK(error_text([] { prepare_run_folder("", false); }).find("empty") != std::string::npos);
  std::ofstream(base + "/a_file") << "x";
  CHECK(error_text([&] {
          prepare_run_folder(base + "/a_file", false);
        }).find("is a file, not a folder") != std::string::npos);
  CHECK(error_text([&] {
          prepare_run_folder(base + "/" + std::string(300, 'x'), false);
        }).find("file names stop at 255") != std::string::npos);
  // A folder of someone else's files is never deleted, not even with overwrite.
  CHECK(error_text([&] { prepare_run_folder(base, true); }).find("holds other files") !=
        std::string::npos);
  CHECK(std::filesystem::exists(base + "/a_file"));
  // /proc refuses new folders even to root (file permissions would not stop root).
  CHECK(error_text([] {
          prepare_run_folder("/proc/dqn_run", false);
        }).find("cannot create the run folder") != std::string::npos);
}

TEST_CASE("a log write that fails (disk full) stops the run at once, naming the file") {
  Config c = short_config();
  const std::string dir = temp_dir("disk_full");
  Trainer t(c, dir);
  // A file-size limit makes every write past 8 KB fail (EFBIG) as a full disk would (ENOSPC),
  // for this process only; SIGXFSZ, which would kill it, is ignored for the test's duration.
  rlimit saved{};
  REQUIRE(getrlimit(RLIMIT_FSIZE, &saved) == 0);
  rlimit small = saved;
  small.rlim_cur = 8192;
  auto previous = std::signal(SIGXFSZ, SIG_IGN);
  REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
  const std::string message = error_text([&] { t.run(); });
  setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, previous);
  MESSAGE(message);
  CHECK(message.find("cannot write " + dir + "/") != std::string::npos);
  CHECK(message.find(".jsonl") != std::string::npos);
  CHECK(message.find("disk full") != std::string::npos);
  CHECK(message.find("no checkpoint was written") != std::string::npos);
  CHECK(t.env_steps() < c.total_steps);  // stopped at once, not trained to the end
}

TEST_CASE("the replay never outgrows the run, and one beyond available memory is refused") {
  Config c = make_preset("atari", "breakout");
  c.total_steps = 2000;
  Trainer short_atari(c, "");
  CHECK(short_atari.replay_capacity() == 2001);  // not the preset's 1,000,000 (7 GB)
  CHECK(short_atari.replay_memory_bytes() < 20'000'000);

  Config big = short_config();
  big.total_steps = 1'000'000'000;
  big.buffer_size = 1'000'000'000;  // 46 GB of CartPole transitions
  const std::int64_t available = available_memory_bytes();
  REQUIRE(available > 0);
  if (available < 46'000'000'000) {
    const std::string message = error_text([&] { Trainer t(big, ""); });
    CHECK(message.find("buffer_size = 1000000000") != std::string::npos);
    CHECK(message.find("46.00 GB") != std::string::npos);
    CHECK(message.find(format_gb(available).substr(0, 2)) != std::string::npos);
    CHECK(message.find("allow_swap") != std::string::npos);
  } else {
    MESSAGE("this machine has ", available, " bytes available: the refusal is not exercised");
  }
}

TEST_CASE("without periodic evaluations the run returns the last network and says so") {
  Config c = short_config();
  c.eval_interval = 0;
  const std::string dir = temp_dir("no_eval");
  Trainer t(c, dir);
  const TrainResult r = t.run();
  CHECK(r.evaluations == 0);
  CHECK(r.best_eval_step == c.total_steps);
  const CheckpointInfo info = read_checkpoint_info(dir + "/model.dqn");
  CHECK(info.meta.get_or("returned_policy", "") == "the last network (no periodic evaluation ran)");
}

TEST_CASE("phase times cover the whole run across a resume") {
  Config c = short_config();
  const std::string dir = temp_dir("phases");
  PhaseSeconds first;
  {
    Trainer t(c, dir);
    first = t.run(3000).phases;
  }
  auto resumed = Trainer::resume(dir);
  const TrainResult r = resumed->run();
  CHECK(r.phases.update >= first.update);
  CHECK(r.phases.act >= first.act);
  CHECK(r.phases.total() <= r.wall_seconds);
  // Most of a run is in its phases; "other" is bookkeeping (was ~35% after a resume when the
  // phases restarted from zero and the wall clock did not).
  MESSAGE("phases ", r.phases.total(), " s of ", r.wall_seconds, " s");
  CHECK(r.phases.total() > 0.5 * r.wall_seconds);
}

TEST_CASE("env_options_for carries every protocol key of the config to the env") {
  Config c = make_preset("atari-v5");
  c.full_action_space = true;
  c.max_frames_per_episode = 5000;
  c.clip_rewards = false;
  const EnvOptions o = env_options_for(c);
  CHECK(o.repeat_action_probability == 0.25);
  CHECK(o.noop_max == 0);
  CHECK_FALSE(o.fire_reset);
  CHECK_FALSE(o.terminal_on_life_loss);
  CHECK(o.full_action_space);
  CHECK(o.max_episode_frames == 5000);
  CHECK_FALSE(o.clip_rewards);
  const EnvOptions mnih = env_options_for(make_preset("atari"));
  CHECK(mnih.terminal_on_life_loss);
  CHECK(mnih.fire_reset);
  CHECK(mnih.noop_max == 30);
}

TEST_CASE("progress is reported every few seconds even when log_interval is far away") {
  // An Atari run logs every 10,000 steps (minutes apart): the terminal still hears from it.
  Config c = short_config();
  c.total_steps = 1'000'000'000;
  c.log_interval = 1'000'000'000;
  c.eval_interval = 0;
  c.final_eval_episodes = 0;
  c.max_minutes = 5.0 / 60;  // 5 s: two or three progress calls at one every 2 s
  Trainer t(c, "");
  int calls = 0;
  double rate = 0;
  t.on_progress([&](const TrainProgress& p) {
    ++calls;
    rate = p.steps_per_second;
  });
  t.run();
  CHECK(calls >= 2);
  CHECK(rate > 0);
}

// ---------------------------------------------------------------- logs: TensorBoard, CSV, means

namespace {

std::string events_file(const std::string& dir) {
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().filename().string().rfind("events.out.tfevents.", 0) == 0)
      return entry.path().string();
  FAIL("no event file in " << dir);
  return "";
}

// The metrics.jsonl lines of one type, each as its text.
std::vector<std::string> lines_of(const std::string& dir, const std::string& type) {
  std::vector<std::string> out;
  std::istringstream in(read_all(dir + "/metrics.jsonl"));
  std::string line;
  while (std::getline(in, line))
    if (line.find("\"type\":\"" + type + "\"") != std::string::npos) out.push_back(line);
  return out;
}

double json_value(const std::string& line, const std::string& key) {
  const auto at = line.find("\"" + key + "\":");
  REQUIRE(at != std::string::npos);
  return std::stod(line.substr(at + key.size() + 3));
}

// Every tag the run's event file must hold, with as many points as the run had episodes, log
// lines (with updates, for the losses) and evaluations; metrics.csv has a row for each.
void check_tags(const std::string& dir, const TrainResult& r) {
  const auto scalars = testing::scalars_by_tag(read_all(events_file(dir)));
  const auto episodes = static_cast<std::size_t>(r.episodes);
  const std::size_t logs = lines_of(dir, "train").size();
  std::size_t logs_with_updates = 0;
  for (const std::string& line : lines_of(dir, "train"))
    logs_with_updates += json_value(line, "updates") > 0;
  const auto evals = static_cast<std::size_t>(r.evaluations);
  CAPTURE(dir);
  REQUIRE(episodes > 0);
  REQUIRE(logs_with_updates > 0);
  REQUIRE(evals > 0);
  const std::pair<const char*, std::size_t> expected[] = {
      {"charts/episodic_return", episodes},
      {"charts/episodic_length", episodes},
      {"charts/epsilon", logs},
      {"charts/SPS", logs},
      {"losses/td_loss", logs_with_updates},
      {"losses/q_values", logs_with_updates},
      {"losses/grad_norm", logs_with_updates},
      {"losses/clipped_fraction", logs_with_updates},
      {"eval/mean_return", evals}};
  for (const auto& [tag, count] : expected) {
    CAPTURE(tag);
    REQUIRE(scalars.count(tag) == 1);
    CHECK(scalars.at(tag).size() == count);
  }
  CHECK(scalars.size() == std::size(expected));  // no tag beyond these
  // The points of each tag come in step order, and the evaluations at their steps.
  for (const auto& [tag, points] : scalars)
    for (std::size_t i = 1; i < points.size(); ++i) CHECK(points[i - 1].first <= points[i].first);
  const std::string csv = read_all(dir + "/metrics.csv");
  CHECK(csv.rfind("step,charts/episodic_return,charts/episodic_length,charts/epsilon,charts/SPS,"
                  "losses/td_loss,losses/q_values,losses/grad_norm,losses/clipped_fraction,"
                  "eval/mean_return\n",
                  0) == 0);
  CHECK(static_cast<std::size_t>(std::count(csv.begin(), csv.end(), '\n')) ==
        1 + episodes + logs + evals);
}

}  // namespace

TEST_CASE("a CartPole run's event file holds every tag with a point per episode, line, eval") {
  Config c = short_config();
  c.log_interval = 500;
  const std::string dir = temp_dir("tags_cartpole");
  Trainer t(c, dir);
  const TrainResult r = t.run();
  check_tags(dir, r);
  CHECK(std::filesystem::exists(dir + "/model.dqn"));
  CHECK(std::filesystem::exists(dir + "/last.dqn"));
}

TEST_CASE("a short Breakout run's event file holds every tag with the right number of points") {
  Config c = make_preset("atari", "breakout");
  c.total_steps = 600;
  c.learning_starts = 400;
  c.eval_interval = 300;
  c.eval_episodes = 1;
  c.max_frames_per_episode = 2000;
  c.final_eval_episodes = 0;
  c.log_interval = 100;
  c.epsilon_steps = 300;
  const std::string dir = temp_dir("tags_breakout");
  Trainer t(c, dir);
  const TrainResult r = t.run();
  check_tags(dir, r);
}

TEST_CASE("a log line reports the means over the updates since the last line") {
  // One update every env step. Logged every step, each line is one update's values; logged
  // every 10 steps, each line must be the mean of the ten single-update lines before it (the
  // same run: logging draws no random numbers).
  Config c = short_config();
  c.total_steps = 1000;
  c.learning_starts = 500;
  c.train_freq = 1;
  c.gradient_steps = 1;
  c.max_grad_norm = 0.05;  // small enough that some updates are clipped and some not
  c.eval_interval = 0;
  const std::string every = temp_dir("mean_every"), tenth = temp_dir("mean_tenth");
  c.log_interval = 1;
  Trainer(c, every).run();
  c.log_interval = 10;
  Trainer(c, tenth).run();
  const auto singles = lines_of(every, "train"), means = lines_of(tenth, "train");
  REQUIRE(singles.size() == 1000);
  REQUIRE(means.size() == 100);
  double clipped_any = 0;
  for (std::size_t m = 50; m < means.size(); ++m) {  // lines from step 510 on have 10 updates
    CAPTURE(m);
    CHECK(json_value(means[m], "updates") == 10);
    for (const char* key : {"td_loss", "q_values", "grad_norm", "clipped_fraction"}) {
      double sum = 0;
      for (std::size_t k = 10 * m; k < 10 * m + 10; ++k) sum += json_value(singles[k], key);
      CHECK(json_value(means[m], key) == doctest::Approx(sum / 10).epsilon(1e-6));
    }
    clipped_any += json_value(means[m], "clipped_fraction");
  }
  CHECK(clipped_any > 0);
  CHECK(clipped_any < 50);  // a fraction, not all updates clipped
}

TEST_CASE("model.dqn and last.dqn each carry the optimizer state that belongs to them") {
  Config c = short_config();
  c.total_steps = 8000;
  c.eval_interval = 2000;
  const std::string dir = temp_dir("two_models");
  Trainer t(c, dir);
  const TrainResult r = t.run();
  REQUIRE(r.evaluations == 4);
  const CheckpointInfo best = read_checkpoint_info(dir + "/model.dqn");
  const CheckpointInfo last = read_checkpoint_info(dir + "/last.dqn");
  CHECK(last.optimizer_steps == r.updates);
  // The best network's Adam stopped where that network did: at its evaluation's update count.
  CHECK(best.optimizer_steps <= r.updates);
  const std::int64_t updates_at_best =
      (r.best_eval_step / c.train_freq - (c.learning_starts - 1) / c.train_freq) * c.gradient_steps;
  CHECK(best.optimizer_steps == updates_at_best);
  Rng rng(0);
  QNetwork net(last.spec, rng);
  load_checkpoint(dir + "/last.dqn", net, nullptr, nullptr);
  CHECK(same_parameters(net, t.agent().online()));
}

TEST_CASE("a noisy-nets run killed between checkpoints and resumed equals the straight run") {
  // The noise is redrawn before every action and every update from the agent's noise stream,
  // so that stream's state (in the snapshot when noisy_nets is on) is all a resume needs.
  Config c = short_config();
  c.noisy_nets = true;
  c.total_steps = 8000;
  c.checkpoint_interval = 2000;
  c.log_interval = 500;
  const std::string straight = temp_dir("noisy_straight"), killed = temp_dir("noisy_killed");
  Trainer whole(c, straight);
  whole.run();
  {
    Trainer t(c, killed);
    t.on_progress([](const TrainProgress& p) {
      if (p.step == 5500) throw Killed{};  // 1,500 steps past the last snapshot (step 4000)
    });
    CHECK_THROWS_AS(t.run(), Killed);
  }
  auto resumed = Trainer::resume(killed);
  CHECK(resumed->env_steps() == 4000);
  CHECK(resumed->run().finished);
  CHECK(read_all(killed + "/metrics.jsonl") == read_all(straight + "/metrics.jsonl"));
  CHECK(same_parameters(whole.agent().online(), resumed->agent().online()));
  CHECK(same_parameters(whole.agent().target(), resumed->agent().target()));
  CHECK(whole.agent().noise_rng() == resumed->agent().noise_rng());
  // The run was noisy: sigma parameters, the epsilon keys left out of config.txt, epsilon 0.
  CHECK(whole.agent().online().parameters()[1].name == "net.0.weight_sigma");
  const std::string config_txt = read_all(straight + "/config.txt");
  CHECK(config_txt.find("epsilon_start") == std::string::npos);
  CHECK(config_txt.find("noisy_sigma0 = 0.5") != std::string::npos);
  CHECK(read_all(straight + "/metrics.jsonl").find("\"epsilon\":0}") != std::string::npos);
  // The snapshot loads back whole: the restored trainer saves the same bytes, noise stream too.
  const std::string bytes = resumed->snapshot_bytes();
  auto restored = Trainer::from_snapshot_bytes(c, bytes);
  CHECK(restored->agent().noise_rng() == resumed->agent().noise_rng());
  CHECK(restored->snapshot_bytes() == bytes);
}

TEST_CASE(
    "the cartpole preset with noisy nets instead of epsilon-greedy learns CartPole at seed 1") {
  // Seeded and deterministic. Noisy nets alone explore here (no epsilon at all). Margin: at
  // seeds 1-5 the returned policy scored 500.0, 500.0, 497.3, 500.0 and 500.0 over the 100
  // unseen episodes (best periodic evaluations of 500 at steps 42,500, 20,000, 50,000, 50,000,
  // 45,000), against ~22 for a random policy; the bar is the solved threshold, 475.
  Config c = make_preset("cartpole");
  c.noisy_nets = true;
  Trainer trainer(c, "");
  const TrainResult r = trainer.run();
  MESSAGE("final evaluation mean ", r.final_eval.mean, " (best periodic ", r.best_eval, " at step ",
          r.best_eval_step, ") in ", r.wall_seconds, " s");
  CHECK(r.finished);
  CHECK(r.final_eval.episodes == 100);
  CHECK(r.final_eval.mean >= 475.0);
}

TEST_CASE(
    "a noisy dueling Nature CNN run (Catch) paused and resumed from its snapshot equals a straight "
    "run") {
  // The pixel path with every fc layer noisy, dueling heads included: acting resamples the
  // CNN's noise every step, updates resample online and target noise, and the snapshot carries
  // the noise stream.
  Config c = make_preset("catch");
  c.noisy_nets = true;
  c.dueling = true;
  c.buffer_size = 200;
  c.batch_size = 4;
  c.total_steps = 300;
  c.learning_starts = 100;
  c.train_freq = 50;
  c.gradient_steps = 2;
  c.target_update_interval = 3;
  c.eval_interval = 0;
  c.final_eval_episodes = 1;
  Trainer whole(c, "");
  CHECK(whole.run().finished);
  Trainer first(c, "");
  CHECK(first.run(170).env_steps == 170);
  auto resumed = Trainer::from_snapshot_bytes(c, first.snapshot_bytes());
  CHECK(resumed->run().finished);
  REQUIRE(whole.agent().online().noisy_layers().size() == 4);
  CHECK(same_parameters(whole.agent().online(), resumed->agent().online()));
  CHECK(same_parameters(whole.agent().target(), resumed->agent().target()));
  CHECK(whole.agent().noise_rng() == resumed->agent().noise_rng());
}
