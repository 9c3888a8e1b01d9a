// bench/bench_update.cpp: one full DQN update (online + target forward, gather, TD target,
// Huber, backward, clip_grad_norm 10, Adam) for the seed's MLP at batch 64 and the Nature CNN at
// batch 32, at 1 and 2 threads, plus batch-1 greedy action latency. These are the workloads
// ../shared/PEERS.md and bench/compare_pytorch.py measure for PyTorch. BM_CnnForwardPasses
// times the CNN update's two forward passes alone and side by side.
//
// FLOP counts (multiply-adds x 2): online forward + target forward + backward (twice a forward),
// i.e. 4 forward passes' worth. MLP 4-256-256-2: 67,072 MACs a sample -> 34.3 MFLOP at batch 64.
// Nature CNN: 9.35 M MACs a sample -> 2,394 MFLOP at batch 32.
//
// Relative cost, one run, 3 repetitions (2-vCPU machine, another build on it): at 1 thread
// BM_CnnUpdate 16.2 ms, BM_NoisyCnnUpdate 19.3 ms (1.19x; 1.47x before the fused noisy op),
// BM_RainbowCnnUpdate 20.3 ms (1.25x: noisy + C51 + 3-step + prioritized sample/re-prioritise
// in a 1M replay), BM_DuelingRainbowCnnUpdate 27.9 ms (1.72x, a second noisy 3136x512 layer).
// At 2 threads with the second vCPU busy, OMP_WAIT_POLICY=passive: 16.3 / 20.1 / 20.4 ms (1.23x,
// 1.25x); with OpenMP's default spinning those rows took 90-190 ms, oversubscription, not code.
// Of Rainbow's +4 ms then (perf): Adam over the doubled fc parameters +0.9, forming the noisy fc
// weight 1.1, the dmu/dsigma pass 0.7, zeroing and norming sigma's gradient +0.4, the C51 head
// and resampling the rest; the sum trees' 32 draws and updates ~15 us (bench_sum_tree).
// Since the update's backward writes weight gradients outright (BasicTape::backward with a set),
// two alternating runs of the old and new binaries on the quiet machine, 1 thread: plain 16.0,
// 16.4 -> 15.5, 15.1 ms; noisy 19.4, 19.2 -> 18.0, 17.6 (1.16x); Rainbow 19.9, 20.5 -> 19.9,
// 18.6 (1.26x: the plain update gained too). Since the noisy W is formed inside the GEMM's
// tiles and sigma's gradient is deferred into the norm and Adam, three alternating runs of
// aee1851 and the new binary, 1 thread: plain 14.8-14.9 ms both; Rainbow 19.2, 18.3, 18.5 ->
// 17.6, 17.3, 17.1 (1.14x median over nine runs); 2 threads Rainbow / plain 1.33-1.41 -> 1.25
// (README, "What the Rainbow parts cost").
#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

#include "core/bf16.hpp"
#include "core/parallel.hpp"
#include "rl/agent.hpp"
#include "rl/prioritized.hpp"

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

void run_update(benchmark::State& state, const NetworkSpec& spec, std::int64_t batch,
                const char* precision = "fp32", double max_grad_norm = -1.0) {
  ThreadScope threads(static_cast<int>(state.range(0)));
  Config config = make_preset("seed");  // plain DQN, Huber, clip 10, Adam lr 1e-4
  config.noisy_nets = spec.noisy;
  config.precision = precision;
  if (max_grad_norm >= 0) config.max_grad_norm = max_grad_norm;  // else the preset's
  Rng rng(1);
  DqnAgent agent(spec, config, rng);
  const Batch b = random_batch(spec, batch, rng);
  agent.update(b);  // first step sizes every buffer
  for (auto _ : state) {
    UpdateStats s = agent.update(b);
    benchmark::DoNotOptimize(s);
  }
  // UseRealTime (below): a rate over the main thread's CPU time overstates a threaded run, by
  // the time that thread waits for the other (with OMP_WAIT_POLICY=passive it sleeps).
  state.counters["GFLOPS"] = benchmark::Counter(4.0 * 2.0 * forward_macs(spec) * batch,
                                                benchmark::Counter::kIsIterationInvariantRate);
}

void BM_MlpUpdate(benchmark::State& state) {
  run_update(state, mlp_spec(), 64);
}
void BM_CnnUpdate(benchmark::State& state) {
  run_update(state, cnn_spec(), 32);
}
// precision=bf16 (core/bf16.hpp): the same update with bfloat16 operands in every product. The
// label names the kernels: VDPBF16PS tiles, or the FP32 fallback on a CPU without AVX512_BF16.
void BM_CnnUpdateBf16(benchmark::State& state) {
  state.SetLabel(bf16_kernel_name());
  run_update(state, cnn_spec(), 32, "bf16");
}
// The same update when clipping scales the gradient (max_grad_norm far below its norm): Adam
// forms the scaled gradient as it reads it (adam_step_scaled_fast) instead of a scaling pass
// over it first. BM_CnnUpdate's random batch stays under the norm of 10 and never clips.
void BM_CnnUpdateClipped(benchmark::State& state) {
  run_update(state, cnn_spec(), 32, "fp32", 1e-3);
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

// The update's two forward passes, alone and side by side, to split the two-thread update's
// shortfall into waiting and slowdown. The online pass (recorded for backward) and the target
// pass (no gradients, its own network and tape) as DqnAgent::update runs them:
//   pass:0  the online forward alone, one thread;   pass:1  the target forward alone, one thread;
//   pass:2  both in turn, one thread;                pass:3  both as two tasks at two threads;
//   pass:4  both in turn at two threads, each layer split over both (the alternative to tasks:
//           6.80 against pass:3's 6.43 ms, fastest of 5 rounds, Zen 4, passive waits).
// If each pass ran beside the other as fast as alone, pass:3 would take max(pass:0, pass:1);
// the excess over that is what running side by side costs (shared cache and memory, and on
// the project's VMs two vCPUs that run 5-10% apart: README, "bfloat16 mixed precision").
void BM_CnnForwardPasses(benchmark::State& state) {
  const auto pass = state.range(0);
  ThreadScope threads(pass >= 3 ? 2 : 1);
  const NetworkSpec spec = cnn_spec();
  Rng rng(1);
  QNetwork online(spec, rng), target(spec, rng);
  const Batch b = random_batch(spec, 32, rng);
  Tape online_tape, target_tape;
  auto online_pass = [&] {
    online_tape.reset();
    benchmark::DoNotOptimize(online_tape.view(online.forward(online_tape, b.frames.view())).data);
  };
  auto target_pass = [&] {
    target_tape.reset();
    NoGradScope no_grad(target_tape);
    benchmark::DoNotOptimize(
        target_tape.view(target.forward(target_tape, b.next_frames.view())).data);
  };
  online_pass();  // first passes size every buffer
  target_pass();
  for (auto _ : state) {
    if (pass == 0) online_pass();
    if (pass == 1) target_pass();
    if (pass == 2 || pass == 4) {
      online_pass();
      target_pass();
    }
    if (pass == 3) parallel_tasks(true, online_pass, target_pass);
  }
  const double passes = pass >= 2 ? 2.0 : 1.0;
  state.counters["GFLOPS"] = benchmark::Counter(passes * 2.0 * forward_macs(spec) * 32,
                                                benchmark::Counter::kIsIterationInvariantRate);
}

// Rainbow's update (Hessel et al. 2018) on the Nature CNN at batch 32, beside BM_CnnUpdate: C51
// with 51 atoms (the cross-entropy loss and the projected target), noisy fc layers (online and
// target noise redrawn each update), 3-step discounts in the batch, and prioritized replay's
// whole round trip inside the timed loop: 32 stratified draws with their importance weights
// from a full 1M-slot Priorities, the weighted update, then the 32 new priorities from the
// update's per-sample losses. Dueling OFF, so the ratio to BM_CnnUpdate measures issue #18's
// "Rainbow parts" on the same trunk; dueling adds a second noisy 3136x512 layer, an architecture
// cost of its own, measured apart by BM_DuelingRainbowCnnUpdate.
void run_rainbow_update(benchmark::State& state, bool dueling) {
  ThreadScope threads(static_cast<int>(state.range(0)));
  NetworkSpec spec = NetworkSpec::nature_cnn(6, dueling);
  spec.noisy = true;
  spec.atoms = 51;
  Config config = make_preset("seed");
  config.noisy_nets = true;
  config.distributional = true;
  config.prioritized_replay = true;
  config.n_step = 3;
  Rng rng(1);
  DqnAgent agent(spec, config, rng);
  Batch b = random_batch(spec, 32, rng);
  const auto gamma3 = static_cast<float>(std::pow(config.gamma, 3));
  b.discounts.assign(32, gamma3);
  for (std::int64_t i = 0; i < 32; i += 5) b.discounts[static_cast<std::size_t>(i)] = 0.99f;
  b.weights.assign(32, 1.0f);
  b.indices.assign(32, 0);
  // A full replay of varied priorities, as bench_sum_tree's BM_PrioritizedSampleUpdate.
  constexpr std::int64_t kSlots = std::int64_t{1} << 20;
  Priorities priorities(kSlots, config.per_alpha, config.per_eps);
  {
    std::vector<std::int64_t> idx(kSlots);
    std::vector<float> td(kSlots);
    for (std::int64_t i = 0; i < kSlots; ++i) {
      idx[static_cast<std::size_t>(i)] = i;
      td[static_cast<std::size_t>(i)] = rng.uniform(0.0f, 4.0f);
    }
    priorities.update(idx.data(), td.data(), kSlots);
  }
  agent.update(b);  // first step sizes every buffer
  for (auto _ : state) {
    priorities.sample(b.indices.data(), b.weights.data(), 32, config.per_beta_start, rng);
    UpdateStats s = agent.update(b);
    priorities.update(b.indices.data(), agent.abs_td_errors().data(), 32);
    benchmark::DoNotOptimize(s);
  }
}
void BM_RainbowCnnUpdate(benchmark::State& state) {
  run_rainbow_update(state, /*dueling=*/false);
}
void BM_DuelingRainbowCnnUpdate(benchmark::State& state) {
  run_rainbow_update(state, /*dueling=*/true);
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

BENCHMARK(BM_MlpUpdate)
    ->Arg(1)
    ->Arg(2)
    ->ArgName("threads")
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CnnUpdate)
    ->Arg(1)
    ->Arg(2)
    ->ArgName("threads")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CnnUpdateBf16)
    ->Arg(1)
    ->Arg(2)
    ->ArgName("threads")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CnnForwardPasses)
    ->DenseRange(0, 4)
    ->ArgName("pass")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CnnUpdateClipped)
    ->Arg(1)
    ->ArgName("threads")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_NoisyMlpUpdate)
    ->Arg(1)
    ->ArgName("threads")
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_NoisyCnnUpdate)
    ->Arg(1)
    ->Arg(2)
    ->ArgName("threads")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RainbowCnnUpdate)
    ->Arg(1)
    ->Arg(2)
    ->ArgName("threads")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DuelingRainbowCnnUpdate)
    ->Arg(1)
    ->Arg(2)
    ->ArgName("threads")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DerCnnUpdate)
    ->Arg(1)
    ->Arg(2)
    ->ArgName("threads")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MlpAct)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_NoisyCnnAct)->Arg(1)->ArgName("threads")->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CnnAct)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime()->Unit(
    benchmark::kMicrosecond);
BENCHMARK_MAIN();
