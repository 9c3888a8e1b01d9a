// bench/bench_atari2600.cpp: emulated frames per second of envs/atari2600 (Google Benchmark).
//
//   BM_TetrisEnvStep: the environment DQN steps (emulation, frame skip 4, max-pool, 84x84
//   resize, stack) on Tetris; agent steps/s.
//   BM_TetrisRandom: random Tetris play from the verification kit (../shared/atari/roms, or
//   ATARI_SHARED_DIR), one frame per act(), resets on terminal, as `ale-oracle --random N
//   --reset-on-terminal --quiet` runs it; counter frames/s. BM_ProbeFrames: the repository's
//   hmove probe (a busy kernel: resets and HMOVE on every line), raw frames/s. Parity is the
//   tests' job (tests/atari2600/test_parity.cpp), not the benchmark's.
//
// The oracle's speed on the same ROM: ale-oracle --rom tetris.bin --random 20000 --seed 1
// --reset-on-terminal --quiet (README 1.2: unpatched ALE ~11,700 frames/s on this kind of
// machine; the oracle ~7% slower). The target is twice ALE's.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

#include "envs/atari2600/ale.hpp"
#include "envs/env.hpp"

namespace {

std::vector<std::uint8_t> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::filesystem::path kit() {
  if (const char* dir = std::getenv("ATARI_SHARED_DIR")) return dir;
  return std::filesystem::path(DQN_BENCH_SOURCE_DIR) / ".." / "shared" / "atari";
}

}  // namespace

static void BM_TetrisRandom(benchmark::State& state) {
  const auto rom = read_file(kit() / "roms" / "tetris.bin");
  if (rom.empty()) {
    state.SkipWithError("tetris.bin not found: set ATARI_SHARED_DIR to the kit's atari folder");
    return;
  }
  atari2600::AleOptions options;
  options.game = "tetris";
  atari2600::AleRunner ale(rom, options);
  const auto actions = ale.minimal_actions();
  std::mt19937 g(1);
  std::int64_t frames = 0;
  for (auto _ : state) {
    ale.act(actions[g() % actions.size()]);
    ++frames;
    if (ale.terminal()) ale.reset_game();
  }
  state.counters["frames/s"] =
      benchmark::Counter(static_cast<double>(frames), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_TetrisRandom)->Unit(benchmark::kMicrosecond);

static void BM_ProbeFrames(benchmark::State& state) {
  const auto rom =
      read_file(std::filesystem::path(DQN_BENCH_SOURCE_DIR) / "tests/atari2600/probes/hmove.bin");
  atari2600::Console console(rom);
  console.system_reset();
  for (auto _ : state) benchmark::DoNotOptimize(console.run_frame());
  state.counters["frames/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ProbeFrames)->Unit(benchmark::kMicrosecond);

// The whole environment a DQN agent steps: Tetris on the emulator (envs/rom_game.hpp) through
// AtariPreprocessing (frame skip 4, max-pool of the last two grey screens, 84x84 INTER_AREA,
// 4-frame stack), random minimal-set actions, resets on game over; counters agent steps/s and
// emulated frames/s.
static void BM_TetrisEnvStep(benchmark::State& state) {
  dqn::EnvOptions options;
  options.rom_path = (kit() / "roms" / "tetris.bin").string();
  if (!std::filesystem::exists(options.rom_path)) {
    state.SkipWithError("tetris.bin not found: set ATARI_SHARED_DIR to the kit's atari folder");
    return;
  }
  auto env = dqn::make_env("ale:tetris", options);
  env->reset(1);
  std::mt19937 g(1);
  const auto actions = static_cast<std::uint32_t>(env->num_actions());
  std::int64_t steps = 0;
  for (auto _ : state) {
    const dqn::StepResult r = env->step(static_cast<std::int64_t>(g() % actions));
    ++steps;
    if (r.terminated || r.truncated) env->reset();
  }
  state.counters["agent_steps/s"] =
      benchmark::Counter(static_cast<double>(steps), benchmark::Counter::kIsRate);
  state.counters["frames/s"] =
      benchmark::Counter(static_cast<double>(4 * steps), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_TetrisEnvStep)->Unit(benchmark::kMicrosecond);
BENCHMARK_MAIN();
