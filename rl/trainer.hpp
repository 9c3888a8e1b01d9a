// rl/trainer.hpp: the training loop, reading like the algorithm (Mnih et al. 2015, Algorithm 1):
//
//   for each env step:  select action (epsilon-greedy) -> step the env -> store the transition
//                       -> every train_freq steps, gradient_steps updates on sampled minibatches
//                       -> refresh the target network every target_update_interval
//                       -> every eval_interval steps, a greedy evaluation on separate envs
//
// The policy a run returns is the best network by its own periodic evaluation (the latest of
// tied bests): DQN on CartPole often collapses late, so the last network is not the one to keep.
// Output folder: config.txt (the resolved config), metrics.jsonl (deterministic: same seed and
// thread count give the same bytes), timing.jsonl (wall-clock figures, which never repeat),
// model.dqn (the returned policy), and every checkpoint_interval env steps checkpoint.dqn (the
// online network) with snapshot.bin (everything needed to resume bit-exactly).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "envs/env.hpp"
#include "nn/checkpoint.hpp"
#include "rl/agent.hpp"
#include "rl/config.hpp"
#include "rl/frame_replay.hpp"
#include "rl/replay.hpp"
#include "rl/serialize.hpp"

namespace dqn {

struct EvalResult {
  double mean = 0, std = 0, min = 0, max = 0;
  std::int64_t episodes = 0;
};

// Plays `episodes` episodes with an epsilon-greedy policy (epsilon 0: greedy); episode i starts
// from env.reset(first_seed + i). Returns statistics of the raw (unclipped) episode scores.
EvalResult evaluate(QNetwork& net, Env& env, std::int64_t episodes, std::uint64_t first_seed,
                    double epsilon, Rng& rng);

// Where a run's wall time goes, in seconds since it started (or resumed): written to
// timing.jsonl with every progress line and in the run's summary.
struct PhaseSeconds {
  double act = 0;         // epsilon-greedy action selection (the online network's forward)
  double env = 0;         // env.step and reset: the game and its preprocessing
  double store = 0;       // replay writes
  double sample = 0;      // minibatch sampling from replay
  double update = 0;      // gradient steps (forward, backward, clip, Adam) and target refreshes
  double eval = 0;        // periodic evaluations
  double checkpoint = 0;  // checkpoints and snapshots
  double total() const { return act + env + store + sample + update + eval + checkpoint; }
};

struct TrainProgress {
  std::int64_t step = 0, total_steps = 0, episodes = 0;
  double epsilon = 0, recent_return = 0, loss = 0, steps_per_second = 0, eta_seconds = 0;
  double last_eval = -1;
};

struct TrainResult {
  EvalResult final_eval;  // the returned policy on final_eval_episodes unseen seeds
  double best_eval = 0;   // best periodic evaluation mean
  std::int64_t best_eval_step = 0;
  std::int64_t env_steps = 0, episodes = 0, updates = 0;
  double wall_seconds = 0;
  PhaseSeconds phases;    // of this process's part of the run (a resumed run counts anew)
  bool finished = false;  // false: stopped early (Ctrl-C or a step limit), resumable
};

class Trainer {
 public:
  // Starts a fresh run writing to out_dir (created if missing; "" writes nothing).
  Trainer(const Config& config, const std::string& out_dir);
  ~Trainer();
  // Continues the run saved in out_dir/snapshot.bin.
  static std::unique_ptr<Trainer> resume(const std::string& out_dir);

  void on_progress(std::function<void(const TrainProgress&)> callback) {
    progress_ = std::move(callback);
  }
  // Checked between env steps: when set, the run saves a snapshot and returns (unfinished).
  void set_stop_flag(const std::atomic<bool>* stop) { stop_ = stop; }

  // Runs until total_steps (or max_episodes), then evaluates the returned policy. With
  // stop_at_step > 0, pauses (snapshot, no final evaluation) once that many env steps are done.
  TrainResult run(std::int64_t stop_at_step = 0);

  // The run's whole state (format in trainer.cpp), written atomically; snapshot_bytes is the
  // same as one string (a 7 GB replay makes it 7 GB: save_snapshot streams the replay instead).
  void save_snapshot(const std::string& path) const;
  std::string snapshot_bytes() const;
  // A run rebuilt from snapshot bytes with no output folder: the resume loader and all its
  // checks without files, for tests and the fuzzer. `config` must be the run's own (its text is
  // compared with the one stored). Throws dqn::Error naming the first field that fails.
  static std::unique_ptr<Trainer> from_snapshot_bytes(const Config& config, std::string_view bytes,
                                                      const std::string& source = "<bytes>");
  DqnAgent& agent() { return *agent_; }
  std::int64_t env_steps() const { return step_; }
  // The replay of flat-observation runs (CartPole); null for frame runs.
  const ReplayBuffer* replay_buffer() const { return replay_.get(); }
  // Bytes the replay buffer's arrays hold (allocated at its full capacity up front).
  std::int64_t replay_memory_bytes() const;
  const Config& config() const { return config_; }

 private:
  Trainer(const Config& config, const std::string& out_dir, bool resuming);
  void write_snapshot(PieceWriter& w) const;
  void load_snapshot(const std::string& path);
  void load_snapshot_bytes(std::string_view bytes, const std::string& source);
  void read_snapshot_fields(ByteReader& r);
  void start_episode();
  void env_step();
  void train_round();
  void periodic_eval();
  void save_checkpoints();
  CheckpointMeta checkpoint_meta() const;
  void log_episode(double ret, std::int64_t length);
  TrainResult finish();

  Config config_;
  std::string out_dir_;
  std::unique_ptr<Env> env_, eval_env_;
  std::unique_ptr<DqnAgent> agent_;
  std::unique_ptr<QNetwork> best_;
  // Flat observations (CartPole) go to ReplayBuffer, frame stacks (Atari) to FrameReplay.
  bool pixels_ = false;
  std::unique_ptr<ReplayBuffer> replay_;
  std::unique_ptr<FrameReplay> frame_replay_;
  Batch batch_;
  Rng act_rng_, replay_rng_, eval_rng_;
  // The current observation (a copy: the env's buffer changes on step), one of the two.
  std::vector<float> obs_;
  std::vector<std::uint8_t> frames_;
  bool episode_start_ = true;  // frames_ is the first observation of an episode
  std::int64_t replay_size() const { return pixels_ ? frame_replay_->size() : replay_->size(); }

  // Counters, all part of the snapshot.
  std::int64_t step_ = 0, episodes_ = 0, updates_ = 0, evals_ = 0;
  std::int64_t episode_length_ = 0;
  double episode_return_ = 0;
  // best_eval_ holds kNoEvalYet until the first periodic evaluation (evals_ > 0).
  static constexpr double kNoEvalYet = -1e300;
  double best_eval_ = kNoEvalYet, last_eval_ = -1;
  std::int64_t best_eval_step_ = 0;
  UpdateStats last_stats_;
  std::deque<double> recent_returns_;
  // Byte lengths of metrics.jsonl and timing.jsonl when the snapshot was taken, so that resume
  // can cut the logs back to the snapshot's step.
  std::int64_t metrics_bytes_ = 0, timing_bytes_ = 0;

  std::ofstream metrics_, timing_;
  std::function<void(const TrainProgress&)> progress_;
  const std::atomic<bool>* stop_ = nullptr;
  double wall_seconds_ = 0;
  PhaseSeconds phases_;
};

// The network spec a config implies for an env (MLP for flat observations, the Nature CNN for
// frames).
NetworkSpec network_spec_for(const Config& config, const Env& env);
EnvOptions env_options_for(const Config& config);

}  // namespace dqn
