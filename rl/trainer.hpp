// rl/trainer.hpp: the training loop, reading like the algorithm (Mnih et al. 2015, Algorithm 1):
//
//   for each env step:  select action (epsilon-greedy; with noisy_nets greedy on a new noise
//                       sample, Fortunato et al. 2018) -> step the env -> store the transition
//                       -> every train_freq steps, gradient_steps updates on sampled minibatches
//                       -> refresh the target network every target_update_interval
//                       -> every eval_interval steps, a greedy evaluation on separate envs
//
// With prioritized_replay the minibatches are drawn by priority (rl/prioritized.hpp), the loss
// is importance-weighted, and each update's |TD errors| become the drawn slots' new priorities;
// with n_step > 1 the replay sums the n-step returns as it gathers (rl/replay.hpp); with
// noisy_nets every update draws new online and target noise (rl/agent.hpp), and evaluations
// score the mean weights.
//
// The policy a run returns is the best network by its own periodic evaluation (the latest of
// tied bests): DQN on CartPole often collapses late, so the last network is not the one to keep.
// Without periodic evaluations it is the last network, and the run says so.
// Output folder: config.txt (the resolved config), metrics.jsonl (deterministic: same seed and
// thread count give the same bytes), timing.jsonl (wall-clock figures, which never repeat),
// a TensorBoard event file and metrics.csv (CleanRL's tags), model.dqn (the returned policy)
// and last.dqn (the last network), each with its Adam state, and every checkpoint_interval env
// steps checkpoint.dqn (the online network) with snapshot.bin (everything needed to resume
// bit-exactly).
//
// A run never loses or silently rewrites work:
// - a new run refuses a folder that already holds one (prepare_run_folder);
// - a stop request (Ctrl-C, SIGTERM) is honoured within one env step, also inside evaluations,
//   and leaves snapshot.bin; resume truncates every log to the snapshot's length, so a run that
//   was killed and resumed writes the same metrics.jsonl as one that ran straight through;
// - a finished run deletes its snapshot (resume then says the run has finished);
// - a failed write (disk full) stops the run at once, naming the file, with the last good
//   checkpoint untouched;
// - the replay is never larger than the run's total steps, and a replay that does not fit in the
//   memory the system has available is refused before anything is allocated.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "envs/env.hpp"
#include "nn/checkpoint.hpp"
#include "rl/agent.hpp"
#include "rl/config.hpp"
#include "rl/frame_replay.hpp"
#include "rl/prioritized.hpp"
#include "rl/replay.hpp"
#include "rl/serialize.hpp"
#include "rl/tensorboard.hpp"

namespace dqn {

struct EvalResult {
  double mean = 0, std = 0, min = 0, max = 0;
  double mean_length = 0;  // agent steps an episode
  std::int64_t episodes = 0;
  bool interrupted = false;  // the stop flag was raised: the figures cover no complete set
};

// Plays `episodes` episodes with an epsilon-greedy policy (epsilon 0: greedy); episode i starts
// from env.reset(first_seed + i). Returns statistics of the raw (unclipped) episode scores.
// `stop`, when given, is checked every step: a long Atari evaluation must not outlive Ctrl-C.
// `on_episode(done, mean so far)`, when given, is called after every episode.
EvalResult evaluate(QNetwork& net, Env& env, std::int64_t episodes, std::uint64_t first_seed,
                    double epsilon, Rng& rng, const std::atomic<bool>* stop = nullptr,
                    const std::function<void(std::int64_t, double)>& on_episode = {});

// Where a run's wall time goes, in seconds over the whole run (carried across resumes in the
// snapshot): written to timing.jsonl with every progress line and in the run's summary.
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
  double best_eval = 0;   // best periodic evaluation mean (when evaluations > 0)
  std::int64_t best_eval_step = 0;
  std::int64_t evaluations = 0;  // periodic evaluations run; 0: the last network is returned
  std::int64_t env_steps = 0, episodes = 0, updates = 0;
  double wall_seconds = 0;  // the whole run's, across resumes
  PhaseSeconds phases;      // likewise
  bool finished = false;    // false: stopped early (Ctrl-C or a step limit), resumable
};

// Makes `dir` ready for a new run and checks it can be written, before any training: refuses
// an empty path, an over-long one, a path that is a file, and a folder that already holds a run
// (unless `overwrite`, which then deletes that run's files) or other files (always: --overwrite
// never deletes what this program did not write). Throws dqn::Error saying what to do instead.
void prepare_run_folder(const std::string& dir, bool overwrite);

// Seconds on the monotonic clock (differences only), and a number as a JSON log writes it
// ("%.9g"; null for NaN and infinities): shared by the trainer and the Ape-X learner's logs.
double now_seconds();
std::string json_number(double v);

// `text` quoted for a POSIX shell where it needs it, so printed commands can be pasted back.
std::string shell_quote(const std::string& text);
// "7.07 GB".
std::string format_gb(std::int64_t bytes);

// Bytes of memory the system can give this process now: MemAvailable from /proc/meminfo, or
// less where a cgroup (a container) limits the process; -1 when neither can be read.
std::int64_t available_memory_bytes();

class Trainer {
 public:
  // Starts a fresh run writing to out_dir ("" writes nothing), which must not hold a run yet
  // unless `overwrite` (see prepare_run_folder). Throws before allocating or deleting anything
  // when the replay would not fit in the available memory (unless config.allow_swap).
  // `provenance`: comment lines for the top of config.txt (the command line, the git commit,
  // the build), each without its leading '#'.
  Trainer(const Config& config, const std::string& out_dir, bool overwrite = false,
          const std::vector<std::string>& provenance = {});
  ~Trainer();
  // Continues the run saved in out_dir/snapshot.bin, its logs cut back to the snapshot's step.
  // A finished run (no snapshot, a model.dqn) is refused with a message saying so.
  static std::unique_ptr<Trainer> resume(const std::string& out_dir);
  // The replay capacity a config gets (buffer_size, at most the run's total steps) and the
  // bytes it will hold, known before anything is allocated.
  std::int64_t replay_capacity() const { return replay_capacity_; }

  void on_progress(std::function<void(const TrainProgress&)> callback) {
    progress_ = std::move(callback);
  }
  // Checked between env steps and during evaluations: when set, the run saves a snapshot and
  // returns (unfinished).
  void set_stop_flag(const std::atomic<bool>* stop) { stop_ = stop; }

  // Runs until total_steps (or max_episodes), then evaluates the returned policy. With
  // stop_at_step > 0, pauses (snapshot, no final evaluation) once that many env steps are done.
  TrainResult run(std::int64_t stop_at_step = 0);

  // Flushes the logs and records their lengths, then writes the run's whole state (format in
  // trainer.cpp) atomically. snapshot_bytes is the state as one string, without touching the
  // logs (a 7 GB replay makes it 7 GB: save_snapshot streams the replay instead).
  void save_snapshot(const std::string& path);
  std::string snapshot_bytes() const;
  // A run rebuilt from snapshot bytes with no output folder: the resume loader and all its
  // checks without files, for tests and the fuzzer. `config` must be the run's own (its text is
  // compared with the one stored). Throws dqn::Error naming the first field that fails.
  static std::unique_ptr<Trainer> from_snapshot_bytes(const Config& config, std::string_view bytes,
                                                      const std::string& source = "<bytes>");
  DqnAgent& agent() { return *agent_; }
  // The replay of flat-observation runs (CartPole); null for frame runs.
  const ReplayBuffer* replay_buffer() const { return replay_.get(); }
  // The replay of frame runs (Atari, Catch); null for flat-observation runs.
  const FrameReplay* frame_replay() const { return frame_replay_.get(); }
  // Prioritized replay's priorities over the replay's slots; null when it is off.
  const Priorities* priorities() const { return priorities_.get(); }
  // Bytes the replay buffer's arrays hold (allocated at its full capacity up front), with the
  // priority trees when prioritized_replay is on.
  std::int64_t replay_memory_bytes() const { return replay_bytes_; }
  const Config& config() const { return config_; }
  std::int64_t env_steps() const { return step_; }

 private:
  enum class Start : std::uint8_t { kNew, kOverwrite, kResume };
  Trainer(const Config& config, const std::string& out_dir, Start start,
          const std::vector<std::string>& provenance = {});
  void write_snapshot(PieceWriter& w) const;
  void load_snapshot(const std::string& path);
  void load_snapshot_bytes(std::string_view bytes, const std::string& source);
  void read_snapshot_fields(ByteReader& r);
  void start_episode();
  double exploration_epsilon() const;
  void env_step();
  void train_round();
  bool finish_step(double start, std::int64_t start_step, double wall_before);
  bool periodic_eval();
  void save_checkpoints();
  TrainResult pause();
  TrainResult progress_result() const;
  void check_logs(const char* when);
  std::string last_checkpoint_text() const;
  void open_logs(bool resuming);
  CheckpointMeta checkpoint_meta() const;
  void log_episode(double ret, std::int64_t length);
  TrainResult finish();

  Config config_;
  std::string out_dir_;
  std::unique_ptr<Env> env_, eval_env_;
  std::unique_ptr<DqnAgent> agent_;
  std::unique_ptr<QNetwork> best_;
  // The optimizer state that belongs to best_ (its moments when it was the online network), so
  // model.dqn can be trained on like last.dqn.
  std::unique_ptr<Adam> best_adam_;
  // Flat observations (CartPole) go to ReplayBuffer, frame stacks (Atari) to FrameReplay.
  bool pixels_ = false;
  std::unique_ptr<ReplayBuffer> replay_;
  std::unique_ptr<FrameReplay> frame_replay_;
  // Prioritized replay's priorities over the replay's slots; null when it is off.
  std::unique_ptr<Priorities> priorities_;
  void track_priorities(std::int64_t written);
  Batch batch_;
  Rng act_rng_, replay_rng_, eval_rng_;
  // The current observation (a copy: the env's buffer changes on step), one of the two.
  std::vector<float> obs_;
  std::vector<std::uint8_t> frames_;
  bool episode_start_ = true;  // frames_ is the first observation of an episode
  std::int64_t replay_size() const { return pixels_ ? frame_replay_->size() : replay_->size(); }
  std::int64_t replay_capacity_ = 0, replay_bytes_ = 0;

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
  // True between an env step and the end of its evaluation and progress line: a stop request
  // inside the evaluation leaves it set in the snapshot, and resume runs that part again.
  bool pending_tail_ = false;
  // Bytes of metrics.jsonl and timing.jsonl when the snapshot was taken: resume cuts the logs
  // back to them, so no step is logged twice.
  std::int64_t metrics_bytes_ = 0, timing_bytes_ = 0;

  std::ofstream metrics_, timing_;
  // TensorBoard's event file and metrics.csv (CleanRL's tags), and their lengths at the last
  // snapshot, cut back to on resume like the JSON logs.
  std::unique_ptr<EventWriter> events_;
  std::unique_ptr<CsvWriter> csv_;
  std::string events_name_;
  std::int64_t events_bytes_ = 0, csv_bytes_ = 0;
  // What the updates since the last log line add up to; a log line reports their means.
  struct UpdateSums {
    std::int64_t updates = 0, clipped = 0;
    double loss = 0, mean_q = 0, grad_norm = 0;
  } since_log_;
  void log_training(double steps_per_second);
  // Wall-clock bookkeeping of progress lines (not in the snapshot: it never repeats anyway).
  double last_progress_ = 0;
  std::deque<std::pair<double, std::int64_t>> rate_window_;  // (seconds, env step)
  std::function<void(const TrainProgress&)> progress_;
  const std::atomic<bool>* stop_ = nullptr;
  double wall_seconds_ = 0;
  PhaseSeconds phases_;
};

// The network spec a config implies for an env (MLP for flat observations, for frames the CNN
// config.network names).
NetworkSpec network_spec_for(const Config& config, const Env& env);
EnvOptions env_options_for(const Config& config);

}  // namespace dqn
