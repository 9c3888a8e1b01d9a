// bench/bench_update.cpp: one full DQN update (online + target forward, gather, TD target,
// Huber, backward, clip_grad_norm 10, Adam) for the seed's MLP at batch 64 and the Nature CNN at
// batch 32, at 1 and 2 threads, plus batch-1 greedy action latency. These are the workloads
// ../shared/PEERS.md and bench/compare_pytorch.py measure for PyTorch.
//
// FLOP counts (multiply-adds x 2): online forward + target forward + backward (twice a forward),
// i.e. 4 forward passes' worth. MLP 4-256-256-2: 67,072 MACs a sample -> 34.3 MFLOP at batch 64.
// Nature CNN: 9.35 M MACs a sample -> 2,394 MFLOP at batch 32.
#include <benchmark/benchmark.h>

#include "core/parallel.hpp"
#include "rl/agent.hpp"

using namespace dqn;

namespace {

double forward_macs(const NetworkSpec& spec) {
  if (spec.kind == NetworkKind::kMlp) {
    double macs = 0, width = static_cast<double>(spec.observation_shape[0]);
    for (auto h : spec.hidden) {
      macs += width * h;
      width = static_cast<double>(h);
    }
    return macs + width * spec.num_actions;
  }
  // der-cnn: conv1 16x16x32 outputs x 4*5*5, conv2 3x3x64 x 32*5*5, fc 576x256, fc.
  if (spec.kind == NetworkKind::kDataEfficientCnn)
    return 256.0 * 32 * 100 + 9.0 * 64 * 800 + 576.0 * 256 + 256.0 * spec.num_actions;
  // conv1 20x20x32 outputs x 4*8*8, conv2 9x9x64 x 32*4*4, conv3 7x7x64 x 64*3*3, fc, fc.
  return 400.0 * 32 * 256 + 81.0 * 64 * 512 + 49.0 * 64 * 576 + 3136.0 * 512 +
         512.0 * spec.num_actions;
}

NetworkSpec mlp_spec() {
  return NetworkSpec{};
}  // 4-256-256-2, the seed's network
NetworkSpec cnn_spec() {
  return NetworkSpec::nature_cnn(6);
}

NetworkSpec noisy(NetworkSpec spec) {
  spec.noisy = true;
  return spec;
}

void run_update(benchmark::State& state, const NetworkSpec& spec, std::int64_t batch) {
  ThreadScope threads(static_cast<int>(state.range(0)));
  Config config = make_preset("seed");  // plain DQN, Huber, clip 10, Adam lr 1e-4
  config.noisy_nets = spec.noisy;
  Rng rng(1);
  DqnAgent agent(spec, config, rng);
  const Batch b = random_batch(spec, batch, rng);
  agent.update(b);  // first step sizes every buffer
  for (auto _ : state) {
    UpdateStats s = agent.update(b);
    benchmark::DoNotOptimize(s);
  }
  state.counters["GFLOPS"] = benchmark::Counter(4.0 * 2.0 * forward_macs(spec) * batch,
                                                benchmark::Counter::kIsIterationInvariantRate);
}

void BM_MlpUpdate(benchmark::State& state) {
  run_update(state, mlp_spec(), 64);
}
void BM_CnnUpdate(benchmark::State& state) {
  run_update(state, cnn_spec(), 32);
}

// Noisy nets (Fortunato et al. 2018): the same update with every fc layer noisy, online and
// target noise redrawn each update; and the data-efficient CNN (van Hasselt et al. 2019).
void BM_NoisyMlpUpdate(benchmark::State& state) {
  run_update(state, noisy(mlp_spec()), 64);
}
void BM_NoisyCnnUpdate(benchmark::State& state) {
  run_update(state, noisy(cnn_spec()), 32);
}
void BM_DerCnnUpdate(benchmark::State& state) {
  run_update(state, NetworkSpec::der_cnn(6), 32);
}

// Noisy acting: a new noise sample (every fc layer's in + out normals and its effective weights),
// then the greedy action.
void BM_NoisyCnnAct(benchmark::State& state) {
  ThreadScope threads(static_cast<int>(state.range(0)));
  Config config = make_preset("seed");
  config.noisy_nets = true;
  Rng rng(1), unused(2);
  DqnAgent agent(noisy(cnn_spec()), config, rng);
  TensorU8 frames(Shape{1, 4, 84, 84});
  for (std::int64_t i = 0; i < frames.numel(); ++i) frames[i] = static_cast<std::uint8_t>(i * 7);
  for (auto _ : state) benchmark::DoNotOptimize(agent.act(frames.data(), 0.0, unused));
}

void BM_MlpAct(benchmark::State& state) {
  Config config = make_preset("seed");
  Rng rng(1);
  DqnAgent agent(mlp_spec(), config, rng);
  const float obs[4] = {0.01f, -0.02f, 0.03f, 0.04f};
  for (auto _ : state) benchmark::DoNotOptimize(agent.greedy(obs));
}

void BM_CnnAct(benchmark::State& state) {
  ThreadScope threads(static_cast<int>(state.range(0)));
  Config config = make_preset("seed");
  Rng rng(1);
  DqnAgent agent(cnn_spec(), config, rng);
  TensorU8 frames(Shape{1, 4, 84, 84});
  for (std::int64_t i = 0; i < frames.numel(); ++i) frames[i] = static_cast<std::uint8_t>(i * 7);
  for (auto _ : state) benchmark::DoNotOptimize(agent.greedy(frames.data()));
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * forward_macs(cnn_spec()),
                                                benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

BENCHMARK(BM_MlpUpdate)->Arg(1)->Arg(2)->ArgName("threads")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CnnUpdate)->Arg(1)->Arg(2)->ArgName("threads")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_NoisyMlpUpdate)->Arg(1)->ArgName("threads")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_NoisyCnnUpdate)->Arg(1)->ArgName("threads")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DerCnnUpdate)->Arg(1)->Arg(2)->ArgName("threads")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MlpAct)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_NoisyCnnAct)->Arg(1)->ArgName("threads")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CnnAct)->Arg(1)->Arg(2)->ArgName("threads")->Unit(benchmark::kMicrosecond);
BENCHMARK_MAIN();
