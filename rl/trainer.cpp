// rl/trainer.cpp: the training loop, evaluation, metrics and run snapshots.
#include "rl/trainer.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <sstream>
#include <utility>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "nn/checkpoint.hpp"
#include "rl/serialize.hpp"

namespace dqn {
namespace {

// Rng streams split from the run's seed: one each for the env, exploration, replay sampling,
// network initialisation and evaluation, so changing one consumer never shifts another.
enum Stream : std::uint64_t { kEnvStream = 1, kActStream, kReplayStream, kInitStream, kEvalStream };
// Evaluation episodes use env seeds far from training's, so the policy is scored on starts the
// run never trained on. Periodic evaluations and the final one use disjoint ranges too.
constexpr std::uint64_t kEvalSeedBase = 1'000'000'000ULL;
constexpr std::uint64_t kFinalEvalSeedBase = 2'000'000'000ULL;
constexpr std::size_t kRecentEpisodes = 20;  // the "recent mean return" of progress lines
constexpr double kProgressSeconds = 2;       // at most this long between progress lines
constexpr double kRateWindowSeconds = 30;    // steps/s is measured over about this long
// Format 2 added the log lengths, the pending-evaluation flag and the phase times; format 3 the
// checksum trailer. Formats 1 and 2 are refused by name.
constexpr char kSnapshotMagic[] = "DQNSNAP3";

std::string phases_json(const PhaseSeconds& p) {
  return "{\"act\":" + json_number(p.act) + ",\"env\":" + json_number(p.env) +
         ",\"store\":" + json_number(p.store) + ",\"sample\":" + json_number(p.sample) +
         ",\"update\":" + json_number(p.update) + ",\"eval\":" + json_number(p.eval) +
         ",\"checkpoint\":" + json_number(p.checkpoint) + "}";
}

// Adds the seconds since `since` to `phase` and returns now: t = lap(phases.env, t).
double lap(double& phase, double since) {
  const double t = now_seconds();
  phase += t - since;
  return t;
}

void write_params(PieceWriter& w, const QNetwork& net) {
  for (const auto& p : net.parameters())
    w.floats(p.variable->value.data(), p.variable->value.numel());
}
void read_params(ByteReader& r, QNetwork& net) {
  for (const auto& p : net.parameters())
    r.floats(p.variable->value.data(), p.variable->value.numel());
}

}  // namespace

double now_seconds() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

EnvOptions env_options_for(const Config& config) {
  EnvOptions options;
  options.noop_max = config.noop_max;
  options.clip_rewards = config.clip_rewards;
  options.fire_reset = config.fire_reset;
  options.repeat_action_probability = config.repeat_action_probability;
  options.full_action_space = config.full_action_space;
  options.terminal_on_life_loss = config.terminal_on_life_loss;
  options.max_episode_frames = config.max_frames_per_episode;
  options.rom_path = config.rom;
  options.rom_dir = config.roms;
  options.game_mode = config.game_mode;
  options.game_difficulty = config.game_difficulty;
  return options;
}

NetworkSpec network_spec_for(const Config& config, const Env& env) {
  NetworkSpec spec;
  const Shape obs = env.observation_shape();
  spec.kind = !env.observation_is_u8()  ? NetworkKind::kMlp
              : config.network == "der" ? NetworkKind::kDataEfficientCnn
                                        : NetworkKind::kNatureCnn;
  spec.observation_shape.assign(obs.dims.begin(), obs.dims.begin() + obs.rank);
  spec.num_actions = env.num_actions();
  spec.hidden = config.hidden;
  spec.dueling = config.dueling;
  if (config.distributional) {  // C51; otherwise the spec's atoms = 1 (an ordinary Q head)
    spec.atoms = config.atoms;
    spec.v_min = config.v_min;
    spec.v_max = config.v_max;
  }
  spec.noisy = config.noisy_nets;
  spec.noisy_sigma0 = config.noisy_sigma0;
  return spec;
}

EvalResult evaluate(QNetwork& net, Env& env, std::int64_t episodes, std::uint64_t first_seed,
                    double epsilon, Rng& rng, const std::atomic<bool>* stop,
                    const std::function<void(std::int64_t, double)>& on_episode) {
  EvalResult result;
  Tensor q;
  const MeanWeightsScope mean_weights(net);  // a noisy net is evaluated without noise
  result.episodes = episodes;
  if (episodes <= 0) return result;
  double sum = 0, sum_sq = 0;
  result.min = 1e300;
  result.max = -1e300;
  for (std::int64_t e = 0; e < episodes; ++e) {
    env.reset(first_seed + static_cast<std::uint64_t>(e));
    double score = 0;
    std::int64_t length = 0;
    while (true) {
      if (stop && stop->load()) {
        result.interrupted = true;
        return result;
      }
      const std::int64_t action =
          env.observation_is_u8()
              ? epsilon_greedy_action(net, env.observation_u8(), epsilon, rng, q)
              : epsilon_greedy_action(net, env.observation_f32(), epsilon, rng, q);
      const StepResult r = env.step(action);
      score += r.raw_reward;
      ++length;
      if (r.terminated || r.truncated) break;
    }
    result.mean_length += static_cast<double>(length) / static_cast<double>(episodes);
    sum += score;
    sum_sq += score * score;
    result.min = std::min(result.min, score);
    result.max = std::max(result.max, score);
    if (on_episode) on_episode(e + 1, sum / static_cast<double>(e + 1));
  }
  result.mean = sum / static_cast<double>(episodes);
  result.std =
      std::sqrt(std::max(0.0, sum_sq / static_cast<double>(episodes) - result.mean * result.mean));
  return result;
}

Trainer::Trainer(const Config& config, const std::string& out_dir, bool overwrite,
                 const std::vector<std::string>& provenance)
    : Trainer(config, out_dir, overwrite ? Start::kOverwrite : Start::kNew, provenance) {}

Trainer::Trainer(const Config& config, const std::string& out_dir, Start start,
                 const std::vector<std::string>& provenance)
    : config_(config), out_dir_(out_dir) {
  const bool resuming = start == Start::kResume;
  config_.validate();
  set_num_threads(config_.threads);
  const Rng root(config_.seed);
  act_rng_ = root.split(kActStream);
  replay_rng_ = root.split(kReplayStream);
  eval_rng_ = root.split(kEvalStream);
  Rng init_rng = root.split(kInitStream);

  env_ = make_env(config_.env, env_options_for(config_));
  eval_env_ = make_env(config_.env, env_options_for(config_));
  pixels_ = env_->observation_is_u8();
  const NetworkSpec spec = network_spec_for(config_, *env_);

  // The replay is the run's one large allocation: size it, and check it fits, before anything
  // is allocated or written. A run never stores more transitions than it takes steps, so a
  // short run of the atari preset does not allocate (and zero) the preset's 7 GB.
  const auto& shape = spec.observation_shape;
  if (pixels_) {
    DQN_CHECK(shape[0] == FrameReplay::kStack, "train: frame replay stacks ", FrameReplay::kStack,
              " frames, the env gives ", shape[0]);
    // Slots also hold each episode's final frame, and the ring needs a stack and one more.
    replay_capacity_ =
        std::max(std::min(config_.buffer_size, config_.total_steps + 1), FrameReplay::kStack + 2);
    replay_bytes_ = replay_capacity_ * FrameReplay::bytes_per_slot(shape[1], shape[2]);
  } else {
    replay_capacity_ = std::min(config_.buffer_size, config_.total_steps);
    replay_bytes_ = replay_capacity_ * ReplayBuffer::bytes_per_transition(shape[0]);
  }
  if (config_.prioritized_replay) replay_bytes_ += Priorities::bytes_for(replay_capacity_);
  const std::int64_t available = available_memory_bytes();
  DQN_CHECK(config_.allow_swap || available < 0 || replay_bytes_ <= available,
            "train: the replay needs ", format_gb(replay_bytes_), " (", replay_capacity_,
            " transitions, buffer_size = ", config_.buffer_size, ") but the system has ",
            format_gb(available),
            " available; lower buffer_size (--set buffer_size=N), free memory, or accept "
            "swapping with --set allow_swap=1");

  // Only now, with the memory known to suffice, may an old run be deleted (--overwrite).
  if (!resuming && !out_dir_.empty()) prepare_run_folder(out_dir_, start == Start::kOverwrite);

  agent_ = std::make_unique<DqnAgent>(spec, config_, init_rng);
  best_ = std::make_unique<QNetwork>(spec, init_rng);
  best_->copy_from(agent_->online());
  best_adam_ = std::make_unique<Adam>(best_->parameters(), agent_->optimizer().hyper());
  try {
    if (pixels_) {
      frame_replay_ = std::make_unique<FrameReplay>(replay_capacity_, shape[1], shape[2]);
      frames_.resize(static_cast<std::size_t>(shape[0] * shape[1] * shape[2]));
    } else {
      replay_ = std::make_unique<ReplayBuffer>(replay_capacity_, shape[0]);
      obs_.resize(static_cast<std::size_t>(shape[0]));
    }
    // n-step returns are summed from consecutive slots at sample time (rl/replay.hpp).
    if (pixels_)
      frame_replay_->set_n_step(config_.n_step, config_.gamma);
    else
      replay_->set_n_step(config_.n_step, config_.gamma);
    if (config_.prioritized_replay)
      priorities_ =
          std::make_unique<Priorities>(replay_capacity_, config_.per_alpha, config_.per_eps);
  } catch (const std::bad_alloc&) {
    throw_error("train: cannot allocate the replay buffer (", format_gb(replay_bytes_), " for ",
                replay_capacity_, " transitions): out of memory; lower buffer_size");
  }

  if (!out_dir_.empty() && !resuming) {
    // Only the keys that apply to this env and network; how the run was started above them.
    std::string text = config_.to_text(/*applicable_only=*/true);
    std::string header;
    for (const std::string& line : provenance) header += "# " + line + "\n";
    text.insert(text.find('\n') + 1, header);
    write_file_atomic(out_dir_ + "/config.txt", text);
    open_logs(false);
  }
  if (!resuming) {
    env_->reset(root.split(kEnvStream).next_u64());
    start_episode();
  }
}

// metrics.csv's columns: CleanRL's TensorBoard tags (and ours where it has none), one row per
// episode end, log line or evaluation, with the cells that event does not set left empty.
const std::vector<std::string>& csv_columns() {
  static const std::vector<std::string> columns = {"step",
                                                   "charts/episodic_return",
                                                   "charts/episodic_length",
                                                   "charts/epsilon",
                                                   "charts/SPS",
                                                   "losses/td_loss",
                                                   "losses/q_values",
                                                   "losses/grad_norm",
                                                   "losses/clipped_fraction",
                                                   "eval/mean_return"};
  return columns;
}

void Trainer::open_logs(bool resuming) {
  const auto mode = resuming ? std::ios::app : std::ios::trunc;
  metrics_.open(out_dir_ + "/metrics.jsonl", mode);
  timing_.open(out_dir_ + "/timing.jsonl", mode);
  DQN_CHECK(metrics_.good() && timing_.good(), "train: cannot write into '", out_dir_,
            "'; check the folder's permissions");
  if (resuming) {
    events_ = std::make_unique<EventWriter>(EventWriter::append_to(out_dir_ + "/" + events_name_));
    csv_ =
        std::make_unique<CsvWriter>(CsvWriter::append_to(out_dir_ + "/metrics.csv", csv_columns()));
  } else {
    events_ = std::make_unique<EventWriter>(out_dir_, wall_time_now());
    events_name_ = std::filesystem::path(events_->path()).filename().string();
    csv_ = std::make_unique<CsvWriter>(out_dir_ + "/metrics.csv", csv_columns());
  }
}

// A failed log write (disk full, a removed folder) must stop the run at once: silently
// training on without metrics would lose the run's record. The checkpoint files are written
// atomically elsewhere, so the last good one is untouched by a failure here.
void Trainer::check_logs(const char* when) {
  for (const auto& [stream, name] :
       {std::pair<std::ofstream*, const char*>{&metrics_, "metrics.jsonl"},
        {&timing_, "timing.jsonl"}}) {
    if (!stream->is_open() || stream->good()) continue;
    throw_error("train: cannot write ", out_dir_, "/", name, " (", when, ", step ", step_,
                "): is the disk full? The run stopped; ", last_checkpoint_text());
  }
}

// Where the run's last good state is, for messages about a run that has to stop.
std::string Trainer::last_checkpoint_text() const {
  const std::string path = out_dir_ + "/checkpoint.dqn";
  if (out_dir_.empty() || !std::filesystem::exists(path))
    return "no checkpoint was written before this point (checkpoint_interval = " +
           std::to_string(config_.checkpoint_interval) + "), so nothing of the run is kept";
  std::string step = "?";
  try {
    step = read_checkpoint_info(path).meta.get_or("env_steps", "?");
  } catch (const Error&) {
  }
  return "the last good checkpoint is " + path + " (env step " + step +
         "), with its snapshot for dqn resume";
}

Trainer::~Trainer() = default;

void Trainer::start_episode() {
  if (pixels_) {
    const std::uint8_t* o = env_->observation_u8();
    std::copy(o, o + frames_.size(), frames_.begin());
  } else {
    const float* o = env_->observation_f32();
    std::copy(o, o + obs_.size(), obs_.begin());
  }
  episode_start_ = true;
  episode_return_ = 0;
  episode_length_ = 0;
}

// The training policy's epsilon at this step; 0 with noisy nets, which explore by their noise
// instead (the logs then say 0).
double Trainer::exploration_epsilon() const {
  if (config_.noisy_nets) return 0.0;
  return linear_epsilon(config_.epsilon_start, config_.epsilon_end, config_.epsilon_steps, step_);
}

// select -> step -> store, for one env step.
void Trainer::env_step() {
  double t = now_seconds();
  const double epsilon = exploration_epsilon();
  const std::int64_t action = pixels_ ? agent_->act(frames_.data(), epsilon, act_rng_)
                                      : agent_->act(obs_.data(), epsilon, act_rng_);
  t = lap(phases_.act, t);
  const StepResult r = env_->step(action);
  t = lap(phases_.env, t);
  const bool episode_over = r.terminated || r.truncated;
  // Learning treats a lost life as terminal when terminal_on_life_loss is on (the game goes on).
  const bool life_over = config_.terminal_on_life_loss && r.life_lost && !episode_over;
  const bool terminal = r.terminated || (config_.terminal_on_life_loss && r.life_lost);
  // After a final step the env still shows that episode's last observation: the true s', which
  // a truncated transition bootstraps from.
  if (pixels_) {
    const std::int64_t frame = static_cast<std::int64_t>(frames_.size()) / FrameReplay::kStack;
    frame_replay_->add(frames_.data() + frames_.size() - frame, episode_start_, action, r.reward,
                       terminal, r.truncated);
    const std::uint8_t* next = env_->observation_u8();
    std::copy(next, next + frames_.size(), frames_.begin());
    if (episode_over) frame_replay_->add_final(frames_.data() + frames_.size() - frame);
    if (priorities_) track_priorities(episode_over ? 2 : 1);
  } else {
    const float* next = env_->observation_f32();
    replay_->add(obs_.data(), action, r.reward, next, terminal, r.truncated);
    std::copy(next, next + obs_.size(), obs_.begin());
    if (priorities_) track_priorities(1);
  }
  t = lap(phases_.store, t);
  // After a lost life that ends the learning episode the env's stack starts afresh, so the next
  // stored transition starts a stack of its own too (the replay rebuilds what the agent saw).
  episode_start_ = life_over;
  episode_return_ += r.raw_reward;
  ++episode_length_;
  ++step_;
  if (episode_over) {
    log_episode(episode_return_, episode_length_);
    env_->reset();
    start_episode();
    lap(phases_.env, t);
  }
}

// Prioritized replay, after the `written` slots of one env step: those slots enter at the max
// priority, or at 0 where they cannot be sampled (a final frame; a transition whose s' is not
// written yet). A write can also change the slots around it: before it, transitions whose s'
// or n-step window it completes; after it, in the frame replay, the
// stacks whose oldest frames the overwrite took. Their priorities follow their sampleability.
void Trainer::track_priorities(std::int64_t written) {
  const std::int64_t capacity = priorities_->capacity();
  const std::int64_t newest =
      ((pixels_ ? frame_replay_->write_position() : replay_->write_position()) - 1 + capacity) %
      capacity;
  auto slot = [&](std::int64_t offset) {
    return ((newest + offset) % capacity + capacity) % capacity;
  };
  auto sampleable = [&](std::int64_t i) {
    return pixels_ ? frame_replay_->sampleable(i) : replay_->sampleable(i);
  };
  for (std::int64_t k = 0; k < written; ++k)
    priorities_->reset_slot(slot(-k), sampleable(slot(-k)));
  // A transition's window reaches n - 1 transitions on (ReplayBuffer), and one slot more for
  // s' (FrameReplay), so the write completes the windows of up to that many slots before it.
  const std::int64_t before = pixels_ ? config_.n_step : config_.n_step - 1;
  const std::int64_t after = pixels_ ? FrameReplay::kStack - 1 : 0;
  for (std::int64_t k = written; k < written + before; ++k)
    priorities_->refresh_slot(slot(-k), sampleable(slot(-k)));
  for (std::int64_t k = 1; k <= after; ++k) priorities_->refresh_slot(slot(k), sampleable(slot(k)));
}

TrainResult Trainer::run(std::int64_t stop_at_step) {
  const double start = now_seconds();
  const std::int64_t start_step = step_;
  const double wall_before = wall_seconds_;
  last_progress_ = start;
  rate_window_.assign(1, {start, step_});
  auto stop_requested = [&] { return stop_ && stop_->load(); };
  auto limit_reached = [&] {
    return step_ >= config_.total_steps ||
           (config_.max_episodes > 0 && episodes_ >= config_.max_episodes) ||
           (config_.max_minutes > 0 && now_seconds() - start >= config_.max_minutes * 60);
  };
  auto paused = [&] {
    wall_seconds_ = wall_before + now_seconds() - start;
    return pause();
  };
  // Resumed from a stop inside an evaluation: that step's evaluation and progress line first.
  if (pending_tail_ && !finish_step(start, start_step, wall_before)) return paused();
  while (!limit_reached()) {
    if ((stop_at_step > 0 && step_ >= stop_at_step) || stop_requested()) return paused();
    env_step();
    check_logs("logging an episode");
    // train
    if (step_ >= config_.learning_starts && step_ % config_.train_freq == 0 &&
        replay_size() >= config_.batch_size)
      train_round();
    if (config_.target_update_unit == TargetUnit::kEnvSteps &&
        step_ % config_.target_update_interval == 0) {
      const double t = now_seconds();
      agent_->update_target();
      lap(phases_.update, t);
    }
    if (!finish_step(start, start_step, wall_before)) return paused();
  }
  wall_seconds_ = wall_before + now_seconds() - start;
  return finish();
}

// The end of an env step: its periodic evaluation, its progress line, then its checkpoint.
// Returns false when a stop request interrupted the evaluation; pending_tail_ then stays set,
// so the snapshot records that this part of the step is still to do. The checkpoint comes last
// so that its snapshot holds the whole step, logs included.
bool Trainer::finish_step(double start, std::int64_t start_step, double wall_before) {
  pending_tail_ = true;
  if (config_.eval_interval > 0 && step_ % config_.eval_interval == 0) {
    const double t = now_seconds();
    const bool done = periodic_eval();
    lap(phases_.eval, t);
    if (!done) return false;
  }
  // Progress: every log_interval env steps, and for the terminal also every kProgressSeconds,
  // so a slow Atari run shows signs of life within seconds (its log_interval is 10,000 steps).
  const double now = now_seconds();
  const bool by_steps = step_ % config_.log_interval == 0;
  if (by_steps || (progress_ && now - last_progress_ >= kProgressSeconds)) {
    last_progress_ = now;
    // Steps per second over the last kRateWindowSeconds, not since the start: the first
    // learning_starts steps are random play without updates and run many times faster.
    rate_window_.emplace_back(now, step_);
    while (rate_window_.size() > 2 && now - rate_window_[1].first >= kRateWindowSeconds)
      rate_window_.pop_front();
    TrainProgress p;
    p.step = step_;
    p.total_steps = config_.total_steps;
    p.episodes = episodes_;
    p.epsilon = exploration_epsilon();
    double sum = 0;
    for (double x : recent_returns_) sum += x;
    p.recent_return = recent_returns_.empty() ? 0 : sum / recent_returns_.size();
    p.loss = last_stats_.loss;
    const double elapsed = now - start;
    const auto& [then, then_step] = rate_window_.front();
    p.steps_per_second = now > then    ? (step_ - then_step) / (now - then)
                         : elapsed > 0 ? (step_ - start_step) / elapsed
                                       : 0;
    p.eta_seconds = p.steps_per_second > 0 ? (config_.total_steps - step_) / p.steps_per_second : 0;
    p.last_eval = last_eval_;
    if (progress_) progress_(p);
    if (by_steps) log_training(p.steps_per_second);
    if (by_steps && timing_.is_open()) {
      timing_ << "{\"step\":" << step_ << ",\"wall\":" << json_number(wall_before + elapsed)
              << ",\"steps_per_second\":" << json_number(p.steps_per_second)
              << ",\"seconds\":" << phases_json(phases_) << "}\n";
      check_logs("logging progress");
    }
  }
  pending_tail_ = false;
  if (config_.checkpoint_interval > 0 && step_ % config_.checkpoint_interval == 0 &&
      !out_dir_.empty()) {
    const double t = now_seconds();
    wall_seconds_ = wall_before + now_seconds() - start;
    save_checkpoints();
    lap(phases_.checkpoint, t);
  }
  return true;
}

// The run's counters as a result, finished or not.
TrainResult Trainer::progress_result() const {
  TrainResult r;
  r.env_steps = step_;
  r.episodes = episodes_;
  r.updates = updates_;
  r.evaluations = evals_;
  r.wall_seconds = wall_seconds_;
  r.phases = phases_;
  return r;
}

// A stop (Ctrl-C, SIGTERM, or stop_at_step): the snapshot, and an unfinished result.
TrainResult Trainer::pause() {
  if (!out_dir_.empty()) save_snapshot(out_dir_ + "/snapshot.bin");
  return progress_result();
}

void Trainer::train_round() {
  for (std::int64_t g = 0; g < config_.gradient_steps; ++g) {
    double t = now_seconds();
    const std::int64_t n = config_.batch_size;
    if (priorities_) {
      // Stratified draws by priority, with their importance weights; beta anneals over the run.
      batch_.indices.resize(static_cast<std::size_t>(n));
      batch_.weights.resize(static_cast<std::size_t>(n));
      priorities_->sample(batch_.indices.data(), batch_.weights.data(), n,
                          linear_beta(config_.per_beta_start, step_, config_.total_steps),
                          replay_rng_);
      if (pixels_)
        frame_replay_->gather(batch_.indices.data(), n, batch_);
      else
        replay_->gather(batch_.indices.data(), n, batch_);
    } else if (pixels_) {
      frame_replay_->sample(n, replay_rng_, batch_);
    } else {
      replay_->sample(n, replay_rng_, batch_);
    }
    t = lap(phases_.sample, t);
    try {
      last_stats_ = agent_->update(batch_);
    } catch (const Error& e) {
      throw_error("step ", step_, " (update ", updates_ + 1, "): ", e.what(), "; ",
                  last_checkpoint_text());
    }
    // The new priorities, from the errors measured before the step (Schaul et al. 2016,
    // Algorithm 1 line 12).
    if (priorities_) priorities_->update(batch_.indices.data(), agent_->abs_td_errors().data(), n);
    ++updates_;
    ++since_log_.updates;
    since_log_.loss += last_stats_.loss;
    since_log_.mean_q += last_stats_.mean_q;
    since_log_.grad_norm += last_stats_.grad_norm;  // before clipping
    since_log_.clipped +=
        config_.max_grad_norm > 0 && last_stats_.grad_norm > config_.max_grad_norm;
    if (config_.target_update_unit == TargetUnit::kUpdates &&
        updates_ % config_.target_update_interval == 0)
      agent_->update_target();
    lap(phases_.update, t);
  }
}

CheckpointMeta Trainer::checkpoint_meta() const {
  CheckpointMeta meta;
  meta.set("env", config_.env);
  meta.set("env_steps", std::to_string(step_));
  meta.set("updates", std::to_string(updates_));
  meta.set("config", config_.to_text());
  return meta;
}

// Every checkpoint_interval env steps: the online network (checkpoint.dqn) and the run snapshot,
// both written atomically. A later divergence stops the run before either is overwritten, so
// the last good pair stays intact.
void Trainer::save_checkpoints() {
  save_checkpoint(out_dir_ + "/checkpoint.dqn", agent_->online(), &agent_->optimizer(),
                  checkpoint_meta());
  save_snapshot(out_dir_ + "/snapshot.bin");
  metrics_.flush();
}

bool Trainer::periodic_eval() {
  // An interrupted evaluation must leave no trace: the Rng it drew from is put back, so the
  // evaluation that runs again after resume draws exactly what an uninterrupted one would.
  const Rng rng_before = eval_rng_;
  const EvalResult e = evaluate(agent_->online(), *eval_env_, config_.eval_episodes,
                                kEvalSeedBase + static_cast<std::uint64_t>(evals_) * 1000,
                                config_.eval_epsilon, eval_rng_, stop_);
  if (e.interrupted) {
    eval_rng_ = rng_before;
    return false;
  }
  ++evals_;
  last_eval_ = e.mean;
  // Keep the latest of tied best evaluations: a later network that scores as well has usually
  // seen more data.
  if (e.mean >= best_eval_) {
    best_eval_ = e.mean;
    best_eval_step_ = step_;
    best_->copy_from(agent_->online());
    const Adam& adam = agent_->optimizer();
    best_adam_->set_steps(adam.steps());
    for (const auto& [to, from] :
         {std::pair{&best_adam_->first_moments(), &adam.first_moments()},
          std::pair{&best_adam_->second_moments(), &adam.second_moments()}})
      for (std::size_t k = 0; k < from->size(); ++k)
        std::copy((*from)[k].data(), (*from)[k].data() + (*from)[k].numel(), (*to)[k].data());
  }
  if (metrics_.is_open()) {
    metrics_ << "{\"type\":\"eval\",\"step\":" << step_ << ",\"mean\":" << json_number(e.mean)
             << ",\"std\":" << json_number(e.std) << ",\"min\":" << json_number(e.min)
             << ",\"max\":" << json_number(e.max) << ",\"episodes\":" << e.episodes << "}\n"
             << std::flush;  // readers (the live plot) see every evaluation at once
    check_logs("logging an evaluation");
    events_->add_scalar("eval/mean_return", step_, e.mean, wall_time_now());
    csv_->write_row({static_cast<double>(step_), kCsvMissing, kCsvMissing, kCsvMissing, kCsvMissing,
                     kCsvMissing, kCsvMissing, kCsvMissing, kCsvMissing, e.mean});
    events_->flush();
    csv_->flush();
  }
  return true;
}

void Trainer::log_episode(double ret, std::int64_t length) {
  ++episodes_;
  recent_returns_.push_back(ret);
  if (recent_returns_.size() > kRecentEpisodes) recent_returns_.pop_front();
  if (!metrics_.is_open()) return;
  metrics_ << "{\"type\":\"episode\",\"step\":" << step_ << ",\"episode\":" << episodes_
           << ",\"return\":" << json_number(ret) << ",\"length\":" << length
           << ",\"epsilon\":" << json_number(exploration_epsilon()) << ",\"updates\":" << updates_
           << "}\n";
  events_->add_scalars(
      step_, wall_time_now(),
      {{"charts/episodic_return", ret}, {"charts/episodic_length", static_cast<double>(length)}});
  csv_->write_row({static_cast<double>(step_), ret, static_cast<double>(length), kCsvMissing,
                   kCsvMissing, kCsvMissing, kCsvMissing, kCsvMissing, kCsvMissing, kCsvMissing});
}

// Every log_interval env steps: the means over the updates since the last such line (the TD
// loss, Q of the taken actions, the gradient norm before clipping, the share of updates whose
// gradient was clipped), not the latest update's values, which one noisy minibatch decides.
void Trainer::log_training(double steps_per_second) {
  const UpdateSums sums = since_log_;
  since_log_ = UpdateSums{};
  if (!metrics_.is_open()) return;
  const double n = static_cast<double>(sums.updates);
  const double nan = std::numeric_limits<double>::quiet_NaN();  // no update since the last line
  const double loss = sums.updates > 0 ? sums.loss / n : nan;
  const double mean_q = sums.updates > 0 ? sums.mean_q / n : nan;
  const double grad_norm = sums.updates > 0 ? sums.grad_norm / n : nan;
  const double clipped = sums.updates > 0 ? static_cast<double>(sums.clipped) / n : nan;
  const double epsilon = exploration_epsilon();
  metrics_ << "{\"type\":\"train\",\"step\":" << step_ << ",\"updates\":" << sums.updates
           << ",\"td_loss\":" << json_number(loss) << ",\"q_values\":" << json_number(mean_q)
           << ",\"grad_norm\":" << json_number(grad_norm)
           << ",\"clipped_fraction\":" << json_number(clipped)
           << ",\"epsilon\":" << json_number(epsilon) << "}\n";
  std::vector<ScalarValue> values = {{"charts/epsilon", epsilon}, {"charts/SPS", steps_per_second}};
  if (sums.updates > 0) {
    values.push_back({"losses/td_loss", loss});
    values.push_back({"losses/q_values", mean_q});
    values.push_back({"losses/grad_norm", grad_norm});
    values.push_back({"losses/clipped_fraction", clipped});
  }
  events_->add_scalars(step_, wall_time_now(), values);
  csv_->write_row({static_cast<double>(step_), kCsvMissing, kCsvMissing, epsilon, steps_per_second,
                   loss, mean_q, grad_norm, clipped, kCsvMissing});
  // Readers (TensorBoard, a tail of the CSV) see every log line as it happens; a full disk is
  // reported here, at this step.
  events_->flush();
  csv_->flush();
}

TrainResult Trainer::finish() {
  TrainResult result = progress_result();
  // The returned policy: the best periodic evaluation's network, or the last one without
  // periodic evaluation.
  QNetwork& returned = evals_ > 0 ? *best_ : agent_->online();
  Rng final_rng = Rng(config_.seed).split(kEvalStream + 100);
  result.final_eval = evaluate(returned, *eval_env_, config_.final_eval_episodes,
                               kFinalEvalSeedBase, config_.eval_epsilon, final_rng, stop_);
  // Stopped inside the final evaluation: training is complete, so the snapshot resumes straight
  // into this evaluation again.
  if (result.final_eval.interrupted) return pause();
  result.best_eval = evals_ > 0 ? best_eval_ : result.final_eval.mean;
  result.best_eval_step = evals_ > 0 ? best_eval_step_ : step_;
  result.finished = true;
  if (metrics_.is_open())
    metrics_ << "{\"type\":\"summary\",\"env_steps\":" << step_ << ",\"episodes\":" << episodes_
             << ",\"updates\":" << updates_ << ",\"evaluations\":" << evals_
             << ",\"best_eval\":" << json_number(result.best_eval)
             << ",\"best_eval_step\":" << result.best_eval_step
             << ",\"final_eval_mean\":" << json_number(result.final_eval.mean)
             << ",\"final_eval_std\":" << json_number(result.final_eval.std)
             << ",\"final_eval_episodes\":" << result.final_eval.episodes << "}\n";
  if (timing_.is_open())
    timing_ << "{\"type\":\"summary\",\"wall\":" << json_number(wall_seconds_)
            << ",\"seconds\":" << phases_json(phases_) << "}\n";
  metrics_.flush();
  timing_.flush();
  check_logs("writing the summary");
  if (!out_dir_.empty()) {
    CheckpointMeta meta = checkpoint_meta();
    meta.set("final_eval_mean", json_number(result.final_eval.mean));
    meta.set("returned_policy", evals_ > 0
                                    ? "best periodic evaluation (" + json_number(result.best_eval) +
                                          " at step " + std::to_string(best_eval_step_) + ")"
                                    : "the last network (no periodic evaluation ran)");
    // Both networks, each with the optimizer state that belongs to it: model.dqn is the
    // returned policy, last.dqn the network training ended with (what to continue from).
    save_checkpoint(out_dir_ + "/model.dqn", returned,
                    evals_ > 0 ? best_adam_.get() : &agent_->optimizer(), meta);
    CheckpointMeta last = checkpoint_meta();
    last.set("returned_policy", "no: the last network of the run (model.dqn is the returned one)");
    save_checkpoint(out_dir_ + "/last.dqn", agent_->online(), &agent_->optimizer(), last);
    events_->close();
    csv_->close();
    // The run is complete: its snapshot (up to 7 GB with an Atari replay) would only invite a
    // resume that trains past the end. model.dqn without snapshot.bin marks a finished run.
    std::error_code ec;
    std::filesystem::remove(out_dir_ + "/snapshot.bin", ec);
    DQN_CHECK(!ec, "train: the run finished but its snapshot ", out_dir_,
              "/snapshot.bin could not be deleted (", ec.message(), "); delete it by hand");
  }
  return result;
}

// ---------------------------------------------------------------- snapshots
//
// Layout (format 3). Raw little-endian values as rl/serialize.hpp writes them; a str is a u64
// byte count and the bytes.
//
//   magic     "DQNSNAP3"
//   config    str: the run's config text, applicable keys only (must equal its config.txt's)
//   counters  i64: step, episodes, updates, evals, episode_length, best_eval_step
//   logs      i64: metrics_bytes, timing_bytes (the logs' lengths when the snapshot was written)
//   pending   u64: 1 when the step's evaluation and progress line are still to do, else 0
//   phases    f64: act, env, store, sample, update, eval, checkpoint seconds
//   numbers   f64: episode_return, best_eval, last_eval, wall_seconds, loss, mean_q, grad_norm
//   recent    u64 count (min(episodes, 20)), then f64 returns
//   rngs      act, replay, eval: 4 x u64 each (xoshiro256** states, never all zero), then
//             noise (noisy_nets only; the agent's noise stream) likewise
//   episode   env state str | obs f32 x obs_dim (flat envs) | frames u8 x 4*84*84 (Atari) |
//             episode_start u64 (0 or 1)
//   networks  f32 parameters of online, target, best, each in QNetwork::parameters() order
//   adam      steps i64 | first moments f32 | second moments f32
//   replay    u64 byte count, then ReplayBuffer::save or FrameReplay::save
//   priorities (prioritized_replay only) u64 byte count, then Priorities::save: capacity i64,
//             max priority f64, a f64 priority per slot
//   trailer   crc32 u32: CRC-32/IEEE (nn/checkpoint.hpp) over every byte before it
//
// The loader trusts nothing: the checksum first, then every field against its range and the
// others (counts against the step, the replay's fill against the steps stored, Adam's steps
// against the updates, the observation against the env state), so a flipped bit or an edited
// count is refused instead of resumed into a run that silently differs.

namespace {

constexpr std::size_t kMagicBytes = 8, kCrcBytes = 4;
// The fix every damaged-snapshot error ends with.
constexpr char kDamagedFix[] =
    "; the snapshot is damaged (a disk or copy error, or an edit) and cannot be resumed: "
    "restore the run folder from a backup, or start the run again";

// A double that converts to a finite float. (Converting one beyond float's range is undefined
// behaviour, not infinity: compare, don't cast.)
bool finite_float(double v) {
  return std::isfinite(v) && std::abs(v) <= std::numeric_limits<float>::max();
}

void check_finite_params(const QNetwork& net, const char* which) {
  for (const auto& p : net.parameters()) {
    const Tensor& t = p.variable->value;
    for (std::int64_t i = 0; i < t.numel(); ++i)
      DQN_CHECK(std::isfinite(t[i]), "the ", which, " network's ", p.name, "[", i, "] is ", t[i],
                ", expected a finite number");
  }
}

void check_moments(const std::vector<Tensor>& moments, const char* which, bool non_negative) {
  for (std::size_t k = 0; k < moments.size(); ++k) {
    const Tensor& t = moments[k];
    for (std::int64_t i = 0; i < t.numel(); ++i)
      DQN_CHECK(std::isfinite(t[i]) && (!non_negative || t[i] >= 0), "Adam's ", which,
                " moment of parameter ", k, " [", i, "] is ", t[i], ", expected a finite",
                non_negative ? ", non-negative" : "", " number");
  }
}

}  // namespace

void Trainer::save_snapshot(const std::string& path) {
  // The logs as far as this snapshot: everything written so far, flushed, is what resume keeps.
  for (const auto& [stream, bytes] :
       {std::pair<std::ofstream*, std::int64_t*>{&metrics_, &metrics_bytes_},
        {&timing_, &timing_bytes_}}) {
    if (!stream->is_open()) continue;
    stream->flush();
    *bytes = static_cast<std::int64_t>(stream->tellp());
  }
  check_logs("saving a snapshot");
  if (events_) {
    events_->flush();
    csv_->flush();
    events_bytes_ = events_->bytes();
    csv_bytes_ = csv_->bytes();
  }
  PieceWriter w;
  write_snapshot(w);
  write_file_atomic(path, w.views());
}

std::string Trainer::snapshot_bytes() const {
  PieceWriter w;
  write_snapshot(w);
  return w.concatenated();
}

void Trainer::write_snapshot(PieceWriter& w) const {
  w.bytes(kSnapshotMagic, kMagicBytes);
  w.str(config_.to_text(/*applicable_only=*/true));
  for (const std::int64_t v :
       {step_, episodes_, updates_, evals_, episode_length_, best_eval_step_})
    w.i64(v);
  // The logs' lengths, whether the step's evaluation is still to do, and the run's phase times.
  w.i64(metrics_bytes_);
  w.i64(timing_bytes_);
  w.u64(pending_tail_ ? 1 : 0);
  for (const double v : {phases_.act, phases_.env, phases_.store, phases_.sample, phases_.update,
                         phases_.eval, phases_.checkpoint})
    w.f64(v);
  w.str(events_name_);
  w.i64(events_bytes_);
  w.i64(csv_bytes_);
  w.i64(since_log_.updates);
  w.i64(since_log_.clipped);
  for (const double v : {since_log_.loss, since_log_.mean_q, since_log_.grad_norm}) w.f64(v);
  for (const double v : {episode_return_, best_eval_, last_eval_, wall_seconds_}) w.f64(v);
  w.f64(last_stats_.loss);
  w.f64(last_stats_.mean_q);
  w.f64(last_stats_.grad_norm);
  w.u64(recent_returns_.size());
  for (double x : recent_returns_) w.f64(x);
  for (const Rng* rng : {&act_rng_, &replay_rng_, &eval_rng_})
    for (std::uint64_t word : rng->state()) w.u64(word);
  if (config_.noisy_nets)  // the noise is redrawn before every use: its Rng is the whole state
    for (std::uint64_t word : agent_->noise_rng().state()) w.u64(word);
  std::string env_state;
  env_->save_state(env_state);
  w.str(env_state);
  w.floats(obs_.data(), static_cast<std::int64_t>(obs_.size()));
  w.bytes(frames_.data(), frames_.size());
  w.u64(episode_start_ ? 1 : 0);
  write_params(w, agent_->online());
  write_params(w, agent_->target());
  write_params(w, *best_);
  const Adam& adam = agent_->optimizer();
  w.i64(adam.steps());
  for (const Tensor& m : adam.first_moments()) w.floats(m.data(), m.numel());
  for (const Tensor& v : adam.second_moments()) w.floats(v.data(), v.numel());
  w.i64(best_adam_->steps());
  for (const Tensor& m : best_adam_->first_moments()) w.floats(m.data(), m.numel());
  for (const Tensor& v : best_adam_->second_moments()) w.floats(v.data(), v.numel());
  // The replay as one length-prefixed blob, its arrays written from where they lie: a 1M frame
  // replay is 7 GB, and a copy of it in memory would double the run's peak.
  PieceWriter replay;
  if (pixels_)
    frame_replay_->save(replay);
  else
    replay_->save(replay);
  w.u64(replay.size());
  w.append(replay);
  if (priorities_) {
    PieceWriter priorities;
    priorities_->save(priorities);
    w.u64(priorities.size());
    w.append(priorities);
  }
  // The checksum continues from piece to piece, so the replay is never joined in memory.
  std::uint32_t crc = 0;
  for (const std::string_view piece : w.views()) crc = crc32(piece.data(), piece.size(), crc);
  w.bytes(&crc, sizeof crc);
}

void Trainer::load_snapshot(const std::string& path) {
  // Mapped, not read: a copy of a 1M-transition replay would be 7 GB more at resume.
  const MappedFile file(path);
  load_snapshot_bytes(file.bytes(), path);
}

void Trainer::load_snapshot_bytes(std::string_view bytes, const std::string& source) {
  const std::string_view magic = bytes.substr(0, kMagicBytes);
  DQN_CHECK(magic != "DQNSNAP1" && magic != "DQNSNAP2", "run snapshot '", source,
            "' was written by an older dqn (snapshot format ", magic.substr(7),
            ", which has no checksum); this build resumes format 3 only: finish the run with the "
            "build that started it, or start the run again");
  DQN_CHECK(magic == std::string_view(kSnapshotMagic, kMagicBytes), "'", source,
            "' is not a dqn run snapshot: expected it to start with \"", kSnapshotMagic,
            "\", it does not");
  DQN_CHECK(bytes.size() >= kMagicBytes + kCrcBytes, "run snapshot '", source, "': it ends after ",
            bytes.size(), " bytes, before its checksum", kDamagedFix);
  const std::size_t payload_end = bytes.size() - kCrcBytes;
  std::uint32_t stored = 0;
  std::memcpy(&stored, bytes.data() + payload_end, kCrcBytes);
  const std::uint32_t computed = crc32(bytes.data(), payload_end);
  DQN_CHECK(stored == computed, "run snapshot '", source,
            "': checksum mismatch: its bytes give CRC-32 0x", std::hex, computed,
            ", its trailer holds 0x", stored, std::dec, kDamagedFix);
  ByteReader r(bytes.substr(kMagicBytes, payload_end - kMagicBytes), "the snapshot's payload");
  const std::string config_text = r.str();
  DQN_CHECK(config_text == config_.to_text(/*applicable_only=*/true), "run snapshot '", source,
            "' was written by a run with another config than this one (", out_dir_,
            "/config.txt): resume with the run's own folder, or restore its config.txt");
  try {
    read_snapshot_fields(r);
  } catch (const Error& e) {
    throw_error("run snapshot '", source, "': ", e.what(), kDamagedFix);
  }
}

// Reads and checks everything after the config text, field by field; a failing check throws
// with the field's name, what it holds and what was expected. Called only on a Trainer built
// for resuming, which the caller discards when this throws.
void Trainer::read_snapshot_fields(ByteReader& r) {
  // Counters.
  for (std::int64_t* v :
       {&step_, &episodes_, &updates_, &evals_, &episode_length_, &best_eval_step_})
    *v = r.i64();
  DQN_CHECK(step_ >= 0 && step_ <= config_.total_steps, "step is ", step_,
            ", expected 0 <= step <= total_steps (", config_.total_steps, ")");
  DQN_CHECK(episode_length_ >= 0 && episode_length_ <= step_, "episode_length is ", episode_length_,
            ", expected 0 <= episode_length <= step (", step_, ")");
  DQN_CHECK(episodes_ >= 0 && episodes_ <= step_ - episode_length_, "episodes is ", episodes_,
            ", expected 0 <= episodes <= step - episode_length (", step_ - episode_length_,
            "): every finished episode took at least one step");
  DQN_CHECK(config_.max_episodes <= 0 || episodes_ <= config_.max_episodes, "episodes is ",
            episodes_, ", expected at most max_episodes (", config_.max_episodes, ")");
  // A training round of gradient_steps updates runs at each multiple of train_freq from
  // learning_starts (at least 1) to step.
  const std::int64_t first = std::max<std::int64_t>(config_.learning_starts, 1);
  const std::int64_t rounds =
      step_ >= first ? step_ / config_.train_freq - (first - 1) / config_.train_freq : 0;
  const std::int64_t gs = config_.gradient_steps;
  DQN_CHECK(updates_ >= 0 && updates_ / gs + (updates_ % gs != 0) <= rounds, "updates is ",
            updates_, ", expected 0 <= updates <= ", rounds, " rounds x ", gs,
            " gradient_steps (one round every train_freq = ", config_.train_freq,
            " env steps from learning_starts = ", config_.learning_starts, " to step ", step_, ")");
  const std::int64_t max_evals = config_.eval_interval > 0 ? step_ / config_.eval_interval : 0;
  DQN_CHECK(evals_ >= 0 && evals_ <= max_evals, "evals is ", evals_,
            ", expected 0 <= evals <= ", max_evals,
            " (one every eval_interval = ", config_.eval_interval, " env steps)");
  if (evals_ == 0) {
    DQN_CHECK(best_eval_step_ == 0, "best_eval_step is ", best_eval_step_,
              ", expected 0: no evaluation ran");
  } else {
    DQN_CHECK(best_eval_step_ >= config_.eval_interval && best_eval_step_ <= step_ &&
                  best_eval_step_ % config_.eval_interval == 0,
              "best_eval_step is ", best_eval_step_, ", expected a multiple of eval_interval (",
              config_.eval_interval, ") in 1..step (", step_, ")");
  }
  // The logs' lengths at snapshot time (resume cuts the logs back to them, so no step is
  // logged twice), whether the step's evaluation and progress line are still to do, and the
  // run's phase times.
  metrics_bytes_ = r.i64();
  timing_bytes_ = r.i64();
  DQN_CHECK(metrics_bytes_ >= 0, "metrics_bytes is ", metrics_bytes_, ", expected >= 0");
  DQN_CHECK(timing_bytes_ >= 0, "timing_bytes is ", timing_bytes_, ", expected >= 0");
  const std::uint64_t pending = r.u64();
  DQN_CHECK(pending <= 1, "the pending evaluation flag is ", pending, ", expected 0 or 1");
  pending_tail_ = pending == 1;
  const std::pair<const char*, double*> phases[] = {{"act", &phases_.act},
                                                    {"env", &phases_.env},
                                                    {"store", &phases_.store},
                                                    {"sample", &phases_.sample},
                                                    {"update", &phases_.update},
                                                    {"eval", &phases_.eval},
                                                    {"checkpoint", &phases_.checkpoint}};
  for (const auto& [name, v] : phases) {
    *v = r.f64();
    DQN_CHECK(std::isfinite(*v) && *v >= 0, "the ", name, " phase time is ", *v,
              " s, expected a finite number >= 0");
  }
  // The TensorBoard file's name and length, metrics.csv's length (cut back to on resume).
  events_name_ = r.str();
  DQN_CHECK(events_name_.empty() || (events_name_.rfind("events.out.tfevents.", 0) == 0 &&
                                     events_name_.find('/') == std::string::npos),
            "the event file's name is '", events_name_,
            "', expected events.out.tfevents.<time>.<host> (a file in the run folder)");
  events_bytes_ = r.i64();
  csv_bytes_ = r.i64();
  DQN_CHECK(events_bytes_ >= 0 && csv_bytes_ >= 0, "the event file and metrics.csv lengths are ",
            events_bytes_, " and ", csv_bytes_, ", expected >= 0");
  // The sums behind the next log line's means.
  since_log_.updates = r.i64();
  since_log_.clipped = r.i64();
  since_log_.loss = r.f64();
  since_log_.mean_q = r.f64();
  since_log_.grad_norm = r.f64();
  DQN_CHECK(since_log_.updates >= 0 && since_log_.updates <= updates_ && since_log_.clipped >= 0 &&
                since_log_.clipped <= since_log_.updates,
            "the updates since the last log line are ", since_log_.updates, " (",
            since_log_.clipped, " clipped), expected 0 <= clipped <= updates since <= updates (",
            updates_, ")");
  DQN_CHECK(std::isfinite(since_log_.loss) && since_log_.loss >= 0 &&
                std::isfinite(since_log_.mean_q) && std::isfinite(since_log_.grad_norm) &&
                since_log_.grad_norm >= 0,
            "the sums since the last log line (loss ", since_log_.loss, ", Q ", since_log_.mean_q,
            ", gradient norm ", since_log_.grad_norm, ") are not finite sums of finite values");

  // Numbers. best_eval holds kNoEvalYet exactly when no evaluation ran (evals counts them);
  // a NaN there would lose every later comparison and return the wrong network.
  for (double* v : {&episode_return_, &best_eval_, &last_eval_, &wall_seconds_}) *v = r.f64();
  DQN_CHECK(std::isfinite(episode_return_), "episode_return is ", episode_return_,
            ", expected a finite number");
  if (evals_ == 0) {
    DQN_CHECK(best_eval_ == kNoEvalYet && last_eval_ == -1, "best_eval is ", best_eval_,
              " and last_eval ", last_eval_, ", expected ", kNoEvalYet,
              " and -1: no evaluation ran");
  } else {
    DQN_CHECK(std::isfinite(best_eval_), "best_eval is ", best_eval_,
              ", expected a finite evaluation mean (", evals_, " evaluations ran)");
    DQN_CHECK(std::isfinite(last_eval_) && last_eval_ <= best_eval_, "last_eval is ", last_eval_,
              ", expected a finite evaluation mean no greater than best_eval (", best_eval_, ")");
  }
  DQN_CHECK(std::isfinite(wall_seconds_) && wall_seconds_ >= 0, "wall_seconds is ", wall_seconds_,
            ", expected a finite number >= 0");
  const double loss = r.f64(), mean_q = r.f64(), grad_norm = r.f64();
  DQN_CHECK(finite_float(loss) && loss >= 0 && finite_float(mean_q) && finite_float(grad_norm) &&
                grad_norm >= 0,
            "the last update's loss, mean_q and grad_norm are ", loss, ", ", mean_q, ", ",
            grad_norm,
            ", expected finite numbers, loss and grad_norm >= 0 (the divergence guard "
            "lets no others through)");
  last_stats_.loss = static_cast<float>(loss);
  last_stats_.mean_q = static_cast<float>(mean_q);
  last_stats_.grad_norm = static_cast<float>(grad_norm);
  const std::uint64_t recent = r.u64();
  const auto expected_recent =
      std::min<std::uint64_t>(static_cast<std::uint64_t>(episodes_), kRecentEpisodes);
  DQN_CHECK(recent == expected_recent, "the recent returns count is ", recent, ", expected ",
            expected_recent, " (the last min(episodes, ", kRecentEpisodes, "))");
  recent_returns_.clear();
  for (std::uint64_t i = 0; i < recent; ++i) {
    const double x = r.f64();
    DQN_CHECK(std::isfinite(x), "recent return ", i, " is ", x, ", expected a finite number");
    recent_returns_.push_back(x);
  }

  // Random streams: an all-zero xoshiro256** state returns 0 forever (a sampler that rejects
  // zeros would never return).
  const std::pair<const char*, Rng*> rngs[] = {{"act", &act_rng_},
                                               {"replay", &replay_rng_},
                                               {"eval", &eval_rng_},
                                               {"noise", &agent_->noise_rng()}};
  for (const auto& [name, rng] : rngs) {
    if (rng == &agent_->noise_rng() && !config_.noisy_nets) continue;
    Rng::State s;
    for (auto& word : s) word = r.u64();
    DQN_CHECK((s[0] | s[1] | s[2] | s[3]) != 0, "the ", name,
              " Rng state is all zero, expected a state saved by Rng::state() (never all zero)");
    rng->set_state(s);
  }

  // The current episode: the env's state (its load_state checks its own fields), and the
  // trainer's copy of the observation, which must be the env's.
  try {
    env_->load_state(r.view());
  } catch (const Error& e) {
    throw_error("env state: ", e.what());
  }
  r.floats(obs_.data(), static_cast<std::int64_t>(obs_.size()));
  r.bytes(frames_.data(), frames_.size());
  const bool same_observation =
      pixels_ ? std::memcmp(frames_.data(), env_->observation_u8(), frames_.size()) == 0
              : std::memcmp(obs_.data(), env_->observation_f32(), obs_.size() * sizeof(float)) == 0;
  DQN_CHECK(same_observation,
            "the current observation differs from the one in the env state, expected the same");
  const std::uint64_t episode_start = r.u64();
  DQN_CHECK(episode_start == (episode_length_ == 0 ? 1u : 0u), "episode_start is ", episode_start,
            ", expected ", episode_length_ == 0 ? 1 : 0, " (episode_length is ", episode_length_,
            ")");
  episode_start_ = episode_start != 0;

  // Networks and optimizer.
  read_params(r, agent_->online());
  read_params(r, agent_->target());
  read_params(r, *best_);
  check_finite_params(agent_->online(), "online");
  check_finite_params(agent_->target(), "target");
  check_finite_params(*best_, "best");
  Adam& adam = agent_->optimizer();
  const std::int64_t adam_steps = r.i64();
  DQN_CHECK(adam_steps == updates_, "the optimizer's step count is ", adam_steps,
            ", expected updates (", updates_, "): Adam steps once an update");
  adam.set_steps(adam_steps);
  for (Tensor& m : adam.first_moments()) r.floats(m.data(), m.numel());
  for (Tensor& v : adam.second_moments()) r.floats(v.data(), v.numel());
  check_moments(adam.first_moments(), "first", false);
  check_moments(adam.second_moments(), "second", true);
  const std::int64_t best_steps = r.i64();
  DQN_CHECK(best_steps >= 0 && best_steps <= updates_,
            "the best network's optimizer step count is ", best_steps, ", expected 0..updates (",
            updates_, ")");
  best_adam_->set_steps(best_steps);
  for (Tensor& m : best_adam_->first_moments()) r.floats(m.data(), m.numel());
  for (Tensor& v : best_adam_->second_moments()) r.floats(v.data(), v.numel());
  check_moments(best_adam_->first_moments(), "best network's first", false);
  check_moments(best_adam_->second_moments(), "best network's second", true);

  // The replay (its load checks its contents), then its fill against the steps: one transition
  // an env step, and for frames one more slot for each finished episode's final frame.
  const std::string_view replay = r.view();
  const std::int64_t num_actions = agent_->spec().num_actions;
  if (pixels_)
    frame_replay_->load(replay, num_actions);
  else
    replay_->load(replay, num_actions);
  const std::int64_t written = pixels_ ? step_ + episodes_ : step_;
  const std::int64_t capacity = pixels_ ? frame_replay_->capacity() : replay_->capacity();
  const std::int64_t position =
      pixels_ ? frame_replay_->write_position() : replay_->write_position();
  DQN_CHECK(replay_size() == std::min(written, capacity) && position == written % capacity,
            "the replay holds ", replay_size(), " entries with its write position at ", position,
            ", expected ", std::min(written, capacity), " at ", written % capacity, " after ",
            written, " writes into a capacity of ", capacity);
  // The priorities: finite, non-negative, no larger than the max, and positive exactly where
  // the replay (just loaded and checked) can sample.
  if (priorities_) {
    const std::string_view priorities = r.view();
    priorities_->load(priorities, [&](std::int64_t i) {
      return pixels_ ? frame_replay_->sampleable(i) : replay_->sampleable(i);
    });
  }
  r.expect_end();
}

std::unique_ptr<Trainer> Trainer::from_snapshot_bytes(const Config& config, std::string_view bytes,
                                                      const std::string& source) {
  std::unique_ptr<Trainer> t(new Trainer(config, "", Start::kResume));
  t->load_snapshot_bytes(bytes, source);
  return t;
}

std::unique_ptr<Trainer> Trainer::resume(const std::string& out_dir) {
  DQN_CHECK(std::filesystem::is_directory(out_dir), "resume: '", out_dir,
            "' is not a run folder; give the folder a train run wrote into (its --out)");
  const std::string snapshot = out_dir + "/snapshot.bin";
  if (!std::filesystem::exists(snapshot)) {
    DQN_CHECK(!std::filesystem::exists(out_dir + "/model.dqn"), "resume: the run in '", out_dir,
              "' has finished (its policy is model.dqn); there is nothing to resume. To train "
              "longer, start a new run from its config: dqn train --config ",
              shell_quote(out_dir + "/config.txt"), " --steps N");
    throw_error("resume: '", snapshot,
                "' does not exist: the run stopped before its first snapshot (one is written at "
                "each checkpoint_interval and on Ctrl-C), so it cannot be resumed; start it again");
  }
  const Config config = load_config_file(out_dir + "/config.txt");
  std::unique_ptr<Trainer> t(new Trainer(config, out_dir, Start::kResume));
  t->load_snapshot(snapshot);
  // The logs back to the snapshot's step: lines written after it (by a run that was killed
  // before its next snapshot) will be written again, identically, by this run.
  DQN_CHECK(!t->events_name_.empty(),
            "resume: the snapshot names no TensorBoard event file; it "
            "was not written by a run with a folder");
  for (const auto& [name, bytes] :
       {std::pair<std::string, std::int64_t>{"metrics.jsonl", t->metrics_bytes_},
        {"timing.jsonl", t->timing_bytes_},
        {"metrics.csv", t->csv_bytes_},
        {t->events_name_, t->events_bytes_}}) {
    const std::string path = out_dir + "/" + name;
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    DQN_CHECK(!ec && size >= static_cast<std::uintmax_t>(bytes), "resume: ", path, " holds ",
              ec ? std::string("nothing readable") : std::to_string(size) + " bytes",
              " but the snapshot was taken when it held ", bytes,
              "; the log was edited or lost, so resuming would corrupt it. Restore the file, or "
              "start the run again");
    std::filesystem::resize_file(path, static_cast<std::uintmax_t>(bytes), ec);
    DQN_CHECK(!ec, "resume: cannot cut ", path, " back to ", bytes, " bytes: ", ec.message());
  }
  t->open_logs(true);
  return t;
}

std::string shell_quote(const std::string& text) {
  if (!text.empty() && text.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                              "0123456789_-./=:,+@%") == std::string::npos)
    return text;
  std::string quoted = "'";
  for (const char ch : text) {
    if (ch == '\'')
      quoted += "'\\''";
    else
      quoted += ch;
  }
  return quoted + "'";
}

std::string format_gb(std::int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f GB", static_cast<double>(bytes) / 1e9);
  return text;
}

std::int64_t available_memory_bytes() {
  std::int64_t available = -1;
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  std::int64_t kb = 0;
  std::string unit;
  while (meminfo >> key >> kb >> unit) {
    if (key == "MemAvailable:") {
      available = kb * 1024;
      break;
    }
  }
  // A container's cgroup (v2) may allow less than the machine has free.
  std::ifstream max_file("/sys/fs/cgroup/memory.max"),
      current_file("/sys/fs/cgroup/memory.current");
  std::string max_text;
  std::int64_t current = 0;
  if (max_file >> max_text && max_text != "max" && current_file >> current) {
    const std::int64_t limit = std::strtoll(max_text.c_str(), nullptr, 10) - current;
    if (limit >= 0 && (available < 0 || limit < available)) available = limit;
  }
  return available;
}

void prepare_run_folder(const std::string& dir, bool overwrite) {
  namespace fs = std::filesystem;
  DQN_CHECK(!dir.empty(),
            "train: the run folder is empty (--out ''); give a folder name, or "
            "leave --out out for runs/<env>__<preset>__<seed>__<time>");
  // Names past the file system's limits fail only at the first write, after training, so they
  // are checked here (NAME_MAX and PATH_MAX of Linux).
  DQN_CHECK(dir.size() < 4096, "train: the run folder's path is ", dir.size(),
            " characters; paths stop at 4095. Choose a shorter --out");
  for (const auto& part : fs::path(dir))
    DQN_CHECK(part.native().size() <= 255, "train: the run folder's path has a component of ",
              part.native().size(), " characters ('", part.native().substr(0, 24),
              "...'); file names stop at 255. Choose a shorter --out");
  std::error_code ec;
  const auto status = fs::status(dir, ec);
  if (fs::exists(status)) {
    DQN_CHECK(fs::is_directory(status), "train: '", dir,
              "' is a file, not a folder; give --out a new or empty folder");
    const bool is_run = fs::exists(dir + "/config.txt") || fs::exists(dir + "/snapshot.bin") ||
                        fs::exists(dir + "/model.dqn") || fs::exists(dir + "/metrics.jsonl");
    if (is_run) {
      DQN_CHECK(overwrite, "train: '", dir, "' already holds a run; ",
                fs::exists(dir + "/snapshot.bin")
                    ? "continue it with dqn resume " + shell_quote(dir) + ", "
                    : std::string(),
                "choose another --out, or add --overwrite to delete it and start again");
      for (const auto& entry : fs::directory_iterator(dir)) fs::remove_all(entry.path());
    } else {
      DQN_CHECK(fs::is_empty(dir, ec) && !ec, "train: '", dir,
                "' is a folder that holds other files, not a run; give --out a new or empty "
                "folder (--overwrite only replaces runs)");
    }
  }
  fs::create_directories(dir, ec);
  DQN_CHECK(!ec, "train: cannot create the run folder '", dir, "': ", ec.message(),
            "; choose another --out");
  // Writable? Find out now, not after hours of training.
  const std::string probe = dir + "/.dqn_write_test";
  {
    std::ofstream out(probe);
    out << "x";
    out.flush();
    DQN_CHECK(out.good(), "train: cannot write into '", dir,
              "' (read-only or no permission); choose another --out");
  }
  fs::remove(probe, ec);
}

}  // namespace dqn
