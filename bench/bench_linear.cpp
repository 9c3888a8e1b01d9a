// bench/bench_linear.cpp: the fully connected layer, forward + backward (dx, dw, db) together as
// one training step uses it, on the MLP's layers at batch 64 and the Nature CNN's 3136->512 layer
// at batch 32 (the streaming tiles of core/matmul.cpp), beside raw Eigen GEMMs doing the same
// three products (no bias, no column sum).
//
// Arguments: N, C_in, C_out, threads. FLOPs = 3 GEMMs x 2 N C_in C_out.
//   bench_linear --benchmark_min_time=0.1
// First: the same Eigen configuration as core/, so each Eigen template has one definition.
#include "core/eigen_config.hpp"

#include <benchmark/benchmark.h>

#include "bench/bench_util.hpp"
#include "core/bf16.hpp"
#include "core/linear.hpp"
#include "core/noisy_linear.hpp"
#include "core/parallel.hpp"

using namespace dqn;
using namespace dqn::bench;

namespace {

using MatR = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <bool kFast>
void BM_linear_fwd_bwd(benchmark::State& state) {
  const std::int64_t N = state.range(0), C_in = state.range(1), C_out = state.range(2);
  ThreadScope threads(static_cast<int>(state.range(3)));
  const auto x = random_floats(N * C_in, 1), w = random_floats(C_out * C_in, 2);
  const auto b = random_floats(C_out, 3), dout = random_floats(N * C_out, 4);
  std::vector<float> out(N * C_out), dx(N * C_in), dw(C_out * C_in), db(C_out);
  auto step = [&](bool fast) {
    std::fill(dx.begin(), dx.end(), 0.0f);
    std::fill(dw.begin(), dw.end(), 0.0f);
    std::fill(db.begin(), db.end(), 0.0f);
    if (fast) {
      linear_forward_fast(out.data(), x.data(), w.data(), b.data(), N, C_in, C_out);
      linear_backward_fast(dx.data(), dw.data(), db.data(), dout.data(), x.data(), w.data(), N,
                           C_in, C_out);
    } else {
      linear_forward_ref(out.data(), x.data(), w.data(), b.data(), N, C_in, C_out);
      linear_backward_ref(dx.data(), dw.data(), db.data(), dout.data(), x.data(), w.data(), N, C_in,
                          C_out);
    }
  };
  step(false);
  const auto out_ref = out, dx_ref = dx, dw_ref = dw, db_ref = db;
  step(true);
  if (!close_enough(out, out_ref) || !close_enough(dx, dx_ref) || !close_enough(dw, dw_ref) ||
      !close_enough(db, db_ref))
    state.SkipWithError("fast output differs from the reference");
  for (auto _ : state) {
    step(kFast);
    benchmark::DoNotOptimize(dw.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOPS"] = gflops(3.0 * 2.0 * N * C_in * C_out);
}

// The same three products as raw Eigen GEMMs: out = x w^T, dx = dout w, dw = dout^T x.
void BM_eigen_fwd_bwd(benchmark::State& state) {
  const std::int64_t N = state.range(0), C_in = state.range(1), C_out = state.range(2);
  MatR x = MatR::Random(N, C_in), w = MatR::Random(C_out, C_in), dout = MatR::Random(N, C_out);
  MatR out(N, C_out), dx(N, C_in), dw(C_out, C_in);
  for (auto _ : state) {
    out.noalias() = x * w.transpose();
    dx.noalias() = dout * w;
    dw.noalias() = dout.transpose() * x;
    benchmark::DoNotOptimize(dw.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOPS"] = gflops(3.0 * 2.0 * N * C_in * C_out);
}

// A noisy layer's forward (W = mu + sigma . f_out f_in^T, core/noisy_linear.hpp) the way the
// update's passes meet it: mu and sigma come from memory, not cache (the update's working set,
// 57 MB of a Rainbow CNN's parameters and Adam moments, exceeds L3), so each iteration uses the
// next of four copies of the layer (4 x 12.8 MB). Arg 0 (formed_then_gemm): noisy_weight_fast
// writes W, then linear_forward_fast reads it, as the tape did before. Arg 1 (in_tiles, W not
// kept: the target network's pass) and 2 (in_tiles_kept, W also written for dX: the online
// network's): noisy_linear_forward_fast, each GEMM tile forming its rows of W just before use.
void BM_noisy_forward(benchmark::State& state) {
  constexpr std::int64_t N = 32, C_in = 3136, C_out = 512, kCopies = 4;
  const int mode = static_cast<int>(state.range(0));
  ThreadScope threads(static_cast<int>(state.range(1)));
  const auto x = random_floats(N * C_in, 1), f_in = random_floats(C_in, 2);
  const auto f_out = random_floats(C_out, 3), b_mu = random_floats(C_out, 4);
  const auto b_sigma = random_floats(C_out, 5);
  std::vector<std::vector<float>> mu, sigma;
  for (std::int64_t c = 0; c < kCopies; ++c) {
    mu.push_back(random_floats(C_out * C_in, 6 + 2 * static_cast<std::uint64_t>(c)));
    sigma.push_back(random_floats(C_out * C_in, 7 + 2 * static_cast<std::uint64_t>(c)));
  }
  std::vector<float> w(C_out * C_in), b(C_out), y(N * C_out), want(N * C_out);
  const float one = 1;
  auto step = [&](int m, std::size_t c) {
    if (m == 0) {
      noisy_weight_fast(w.data(), mu[c].data(), sigma[c].data(), f_in.data(), f_out.data(), C_out,
                        C_in);
      noisy_weight_fast(b.data(), b_mu.data(), b_sigma.data(), &one, f_out.data(), C_out, 1);
      linear_forward_fast(y.data(), x.data(), w.data(), b.data(), N, C_in, C_out);
    } else {
      noisy_linear_forward_fast(y.data(), m == 2 ? w.data() : nullptr, b.data(), x.data(),
                                mu[c].data(), sigma[c].data(), b_mu.data(), b_sigma.data(),
                                f_in.data(), f_out.data(), N, C_in, C_out);
    }
  };
  step(0, 0);
  want = y;
  step(mode, 0);
  if (y != want) state.SkipWithError("the output differs from forming W then the GEMM");
  std::size_t c = 0;
  for (auto _ : state) {
    c = (c + 1) % kCopies;
    step(mode, c);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOPS"] = gflops(2.0 * N * C_in * C_out);
}

// The forward and the backward apart, FP32 (linear_*_fast) beside bf16 (linear_*_bf16_fast,
// labelled with this build's kernels), the backward writing dw as the update does.
// Arguments: bf16 (0/1), part (0 forward, 1 backward), N, C_in, C_out, threads.
void BM_linear_parts(benchmark::State& state) {
  const bool bf16 = state.range(0) != 0, backward = state.range(1) != 0;
  const std::int64_t N = state.range(2), C_in = state.range(3), C_out = state.range(4);
  ThreadScope threads(static_cast<int>(state.range(5)));
  const auto x = random_floats(N * C_in, 1), w = random_floats(C_out * C_in, 2);
  const auto b = random_floats(C_out, 3), dout = random_floats(N * C_out, 4);
  std::vector<float> out(N * C_out), dx(N * C_in), dw(C_out * C_in), db(C_out);
  std::vector<float> ws(linear_bf16_workspace_floats(N, C_in, C_out));
  if (bf16) state.SetLabel(bf16_kernel_name());
  for (auto _ : state) {
    if (!backward && bf16)
      linear_forward_bf16_fast(out.data(), x.data(), w.data(), b.data(), N, C_in, C_out, ws.data());
    else if (!backward)
      linear_forward_fast(out.data(), x.data(), w.data(), b.data(), N, C_in, C_out);
    else if (bf16)
      linear_backward_bf16_fast(dx.data(), dw.data(), db.data(), dout.data(), x.data(), w.data(), N,
                                C_in, C_out, /*accumulate_dw=*/false, ws.data());
    else
      linear_backward_overwrite_fast(dx.data(), dw.data(), db.data(), dout.data(), x.data(),
                                     w.data(), N, C_in, C_out);
    benchmark::DoNotOptimize(dw.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOPS"] = gflops((backward ? 4.0 : 2.0) * N * C_in * C_out);
}

void mlp_layers(benchmark::internal::Benchmark* b) {
  for (auto s :
       {std::array<std::int64_t, 3>{64, 4, 256}, {64, 256, 256}, {64, 256, 2}, {32, 3136, 512}})
    for (int t : {1, 2}) b->Args({s[0], s[1], s[2], t});
  b->ArgNames({"N", "C_in", "C_out", "threads"});
  b->UseRealTime();  // with threads, the main thread's CPU time would undercount
}

}  // namespace

BENCHMARK(BM_linear_fwd_bwd<false>)->Name("linear_ref")->Apply(mlp_layers);
BENCHMARK(BM_linear_fwd_bwd<true>)->Name("linear_fast")->Apply(mlp_layers);
BENCHMARK(BM_eigen_fwd_bwd)->Name("eigen_3gemm")->Apply(mlp_layers);
BENCHMARK(BM_linear_parts)
    ->Name("linear_parts")
    ->ArgsProduct({{0, 1}, {0, 1}, {32}, {3136}, {512}, {1, 2}})
    ->ArgNames({"bf16", "backward", "N", "C_in", "C_out", "threads"})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_noisy_forward)
    ->Name("noisy_forward")
    ->ArgsProduct({{0, 1, 2}, {1, 2}})
    ->ArgNames({"in_tiles", "threads"})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
