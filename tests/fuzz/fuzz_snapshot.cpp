// tests/fuzz/fuzz_snapshot.cpp: libFuzzer target for the run snapshot loader
// (Trainer::from_snapshot_bytes, the loader behind `dqn resume`).
//
// Built and run by tests/fuzz/run_fuzz.sh beside fuzz_checkpoint.cpp, with clang's
// -fsanitize=fuzzer,address,undefined; not part of the CMake build.
//
// The properties under test: for ANY bytes, loading either succeeds or throws dqn::Error, never
// crashes, reads out of bounds, allocates without bound or hangs. A snapshot that loads is a
// state the trainer can run on: a few more env steps (with updates and an evaluation) either
// work or throw dqn::Error (a finite but huge weight may diverge), and when they work, the
// trainer's own next snapshot loads again (the checks accept every state the trainer produces).
//
// The CRC stops almost every mutation at the checksum, which would leave the field checks
// behind it unexplored. So the first input byte picks a mode: even, the rest of the input is
// loaded as it is; odd, the rest first gets its CRC trailer rewritten to fit, so mutations reach
// the counters, Rng states, env state, networks, optimizer and replay as a forged file would.
//
// With DQN_FUZZ_WRITE_SEEDS=<folder> set, the target first writes a few valid snapshots there
// (the seed corpus) in both modes.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "nn/checkpoint.hpp"
#include "rl/config.hpp"
#include "rl/trainer.hpp"

using namespace dqn;

namespace {

// A CartPole run small enough that each input builds a fresh trainer in microseconds: a 64-slot
// replay that wraps, updates from step 32, evaluations every 100 steps.
Config tiny_config() {
  Config c = make_preset("cartpole");
  c.hidden = {8};
  c.buffer_size = 64;
  c.batch_size = 8;
  c.learning_starts = 32;
  c.train_freq = 4;
  c.gradient_steps = 1;
  c.target_update_interval = 16;
  c.total_steps = 400;
  c.eval_interval = 100;
  c.eval_episodes = 1;
  c.final_eval_episodes = 1;
  c.checkpoint_interval = 0;
  c.threads = 1;
  return c;
}

const Config& config() {
  static const Config* c = new Config(tiny_config());  // never destroyed
  return *c;
}

// Rewrites the CRC trailer (the last 4 bytes) so that the bytes pass the checksum.
void repair(std::string& bytes) {
  constexpr std::size_t kTrailer = 4;
  if (bytes.size() < kTrailer) return;
  const std::uint32_t crc = crc32(bytes.data(), bytes.size() - kTrailer);
  for (std::size_t i = 0; i < kTrailer; ++i)
    bytes[bytes.size() - kTrailer + i] = static_cast<char>((crc >> (8 * i)) & 0xFF);
}

void write_seeds(const char* folder) {
  // A fresh run (step 0), one before any update, and one past two evaluations with a wrapped
  // replay.
  for (const std::int64_t step : {0, 20, 250}) {
    Trainer t(config(), "");
    if (step > 0) t.run(step);
    const std::string bytes = t.snapshot_bytes();
    // A seed the loader refuses would leave the fuzzer exploring error paths only: throws
    // (uncaught, so run_fuzz.sh stops) if so.
    (void)Trainer::from_snapshot_bytes(config(), bytes, "fuzz seed");
    for (char mode : {'0', '1'})
      std::ofstream(std::string(folder) + "/step" + std::to_string(step) + "_" + mode,
                    std::ios::binary)
          << mode << bytes;
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  if (const char* folder = std::getenv("DQN_FUZZ_WRITE_SEEDS")) write_seeds(folder);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) repair(bytes);
  std::unique_ptr<Trainer> t;
  try {
    t = Trainer::from_snapshot_bytes(config(), bytes, "fuzz");
  } catch (const Error&) {
    return 0;
  }
  // Loaded: run on a little (through a training round, an evaluation or, near the end, the
  // final evaluation).
  try {
    (void)t->run(std::min(config().total_steps, t->env_steps() + 24));
  } catch (const Error&) {
    return 0;
  }
  const std::string again = t->snapshot_bytes();
  try {
    (void)Trainer::from_snapshot_bytes(config(), again, "fuzz round trip");
  } catch (const Error&) {
    __builtin_trap();  // the loader refused a state the trainer itself produced
  }
  return 0;
}
