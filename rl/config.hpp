// rl/config.hpp: every hyperparameter of a run, in one documented struct, and its presets.
//
// A Config is built from a preset (`cartpole`, `seed`, `atari`, `catch`), then overridden by a
// config file and `key=value` settings (resolve_config). Each field's comment gives its unit,
// default and source. Unknown keys and out-of-range values are errors that name the key, the
// valid range, and the closest valid key.
//
// Trap: `preset` is not a value like the others but a whole set of values. Setting it after the
// fact would only relabel the run (train with cartpole's values under the name "atari"), so
// Config::set refuses it, and resolve_config loads the chosen preset before any other key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dqn {

enum class TargetUnit : std::uint8_t { kEnvSteps, kUpdates };

struct Config {
  // ---- run ----
  std::string preset = "cartpole";
  std::string env = "cartpole";  // cartpole | mini:breakout | mini:pong | mini:catch | ale:<game>
  std::string rom;               // ale: envs: the ROM file (empty: found by MD5 in roms)
  std::string roms;              // ale: envs: a ROM folder (empty: $DQN_ROMS)
  int game_mode = -1;            // ale: envs: ALE's game mode (-1: the game's default)
  int game_difficulty = 0;       // ale: envs: ALE's difficulty (0: both switches B)
  std::uint64_t seed = 1;        // fixes the whole run (with the thread count)
  int threads = 1;               // parallel_for threads; results are bitwise per count
  std::int64_t total_steps = 50000;  // env steps (agent steps; Atari: 4 frames each)
  std::int64_t max_episodes = 0;     // stop after this many episodes (0: no limit)
  // Stop training after this many minutes of wall time (0: no limit); the final evaluation
  // follows and is not counted. Where it triggers, where the run stops depends on the
  // machine's speed, so two runs agree bit for bit only up to the shorter one's last step.
  double max_minutes = 0;
  // Start even when the replay needs more memory than the system has available (it may then
  // swap, or be killed by the kernel's OOM killer). Off: such a run is refused before it starts.
  bool allow_swap = false;

  // ---- network ----
  std::vector<std::int64_t> hidden{256, 256};  // MLP hidden widths
  bool dueling = false;                        // Wang et al. 2016
  // The CNN of the pixel envs: "nature" (Mnih et al. 2015) or "der", the data-efficient
  // Rainbow's smaller one (van Hasselt et al. 2019; nn/qnetwork.hpp).
  std::string network = "nature";
  // The update's matrix products: "fp32", or "bf16" (operands rounded to bfloat16, FP32 sums,
  // FP32 master weights; core/bf16.hpp). Fast with AVX512_BF16; elsewhere the same numbers at
  // FP32 speed.
  std::string precision = "fp32";

  // ---- DQN (Mnih et al. 2015) ----
  double gamma = 0.99;                        // discount
  double lr = 2.3e-3;                         // Adam learning rate
  double adam_eps = 1e-8;                     // Adam epsilon (PyTorch default; Rainbow used 1.5e-4)
  std::int64_t batch_size = 64;               // transitions per gradient step
  std::int64_t buffer_size = 100000;          // replay capacity (transitions)
  std::int64_t learning_starts = 1000;        // env steps before the first update
  std::int64_t train_freq = 256;              // env steps between training rounds
  std::int64_t gradient_steps = 128;          // updates per training round
  std::int64_t target_update_interval = 128;  // in target_update_unit
  TargetUnit target_update_unit = TargetUnit::kUpdates;
  double tau = 1.0;            // 1: hard copy; < 1: Polyak averaging
  double epsilon_start = 1.0;  // epsilon-greedy, linear schedule over env steps
  double epsilon_end = 0.04;
  std::int64_t epsilon_steps = 8000;  // env steps from start to end
  double huber_delta = 1.0;           // Huber loss threshold
  double max_grad_norm = 10.0;        // global-norm clipping (0: off)
  bool double_dqn = true;             // van Hasselt et al. 2016

  // ---- Rainbow parts (Hessel et al. 2018), each off by default ----
  // Proportional prioritized replay (Schaul et al. 2016; rl/prioritized.hpp): slot i is drawn
  // with probability p_i^alpha / sum_k p_k^alpha, p_i = |delta_i| + per_eps, and the loss weighs
  // it by the importance weight (N P(i))^-beta / max w, beta annealed linearly to 1 over
  // total_steps.
  bool prioritized_replay = false;
  double per_alpha = 0.5;       // Hessel et al. 2018, Table 1 (Schaul et al. 2016 used 0.6)
  double per_beta_start = 0.4;  // Schaul et al. 2016, Table 3; Hessel et al. 2018, Table 1
  // Keeps a zero TD error from ever making a slot unsampleable: OpenAI Baselines'
  // prioritized_replay_eps (baselines/deepq/deepq.py); Schaul et al. 2016 leave it unnamed.
  double per_eps = 1e-6;
  // n-step returns (Sutton 1988): the target sums n discounted rewards before it bootstraps
  // with gamma^n, stopping at the episode's end. 1: one-step DQN; Rainbow used 3 (Hessel et al.
  // 2018, Table 1).
  std::int64_t n_step = 1;
  // Distributional DQN, C51 (Bellemare et al. 2017; nn/qnetwork.hpp, core/categorical.hpp): the
  // network outputs, per action, a distribution over `atoms` returns evenly spaced in
  // [v_min, v_max], trained by cross-entropy towards the projected target distribution; it acts
  // on the expected value. Defaults: the paper's 51 atoms over [-10, 10] (also Hessel et al.
  // 2018, Table 1). huber_delta does not apply when it is on.
  bool distributional = false;
  std::int64_t atoms = 51;
  double v_min = -10;
  double v_max = 10;
  // Noisy nets (Fortunato et al. 2018; nn/module.hpp NoisyLinear): factorised Gaussian noise on
  // every fully connected layer explores instead of epsilon: acting is greedy on a freshly
  // sampled noisy online network, and the epsilon_* keys are ignored (they are left out of a
  // run's config.txt). Evaluation uses the mean weights (eval_epsilon still applies).
  bool noisy_nets = false;
  double noisy_sigma0 = 0.5;  // initial sigma = sigma0 / sqrt(fan_in) (Fortunato et al. 2018, 3.2)

  // ---- Ape-X (Horgan et al. 2018; rl/apex.hpp): `mpirun -np N dqn train --distributed` ----
  // Rank 0 learns, ranks 1..N-1 act. The learner keeps the replay ratio the keys above set
  // (gradient_steps updates per train_freq env steps, summed over all actors) in both
  // directions: it trains only on data it has, and stops taking data that it could not train
  // on, which holds the actors back (so a distributed run learns from its data as a one-process
  // run does, only sooner).
  bool distributed = false;  // set by --distributed: this run is an Ape-X job
  // Off: Ape-X as published (Horgan et al. 2018): the learner trains as fast as it can and
  // takes every message as it arrives, so the replay ratio is whatever the two speeds make it.
  bool hold_replay_ratio = true;
  std::int64_t envs_per_actor = 4;     // envs each actor steps together, acting in one batch
  std::int64_t actor_send_steps = 50;  // batched env steps an actor gathers per message
  // Learner updates between weight publications to the actors. Ape-X's actors fetched new
  // weights every 400 frames (Horgan et al. 2018, Section 4.1).
  std::int64_t param_sync_interval = 100;
  // Actor i of N explores with eps_i = apex_epsilon ^ (1 + apex_alpha i / (N - 1)) (Horgan et
  // al. 2018, Section 4.1: 0.4 and 7); epsilon_* are not used by a distributed run.
  double apex_epsilon = 0.4;
  double apex_alpha = 7;
  // The learner takes the actors' messages in rank order, one each per round, trains what the
  // ratio allows, then answers each: the run is the same bits on every machine and every run
  // (for tests and comparisons), at the cost of actors waiting for each other.
  bool lockstep = false;

  // ---- evaluation, logging, checkpoints ----
  std::int64_t eval_interval = 2500;       // env steps between greedy evaluations (0: never)
  std::int64_t eval_episodes = 10;         // episodes per periodic evaluation
  double eval_epsilon = 0.0;               // 0.05 on Atari (Mnih et al. 2015)
  std::int64_t final_eval_episodes = 100;  // the returned policy, on unseen seeds
  std::int64_t log_interval = 1000;        // env steps between progress lines
  std::int64_t checkpoint_interval = 0;    // env steps between checkpoints (0: only at the end)

  // ---- Atari protocol (envs/atari_preprocessing.hpp; presets atari and atari-v5) ----
  // Defaults: Mnih et al. 2015 as CleanRL's dqn_atari runs it. atari-v5: Machado et al. 2018.
  bool terminal_on_life_loss = true;  // a lost life ends the learning episode (not the game)
  bool clip_rewards = true;           // learn from sign(reward); scores stay raw
  std::int64_t noop_max = 30;         // 1..noop_max random no-ops on reset (0: none)
  bool fire_reset = true;             // FIRE on reset and after a lost life, if the game has it
  double repeat_action_probability = 0.0;  // sticky actions, decided every frame (v5: 0.25)
  bool full_action_space = false;          // all 18 joystick actions instead of the minimal set
  std::int64_t max_frames_per_episode = 108000;  // emulated frames (30 min at 60 Hz): truncation

  // Checks every field against its valid range; throws dqn::Error naming the key.
  void validate() const;
  // Applies "key=value"; throws for unknown keys (naming the closest) and bad values.
  void set(const std::string& key, const std::string& value);
  // One "key = value" line per field; reading it back with set() gives the same Config. With
  // applicable_only, only the keys that affect a run of this env and network (no hidden for
  // the Nature CNN, no Atari protocol for CartPole): what a run's config.txt records.
  std::string to_text(bool applicable_only = false) const;
  bool key_applies(const std::string& key) const;
  // The value of `key` as to_text writes it ("0.0023", "64,64", "env_steps"); throws for an
  // unknown key.
  std::string value_text(const std::string& key) const;
  static std::vector<std::string> keys();
};

// One "key = value" setting and where it came from ("run/config.txt:3", "--set"), for messages.
struct ConfigSetting {
  std::string key, value, where;
};

// Reads a file of "key = value" lines ('#' starts a comment). Throws for a path that is not a
// regular file, a file over 1 MiB, a line without '=', and a key given twice (naming both lines).
std::vector<ConfigSetting> read_config_file(const std::string& path);

// The same for text already in memory (a checkpoint's stored config); `source` names it in
// messages.
std::vector<ConfigSetting> parse_config_text(const std::string& text, const std::string& source);

// Builds a run's Config. The preset is, in order: `preset` (from --preset) when not empty, else a
// `preset` setting, else the one the env implies (atari for breakout/pong, catch for catch,
// cartpole otherwise; the env being the last `env` setting). That preset is loaded first, then
// every other setting is applied in order (later ones win). Two different `preset` settings, or
// `preset` disagreeing with a `preset` setting, are an error rather than a silent choice.
Config resolve_config(const std::string& preset, const std::vector<ConfigSetting>& settings);

// The Config a run folder's config.txt describes (what resume trains with).
Config load_config_file(const std::string& path);

// Named presets: "cartpole" (our default, tuned to solve CartPole fast), "seed" (the classic
// PyTorch snippet's settings), "atari" (Nature DQN / CleanRL dqn_atari, Mnih et al. 2015's
// protocol), "atari-v5" (the same agent under Machado et al. 2018's protocol, as Gymnasium's
// ALE/...-v5 environments), "catch" (the atari preset scaled down so the CNN learns Catch in
// about a minute on 2 cores).
Config make_preset(const std::string& name, const std::string& env = "");
std::vector<std::string> preset_names();
// "cartpole, seed, atari, atari-v5, catch": the names for messages.
std::string preset_list();

// One config key as `dqn train --help` describes it: its meaning with its unit (a line kept
// beside the key in config.cpp's field table, from the field's comment above) and the values it
// accepts ("[0, 1]", "whole number >= 1", "true or false", "cartpole, breakout, pong or catch").
struct KeyHelp {
  std::string key, help, accepts;
};
// Every key of Config::keys(), in that order.
std::vector<KeyHelp> config_key_help();

// The config section of `dqn train --help`: first every key's value in each preset, side by side
// (a key no preset changes is printed once, so what each preset changes stands out), then each
// key's meaning and accepted values, wrapped to `width` columns (80 fits both parts).
std::string config_help_table(std::size_t width = 80);

// A finite decimal number ("0.5", "-3", "1e-4"), or nothing for anything else: trailing
// characters ("1x"), hex ("0x10"), "nan", "inf", blanks, or a value out of double's range.
std::optional<double> parse_decimal(const std::string& text);

// The closest of `candidates` to `word` by edit distance (for "did you mean" hints).
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace dqn
