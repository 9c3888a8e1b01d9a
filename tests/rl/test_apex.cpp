// Tests for rl/apex.hpp (Ape-X) without MPI: the same actor and learner loops over the loopback
// transport (threads of one process). tests/mpi/ runs them across processes under mpirun.
//
// What they pin down: the actors' epsilons; the messages (every field checked, a damaged or
// reordered one refused with the rank named); transitions reaching the learner's rings intact
// and in order per actor env; the actors' priorities entering the tree as (|delta| + eps)^alpha,
// and each |delta| equal to the n-step TD error recomputed from what the ring holds; weights
// reaching every actor; lockstep runs giving the same bits twice; and CartPole solved by one
// learner and two actors.
#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "rl/apex.hpp"
#include "rl/config.hpp"

using namespace dqn;

namespace {

Config small_cartpole(std::int64_t n_step = 1, bool per = true) {
  Config c = make_preset("cartpole");
  c.distributed = true;
  c.envs_per_actor = 2;
  c.actor_send_steps = 8;
  c.n_step = n_step;
  c.prioritized_replay = per;
  c.total_steps = 4000;
  c.buffer_size = 4000;
  c.eval_interval = 0;
  c.final_eval_episodes = 1;
  c.log_interval = 1000;
  return c;
}

// A whole job in one process: the learner on this thread, each actor on its own.
EvalResult run_job(ApexLearner& learner, int actors) {
  LoopbackHub hub(actors + 1);
  std::vector<std::thread> threads;
  for (int a = 1; a <= actors; ++a) threads.emplace_back([&hub, a] { run_actor(hub.endpoint(a)); });
  EvalResult r;
  try {
    r = run_learner(hub.endpoint(0), learner);
  } catch (...) {
    for (auto& t : threads) t.join();
    throw;
  }
  for (auto& t : threads) t.join();
  return r;
}

std::vector<float> parameters_of(const QNetwork& net) {
  std::vector<float> out;
  for (const auto& p : net.parameters())
    out.insert(out.end(), p.variable->value.data(),
               p.variable->value.data() + p.variable->value.numel());
  return out;
}

}  // namespace

TEST_CASE("apex: actor i of N explores with 0.4^(1 + 7 i / (N - 1))") {
  CHECK(apex_epsilon(0, 1, 0.4, 7) == 0.4);
  CHECK(apex_epsilon(0, 3, 0.4, 7) == doctest::Approx(0.4));
  CHECK(apex_epsilon(1, 3, 0.4, 7) == doctest::Approx(std::pow(0.4, 4.5)));
  CHECK(apex_epsilon(2, 3, 0.4, 7) == doctest::Approx(std::pow(0.4, 8.0)));
}

TEST_CASE("apex: the unsupported combinations are refused with the fix") {
  Config c = small_cartpole();
  c.distributional = true;
  CHECK_THROWS_WITH_AS(check_apex_config(c), doctest::Contains("distributional=true"), Error);
  c = small_cartpole();
  c.noisy_nets = true;
  CHECK_THROWS_WITH_AS(check_apex_config(c), doctest::Contains("apex_epsilon"), Error);
}

TEST_CASE("apex: weights reach the actor bit for bit and a wrong network is refused") {
  const Config c = small_cartpole();
  ApexLearner learner(c, 1, "");
  ApexActor actor(c, 1, 1);
  CHECK_FALSE(actor.has_weights());
  actor.load_weights(learner.weights_message());
  CHECK(actor.weights_version() == 0);
  CHECK(parameters_of(actor.network()) == parameters_of(learner.agent().online()));
  Config other = c;
  other.hidden = {32};
  ApexActor small(other, 1, 1);
  CHECK_THROWS_WITH_AS(small.load_weights(learner.weights_message()),
                       doctest::Contains("different networks"), Error);
}

TEST_CASE("apex: transitions reach the learner's rings intact and in order per actor env") {
  for (const std::int64_t n : {1, 3}) {
    CAPTURE(n);
    const Config c = small_cartpole(n);
    ApexLearner learner(c, 2, "");
    ApexActor a1(c, 1, 2), a2(c, 2, 2);
    for (ApexActor* a : {&a1, &a2}) a->load_weights(learner.weights_message());
    std::vector<std::vector<ApexRecord>> sent(4);  // per stream, what the actors sent
    std::vector<std::string> kept;                 // the messages the records point into
    kept.reserve(64);
    for (int round = 0; round < 20; ++round) {
      for (ApexActor* a : {&a1, &a2}) {
        while (!a->message_ready()) a->step();
        kept.push_back(a->take_message());
        const int rank = a == &a1 ? 1 : 2;
        const ApexExperience e = decode_experience(kept.back(), a->layout());
        CHECK(e.actor == rank);
        CHECK(e.seq == round);
        for (const ApexRecord& r : e.records)
          sent[static_cast<std::size_t>((rank - 1) * 2 + r.env)].push_back(r);
        learner.ingest(kept.back(), rank);
      }
    }
    std::int64_t transitions = 0;
    for (std::int64_t s = 0; s < 4; ++s) {
      const ReplayBuffer& ring = *learner.flat_ring(s);
      const auto& records = sent[static_cast<std::size_t>(s)];
      REQUIRE(static_cast<std::int64_t>(records.size()) == ring.size());
      transitions += ring.size();
      for (std::size_t i = 0; i < records.size(); ++i) {
        const ApexRecord& r = records[i];
        const auto slot = static_cast<std::int64_t>(i);
        CHECK(ring.action(slot) == r.action);
        CHECK(ring.reward(slot) == r.reward);
        CHECK(ring.terminated(slot) == r.terminated);
        CHECK(ring.truncated(slot) == r.truncated);
        CHECK(std::memcmp(ring.obs(slot), r.obs, 4 * sizeof(float)) == 0);
        CHECK(std::memcmp(ring.next_obs(slot), r.next_obs, 4 * sizeof(float)) == 0);
        // In order: each transition starts where the one before it ended, unless that one
        // ended its episode.
        if (i > 0 && !ring.terminated(slot - 1) && !ring.truncated(slot - 1))
          CHECK(std::memcmp(ring.obs(slot), ring.next_obs(slot - 1), 4 * sizeof(float)) == 0);
      }
    }
    // Every env step is in a ring but the last n of each env, still waiting for their windows
    // (fewer where an episode just ended).
    const std::int64_t steps = a1.env_steps() + a2.env_steps();
    CHECK(learner.env_steps() == transitions);
    CHECK(transitions <= steps);
    CHECK(transitions >= steps - 4 * n);
  }
}

TEST_CASE("apex: a damaged, misaddressed or reordered message is refused naming the rank") {
  const Config c = small_cartpole();
  ApexLearner learner(c, 2, "");
  ApexActor actor(c, 1, 2);
  actor.load_weights(learner.weights_message());
  while (!actor.message_ready()) actor.step();
  const std::string m0 = actor.take_message();
  while (!actor.message_ready()) actor.step();
  const std::string m1 = actor.take_message();
  CHECK_THROWS_WITH_AS(learner.ingest(m1, 1), doctest::Contains("rank 1 sent a bad message"),
                       Error);
  CHECK_THROWS_WITH_AS(learner.ingest(m1, 1), doctest::Contains("lost or reordered"), Error);
  CHECK_THROWS_WITH_AS(learner.ingest(m0, 2), doctest::Contains("from actor 1"), Error);
  CHECK_THROWS_WITH_AS(learner.ingest(m0.substr(0, m0.size() - 3), 1),
                       doctest::Contains("truncated"), Error);
  // An action past the env's two: the first record's action field sits after the header
  // (4 + 5 x 8 bytes), the episode count and entries, the record count, kind and env.
  const ApexExperience e = decode_experience(m0, actor.layout());
  std::string bad = m0;
  const std::size_t action_at = 4 + 5 * 8 + 8 + e.episodes.size() * 24 + 8 + 1 + 8;
  const std::int64_t seven = 7;
  std::memcpy(bad.data() + action_at, &seven, 8);
  CHECK_THROWS_WITH_AS(learner.ingest(bad, 1), doctest::Contains("action 7, expected 0..1"), Error);
  CHECK(learner.env_steps() == 0);  // nothing of a refused message is inserted
  learner.ingest(m0, 1);
  CHECK(learner.env_steps() > 0);
}

TEST_CASE("apex: the actors' priorities enter the tree, each the n-step TD error of its slot") {
  for (const std::int64_t n : {1, 3}) {
    CAPTURE(n);
    const Config c = small_cartpole(n);
    ApexLearner learner(c, 1, "");
    ApexActor actor(c, 1, 1);
    actor.load_weights(learner.weights_message());
    std::vector<std::string> kept;
    std::vector<ApexRecord> sent;  // stream 0's records
    for (int round = 0; round < 30; ++round) {
      while (!actor.message_ready()) actor.step();
      kept.push_back(actor.take_message());
      for (const ApexRecord& r : decode_experience(kept.back(), actor.layout()).records)
        if (r.env == 0) sent.push_back(r);
      learner.ingest(kept.back(), 1);
    }
    const ReplayBuffer& ring = *learner.flat_ring(0);
    QNetwork& net = actor.network();  // the weights the actor measured with (no update ran)
    Batch b;
    ring.shape_batch(1, b);
    Tensor q, q_next;
    std::int64_t checked = 0;
    for (std::int64_t slot = 0; slot < ring.size(); ++slot) {
      const double entered = learner.priorities().priority(slot);
      if (!ring.sampleable(slot)) {
        CHECK(entered == 0);
        continue;
      }
      const float delta = sent[static_cast<std::size_t>(slot)].priority;
      REQUIRE(delta >= 0);
      CHECK(entered == std::pow(static_cast<double>(delta) + c.per_eps, c.per_alpha));
      // The actor's |delta|, recomputed from what the learner holds: the n-step return and
      // s' of the slot's window, with the actor's one network as its own target.
      ring.gather_row(slot, 0, b);
      net.infer(ConstTensorView{b.obs.data(), Shape{1, 4}}, q);
      net.infer(ConstTensorView{b.next_obs.data(), Shape{1, 4}}, q_next);
      const double discount = n == 1 ? c.gamma : b.discounts[0];
      const double y =
          b.rewards[0] + (b.terminated[0] > 0 ? 0.0 : discount) * std::max(q_next[0], q_next[1]);
      CHECK(delta == doctest::Approx(std::abs(y - q[b.actions[0]])).epsilon(1e-4));
      ++checked;
    }
    CHECK(checked > 100);
  }
}

TEST_CASE("apex: weights reach every actor, and a lockstep job is the same bits twice") {
  Config c = small_cartpole();
  c.lockstep = true;
  c.param_sync_interval = 20;
  c.total_steps = 3000;
  ApexLearner first(c, 3, ""), second(c, 3, "");
  run_job(first, 3);
  run_job(second, 3);
  CHECK(first.updates() > 100);
  for (const ApexActorStatus& st : first.actor_status()) {
    CHECK(st.weights_version > 0);  // every actor acted with a published network
    // Lockstep answers every actor alike, so all act with the same version, and it is at most
    // one round (gradient_steps updates) plus the sync interval behind.
    CHECK(st.weights_version == first.actor_status()[0].weights_version);
    CHECK(first.updates() - st.weights_version <= 20 + 2 * c.gradient_steps);
  }
  CHECK(first.updates() == second.updates());
  CHECK(first.env_steps() == second.env_steps());
  CHECK(parameters_of(first.agent().online()) == parameters_of(second.agent().online()));
}

TEST_CASE("apex: an asynchronous job keeps the replay ratio and ends cleanly") {
  Config c = small_cartpole();
  c.total_steps = 6000;
  ApexLearner learner(c, 2, "");
  run_job(learner, 2);
  CHECK(learner.env_steps() >= c.total_steps);
  // gradient_steps per train_freq steps from learning_starts. The updates run at most one
  // round ahead of the data; the data at most the learner's slack (a round and a message per
  // actor, ApexLearner::wants_experience) plus the message taken at its edge ahead of the
  // updates, and one round more where the job ends between two.
  const double expected = static_cast<double>(learner.env_steps() - c.learning_starts) *
                          static_cast<double>(c.gradient_steps) / static_cast<double>(c.train_freq);
  const double message = static_cast<double>(c.envs_per_actor * c.actor_send_steps);
  const double slack =
      static_cast<double>(c.gradient_steps) *
      (2.0 + (static_cast<double>(c.train_freq) + 3 * message) / static_cast<double>(c.train_freq));
  CHECK(static_cast<double>(learner.updates()) <= expected + slack);
  CHECK(static_cast<double>(learner.updates()) >= expected - slack);
}

// The margin: lockstep makes the job deterministic, so this is one fixed outcome, not a draw.
// With the cartpole preset's 50,000 steps, this seed's evaluations first reach 475 at env step
// 22,792 (27,000 steps to spare) and the returned policy scores 500 on all 100 unseen episodes;
// over seeds 1-10 nine such jobs score 500 (seed 8: 192), as ten of ten one-process runs do
// (README, "Ape-X": the table and the command).
TEST_CASE("apex: one learner and two actors solve CartPole (lockstep, seed 1)") {
  Config c = make_preset("cartpole");
  c.distributed = true;
  c.lockstep = true;
  c.seed = 1;
  ApexLearner learner(c, 2, "");
  const EvalResult r = run_job(learner, 2);
  CHECK(r.episodes == 100);
  CHECK(r.mean >= 475.0);
}

TEST_CASE("apex: a learner's snapshot rebuilds it bit for bit, and a damaged one is refused") {
  Config c = small_cartpole(3);
  c.lockstep = true;
  c.total_steps = 2500;
  ApexLearner learner(c, 2, "");
  run_job(learner, 2);
  REQUIRE(learner.updates() > 0);
  const std::string bytes = learner.snapshot_bytes();
  const auto copy = ApexLearner::from_snapshot_bytes(c, 2, bytes);
  CHECK(copy->env_steps() == learner.env_steps());
  CHECK(copy->updates() == learner.updates());
  CHECK(copy->generation() == learner.env_steps());
  CHECK(parameters_of(copy->agent().online()) == parameters_of(learner.agent().online()));
  // Everything, rings and priorities included, the same bytes, but for the wall time (the f64
  // after the magic, config, actor count, 11 counters and best_eval), which the copy counts on
  // from its own start, and the checksum over it.
  std::string again = copy->snapshot_bytes(), original = bytes;
  REQUIRE(again.size() == original.size());
  const std::size_t wall_at = 8 + 8 + c.to_text(true).size() + 8 + 11 * 8 + 8;
  for (std::string* b : {&again, &original}) {
    std::memset(b->data() + wall_at, 0, 8);
    b->resize(b->size() - 4);
  }
  CHECK(again == original);
  std::string damaged = bytes;
  damaged[damaged.size() / 2] ^= 1;
  CHECK_THROWS_WITH_AS(ApexLearner::from_snapshot_bytes(c, 2, damaged),
                       doctest::Contains("checksum mismatch"), Error);
  CHECK_THROWS_WITH_AS(ApexLearner::from_snapshot_bytes(c, 3, bytes),
                       doctest::Contains("mpirun -np 3"), Error);
  Config other = c;
  other.lr = 1e-4;
  CHECK_THROWS_WITH_AS(ApexLearner::from_snapshot_bytes(other, 2, bytes),
                       doctest::Contains("another config"), Error);
}

TEST_CASE("apex: cutting a stream closes its n-step windows as a time limit would") {
  ReplayBuffer flat(8, 1);
  flat.set_n_step(3, 0.5);
  const float o[] = {0}, o2[] = {1};
  flat.add(o, 0, 1, o2, false, false);
  flat.add(o, 0, 1, o2, false, false);
  CHECK_FALSE(flat.sampleable(0));  // its window of 3 is not all stored
  CHECK(flat.truncate_tail());
  CHECK(flat.truncated(1));
  CHECK(flat.sampleable(0));
  CHECK(flat.sampleable(1));
  CHECK_FALSE(flat.truncate_tail());  // already ended: nothing to cut

  FrameReplay frames(16, 2, 2);
  frames.set_n_step(3, 0.5);
  const std::uint8_t f[4] = {1, 2, 3, 4};
  frames.add(f, true, 0, 1, false, false);
  frames.add(f, false, 1, 1, false, false);
  frames.add(f, false, 0, 1, false, false);  // its s' was never written
  CHECK_FALSE(frames.sampleable(0));
  CHECK(frames.truncate_tail());
  CHECK(frames.sampleable(0));  // window: slots 0 and 1, s' the stack ending at slot 2
  CHECK(frames.sampleable(1));
  CHECK_FALSE(frames.sampleable(2));  // no longer a transition
  Batch b;
  frames.gather(std::vector<std::int64_t>{0}.data(), 1, b);
  CHECK(b.rewards[0] == 1.5f);     // 1 + 0.5 x 1
  CHECK(b.discounts[0] == 0.25f);  // gamma^2: it bootstraps after the two steps taken
  CHECK(b.terminated[0] == 0.0f);  // a cut is not a termination
}
