// bench/bench_elementwise.cpp: the memory-bound kernels (element-wise, ReLU, Huber, sums) at
// 1e3 .. 1e7 elements, ref and fast, 1 and 2 threads, in bytes/s to hold against BM_triad /
// BM_copy of bench_peak.cpp (bytes = what the kernel must read + write, no write-allocate).
//   bench_elementwise --benchmark_min_time=0.1 --benchmark_filter='10000000'
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "bench/bench_util.hpp"
#include "core/activation.hpp"
#include "core/elementwise.hpp"
#include "core/loss.hpp"
#include "core/parallel.hpp"
#include "core/reduce.hpp"

using namespace dqn;
using namespace dqn::bench;

namespace {

enum Op { kAdd, kAxpy, kScale, kRelu, kReluBwd, kU8, kSum, kSqnorm, kHuber };

// Bytes moved per element for each op (float = 4, byte = 1).
double bytes_per_element(Op op) {
  switch (op) {
    case kAdd:
      return 12;
    case kAxpy:
      return 12;
    case kScale:
      return 8;
    case kRelu:
      return 8;
    case kReluBwd:
      return 16;
    case kU8:
      return 5;
    case kSum:
      return 4;
    case kSqnorm:
      return 4;
    case kHuber:
      return 8;
  }
  return 0;
}

template <Op kOp, bool kFast>
void BM_op(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  ThreadScope threads(static_cast<int>(state.range(1)));
  const auto a = random_floats(n, 1), b = random_floats(n, 2);
  std::vector<std::uint8_t> bytes(n);
  for (std::int64_t i = 0; i < n; ++i) bytes[i] = static_cast<std::uint8_t>(i * 7);
  std::vector<float> out(n), ref(n);
  float scalar = 0.0f;
  auto run = [&](float* o, bool fast) {
    switch (kOp) {
      case kAdd:
        (fast ? add_fast : add_ref<float>)(o, a.data(), b.data(), n);
        break;
      case kAxpy:
        (fast ? axpy_fast : axpy_ref<float>)(o, 0.5f, a.data(), n);
        break;
      case kScale:
        (fast ? scale_fast : scale_ref<float>)(o, a.data(), 0.5f, n);
        break;
      case kRelu:
        (fast ? relu_forward_fast : relu_forward_ref<float>)(o, a.data(), n);
        break;
      case kReluBwd:
        (fast ? relu_backward_fast : relu_backward_ref<float>)(o, b.data(), a.data(), n);
        break;
      case kU8:
        (fast ? u8_to_float_fast : u8_to_float_ref<float>)(o, bytes.data(), 1.0f / 255, n);
        break;
      case kSum:
        o[0] = scalar = (fast ? sum_fast : sum_ref<float>)(a.data(), n);
        break;
      case kSqnorm:
        o[0] = scalar = (fast ? sqnorm_fast : sqnorm_ref<float>)(a.data(), n);
        break;
      case kHuber:
        o[0] = scalar =
            (fast ? huber_forward_fast : huber_forward_ref<float>)(a.data(), b.data(), n, 1.0f);
        break;
    }
  };
  // axpy and relu backward accumulate: compare one call on equal starting buffers.
  run(ref.data(), false);
  run(out.data(), true);
  if (!close_enough(out, ref)) state.SkipWithError("fast output differs from the reference");
  for (auto _ : state) {
    run(out.data(), kFast);
    benchmark::DoNotOptimize(out.data());
    benchmark::DoNotOptimize(scalar);
    benchmark::ClobberMemory();
  }
  state.counters["GBps"] = benchmark::Counter(bytes_per_element(kOp) * n / 1e9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

void sizes(benchmark::internal::Benchmark* b) {
  for (std::int64_t n : {1000, 10000, 100000, 1000000, 10000000})
    for (int t : {1, 2}) b->Args({n, t});
  b->ArgNames({"n", "threads"});
  b->UseRealTime();
}

}  // namespace

#define DQN_BENCH_OP(op, name)                                  \
  BENCHMARK(BM_op<op, false>)->Name(name "_ref")->Apply(sizes); \
  BENCHMARK(BM_op<op, true>)->Name(name "_fast")->Apply(sizes)

DQN_BENCH_OP(kAdd, "add");
DQN_BENCH_OP(kAxpy, "axpy");
DQN_BENCH_OP(kScale, "scale");
DQN_BENCH_OP(kRelu, "relu_forward");
DQN_BENCH_OP(kReluBwd, "relu_backward");
DQN_BENCH_OP(kU8, "u8_to_float");
DQN_BENCH_OP(kSum, "sum");
DQN_BENCH_OP(kSqnorm, "sqnorm");
DQN_BENCH_OP(kHuber, "huber_forward");

BENCHMARK_MAIN();
