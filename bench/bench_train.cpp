// bench/bench_train.cpp: whole-loop throughput, env steps per second of training (acting +
// storing + sampling + training + evaluation).
//  - CartPole with the cartpole and seed presets: each iteration is a complete Trainer run of
//    kSteps env steps from a fresh start, so buffer growth and the learning-starts phase are
//    included as a user sees them.
//  - Breakout with the atari preset (Nature CNN, an update every 4 agent steps): a short run in
//    the loop's steady state, acting greedily through the network (epsilon 0.01) and updating
//    from the first steps on, so agent steps/s is what a long run shows after its warm-up.
#include <benchmark/benchmark.h>

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

constexpr std::int64_t kAtariSteps = 1200;
constexpr std::int64_t kAtariWarmup = 200;  // random steps filling replay before the first update

void BM_TrainAtariBreakout(benchmark::State& state) {
  Config config = make_preset("atari", "breakout");
  config.total_steps = kAtariSteps;
  config.buffer_size = 10000;  // the loop's cost does not depend on the capacity
  config.learning_starts = kAtariWarmup;
  config.epsilon_start = config.epsilon_end;  // act through the network from the first step
  config.eval_interval = 0;
  config.checkpoint_interval = 0;
  config.final_eval_episodes = 0;
  config.threads = static_cast<int>(state.range(0));
  for (auto _ : state) {
    Trainer trainer(config, "");
    const TrainResult r = trainer.run();
    benchmark::DoNotOptimize(r);
  }
  state.counters["agent_steps/s"] = benchmark::Counter(
      static_cast<double>(kAtariSteps), benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

BENCHMARK(BM_TrainAtariBreakout)->Arg(1)->Arg(2)->ArgName("threads")->Unit(benchmark::kSecond);
BENCHMARK(BM_TrainCartpolePreset)->Arg(1)->Arg(2)->ArgName("threads")->Unit(benchmark::kSecond);
BENCHMARK(BM_TrainSeedPreset)->Arg(1)->Arg(2)->ArgName("threads")->Unit(benchmark::kSecond);
BENCHMARK_MAIN();
