// rl/apex.hpp: Ape-X (Horgan et al. 2018), distributed prioritized experience replay: many
// actors generate experience with copies of the network, one learner trains from a shared
// prioritized replay and sends its weights back.
//
//   actor i (of N), each message:        learner, in a loop:
//     act on envs_per_actor envs in one    take the actors' messages: insert the transitions
//     batch, eps_i = 0.4^(1+7i/(N-1))        with the actors' priorities (evicting the oldest)
//     keep each env's last n transitions   train on prioritized minibatches, new priorities
//     until its n-step window is known,    every param_sync_interval updates, publish the
//     then its priority |y - Q(s,a)|         weights; each actor picks up the newest one
//     send actor_send_steps steps at once  log every actor's episodes, rates and weight lag
//
// The pieces, separated so that each can be tested without MPI:
// - ApexActor: the envs, the network copy, the n-step windows and the message encoding;
// - ApexLearner: the replay (one ring per actor env, under one priority tree), the agent, the
//   replay-ratio control, the logs and checkpoints;
// - Transport: messages between ranks (rank 0 the learner). MpiTransport (rl/apex_mpi.hpp, in
//   the optional MPI build) runs them across processes and machines; LoopbackHub runs the same
//   loops as threads of one process, which the default build's tests use.
// - run_actor / run_learner: the loops, identical over either transport.
//
// Design choices, each a trap avoided:
// - One replay ring per actor env, not one shared ring: the frame replay rebuilds stacks and
//   n-step windows from consecutive slots (rl/frame_replay.hpp), which interleaved streams from
//   many envs would break. The rings sit side by side under one Priorities tree, so sampling is
//   over all of them, by priority, exactly as over one buffer; each ring evicts its own oldest.
// - Frames are sent once, as the frame replay stores them: a transition carries the newest frame
//   of s_t (7,056 bytes), an episode's end its final frame; stacks are rebuilt by the learner.
// - An actor's priority for the transition at t needs Q(s_{t+n}), which it computes anyway when
//   it acts at t+n, so a transition waits in its env's window for n steps (or its episode's end)
//   and then costs nothing more. The actor has one network, so its target is
//   R + gamma^n max_a Q(s_{t+n}, a): Ape-X's actors do the same (Horgan et al. 2018, Sec. 3).
// - The learner never waits for an actor and an actor never waits for the learner except
//   where the replay ratio says it must: weights go out with non-blocking sends, a send still
//   in flight to one actor skips that actor until it completes (it then gets the newest).
// - lockstep (a config key): rounds in rank order, so the run is deterministic; see run_learner.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/rng.hpp"
#include "envs/vector_env.hpp"
#include "nn/optim.hpp"
#include "nn/qnetwork.hpp"
#include "rl/agent.hpp"
#include "rl/config.hpp"
#include "rl/frame_replay.hpp"
#include "rl/prioritized.hpp"
#include "rl/replay.hpp"
#include "rl/trainer.hpp"

namespace dqn {

// eps_i = base^(1 + alpha i / (N - 1)) for actor i of N (0-based); a single actor gets base.
double apex_epsilon(std::int64_t i, std::int64_t actors, double base, double alpha);

// Refuses what a distributed run does not do yet, with the reason and the fix.
void check_apex_config(const Config& config);

// ---------------------------------------------------------------- messages
//
// Every message starts with a u32 type. Actor -> learner:
//   kExperience: u32 type | i64 actor (1-based rank) | i64 seq (0, 1, ... per actor)
//     | i64 env_steps (the actor's total) | i64 weights_version | f64 steps_per_second
//     | u64 episodes, each: i64 env | f64 return | i64 length
//     | u64 records, each: u8 kind (0 transition, 1 final frame) | i64 env | then
//         transition: i64 action | f32 reward | u8 terminated | u8 truncated | u8 episode_start
//                     | f32 priority (|TD error|; -1: none measured) | observation
//         final:      observation (frames only: the episode's last frame)
//       observation: frame envs the newest frame (H*W bytes); flat envs obs and next_obs
//       (2 x obs_dim f32)
//   kDone: u32 type | i64 actor: the actor has stopped and sends nothing more.
// Learner -> actor:
//   kWeights: u32 type | i64 version (the learner's update count) | f32 parameters, in
//     QNetwork::parameters() order
//   kAck (lockstep: the round is done, no new weights) and kStop: the type alone.
//   kConfig (first, to every actor): u32 type | i64 generation | u64 length | the run's config
//     text. Actors take the job's config from the learner, never from their own command line,
//     so no actor can run with other settings (and `dqn resume DIR` needs the folder on the
//     learner's machine only).
enum class ApexMessage : std::uint32_t { kExperience = 1, kDone, kWeights, kAck, kStop, kConfig };

// The type of a message, checked: throws for a message too short or of an unknown type.
ApexMessage apex_message_type(std::string_view message);

struct ApexEpisode {
  std::int64_t env = 0;
  double ret = 0;
  std::int64_t length = 0;
};

// A kExperience message, decoded. The observations point into the message's bytes.
struct ApexRecord {
  bool final = false;
  std::int64_t env = 0, action = 0;
  float reward = 0, priority = -1;
  bool terminated = false, truncated = false, episode_start = false;
  const std::uint8_t* frame = nullptr;             // frames: H*W bytes (unaligned is fine)
  const char *obs = nullptr, *next_obs = nullptr;  // flat: obs_dim floats each (unaligned)
};
struct ApexExperience {
  std::int64_t actor = 0, seq = 0, env_steps = 0, weights_version = 0;
  double steps_per_second = 0;
  std::vector<ApexEpisode> episodes;
  std::vector<ApexRecord> records;
};

// What a message of one actor env's stream must look like: the observation layout, the action
// count and the env count. decode checks every field against it and throws dqn::Error naming
// the first that fails (the learner then names the actor).
struct ApexLayout {
  bool frames = false;
  std::int64_t obs_dim = 0;     // flat envs
  std::int64_t frame_size = 0;  // frame envs: H*W
  std::int64_t num_actions = 0, envs_per_actor = 0;
  std::int64_t observation_bytes(bool final) const;
};
ApexExperience decode_experience(std::string_view message, const ApexLayout& layout);

// kWeights: the message for a network, and loading one into a network of the same spec.
std::string encode_weights(const QNetwork& net, std::int64_t version);
// Returns the version; throws when the parameter count differs or a value is not finite.
std::int64_t decode_weights(std::string_view message, QNetwork& net);
std::string encode_simple(ApexMessage type);                               // kAck, kStop
std::string encode_done(std::int64_t actor);                               // kDone
std::string encode_config(const Config& config, std::int64_t generation);  // kConfig
// The config of a kConfig message, and the generation its actor starts (ApexActor).
Config decode_config(std::string_view message, std::int64_t& generation);

// ---------------------------------------------------------------- the actor

class ApexActor {
 public:
  // actor: 1-based rank of N actors. Every actor is seeded from the run's seed and its rank;
  // `generation` (the learner's env step when the job started or resumed) moves a resumed job's
  // actors onto fresh episodes instead of replaying the first ones.
  ApexActor(const Config& config, std::int64_t actor, std::int64_t actors,
            std::uint64_t generation = 0);

  // One batched step of every env: act, step, queue the transitions whose windows closed.
  void step();
  // actor_send_steps batched steps are gathered: take_message() returns them encoded.
  bool message_ready() const { return steps_in_message_ >= config_.actor_send_steps; }
  std::string take_message();
  // A kWeights message: the network the actor acts with from now on.
  void load_weights(std::string_view message);
  bool has_weights() const { return weights_version_ >= 0; }

  double epsilon() const { return epsilon_; }
  std::int64_t env_steps() const { return env_steps_; }
  std::int64_t weights_version() const { return weights_version_; }
  const ApexLayout& layout() const { return layout_; }
  QNetwork& network() { return *net_; }

 private:
  // A transition waiting for the n-step window that sets its priority.
  struct Pending {
    std::int64_t action = 0;
    float reward = 0, q_sa = 0;
    bool terminated = false, truncated = false, episode_start = false;
    std::vector<std::uint8_t> frame;   // frames: the newest frame of s_t
    std::vector<float> obs, next_obs;  // flat
  };
  // Emits the first `count` pending transitions of env e; the window of each runs to the end
  // of the pending list (or n transitions) and bootstraps from `bootstrap` (0 past a terminal).
  void emit(std::int64_t e, std::size_t count, float bootstrap);
  void write_transition(std::int64_t e, const Pending& p, float priority);
  float max_q(std::int64_t row) const;

  Config config_;
  std::int64_t actor_, actors_;
  double epsilon_;
  std::unique_ptr<VectorEnv> envs_;
  std::unique_ptr<QNetwork> net_;
  ApexLayout layout_;
  Rng act_rng_;
  Tensor q_, final_q_;
  std::vector<std::int64_t> actions_;
  std::vector<std::deque<Pending>> pending_;
  std::vector<std::uint8_t> episode_start_;
  std::vector<double> episode_return_;
  std::vector<std::int64_t> episode_length_;
  std::int64_t env_steps_ = 0, weights_version_ = -1, seq_ = 0, steps_in_message_ = 0;
  std::int64_t records_ = 0;
  std::string records_bytes_;  // the encoded records of the message being gathered
  std::vector<ApexEpisode> episodes_;
  double message_start_ = 0, steps_per_second_ = 0;
};

// ---------------------------------------------------------------- the learner

struct ApexActorStatus {
  std::int64_t env_steps = 0, weights_version = -1, messages = 0, episodes = 0;
  double steps_per_second = 0, epsilon = 0;
};

class ApexLearner {
 public:
  // Writes to out_dir ("" writes nothing) as Trainer does: config.txt, metrics.jsonl,
  // timing.jsonl, checkpoint.dqn every checkpoint_interval steps, model.dqn and last.dqn at
  // the end. `actors` is the number of actor ranks.
  ApexLearner(const Config& config, std::int64_t actors, const std::string& out_dir,
              bool overwrite = false, const std::vector<std::string>& provenance = {});
  ~ApexLearner();
  // Continues the job saved in out_dir/snapshot.bin (written every checkpoint_interval env
  // steps and on Ctrl-C), its metrics.jsonl cut back to the snapshot. The job must have the
  // same number of actors. The actors start new episodes, so every ring is cut where its
  // stream stopped (ReplayBuffer/FrameReplay::truncate_tail).
  static std::unique_ptr<ApexLearner> resume(const std::string& out_dir, std::int64_t actors);
  // The learner's whole state (format in apex.cpp), and a learner rebuilt from it with no
  // folder (for tests); from_snapshot_bytes does not cut the rings.
  std::string snapshot_bytes() const;
  void save_snapshot(const std::string& path);
  static std::unique_ptr<ApexLearner> from_snapshot_bytes(const Config& config, std::int64_t actors,
                                                          std::string_view bytes);
  // Cuts every ring at its newest transition (what resume does after loading).
  void cut_streams();
  // The generation the actors of this job start: 0, or the env step a resumed job resumed at.
  std::int64_t generation() const { return generation_; }
  // After run_learner stopped early: saves the snapshot (when the learner has a folder).
  void pause();

  // Inserts an actor's kExperience message; throws dqn::Error naming the actor and the field
  // when it is malformed (nothing of it is inserted then).
  void ingest(std::string_view message, int from);
  // Whether the replay ratio lets the learner train now / take more experience now.
  bool can_train() const;
  bool wants_experience() const;
  void train_one();
  std::string weights_message() const { return encode_weights(agent_->online(), updates_); }
  // total_steps (or max_minutes) reached.
  bool finished() const;
  // Periodic work after ingesting or training: progress lines, evaluations, checkpoints.
  void housekeeping();
  // Final evaluation, model.dqn and last.dqn, the summary line.
  EvalResult finish();

  std::int64_t env_steps() const { return step_; }
  std::int64_t updates() const { return updates_; }
  std::int64_t actors() const { return actors_; }
  std::int64_t param_sync_interval() const { return config_.param_sync_interval; }
  bool lockstep() const { return config_.lockstep; }
  const Config& config() const { return config_; }
  std::int64_t streams() const { return static_cast<std::int64_t>(rings_.size()); }
  std::int64_t stream_capacity() const { return stream_capacity_; }
  const std::vector<ApexActorStatus>& actor_status() const { return status_; }
  const Priorities& priorities() const { return *priorities_; }
  DqnAgent& agent() { return *agent_; }
  const ReplayBuffer* flat_ring(std::int64_t s) const {
    return flat_.empty() ? nullptr : flat_[static_cast<std::size_t>(s)].get();
  }
  const FrameReplay* frame_ring(std::int64_t s) const {
    return frames_.empty() ? nullptr : frames_[static_cast<std::size_t>(s)].get();
  }
  std::int64_t ingested_messages() const { return messages_; }
  std::int64_t ingested_bytes() const { return message_bytes_; }
  double seconds() const;
  void log_line(const std::string& json);

 private:
  struct Resuming {};
  ApexLearner(const Config& config, std::int64_t actors, const std::string& out_dir, Resuming);
  void init(bool overwrite, bool resuming, const std::vector<std::string>& provenance);
  void write_snapshot(PieceWriter& w) const;
  void read_snapshot(std::string_view bytes, const std::string& source);
  void refresh_stream_tail(std::int64_t stream);
  void track(std::int64_t stream);
  void save_checkpoints();
  bool sampleable(std::int64_t stream, std::int64_t slot) const;

  Config config_;
  std::int64_t actors_;
  std::string out_dir_;
  std::unique_ptr<Env> eval_env_;
  std::unique_ptr<DqnAgent> agent_;
  std::unique_ptr<QNetwork> best_;
  bool pixels_ = false;
  ApexLayout layout_;
  std::vector<void*> rings_;  // one per stream, pointing into flat_ or frames_
  std::vector<std::unique_ptr<ReplayBuffer>> flat_;
  std::vector<std::unique_ptr<FrameReplay>> frames_;
  std::int64_t stream_capacity_ = 0;
  std::unique_ptr<Priorities> priorities_;
  std::vector<float> entered_;  // per global slot: the |TD error| the actor sent (-1: none)
  Batch batch_;
  Rng replay_rng_, eval_rng_;
  std::vector<ApexActorStatus> status_;
  std::vector<std::int64_t> next_seq_;
  std::int64_t step_ = 0, updates_ = 0, episodes_ = 0, evals_ = 0, messages_ = 0;
  std::int64_t message_bytes_ = 0;
  double best_eval_ = -1e300, start_ = 0, seconds_before_ = 0;
  std::int64_t generation_ = 0, metrics_bytes_ = 0;
  std::int64_t next_log_ = 0, next_eval_ = 0, next_checkpoint_ = 0, next_target_ = 0;
  // The sums behind the next progress line.
  std::int64_t since_updates_ = 0, since_step_ = 0;
  double since_loss_ = 0, since_q_ = 0, since_time_ = 0;
  std::ofstream metrics_;
};

// ---------------------------------------------------------------- transports and loops

class Transport {
 public:
  virtual ~Transport() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Queues `message` for rank `to` and returns at once (the bytes are copied).
  virtual void send(int to, std::string_view message) = 0;
  // Messages to `to` not yet taken off this rank's hands (MPI: requests not yet complete).
  virtual int pending_sends(int to) = 0;
  // The next message that has arrived from any rank (from < 0) or from rank `from`; false when
  // none has. Never blocks.
  virtual bool receive(int from, int& source, std::string& out) = 0;
};

// Every rank as a thread of one process: queues under one mutex. Endpoints live as long as the
// hub.
class LoopbackHub {
 public:
  explicit LoopbackHub(int ranks);
  ~LoopbackHub();
  Transport& endpoint(int rank);

 private:
  class Endpoint;
  struct Message {
    int from;
    std::string bytes;
  };
  std::mutex mutex_;
  std::vector<std::deque<Message>> queues_;  // per receiving rank
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
};

// The loops. run_actor returns when the learner says stop (or `stop` is raised; the actor then
// still waits for the learner's word, so no message is left in flight). run_learner returns the
// final evaluation once total_steps are in, or early when `stop` is raised (Ctrl-C), after
// every actor has said it is done.
void run_actor(Transport& transport, const std::atomic<bool>* stop = nullptr);
EvalResult run_learner(Transport& transport, ApexLearner& learner,
                       const std::atomic<bool>* stop = nullptr);

}  // namespace dqn
