// nn/qnetwork.cpp: building the MLP and the two CNNs, dueling heads, target-network updates.
#include "nn/qnetwork.hpp"

#include <cmath>
#include <sstream>

#include "core/categorical.hpp"
#include "core/elementwise.hpp"
#include "core/error.hpp"

namespace dqn {
namespace {

// Nature CNN layers (Mnih et al. 2015): (out_channels, kernel, stride) for each convolution.
struct ConvLayer {
  std::int64_t out_channels, kernel, stride;
};
constexpr ConvLayer kNatureConvs[] = {{32, 8, 4}, {64, 4, 2}, {64, 3, 1}};
constexpr std::int64_t kNatureHidden = 512;
// The data-efficient CNN (van Hasselt et al. 2019): two non-overlapping 5x5 stride-5 convolutions.
constexpr ConvLayer kDerConvs[] = {{32, 5, 5}, {64, 5, 5}};
constexpr std::int64_t kDerHidden = 256;
constexpr std::int64_t kMaxWidth = 1 << 16;  // a sanity bound on layer widths

std::string join_shape(const std::vector<std::int64_t>& dims, const char* sep) {
  std::string s;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (i > 0) s += sep;
    s += std::to_string(dims[i]);
  }
  return s;
}

}  // namespace

void NetworkSpec::validate() const {
  DQN_CHECK(num_actions >= 1 && num_actions <= kMaxWidth, "network: num_actions must be in [1, ",
            kMaxWidth, "], got ", num_actions);
  DQN_CHECK(atoms >= 1 && atoms <= kMaxProjectionAtoms, "network: atoms must be in [1, ",
            kMaxProjectionAtoms, "] (1: an ordinary Q head), got ", atoms);
  DQN_CHECK(atoms == 1 || (std::isfinite(v_min) && std::isfinite(v_max) && v_min < v_max),
            "network: a C51 head needs finite v_min < v_max, got [", v_min, ", ", v_max, "]");
  if (kind == NetworkKind::kMlp) {
    DQN_CHECK(observation_shape.size() == 1 && observation_shape[0] >= 1,
              "network: an MLP needs a flat observation (obs_dim), got (",
              join_shape(observation_shape, ","), ")");
    DQN_CHECK(!hidden.empty(),
              "network: an MLP needs at least one hidden layer (--set hidden=256,256)");
    for (std::int64_t h : hidden)
      DQN_CHECK(h >= 1 && h <= kMaxWidth, "network: hidden widths must be in [1, ", kMaxWidth,
                "], got ", h);
  }
  DQN_CHECK(noisy_sigma0 >= 0 && noisy_sigma0 <= 10,
            "network: noisy_sigma0 must be in [0, 10], got ", noisy_sigma0);
  if (kind != NetworkKind::kMlp) {
    DQN_CHECK(observation_shape.size() == 3 && observation_shape[1] == 84 &&
                  observation_shape[2] == 84 && observation_shape[0] >= 1,
              "network: the CNNs expect (frames,84,84) observations, got (",
              join_shape(observation_shape, ","), ")");
  }
}

std::string NetworkSpec::describe() const {
  std::string s;
  if (kind == NetworkKind::kMlp)
    s = "mlp " + std::to_string(observation_shape[0]) + "-" + join_shape(hidden, "-") + "-" +
        std::to_string(num_actions);
  else
    s = (kind == NetworkKind::kNatureCnn ? "nature-cnn " : "der-cnn ") +
        join_shape(observation_shape, "x") + " -> " + std::to_string(num_actions);
  if (dueling) s += " dueling";
  if (atoms > 1) {  // "c51 51 atoms [-10, 10]"
    std::ostringstream c51;
    c51 << " c51 " << atoms << " atoms [" << v_min << ", " << v_max << "]";
    s += c51.str();
  }
  if (noisy) s += " noisy";
  return s;
}

QNetwork::QNetwork(const NetworkSpec& spec, Rng& rng) : spec_(spec) {
  spec.validate();
  // C51: every action gets `atoms` logits, and the dueling value stream one per atom.
  const std::int64_t outputs = spec.num_actions * spec.atoms, value_outputs = spec.atoms;
  if (spec.atoms > 1)
    for (std::int64_t j = 0; j < spec.atoms; ++j)
      support_.push_back(categorical_atom<float>(j, spec.atoms, spec.v_min, spec.v_max));
  // Every fully connected layer: Linear, or NoisyLinear with noisy nets on.
  auto fc = [&](std::int64_t in, std::int64_t out) -> std::unique_ptr<Module> {
    if (!spec.noisy) return std::make_unique<Linear>(in, out, rng);
    auto layer = std::make_unique<NoisyLinear>(in, out, spec.noisy_sigma0, rng);
    noisy_layers_.push_back(layer.get());
    return layer;
  };
  net_ = std::make_unique<Sequential>();
  std::int64_t features = 0, hidden = 0;  // hidden: the CNN's fc width
  if (spec.kind == NetworkKind::kMlp) {
    std::int64_t width = spec.observation_shape[0];
    for (std::int64_t h : spec.hidden) {
      net_->add(fc(width, h));
      net_->add(std::make_unique<ReLU>());
      width = h;
    }
    features = width;
    if (!spec.dueling) net_->add(fc(width, outputs));
  } else {
    const bool der = spec.kind == NetworkKind::kDataEfficientCnn;
    std::vector<ConvLayer> convs(std::begin(kNatureConvs), std::end(kNatureConvs));
    if (der) convs.assign(std::begin(kDerConvs), std::end(kDerConvs));
    hidden = der ? kDerHidden : kNatureHidden;
    std::int64_t channels = spec.observation_shape[0];
    for (const ConvLayer& c : convs) {
      net_->add(std::make_unique<Conv2d>(channels, c.out_channels, c.kernel, c.stride, 0, rng));
      net_->add(std::make_unique<ReLU>());
      channels = c.out_channels;
    }
    net_->add(std::make_unique<Flatten>());
    const Shape trunk = net_->output_shape(Shape{1, spec.observation_shape[0], 84, 84});
    features = trunk[1];  // Nature: 64 * 7 * 7 = 3136; der: 64 * 3 * 3 = 576
    if (!spec.dueling) {
      net_->add(fc(features, hidden));
      net_->add(std::make_unique<ReLU>());
      net_->add(fc(hidden, outputs));
    }
  }
  if (spec.dueling) {
    value_ = std::make_unique<Sequential>();
    advantage_ = std::make_unique<Sequential>();
    if (spec.pixels()) {  // Wang et al. 2016: two streams as wide as the CNN's fc layer
      value_->add(fc(features, hidden));
      value_->add(std::make_unique<ReLU>());
      value_->add(fc(hidden, value_outputs));
      advantage_->add(fc(features, hidden));
      advantage_->add(std::make_unique<ReLU>());
      advantage_->add(fc(hidden, outputs));
    } else {
      value_->add(fc(features, value_outputs));
      advantage_->add(fc(features, outputs));
    }
    net_->parameters("features", parameters_);
    value_->parameters("value", parameters_);
    advantage_->parameters("advantage", parameters_);
  } else {
    net_->parameters("net", parameters_);
  }
}

Value QNetwork::forward(Tape& tape, ConstTensorView obs) {
  DQN_CHECK(spec_.kind == NetworkKind::kMlp,
            "QNetwork: float observations go to an MLP; the "
            "CNNs take uint8 frames");
  return forward_value(tape, tape.input(obs));
}

Value QNetwork::forward(Tape& tape, View<const std::uint8_t> frames) {
  DQN_CHECK(spec_.pixels(), "QNetwork: uint8 frames go to a CNN");
  return forward_value(tape, tape.input_u8(frames, kPixelScale));
}

Value QNetwork::forward_value(Tape& tape, Value x) {
  Value h = net_->forward(tape, x);
  if (!spec_.dueling) return h;
  // Q = V + (A - mean_a A): subtracting the mean makes V and A identifiable (Wang et al. eq. 9).
  const Value v = value_->forward(tape, h);
  const Value a = advantage_->forward(tape, h);
  if (spec_.atoms > 1) return tape.dueling_atoms(v, a);  // per atom, on the logits
  const Value centred = tape.add_column(a, tape.scale(tape.row_mean(a), -1.0f));
  return tape.add_column(centred, v);
}

void QNetwork::infer(ConstTensorView obs, Tensor& q) {
  DQN_CHECK(spec_.kind == NetworkKind::kMlp, "QNetwork::infer: float observations need an MLP");
  infer_from_float(obs, q);
}

void QNetwork::infer(View<const std::uint8_t> frames, Tensor& q) {
  DQN_CHECK(spec_.pixels(), "QNetwork::infer: frames need a CNN");
  scaled_frames_.resize_for_overwrite(frames.shape);
  u8_to_float_fast(scaled_frames_.data(), frames.data, kPixelScale, frames.numel());
  infer_from_float(scaled_frames_.view(), q);
}

void QNetwork::infer_from_float(ConstTensorView x, Tensor& q) {
  const std::int64_t K = spec_.atoms;
  Tensor& out = K > 1 ? logits_ : q;  // C51: logits first, expected values below
  if (!spec_.dueling) {
    net_->infer(x, out);
  } else {
    net_->infer(x, features_);
    value_->infer(features_.view(), value_out_);
    advantage_->infer(features_.view(), advantage_out_);
    // Per atom k (K = 1: the ordinary head), the same float operations as the tape's ops.
    const std::int64_t n = advantage_out_.dim(0), actions = advantage_out_.dim(1) / K;
    out.resize_for_overwrite(Shape{n, actions * K});
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t k = 0; k < K; ++k) {
        const float* adv = advantage_out_.data() + i * actions * K + k;
        float mean = 0;
        for (std::int64_t j = 0; j < actions; ++j) mean += adv[j * K];
        mean /= static_cast<float>(actions);
        for (std::int64_t j = 0; j < actions; ++j)
          out[i * actions * K + j * K + k] = (adv[j * K] + -mean) + value_out_[i * K + k];
      }
  }
  if (K == 1) return;
  // Q(s,a) = sum_j z_j p_j(s,a) (Bellemare et al. 2017, section 4), summed in index order.
  const std::int64_t rows = logits_.numel() / K;
  probs_.resize_for_overwrite(logits_.shape());
  softmax_forward_fast(probs_.data(), logits_.data(), rows, K);
  q.resize_for_overwrite(Shape{logits_.dim(0), spec_.num_actions});
  categorical_mean(q.data(), probs_.data(), support_.data(), rows, K);
}

std::int64_t QNetwork::parameter_count() const {
  std::int64_t n = 0;
  for (const auto& p : parameters_) n += p.variable->value.numel();
  return n;
}

std::string QNetwork::describe() const {
  std::string s = spec_.describe() + ": " + net_->describe();
  if (spec_.dueling) s += " value " + value_->describe() + " advantage " + advantage_->describe();
  return s;
}

void QNetwork::zero_grad() {
  for (auto& p : parameters_) p.variable->zero_grad();
}

void QNetwork::check_same_spec(const QNetwork& other, const char* what) const {
  DQN_CHECK(spec_ == other.spec_, what, ": networks differ (", spec_.describe(), " vs ",
            other.spec_.describe(), ")");
}

void QNetwork::resample_noise(Rng& rng) {
  for (NoisyLinear* layer : noisy_layers_) layer->resample(rng);
  set_noise(true);
}

void QNetwork::set_noise(bool on) {
  for (NoisyLinear* layer : noisy_layers_) layer->set_noise(on);
  noise_on_ = on && !noisy_layers_.empty();
}

MeanWeightsScope::MeanWeightsScope(QNetwork& net) : net_(net), saved_(net.noise_on()) {
  net.set_noise(false);
}

MeanWeightsScope::~MeanWeightsScope() {
  net_.set_noise(saved_);
}

void QNetwork::copy_from(const QNetwork& source) {
  check_same_spec(source, "copy_from");
  for (std::size_t i = 0; i < parameters_.size(); ++i)
    parameters_[i].variable->value.copy_from(source.parameters_[i].variable->value.view());
}

void QNetwork::polyak_from(const QNetwork& source, float tau) {
  check_same_spec(source, "polyak_from");
  DQN_CHECK(tau >= 0.0f && tau <= 1.0f, "polyak_from: tau must be in [0, 1], got ", tau);
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    Tensor& target = parameters_[i].variable->value;
    const Tensor& online = source.parameters_[i].variable->value;
    for (std::int64_t k = 0; k < target.numel(); ++k)
      target[k] = tau * online[k] + (1.0f - tau) * target[k];
  }
}

}  // namespace dqn
