// bench/bench_matmul.cpp: our three GEMM forms (ref and fast) beside a raw Eigen GEMM of the same
// shape, the practical ceiling for the fast kernels.
//
// Arguments: M, K, N, threads. Shapes are the DQN ones: the MLP at batch 64 (64x256x256 in all
// three forms, 64x4x256, 64x256x2, the 256x256x64 TN weight gradient) and the Nature CNN's im2col
// products at batch 1 (C_out x C_in*KH*KW x H_out*W_out).
//   bench_matmul --benchmark_min_time=0.1 --benchmark_filter='M:64/K:256/N:256'
// First: the same Eigen configuration as core/, so each Eigen template has one definition.
#include "core/eigen_config.hpp"

#include <benchmark/benchmark.h>

#include "bench/bench_util.hpp"
#include "core/matmul.hpp"
#include "core/parallel.hpp"

using namespace dqn;
using namespace dqn::bench;

namespace {

using MatR = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

enum Form { kNN, kNT, kTN };

template <Form F, bool kFast>
void BM_matmul(benchmark::State& state) {
  const std::int64_t M = state.range(0), K = state.range(1), N = state.range(2);
  ThreadScope threads(static_cast<int>(state.range(3)));
  const auto a = random_floats(M * K, 1), b = random_floats(K * N, 2);
  std::vector<float> c(static_cast<std::size_t>(M * N)), ref(c.size());
  auto run = [&](float* out, bool fast) {
    if (F == kNN)
      (fast ? matmul_nn_fast : matmul_nn_ref<float>)(out, a.data(), b.data(), M, K, N, false);
    if (F == kNT)
      (fast ? matmul_nt_fast : matmul_nt_ref<float>)(out, a.data(), b.data(), M, K, N, false);
    if (F == kTN)
      (fast ? matmul_tn_fast : matmul_tn_ref<float>)(out, a.data(), b.data(), M, K, N, false);
  };
  run(ref.data(), false);
  run(c.data(), true);
  if (!close_enough(c, ref)) state.SkipWithError("fast output differs from the reference");
  for (auto _ : state) {
    run(c.data(), kFast);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOPS"] = gflops(2.0 * M * K * N);
}

// The ceiling: one Eigen GEMM on row-major matrices (single-threaded: EIGEN_DONT_PARALLELIZE).
template <Form F>
void BM_eigen(benchmark::State& state) {
  const std::int64_t M = state.range(0), K = state.range(1), N = state.range(2);
  MatR a = MatR::Random(F == kTN ? K : M, F == kTN ? M : K);
  MatR b = MatR::Random(F == kNT ? N : K, F == kNT ? K : N);
  MatR c(M, N);
  for (auto _ : state) {
    if (F == kNN) c.noalias() = a * b;
    if (F == kNT) c.noalias() = a * b.transpose();
    if (F == kTN) c.noalias() = a.transpose() * b;
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOPS"] = gflops(2.0 * M * K * N);
}

void dqn_shapes(benchmark::internal::Benchmark* b, bool threads) {
  const std::int64_t shapes[][3] = {{64, 256, 256},  {64, 4, 256},   {64, 256, 2},  {256, 64, 256},
                                    {32, 256, 400},  {64, 512, 81},  {64, 576, 49}, {32, 3136, 512},
                                    {32, 512, 3136}, {512, 32, 3136}};
  for (const auto& s : shapes)
    for (int t : {1, 2})
      if (t == 1 || threads) b->Args({s[0], s[1], s[2], t});
  b->ArgNames({"M", "K", "N", "threads"});
  b->UseRealTime();  // with threads, the main thread's CPU time would undercount
}
void with_threads(benchmark::internal::Benchmark* b) {
  dqn_shapes(b, true);
}
void one_thread(benchmark::internal::Benchmark* b) {
  dqn_shapes(b, false);
}

}  // namespace

BENCHMARK(BM_matmul<kNN, false>)->Name("matmul_nn_ref")->Apply(one_thread);
BENCHMARK(BM_matmul<kNN, true>)->Name("matmul_nn_fast")->Apply(with_threads);
BENCHMARK(BM_eigen<kNN>)->Name("eigen_nn")->Apply(one_thread);
BENCHMARK(BM_matmul<kNT, false>)->Name("matmul_nt_ref")->Apply(one_thread);
BENCHMARK(BM_matmul<kNT, true>)->Name("matmul_nt_fast")->Apply(with_threads);
BENCHMARK(BM_eigen<kNT>)->Name("eigen_nt")->Apply(one_thread);
BENCHMARK(BM_matmul<kTN, false>)->Name("matmul_tn_ref")->Apply(one_thread);
BENCHMARK(BM_matmul<kTN, true>)->Name("matmul_tn_fast")->Apply(with_threads);
BENCHMARK(BM_eigen<kTN>)->Name("eigen_tn")->Apply(one_thread);

BENCHMARK_MAIN();
