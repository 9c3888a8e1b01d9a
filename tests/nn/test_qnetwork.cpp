// Tests for nn/module.hpp and nn/qnetwork.hpp: PyTorch's parameter names and initialisation
// bounds, tape and tape-free paths agreeing, dueling, target-network updates, shape errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "nn/qnetwork.hpp"

using namespace dqn;

namespace {
NetworkSpec cnn_spec(bool dueling = false) {
  return NetworkSpec::nature_cnn(6, dueling);
}
}  // namespace

TEST_CASE("the MLP's parameters carry the names and shapes of the seed's PyTorch Sequential") {
  Rng rng(1);
  QNetwork net(NetworkSpec{}, rng);
  std::vector<std::string> names;
  for (const auto& p : net.parameters())
    names.push_back(p.name + " " + p.variable->value.shape().str());
  CHECK(names == std::vector<std::string>{"net.0.weight (256,4)", "net.0.bias (256)",
                                          "net.2.weight (256,256)", "net.2.bias (256)",
                                          "net.4.weight (2,256)", "net.4.bias (2)"});
  CHECK(net.parameter_count() == 4 * 256 + 256 + 256 * 256 + 256 + 256 * 2 + 2);
}

TEST_CASE(
    "the Nature CNN has the layers of Mnih et al. 2015 and 1,687,206 parameters for 6 actions") {
  Rng rng(1);
  QNetwork net(cnn_spec(), rng);
  std::vector<std::string> names;
  for (const auto& p : net.parameters())
    names.push_back(p.name + " " + p.variable->value.shape().str());
  CHECK(names == std::vector<std::string>{"net.0.weight (32,4,8,8)", "net.0.bias (32)",
                                          "net.2.weight (64,32,4,4)", "net.2.bias (64)",
                                          "net.4.weight (64,64,3,3)", "net.4.bias (64)",
                                          "net.7.weight (512,3136)", "net.7.bias (512)",
                                          "net.9.weight (6,512)", "net.9.bias (6)"});
  // 8,224 + 32,832 + 36,928 + 1,606,144 + 3,078.
  CHECK(net.parameter_count() == 1687206);
}

TEST_CASE("initialisation stays within PyTorch's +-1/sqrt(fan_in) and uses the whole range") {
  Rng rng(2);
  QNetwork net(NetworkSpec{}, rng);
  const Variable& w = *net.parameters()[2].variable;  // net.2.weight, fan_in 256
  const float bound = 1.0f / 16.0f;
  float lo = 1, hi = -1;
  for (std::int64_t i = 0; i < w.value.numel(); ++i) {
    lo = std::min(lo, w.value[i]);
    hi = std::max(hi, w.value[i]);
  }
  CHECK(lo >= -bound);
  CHECK(hi <= bound);
  CHECK(lo < -0.99f * bound);
  CHECK(hi > 0.99f * bound);
}

TEST_CASE("tape forward and tape-free inference agree, for the MLP and the dueling CNN") {
  Rng rng(3);
  {
    NetworkSpec spec;
    spec.dueling = true;
    QNetwork net(spec, rng);
    Tensor obs(Shape{5, 4});
    for (std::int64_t i = 0; i < obs.numel(); ++i) obs[i] = rng.uniform_float();
    Tape tape;
    const Value q = net.forward(tape, obs.view());
    Tensor q2;
    net.infer(obs.view(), q2);
    REQUIRE(q2.shape() == Shape{5, 2});
    for (std::int64_t i = 0; i < 10; ++i)
      CHECK(q2[i] == doctest::Approx(tape.view(q)[i]).epsilon(1e-5));
  }
  {
    QNetwork net(cnn_spec(true), rng);
    TensorU8 frames(Shape{2, 4, 84, 84});
    for (std::int64_t i = 0; i < frames.numel(); ++i)
      frames[i] = static_cast<std::uint8_t>(rng.below(256));
    Tape tape;
    const Value q = net.forward(tape, frames.view());
    Tensor q2;
    net.infer(frames.view(), q2);
    REQUIRE(q2.shape() == Shape{2, 6});
    for (std::int64_t i = 0; i < 12; ++i)
      CHECK(q2[i] == doctest::Approx(tape.view(q)[i]).epsilon(1e-4));
  }
}

TEST_CASE("dueling Q-values have advantages centred on each row's mean") {
  Rng rng(4);
  NetworkSpec spec;
  spec.dueling = true;
  spec.num_actions = 3;
  QNetwork net(spec, rng);
  // Q = V + A - mean(A), so mean_a Q = V: compare with the value head alone.
  Tensor obs(Shape{1, 4});
  obs[0] = 0.3f;
  Tape tape;
  const Value q = net.forward(tape, obs.view());
  CHECK(net.parameters().back().name == "advantage.0.bias");
  const ConstTensorView qv = tape.view(q);
  const float mean_q = (qv[0] + qv[1] + qv[2]) / 3.0f;
  // The value head is the only path to V: check mean Q moves 1:1 with the value bias.
  Variable& value_bias = *net.parameters()[net.parameters().size() - 3].variable;
  CHECK(net.parameters()[net.parameters().size() - 3].name == "value.0.bias");
  value_bias.value[0] += 1.0f;
  tape.reset();
  const Value q_shifted = net.forward(tape, obs.view());
  const ConstTensorView qs = tape.view(q_shifted);
  CHECK((qs[0] + qs[1] + qs[2]) / 3.0f == doctest::Approx(mean_q + 1.0f));
}

TEST_CASE("hard copy and Polyak averaging of the target network") {
  Rng rng(5);
  QNetwork online(NetworkSpec{}, rng), target(NetworkSpec{}, rng);
  const float before_online = online.parameters()[0].variable->value[0];
  const float before_target = target.parameters()[0].variable->value[0];
  target.polyak_from(online, 0.25f);
  CHECK(target.parameters()[0].variable->value[0] ==
        doctest::Approx(0.25f * before_online + 0.75f * before_target));
  target.copy_from(online);
  for (std::size_t i = 0; i < online.parameters().size(); ++i) {
    const Tensor& a = online.parameters()[i].variable->value;
    const Tensor& b = target.parameters()[i].variable->value;
    for (std::int64_t k = 0; k < a.numel(); ++k) REQUIRE(a[k] == b[k]);
  }
  NetworkSpec other;
  other.hidden = {128};
  QNetwork small(other, rng);
  CHECK_THROWS_WITH_AS(target.copy_from(small), doctest::Contains("mlp 4-128-2"), Error);
}

TEST_CASE("bad specs and bad inputs are refused with the expected and the given shape") {
  Rng rng(6);
  NetworkSpec bad;
  bad.hidden = {};
  CHECK_THROWS_WITH_AS(QNetwork(bad, rng), doctest::Contains("at least one hidden layer"), Error);
  QNetwork net(NetworkSpec{}, rng);
  Tensor wrong(Shape{3, 5});
  Tape tape;
  CHECK_THROWS_WITH_AS(net.forward(tape, wrong.view()), doctest::Contains("(3,5)"), Error);
  Tensor q;
  CHECK_THROWS_WITH_AS(net.infer(wrong.view(), q), doctest::Contains("expected input (N,4)"),
                       Error);
}

TEST_CASE("a C51 head: logits (N, A*atoms), and inference gives the expected value sum z p") {
  // For the plain and dueling MLP and the dueling Nature CNN: infer's Q(s,a) equals
  // sum_j z_j softmax(forward's logits of a)_j computed here in double.
  Rng rng(11);
  NetworkSpec mlp;
  mlp.hidden = {16};
  mlp.num_actions = 3;
  mlp.atoms = 7;
  mlp.v_min = -1.5;
  mlp.v_max = 4.5;
  NetworkSpec duel = mlp;
  duel.dueling = true;
  NetworkSpec cnn = cnn_spec(true);
  cnn.atoms = 5;
  for (const NetworkSpec& spec : {mlp, duel, cnn}) {
    CAPTURE(spec.describe());
    QNetwork net(spec, rng);
    const std::int64_t n = 2, A = spec.num_actions, K = spec.atoms;
    REQUIRE(net.support().size() == static_cast<std::size_t>(K));
    CHECK(net.support().front() == static_cast<float>(spec.v_min));
    CHECK(net.support().back() == static_cast<float>(spec.v_max));
    Tape tape;
    Tensor obs(Shape{n, 4}), q;
    TensorU8 frames(Shape{n, 4, 84, 84});
    Value logits;
    if (spec.kind == NetworkKind::kMlp) {
      for (std::int64_t i = 0; i < obs.numel(); ++i) obs[i] = rng.uniform(-2.0f, 2.0f);
      logits = net.forward(tape, obs.view());
      net.infer(obs.view(), q);
    } else {
      for (std::int64_t i = 0; i < frames.numel(); ++i)
        frames[i] = static_cast<std::uint8_t>(rng.below(256));
      logits = net.forward(tape, frames.view());
      net.infer(frames.view(), q);
    }
    REQUIRE(tape.shape(logits) == Shape{n, A * K});
    REQUIRE(q.shape() == Shape{n, A});
    const auto l = tape.view(logits);
    for (std::int64_t r = 0; r < n * A; ++r) {
      double m = -1e30, s = 0, e = 0;
      for (std::int64_t j = 0; j < K; ++j) m = std::max(m, double(l[r * K + j]));
      for (std::int64_t j = 0; j < K; ++j) s += std::exp(double(l[r * K + j]) - m);
      for (std::int64_t j = 0; j < K; ++j)
        e += double(net.support()[j]) * std::exp(double(l[r * K + j]) - m) / s;
      CHECK(q[r] == doctest::Approx(e).epsilon(1e-5).scale(1.0));
    }
  }
  NetworkSpec bad = mlp;
  bad.v_max = bad.v_min;
  CHECK_THROWS_WITH_AS(QNetwork(bad, rng), doctest::Contains("v_min < v_max"), Error);
  bad = mlp;
  bad.atoms = 0;
  CHECK_THROWS_WITH_AS(QNetwork(bad, rng), doctest::Contains("atoms must be in [1, 1024]"), Error);
}

TEST_CASE("the data-efficient CNN has the layers of van Hasselt et al. 2019: 203,750 parameters") {
  Rng rng(7);
  QNetwork net(NetworkSpec::der_cnn(6), rng);
  std::vector<std::string> names;
  for (const auto& p : net.parameters())
    names.push_back(p.name + " " + p.variable->value.shape().str());
  CHECK(names == std::vector<std::string>{"net.0.weight (32,4,5,5)", "net.0.bias (32)",
                                          "net.2.weight (64,32,5,5)", "net.2.bias (64)",
                                          "net.5.weight (256,576)", "net.5.bias (256)",
                                          "net.7.weight (6,256)", "net.7.bias (6)"});
  // 3,232 + 51,264 + 147,712 + 1,542: 84 -> 16 -> 3 pixels, 64 * 3 * 3 = 576 features.
  CHECK(net.parameter_count() == 203750);
  CHECK(NetworkSpec::der_cnn(6).describe() == "der-cnn 4x84x84 -> 6");
  CHECK_FALSE(NetworkSpec::der_cnn(6) == NetworkSpec::nature_cnn(6));
  CHECK(NetworkSpec::der_cnn(6).pixels());
  Tensor obs(Shape{1, 4});
  Tape tape;
  CHECK_THROWS_WITH_AS(net.forward(tape, obs.view()), doctest::Contains("float observations"),
                       Error);
}

TEST_CASE("the data-efficient CNN's tape forward and inference agree, plain and dueling noisy") {
  Rng rng(8), noise(9);
  TensorU8 frames(Shape{3, 4, 84, 84});
  for (std::int64_t i = 0; i < frames.numel(); ++i)
    frames[i] = static_cast<std::uint8_t>(rng.below(256));
  NetworkSpec noisy_dueling = NetworkSpec::der_cnn(4, /*dueling=*/true);
  noisy_dueling.noisy = true;
  for (const NetworkSpec& spec : {NetworkSpec::der_cnn(4), noisy_dueling}) {
    CAPTURE(spec.describe());
    QNetwork net(spec, rng);
    if (spec.noisy) {
      CHECK(net.noisy_layers().size() == 4);
      CHECK(net.parameters()[4].name == "value.0.weight_mu");
      CHECK(net.parameters()[4].variable->value.shape() == Shape{256, 576});
      net.resample_noise(noise);
    }
    Tape tape;
    const Value q = net.forward(tape, frames.view());
    Tensor q2;
    net.infer(frames.view(), q2);
    REQUIRE(q2.shape() == Shape{3, 4});
    for (std::int64_t i = 0; i < 12; ++i)
      CHECK(q2[i] == doctest::Approx(tape.view(q)[i]).epsilon(1e-4));
  }
}
