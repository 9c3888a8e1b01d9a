// bench/bench_train.cpp: whole-loop throughput, env steps per second of training (acting +
// storing + sampling + training + evaluation).
//  - CartPole with the cartpole and seed presets: each iteration is a complete Trainer run of
//    kSteps env steps from a fresh start, so buffer growth and the learning-starts phase are
//    included as a user sees them.
//  - Breakout with the atari preset (Nature CNN, an update every 4 agent steps): 1000 timed
//    steps of the loop's steady state, acting through the network (epsilon 0.01) and updating,
//    after an untimed warm-up of random play that fills the replay: agent steps/s is what a long
//    run shows between its evaluations.
//  - The same Atari loop, same settings, on our own cartridge ale:catch2600 through the Atari
//    2600 emulator (envs/atari2600/roms/catch2600.asm) instead of the built-in mini:breakout:
//    side by side in one run, the two show what the emulator costs a training loop whose
//    Nature CNN update dominates (issue #17).
//  - The Breakout loop again with precision=bf16 (core/bf16.hpp), labelled with the kernels this
//    build runs: what the bfloat16 update buys a whole training loop.
#include <benchmark/benchmark.h>

#include "core/bf16.hpp"
#include "rl/trainer.hpp"

using namespace dqn;

namespace {

constexpr std::int64_t kSteps = 20000;

void run(benchmark::State& state, const char* preset) {
  Config config = make_preset(preset);
  config.total_steps = kSteps;
  config.max_episodes = 0;
  config.final_eval_episodes = 0;  // the final 100-episode evaluation is not training
  config.threads = static_cast<int>(state.range(0));
  for (auto _ : state) {
    Trainer trainer(config, "");
    const TrainResult r = trainer.run();
    benchmark::DoNotOptimize(r);
  }
  state.counters["env_steps/s"] = benchmark::Counter(static_cast<double>(kSteps),
                                                     benchmark::Counter::kIsIterationInvariantRate);
}

void BM_TrainCartpolePreset(benchmark::State& state) {
  run(state, "cartpole");
}
void BM_TrainSeedPreset(benchmark::State& state) {
  run(state, "seed");
}

constexpr std::int64_t kAtariWarmup = 200;  // random steps filling replay, not timed
constexpr std::int64_t kAtariTimed = 1000;  // timed steps, an update every 4 of them

void run_atari(benchmark::State& state, const char* env, const char* precision = "fp32") {
  Config config = make_preset("atari", env);
  config.precision = precision;
  config.total_steps = kAtariWarmup + kAtariTimed;
  config.buffer_size = 10000;  // the loop's cost does not depend on the capacity
  config.learning_starts = kAtariWarmup;
  config.epsilon_start = config.epsilon_end;  // act through the network from the first step
  config.eval_interval = 0;
  config.checkpoint_interval = 0;
  config.final_eval_episodes = 0;
  config.threads = static_cast<int>(state.range(0));
  for (auto _ : state) {
    state.PauseTiming();
    Trainer trainer(config, "");
    trainer.run(kAtariWarmup);  // pauses after the warm-up
    state.ResumeTiming();
    const TrainResult r = trainer.run();
    benchmark::DoNotOptimize(r);
  }
  state.counters["agent_steps/s"] = benchmark::Counter(
      static_cast<double>(kAtariTimed), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_TrainAtariBreakout(benchmark::State& state) {
  run_atari(state, "mini:breakout");
}
void BM_TrainAtariBreakoutBf16(benchmark::State& state) {
  state.SetLabel(bf16_kernel_name());
  run_atari(state, "mini:breakout", "bf16");
}
void BM_TrainAtariCatch2600(benchmark::State& state) {
  run_atari(state, "ale:catch2600");
}

}  // namespace

BENCHMARK(BM_TrainAtariBreakout)
    ->Arg(1)
    ->Arg(2)
    ->ArgName("threads")
    ->UseRealTime()
    ->Unit(benchmark::kSecond);
BENCHMARK(BM_TrainAtariBreakoutBf16)
    ->Arg(1)
    ->Arg(2)
    ->ArgName("threads")
    ->UseRealTime()
    ->Unit(benchmark::kSecond);
BENCHMARK(BM_TrainAtariCatch2600)
    ->Arg(1)
    ->Arg(2)
    ->ArgName("threads")
    ->UseRealTime()
    ->Unit(benchmark::kSecond);
BENCHMARK(BM_TrainCartpolePreset)
    ->Arg(1)
    ->Arg(2)
    ->ArgName("threads")
    ->UseRealTime()
    ->Unit(benchmark::kSecond);
BENCHMARK(BM_TrainSeedPreset)
    ->Arg(1)
    ->Arg(2)
    ->ArgName("threads")
    ->UseRealTime()
    ->Unit(benchmark::kSecond);
BENCHMARK_MAIN();
