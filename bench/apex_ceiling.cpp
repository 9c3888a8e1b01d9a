// bench/apex_ceiling.cpp: how many transitions a second one Ape-X learner takes in while it
// trains, fed by actors that send synthetic experience as fast as the learner accepts it.
//
//   mpirun -np 3 build/release/bench/apex_ceiling ENV TRAIN_FREQ SECONDS
//
// Each actor steps its envs once to get one real message (actor_send_steps x envs_per_actor
// transitions, frames encoded as the frame replay stores them), then sends copies of it with
// the sequence number advanced, keeping two in flight, until the learner stops it. The learner
// is the real one (ApexLearner and run_learner) with gradient_steps = 1 update per TRAIN_FREQ
// env steps: the atari preset's 4 is the ratio a run uses; larger ones show the ingest ceiling
// with less training. Printed: the learner's ingest rate, update rate and message size.
// Built in the MPI build only; not a Google Benchmark binary (it needs mpirun).
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "rl/apex.hpp"
#include "rl/mpi/apex_mpi.hpp"

using namespace dqn;

int main(int argc, char** argv) {
  MpiTransport t(&argc, &argv);
  if (argc != 4 || t.size() < 2) {
    if (t.rank() == 0)
      std::fprintf(stderr, "usage: mpirun -np N apex_ceiling ENV TRAIN_FREQ SECONDS (N >= 2)\n");
    return 2;
  }
  const std::string env = argv[1];
  const std::string preset = env == "cartpole" ? "cartpole" : "atari";
  Config c = make_preset(preset, env);
  c.env = env;
  c.distributed = true;
  c.train_freq = std::stoll(argv[2]);
  c.gradient_steps = 1;
  c.total_steps = 1'000'000'000;
  c.max_minutes = std::stod(argv[3]) / 60;
  c.buffer_size = 100'000;
  c.learning_starts = 5'000;
  c.eval_interval = 0;
  c.final_eval_episodes = 0;
  c.log_interval = 1'000'000'000;
  c.prioritized_replay = true;
  if (t.rank() == 0) {
    ApexLearner learner(c, t.size() - 1, "");
    run_learner(t, learner);
    const double s = learner.seconds();
    const double message =
        static_cast<double>(learner.ingested_bytes()) /
        static_cast<double>(std::max<std::int64_t>(learner.ingested_messages(), 1));
    std::printf(
        "%s, %d actors, 1 update per %lld env steps (batch %lld): %.0f transitions/s in, %.0f "
        "updates/s, %.1f MB/s, messages of %.0f bytes (%.0f bytes a transition), %.1f s\n",
        env.c_str(), t.size() - 1, static_cast<long long>(c.train_freq),
        static_cast<long long>(c.batch_size), static_cast<double>(learner.env_steps()) / s,
        static_cast<double>(learner.updates()) / s,
        static_cast<double>(learner.ingested_bytes()) / s / 1e6, message,
        message / static_cast<double>(c.actor_send_steps * c.envs_per_actor), s);
    return 0;
  }
  // A synthetic actor: one real message, resent with its sequence number advanced.
  ApexActor actor(c, t.rank(), t.size() - 1);
  std::string in;
  int source = 0;
  while (!actor.has_weights())
    if (t.receive(0, source, in) && apex_message_type(in) == ApexMessage::kWeights)
      actor.load_weights(in);
  while (!actor.message_ready()) actor.step();
  std::string message = actor.take_message();
  const std::size_t seq_at = 4 + 8;  // after the type and the actor (rl/apex.hpp's layout)
  bool stopping = false;
  for (std::int64_t seq = 0; !stopping; ++seq) {
    std::memcpy(message.data() + seq_at, &seq, 8);
    while (t.pending_sends(0) >= 2 && !stopping) {
      while (t.receive(0, source, in)) stopping |= apex_message_type(in) == ApexMessage::kStop;
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    while (t.receive(0, source, in)) stopping |= apex_message_type(in) == ApexMessage::kStop;
    if (!stopping) t.send(0, message);
  }
  t.send(0, encode_done(t.rank()));
  while (t.pending_sends(0) > 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
  return 0;
}
