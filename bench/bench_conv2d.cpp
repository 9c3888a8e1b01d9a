// bench/bench_conv2d.cpp: the Nature CNN's convolutions (Mnih et al. 2015: 4x84x84 -> 32 8x8 s4
// -> 64 4x4 s2 -> 64 3x3 s1), forward + backward as a training step runs them (no dx for the
// first layer: the input needs no gradient), per layer and as the whole stack, at batch 32 and 1,
// ref and fast, 1 and 2 threads; beside them the same FLOPs as raw single-threaded Eigen GEMMs on
// ready im2col matrices of the whole batch (the ceiling: no im2col, no col2im, no bias).
//
// FLOPs per layer = 2 N C_out (C_in KH KW) (H_out W_out) per GEMM: forward, dw and, except for
// layer 1, dx.
//   bench_conv2d --benchmark_min_time=0.1 --benchmark_filter='fast|eigen'
// First: the same Eigen configuration as core/, so each Eigen template has one definition.
#include "core/eigen_config.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "bench/bench_util.hpp"
#include "core/bf16.hpp"
#include "core/conv2d.hpp"
#include "core/parallel.hpp"

using namespace dqn;
using namespace dqn::bench;

namespace {

using MatR = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

Conv2dShape nature_layer(int layer, std::int64_t N) {
  if (layer == 1) return {N, 4, 84, 84, 32, 8, 8, 4, 0};
  if (layer == 2) return {N, 32, 20, 20, 64, 4, 4, 2, 0};
  return {N, 64, 9, 9, 64, 3, 3, 1, 0};
}

double gemm_flops(const Conv2dShape& s) {
  return 2.0 * s.N * s.C_out * s.C_in * s.KH * s.KW * s.H_out() * s.W_out();
}

// One layer's buffers and its forward + backward.
struct Layer {
  Conv2dShape s;
  bool needs_dx;
  std::vector<float> x, w, b, out, dout, dx, dw, db;
  Layer(const Conv2dShape& shape, bool dx_needed)
      : s(shape),
        needs_dx(dx_needed),
        x(random_floats(s.N * s.C_in * s.H * s.W, 1)),
        w(random_floats(s.C_out * s.C_in * s.KH * s.KW, 2, -0.1f, 0.1f)),
        b(random_floats(s.C_out, 3)),
        out(s.N * s.C_out * s.H_out() * s.W_out()),
        dout(random_floats(static_cast<std::int64_t>(out.size()), 4)),
        dx(x.size()),
        dw(w.size()),
        db(b.size()) {}
  void step(bool fast, float* ws) {
    std::fill(dx.begin(), dx.end(), 0.0f);
    std::fill(dw.begin(), dw.end(), 0.0f);
    std::fill(db.begin(), db.end(), 0.0f);
    float* dxp = needs_dx ? dx.data() : nullptr;
    if (fast) {
      conv2d_forward_fast(out.data(), x.data(), w.data(), b.data(), s, ws);
      conv2d_backward_fast(dxp, dw.data(), db.data(), dout.data(), x.data(), w.data(), s, ws);
    } else {
      conv2d_forward_ref(out.data(), x.data(), w.data(), b.data(), s);
      conv2d_backward_ref(dxp, dw.data(), db.data(), dout.data(), x.data(), w.data(), s);
    }
  }
  double flops() const { return gemm_flops(s) * (needs_dx ? 3 : 2); }
};

// Arguments: layer (1-3, or 0 for the whole stack), N, threads.
template <bool kFast>
void BM_conv(benchmark::State& state) {
  const int which = static_cast<int>(state.range(0));
  const std::int64_t N = state.range(1);
  ThreadScope threads(static_cast<int>(state.range(2)));
  std::vector<Layer> layers;
  for (int l = 1; l <= 3; ++l)
    if (which == 0 || which == l) layers.emplace_back(nature_layer(l, N), l != 1);
  std::int64_t ws_floats = 0;
  for (auto& l : layers) ws_floats = std::max(ws_floats, conv2d_workspace_floats(l.s));
  std::vector<float> ws(ws_floats);
  double flops = 0;
  for (auto& l : layers) {
    l.step(false, ws.data());
    const auto out_ref = l.out, dx_ref = l.dx, dw_ref = l.dw, db_ref = l.db;
    l.step(true, ws.data());
    if (!close_enough(l.out, out_ref) || !close_enough(l.dx, dx_ref) ||
        !close_enough(l.dw, dw_ref) || !close_enough(l.db, db_ref))
      state.SkipWithError("fast output differs from the reference");
    flops += l.flops();
  }
  for (auto _ : state) {
    for (auto& l : layers) l.step(kFast, ws.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOPS"] = gflops(flops);
}

// Forward only, the whole stack: acting on Atari is a batch-1 forward (PyTorch 1.13 on this
// machine kind: 0.73 ms for the whole Nature CNN including the dense head, PEERS.md).
// With kBf16 the same stack through conv2d_forward_bf16_fast (core/bf16.hpp), labelled with the
// kernels this build runs.
template <bool kBf16>
void BM_conv_forward_stack(benchmark::State& state) {
  const std::int64_t N = state.range(0);
  ThreadScope threads(static_cast<int>(state.range(1)));
  std::vector<Layer> layers;
  std::int64_t ws_floats = 0;
  double flops = 0;
  for (int l = 1; l <= 3; ++l) {
    layers.emplace_back(nature_layer(l, N), l != 1);
    ws_floats = std::max(ws_floats, kBf16 ? conv2d_bf16_workspace_floats(layers.back().s)
                                          : conv2d_workspace_floats(layers.back().s));
    flops += gemm_flops(layers.back().s);
  }
  std::vector<float> ws(ws_floats);
  if (kBf16) state.SetLabel(bf16_kernel_name());
  for (auto _ : state) {
    for (auto& l : layers)
      if (kBf16)
        conv2d_forward_bf16_fast(l.out.data(), l.x.data(), l.w.data(), l.b.data(), l.s, ws.data());
      else
        conv2d_forward_fast(l.out.data(), l.x.data(), l.w.data(), l.b.data(), l.s, ws.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOPS"] = gflops(flops);
}

// The ceiling: the same FLOPs as the three GEMMs with the whole batch side by side,
// w (C_out,K) . col (K, N*P), dw += out . col^T, dcol = w^T . out: the largest, most efficient
// GEMMs these FLOPs can be cast as (no im2col, no col2im, no bias, one thread).
void BM_eigen_conv_gemms(benchmark::State& state) {
  const int which = static_cast<int>(state.range(0));
  const std::int64_t N = state.range(1);
  double flops = 0;
  struct Gemms {
    MatR w, col, out, dw, dcol;
    bool dx;
  };
  std::vector<Gemms> g;
  for (int l = 1; l <= 3; ++l) {
    if (which != 0 && which != l) continue;
    const Conv2dShape s = nature_layer(l, N);
    const std::int64_t K = s.C_in * s.KH * s.KW, NP = N * s.H_out() * s.W_out();
    g.push_back({MatR::Random(s.C_out, K), MatR::Random(K, NP), MatR(s.C_out, NP),
                 MatR::Zero(s.C_out, K), MatR(K, NP), l != 1});
    flops += gemm_flops(s) * (l != 1 ? 3 : 2);
  }
  for (auto _ : state) {
    for (auto& e : g) {
      e.out.noalias() = e.w * e.col;
      e.dw.noalias() += e.out * e.col.transpose();
      if (e.dx) e.dcol.noalias() = e.w.transpose() * e.out;
    }
    benchmark::ClobberMemory();
  }
  state.counters["GFLOPS"] = gflops(flops);
}

void with_threads(benchmark::internal::Benchmark* b) {
  for (int layer : {1, 2, 3, 0})
    for (std::int64_t N : {32, 1})
      for (int t : {1, 2}) b->Args({layer, N, t});
  b->ArgNames({"layer", "N", "threads"});
  b->UseRealTime();
}
void one_thread(benchmark::internal::Benchmark* b) {
  for (int layer : {1, 2, 3, 0})
    for (std::int64_t N : {32, 1}) b->Args({layer, N, 1});
  b->ArgNames({"layer", "N", "threads"});
  b->UseRealTime();
}

}  // namespace

BENCHMARK(BM_conv<false>)->Name("conv2d_ref")->Apply(one_thread);
BENCHMARK(BM_conv<true>)->Name("conv2d_fast")->Apply(with_threads);
BENCHMARK(BM_conv_forward_stack<false>)
    ->Name("conv2d_fast_forward_stack")
    ->ArgsProduct({{1, 32}, {1, 2}})
    ->ArgNames({"N", "threads"})
    ->UseRealTime();
BENCHMARK(BM_conv_forward_stack<true>)
    ->Name("conv2d_bf16_forward_stack")
    ->ArgsProduct({{32}, {1, 2}})
    ->ArgNames({"N", "threads"})
    ->UseRealTime();
BENCHMARK(BM_eigen_conv_gemms)->Name("eigen_conv_gemms")->Apply(one_thread);

BENCHMARK_MAIN();
