// bench/bench_envs.cpp: environment throughput (Google Benchmark).
//
//   CartPole steps/s on the concrete class (a direct call: CartPole is final), the raw physics,
//   emulated Atari frames/s with the screen read every frame, agent steps/s with the full
//   AtariPreprocessing (4 frames, two grey reads, max-pool, INTER_AREA, stack), the resize alone,
//   and a VectorEnv of 8 Breakouts on 1 and 2 threads. Every counter is items per second.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "core/parallel.hpp"
#include "core/rng.hpp"
#include "envs/atari_preprocessing.hpp"
#include "envs/atari_screen.hpp"
#include "envs/cartpole.hpp"
#include "envs/vector_env.hpp"

using namespace dqn;

static void BM_CartPoleStep(benchmark::State& state) {
  CartPole env;
  env.reset(1);
  for (auto _ : state) {
    // Lean with the pole so episodes run long; reset when one ends.
    const StepResult r = env.step(env.state()[2] > 0 ? 1 : 0);
    benchmark::DoNotOptimize(r);
    if (r.terminated || r.truncated) env.reset();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CartPoleStep);

static void BM_CartPolePhysics(benchmark::State& state) {
  const CartPoleParams p;
  CartPoleState s = {0.01, 0.02, 0.03, 0.04};
  std::int64_t a = 0;
  for (auto _ : state) {
    s = cartpole_physics_step(p, s, a);
    a ^= 1;
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CartPolePhysics);

// Emulated frames with the grey screen read every frame (the worst case for lazy drawing).
static void BM_AtariFrames(benchmark::State& state, const char* game_name) {
  auto game = make_atari_game(game_name);
  std::vector<std::uint8_t> grey(AtariScreen::kHeight * AtariScreen::kWidth);
  const std::vector<int> actions = game->minimal_action_set();
  Rng rng(1);
  for (auto _ : state) {
    game->act(actions[rng.uniform_int(0, static_cast<std::int64_t>(actions.size()))]);
    game->get_screen_grayscale(grey.data());
    benchmark::DoNotOptimize(grey.data());
    if (game->game_over()) game->reset_game();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_AtariFrames, breakout, "breakout");
BENCHMARK_CAPTURE(BM_AtariFrames, pong, "pong");

static void BM_AtariAgentStep(benchmark::State& state, const char* game_name) {
  auto env = make_env(game_name);
  env->reset(1);
  Rng rng(2);
  for (auto _ : state) {
    const StepResult r = env->step(rng.uniform_int(0, env->num_actions()));
    benchmark::DoNotOptimize(env->observation_u8());
    if (r.terminated || r.truncated) env->reset();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_AtariAgentStep, breakout, "breakout");
BENCHMARK_CAPTURE(BM_AtariAgentStep, pong, "pong");

static void BM_AreaResize210x160To84(benchmark::State& state) {
  // Two noise frames in turn: every row differs from the last call, so no row sums are reused
  // (the worst case; game frames change in a few rows and resize several times faster).
  AreaResize resize(210, 160, 84, 84);
  std::vector<std::uint8_t> src(2 * 210 * 160), dst(84 * 84);
  Rng rng(3);
  for (auto& v : src) v = static_cast<std::uint8_t>(rng.uniform_int(0, 256));
  std::int64_t i = 0;
  for (auto _ : state) {
    resize.apply(dst.data(), src.data() + (i++ & 1) * 210 * 160);
    benchmark::DoNotOptimize(dst.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * 210 * 160);
}
BENCHMARK(BM_AreaResize210x160To84);

// 8 Breakouts stepped together; items = agent steps summed over envs. Arg = threads.
static void BM_VectorBreakout(benchmark::State& state) {
  ThreadScope threads(static_cast<int>(state.range(0)));
  constexpr int kEnvs = 8;
  VectorEnv envs = VectorEnv::make("breakout", kEnvs);
  envs.reset(1);
  std::vector<std::int64_t> actions(kEnvs);
  Rng rng(4);
  for (auto _ : state) {
    for (auto& a : actions) a = rng.uniform_int(0, 4);
    benchmark::DoNotOptimize(envs.step(actions).data());
  }
  state.SetItemsProcessed(state.iterations() * kEnvs);
}
BENCHMARK(BM_VectorBreakout)->Arg(1)->Arg(2)->UseRealTime();

BENCHMARK_MAIN();
