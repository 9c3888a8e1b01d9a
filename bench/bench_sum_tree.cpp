// bench/bench_sum_tree.cpp: prioritized replay's hot path (Schaul et al. 2016) on a 1M-slot
// replay: one minibatch of 32 stratified draws (a prefix-sum descent each, plus the importance
// weight) and the 32 priority updates that follow the gradient step, for the trees and for the
// flat-array references beside them. Counter: transitions (sampled and updated) per second.
//
// The tree's work is 2 x 32 x log2(2^20) = 1,280 node visits a batch, scattered over 16 MB of
// sum and 16 MB of min nodes: cache misses, not arithmetic, set its time. The reference's is a
// linear scan of 8 MB per draw.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/rng.hpp"
#include "rl/prioritized.hpp"
#include "rl/sum_tree.hpp"

using namespace dqn;

namespace {

constexpr std::int64_t kSlots = 1 << 20, kBatch = 32;

// The Priorities class (trees, stratified sampling, weights, updates) as the trainer runs it.
void BM_PrioritizedSampleUpdate(benchmark::State& state) {
  Priorities p(kSlots, 0.5, 1e-6);
  Rng rng(1);
  std::vector<std::int64_t> idx(kSlots);
  std::vector<float> td(kSlots);
  for (std::int64_t i = 0; i < kSlots; ++i) {
    idx[static_cast<std::size_t>(i)] = i;
    td[static_cast<std::size_t>(i)] = rng.uniform(0.0f, 4.0f);
  }
  p.update(idx.data(), td.data(), kSlots);  // a full replay of varied priorities
  std::int64_t batch[kBatch];
  float weights[kBatch], errors[kBatch];
  for (auto _ : state) {
    p.sample(batch, weights, kBatch, 0.4, rng);
    for (std::int64_t b = 0; b < kBatch; ++b) errors[b] = weights[b];  // stands in for |delta|
    p.update(batch, errors, kBatch);
    benchmark::DoNotOptimize(batch);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_PrioritizedSampleUpdate)->Unit(benchmark::kMicrosecond);

// The bare trees against their references: 32 stratified finds, a min, 32 sets in each tree.
template <class Sum, class Min>
void sample_update(benchmark::State& state) {
  Sum sum(kSlots);
  Min min(kSlots);
  Rng rng(1);
  for (std::int64_t i = 0; i < kSlots; ++i) {
    const double p = std::pow(rng.uniform(0.0, 4.0) + 1e-6, 0.5);
    sum.set(i, p);
    min.set(i, p);
  }
  // Checked once before timing: the tree finds what the reference finds.
  {
    SumTreeRef ref(kSlots);
    SumTree tree(kSlots);
    Rng check(2);
    for (std::int64_t i = 0; i < kSlots; ++i) {
      const double p = static_cast<double>(check.below(64)) / 4;  // exact sums in any order
      ref.set(i, p);
      tree.set(i, p);
    }
    for (int k = 0; k < 8; ++k) {
      const double u = check.uniform_double() * ref.total();
      if (tree.find(u) != ref.find(u)) state.SkipWithError("the sum tree disagrees with the ref");
    }
  }
  std::int64_t batch[kBatch];
  for (auto _ : state) {
    const double segment = sum.total() / kBatch;
    for (std::int64_t b = 0; b < kBatch; ++b)
      batch[b] = sum.find((static_cast<double>(b) + rng.uniform_double()) * segment);
    benchmark::DoNotOptimize(min.min());
    for (std::int64_t b = 0; b < kBatch; ++b) {
      const double p = std::pow(rng.uniform(0.0, 4.0) + 1e-6, 0.5);
      sum.set(batch[b], p);
      min.set(batch[b], p);
    }
    benchmark::DoNotOptimize(batch);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
void BM_SumTreeSampleUpdate_fast(benchmark::State& state) {
  sample_update<SumTree, MinTree>(state);
}
void BM_SumTreeSampleUpdate_ref(benchmark::State& state) {
  sample_update<SumTreeRef, MinTreeRef>(state);
}
BENCHMARK(BM_SumTreeSampleUpdate_fast)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SumTreeSampleUpdate_ref)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
