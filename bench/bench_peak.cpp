// bench/bench_peak.cpp: what this machine can do at best, so the kernels' numbers have a scale.
//
// BM_peak_fma: FP32 FMA throughput from registers. An FMA has a 4-cycle latency and a Zen 4 /
// Skylake core issues 2 per cycle, so 2 x 4 = 8 independent accumulator chains are needed to keep
// both pipes busy; 12 leaves headroom for the loop overhead and for cores with a longer latency (5
// cycles on some parts: 2 x 5 = 10), while 12 + the 2 operand registers still fit in the 16 AVX2
// registers (no spills). FLOP per FMA lane = 2. BM_peak_bf16_dot: the bfloat16 pair dot product's
// peak, the scale of precision=bf16's kernels. BM_triad / BM_copy: STREAM-style bandwidth
// (McCalpin) over arrays far larger than the caches, the ceiling for the element-wise kernels:
// triad a = b + s*c moves 12 bytes per element, copy 8.
//   bench_peak --benchmark_min_time=0.1
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "core/parallel.hpp"
#include "core/simd.hpp"

using namespace dqn;
using dqn::simd::VecF;

namespace {

constexpr int kChains = 12;
// 2^20 rounds: 1.4 ms a call on a Zen 5 core. At 2^16 (88 us) the 2-thread figure under
// OMP_WAIT_POLICY=passive included waking the second thread each iteration and read 390
// GFLOP/s where spinning threads read 566: the benchmark measured the wake-up, not the FMAs.
constexpr std::int64_t kFmaIterations = 1 << 20;

// Runs kFmaIterations rounds of kChains independent FMAs; returns a lane sum so nothing is dead.
float fma_chains(float seed) {
  VecF acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = VecF::set1(seed + static_cast<float>(c));
  const VecF mul = VecF::set1(0.999999f), add = VecF::set1(1e-7f);
  for (std::int64_t i = 0; i < kFmaIterations; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = acc[c].fma(mul, add);
  VecF total = acc[0];
  for (int c = 1; c < kChains; ++c) total = total + acc[c];
  return total.sum();
}

void BM_peak_fma(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  ThreadScope scope(threads);
  float sink[kMaxThreads] = {};
  for (auto _ : state) {
    parallel_for(0, threads, 1, [&](std::int64_t lo, std::int64_t hi) {
      for (std::int64_t t = lo; t < hi; ++t) sink[t] = fma_chains(static_cast<float>(t));
    });
    benchmark::DoNotOptimize(sink);
  }
  const double flops = 2.0 * VecF::kLanes * kChains * static_cast<double>(kFmaIterations) * threads;
  state.counters["GFLOPS"] =
      benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_peak_fma)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime();

#if defined(DQN_HAVE_BF16_DOT)
// BM_peak_bf16_dot: the same for VDPBF16PS (core/bf16.hpp), 4 FLOP per lane (two products, two
// adds). Its latency is about 6 cycles, so 2 pipes x 6 = 12 chains, 24 for headroom (32
// registers with AVX-512).
constexpr int kDotChains = 16;
float dot_chains(float seed) {
  VecF acc[kDotChains];
  for (int c = 0; c < kDotChains; ++c) acc[c] = VecF::set1(seed + static_cast<float>(c));
  const __m512i a = simd::bf16_pairs(VecF::set1(0.999f), VecF::set1(1e-3f));
  const __m512i b = simd::bf16_pairs(VecF::set1(1e-7f), VecF::set1(1e-7f));
  for (std::int64_t i = 0; i < kFmaIterations; ++i)
    for (int c = 0; c < kDotChains; ++c) acc[c] = simd::dot_pairs(acc[c], a, b);
  VecF total = acc[0];
  for (int c = 1; c < kDotChains; ++c) total = total + acc[c];
  return total.sum();
}

void BM_peak_bf16_dot(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  ThreadScope scope(threads);
  float sink[kMaxThreads] = {};
  for (auto _ : state) {
    parallel_for(0, threads, 1, [&](std::int64_t lo, std::int64_t hi) {
      for (std::int64_t t = lo; t < hi; ++t) sink[t] = dot_chains(static_cast<float>(t));
    });
    benchmark::DoNotOptimize(sink);
  }
  const double flops =
      4.0 * VecF::kLanes * kDotChains * static_cast<double>(kFmaIterations) * threads;
  state.counters["GFLOPS"] =
      benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_peak_bf16_dot)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime();
#endif

// 2^24 floats = 64 MiB per array: far beyond any L3 share of this machine.
constexpr std::int64_t kStreamN = std::int64_t{1} << 24;

void BM_triad(benchmark::State& state) {
  ThreadScope scope(static_cast<int>(state.range(0)));
  std::vector<float> a(kStreamN), b(kStreamN, 1.0f), c(kStreamN, 2.0f);
  const float s = 3.0f;
  for (auto _ : state) {
    parallel_for(0, kStreamN, 1 << 16, [&](std::int64_t lo, std::int64_t hi) {
      for (std::int64_t i = lo; i < hi; ++i) a[i] = b[i] + s * c[i];
    });
    benchmark::DoNotOptimize(a.data());
    benchmark::ClobberMemory();
  }
  state.counters["GBps"] =
      benchmark::Counter(12.0 * kStreamN / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_triad)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime();

void BM_copy(benchmark::State& state) {
  ThreadScope scope(static_cast<int>(state.range(0)));
  std::vector<float> a(kStreamN), b(kStreamN, 1.0f);
  for (auto _ : state) {
    parallel_for(0, kStreamN, 1 << 16, [&](std::int64_t lo, std::int64_t hi) {
      for (std::int64_t i = lo; i < hi; ++i) a[i] = b[i];
    });
    benchmark::DoNotOptimize(a.data());
    benchmark::ClobberMemory();
  }
  state.counters["GBps"] =
      benchmark::Counter(8.0 * kStreamN / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_copy)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
