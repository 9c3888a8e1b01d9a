// envs/trace.hpp: CartPole trajectories as JSON lines, to hold our physics against Gymnasium's.
//
// trace_cartpole writes, for a given initial state and action list, one JSON object per line:
//   {"step":0,"state":[x,x_dot,theta,theta_dot]}                            (the initial state)
//   {"step":1,"action":1,"state":[...],"obs":[...],"reward":1,"terminated":false,"truncated":false}
// "state" is the float64 state with %.17g (enough digits to round-trip a double), "obs" the
// float32 observation with %.9g (enough for a float). A Python script can load the first line
// into env.unwrapped.state, replay the actions and compare line by line. Stepping stops after
// the episode ends (terminated or truncated) even if actions remain.
//
// print_random_episodes plays uniformly random actions from a seed and writes, per episode, one
// line with its initial state, its actions, its length and return: enough to replay it anywhere.
#pragma once

#include <cstdint>
#include <ostream>
#include <vector>

#include "envs/cartpole.hpp"

namespace dqn {

// Returns the number of steps taken (fewer than actions.size() when the episode ended early).
std::int64_t trace_cartpole(std::ostream& out, const CartPoleState& initial_state,
                            const std::vector<std::int64_t>& actions,
                            std::int64_t max_episode_steps = 500);

// Episodes from CartPole::reset(seed) then reset(); actions from Rng(seed, 1).
void print_random_episodes(std::ostream& out, std::uint64_t seed, std::int64_t episodes,
                           std::int64_t max_episode_steps = 500);

}  // namespace dqn
