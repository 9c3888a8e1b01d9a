// envs/env.hpp: the environment interface the replay buffer and trainer are written against.
//
// An Env owns one episode at a time and its own Rng, so a seed fixes every episode it plays:
//
//   std::unique_ptr<Env> env = make_env("cartpole");
//   env->reset(42);                              // like gymnasium's reset(seed=42)
//   StepResult r = env->step(1);
//   const float* obs = env->observation_f32();  // (4) for CartPole
//   if (r.terminated || r.truncated) env->reset();
//
// The one trap that matters for learning (CleanRL dqn.py, Pardo et al. 2018 "Time limits in
// reinforcement learning"): `terminated` means the MDP ended and the target must not bootstrap;
// `truncated` means a time limit cut the episode and the target must still bootstrap from the
// observation that step produced.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.hpp"

namespace dqn {

struct StepResult {
  float reward = 0;         // what the agent learns from (clipped to {-1,0,+1} by
                            // AtariPreprocessing when enabled)
  float raw_reward = 0;     // the game's own score change, for reporting
  bool terminated = false;  // the MDP ended (pole fell, game over): no bootstrap
  bool truncated = false;   // cut by a time limit: the agent must still bootstrap
  bool life_lost = false;   // Atari: a life was lost this step (episodic-life learning treats it
                            // as terminal; the episode itself goes on to game over)
};

class Env {
 public:
  virtual ~Env() = default;
  virtual std::string name() const = 0;
  // (4) for CartPole, (4,84,84) for preprocessed Atari, (210,160) for a raw grayscale screen.
  virtual Shape observation_shape() const = 0;
  virtual bool observation_is_u8() const = 0;  // false: float32 observations
  virtual std::int64_t num_actions() const = 0;
  // Reseeds the env's own Rng, then starts an episode (like gymnasium's reset(seed=...)).
  virtual void reset(std::uint64_t seed) = 0;
  // The next episode, drawing from the env's own Rng.
  virtual void reset() = 0;
  // Throws dqn::Error on an action out of range or on stepping a finished episode without reset.
  virtual StepResult step(std::int64_t action) = 0;
  // The current observation, observation_shape().numel() values; valid until the next
  // step/reset. Each throws if the env's observations have the other type.
  virtual const float* observation_f32() const;
  virtual const std::uint8_t* observation_u8() const;
  // Everything needed to continue bit-exactly (Rng state included), for run resume.
  virtual void save_state(std::string& blob) const = 0;
  // Throws dqn::Error on a malformed blob, leaving the env unchanged.
  virtual void load_state(std::string_view blob) = 0;
};

// Options of make_env; each field says which envs read it.
struct EnvOptions {
  // Atari games (breakout, pong) -------------------------------------------------------------
  // Sticky actions (Machado et al. 2018): with this probability the emulator repeats the
  // previous action instead of the new one, every frame. ALE v5's default is 0.25; ours is 0.0
  // as in Mnih et al. 2015, whose results the DQN reproduction compares against.
  double repeat_action_probability = 0.0;
  // true: the AtariPreprocessing wrapper (4x84x84 u8, frame skip 4, no-op starts, ...).
  // false: the raw game, one emulated frame per step, a (210,160) grayscale observation.
  bool preprocess = true;
  std::int64_t frame_skip = 4;               // emulated frames per agent step (Mnih 2015)
  std::int64_t noop_max = 30;                // up to this many no-ops on reset (Mnih 2015)
  std::int64_t frame_stack = 4;              // frames in one observation (Mnih 2015)
  std::int64_t max_episode_frames = 108000;  // 30 min at 60 Hz (Machado 2018): truncation
  bool clip_rewards = true;                  // StepResult::reward in {-1,0,+1} (Mnih 2015)
  // Press FIRE once after the no-ops of a reset in games with FIRE in their minimal action set
  // (baselines' FireResetEnv; Breakout waits for FIRE to serve), and again after each lost
  // life, where CleanRL's EpisodicLifeEnv + FireResetEnv press it: without it a greedy Breakout
  // policy that never chooses FIRE stalls until the frame cap.
  bool fire_reset = true;
  // The agent's actions: all 18 of the joystick in ALE's order (Machado et al. 2018's option),
  // instead of the game's minimal set.
  bool full_action_space = false;
  // A lost life ends the learning episode (Mnih et al. 2015): the observation stack then starts
  // afresh from the next frame, as it does after a reset, so no frame of the lost life leaks into
  // the next one. The game itself goes on; StepResult::life_lost says when.
  bool terminal_on_life_loss = false;
  // The ROM of an "ale:<game>" env (a game on the project's own 2600, envs/rom_game.hpp): this
  // file, else the file with the game's MD5 in rom_dir, else in $DQN_ROMS.
  std::string rom_path;
  std::string rom_dir;
  // ALE's game mode (-1: the game's default, the first of its list) and difficulty (0: both
  // switches B) of an "ale:<game>" env; dqn roms and README list each game's (GAMES.md §2).
  int game_mode = -1;
  int game_difficulty = 0;
  // CartPole ---------------------------------------------------------------------------------
  std::int64_t max_episode_steps = 500;  // CartPole-v1's TimeLimit
};

// One of env_names(): "cartpole", the built-in "mini:breakout" / "mini:pong" / "mini:catch"
// (their bare names of earlier runs are accepted too), or "ale:raw" / "ale:<game>" (a ROM on the
// project's own 2600 under ALE's rules); an unknown name throws an Error listing the valid ones.
std::unique_ptr<Env> make_env(const std::string& name, const EnvOptions& options = {});
std::vector<std::string> env_names();

}  // namespace dqn
