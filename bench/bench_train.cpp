// bench/bench_train.cpp: whole-loop throughput, env steps per second of CartPole training
// (acting + storing + training + evaluation), with the cartpole and seed presets. Each iteration
// is a complete Trainer run of kSteps env steps from a fresh start, so buffer growth and the
// learning-starts phase are included as a user sees them.
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

}  // namespace

BENCHMARK(BM_TrainCartpolePreset)->Arg(1)->Arg(2)->ArgName("threads")->Unit(benchmark::kSecond);
BENCHMARK(BM_TrainSeedPreset)->Arg(1)->Arg(2)->ArgName("threads")->Unit(benchmark::kSecond);
BENCHMARK_MAIN();
