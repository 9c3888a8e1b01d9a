// bench/bench_atari2600.cpp: emulated frames per second of envs/atari2600 (Google Benchmark),
// side by side with the ALE oracle in the same run.
//
//   BM_TetrisRandom: random Tetris play from the verification kit (../shared/atari/roms, or
//   ATARI_SHARED_DIR), one frame per act(), random minimal-set actions from std::mt19937(1),
//   resets on terminal: the command `ale-oracle --random N --seed 1 --reset-on-terminal
//   --quiet` runs. That command reads no screen, so no pixel is drawn here either (the
//   console's set_render(false): collisions only); counter frames/s.
//   BM_TetrisRandomDrawn: the same with every frame drawn and its screen read.
//   BM_OracleTetrisRandom: the oracle itself (spawned; its own summary's frames/s, which
//   times the steps only), and the ratios ours / oracle of the two runs above.
//   BM_ProbeFrames: the repository's hmove probe (a busy kernel: resets and HMOVE on every
//   line), raw frames/s, drawn.
//   BM_TetrisEnvStep: the environment DQN steps (emulation, frame skip 4, max-pool, 84x84
//   resize, stack) on Tetris; agent steps/s. Two frames in four are drawn (the pooled ones).
// Parity is the tests' job (tests/atari2600/test_parity.cpp), not the benchmark's. The
// issue's target: BM_TetrisRandom at least twice the oracle's frames/s.
#include <benchmark/benchmark.h>
#include <time.h>

#include <sys/resource.h>
#include <sys/time.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
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

// Both speeds are taken as frames per second of CPU time (this thread's; the oracle process's,
// less its start-up), so that the ratio holds on a machine others load too; the wall-clock
// figures are reported beside them.
double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}
double children_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_CHILDREN, &u);
  auto s = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec);
  };
  return s(u.ru_utime) + s(u.ru_stime);
}

// Frames per CPU second of the two runs of ours, for the ratios the oracle's benchmark reports.
double g_ours_skipped = 0, g_ours_drawn = 0;

static void tetris_random(benchmark::State& state, bool drawn) {
  const auto rom = read_file(kit() / "roms" / "tetris.bin");
  if (rom.empty()) {
    state.SkipWithError("tetris.bin not found: set ATARI_SHARED_DIR to the kit's atari folder");
    return;
  }
  atari2600::AleOptions options;
  options.game = "tetris";
  atari2600::AleRunner ale(rom, options);
  ale.console().set_render(drawn);
  const auto actions = ale.minimal_actions();
  std::mt19937 g(1);
  std::int64_t frames = 0;
  const double cpu0 = thread_cpu_seconds();
  for (auto _ : state) {
    ale.act(actions[g() % actions.size()]);
    ++frames;
    if (drawn) benchmark::DoNotOptimize(ale.console().screen()[100 * 160 + 80]);
    if (ale.terminal()) ale.reset_game();
  }
  (drawn ? g_ours_drawn : g_ours_skipped) =
      static_cast<double>(frames) / (thread_cpu_seconds() - cpu0);
  state.counters["frames/s"] =
      benchmark::Counter(static_cast<double>(frames), benchmark::Counter::kIsRate);
}

static void BM_TetrisRandom(benchmark::State& state) {
  tetris_random(state, false);
}
BENCHMARK(BM_TetrisRandom)->Unit(benchmark::kMicrosecond);

static void BM_TetrisRandomDrawn(benchmark::State& state) {
  tetris_random(state, true);
}
BENCHMARK(BM_TetrisRandomDrawn)->Unit(benchmark::kMicrosecond);

// Runs `command` (stdout and stderr read back); false when it fails to start or exits non-zero.
bool run_command(const std::string& command, std::string& out) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return false;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) out += buffer;
  return pclose(pipe) == 0;
}

// The number after `"key":` in the oracle's summary line, or -1.
double summary_value(const std::string& out, const std::string& key) {
  const auto at = out.find("\"" + key + "\":", out.find("\"kind\":\"summary\""));
  if (at == std::string::npos) return -1;
  return std::strtod(out.c_str() + at + key.size() + 3, nullptr);
}

// The oracle on the same command, run here so that both speeds share the machine's load.
// Each iteration spawns `ale-oracle ... --random 20000 --quiet`; frames/s is per CPU second
// of the process, less the CPU time of a run with one step (start-up and ALE's loadROM);
// wall_frames/s is the oracle's own summary (its clock around the steps).
static void BM_OracleTetrisRandom(benchmark::State& state) {
  const auto oracle = kit() / "ale-oracle";
  const auto rom = kit() / "roms" / "tetris.bin";
  if (!std::filesystem::exists(oracle) || !std::filesystem::exists(rom)) {
    state.SkipWithError(
        "the ALE oracle kit is absent (../shared/atari or ATARI_SHARED_DIR): "
        "no oracle to compare with");
    return;
  }
  auto command = [&](int steps) {
    std::string c = oracle.string();
    c += " --rom ";
    c += rom.string();
    c += " --random ";
    c += std::to_string(steps);
    c += " --seed 1 --reset-on-terminal --quiet 2>&1";
    return c;
  };
  std::string out;
  double cpu = children_cpu_seconds();
  if (!run_command(command(1), out)) {
    state.SkipWithError("the oracle failed to run (run it by hand to see why)");
    return;
  }
  const double startup = children_cpu_seconds() - cpu;
  double frames = 0, cpu_seconds = 0, wall_seconds = 0;
  for (auto _ : state) {
    out.clear();
    cpu = children_cpu_seconds();
    if (!run_command(command(20000), out) || summary_value(out, "frames") < 0) {
      state.SkipWithError("the oracle gave no summary line (run it by hand to see why)");
      return;
    }
    cpu_seconds += children_cpu_seconds() - cpu - startup;
    frames += summary_value(out, "frames");
    wall_seconds += summary_value(out, "seconds");
    state.SetIterationTime(summary_value(out, "seconds"));
  }
  const double fps = frames / cpu_seconds;
  state.counters["frames/s"] = fps;
  state.counters["wall_frames/s"] = frames / wall_seconds;
  if (g_ours_skipped > 0) state.counters["ours/oracle"] = g_ours_skipped / fps;
  if (g_ours_drawn > 0) state.counters["drawn/oracle"] = g_ours_drawn / fps;
}
BENCHMARK(BM_OracleTetrisRandom)->UseManualTime()->Iterations(3)->Unit(benchmark::kMillisecond);

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
