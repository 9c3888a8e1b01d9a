// Tests that one C51 update of DqnAgent (Bellemare et al. 2017, with Double DQN, n-step
// discounts and prioritized-replay weights around it) follows PyTorch 1.13: the projected
// target distribution, the per-sample cross-entropy (the new priorities), the loss, every
// gradient and every parameter after the Adam step, on the fixtures written by
// tests/fixtures/make_c51_fixture.py (see that script for what each holds): a plain MLP, a
// dueling MLP and the dueling Nature CNN on uint8 frames (the CNN's gradients and parameters
// compared at a strided sample of each tensor).
//
// Tolerances. The target distribution is a probability vector computed in float on both sides
// in other forms (our fractional scatter against the script's two index_adds): 1e-6 absolute, ~17
// float ulps of 1. Cross-entropies, the loss and the gradients: 1e-5 relative, as the DQN parity
// test, plus an absolute floor for entries that nearly cancel (a gradient is a sum over the batch
// of w_i (p_ij - m_ij) terms of both signs): 1e-6 x the tensor's largest |gradient|. Parameters
// after the step: 1e-5 relative plus 1e-6 = lr / 1000 absolute (Adam's first step moves a
// parameter by lr g / (|g| + eps), which for a g that nearly cancels turns a relative error of
// g into an absolute one of up to lr times it).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "rl/agent.hpp"
#include "tests/binary_fixture.hpp"

using namespace dqn;
using dqn::test::BinaryFixture;
using dqn::test::hash_init;

namespace {

constexpr double kRelTol = 1e-5;

// `index` (optional): the sampled elements of `ours` that `torch` holds (the CNN fixture).
double worst_ratio(const float* ours, const std::vector<float>& torch, double abs_tol,
                   const std::vector<std::int64_t>* index = nullptr) {
  double worst = 0;
  for (std::size_t k = 0; k < torch.size(); ++k) {
    const double o = ours[index ? (*index)[k] : static_cast<std::int64_t>(k)];
    worst = std::max(worst,
                     std::fabs(o - torch[k]) / (abs_tol + kRelTol * std::fabs(double(torch[k]))));
  }
  return worst;
}

// make_c51_fixture.py's hash_init_module: salts first_salt.. in parameter order, fan_in the
// layer weight's elements per output unit.
void hash_init_network(QNetwork& net, std::uint32_t first_salt) {
  const auto& params = net.parameters();
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Tensor& weight = params[i - i % 2].variable->value;
    hash_init(params[i].variable->value, weight.numel() / weight.dim(0),
              first_salt + static_cast<std::uint32_t>(i));
  }
}

void load(QNetwork& net, const BinaryFixture& fx, const std::string& prefix) {
  for (const auto& p : net.parameters()) {
    REQUIRE(fx.shape(prefix + p.name) == p.variable->value.shape());
    const std::vector<float> v = fx.f32(prefix + p.name);
    std::memcpy(p.variable->value.data(), v.data(), v.size() * sizeof(float));
  }
}

void check_update(const char* file, const NetworkSpec& spec, bool double_dqn) {
  const BinaryFixture fx(file);
  Config c = make_preset("cartpole");
  c.lr = 1e-3;
  c.adam_eps = 1e-8;
  c.max_grad_norm = 0;  // the fixture does not clip
  c.double_dqn = double_dqn;
  Rng rng(0);
  DqnAgent agent(spec, c, rng);
  const bool frames = spec.kind == NetworkKind::kNatureCnn;
  if (frames) {
    hash_init_network(agent.online(), 1);
    hash_init_network(agent.target(), 101);
  } else {
    load(agent.online(), fx, "init.");
    load(agent.target(), fx, "target.");
  }
  const std::vector<float> z = fx.f32("support");
  REQUIRE(z.size() == agent.online().support().size());
  for (std::size_t j = 0; j < z.size(); ++j) REQUIRE(agent.online().support()[j] == z[j]);

  const auto copy = [&](Tensor& t, const char* name) {
    const std::vector<float> v = fx.f32(name);
    REQUIRE(static_cast<std::int64_t>(v.size()) == t.numel());
    std::memcpy(t.data(), v.data(), v.size() * sizeof(float));
  };
  Batch b;
  const Shape obs = fx.shape("states");
  b.size = obs[0];
  if (frames) {
    b.frames = TensorU8(obs);
    b.next_frames = TensorU8(obs);
    const std::vector<std::uint8_t> f = fx.u8("states"), f2 = fx.u8("next_states");
    std::memcpy(b.frames.data(), f.data(), f.size());
    std::memcpy(b.next_frames.data(), f2.data(), f2.size());
  } else {
    b.obs = Tensor(obs);
    b.next_obs = Tensor(obs);
    copy(b.obs, "states");
    copy(b.next_obs, "next_states");
  }
  b.rewards = Tensor(Shape{b.size});
  b.terminated = Tensor(Shape{b.size});
  copy(b.rewards, "rewards");
  copy(b.terminated, "terminated");
  b.actions = fx.i64("actions");
  b.discounts = fx.f32("discounts");
  b.weights = fx.f32("weights");

  const UpdateStats stats = agent.update(b);

  const std::vector<float> m = fx.f32("target_distribution");
  double worst_m = 0;
  for (std::size_t k = 0; k < m.size(); ++k)
    worst_m = std::max(worst_m, std::fabs(double(agent.target_distribution()[k]) - m[k]));
  CHECK(worst_m <= 1e-6);
  // The l == u trap: sample 0 is terminal with reward 1, and that must still be a distribution.
  double row0 = 0;
  for (std::int64_t k = 0; k < spec.atoms; ++k) row0 += agent.target_distribution()[k];
  CHECK(row0 == doctest::Approx(1.0).epsilon(1e-6));

  const std::vector<float> ce = fx.f32("cross_entropy");
  const double ce_ratio = worst_ratio(agent.abs_td_errors().data(), ce, 1e-6);
  CHECK(ce_ratio <= 1.0);
  CHECK(stats.loss == doctest::Approx(fx.f32("loss")[0]).epsilon(kRelTol));

  double worst_grad = 0, worst_param = 0;
  for (const auto& p : agent.online().parameters()) {
    CAPTURE(p.name);
    const std::vector<float> g = fx.f32("grad." + p.name);
    std::vector<std::int64_t> index;
    if (frames) index = fx.i64("index." + p.name);
    const std::vector<std::int64_t>* sample = frames ? &index : nullptr;
    double largest = 0;
    for (float x : g) largest = std::max(largest, std::fabs(double(x)));
    const double gr = worst_ratio(p.variable->grad.data(), g, 1e-6 * largest, sample);
    CHECK(gr <= 1.0);
    worst_grad = std::max(worst_grad, gr);
    const double pr =
        worst_ratio(p.variable->value.data(), fx.f32("step1." + p.name), 1e-6, sample);
    CHECK(pr <= 1.0);
    worst_param = std::max(worst_param, pr);
  }
  MESSAGE(std::string(file), ": target distribution within ", worst_m, ", cross-entropy at ",
          ce_ratio, ", gradients at ", worst_grad, ", parameters after the step at ", worst_param,
          " x the tolerance");
}

}  // namespace

TEST_CASE("one C51 update of an MLP (Double DQN, n-step discounts, PER weights) matches PyTorch") {
  NetworkSpec spec;
  spec.observation_shape = {4};
  spec.num_actions = 3;
  spec.hidden = {32, 32};
  spec.atoms = 51;
  spec.v_min = -10;
  spec.v_max = 10;
  check_update("nn_c51_mlp.bin", spec, true);
}

TEST_CASE("one C51 update of a dueling MLP (per-atom dueling, clipped targets) matches PyTorch") {
  NetworkSpec spec;
  spec.observation_shape = {6};
  spec.num_actions = 4;
  spec.hidden = {32};
  spec.dueling = true;
  spec.atoms = 11;
  spec.v_min = -3;
  spec.v_max = 5;
  check_update("nn_c51_dueling.bin", spec, false);
}

TEST_CASE("one C51 update of the dueling Nature CNN on uint8 frames matches PyTorch (sampled)") {
  NetworkSpec spec = NetworkSpec::nature_cnn(6, true);
  spec.atoms = 51;
  spec.v_min = -10;
  spec.v_max = 10;
  check_update("nn_c51_cnn.bin", spec, true);
}
