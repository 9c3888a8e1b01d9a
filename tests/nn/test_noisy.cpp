// Tests for NoisyLinear (nn/module.hpp) and noisy QNetworks: the paper's initialisation, the
// forward pass against a hand computation from the same normal draws, gradients by finite
// differences in double, noise reproducible from its Rng, the mean-weights mode, and
// checkpoints of noisy networks (and version 1 files read as noise-free).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/parallel.hpp"
#include "core/rng.hpp"
#include "nn/checkpoint.hpp"
#include "nn/optim.hpp"
#include "nn/qnetwork.hpp"
#include "tests/gradient_check.hpp"

using namespace dqn;

namespace {

NetworkSpec noisy_mlp(std::vector<std::int64_t> hidden = {8}, bool dueling = false) {
  NetworkSpec spec;
  spec.observation_shape = {3};
  spec.num_actions = 2;
  spec.hidden = std::move(hidden);
  spec.dueling = dueling;
  spec.noisy = true;
  return spec;
}

std::vector<float> q_values(QNetwork& net, const Tensor& obs) {
  Tensor q;
  net.infer(obs.view(), q);
  return std::vector<float>(q.data(), q.data() + q.numel());
}

Tensor random_obs(std::int64_t n, std::int64_t d, Rng& rng) {
  Tensor x(Shape{n, d});
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = rng.uniform(-1.0f, 1.0f);
  return x;
}

}  // namespace

TEST_CASE("NoisyLinear initialises mu in +-1/sqrt(in) and sigma to sigma0/sqrt(in), noise off") {
  Rng rng(3);
  NoisyLinear layer(16, 5, 0.5, rng);
  for (std::int64_t i = 0; i < layer.weight_mu.value.numel(); ++i)
    REQUIRE(std::abs(layer.weight_mu.value[i]) <= 0.25f);
  for (std::int64_t i = 0; i < 5; ++i) REQUIRE(std::abs(layer.bias_mu.value[i]) <= 0.25f);
  for (std::int64_t i = 0; i < layer.weight_sigma.value.numel(); ++i)
    REQUIRE(layer.weight_sigma.value[i] == 0.125f);  // 0.5 / sqrt(16), exact in float
  for (std::int64_t i = 0; i < 5; ++i) REQUIRE(layer.bias_sigma.value[i] == 0.125f);
  CHECK_FALSE(layer.noise_on());
  std::vector<NamedVariable> params;
  layer.parameters("fc", params);
  REQUIRE(params.size() == 4);
  CHECK(params[0].name == "fc.weight_mu");
  CHECK(params[1].name == "fc.weight_sigma");
  CHECK(params[2].name == "fc.bias_mu");
  CHECK(params[3].name == "fc.bias_sigma");
}

TEST_CASE("NoisyLinear's forward equals a hand computation from the same normal draws") {
  Rng init(4);
  NoisyLinear layer(3, 2, 0.5, init);
  // Non-uniform sigma so a swapped index would show.
  for (std::int64_t i = 0; i < 6; ++i)
    layer.weight_sigma.value[i] = 0.1f * static_cast<float>(i + 1);
  layer.bias_sigma.value[0] = 0.7f;
  layer.bias_sigma.value[1] = -0.3f;
  Rng noise(99);
  Rng copy = noise;
  layer.resample(noise);
  CHECK(layer.noise_on());

  // The draws by hand: eps_in (3) then eps_out (2), each through f(x) = sgn(x) sqrt|x|.
  double fin[3], fout[2];
  for (double& v : fin) {
    const double e = copy.normal();
    v = e < 0 ? -std::sqrt(-e) : std::sqrt(e);
  }
  for (double& v : fout) {
    const double e = copy.normal();
    v = e < 0 ? -std::sqrt(-e) : std::sqrt(e);
  }
  CHECK(noise == copy);  // the layer drew exactly in + out normals
  const double x[2][3] = {{0.5, -1.0, 2.0}, {-0.25, 0.75, 0.1}};
  Tensor xt(Shape{2, 3});
  for (int n = 0; n < 2; ++n)
    for (int i = 0; i < 3; ++i) xt[n * 3 + i] = static_cast<float>(x[n][i]);

  Tensor y;
  layer.infer(xt.view(), y);
  Tape tape;
  const Value yt = layer.forward(tape, tape.input(xt.view()));
  for (int n = 0; n < 2; ++n)
    for (int o = 0; o < 2; ++o) {
      double expected = layer.bias_mu.value[o] + layer.bias_sigma.value[o] * fout[o];
      for (int i = 0; i < 3; ++i)
        expected += x[n][i] * (layer.weight_mu.value[o * 3 + i] +
                               layer.weight_sigma.value[o * 3 + i] * fout[o] * fin[i]);
      CAPTURE(n);
      CAPTURE(o);
      CHECK(y[n * 2 + o] == doctest::Approx(expected).epsilon(1e-5));
      CHECK(tape.view(yt)[n * 2 + o] == doctest::Approx(expected).epsilon(1e-5));
    }

  // Noise off: the mean weights alone, on both paths.
  layer.set_noise(false);
  layer.infer(xt.view(), y);
  tape.reset();
  const Value ym = layer.forward(tape, tape.input(xt.view()));
  for (int n = 0; n < 2; ++n)
    for (int o = 0; o < 2; ++o) {
      double expected = layer.bias_mu.value[o];
      for (int i = 0; i < 3; ++i) expected += x[n][i] * layer.weight_mu.value[o * 3 + i];
      CHECK(y[n * 2 + o] == doctest::Approx(expected).epsilon(1e-5));
      CHECK(tape.view(ym)[n * 2 + o] == doctest::Approx(expected).epsilon(1e-5));
    }
}

TEST_CASE("the noisy layer's graph has finite-difference gradients for mu, sigma and the input") {
  Rng rng(5);
  const std::int64_t in = 4, out = 3, batch = 5;
  VariableD w_mu(Shape{out, in}), w_sigma(Shape{out, in}), b_mu(Shape{out}), b_sigma(Shape{out}),
      x(Shape{batch, in});
  for (auto* v : {&w_mu, &w_sigma, &b_mu, &b_sigma, &x})
    for (std::int64_t i = 0; i < v->value.numel(); ++i) v->value[i] = rng.uniform(-1.0, 1.0);
  TensorD fin(Shape{in}), fout(Shape{out});
  for (std::int64_t i = 0; i < in; ++i) fin[i] = noisy_f(rng.normal());
  for (std::int64_t o = 0; o < out; ++o) fout[o] = noisy_f(rng.normal());
  // A smooth loss (mean of y^2): no kinks for the differences to straddle.
  auto loss = [&](TapeD& t) {
    const Value y = noisy_linear(t, t.param(x), t.param(w_mu), t.param(w_sigma), t.param(b_mu),
                                 t.param(b_sigma), fin.view(), fout.view());
    return t.mean(t.mul(y, y));
  };
  std::vector<VariableD*> vars = {&w_mu, &w_sigma, &b_mu, &b_sigma, &x};
  dqn::test::check_gradients(loss, vars);  // central differences, h = 1e-6
  // And the chain rule's shape: dL/dsigma = dL/dW . eps with eps = f_out f_in^T (dL/dmu =
  // dL/dW), so no eps = 0 trap.
  for (std::int64_t o = 0; o < out; ++o)
    for (std::int64_t i = 0; i < in; ++i)
      CHECK(w_sigma.grad[o * in + i] ==
            doctest::Approx(w_mu.grad[o * in + i] * fout[o] * fin[i]).epsilon(1e-12));
  for (std::int64_t o = 0; o < out; ++o)
    CHECK(b_sigma.grad[o] == doctest::Approx(b_mu.grad[o] * fout[o]).epsilon(1e-12));
}

TEST_CASE("a noisy MLP's float module gradient reaches sigma as dL/dW times the noise") {
  Rng rng(6);
  NoisyLinear layer(4, 3, 0.5, rng);
  Rng noise(7);
  layer.resample(noise);
  const Tensor x = random_obs(5, 4, rng);
  Tape tape;
  const Value y = layer.forward(tape, tape.input(x.view()));
  for (auto* v : {&layer.weight_mu, &layer.weight_sigma, &layer.bias_mu, &layer.bias_sigma})
    v->zero_grad();
  tape.backward(tape.mean(tape.mul(y, y)));
  bool any_nonzero = false;
  for (std::int64_t i = 0; i < 12; ++i) {
    const float eps = layer.noise_out()[i / 4] * layer.noise_in()[i % 4];
    CHECK(layer.weight_sigma.grad[i] ==
          doctest::Approx(layer.weight_mu.grad[i] * eps).epsilon(1e-5));
    any_nonzero = any_nonzero || layer.weight_sigma.grad[i] != 0.0f;
  }
  for (std::int64_t o = 0; o < 3; ++o)
    CHECK(layer.bias_sigma.grad[o] ==
          doctest::Approx(layer.bias_mu.grad[o] * layer.noise_out()[o]).epsilon(1e-5));
  CHECK(any_nonzero);
}

TEST_CASE("noisy networks: fc layers named *_mu and *_sigma, in every kind and head") {
  Rng rng(1);
  QNetwork mlp(noisy_mlp({8, 8}), rng);
  std::vector<std::string> names;
  for (const auto& p : mlp.parameters()) names.push_back(p.name);
  CHECK(names == std::vector<std::string>{
                     "net.0.weight_mu", "net.0.weight_sigma", "net.0.bias_mu", "net.0.bias_sigma",
                     "net.2.weight_mu", "net.2.weight_sigma", "net.2.bias_mu", "net.2.bias_sigma",
                     "net.4.weight_mu", "net.4.weight_sigma", "net.4.bias_mu", "net.4.bias_sigma"});
  CHECK(mlp.noisy_layers().size() == 3);

  NetworkSpec cnn = NetworkSpec::nature_cnn(6, /*dueling=*/true);
  cnn.noisy = true;
  QNetwork duel(cnn, rng);
  CHECK(duel.noisy_layers().size() == 4);  // value 512, value 1, advantage 512, advantage 6
  names.clear();
  for (const auto& p : duel.parameters()) names.push_back(p.name);
  CHECK(names[0] == "features.0.weight");  // convolutions stay plain
  CHECK(std::find(names.begin(), names.end(), "value.2.weight_sigma") != names.end());
  CHECK(std::find(names.begin(), names.end(), "advantage.0.bias_mu") != names.end());
  CHECK(duel.describe().find("NoisyLinear(3136, 512)") != std::string::npos);
  CHECK(cnn.describe() == "nature-cnn 4x84x84 -> 6 dueling noisy");
}

TEST_CASE("noise is reproducible from its Rng, and the mean-weights mode is deterministic") {
  for (const bool dueling : {false, true}) {
    CAPTURE(dueling);
    Rng init_a(11), init_b(11), data(12);
    QNetwork a(noisy_mlp({8}, dueling), init_a), b(noisy_mlp({8}, dueling), init_b);
    const Tensor obs = random_obs(4, 3, data);
    // Fresh networks are noise-free; with zero noise, the noisy and the mean output agree.
    CHECK_FALSE(a.noise_on());
    const std::vector<float> mean = q_values(a, obs);

    Rng noise_a(21), noise_b(21);
    a.resample_noise(noise_a);
    b.resample_noise(noise_b);
    CHECK(a.noise_on());
    const std::vector<float> qa = q_values(a, obs);
    CHECK(qa == q_values(b, obs));  // same seed, same bits
    CHECK(qa != mean);              // the noise changes the output
    a.resample_noise(noise_a);
    const std::vector<float> qa2 = q_values(a, obs);
    CHECK(qa2 != qa);  // a new sample, a new output
    CHECK(noise_a != noise_b);

    {
      MeanWeightsScope scope(a);
      CHECK_FALSE(a.noise_on());
      CHECK(q_values(a, obs) == mean);
      a.resample_noise(noise_a);  // even a resample inside...
      a.set_noise(false);         // ...is undone by the mode
      CHECK(q_values(a, obs) == mean);
    }
    CHECK(a.noise_on());  // the scope restores the mode it found

    // The tape path agrees with inference under noise.
    Tape tape;
    const Value q = a.forward(tape, obs.view());
    const std::vector<float> via_infer = q_values(a, obs);
    for (std::size_t i = 0; i < via_infer.size(); ++i)
      CHECK(tape.view(q)[static_cast<std::int64_t>(i)] == doctest::Approx(via_infer[i]));
  }
}

TEST_CASE("copy_from moves mu and sigma but not the noise") {
  Rng rng(13), noise(14), data(15);
  QNetwork online(noisy_mlp(), rng), target(noisy_mlp(), rng);
  online.parameters()[1].variable->value[0] += 0.25f;  // a learned sigma
  target.copy_from(online);
  CHECK(target.parameters()[1].variable->value[0] == online.parameters()[1].variable->value[0]);
  const Tensor obs = random_obs(2, 3, data);
  online.resample_noise(noise);
  CHECK_FALSE(target.noise_on());
  CHECK(q_values(target, obs) != q_values(online, obs));
  online.set_noise(false);
  CHECK(q_values(target, obs) == q_values(online, obs));
}

TEST_CASE("a noisy checkpoint round-trips its spec, and a version 1 file loads as noise-free") {
  Rng rng(16);
  NetworkSpec spec = noisy_mlp();
  spec.noisy_sigma0 = 0.25;
  QNetwork net(spec, rng);
  const std::string bytes = serialize_checkpoint(net, nullptr, {});
  const CheckpointInfo info = read_checkpoint_info_bytes(bytes);
  CHECK(info.version == kCheckpointVersion);
  CHECK(info.spec.noisy);
  CHECK(info.spec.noisy_sigma0 == 0.25);
  QNetwork rebuilt(info.spec, rng);
  deserialize_checkpoint(bytes, rebuilt, nullptr, nullptr);
  for (std::size_t i = 0; i < net.parameters().size(); ++i)
    for (std::int64_t k = 0; k < net.parameters()[i].variable->value.numel(); ++k)
      REQUIRE(net.parameters()[i].variable->value[k] == rebuilt.parameters()[i].variable->value[k]);

  // A plain network loaded into a noisy model (and back) is refused with the flag to use.
  NetworkSpec plain = spec;
  plain.noisy = false;
  QNetwork plain_net(plain, rng);
  try {
    deserialize_checkpoint(bytes, plain_net, nullptr, nullptr, "ckpt.bin");
    FAIL("a noisy checkpoint loaded into a plain network");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("noisy_nets=true") != std::string::npos);
  }

  // Version 1 as its writer laid it out: the same file without version 2's spec fields (C51's
  // atoms i64, v_min f64, v_max f64, then noisy u8 and noisy_sigma0 f64: 33 bytes after the
  // dueling flag), version 1, its payload length and CRC recomputed.
  const std::string v2 = serialize_checkpoint(plain_net, nullptr, {});
  // header 20 | kind 1 | rank 4 | dim 8 | actions 8 | hidden count 4 | width 8 | dueling 1
  const std::size_t v2_fields = 20 + 1 + 4 + 8 + 8 + 4 + 8 + 1, v2_bytes = 24 + 9;
  REQUIRE(static_cast<unsigned char>(v2[v2_fields + 24]) == 0);  // noisy = false
  std::string v1 = v2.substr(0, v2_fields) +
                   v2.substr(v2_fields + v2_bytes, v2.size() - 4 - v2_fields - v2_bytes);
  const std::uint32_t version = 1;
  std::memcpy(v1.data() + 8, &version, 4);
  std::uint64_t payload = 0;
  std::memcpy(&payload, v1.data() + 12, 8);
  payload -= v2_bytes;
  std::memcpy(v1.data() + 12, &payload, 8);
  const std::uint32_t crc = crc32(v1.data(), v1.size());
  v1.append(reinterpret_cast<const char*>(&crc), 4);
  const CheckpointInfo old = read_checkpoint_info_bytes(v1);
  CHECK(old.version == 1);
  CHECK_FALSE(old.spec.noisy);
  QNetwork from_v1(old.spec, rng);
  deserialize_checkpoint(v1, from_v1, nullptr, nullptr);
  CHECK(from_v1.parameters()[0].variable->value[0] == plain_net.parameters()[0].variable->value[0]);
}

TEST_CASE(
    "a checkpoint stores the CNN's kind: der-cnn rebuilds as der-cnn, not as the Nature CNN") {
  Rng rng(17);
  QNetwork der(NetworkSpec::der_cnn(4), rng);
  const std::string bytes = serialize_checkpoint(der, nullptr, {});
  const CheckpointInfo info = read_checkpoint_info_bytes(bytes);
  CHECK(info.spec.kind == NetworkKind::kDataEfficientCnn);
  CHECK(info.spec == der.spec());
  QNetwork nature(NetworkSpec::nature_cnn(4), rng);
  CHECK_THROWS_WITH_AS(deserialize_checkpoint(bytes, nature, nullptr, nullptr),
                       doctest::Contains("network=der"), Error);
}

// The training update defers the noisy layers' sigma gradients (BasicTape::backward with a
// deferred list) and forms them inside the norm and Adam: the parameters, Adam's moments and
// the reported norm must keep the bits of writing them and running clip_grad_norm + step().
// Three steps of a noisy dueling C51 MLP (hidden 37 and 256, so sigma rows are and are not whole
// vectors; a 256 x 256 sigma), with clipping idle (max norm 1e6) and active (1e-3), at 1 and 2
// threads; every parameter and moment compared with memcmp.
TEST_CASE("deferred sigma gradients: the same update bits as written ones with clip + Adam") {
  NetworkSpec spec = noisy_mlp({37, 256, 256}, /*dueling=*/true);
  spec.atoms = 5;
  auto bits_of = [](const std::vector<Tensor>& ts) {
    std::vector<float> out;
    for (const Tensor& t : ts) out.insert(out.end(), t.data(), t.data() + t.numel());
    return out;
  };
  for (int threads : {1, 2})
    for (float max_norm : {1e6f, 1e-3f}) {
      CAPTURE(threads);
      CAPTURE(max_norm);
      ThreadScope scope(threads);
      Rng init_a(5), init_b(5), data(6);
      QNetwork a(spec, init_a), b(spec, init_b);
      Adam adam_a(a.parameters(), AdamHyper{1e-3, 0.9, 0.999, 1e-8});
      Adam adam_b(b.parameters(), AdamHyper{1e-3, 0.9, 0.999, 1e-8});
      std::vector<Variable*> set_a, set_b;
      for (const auto& p : a.parameters()) set_a.push_back(p.variable);
      for (const auto& p : b.parameters()) set_b.push_back(p.variable);
      std::vector<DeferredSigma<float>> deferred;
      for (int step = 0; step < 3; ++step) {
        CAPTURE(step);
        const Tensor obs = random_obs(16, 3, data);
        Tensor r(Shape{16, 2 * 5});
        for (std::int64_t i = 0; i < r.numel(); ++i) r[i] = data.uniform(-1.0f, 1.0f);
        Rng noise_a(100 + static_cast<std::uint64_t>(step)), noise_b = noise_a;
        a.resample_noise(noise_a);
        b.resample_noise(noise_b);
        Tape ta, tb;
        ta.backward(ta.sum(ta.mul(a.forward(ta, obs.view()), ta.input(r.view()))), set_a);
        const float norm_a = clip_grad_norm(a.parameters(), max_norm);
        adam_a.step();
        tb.backward(tb.sum(tb.mul(b.forward(tb, obs.view()), tb.input(r.view()))), set_b,
                    &deferred);
        std::size_t sigmas = 0;  // every noisy weight is deferred (biases' sigmas are formed)
        for (const auto& p : b.parameters())
          sigmas += p.name.find("weight_sigma") != std::string::npos ? 1 : 0;
        CHECK(sigmas >= 4);
        CHECK(deferred.size() == sigmas);
        const auto norm_b = static_cast<float>(std::sqrt(grad_sq_norm(b.parameters(), deferred)));
        adam_b.step(clip_coefficient(norm_b, max_norm), deferred);
        CHECK(std::memcmp(&norm_a, &norm_b, sizeof(float)) == 0);
        for (std::size_t k = 0; k < a.parameters().size(); ++k) {
          CAPTURE(a.parameters()[k].name);
          const Tensor& va = a.parameters()[k].variable->value;
          const Tensor& vb = b.parameters()[k].variable->value;
          CHECK(std::memcmp(va.data(), vb.data(),
                            sizeof(float) * static_cast<std::size_t>(va.numel())) == 0);
        }
        CHECK(bits_of(adam_a.first_moments()) == bits_of(adam_b.first_moments()));
        CHECK(bits_of(adam_a.second_moments()) == bits_of(adam_b.second_moments()));
      }
    }
}

TEST_CASE("Adam::step refuses a deferred gradient whose layer it does not optimise") {
  Rng rng(3);
  QNetwork net(noisy_mlp({8}), rng), other(noisy_mlp({8}), rng);
  Adam adam(net.parameters(), AdamHyper{});
  DeferredSigma<float> d;
  d.mu = other.parameters()[0].variable;
  d.sigma = other.parameters()[1].variable;
  const std::vector<DeferredSigma<float>> deferred{d};
  CHECK_THROWS_WITH_AS(adam.step(1.0f, deferred), doctest::Contains("would be lost"), Error);
  CHECK(adam.steps() == 0);
}
