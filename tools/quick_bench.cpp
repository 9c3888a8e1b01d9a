// tools/quick_bench.cpp: the workloads of `dqn bench`.
#include "tools/quick_bench.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "core/matmul.hpp"
#include "core/parallel.hpp"
#include "core/simd.hpp"
#include "envs/cartpole.hpp"
#include "rl/agent.hpp"

namespace dqn::tools {
namespace {

constexpr int kRounds = 5;

// Median seconds per call of fn over kRounds rounds of about seconds_each / kRounds each.
double time_per_call(const std::function<void()>& fn, double seconds_each) {
  using clock = std::chrono::steady_clock;
  fn();  // warm-up: sizes buffers, faults pages in
  std::vector<double> rounds;
  for (int r = 0; r < kRounds; ++r) {
    std::int64_t calls = 0;
    const auto start = clock::now();
    double elapsed = 0;
    do {
      fn();
      ++calls;
      elapsed = std::chrono::duration<double>(clock::now() - start).count();
    } while (elapsed < seconds_each / kRounds);
    rounds.push_back(elapsed / static_cast<double>(calls));
  }
  std::sort(rounds.begin(), rounds.end());
  return rounds[kRounds / 2];
}

void row(std::ostream& out, const std::string& name, const std::string& threads, double seconds,
         const std::string& rate) {
  char line[200];
  const double us = seconds * 1e6;
  std::snprintf(line, sizeof line, "| %-38s | %7s | %12.1f us | %-22s |\n", name.c_str(),
                threads.c_str(), us, rate.c_str());
  out << line;
}

std::string per_second(double seconds, double work, const char* unit) {
  char text[64];
  std::snprintf(text, sizeof text, "%.1f %s", work / seconds, unit);
  return text;
}

}  // namespace

void print_quick_bench(std::ostream& out, double seconds_each) {
  out << "dqn bench (" << simd::isa_name() << " build; medians of " << kRounds
      << " rounds; full benchmarks: build/release/bench/bench_*)\n\n"
      << "| workload                               | threads |         time | rate                 "
         "  |\n"
      << "|----------------------------------------|---------|--------------|----------------------"
         "--|\n";
  Config config = make_preset("seed");
  for (int threads : {1, 2}) {
    ThreadScope scope(threads);
    {  // GEMM 64x256x256, the MLP's hidden layer
      std::vector<float> a(64 * 256, 0.5f), b(256 * 256, 0.25f), c(64 * 256);
      const double t = time_per_call(
          [&] { matmul_nt_fast(c.data(), a.data(), b.data(), 64, 256, 256, false); }, seconds_each);
      row(out, "GEMM 64x256x256 (NT)", std::to_string(threads), t,
          per_second(t, 2.0 * 64 * 256 * 256 / 1e9, "GFLOP/s"));
    }
    {
      Rng rng(1);
      DqnAgent agent(NetworkSpec{}, config, rng);
      Rng batch_rng(1);
      const Batch b = random_batch(agent.spec(), 64, batch_rng);
      const double t = time_per_call([&] { agent.update(b); }, seconds_each);
      row(out, "MLP update, batch 64 (4-256-256-2)", std::to_string(threads), t,
          per_second(t, 34.3e-3, "GFLOP/s"));
    }
    {
      const NetworkSpec spec = NetworkSpec::nature_cnn(6);
      Rng rng(1);
      DqnAgent agent(spec, config, rng);
      Rng batch_rng(1);
      const Batch b = random_batch(spec, 32, batch_rng);
      const double t = time_per_call([&] { agent.update(b); }, seconds_each * 2);
      row(out, "Nature CNN update, batch 32", std::to_string(threads), t,
          per_second(t, 2.394, "GFLOP/s"));
      const double act = time_per_call([&] { agent.greedy(b.frames.data()); }, seconds_each);
      row(out, "Nature CNN greedy action, batch 1", std::to_string(threads), act,
          per_second(act, 1.0, "actions/s"));
    }
  }
  {
    Rng rng(1);
    DqnAgent agent(NetworkSpec{}, config, rng);
    const float obs[4] = {0.01f, 0.02f, 0.03f, 0.04f};
    const double t = time_per_call([&] { agent.greedy(obs); }, seconds_each);
    row(out, "MLP greedy action, batch 1", "1", t, per_second(t, 1.0, "actions/s"));
  }
  {
    CartPole env;
    env.reset(1);
    std::int64_t action = 0;
    constexpr int kSteps = 1000;
    const double t = time_per_call(
        [&] {
          for (int i = 0; i < kSteps; ++i) {
            const StepResult r = env.step(action);
            action ^= 1;
            if (r.terminated || r.truncated) env.reset();
          }
        },
        seconds_each);
    row(out, "CartPole-v1 env step", "1", t / kSteps, per_second(t / kSteps, 1e-6, "M steps/s"));
  }
}

}  // namespace dqn::tools
