// bench/bench_adam.cpp: the Adam update over the DQN parameter counts (MLP 4-256-256-2: 67,586;
// Nature CNN: 1,686,022) and 1e7, ref and fast, 1 and 2 threads; and under clipping, two passes
// beside one. Bytes = 4 arrays read + 3 written = 28 per parameter, to hold against BM_triad of
// bench_peak.cpp.
//   bench_adam --benchmark_min_time=0.1
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "bench/bench_util.hpp"
#include "core/adam.hpp"
#include "core/elementwise.hpp"
#include "core/parallel.hpp"

using namespace dqn;
using namespace dqn::bench;

namespace {

template <bool kFast>
void BM_adam(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  ThreadScope threads(static_cast<int>(state.range(1)));
  const auto g = random_floats(n, 1);
  auto p = random_floats(n, 2);
  std::vector<float> m(n, 0.0f), v(n, 0.0f);
  auto p_ref = p, m_ref = m, v_ref = v;
  const AdamHyper h;
  adam_step_ref(p_ref.data(), m_ref.data(), v_ref.data(), g.data(), n, h, 1);
  adam_step_fast(p.data(), m.data(), v.data(), g.data(), n, h, 1);
  if (p != p_ref || m != m_ref || v != v_ref)
    state.SkipWithError("fast output differs from the reference");
  std::int64_t step = 1;
  for (auto _ : state) {
    ++step;
    if (kFast)
      adam_step_fast(p.data(), m.data(), v.data(), g.data(), n, h, step);
    else
      adam_step_ref(p.data(), m.data(), v.data(), g.data(), n, h, step);
    benchmark::DoNotOptimize(p.data());
    benchmark::ClobberMemory();
  }
  state.counters["GBps"] =
      benchmark::Counter(28.0 * n / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

// Adam under gradient clipping (scale 0.37): the scaling pass then the update, as Adam::step ran
// it before adam_step_scaled_fast, beside the scale formed as the gradient is read. The two-pass
// version scales into a second buffer so that the gradient does not shrink from one iteration
// to the next; it reads and writes as much as scaling in place.
template <bool kFused>
void BM_adam_clipped(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  ThreadScope threads(static_cast<int>(state.range(1)));
  const auto g = random_floats(n, 1);
  auto p = random_floats(n, 2);
  std::vector<float> m(n, 0.0f), v(n, 0.0f), scaled(n);
  const AdamHyper h;
  constexpr float kScale = 0.37f;
  std::int64_t step = 0;
  for (auto _ : state) {
    ++step;
    if (kFused) {
      adam_step_scaled_fast(p.data(), m.data(), v.data(), g.data(), kScale, n, h, step);
    } else {
      scale_fast(scaled.data(), g.data(), kScale, n);
      adam_step_fast(p.data(), m.data(), v.data(), scaled.data(), n, h, step);
    }
    benchmark::DoNotOptimize(p.data());
    benchmark::ClobberMemory();
  }
  state.counters["GBps"] =  // the fused pass's traffic, so that the rates compare as times do
      benchmark::Counter(28.0 * n / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

void sizes(benchmark::internal::Benchmark* b) {
  for (std::int64_t n : {67586, 1686022, 10000000})
    for (int t : {1, 2}) b->Args({n, t});
  b->ArgNames({"n", "threads"});
  b->UseRealTime();
}

}  // namespace

BENCHMARK(BM_adam<false>)->Name("adam_ref")->Apply(sizes);
BENCHMARK(BM_adam<true>)->Name("adam_fast")->Apply(sizes);
BENCHMARK(BM_adam_clipped<false>)
    ->Name("adam_clipped_two_pass")
    ->Args({1686022, 1})
    ->Args({1686022, 2})
    ->ArgNames({"n", "threads"})
    ->UseRealTime();
BENCHMARK(BM_adam_clipped<true>)
    ->Name("adam_clipped_fused")
    ->Args({1686022, 1})
    ->Args({1686022, 2})
    ->ArgNames({"n", "threads"})
    ->UseRealTime();

BENCHMARK_MAIN();
