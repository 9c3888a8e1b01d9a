// Tests for rl/agent.hpp: hand-computed TD targets (the termination/truncation trap), Double
// DQN's target, the epsilon schedule, one update step, and the two-thread update's determinism.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/parallel.hpp"
#include "rl/agent.hpp"

using namespace dqn;

TEST_CASE("TD targets for an ongoing, a terminated and a truncated transition") {
  // gamma 0.9, next-state values 10 for all three.
  const float rewards[] = {1.0f, 1.0f, 1.0f};
  // Only termination cuts the bootstrap. The truncated transition (time limit) is stored with
  // terminated = 0, so it bootstraps exactly like the ongoing one.
  const float terminated[] = {0.0f, 1.0f, 0.0f};
  const float next_values[] = {10.0f, 10.0f, 10.0f};
  float y[3];
  td_targets(y, rewards, terminated, next_values, 3, 0.9f);
  CHECK(y[0] == doctest::Approx(1.0f + 0.9f * 10.0f));  // 10
  CHECK(y[1] == 1.0f);                                  // terminal: reward only
  CHECK(y[2] == doctest::Approx(10.0f));                // truncated: bootstraps
}

TEST_CASE(
    "n-step TD targets bootstrap with each sample's own gamma^m, and never after termination") {
  // Sums from rl/replay.hpp's hand-computed windows (gamma 0.5): a window cut by termination at
  // its third step, a full one, one cut by truncation at its first step; V(s') = 10 for all.
  const float rewards[] = {6.25f, 2.75f, 5.0f};
  const float terminated[] = {1.0f, 0.0f, 0.0f};
  const float discounts[] = {0.125f, 0.125f, 0.5f};
  const float next_values[] = {10.0f, 10.0f, 10.0f};
  float y[3];
  td_targets(y, rewards, terminated, discounts, next_values, 3);
  CHECK(y[0] == 6.25f);          // terminated: the return only
  CHECK(y[1] == 2.75f + 1.25f);  // 0.125 * 10
  CHECK(y[2] == 5.0f + 5.0f);    // truncated after one step: 0.5 * 10
}

TEST_CASE(
    "DQN takes the target network's max, Double DQN the target's value of the online argmax") {
  // Two transitions, three actions.
  const float q_target[] = {1.0f, 5.0f, 3.0f,  //
                            2.0f, 0.0f, 7.0f};
  const float q_online[] = {9.0f, 0.0f, 1.0f,   // online prefers action 0
                            0.0f, 4.0f, 3.0f};  // online prefers action 1
  float v[2];
  next_state_values(v, q_target, nullptr, 2, 3);
  CHECK(v[0] == 5.0f);
  CHECK(v[1] == 7.0f);
  next_state_values(v, q_target, q_online, 2, 3);
  CHECK(v[0] == 1.0f);  // Q_target(s', argmax online = 0)
  CHECK(v[1] == 0.0f);  // Q_target(s', argmax online = 1)
}

TEST_CASE("the linear epsilon schedule hits its ends and stays flat after") {
  CHECK(linear_epsilon(1.0, 0.01, 10000, 0) == 1.0);
  CHECK(linear_epsilon(1.0, 0.01, 10000, 5000) == doctest::Approx(0.505));
  CHECK(linear_epsilon(1.0, 0.01, 10000, 10000) == doctest::Approx(0.01));
  CHECK(linear_epsilon(1.0, 0.01, 10000, 99999) == doctest::Approx(0.01));
}

TEST_CASE("an update on a fixed batch lowers the loss on that batch") {
  Config config = make_preset("cartpole");
  config.lr = 1e-3;
  NetworkSpec spec;
  spec.hidden = {32, 32};
  Rng rng(5);
  DqnAgent agent(spec, config, rng);
  Batch batch;
  const std::int64_t n = 16;
  batch.obs.resize(Shape{n, 4});
  batch.next_obs.resize(Shape{n, 4});
  batch.rewards.resize(Shape{n});
  batch.terminated.resize(Shape{n});
  batch.actions.resize(n);
  batch.size = n;
  for (std::int64_t i = 0; i < n * 4; ++i) {
    batch.obs[i] = static_cast<float>(rng.uniform(-1.0, 1.0));
    batch.next_obs[i] = static_cast<float>(rng.uniform(-1.0, 1.0));
  }
  for (std::int64_t i = 0; i < n; ++i) {
    batch.rewards[i] = 1.0f;
    batch.terminated[i] = 1.0f;  // targets = 1 exactly: a fixed regression problem
    batch.actions[i] = i % 2;
  }
  const UpdateStats first = agent.update(batch);
  UpdateStats last = first;
  for (int i = 0; i < 50; ++i) last = agent.update(batch);
  CHECK(std::isfinite(first.loss));
  CHECK(last.loss < 0.5f * first.loss);
  CHECK(first.grad_norm > 0.0f);
}

namespace {

// What DqnAgent::update should compute on a batch, worked here in double from the networks' own
// forward passes (the tape-free infer path, not the update's): the TD targets, the Huber loss,
// the mean Q(s, a) and the gradient of the loss with respect to the output layer's bias.
struct HandUpdate {
  double loss = 0, mean_q = 0;
  std::vector<double> dbias;   // (A)
  std::vector<double> y;       // (N)
  std::vector<double> abs_td;  // (N) |Q(s, a) - y|
};

// The ways a target can go wrong that the test must be able to see.
enum class Mistake { kNone, kObsForNextObs, kIgnoreTerminated, kOnlineValues, kPlainMax };

HandUpdate hand_update(QNetwork& online, QNetwork& target, const Batch& b, double gamma,
                       double delta, bool double_dqn, Mistake mistake = Mistake::kNone,
                       const float* weights = nullptr) {
  const std::int64_t n = b.size, actions = online.spec().num_actions;
  Tensor q, q_next_target, q_next_online;
  online.infer(b.obs.view(), q);
  const Tensor& s_next = mistake == Mistake::kObsForNextObs ? b.obs : b.next_obs;
  (mistake == Mistake::kOnlineValues ? online : target).infer(s_next.view(), q_next_target);
  online.infer(s_next.view(), q_next_online);
  HandUpdate h;
  h.dbias.assign(static_cast<std::size_t>(actions), 0.0);
  for (std::int64_t i = 0; i < n; ++i) {
    const float* qt = q_next_target.data() + i * actions;
    const float* qo = q_next_online.data() + i * actions;
    // DQN: max_a' Q_target(s', a'). Double DQN: Q_target(s', argmax_a' Q_online(s', a')).
    const std::int64_t pick = (double_dqn && mistake != Mistake::kPlainMax)
                                  ? std::max_element(qo, qo + actions) - qo
                                  : std::max_element(qt, qt + actions) - qt;
    const double done = mistake == Mistake::kIgnoreTerminated ? 0.0 : b.terminated[i];
    // n-step batches carry each sample's bootstrap discount gamma^m.
    const double discount = b.discounts.empty() ? gamma : b.discounts[static_cast<std::size_t>(i)];
    const double y = b.rewards[i] + discount * (1.0 - done) * qt[pick];
    const double qa = q[i * actions + b.actions[i]];
    const double d = qa - y;
    // Prioritized replay weighs sample i's loss, and so its gradient, by w_i.
    const double w = weights ? weights[i] : 1.0;
    h.y.push_back(y);
    h.loss += w * (std::abs(d) <= delta ? 0.5 * d * d : delta * (std::abs(d) - 0.5 * delta));
    h.mean_q += qa;
    h.dbias[static_cast<std::size_t>(b.actions[i])] += w * std::clamp(d, -delta, delta) / n;
    h.abs_td.push_back(std::abs(d));
  }
  h.loss /= n;
  h.mean_q /= n;
  return h;
}

}  // namespace

TEST_CASE(
    "update's loss, mean Q and output-bias gradient follow y = r + gamma (1 - terminated) "
    "V_target(s') worked by hand, for DQN and Double DQN") {
  for (const bool double_dqn : {false, true}) {
    CAPTURE(double_dqn);
    Config config = make_preset("cartpole");
    config.double_dqn = double_dqn;
    config.gamma = 0.9;
    config.huber_delta = 1.0;
    config.max_grad_norm = 0;  // no clipping: the gradient stays as the loss gives it
    NetworkSpec spec;
    spec.hidden = {16};
    Rng rng(11);
    DqnAgent agent(spec, config, rng);
    // The target network starts as a copy of the online one; a different target makes a mix-up
    // of the two visible.
    Rng other(12);
    agent.target().copy_from(QNetwork(spec, other));

    // Eight transitions, s' far from s, a mix of ongoing and terminated ones.
    const std::int64_t n = 8;
    Batch batch;
    batch.obs.resize(Shape{n, 4});
    batch.next_obs.resize(Shape{n, 4});
    batch.rewards.resize(Shape{n});
    batch.terminated.resize(Shape{n});
    batch.actions.resize(n);
    batch.size = n;
    for (std::int64_t i = 0; i < n * 4; ++i) {
      batch.obs[i] = static_cast<float>(rng.uniform(-1.0, 1.0));
      batch.next_obs[i] = static_cast<float>(rng.uniform(-3.0, 3.0));
    }
    const float terminated[n] = {0, 0, 1, 0, 0, 0, 1, 0};
    for (std::int64_t i = 0; i < n; ++i) {
      batch.rewards[i] = 0.1f * static_cast<float>(i) - 0.3f;
      batch.terminated[i] = terminated[i];
      batch.actions[i] = (i * 3) % 2;
    }

    const HandUpdate want = hand_update(agent.online(), agent.target(), batch, config.gamma,
                                        config.huber_delta, double_dqn);
    // The test's power: each mistake moves the loss by far more than the tolerance below.
    const double tolerance = 1e-5 * std::max(1.0, want.loss);
    std::vector<Mistake> mistakes = {Mistake::kObsForNextObs, Mistake::kIgnoreTerminated,
                                     Mistake::kOnlineValues};
    if (double_dqn) mistakes.push_back(Mistake::kPlainMax);
    for (const Mistake m : mistakes) {
      CAPTURE(static_cast<int>(m));
      const HandUpdate wrong = hand_update(agent.online(), agent.target(), batch, config.gamma,
                                           config.huber_delta, double_dqn, m);
      REQUIRE(std::abs(wrong.loss - want.loss) > 100 * tolerance);
    }

    const UpdateStats got = agent.update(batch);
    CHECK(got.loss == doctest::Approx(want.loss).epsilon(1e-5));
    CHECK(got.mean_q == doctest::Approx(want.mean_q).epsilon(1e-5));
    // dL/db for the output bias: the Huber derivative clamp(Q(s,a) - y, -delta, delta) / N summed
    // over the samples that took each action (no clipping, so update leaves it in the gradient).
    const NamedVariable& bias = agent.online().parameters().back();
    REQUIRE(bias.name.find("bias") != std::string::npos);
    REQUIRE(bias.variable->grad.numel() == 2);
    for (std::int64_t a = 0; a < 2; ++a) {
      CAPTURE(a);
      CHECK(bias.variable->grad[a] ==
            doctest::Approx(want.dbias[static_cast<std::size_t>(a)]).epsilon(1e-5));
    }
  }
}

TEST_CASE(
    "with importance weights the loss and its gradient weigh each sample by w_i, and the update "
    "reports |Q(s, a) - y| per sample") {
  // Schaul et al. 2016, Algorithm 1 lines 10-12: the step follows w_i delta_i grad Q(s_i, a_i),
  // and |delta_i| becomes the new priority. Worked by hand as in the test above; the weights
  // include 0 (the sample drops out) and a mix of quadratic and linear Huber regions (s' far
  // from s gives errors on both sides of delta = 1).
  Config config = make_preset("cartpole");
  config.double_dqn = true;
  config.gamma = 0.9;
  config.max_grad_norm = 0;
  NetworkSpec spec;
  spec.hidden = {16};
  Rng rng(21);
  DqnAgent agent(spec, config, rng);
  Rng other(22);
  agent.target().copy_from(QNetwork(spec, other));
  const std::int64_t n = 8;
  Batch batch = random_batch(spec, n, rng);
  for (std::int64_t i = 0; i < n * 4; ++i) batch.next_obs[i] *= 3;
  const float terminated[n] = {0, 1, 0, 0, 0, 1, 0, 0};
  const float weights[n] = {1.0f, 0.5f, 0.25f, 0.0f, 1.0f, 0.75f, 0.125f, 0.875f};
  batch.weights.resize(n);
  for (std::int64_t i = 0; i < n; ++i) {
    batch.terminated[i] = terminated[i];
    batch.rewards[i] = 0.5f * static_cast<float>(i) - 2.0f;
    batch.weights[i] = weights[i];
  }
  const HandUpdate want = hand_update(agent.online(), agent.target(), batch, config.gamma,
                                      config.huber_delta, true, Mistake::kNone, weights);
  // The test's power: ignoring the weights moves the loss and the gradient far past tolerance.
  const HandUpdate unweighted =
      hand_update(agent.online(), agent.target(), batch, config.gamma, config.huber_delta, true);
  REQUIRE(std::abs(unweighted.loss - want.loss) > 1e-2 * want.loss);
  REQUIRE(std::abs(unweighted.dbias[0] - want.dbias[0]) +
              std::abs(unweighted.dbias[1] - want.dbias[1]) >
          1e-2);
  int linear = 0;
  for (const double d : want.abs_td) linear += d > config.huber_delta;
  REQUIRE(linear > 0);
  REQUIRE(linear < n);

  const UpdateStats got = agent.update(batch);
  CHECK(got.loss == doctest::Approx(want.loss).epsilon(1e-5));
  CHECK(got.mean_q == doctest::Approx(want.mean_q).epsilon(1e-5));
  const NamedVariable& bias = agent.online().parameters().back();
  for (std::int64_t a = 0; a < 2; ++a)
    CHECK(bias.variable->grad[a] ==
          doctest::Approx(want.dbias[static_cast<std::size_t>(a)]).epsilon(1e-5));
  REQUIRE(agent.abs_td_errors().numel() == n);
  for (std::int64_t i = 0; i < n; ++i)
    CHECK(agent.abs_td_errors()[i] ==
          doctest::Approx(want.abs_td[static_cast<std::size_t>(i)]).epsilon(1e-5));
}

TEST_CASE("an n-step batch's update bootstraps each sample with its own discount") {
  Config config = make_preset("cartpole");
  config.gamma = 0.9;
  config.max_grad_norm = 0;
  NetworkSpec spec;
  spec.hidden = {16};
  Rng rng(41);
  DqnAgent agent(spec, config, rng);
  Rng other(42);
  agent.target().copy_from(QNetwork(spec, other));
  const std::int64_t n = 6;
  Batch batch = random_batch(spec, n, rng);
  batch.discounts = {0.729f, 0.81f, 0.9f, 0.729f, 0.729f, 0.81f};   // gamma^3, ^2, ^1, ...
  for (std::int64_t i = 0; i < n; ++i) batch.next_obs[i * 4] *= 4;  // larger |V(s')|
  const HandUpdate want =
      hand_update(agent.online(), agent.target(), batch, config.gamma, config.huber_delta, true);
  std::vector<float> discounts;
  discounts.swap(batch.discounts);  // a one-step batch for a moment
  const HandUpdate wrong =
      hand_update(agent.online(), agent.target(), batch, config.gamma, config.huber_delta, true);
  discounts.swap(batch.discounts);
  REQUIRE(std::abs(wrong.loss - want.loss) > 1e-3 * want.loss);  // gamma for all would show
  const UpdateStats got = agent.update(batch);
  CHECK(got.loss == doctest::Approx(want.loss).epsilon(1e-5));
  for (std::int64_t i = 0; i < n; ++i)
    CHECK(agent.abs_td_errors()[i] ==
          doctest::Approx(want.abs_td[static_cast<std::size_t>(i)]).epsilon(1e-5));
}

TEST_CASE("weights of 1 give the unweighted update's loss and gradients, to float rounding") {
  NetworkSpec spec;
  spec.hidden = {32};
  Config config = make_preset("cartpole");
  config.max_grad_norm = 0;
  auto grads = [&](bool weighted, float* loss) {
    Rng rng(31);
    DqnAgent agent(spec, config, rng);
    Batch batch = random_batch(spec, 16, rng);
    if (weighted) {
      batch.weights.assign(16, 1.0f);
    }
    *loss = agent.update(batch).loss;
    std::vector<float> g;
    for (const auto& p : agent.online().parameters())
      g.insert(g.end(), p.variable->grad.data(),
               p.variable->grad.data() + p.variable->grad.numel());
    return g;
  };
  float plain_loss = 0, weighted_loss = 0;
  const std::vector<float> plain = grads(false, &plain_loss),
                           weighted = grads(true, &weighted_loss);
  CHECK(weighted_loss == doctest::Approx(plain_loss).epsilon(1e-6));
  REQUIRE(plain.size() == weighted.size());
  for (std::size_t k = 0; k < plain.size(); ++k)
    REQUIRE(weighted[k] == doctest::Approx(plain[k]).epsilon(1e-5).scale(1e-7));
}

TEST_CASE("a non-finite reward stops the update with an error naming the quantity") {
  Config config = make_preset("cartpole");
  NetworkSpec spec;
  spec.hidden = {8};
  Rng rng(1);
  DqnAgent agent(spec, config, rng);
  Batch batch;
  batch.obs.resize(Shape{2, 4});
  batch.next_obs.resize(Shape{2, 4});
  batch.rewards.resize(Shape{2});
  batch.terminated.resize(Shape{2});
  batch.actions = {0, 1};
  batch.size = 2;
  batch.rewards[0] = std::nanf("");
  const Tensor before = agent.online().parameters()[0].variable->value.clone();
  try {
    agent.update(batch);
    FAIL("expected an Error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("loss") != std::string::npos);
  }
  const Tensor& after = agent.online().parameters()[0].variable->value;
  for (std::int64_t i = 0; i < after.numel(); ++i) CHECK(after[i] == before[i]);
}

namespace {

// Every parameter value after `steps` updates on one batch, from a fixed seed.
std::vector<float> params_after(const NetworkSpec& spec, bool double_dqn, std::int64_t n,
                                int threads, int steps) {
  ThreadScope scope(threads);
  Config config = make_preset("seed");
  config.double_dqn = double_dqn;
  Rng rng(7);
  DqnAgent agent(spec, config, rng);
  const Batch batch = random_batch(spec, n, rng);
  for (int i = 0; i < steps; ++i) agent.update(batch);
  std::vector<float> out;
  for (const auto& p : agent.online().parameters())
    out.insert(out.end(), p.variable->value.data(),
               p.variable->value.data() + p.variable->value.numel());
  return out;
}

NetworkSpec nature_cnn_spec() {
  return NetworkSpec::nature_cnn(6);
}

// Same bits on repeated two-thread runs; within float noise of the one-thread run (the threads
// split GEMMs differently, so the last bits may differ).
void check_two_thread_update(const NetworkSpec& spec, bool double_dqn, std::int64_t n) {
  CAPTURE(spec.describe());
  CAPTURE(double_dqn);
  const std::vector<float> one = params_after(spec, double_dqn, n, 1, 3);
  const std::vector<float> two = params_after(spec, double_dqn, n, 2, 3);
  const std::vector<float> again = params_after(spec, double_dqn, n, 2, 3);
  REQUIRE(one.size() == two.size());
  REQUIRE(two.size() == again.size());
  std::size_t differ_bits = 0, differ_much = 0;
  for (std::size_t i = 0; i < two.size(); ++i) {
    if (two[i] != again[i]) ++differ_bits;
    if (std::abs(two[i] - one[i]) > 1e-5f * (1.0f + std::abs(one[i]))) ++differ_much;
  }
  CHECK(differ_bits == 0);
  CHECK(differ_much == 0);
}

}  // namespace

TEST_CASE("two-thread MLP updates give the same bits on every run and match one thread") {
  // The seed's 4-256-256-2 at batch 64: the target and online passes run as two tasks, and the
  // 256x256 layer's backward as two tasks too.
  for (bool double_dqn : {false, true}) check_two_thread_update(NetworkSpec{}, double_dqn, 64);
}

TEST_CASE("two-thread Nature CNN updates give the same bits on every run and match one thread") {
  check_two_thread_update(nature_cnn_spec(), true, 2);
}

TEST_CASE("a bad action inside the two-task update is reported as an Error") {
  ThreadScope scope(2);
  Config config = make_preset("seed");
  Rng rng(3);
  DqnAgent agent(NetworkSpec{}, config, rng);
  Batch batch = random_batch(NetworkSpec{}, 64, rng);
  batch.actions[5] = 7;  // the MLP has 2 actions
  CHECK_THROWS_AS(agent.update(batch), Error);
}

// ---------------------------------------------------------------- C51

namespace {

NetworkSpec c51_spec(bool dueling) {
  NetworkSpec spec;
  spec.hidden = {32, 32};
  spec.dueling = dueling;
  spec.atoms = 51;
  spec.v_min = -10;
  spec.v_max = 10;
  return spec;
}

}  // namespace

TEST_CASE("C51 updates on a fixed terminal batch lower the cross-entropy towards the projection") {
  // Terminal samples with reward 1 (b = 27.5 on [-10, 10]: half the mass on atoms 27 and 28)
  // and reward -2.2 (b = 19.5: atoms 19 and 20): the target is known by hand and does not move
  // with the network, so the loss must fall towards its floor, the target's entropy ln 2.
  for (const bool dueling : {false, true}) {
    CAPTURE(dueling);
    Config config = make_preset("cartpole");
    config.lr = 1e-3;
    Rng rng(5);
    DqnAgent agent(c51_spec(dueling), config, rng);
    Batch batch = random_batch(agent.spec(), 16, rng);
    for (std::int64_t i = 0; i < 16; ++i) {
      batch.rewards[i] = i % 2 ? 1.0f : -2.2f;
      batch.terminated[i] = 1.0f;
    }
    const UpdateStats first = agent.update(batch);
    const Tensor& m = agent.target_distribution();
    CHECK(m[51 + 27] == doctest::Approx(0.5).epsilon(1e-5));  // sample 1: reward 1
    CHECK(m[51 + 28] == doctest::Approx(0.5).epsilon(1e-5));
    CHECK(m[19] == doctest::Approx(0.5).epsilon(1e-5));  // sample 0: reward -2.2
    CHECK(m[20] == doctest::Approx(0.5).epsilon(1e-5));
    UpdateStats last = first;
    for (int i = 0; i < 150; ++i) last = agent.update(batch);
    const double floor = std::log(2.0);
    MESSAGE("cross-entropy ", first.loss, " -> ", last.loss, " (floor ln 2 = ", floor, ")");
    CHECK(first.loss > 3.0f);  // about ln 51 = 3.9 for a near-uniform start
    CHECK(last.loss - floor < 0.25 * (first.loss - floor));
    CHECK(last.mean_q == doctest::Approx(-0.6).epsilon(0.1));  // the mean of 1 and -2.2
  }
}

TEST_CASE("C51 priorities are the per-sample cross-entropies, and weights scale the loss") {
  // The cross-entropy recomputed here from the online logits before the update and the agent's
  // target distribution, in double, sample by sample.
  Config config = make_preset("cartpole");
  Rng rng(6);
  DqnAgent agent(c51_spec(false), config, rng);
  Batch batch = random_batch(agent.spec(), 8, rng);
  for (std::int64_t i = 0; i < 8; ++i) batch.terminated[i] = i % 3 == 0 ? 1.0f : 0.0f;
  batch.weights = {1.0f, 0.5f, 0.25f, 1.0f, 0.0f, 2.0f, 1.0f, 0.75f};
  Tape probe;
  const auto logits = probe.view(agent.online().forward(probe, batch.obs.view()));
  const std::int64_t K = 51;
  std::vector<float> saved(logits.data, logits.data + 8 * 2 * K);
  const UpdateStats stats = agent.update(batch);
  double weighted = 0;
  for (std::int64_t i = 0; i < 8; ++i) {
    const float* row = saved.data() + i * 2 * K + batch.actions[i] * K;
    double m = -1e30, s = 0, ce = 0;
    for (std::int64_t j = 0; j < K; ++j) m = std::max(m, double(row[j]));
    for (std::int64_t j = 0; j < K; ++j) s += std::exp(double(row[j]) - m);
    for (std::int64_t j = 0; j < K; ++j)
      ce -= double(agent.target_distribution()[i * K + j]) * (double(row[j]) - m - std::log(s));
    CHECK(agent.abs_td_errors()[i] == doctest::Approx(ce).epsilon(1e-5));
    weighted += batch.weights[i] * ce;
  }
  CHECK(stats.loss == doctest::Approx(weighted / 8).epsilon(1e-5));
}

TEST_CASE("two-thread C51 updates give the same bits on every run") {
  for (const bool dueling : {false, true}) {
    CAPTURE(dueling);
    std::vector<float> runs[2];
    for (auto& out : runs) {
      ThreadScope scope(2);
      Config config = make_preset("cartpole");
      Rng rng(8);
      NetworkSpec spec = c51_spec(dueling);
      spec.hidden = {256, 256};  // above the two-task grain
      DqnAgent agent(spec, config, rng);
      const Batch batch = random_batch(spec, 64, rng);
      for (int i = 0; i < 3; ++i) agent.update(batch);
      for (const auto& p : agent.online().parameters())
        out.insert(out.end(), p.variable->value.data(),
                   p.variable->value.data() + p.variable->value.numel());
    }
    CHECK(runs[0] == runs[1]);
  }
}

TEST_CASE("with noisy nets, act is greedy on a fresh noise sample and never draws from its rng") {
  NetworkSpec spec;
  spec.observation_shape = {4};
  spec.num_actions = 3;
  spec.hidden = {16};
  spec.noisy = true;
  Config config;
  config.noisy_nets = true;
  Rng init(31), data(32);
  DqnAgent agent(spec, config, init);
  Rng act_rng(33);
  const Rng act_before = act_rng;
  float obs[4];
  for (float& v : obs) v = data.uniform(-1.0f, 1.0f);
  std::vector<std::int64_t> actions;
  for (int k = 0; k < 50; ++k) {
    const Rng noise_before = agent.noise_rng();
    // epsilon 1 would always explore; noisy nets ignore it and act greedily on a new sample.
    const std::int64_t a = agent.act(obs, 1.0, act_rng);
    CHECK(agent.noise_rng() != noise_before);
    // The same sample by hand: resample from the saved noise stream, then argmax.
    Rng replay_noise = noise_before;
    agent.online().resample_noise(replay_noise);
    Tensor q;
    CHECK(greedy_action(agent.online(), obs, q) == a);
    actions.push_back(a);
  }
  CHECK(act_rng == act_before);
  // The noise explores: over 50 samples at sigma0 0.5, more than one action is chosen.
  std::sort(actions.begin(), actions.end());
  CHECK(std::unique(actions.begin(), actions.end()) - actions.begin() > 1);
  // The mean network stays a fixed, deterministic policy.
  const std::int64_t mean_action = [&] {
    MeanWeightsScope scope(agent.online());
    return agent.greedy(obs);
  }();
  for (int k = 0; k < 5; ++k) {
    MeanWeightsScope scope(agent.online());
    agent.online().resample_noise(agent.noise_rng());
    agent.online().set_noise(false);
    CHECK(agent.greedy(obs) == mean_action);
  }
}

TEST_CASE("a noisy update draws online then target noise, and two agents agree bit for bit") {
  NetworkSpec spec;
  spec.observation_shape = {4};
  spec.num_actions = 2;
  spec.hidden = {16, 16};
  spec.noisy = true;
  Config config;
  config.noisy_nets = true;
  Rng init_a(41), init_b(41), data(42);
  DqnAgent a(spec, config, init_a), b(spec, config, init_b);
  const Batch batch = random_batch(spec, 16, data);
  // The draws of one update: online layers (in + out normals each), then the target's.
  Rng expected = a.noise_rng();
  a.online().resample_noise(expected);  // the same draws update() makes, on a throwaway sample
  a.target().resample_noise(expected);
  for (int k = 0; k < 3; ++k) {
    const UpdateStats sa = a.update(batch);
    const UpdateStats sb = b.update(batch);
    CHECK(sa.loss == sb.loss);
    CHECK(sa.grad_norm == sb.grad_norm);
    if (k == 0) CHECK(a.noise_rng() == expected);
  }
  // sigma is learned: its gradient is not zero, so Adam moved it from sigma0 / sqrt(in).
  const Tensor& sigma = a.online().parameters()[1].variable->value;  // net.0.weight_sigma
  CHECK(a.online().parameters()[1].name == "net.0.weight_sigma");
  bool moved = false;
  for (std::int64_t i = 0; i < sigma.numel(); ++i) moved = moved || sigma[i] != 0.25f;  // 0.5/2
  CHECK(moved);
  for (std::size_t i = 0; i < a.online().parameters().size(); ++i) {
    const Tensor& x = a.online().parameters()[i].variable->value;
    const Tensor& y = b.online().parameters()[i].variable->value;
    for (std::int64_t k = 0; k < x.numel(); ++k) REQUIRE(x[k] == y[k]);
  }
}
