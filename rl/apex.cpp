// rl/apex.cpp: Ape-X's actor, learner, messages, loopback transport and loops (rl/apex.hpp).
#include "rl/apex.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <thread>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "nn/checkpoint.hpp"
#include "rl/serialize.hpp"

namespace dqn {
namespace {

// Rng streams of a distributed run, split from the run's seed: the learner's replay and
// evaluation, and one stream per actor rank (its envs' seeds and its exploration).
constexpr std::uint64_t kLearnerReplayStream = 3, kLearnerInitStream = 4, kLearnerEvalStream = 5;
constexpr std::uint64_t kActorStreamBase = 1000;
constexpr std::uint64_t kEvalSeedBase = 1'000'000'000ULL;  // as the one-process trainer's
constexpr std::uint64_t kFinalEvalSeedBase = 2'000'000'000ULL;
// An idle loop (nothing arrived, nothing to train on) sleeps this long: on a machine whose
// cores the actors share, a spinning learner would take their time.
constexpr auto kIdleSleep = std::chrono::microseconds(100);

void put_u32(std::string& out, std::uint32_t v) {
  out.append(reinterpret_cast<char*>(&v), 4);
}
void put_i64(std::string& out, std::int64_t v) {
  out.append(reinterpret_cast<char*>(&v), 8);
}
void put_f64(std::string& out, double v) {
  out.append(reinterpret_cast<char*>(&v), 8);
}
void put_f32(std::string& out, float v) {
  out.append(reinterpret_cast<char*>(&v), 4);
}
void put_u8(std::string& out, bool v) {
  out.push_back(v ? 1 : 0);
}

std::uint32_t read_u32(ByteReader& r) {
  std::uint32_t v;
  r.bytes(&v, sizeof v);
  return v;
}
float read_f32(ByteReader& r) {
  float v;
  r.bytes(&v, sizeof v);
  return v;
}
bool read_flag(ByteReader& r, const char* what) {
  std::uint8_t v;
  r.bytes(&v, 1);
  DQN_CHECK(v <= 1, what, " is ", static_cast<int>(v), ", expected 0 or 1");
  return v == 1;
}

std::int64_t argmax_first(const float* q, std::int64_t n) {
  std::int64_t best = 0;
  for (std::int64_t a = 1; a < n; ++a)
    if (q[a] > q[best]) best = a;
  return best;
}

}  // namespace

double apex_epsilon(std::int64_t i, std::int64_t actors, double base, double alpha) {
  if (actors <= 1) return base;
  return std::pow(base, 1.0 + alpha * static_cast<double>(i) / static_cast<double>(actors - 1));
}

void check_apex_config(const Config& config) {
  DQN_CHECK(!config.distributional,
            "train --distributed: distributional (C51) is not supported "
            "by the Ape-X actors yet: their priorities are |TD errors| of expected values; drop "
            "--set distributional=true");
  DQN_CHECK(!config.noisy_nets,
            "train --distributed: noisy_nets is not supported: Ape-X's "
            "actors explore with their own epsilons (apex_epsilon); drop --set noisy_nets=true");
  DQN_CHECK(!config.lockstep || config.hold_replay_ratio,
            "train --distributed: lockstep=true "
            "needs hold_replay_ratio=true (a lockstep round trains what the ratio allows)");
  DQN_CHECK(config.max_episodes == 0,
            "train --distributed: max_episodes is not supported (the "
            "actors' episodes end at different times); use total_steps or max_minutes");
}

std::int64_t ApexLayout::observation_bytes(bool final) const {
  if (frames) return frame_size;
  return final ? 0 : 2 * obs_dim * static_cast<std::int64_t>(sizeof(float));
}

ApexMessage apex_message_type(std::string_view message) {
  DQN_CHECK(message.size() >= 4, "Ape-X message of ", message.size(),
            " bytes, expected at least a 4-byte type");
  std::uint32_t type;
  std::memcpy(&type, message.data(), 4);
  DQN_CHECK(type >= 1 && type <= 6, "Ape-X message of unknown type ", type,
            " (expected 1..6): the ranks run different builds of dqn?");
  return static_cast<ApexMessage>(type);
}

ApexExperience decode_experience(std::string_view message, const ApexLayout& layout) {
  ByteReader r(message, "the experience message");
  DQN_CHECK(read_u32(r) == static_cast<std::uint32_t>(ApexMessage::kExperience),
            "expected an experience message");
  ApexExperience e;
  e.actor = r.i64();
  e.seq = r.i64();
  e.env_steps = r.i64();
  e.weights_version = r.i64();
  e.steps_per_second = r.f64();
  DQN_CHECK(e.seq >= 0 && e.env_steps >= 0 && e.weights_version >= 0 &&
                std::isfinite(e.steps_per_second) && e.steps_per_second >= 0,
            "header: seq ", e.seq, ", env_steps ", e.env_steps, ", weights version ",
            e.weights_version, ", steps/s ", e.steps_per_second, ", expected all >= 0");
  const std::uint64_t episodes = r.u64();
  DQN_CHECK(episodes <= message.size() / 24, "episode count ", episodes, " is more than the ",
            message.size(), "-byte message can hold");
  for (std::uint64_t k = 0; k < episodes; ++k) {
    ApexEpisode ep;
    ep.env = r.i64();
    ep.ret = r.f64();
    ep.length = r.i64();
    DQN_CHECK(
        ep.env >= 0 && ep.env < layout.envs_per_actor && std::isfinite(ep.ret) && ep.length >= 1,
        "episode ", k, ": env ", ep.env, ", return ", ep.ret, ", length ", ep.length,
        ", expected env in [0, ", layout.envs_per_actor, "), a finite return, length >= 1");
    e.episodes.push_back(ep);
  }
  const std::uint64_t records = r.u64();
  DQN_CHECK(records <= message.size(), "record count ", records, " is more than the ",
            message.size(), "-byte message can hold");
  e.records.reserve(records);
  for (std::uint64_t k = 0; k < records; ++k) {
    ApexRecord rec;
    std::uint8_t kind;
    r.bytes(&kind, 1);
    DQN_CHECK(kind <= 1, "record ", k, ": kind ", static_cast<int>(kind),
              ", expected 0 (transition) or 1 (final frame)");
    rec.final = kind == 1;
    DQN_CHECK(!rec.final || layout.frames, "record ", k,
              ": a final frame, but this env's observations are not frames");
    rec.env = r.i64();
    DQN_CHECK(rec.env >= 0 && rec.env < layout.envs_per_actor, "record ", k, ": env ", rec.env,
              ", expected 0..", layout.envs_per_actor - 1);
    if (!rec.final) {
      rec.action = r.i64();
      rec.reward = read_f32(r);
      rec.terminated = read_flag(r, "terminated");
      rec.truncated = read_flag(r, "truncated");
      rec.episode_start = read_flag(r, "episode_start");
      rec.priority = read_f32(r);
      DQN_CHECK(rec.action >= 0 && rec.action < layout.num_actions, "record ", k, ": action ",
                rec.action, ", expected 0..", layout.num_actions - 1);
      DQN_CHECK(std::isfinite(rec.reward), "record ", k, ": reward ", rec.reward,
                ", expected a finite number");
      DQN_CHECK(std::isfinite(rec.priority) && (rec.priority >= 0 || rec.priority == -1), "record ",
                k, ": priority ", rec.priority, ", expected >= 0 or -1 (none)");
    }
    const std::string_view obs =
        r.take(static_cast<std::size_t>(layout.observation_bytes(rec.final)));
    if (layout.frames) {
      rec.frame = reinterpret_cast<const std::uint8_t*>(obs.data());
    } else {
      DQN_CHECK(first_non_finite_float(obs) < 0, "record ", k,
                ": an observation holds a value that is not finite");
      rec.obs = obs.data();
      rec.next_obs = obs.data() + layout.obs_dim * sizeof(float);
    }
    e.records.push_back(rec);
  }
  r.expect_end();
  return e;
}

std::string encode_weights(const QNetwork& net, std::int64_t version) {
  std::string out;
  out.reserve(12 + static_cast<std::size_t>(net.parameter_count()) * sizeof(float));
  put_u32(out, static_cast<std::uint32_t>(ApexMessage::kWeights));
  put_i64(out, version);
  for (const auto& p : net.parameters())
    out.append(reinterpret_cast<const char*>(p.variable->value.data()),
               static_cast<std::size_t>(p.variable->value.numel()) * sizeof(float));
  return out;
}

std::int64_t decode_weights(std::string_view message, QNetwork& net) {
  const std::size_t expected = 12 + static_cast<std::size_t>(net.parameter_count()) * sizeof(float);
  DQN_CHECK(message.size() == expected, "weights message of ", message.size(), " bytes, expected ",
            expected, " for ", net.describe(), ": the learner and actor run different networks");
  ByteReader r(message, "the weights message");
  DQN_CHECK(read_u32(r) == static_cast<std::uint32_t>(ApexMessage::kWeights),
            "expected a weights message");
  const std::int64_t version = r.i64();
  DQN_CHECK(version >= 0, "weights version ", version, ", expected >= 0");
  const std::string_view values = message.substr(12);
  const std::int64_t bad = first_non_finite_float(values);
  DQN_CHECK(bad < 0, "weights message: parameter value ", bad, " is not finite");
  for (const auto& p : net.parameters())
    r.floats(p.variable->value.data(), p.variable->value.numel());
  return version;
}

std::string encode_simple(ApexMessage type) {
  std::string out;
  put_u32(out, static_cast<std::uint32_t>(type));
  return out;
}

std::string encode_config(const Config& config, std::int64_t generation) {
  std::string out = encode_simple(ApexMessage::kConfig);
  put_i64(out, generation);
  const std::string text = config.to_text();
  put_i64(out, static_cast<std::int64_t>(text.size()));
  out += text;
  return out;
}

Config decode_config(std::string_view message, std::int64_t& generation) {
  ByteReader r(message, "the config message");
  DQN_CHECK(read_u32(r) == static_cast<std::uint32_t>(ApexMessage::kConfig),
            "expected a config message");
  generation = r.i64();
  const std::string text = r.str();
  r.expect_end();
  return resolve_config("", parse_config_text(text, "the learner's config"));
}

std::string encode_done(std::int64_t actor) {
  std::string out = encode_simple(ApexMessage::kDone);
  put_i64(out, actor);
  return out;
}

// ---------------------------------------------------------------- ApexActor

ApexActor::ApexActor(const Config& config, std::int64_t actor, std::int64_t actors,
                     std::uint64_t generation)
    : config_(config), actor_(actor), actors_(actors) {
  check_apex_config(config_);
  DQN_CHECK(actor >= 1 && actor <= actors, "ApexActor: actor ", actor, " of ", actors,
            ", expected 1..", actors);
  epsilon_ = apex_epsilon(actor - 1, actors, config_.apex_epsilon, config_.apex_alpha);
  const Rng root = Rng(config_.seed).split(kActorStreamBase + static_cast<std::uint64_t>(actor));
  Rng env_rng = root.split(1 + generation);
  act_rng_ = root.split(1'000'000 + generation);
  envs_ = std::make_unique<VectorEnv>(
      VectorEnv::make(config_.env, config_.envs_per_actor, env_options_for(config_)));
  const auto env0 = make_env(config_.env, env_options_for(config_));
  const NetworkSpec spec = network_spec_for(config_, *env0);
  Rng init = root.split(7);  // replaced by the learner's weights before the first action
  net_ = std::make_unique<QNetwork>(spec, init);
  const Shape shape = envs_->single_observation_shape();
  layout_.frames = envs_->observation_is_u8();
  layout_.obs_dim = layout_.frames ? 0 : shape[0];
  layout_.frame_size = layout_.frames ? shape[1] * shape[2] : 0;
  layout_.num_actions = envs_->num_actions();
  layout_.envs_per_actor = config_.envs_per_actor;
  const auto n = static_cast<std::size_t>(config_.envs_per_actor);
  pending_.resize(n);
  episode_start_.assign(n, 1);
  episode_return_.assign(n, 0);
  episode_length_.assign(n, 0);
  actions_.resize(n);
  envs_->reset(env_rng.next_u64());
  message_start_ = now_seconds();
}

void ApexActor::load_weights(std::string_view message) {
  weights_version_ = decode_weights(message, *net_);
}

float ApexActor::max_q(std::int64_t row) const {
  const std::int64_t a = layout_.num_actions;
  const float* q = q_.data() + row * a;
  return q[argmax_first(q, a)];
}

void ApexActor::write_transition(std::int64_t e, const Pending& p, float priority) {
  std::string& out = records_bytes_;
  out.push_back(0);
  put_i64(out, e);
  put_i64(out, p.action);
  put_f32(out, p.reward);
  put_u8(out, p.terminated);
  put_u8(out, p.truncated);
  put_u8(out, p.episode_start);
  put_f32(out, priority);
  if (layout_.frames) {
    out.append(reinterpret_cast<const char*>(p.frame.data()), p.frame.size());
  } else {
    out.append(reinterpret_cast<const char*>(p.obs.data()), p.obs.size() * sizeof(float));
    out.append(reinterpret_cast<const char*>(p.next_obs.data()), p.next_obs.size() * sizeof(float));
  }
  ++records_;
}

// The n-step target of the first pending transition sums the rewards of the whole pending list
// (at most n) and bootstraps from the state after it; the next ones, emitted at an episode's
// end, sum what is left of the list.
void ApexActor::emit(std::int64_t e, std::size_t count, float bootstrap) {
  auto& list = pending_[static_cast<std::size_t>(e)];
  const double gamma = config_.gamma;
  for (std::size_t k = 0; k < count; ++k) {
    double ret = 0, discount = 1;
    for (std::size_t j = 0; j < list.size(); ++j) {
      ret += discount * list[j].reward;
      discount *= gamma;
    }
    const bool cut = list.back().terminated;  // no bootstrap past a terminal transition
    const double target = ret + (cut ? 0.0 : discount * bootstrap);
    const float priority =
        config_.prioritized_replay ? static_cast<float>(std::abs(target - list.front().q_sa)) : -1;
    write_transition(e, list.front(), priority);
    list.pop_front();
  }
}

void ApexActor::step() {
  DQN_CHECK(has_weights(), "ApexActor::step: no weights from the learner yet");
  const std::int64_t n_envs = envs_->size(), a_count = layout_.num_actions;
  const Shape shape = envs_->single_observation_shape();
  if (layout_.frames) {
    net_->infer(View<const std::uint8_t>{envs_->observations_u8(),
                                         Shape{n_envs, shape[0], shape[1], shape[2]}},
                q_);
  } else {
    net_->infer(ConstTensorView{envs_->observations_f32(), Shape{n_envs, shape[0]}}, q_);
  }
  const std::size_t n_step = static_cast<std::size_t>(config_.n_step);
  for (std::int64_t e = 0; e < n_envs; ++e) {
    auto& list = pending_[static_cast<std::size_t>(e)];
    // The oldest pending transition's window of n is complete: this state is its s_{t+n}.
    if (list.size() == n_step) emit(e, 1, max_q(e));
    const float* q = q_.data() + e * a_count;
    const std::int64_t a = act_rng_.uniform_double() < epsilon_ ? act_rng_.uniform_int(0, a_count)
                                                                : argmax_first(q, a_count);
    actions_[static_cast<std::size_t>(e)] = a;
    Pending p;
    p.action = a;
    p.q_sa = q[a];
    p.episode_start = episode_start_[static_cast<std::size_t>(e)] != 0;
    if (layout_.frames) {
      const std::uint8_t* stack = envs_->observations_u8() + e * shape[0] * layout_.frame_size;
      const std::uint8_t* newest = stack + (shape[0] - 1) * layout_.frame_size;
      p.frame.assign(newest, newest + layout_.frame_size);
    } else {
      const float* o = envs_->observations_f32() + e * layout_.obs_dim;
      p.obs.assign(o, o + layout_.obs_dim);
    }
    list.push_back(std::move(p));
  }
  const std::vector<StepResult>& results = envs_->step(actions_.data());
  for (std::int64_t e = 0; e < n_envs; ++e) {
    const auto ue = static_cast<std::size_t>(e);
    const StepResult& r = results[ue];
    auto& list = pending_[ue];
    Pending& p = list.back();
    const bool episode_over = r.terminated || r.truncated;
    const bool life_over = config_.terminal_on_life_loss && r.life_lost && !episode_over;
    p.reward = r.reward;
    p.terminated = r.terminated || (config_.terminal_on_life_loss && r.life_lost);
    p.truncated = r.truncated;
    if (!layout_.frames) {
      const float* next = episode_over ? envs_->final_observation_f32(e)
                                       : envs_->observations_f32() + e * layout_.obs_dim;
      p.next_obs.assign(next, next + layout_.obs_dim);
    }
    episode_return_[ue] += r.raw_reward;
    ++episode_length_[ue];
    if (p.terminated || p.truncated) {
      // The learning episode ended: every pending window closes here. A truncated one
      // bootstraps from the episode's true final observation.
      float bootstrap = 0;
      if (!p.terminated) {
        if (layout_.frames)
          net_->infer(View<const std::uint8_t>{envs_->final_observation_u8(e),
                                               Shape{1, shape[0], shape[1], shape[2]}},
                      final_q_);
        else
          net_->infer(ConstTensorView{envs_->final_observation_f32(e), Shape{1, shape[0]}},
                      final_q_);
        bootstrap = final_q_[argmax_first(final_q_.data(), a_count)];
      }
      emit(e, list.size(), bootstrap);
      if (episode_over && layout_.frames) {  // the final frame, in a slot of its own
        const std::uint8_t* stack = envs_->final_observation_u8(e);
        records_bytes_.push_back(1);
        put_i64(records_bytes_, e);
        records_bytes_.append(
            reinterpret_cast<const char*>(stack + (shape[0] - 1) * layout_.frame_size),
            static_cast<std::size_t>(layout_.frame_size));
        ++records_;
      }
    }
    if (episode_over) {
      episodes_.push_back({e, episode_return_[ue], episode_length_[ue]});
      episode_return_[ue] = 0;
      episode_length_[ue] = 0;
    }
    episode_start_[ue] = episode_over || life_over;
    ++env_steps_;
  }
  ++steps_in_message_;
}

std::string ApexActor::take_message() {
  const double now = now_seconds();
  const std::int64_t steps = steps_in_message_ * envs_->size();
  if (now > message_start_) steps_per_second_ = static_cast<double>(steps) / (now - message_start_);
  message_start_ = now;
  std::string out;
  out.reserve(records_bytes_.size() + 64 + episodes_.size() * 24);
  put_u32(out, static_cast<std::uint32_t>(ApexMessage::kExperience));
  put_i64(out, actor_);
  put_i64(out, seq_++);
  put_i64(out, env_steps_);
  put_i64(out, weights_version_);
  put_f64(out, steps_per_second_);
  put_i64(out, static_cast<std::int64_t>(episodes_.size()));
  for (const ApexEpisode& ep : episodes_) {
    put_i64(out, ep.env);
    put_f64(out, ep.ret);
    put_i64(out, ep.length);
  }
  put_i64(out, records_);
  out += records_bytes_;
  records_bytes_.clear();
  records_ = 0;
  episodes_.clear();
  steps_in_message_ = 0;
  return out;
}

// ---------------------------------------------------------------- ApexLearner

ApexLearner::ApexLearner(const Config& config, std::int64_t actors, const std::string& out_dir,
                         bool overwrite, const std::vector<std::string>& provenance)
    : config_(config), actors_(actors), out_dir_(out_dir) {
  init(overwrite, false, provenance);
}

ApexLearner::ApexLearner(const Config& config, std::int64_t actors, const std::string& out_dir,
                         Resuming)
    : config_(config), actors_(actors), out_dir_(out_dir) {
  init(false, true, {});
}

void ApexLearner::init(bool overwrite, bool resuming, const std::vector<std::string>& provenance) {
  const std::int64_t actors = actors_;
  config_.validate();
  check_apex_config(config_);
  DQN_CHECK(actors >= 1, "train --distributed: no actor ranks (", actors,
            "); start at least 2 processes: mpirun -np 3 dqn train --distributed ...");
  set_num_threads(config_.threads);
  const Rng root(config_.seed);
  replay_rng_ = root.split(kLearnerReplayStream);
  eval_rng_ = root.split(kLearnerEvalStream);
  Rng init_rng = root.split(kLearnerInitStream);
  eval_env_ = make_env(config_.env, env_options_for(config_));
  pixels_ = eval_env_->observation_is_u8();
  const NetworkSpec spec = network_spec_for(config_, *eval_env_);
  const auto& shape = spec.observation_shape;
  layout_.frames = pixels_;
  layout_.obs_dim = pixels_ ? 0 : shape[0];
  layout_.frame_size = pixels_ ? shape[1] * shape[2] : 0;
  layout_.num_actions = spec.num_actions;
  layout_.envs_per_actor = config_.envs_per_actor;

  // The replay: buffer_size slots (at most the run's steps) split evenly over the streams.
  const std::int64_t streams = actors * config_.envs_per_actor;
  const std::int64_t total = std::min(config_.buffer_size, config_.total_steps + streams);
  stream_capacity_ = std::max<std::int64_t>(
      total / streams, pixels_ ? FrameReplay::kStack + 2 + config_.n_step : config_.n_step + 1);
  const std::int64_t per_slot = pixels_ ? FrameReplay::bytes_per_slot(shape[1], shape[2])
                                        : ReplayBuffer::bytes_per_transition(shape[0]);
  const std::int64_t bytes = stream_capacity_ * streams * (per_slot + 4) +
                             Priorities::bytes_for(stream_capacity_ * streams);
  const std::int64_t available = available_memory_bytes();
  DQN_CHECK(config_.allow_swap || available < 0 || bytes <= available,
            "train --distributed: ", "the learner's replay needs ", format_gb(bytes),
            " but the system has ", format_gb(available),
            " available; lower buffer_size (--set buffer_size=N)");
  if (!out_dir_.empty() && !resuming) prepare_run_folder(out_dir_, overwrite);

  agent_ = std::make_unique<DqnAgent>(spec, config_, init_rng);
  best_ = std::make_unique<QNetwork>(spec, init_rng);
  best_->copy_from(agent_->online());
  for (std::int64_t s = 0; s < streams; ++s) {
    if (pixels_) {
      frames_.push_back(std::make_unique<FrameReplay>(stream_capacity_, shape[1], shape[2]));
      frames_.back()->set_n_step(config_.n_step, config_.gamma);
      rings_.push_back(frames_.back().get());
    } else {
      flat_.push_back(std::make_unique<ReplayBuffer>(stream_capacity_, shape[0]));
      flat_.back()->set_n_step(config_.n_step, config_.gamma);
      rings_.push_back(flat_.back().get());
    }
  }
  // Without prioritized replay the tree still picks the slots, every sampleable slot at
  // priority 1 (alpha 0): uniform over all the rings.
  priorities_ = std::make_unique<Priorities>(stream_capacity_ * streams,
                                             config_.prioritized_replay ? config_.per_alpha : 0.0,
                                             config_.per_eps);
  entered_.assign(static_cast<std::size_t>(stream_capacity_ * streams), -1.0f);
  status_.resize(static_cast<std::size_t>(actors));
  next_seq_.assign(static_cast<std::size_t>(actors), 0);
  for (std::int64_t a = 0; a < actors; ++a)
    status_[static_cast<std::size_t>(a)].epsilon =
        apex_epsilon(a, actors, config_.apex_epsilon, config_.apex_alpha);
  next_log_ = config_.log_interval;
  next_target_ = config_.target_update_interval;
  next_eval_ = config_.eval_interval;
  next_checkpoint_ = config_.checkpoint_interval;
  start_ = now_seconds();
  since_time_ = start_;

  if (!out_dir_.empty() && !resuming) {
    std::string text = config_.to_text(/*applicable_only=*/true);
    std::string header;
    for (const std::string& line : provenance) header += "# " + line + "\n";
    header += "# Ape-X: 1 learner and " + std::to_string(actors) + " actors\n";
    text.insert(text.find('\n') + 1, header);
    write_file_atomic(out_dir_ + "/config.txt", text);
    metrics_.open(out_dir_ + "/metrics.jsonl");
    DQN_CHECK(metrics_.good(), "train: cannot write into '", out_dir_,
              "'; check the folder's permissions");
  }
}

ApexLearner::~ApexLearner() = default;

double ApexLearner::seconds() const {
  return now_seconds() - start_;
}

void ApexLearner::log_line(const std::string& json) {
  if (!metrics_.is_open()) return;
  metrics_ << json << "\n";
  DQN_CHECK(metrics_.good(), "train: cannot write ", out_dir_, "/metrics.jsonl (step ", step_,
            "): is the disk full?");
}

bool ApexLearner::sampleable(std::int64_t stream, std::int64_t slot) const {
  return pixels_ ? frames_[static_cast<std::size_t>(stream)]->sampleable(slot)
                 : flat_[static_cast<std::size_t>(stream)]->sampleable(slot);
}

// After one slot of `stream` was written: as Trainer::track_priorities, within the stream's
// ring, a slot entering at the priority its actor measured.
void ApexLearner::track(std::int64_t stream) {
  const std::int64_t c = stream_capacity_, base = stream * c;
  const std::int64_t written = pixels_ ? frames_[static_cast<std::size_t>(stream)]->write_position()
                                       : flat_[static_cast<std::size_t>(stream)]->write_position();
  const std::int64_t newest = (written - 1 + c) % c;
  auto slot = [&](std::int64_t offset) { return ((newest + offset) % c + c) % c; };
  auto refresh = [&](std::int64_t s, bool reset) {
    const float entered = entered_[static_cast<std::size_t>(base + s)];
    if (reset)
      priorities_->reset_slot(base + s, sampleable(stream, s), entered);
    else
      priorities_->refresh_slot(base + s, sampleable(stream, s), entered);
  };
  refresh(slot(0), true);
  const std::int64_t before = pixels_ ? config_.n_step : config_.n_step - 1;
  const std::int64_t after = pixels_ ? FrameReplay::kStack - 1 : 0;
  for (std::int64_t k = 1; k <= before; ++k) refresh(slot(-k), false);
  for (std::int64_t k = 1; k <= after; ++k) refresh(slot(k), false);
}

void ApexLearner::ingest(std::string_view message, int from) {
  ApexExperience e;
  try {
    e = decode_experience(message, layout_);
    DQN_CHECK(e.actor == from, "the message says it is from actor ", e.actor);
    DQN_CHECK(from >= 1 && from <= actors_, "no such actor");
    const std::int64_t expected = next_seq_[static_cast<std::size_t>(from - 1)];
    DQN_CHECK(e.seq == expected, "message ", e.seq, " arrived where ", expected,
              " was expected: messages were lost or reordered");
  } catch (const Error& err) {
    throw_error("train --distributed: rank ", from, " sent a bad message: ", err.what());
  }
  ++next_seq_[static_cast<std::size_t>(from - 1)];
  ++messages_;
  message_bytes_ += static_cast<std::int64_t>(message.size());
  const std::int64_t c = stream_capacity_;
  for (const ApexRecord& r : e.records) {
    const std::int64_t stream = (from - 1) * config_.envs_per_actor + r.env;
    const auto us = static_cast<std::size_t>(stream);
    if (pixels_) {
      FrameReplay& ring = *frames_[us];
      const std::int64_t slot = ring.write_position();
      entered_[static_cast<std::size_t>(stream * c + slot)] = r.final ? -1.0f : r.priority;
      if (r.final)
        ring.add_final(r.frame);
      else
        ring.add(r.frame, r.episode_start, r.action, r.reward, r.terminated, r.truncated);
    } else {
      ReplayBuffer& ring = *flat_[us];
      const std::int64_t slot = ring.write_position();
      entered_[static_cast<std::size_t>(stream * c + slot)] = r.priority;
      // The observations may sit unaligned in the message: copy them out first.
      thread_local std::vector<float> obs, next;
      obs.resize(static_cast<std::size_t>(layout_.obs_dim));
      next.resize(obs.size());
      std::memcpy(obs.data(), r.obs, obs.size() * sizeof(float));
      std::memcpy(next.data(), r.next_obs, next.size() * sizeof(float));
      ring.add(obs.data(), r.action, r.reward, next.data(), r.terminated, r.truncated);
    }
    track(stream);
    if (!r.final) {
      ++step_;
      ++since_step_;
    }
  }
  ApexActorStatus& st = status_[static_cast<std::size_t>(from - 1)];
  st.env_steps = e.env_steps;
  st.weights_version = e.weights_version;
  st.steps_per_second = e.steps_per_second;
  ++st.messages;
  for (const ApexEpisode& ep : e.episodes) {
    ++episodes_;
    ++st.episodes;
    log_line("{\"type\":\"episode\",\"step\":" + std::to_string(step_) +
             ",\"actor\":" + std::to_string(from) + ",\"env\":" + std::to_string(ep.env) +
             ",\"episode\":" + std::to_string(episodes_) + ",\"return\":" + json_number(ep.ret) +
             ",\"length\":" + std::to_string(ep.length) + ",\"epsilon\":" +
             json_number(st.epsilon) + ",\"updates\":" + std::to_string(updates_) + "}");
  }
}

// The replay ratio: a training round of gradient_steps updates per train_freq env steps from
// learning_starts on, as the one-process trainer runs it (updates may run up to one round
// ahead of the data, and the data one round plus one message per actor ahead of the updates).
bool ApexLearner::can_train() const {
  if (step_ < std::max(config_.learning_starts, config_.batch_size) || priorities_->total() <= 0)
    return false;
  if (!config_.hold_replay_ratio) return true;
  const std::int64_t rounds = (step_ - config_.learning_starts) / config_.train_freq + 1;
  return updates_ < rounds * config_.gradient_steps;
}

bool ApexLearner::wants_experience() const {
  if (!config_.hold_replay_ratio || step_ < std::max(config_.learning_starts, config_.batch_size))
    return true;
  const std::int64_t slack =
      config_.train_freq + actors_ * config_.envs_per_actor * config_.actor_send_steps;
  const std::int64_t covered =
      config_.learning_starts + (updates_ / config_.gradient_steps) * config_.train_freq;
  return step_ < covered + slack;
}

bool ApexLearner::finished() const {
  return step_ >= config_.total_steps ||
         (config_.max_minutes > 0 && seconds() >= config_.max_minutes * 60);
}

void ApexLearner::train_one() {
  const std::int64_t n = config_.batch_size;
  batch_.indices.resize(static_cast<std::size_t>(n));
  batch_.weights.resize(static_cast<std::size_t>(n));
  priorities_->sample(batch_.indices.data(), batch_.weights.data(), n,
                      linear_beta(config_.per_beta_start, step_, config_.total_steps), replay_rng_);
  if (pixels_)
    frames_[0]->shape_batch(n, batch_);
  else
    flat_[0]->shape_batch(n, batch_);
  for (std::int64_t b = 0; b < n; ++b) {
    const std::int64_t g = batch_.indices[static_cast<std::size_t>(b)];
    const auto s = static_cast<std::size_t>(g / stream_capacity_);
    if (pixels_)
      frames_[s]->gather_row(g % stream_capacity_, b, batch_);
    else
      flat_[s]->gather_row(g % stream_capacity_, b, batch_);
  }
  if (!config_.prioritized_replay) batch_.weights.clear();  // the plain mean
  UpdateStats stats;
  try {
    stats = agent_->update(batch_);
  } catch (const Error& e) {
    throw_error("train --distributed: update ", updates_ + 1, " (env step ", step_, "): ", e.what(),
                out_dir_.empty() ? std::string()
                                 : "; the last checkpoint is " + out_dir_ + "/checkpoint.dqn");
  }
  if (config_.prioritized_replay)
    priorities_->update(batch_.indices.data(), agent_->abs_td_errors().data(), n);
  ++updates_;
  ++since_updates_;
  since_loss_ += stats.loss;
  since_q_ += stats.mean_q;
  if (config_.target_update_unit == TargetUnit::kUpdates &&
      updates_ % config_.target_update_interval == 0)
    agent_->update_target();
}

void ApexLearner::housekeeping() {
  if (config_.target_update_unit == TargetUnit::kEnvSteps && step_ >= next_target_) {
    // Env-step units: one refresh when the data crosses each multiple of the interval.
    while (next_target_ <= step_) next_target_ += config_.target_update_interval;
    agent_->update_target();
  }
  if (step_ >= next_log_) {
    while (next_log_ <= step_) next_log_ += config_.log_interval;
    const double now = now_seconds(), dt = now - since_time_;
    double lag = 0, actor_rate = 0;
    std::string per_actor;
    for (std::size_t a = 0; a < status_.size(); ++a) {
      const ApexActorStatus& st = status_[a];
      lag += static_cast<double>(updates_ - std::max<std::int64_t>(st.weights_version, 0));
      actor_rate += st.steps_per_second;
      per_actor += std::string(a ? "," : "") + "{\"actor\":" + std::to_string(a + 1) +
                   ",\"env_steps\":" + std::to_string(st.env_steps) +
                   ",\"steps_per_second\":" + json_number(st.steps_per_second) +
                   ",\"epsilon\":" + json_number(st.epsilon) +
                   ",\"weights_version\":" + std::to_string(st.weights_version) +
                   ",\"episodes\":" + std::to_string(st.episodes) + "}";
    }
    const double u = static_cast<double>(since_updates_);
    log_line("{\"type\":\"train\",\"step\":" + std::to_string(step_) +
             ",\"updates\":" + std::to_string(updates_) +
             ",\"td_loss\":" + json_number(since_updates_ ? since_loss_ / u : NAN) +
             ",\"q_values\":" + json_number(since_updates_ ? since_q_ / u : NAN) +
             ",\"updates_per_second\":" + json_number(dt > 0 ? u / dt : 0) +
             ",\"insertions_per_second\":" +
             json_number(dt > 0 ? static_cast<double>(since_step_) / dt : 0) +
             ",\"actor_steps_per_second\":" + json_number(actor_rate) +
             ",\"weight_lag\":" + json_number(lag / static_cast<double>(status_.size())) +
             ",\"wall\":" + json_number(seconds()) + ",\"actors\":[" + per_actor + "]}");
    metrics_.flush();
    since_updates_ = since_step_ = 0;
    since_loss_ = since_q_ = 0;
    since_time_ = now;
  }
  if (config_.eval_interval > 0 && step_ >= next_eval_) {
    while (next_eval_ <= step_) next_eval_ += config_.eval_interval;
    const EvalResult e = evaluate(agent_->online(), *eval_env_, config_.eval_episodes,
                                  kEvalSeedBase + static_cast<std::uint64_t>(evals_) * 1000,
                                  config_.eval_epsilon, eval_rng_);
    ++evals_;
    if (e.mean >= best_eval_) {
      best_eval_ = e.mean;
      best_->copy_from(agent_->online());
    }
    log_line("{\"type\":\"eval\",\"step\":" + std::to_string(step_) +
             ",\"updates\":" + std::to_string(updates_) + ",\"mean\":" + json_number(e.mean) +
             ",\"std\":" + json_number(e.std) + ",\"episodes\":" + std::to_string(e.episodes) +
             ",\"wall\":" + json_number(seconds()) + "}");
    metrics_.flush();
  }
  if (config_.checkpoint_interval > 0 && step_ >= next_checkpoint_) {
    while (next_checkpoint_ <= step_) next_checkpoint_ += config_.checkpoint_interval;
    if (!out_dir_.empty()) save_checkpoints();
  }
}

void ApexLearner::save_checkpoints() {
  CheckpointMeta meta;
  meta.set("env", config_.env);
  meta.set("env_steps", std::to_string(step_));
  meta.set("updates", std::to_string(updates_));
  meta.set("config", config_.to_text());
  save_checkpoint(out_dir_ + "/checkpoint.dqn", agent_->online(), &agent_->optimizer(), meta);
  save_snapshot(out_dir_ + "/snapshot.bin");
}

EvalResult ApexLearner::finish() {
  QNetwork& returned = evals_ > 0 ? *best_ : agent_->online();
  Rng final_rng = Rng(config_.seed).split(kLearnerEvalStream + 100);
  const EvalResult result = evaluate(returned, *eval_env_, config_.final_eval_episodes,
                                     kFinalEvalSeedBase, config_.eval_epsilon, final_rng);
  log_line("{\"type\":\"summary\",\"env_steps\":" + std::to_string(step_) + ",\"episodes\":" +
           std::to_string(episodes_) + ",\"updates\":" + std::to_string(updates_) +
           ",\"evaluations\":" + std::to_string(evals_) +
           ",\"best_eval\":" + json_number(evals_ > 0 ? best_eval_ : result.mean) +
           ",\"final_eval_mean\":" + json_number(result.mean) + ",\"final_eval_std\":" +
           json_number(result.std) + ",\"final_eval_episodes\":" + std::to_string(result.episodes) +
           ",\"messages\":" + std::to_string(messages_) + ",\"message_bytes\":" +
           std::to_string(message_bytes_) + ",\"wall\":" + json_number(seconds()) + "}");
  metrics_.flush();
  if (!out_dir_.empty()) {
    CheckpointMeta meta;
    meta.set("env", config_.env);
    meta.set("env_steps", std::to_string(step_));
    meta.set("updates", std::to_string(updates_));
    meta.set("config", config_.to_text());
    meta.set("final_eval_mean", json_number(result.mean));
    save_checkpoint(out_dir_ + "/model.dqn", returned, nullptr, meta);
    save_checkpoint(out_dir_ + "/last.dqn", agent_->online(), &agent_->optimizer(), meta);
    // Finished: model.dqn without snapshot.bin marks it (as a one-process run's folder).
    std::error_code ec;
    std::filesystem::remove(out_dir_ + "/snapshot.bin", ec);
    DQN_CHECK(!ec, "train --distributed: the job finished but its snapshot ", out_dir_,
              "/snapshot.bin could not be deleted (", ec.message(), "); delete it by hand");
  }
  return result;
}

void ApexLearner::pause() {
  if (!out_dir_.empty()) save_snapshot(out_dir_ + "/snapshot.bin");
}

// ---------------------------------------------------------------- learner snapshots
//
// Layout (raw little-endian values as rl/serialize.hpp writes them; str: u64 count + bytes):
//   magic      "DQNAPEX1"
//   config     str: the job's config text, applicable keys only (must equal its config.txt's)
//   actors     i64 (a resumed job must have as many)
//   counters   i64: step, updates, episodes, evals, messages, message_bytes, next_log,
//              next_eval, next_checkpoint, next_target, metrics_bytes
//   numbers    f64: best_eval, seconds (the job's wall time so far)
//   rngs       replay, eval: 4 x u64 each
//   networks   f32 parameters of online, target, best
//   adam       steps i64 | first moments f32 | second moments f32
//   rings      i64 streams, i64 stream capacity, then per stream u64 bytes + the ring's save
//   priorities u64 bytes + Priorities::save
//   entered    f32 per slot of every ring: the |TD error| its actor sent (-1: none)
//   trailer    crc32 u32 over every byte before it
// The loader checks the checksum first, then each field; the rings and the tree check
// themselves (ReplayBuffer/FrameReplay/Priorities::load).
namespace {
constexpr char kApexMagic[] = "DQNAPEX1";
}  // namespace

void ApexLearner::write_snapshot(PieceWriter& w) const {
  w.bytes(kApexMagic, 8);
  w.str(config_.to_text(/*applicable_only=*/true));
  w.i64(actors_);
  for (const std::int64_t v :
       {step_, updates_, episodes_, evals_, messages_, message_bytes_, next_log_, next_eval_,
        next_checkpoint_, next_target_, metrics_bytes_})
    w.i64(v);
  w.f64(best_eval_);
  w.f64(seconds());
  for (const Rng* rng : {&replay_rng_, &eval_rng_})
    for (std::uint64_t word : rng->state()) w.u64(word);
  for (const QNetwork* net : {&agent_->online(), &agent_->target(), best_.get()})
    for (const auto& p : net->parameters())
      w.floats(p.variable->value.data(), p.variable->value.numel());
  const Adam& adam = agent_->optimizer();
  w.i64(adam.steps());
  for (const Tensor& m : adam.first_moments()) w.floats(m.data(), m.numel());
  for (const Tensor& v : adam.second_moments()) w.floats(v.data(), v.numel());
  w.i64(streams());
  w.i64(stream_capacity_);
  for (std::int64_t k = 0; k < streams(); ++k) {
    PieceWriter ring;
    if (pixels_)
      frames_[static_cast<std::size_t>(k)]->save(ring);
    else
      flat_[static_cast<std::size_t>(k)]->save(ring);
    w.u64(ring.size());
    w.append(ring);
  }
  PieceWriter tree;
  priorities_->save(tree);
  w.u64(tree.size());
  w.append(tree);
  w.ref(entered_.data(), entered_.size() * sizeof(float));
  std::uint32_t crc = 0;
  for (const std::string_view piece : w.views()) crc = crc32(piece.data(), piece.size(), crc);
  w.bytes(&crc, sizeof crc);
}

std::string ApexLearner::snapshot_bytes() const {
  PieceWriter w;
  write_snapshot(w);
  return w.concatenated();
}

void ApexLearner::save_snapshot(const std::string& path) {
  if (metrics_.is_open()) {
    metrics_.flush();
    metrics_bytes_ = static_cast<std::int64_t>(metrics_.tellp());
  }
  PieceWriter w;
  write_snapshot(w);
  write_file_atomic(path, w.views());
}

void ApexLearner::read_snapshot(std::string_view bytes, const std::string& source) {
  const std::string damaged =
      "; the snapshot is damaged (a disk or copy error, or an edit) and cannot be resumed: "
      "restore the run folder from a backup, or start the job again";
  DQN_CHECK(bytes.size() >= 12 && bytes.substr(0, 8) == std::string_view(kApexMagic, 8), "'",
            source, "' is not an Ape-X learner snapshot (expected it to start with \"", kApexMagic,
            "\")");
  const std::size_t end = bytes.size() - 4;
  std::uint32_t stored = 0;
  std::memcpy(&stored, bytes.data() + end, 4);
  DQN_CHECK(stored == crc32(bytes.data(), end), "Ape-X snapshot '", source, "': checksum mismatch",
            damaged);
  ByteReader r(bytes.substr(8, end - 8), "the Ape-X snapshot");
  try {
    DQN_CHECK(r.str() == config_.to_text(true),
              "it was written by a job with another config "
              "than this one's config.txt");
    const std::int64_t actors = r.i64();
    DQN_CHECK(actors == actors_, "it was written by a job with ", actors, " actors, this one has ",
              actors_, ": resume with mpirun -np ", actors + 1);
    for (std::int64_t* v :
         {&step_, &updates_, &episodes_, &evals_, &messages_, &message_bytes_, &next_log_,
          &next_eval_, &next_checkpoint_, &next_target_, &metrics_bytes_})
      *v = r.i64();
    DQN_CHECK(step_ >= 0 && step_ <= config_.total_steps + actors_ * config_.envs_per_actor *
                                                               config_.actor_send_steps,
              "step is ", step_, ", expected 0..total_steps (", config_.total_steps,
              ") and a "
              "message");
    DQN_CHECK(updates_ >= 0 && episodes_ >= 0 && evals_ >= 0 && messages_ >= 0 &&
                  message_bytes_ >= 0 && metrics_bytes_ >= 0 && next_log_ > 0 && next_eval_ >= 0 &&
                  next_checkpoint_ >= 0 && next_target_ > 0,
              "a counter is negative");
    best_eval_ = r.f64();
    seconds_before_ = r.f64();
    DQN_CHECK(std::isfinite(seconds_before_) && seconds_before_ >= 0, "the wall time is ",
              seconds_before_, ", expected a finite number >= 0");
    for (Rng* rng : {&replay_rng_, &eval_rng_}) {
      Rng::State state{};
      for (auto& word : state) word = r.u64();
      DQN_CHECK(state[0] | state[1] | state[2] | state[3], "an Rng state is all zero");
      rng->set_state(state);
    }
    for (QNetwork* net : {&agent_->online(), &agent_->target(), best_.get()})
      for (const auto& p : net->parameters()) {
        Tensor& t = p.variable->value;
        r.floats(t.data(), t.numel());
        for (std::int64_t i = 0; i < t.numel(); ++i)
          DQN_CHECK(std::isfinite(t[i]), p.name, "[", i, "] is ", t[i], ", expected finite");
      }
    Adam& adam = agent_->optimizer();
    const std::int64_t steps = r.i64();
    DQN_CHECK(steps == updates_, "Adam's step count is ", steps, ", expected the updates (",
              updates_, ")");
    adam.set_steps(steps);
    for (auto* moments : {&adam.first_moments(), &adam.second_moments()})
      for (Tensor& m : *moments) r.floats(m.data(), m.numel());
    DQN_CHECK(r.i64() == streams() && r.i64() == stream_capacity_,
              "the rings' count or capacity differ from the ones this config makes");
    for (std::int64_t k = 0; k < streams(); ++k) {
      const std::string_view blob = r.take(static_cast<std::size_t>(r.u64()));
      if (pixels_)
        frames_[static_cast<std::size_t>(k)]->load(blob, layout_.num_actions);
      else
        flat_[static_cast<std::size_t>(k)]->load(blob, layout_.num_actions);
    }
    const std::string_view tree = r.take(static_cast<std::size_t>(r.u64()));
    priorities_->load(tree, [&](std::int64_t g) {
      return sampleable(g / stream_capacity_, g % stream_capacity_);
    });
    r.floats(entered_.data(), static_cast<std::int64_t>(entered_.size()));
    for (std::size_t i = 0; i < entered_.size(); ++i)
      DQN_CHECK(std::isfinite(entered_[i]) && (entered_[i] >= 0 || entered_[i] == -1),
                "the entered priority of slot ", i, " is ", entered_[i], ", expected >= 0 or -1");
    r.expect_end();
  } catch (const Error& e) {
    throw_error("Ape-X snapshot '", source, "': ", e.what(), damaged);
  }
  generation_ = step_;
}

std::unique_ptr<ApexLearner> ApexLearner::from_snapshot_bytes(const Config& config,
                                                              std::int64_t actors,
                                                              std::string_view bytes) {
  std::unique_ptr<ApexLearner> l(new ApexLearner(config, actors, "", Resuming{}));
  l->read_snapshot(bytes, "<bytes>");
  return l;
}

// After a ring's newest slot changed without a write (a cut): the slots whose windows or
// stacks reach it follow their new sampleability.
void ApexLearner::refresh_stream_tail(std::int64_t stream) {
  const std::int64_t c = stream_capacity_, base = stream * c;
  const std::int64_t written = pixels_ ? frames_[static_cast<std::size_t>(stream)]->write_position()
                                       : flat_[static_cast<std::size_t>(stream)]->write_position();
  for (std::int64_t k = 1; k <= config_.n_step + 1; ++k) {
    const std::int64_t slot = ((written - k) % c + c) % c;
    priorities_->refresh_slot(base + slot, sampleable(stream, slot),
                              entered_[static_cast<std::size_t>(base + slot)]);
  }
}

void ApexLearner::cut_streams() {
  for (std::int64_t k = 0; k < streams(); ++k) {
    const bool changed = pixels_ ? frames_[static_cast<std::size_t>(k)]->truncate_tail()
                                 : flat_[static_cast<std::size_t>(k)]->truncate_tail();
    if (changed) refresh_stream_tail(k);
  }
}

std::unique_ptr<ApexLearner> ApexLearner::resume(const std::string& out_dir, std::int64_t actors) {
  DQN_CHECK(std::filesystem::is_directory(out_dir), "resume: '", out_dir,
            "' is not a run folder; give the folder the distributed job wrote into (its --out)");
  const std::string snapshot = out_dir + "/snapshot.bin";
  if (!std::filesystem::exists(snapshot)) {
    DQN_CHECK(!std::filesystem::exists(out_dir + "/model.dqn"), "resume: the job in '", out_dir,
              "' has finished (its policy is model.dqn); there is nothing to resume");
    throw_error("resume: '", snapshot,
                "' does not exist: the job stopped before its first snapshot (one is written at "
                "each checkpoint_interval and on Ctrl-C), so it cannot be resumed");
  }
  const Config config = load_config_file(out_dir + "/config.txt");
  std::unique_ptr<ApexLearner> l(new ApexLearner(config, actors, out_dir, Resuming{}));
  const MappedFile file(snapshot);
  l->read_snapshot(file.bytes(), snapshot);
  l->cut_streams();
  // metrics.jsonl back to the snapshot: lines written after it (by a job killed before its
  // next snapshot) describe data this job no longer has.
  const std::string path = out_dir + "/metrics.jsonl";
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  DQN_CHECK(!ec && size >= static_cast<std::uintmax_t>(l->metrics_bytes_), "resume: ", path,
            " is shorter than when the snapshot was taken (", l->metrics_bytes_,
            " bytes); the log was edited or lost. Restore it, or start the job again");
  std::filesystem::resize_file(path, static_cast<std::uintmax_t>(l->metrics_bytes_), ec);
  DQN_CHECK(!ec, "resume: cannot cut ", path, " back: ", ec.message());
  l->metrics_.open(path, std::ios::app);
  DQN_CHECK(l->metrics_.good(), "resume: cannot write ", path);
  l->log_line("{\"type\":\"resume\",\"step\":" + std::to_string(l->step_) +
              ",\"updates\":" + std::to_string(l->updates_) + "}");
  return l;
}

// ---------------------------------------------------------------- loopback transport

class LoopbackHub::Endpoint : public Transport {
 public:
  Endpoint(LoopbackHub& hub, int rank) : hub_(hub), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return static_cast<int>(hub_.queues_.size()); }
  void send(int to, std::string_view message) override {
    const std::lock_guard<std::mutex> lock(hub_.mutex_);
    hub_.queues_[static_cast<std::size_t>(to)].push_back({rank_, std::string(message)});
  }
  int pending_sends(int) override { return 0; }  // delivered into the queue at once
  bool receive(int from, int& source, std::string& out) override {
    const std::lock_guard<std::mutex> lock(hub_.mutex_);
    auto& q = hub_.queues_[static_cast<std::size_t>(rank_)];
    for (auto it = q.begin(); it != q.end(); ++it) {
      if (from >= 0 && it->from != from) continue;
      source = it->from;
      out = std::move(it->bytes);
      q.erase(it);
      return true;
    }
    return false;
  }

 private:
  LoopbackHub& hub_;
  int rank_;
};

LoopbackHub::LoopbackHub(int ranks) : queues_(static_cast<std::size_t>(ranks)) {
  for (int r = 0; r < ranks; ++r) endpoints_.push_back(std::make_unique<Endpoint>(*this, r));
}

LoopbackHub::~LoopbackHub() = default;

Transport& LoopbackHub::endpoint(int rank) {
  return *endpoints_[static_cast<std::size_t>(rank)];
}

// ---------------------------------------------------------------- the loops

void run_actor(Transport& t, const std::atomic<bool>* stop) {
  const int rank = t.rank();
  std::string message;
  int source = 0;
  // The job's config and generation come first, from the learner.
  while (!t.receive(0, source, message)) std::this_thread::sleep_for(kIdleSleep);
  if (apex_message_type(message) == ApexMessage::kStop) {  // the learner failed to start
    t.send(0, encode_done(rank));
    while (t.pending_sends(0) > 0) std::this_thread::sleep_for(kIdleSleep);
    return;
  }
  DQN_CHECK(apex_message_type(message) == ApexMessage::kConfig, "actor ", rank,
            ": expected the job's config first");
  std::int64_t generation = 0;
  const Config config = decode_config(message, generation);
  ApexActor actor(config, rank, t.size() - 1, static_cast<std::uint64_t>(generation));
  bool stopping = false;
  // Everything from the learner: weights (the newest wins), acks, the stop.
  auto drain = [&](bool wait_reply) {
    bool replied = false;
    while (true) {
      if (!t.receive(0, source, message)) {
        if (!wait_reply || replied || stopping) return;
        std::this_thread::sleep_for(kIdleSleep);
        continue;
      }
      switch (apex_message_type(message)) {
        case ApexMessage::kWeights:
          actor.load_weights(message);
          replied = true;
          break;
        case ApexMessage::kAck:
          replied = true;
          break;
        case ApexMessage::kStop:
          stopping = true;
          break;
        default:
          throw_error("actor ", rank, ": unexpected message type from the learner");
      }
    }
  };
  while (!actor.has_weights() && !stopping) drain(true);  // the learner's initial weights
  while (!stopping) {
    drain(false);
    if (stopping) break;
    if (stop && stop->load()) {  // Ctrl-C: wait for the learner, which got it too
      std::this_thread::sleep_for(kIdleSleep);
      continue;
    }
    actor.step();
    if (!actor.message_ready()) continue;
    // Two messages in flight at most: beyond that the learner is behind, and waiting here is
    // what keeps the replay ratio.
    while (t.pending_sends(0) >= 2 && !stopping) {
      drain(false);
      std::this_thread::sleep_for(kIdleSleep);
    }
    if (stopping) break;
    t.send(0, actor.take_message());
    if (config.lockstep) drain(true);
  }
  t.send(0, encode_done(rank));
  while (t.pending_sends(0) > 0) {  // the learner drains until every actor is done
    while (t.receive(0, source, message)) {
    }
    std::this_thread::sleep_for(kIdleSleep);
  }
}

EvalResult run_learner(Transport& t, ApexLearner& learner, const std::atomic<bool>* stop) {
  const int actors = t.size() - 1;
  DQN_CHECK(actors == learner.actors(), "train --distributed: the learner was built for ",
            learner.actors(), " actors, the job has ", actors);
  // The version each actor was last sent; publishing sends to every actor behind the latest
  // publication whose previous weights have left (the others get the newest when they have).
  std::vector<std::int64_t> sent_version(static_cast<std::size_t>(actors + 1), -1);
  std::int64_t last_published = 0;
  auto publish = [&](bool force) {
    std::string weights;
    for (int a = 1; a <= actors; ++a) {
      if (sent_version[static_cast<std::size_t>(a)] >= last_published &&
          sent_version[static_cast<std::size_t>(a)] >= 0)
        continue;
      if (!force && t.pending_sends(a) > 0) continue;
      if (weights.empty()) weights = learner.weights_message();
      t.send(a, weights);
      sent_version[static_cast<std::size_t>(a)] = learner.updates();
    }
  };
  for (int a = 1; a <= actors; ++a)
    t.send(a, encode_config(learner.config(), learner.generation()));
  publish(true);
  std::string message;
  int source = 0;
  std::vector<bool> done(static_cast<std::size_t>(actors + 1), false);
  int done_count = 0;
  auto handle = [&](int from, bool take) {
    const ApexMessage type = apex_message_type(message);
    if (type == ApexMessage::kDone) {
      if (!done[static_cast<std::size_t>(from)]) ++done_count;
      done[static_cast<std::size_t>(from)] = true;
      return;
    }
    DQN_CHECK(type == ApexMessage::kExperience, "train --distributed: rank ", from,
              " sent a message of type ", static_cast<int>(type), " to the learner");
    if (take) learner.ingest(message, from);
  };
  const std::int64_t param_sync = learner.param_sync_interval();
  const bool lockstep = learner.lockstep();
  bool stopped = false;
  while (!learner.finished() && !(stop && stop->load())) {
    bool busy = false;
    if (lockstep) {
      // A round: one message from each actor, in rank order; then the updates the ratio allows;
      // then an answer to each (weights when they changed by param_sync_interval, else an ack).
      for (int a = 1; a <= actors; ++a) {
        while (!t.receive(a, source, message)) {
          if (stop && stop->load()) break;
          std::this_thread::sleep_for(kIdleSleep);
        }
        if (stop && stop->load()) break;
        handle(a, true);
      }
      if (stop && stop->load()) break;
      while (learner.can_train()) learner.train_one();
      const bool due = learner.updates() - last_published >= param_sync;
      if (due) last_published = learner.updates() - learner.updates() % param_sync;
      for (int a = 1; a <= actors; ++a) {
        if (due) {
          t.send(a, learner.weights_message());
          sent_version[static_cast<std::size_t>(a)] = learner.updates();
        } else {
          t.send(a, encode_simple(ApexMessage::kAck));
        }
      }
      learner.housekeeping();
      continue;
    }
    // Asynchronous: take what has arrived while the ratio wants data, train while it allows.
    int taken = 0;
    while (learner.wants_experience() && taken < 4 * actors && t.receive(-1, source, message)) {
      handle(source, true);
      ++taken;
      busy = true;
    }
    if (learner.can_train()) {
      learner.train_one();
      busy = true;
      if (learner.updates() - last_published >= param_sync) last_published = learner.updates();
    }
    // The latest publication goes to every actor behind it whose line is free: an actor whose
    // previous weights are still in flight is skipped now and gets the newest later.
    publish(false);
    learner.housekeeping();
    if (!busy) std::this_thread::sleep_for(kIdleSleep);
  }
  stopped = !learner.finished();
  // Stop every actor, then take (and drop) what they still send until each says it is done, so
  // no message is left in flight when the ranks exit.
  for (int a = 1; a <= actors; ++a) t.send(a, encode_simple(ApexMessage::kStop));
  while (done_count < actors) {
    if (t.receive(-1, source, message))
      handle(source, false);
    else
      std::this_thread::sleep_for(kIdleSleep);
  }
  while (true) {
    bool any = false;
    for (int a = 1; a <= actors; ++a) any = any || t.pending_sends(a) > 0;
    if (!any) break;
    std::this_thread::sleep_for(kIdleSleep);
  }
  if (stopped) {
    learner.pause();
    EvalResult r;
    r.interrupted = true;
    return r;
  }
  return learner.finish();
}

}  // namespace dqn
