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
// Format 2 added the checksum trailer and the log lengths; format 1 is refused by name.
constexpr char kSnapshotMagic[] = "DQNSNAP2";

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

EnvOptions env_options_for(const Config& config) {
  EnvOptions options;
  options.noop_max = config.noop_max;
  options.clip_rewards = config.clip_rewards;
  return options;
}

NetworkSpec network_spec_for(const Config& config, const Env& env) {
  NetworkSpec spec;
  const Shape obs = env.observation_shape();
  spec.kind = env.observation_is_u8() ? NetworkKind::kNatureCnn : NetworkKind::kMlp;
  spec.observation_shape.assign(obs.dims.begin(), obs.dims.begin() + obs.rank);
  spec.num_actions = env.num_actions();
  spec.hidden = config.hidden;
  spec.dueling = config.dueling;
  return spec;
}

EvalResult evaluate(QNetwork& net, Env& env, std::int64_t episodes, std::uint64_t first_seed,
                    double epsilon, Rng& rng) {
  EvalResult result;
  Tensor q;
  result.episodes = episodes;
  if (episodes <= 0) return result;
  double sum = 0, sum_sq = 0;
  result.min = 1e300;
  result.max = -1e300;
  for (std::int64_t e = 0; e < episodes; ++e) {
    env.reset(first_seed + static_cast<std::uint64_t>(e));
    double score = 0;
    while (true) {
      const std::int64_t action =
          env.observation_is_u8()
              ? epsilon_greedy_action(net, env.observation_u8(), epsilon, rng, q)
              : epsilon_greedy_action(net, env.observation_f32(), epsilon, rng, q);
      const StepResult r = env.step(action);
      score += r.raw_reward;
      if (r.terminated || r.truncated) break;
    }
    sum += score;
    sum_sq += score * score;
    result.min = std::min(result.min, score);
    result.max = std::max(result.max, score);
  }
  result.mean = sum / static_cast<double>(episodes);
  result.std =
      std::sqrt(std::max(0.0, sum_sq / static_cast<double>(episodes) - result.mean * result.mean));
  return result;
}

Trainer::Trainer(const Config& config, const std::string& out_dir)
    : Trainer(config, out_dir, false) {}

Trainer::Trainer(const Config& config, const std::string& out_dir, bool resuming)
    : config_(config), out_dir_(out_dir) {
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
  agent_ = std::make_unique<DqnAgent>(spec, config_, init_rng);
  best_ = std::make_unique<QNetwork>(spec, init_rng);
  best_->copy_from(agent_->online());
  if (pixels_) {
    const auto& shape = spec.observation_shape;  // (4, 84, 84)
    DQN_CHECK(shape[0] == FrameReplay::kStack, "train: frame replay stacks ", FrameReplay::kStack,
              " frames, the env gives ", shape[0]);
    frame_replay_ = std::make_unique<FrameReplay>(config_.buffer_size, shape[1], shape[2]);
    frames_.resize(static_cast<std::size_t>(shape[0] * shape[1] * shape[2]));
  } else {
    replay_ = std::make_unique<ReplayBuffer>(config_.buffer_size, spec.observation_shape[0]);
    obs_.resize(static_cast<std::size_t>(spec.observation_shape[0]));
  }

  if (!out_dir_.empty()) {
    std::filesystem::create_directories(out_dir_);
    const auto mode = resuming ? std::ios::app : std::ios::trunc;
    metrics_.open(out_dir_ + "/metrics.jsonl", mode);
    timing_.open(out_dir_ + "/timing.jsonl", mode);
    DQN_CHECK(metrics_.good() && timing_.good(), "train: cannot write into '", out_dir_,
              "'; check the folder's permissions");
    if (!resuming) {
      std::ofstream(out_dir_ + "/config.txt") << config_.to_text();
    }
  }
  if (!resuming) {
    env_->reset(root.split(kEnvStream).next_u64());
    start_episode();
  }
}

Trainer::~Trainer() = default;

std::int64_t Trainer::replay_memory_bytes() const {
  return pixels_ ? frame_replay_->memory_bytes()
                 : replay_->bytes_per_transition() * replay_->capacity();
}

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

// select -> step -> store, for one env step.
void Trainer::env_step() {
  double t = now_seconds();
  const double epsilon =
      linear_epsilon(config_.epsilon_start, config_.epsilon_end, config_.epsilon_steps, step_);
  const std::int64_t action = pixels_ ? agent_->act(frames_.data(), epsilon, act_rng_)
                                      : agent_->act(obs_.data(), epsilon, act_rng_);
  t = lap(phases_.act, t);
  const StepResult r = env_->step(action);
  t = lap(phases_.env, t);
  const bool episode_over = r.terminated || r.truncated;
  // Learning treats a lost life as terminal when episodic_life is on (the game goes on).
  const bool terminal = r.terminated || (config_.episodic_life && r.life_lost);
  // After a final step the env still shows that episode's last observation: the true s', which
  // a truncated transition bootstraps from.
  if (pixels_) {
    const std::int64_t frame = static_cast<std::int64_t>(frames_.size()) / FrameReplay::kStack;
    frame_replay_->add(frames_.data() + frames_.size() - frame, episode_start_, action, r.reward,
                       terminal, r.truncated);
    const std::uint8_t* next = env_->observation_u8();
    std::copy(next, next + frames_.size(), frames_.begin());
    if (episode_over) frame_replay_->add_final(frames_.data() + frames_.size() - frame);
  } else {
    const float* next = env_->observation_f32();
    replay_->add(obs_.data(), action, r.reward, next, terminal, r.truncated);
    std::copy(next, next + obs_.size(), obs_.begin());
  }
  t = lap(phases_.store, t);
  episode_start_ = false;
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

TrainResult Trainer::run(std::int64_t stop_at_step) {
  const double start = now_seconds();
  const std::int64_t start_step = step_;
  const double wall_before = wall_seconds_;
  phases_ = PhaseSeconds{};
  auto limit_reached = [&] {
    return step_ >= config_.total_steps ||
           (config_.max_episodes > 0 && episodes_ >= config_.max_episodes) ||
           (config_.max_minutes > 0 && now_seconds() - start >= config_.max_minutes * 60);
  };
  while (!limit_reached()) {
    if ((stop_at_step > 0 && step_ >= stop_at_step) || (stop_ && stop_->load())) {
      wall_seconds_ = wall_before + now_seconds() - start;
      if (!out_dir_.empty()) save_snapshot(out_dir_ + "/snapshot.bin");
      TrainResult paused;
      paused.env_steps = step_;
      paused.episodes = episodes_;
      paused.updates = updates_;
      paused.wall_seconds = wall_seconds_;
      paused.phases = phases_;
      return paused;
    }
    env_step();
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
    // evaluate
    if (config_.eval_interval > 0 && step_ % config_.eval_interval == 0) {
      const double t = now_seconds();
      periodic_eval();
      lap(phases_.eval, t);
    }
    if (config_.checkpoint_interval > 0 && step_ % config_.checkpoint_interval == 0 &&
        !out_dir_.empty()) {
      const double t = now_seconds();
      save_checkpoints();
      lap(phases_.checkpoint, t);
    }
    if (progress_ && step_ % config_.log_interval == 0) {
      TrainProgress p;
      p.step = step_;
      p.total_steps = config_.total_steps;
      p.episodes = episodes_;
      p.epsilon =
          linear_epsilon(config_.epsilon_start, config_.epsilon_end, config_.epsilon_steps, step_);
      double sum = 0;
      for (double x : recent_returns_) sum += x;
      p.recent_return = recent_returns_.empty() ? 0 : sum / recent_returns_.size();
      p.loss = last_stats_.loss;
      const double elapsed = now_seconds() - start;
      p.steps_per_second = elapsed > 0 ? (step_ - start_step) / elapsed : 0;
      p.eta_seconds =
          p.steps_per_second > 0 ? (config_.total_steps - step_) / p.steps_per_second : 0;
      p.last_eval = last_eval_;
      progress_(p);
      if (timing_.is_open())
        timing_ << "{\"step\":" << step_ << ",\"wall\":" << json_number(wall_before + elapsed)
                << ",\"steps_per_second\":" << json_number(p.steps_per_second)
                << ",\"seconds\":" << phases_json(phases_) << "}\n";
    }
  }
  wall_seconds_ = wall_before + now_seconds() - start;
  return finish();
}

void Trainer::train_round() {
  for (std::int64_t g = 0; g < config_.gradient_steps; ++g) {
    double t = now_seconds();
    if (pixels_)
      frame_replay_->sample(config_.batch_size, replay_rng_, batch_);
    else
      replay_->sample(config_.batch_size, replay_rng_, batch_);
    t = lap(phases_.sample, t);
    try {
      last_stats_ = agent_->update(batch_);
    } catch (const Error& e) {
      throw_error("step ", step_, " (update ", updates_ + 1, "): ", e.what(),
                  "; the last good checkpoint is kept");
    }
    ++updates_;
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

void Trainer::periodic_eval() {
  const EvalResult e = evaluate(agent_->online(), *eval_env_, config_.eval_episodes,
                                kEvalSeedBase + static_cast<std::uint64_t>(evals_) * 1000,
                                config_.eval_epsilon, eval_rng_);
  ++evals_;
  last_eval_ = e.mean;
  // Keep the latest of tied best evaluations: a later network that scores as well has usually
  // seen more data.
  if (e.mean >= best_eval_) {
    best_eval_ = e.mean;
    best_eval_step_ = step_;
    best_->copy_from(agent_->online());
  }
  if (metrics_.is_open())
    metrics_ << "{\"type\":\"eval\",\"step\":" << step_ << ",\"mean\":" << json_number(e.mean)
             << ",\"std\":" << json_number(e.std) << ",\"min\":" << json_number(e.min)
             << ",\"max\":" << json_number(e.max) << ",\"episodes\":" << e.episodes << "}\n"
             << std::flush;  // readers (the live plot) see every evaluation at once
}

void Trainer::log_episode(double ret, std::int64_t length) {
  ++episodes_;
  recent_returns_.push_back(ret);
  if (recent_returns_.size() > kRecentEpisodes) recent_returns_.pop_front();
  if (!metrics_.is_open()) return;
  metrics_ << "{\"type\":\"episode\",\"step\":" << step_ << ",\"episode\":" << episodes_
           << ",\"return\":" << json_number(ret) << ",\"length\":" << length << ",\"epsilon\":"
           << json_number(linear_epsilon(config_.epsilon_start, config_.epsilon_end,
                                         config_.epsilon_steps, step_))
           << ",\"loss\":" << json_number(last_stats_.loss)
           << ",\"mean_q\":" << json_number(last_stats_.mean_q)
           << ",\"grad_norm\":" << json_number(last_stats_.grad_norm) << ",\"updates\":" << updates_
           << "}\n";
}

TrainResult Trainer::finish() {
  TrainResult result;
  // The returned policy: the best periodic evaluation's network, or the last one without
  // periodic evaluation.
  if (config_.eval_interval > 0 && evals_ > 0) agent_->online().copy_from(*best_);
  Rng final_rng = Rng(config_.seed).split(kEvalStream + 100);
  result.final_eval = evaluate(agent_->online(), *eval_env_, config_.final_eval_episodes,
                               kFinalEvalSeedBase, config_.eval_epsilon, final_rng);
  result.best_eval = evals_ > 0 ? best_eval_ : result.final_eval.mean;
  result.best_eval_step = best_eval_step_;
  result.env_steps = step_;
  result.episodes = episodes_;
  result.updates = updates_;
  result.wall_seconds = wall_seconds_;
  result.phases = phases_;
  result.finished = true;
  if (metrics_.is_open())
    metrics_ << "{\"type\":\"summary\",\"env_steps\":" << step_ << ",\"episodes\":" << episodes_
             << ",\"updates\":" << updates_ << ",\"best_eval\":" << json_number(result.best_eval)
             << ",\"best_eval_step\":" << best_eval_step_
             << ",\"final_eval_mean\":" << json_number(result.final_eval.mean)
             << ",\"final_eval_std\":" << json_number(result.final_eval.std)
             << ",\"final_eval_episodes\":" << result.final_eval.episodes << "}\n";
  if (timing_.is_open())
    timing_ << "{\"type\":\"summary\",\"wall\":" << json_number(wall_seconds_)
            << ",\"seconds\":" << phases_json(phases_) << "}\n";
  if (!out_dir_.empty()) {
    CheckpointMeta meta = checkpoint_meta();
    meta.set("final_eval_mean", json_number(result.final_eval.mean));
    meta.set("returned_policy", "best periodic evaluation (" + json_number(result.best_eval) +
                                    " at step " + std::to_string(best_eval_step_) + ")");
    save_checkpoint(out_dir_ + "/model.dqn", agent_->online(), &agent_->optimizer(), meta);
  }
  metrics_.flush();
  timing_.flush();
  return result;
}

// ---------------------------------------------------------------- snapshots
//
// Layout (format 2). Raw little-endian values as rl/serialize.hpp writes them; a str is a u64
// byte count and the bytes.
//
//   magic     "DQNSNAP2"
//   config    str: the run's config text (must equal its config.txt)
//   counters  i64: step, episodes, updates, evals, episode_length, best_eval_step
//   logs      i64: metrics_bytes, timing_bytes (the logs' lengths when the snapshot was written)
//   numbers   f64: episode_return, best_eval, last_eval, wall_seconds, loss, mean_q, grad_norm
//   recent    u64 count (min(episodes, 20)), then f64 returns
//   rngs      act, replay, eval: 4 x u64 each (xoshiro256** states, never all zero)
//   episode   env state str | obs f32 x obs_dim (flat envs) | frames u8 x 4*84*84 (Atari) |
//             episode_start u64 (0 or 1)
//   networks  f32 parameters of online, target, best, each in QNetwork::parameters() order
//   adam      steps i64 | first moments f32 | second moments f32
//   replay    u64 byte count, then ReplayBuffer::save or FrameReplay::save
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

void Trainer::write_snapshot(PieceWriter& w) const {
  w.bytes(kSnapshotMagic, kMagicBytes);
  w.str(config_.to_text());
  for (const std::int64_t v :
       {step_, episodes_, updates_, evals_, episode_length_, best_eval_step_})
    w.i64(v);
  w.i64(metrics_bytes_);
  w.i64(timing_bytes_);
  for (const double v : {episode_return_, best_eval_, last_eval_, wall_seconds_}) w.f64(v);
  w.f64(last_stats_.loss);
  w.f64(last_stats_.mean_q);
  w.f64(last_stats_.grad_norm);
  w.u64(recent_returns_.size());
  for (double x : recent_returns_) w.f64(x);
  for (const Rng* rng : {&act_rng_, &replay_rng_, &eval_rng_})
    for (std::uint64_t word : rng->state()) w.u64(word);
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
  // The replay as one length-prefixed blob, its arrays written from where they lie: a 1M frame
  // replay is 7 GB, and a copy of it in memory would double the run's peak.
  PieceWriter replay;
  if (pixels_)
    frame_replay_->save(replay);
  else
    replay_->save(replay);
  w.u64(replay.size());
  w.append(replay);
  // The checksum continues from piece to piece, so the replay is never joined in memory.
  std::uint32_t crc = 0;
  for (const std::string_view piece : w.views()) crc = crc32(piece.data(), piece.size(), crc);
  w.bytes(&crc, sizeof crc);
}

void Trainer::save_snapshot(const std::string& path) const {
  PieceWriter w;
  write_snapshot(w);
  write_file_atomic(path, w.views());
}

std::string Trainer::snapshot_bytes() const {
  PieceWriter w;
  write_snapshot(w);
  return w.concatenated();
}

void Trainer::load_snapshot(const std::string& path) {
  // Mapped, not read: a copy of a 1M-transition replay would be 7 GB more at resume.
  const MappedFile file(path);
  load_snapshot_bytes(file.bytes(), path);
}

void Trainer::load_snapshot_bytes(std::string_view bytes, const std::string& source) {
  const std::string_view magic = bytes.substr(0, kMagicBytes);
  DQN_CHECK(magic != "DQNSNAP1", "run snapshot '", source,
            "' was written by an older dqn (snapshot format 1, which has no checksum); this build "
            "resumes format 2 only: finish the run with the build that started it, or start the "
            "run again");
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
  DQN_CHECK(config_text == config_.to_text(), "run snapshot '", source,
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
  // ---- The logs' lengths at snapshot time (metrics.jsonl, timing.jsonl): resume truncates
  // ---- the logs to them, so no step appears twice.
  metrics_bytes_ = r.i64();
  timing_bytes_ = r.i64();
  DQN_CHECK(metrics_bytes_ >= 0, "metrics_bytes is ", metrics_bytes_, ", expected >= 0");
  DQN_CHECK(timing_bytes_ >= 0, "timing_bytes is ", timing_bytes_, ", expected >= 0");

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
  const std::pair<const char*, Rng*> rngs[] = {
      {"act", &act_rng_}, {"replay", &replay_rng_}, {"eval", &eval_rng_}};
  for (const auto& [name, rng] : rngs) {
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
  r.expect_end();
}

std::unique_ptr<Trainer> Trainer::from_snapshot_bytes(const Config& config, std::string_view bytes,
                                                      const std::string& source) {
  std::unique_ptr<Trainer> t(new Trainer(config, "", true));
  t->load_snapshot_bytes(bytes, source);
  return t;
}

std::unique_ptr<Trainer> Trainer::resume(const std::string& out_dir) {
  Config config;
  config.load_file(out_dir + "/config.txt");
  std::unique_ptr<Trainer> t(new Trainer(config, out_dir, true));
  t->load_snapshot(out_dir + "/snapshot.bin");
  return t;
}

}  // namespace dqn
