// envs/trace.cpp: the JSON-lines writers of trace.hpp.
#include "envs/trace.hpp"

#include <cstdio>
#include <string>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace dqn {
namespace {

std::string json_doubles(const double* v, int n) {
  std::string s = "[";
  char buf[32];
  for (int i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, "%.17g", v[i]);
    if (i > 0) s.push_back(',');
    s.append(buf);
  }
  s.push_back(']');
  return s;
}

std::string json_floats(const float* v, int n) {
  std::string s = "[";
  char buf[32];
  for (int i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(v[i]));
    if (i > 0) s.push_back(',');
    s.append(buf);
  }
  s.push_back(']');
  return s;
}

}  // namespace

std::int64_t trace_cartpole(std::ostream& out, const CartPoleState& initial_state,
                            const std::vector<std::int64_t>& actions,
                            std::int64_t max_episode_steps) {
  for (std::size_t i = 0; i < actions.size(); ++i) {
    DQN_CHECK(actions[i] == 0 || actions[i] == 1, "trace_cartpole: expected actions 0 or 1, got ",
              actions[i], " at index ", i);
  }
  CartPole env(max_episode_steps);
  env.set_state(initial_state);
  out << "{\"step\":0,\"state\":" << json_doubles(env.state().data(), 4) << "}\n";
  std::int64_t steps = 0;
  for (std::int64_t a : actions) {
    if (env.done()) break;
    const StepResult r = env.step(a);
    ++steps;
    out << "{\"step\":" << steps << ",\"action\":" << a
        << ",\"state\":" << json_doubles(env.state().data(), 4)
        << ",\"obs\":" << json_floats(env.observation_f32(), 4) << ",\"reward\":" << r.reward
        << ",\"terminated\":" << (r.terminated ? "true" : "false")
        << ",\"truncated\":" << (r.truncated ? "true" : "false") << "}\n";
  }
  return steps;
}

void print_random_episodes(std::ostream& out, std::uint64_t seed, std::int64_t episodes,
                           std::int64_t max_episode_steps) {
  DQN_CHECK(episodes >= 0, "print_random_episodes: expected episodes >= 0, got ", episodes);
  CartPole env(max_episode_steps);
  Rng policy(seed, 1);
  for (std::int64_t e = 0; e < episodes; ++e) {
    if (e == 0) {
      env.reset(seed);
    } else {
      env.reset();
    }
    const CartPoleState initial = env.state();
    std::string actions = "[";
    double total = 0;
    std::int64_t length = 0;
    bool terminated = false;
    while (!env.done()) {
      const std::int64_t a = policy.uniform_int(0, 2);
      const StepResult r = env.step(a);
      total += r.reward;
      terminated = r.terminated;
      if (length++ > 0) actions.push_back(',');
      actions.append(a == 1 ? "1" : "0");
    }
    actions.push_back(']');
    out << "{\"episode\":" << e << ",\"seed\":" << seed
        << ",\"initial_state\":" << json_doubles(initial.data(), 4) << ",\"length\":" << length
        << ",\"return\":" << total << ",\"terminated\":" << (terminated ? "true" : "false")
        << ",\"actions\":" << actions << "}\n";
  }
}

}  // namespace dqn
