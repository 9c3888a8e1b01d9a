// bench/bench_categorical.cpp: the C51 kernels (Bellemare et al. 2017; core/categorical.hpp),
// ref against fast at the shapes a C51 update uses: log-softmax over N*A rows of 51 atoms, the
// projection of a batch of 64 (CartPole) and 32 (Atari), and the whole update of the cartpole
// preset's 4-64-64 MLP with an ordinary head (atoms 1) beside the categorical one (atoms 51).
//   bench_categorical --benchmark_min_time=0.1
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "core/categorical.hpp"
#include "core/parallel.hpp"
#include "core/rng.hpp"
#include "rl/agent.hpp"

using namespace dqn;

namespace {

constexpr std::int64_t kAtoms = 51;

std::vector<float> uniform(std::int64_t n, float lo, float hi, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = rng.uniform(lo, hi);
  return v;
}

template <bool kFast>
void BM_LogSoftmax(benchmark::State& state) {
  const std::int64_t rows = state.range(0);
  const std::vector<float> x = uniform(rows * kAtoms, -5.0f, 5.0f, 1);
  std::vector<float> out(x.size());
  for (auto _ : state) {
    if constexpr (kFast)
      log_softmax_forward_fast(out.data(), x.data(), rows, kAtoms);
    else
      log_softmax_forward_ref<float>(out.data(), x.data(), rows, kAtoms);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * rows * kAtoms);
}

template <bool kFast>
void BM_Projection(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  std::vector<float> p = uniform(n * kAtoms, 0.0f, 1.0f, 2);
  for (std::int64_t i = 0; i < n; ++i) {
    float total = 0;
    for (std::int64_t j = 0; j < kAtoms; ++j) total += p[i * kAtoms + j];
    for (std::int64_t j = 0; j < kAtoms; ++j) p[i * kAtoms + j] /= total;
  }
  const std::vector<float> r = uniform(n, -2.0f, 2.0f, 3), d(n, 0.99f), t(n, 0.0f);
  std::vector<float> m(p.size());
  for (auto _ : state) {
    if constexpr (kFast)
      categorical_projection_fast(m.data(), p.data(), r.data(), d.data(), t.data(), n, kAtoms,
                                  -10.0f, 10.0f);
    else
      categorical_projection_ref<float>(m.data(), p.data(), r.data(), d.data(), t.data(), n, kAtoms,
                                        -10.0f, 10.0f);
    benchmark::DoNotOptimize(m.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void BM_CartpoleUpdate(benchmark::State& state) {
  ThreadScope threads(1);
  NetworkSpec spec;
  spec.hidden = {64, 64};
  spec.atoms = state.range(0);
  Config config = make_preset("cartpole");
  Rng rng(1);
  DqnAgent agent(spec, config, rng);
  const Batch b = random_batch(spec, 64, rng);
  agent.update(b);  // first step sizes every buffer
  for (auto _ : state) {
    UpdateStats s = agent.update(b);
    benchmark::DoNotOptimize(s);
  }
}

}  // namespace

BENCHMARK(BM_LogSoftmax<false>)->Name("BM_LogSoftmax/ref")->Arg(128)->Arg(192);
BENCHMARK(BM_LogSoftmax<true>)->Name("BM_LogSoftmax/fast")->Arg(128)->Arg(192);
BENCHMARK(BM_Projection<false>)->Name("BM_Projection/ref")->Arg(32)->Arg(64);
BENCHMARK(BM_Projection<true>)->Name("BM_Projection/fast")->Arg(32)->Arg(64);
BENCHMARK(BM_CartpoleUpdate)->Arg(1)->Arg(51)->ArgName("atoms")->Unit(benchmark::kMicrosecond);
BENCHMARK_MAIN();
