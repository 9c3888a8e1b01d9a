// Tests that full DQN updates of our QNetwork, Tape, huber_loss, clip_grad_norm and Adam follow
// PyTorch 1.13 step for step, on the fixtures written by tests/fixtures/make_nn_fixtures.py (see
// that script for what each fixture holds and why).
//
// Tolerance: |ours - torch| <= 1e-5 * |torch| + atol per parameter, which covers float sums taken
// in another order (GEMM blocking, im2col, the norm over all gradients). The absolute term is for
// parameters whose gradient nearly cancels: Adam divides g by |g| + eps, so a relative error in a
// tiny g becomes an absolute error of up to lr (1e-4) times that relative error. atol is 1e-7
// (0.1% of one step's largest move) for the MLP, and 1e-6 (1%) for the Nature CNN, whose fc layer
// sums only 4 samples per weight gradient, so more of its 1.6 M gradients cancel to near zero
// (measured: the worst fc weight is at 0.87 x a 1e-7 atol; every other layer below 0.06 x).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/autodiff.hpp"
#include "core/rng.hpp"
#include "nn/optim.hpp"
#include "nn/qnetwork.hpp"
#include "tests/binary_fixture.hpp"

using namespace dqn;
using dqn::test::BinaryFixture;
using dqn::test::hash_init;

namespace {

constexpr float kGamma = 0.99f, kMaxNorm = 10.0f;
constexpr double kLr = 1e-4, kRelTol = 1e-5, kMlpAbsTol = 1e-7, kCnnAbsTol = 1e-6;

// Largest violation of the tolerance, as a multiple of it (<= 1 passes).
double worst_ratio(const float* ours, const std::vector<float>& torch, double abs_tol,
                   const std::vector<std::int64_t>* index = nullptr) {
  double worst = 0;
  for (std::size_t k = 0; k < torch.size(); ++k) {
    const double o = ours[index ? (*index)[k] : static_cast<std::int64_t>(k)];
    const double t = torch[k];
    worst = std::max(worst, std::fabs(o - t) / (abs_tol + kRelTol * std::fabs(t)));
  }
  return worst;
}

// One DQN update exactly as the seed's trainer writes it. Obs is float (MLP) or uint8 (CNN).
template <class Obs>
void dqn_step(QNetwork& online, QNetwork& target, Adam& adam, Tape& tape, View<const Obs> s,
              View<const Obs> s2, const std::vector<std::int64_t>& a, const std::vector<float>& r,
              const std::vector<float>& term, float& loss_out, float& norm_out) {
  const std::int64_t n = s.dim(0);
  Tensor y(Shape{n});
  tape.reset();
  const Value q = tape.gather_actions(online.forward(tape, s), a.data());
  {
    NoGradScope no_grad(tape);
    const auto next_q = tape.view(tape.max_actions(target.forward(tape, s2)));
    // y = r + 0.99 * next_q * (1 - terminated): termination, not truncation, stops bootstrapping.
    for (std::int64_t i = 0; i < n; ++i) y[i] = r[i] + (kGamma * next_q[i]) * (1.0f - term[i]);
  }
  const Value loss = huber_loss(tape, q, tape.input(y.view()));
  loss_out = tape.item(loss);
  online.zero_grad();
  tape.backward(loss);
  norm_out = clip_grad_norm(online.parameters(), kMaxNorm);
  adam.step();
}

}  // namespace

TEST_CASE("five DQN updates of the 4-256-256-2 MLP match PyTorch") {
  const BinaryFixture fx("nn_mlp_dqn.bin");
  NetworkSpec spec;  // the defaults are the seed's network: mlp 4-256-256-2
  Rng rng(0);
  QNetwork online(spec, rng), target(spec, rng);
  for (const auto& p : online.parameters()) {
    const std::vector<float> init = fx.f32("init." + p.name);
    REQUIRE(fx.shape("init." + p.name) == p.variable->value.shape());
    std::memcpy(p.variable->value.data(), init.data(), init.size() * sizeof(float));
  }
  target.copy_from(online);
  Adam adam(online.parameters(), AdamHyper{.lr = kLr});

  const std::vector<float> s = fx.f32("states"), s2 = fx.f32("next_states");
  const ConstTensorView sv{s.data(), Shape{64, 4}}, s2v{s2.data(), Shape{64, 4}};
  const auto losses = fx.f32("losses"), norms = fx.f32("grad_norms");
  Tape tape;
  for (int step = 1; step <= 5; ++step) {
    float loss = 0, norm = 0;
    dqn_step(online, target, adam, tape, sv, s2v, fx.i64("actions"), fx.f32("rewards"),
             fx.f32("terminated"), loss, norm);
    CAPTURE(step);
    CHECK(loss == doctest::Approx(losses[step - 1]).epsilon(kRelTol));
    CHECK(norm == doctest::Approx(norms[step - 1]).epsilon(kRelTol));
    if (step == 1 || step == 5) {
      double worst = 0;
      for (const auto& p : online.parameters()) {
        CAPTURE(p.name);
        const double ratio =
            worst_ratio(p.variable->value.data(),
                        fx.f32("step" + std::to_string(step) + "." + p.name), kMlpAbsTol);
        CHECK(ratio <= 1.0);
        worst = std::max(worst, ratio);
      }
      MESSAGE("after step ", step, " the worst parameter is at ", worst, " x the tolerance");
    }
  }
  CHECK(adam.steps() == 5);
}

TEST_CASE("two DQN updates of the Nature CNN on uint8 frames match PyTorch") {
  const BinaryFixture fx("nn_cnn_dqn.bin");
  const NetworkSpec spec = NetworkSpec::nature_cnn(6);
  Rng rng(0);
  QNetwork online(spec, rng), target(spec, rng);
  const auto& params = online.parameters();
  const char* expected_names[] = {"net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias",
                                  "net.4.weight", "net.4.bias", "net.7.weight", "net.7.bias",
                                  "net.9.weight", "net.9.bias"};
  REQUIRE(params.size() == 10);
  for (std::size_t i = 0; i < params.size(); ++i) {
    REQUIRE(params[i].name == expected_names[i]);
    // fan_in: the layer weight's elements per output unit; a bias takes its layer's.
    const Tensor& weight = params[i - i % 2].variable->value;
    hash_init(params[i].variable->value, weight.numel() / weight.dim(0),
              static_cast<std::uint32_t>(i + 1));
  }
  target.copy_from(online);
  Adam adam(online.parameters(), AdamHyper{.lr = kLr});

  const std::vector<std::uint8_t> s = fx.u8("states"), s2 = fx.u8("next_states");
  const View<const std::uint8_t> sv{s.data(), Shape{4, 4, 84, 84}},
      s2v{s2.data(), Shape{4, 4, 84, 84}};
  const auto losses = fx.f32("losses"), norms = fx.f32("grad_norms");
  Tape tape;
  for (int step = 1; step <= 2; ++step) {
    float loss = 0, norm = 0;
    dqn_step(online, target, adam, tape, sv, s2v, fx.i64("actions"), fx.f32("rewards"),
             fx.f32("terminated"), loss, norm);
    CAPTURE(step);
    CHECK(loss == doctest::Approx(losses[step - 1]).epsilon(kRelTol));
    CHECK(norm == doctest::Approx(norms[step - 1]).epsilon(kRelTol));
  }
  double worst = 0;
  for (const auto& p : params) {
    CAPTURE(p.name);
    const std::vector<std::int64_t> index = fx.i64("step2_index." + p.name);
    const double ratio =
        worst_ratio(p.variable->value.data(), fx.f32("step2." + p.name), kCnnAbsTol, &index);
    CHECK(ratio <= 1.0);
    worst = std::max(worst, ratio);
  }
  MESSAGE("after step 2 the worst sampled parameter is at ", worst, " x the tolerance");
}
