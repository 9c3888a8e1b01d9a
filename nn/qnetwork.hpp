// nn/qnetwork.hpp: the two Q-networks of the project, described by a NetworkSpec so that a
// checkpoint alone can rebuild its model.
//
//   MLP (the seed's DQNNetwork): obs_dim -> hidden[0] -> ReLU -> ... -> n_actions, parameters
//     named net.0.weight, net.2.weight, ... exactly as the PyTorch Sequential names them.
//   Nature CNN (Mnih et al. 2015, "Human-level control through deep reinforcement learning",
//     Methods: Model architecture): uint8 (4,84,84) scaled by 1/255 inside the network ->
//     conv 32 8x8 stride 4 -> ReLU -> conv 64 4x4 s2 -> ReLU -> conv 64 3x3 s1 -> ReLU ->
//     flatten (3136) -> fc 512 -> ReLU -> fc n_actions. Named net.0, net.2, net.4, net.7, net.9.
//   Data-efficient CNN ("der-cnn"; van Hasselt, Hessel and Aslanides 2019, "When to use
//     parametric models in reinforcement learning?", the data-efficient Rainbow's network):
//     uint8 (4,84,84) / 255 -> conv 32 5x5 stride 5 -> ReLU -> conv 64 5x5 s5 -> ReLU ->
//     flatten (64*3*3 = 576) -> fc 256 -> ReLU -> fc n_actions. Named net.0, net.2, net.5, net.7.
//     Dueling heads get 256-unit streams. About 1/8 of the Nature CNN's parameters.
//   Dueling (Wang et al. 2016, eq. 9), an option of all three: Q = V + A - mean_a(A), with the
//     trunk named features.*, the heads value.* and advantage.*.
//   C51 (Bellemare et al. 2017), an option of both (atoms > 1): the last layer outputs logits
//     (N, A*atoms), action a's distribution over the support z_j (core/categorical.hpp) being
//     softmax of its block of `atoms`; Q(s,a) = sum_j z_j p_j(s,a). With dueling, the value
//     head has `atoms` outputs and the combination is applied to the logits per atom (Hessel et
//     al. 2018, "Dueling networks").
//   Noisy nets (Fortunato et al. 2018), an option of all three: every fully connected layer (the
//     MLP's, the CNN's fc 512 and output, the dueling heads') is a NoisyLinear, parameters
//     net.7.weight_mu, net.7.weight_sigma, net.7.bias_mu, net.7.bias_sigma. The network starts
//     noise-free (mean weights); resample_noise(rng) draws a sample and turns the noise on,
//     set_noise(false) or a MeanWeightsScope gives the mean network back (evaluation).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nn/module.hpp"

namespace dqn {

enum class NetworkKind : std::uint8_t { kMlp = 0, kNatureCnn = 1, kDataEfficientCnn = 2 };

struct NetworkSpec {
  NetworkKind kind = NetworkKind::kMlp;
  std::vector<std::int64_t> observation_shape{4};  // (obs_dim) or (4,84,84)
  std::int64_t num_actions = 2;
  std::vector<std::int64_t> hidden{256, 256};  // MLP hidden widths (unused by the CNN)
  bool dueling = false;
  // C51 (Bellemare et al. 2017): atoms = 1 is an ordinary Q head; > 1 a categorical head over
  // `atoms` evenly spaced values in [v_min, v_max] (v_min, v_max unused when atoms = 1).
  std::int64_t atoms = 1;
  double v_min = -10, v_max = 10;
  // ---- noisy nets (Fortunato et al. 2018): NoisyLinear fc layers, sigma init sigma0/sqrt(in)
  bool noisy = false;
  double noisy_sigma0 = 0.5;  // only the initial sigma: not part of the architecture (==)
  // ---- end noisy nets

  // The Nature CNN of Mnih et al. 2015 on 4x84x84 frame stacks (the minimal action sets: 4 for
  // Breakout, 6 for Pong; benchmarks and fixtures use 6).
  static NetworkSpec nature_cnn(std::int64_t num_actions, bool dueling = false) {
    NetworkSpec s;
    s.kind = NetworkKind::kNatureCnn;
    s.observation_shape = {4, 84, 84};
    s.num_actions = num_actions;
    s.dueling = dueling;
    return s;
  }

  // The data-efficient CNN of van Hasselt et al. 2019 on 4x84x84 frame stacks.
  static NetworkSpec der_cnn(std::int64_t num_actions, bool dueling = false) {
    NetworkSpec s = nature_cnn(num_actions, dueling);
    s.kind = NetworkKind::kDataEfficientCnn;
    return s;
  }
  bool pixels() const { return kind != NetworkKind::kMlp; }  // uint8 frames in

  // Throws dqn::Error naming the bad field and its valid range.
  void validate() const;
  std::string describe() const;  // "mlp 4-256-256-2", "nature-cnn 4x84x84 -> 6 dueling"
  // Equal when they build the same network: the MLP's hidden widths do not matter to the CNN.
  friend bool operator==(const NetworkSpec& a, const NetworkSpec& b) {
    return a.kind == b.kind && a.observation_shape == b.observation_shape &&
           a.num_actions == b.num_actions && a.dueling == b.dueling && a.atoms == b.atoms &&
           (a.atoms == 1 || (a.v_min == b.v_min && a.v_max == b.v_max)) && a.noisy == b.noisy &&
           (a.kind != NetworkKind::kMlp || a.hidden == b.hidden);
  }
};

// The scale that maps uint8 pixels to [0, 1] inside the Nature CNN.
constexpr float kPixelScale = 1.0f / 255.0f;

class QNetwork {
 public:
  QNetwork(const NetworkSpec& spec, Rng& rng);

  // Q-values (N, num_actions) for a batch of observations, recorded on the tape; with a C51
  // head (atoms > 1) the logits (N, num_actions * atoms) instead.
  Value forward(Tape& tape, ConstTensorView obs);  // MLP: float (N, obs_dim)
  // CNNs: uint8 (N,4,84,84); as obs, frames must stay valid until the tape is reset.
  Value forward(Tape& tape, View<const std::uint8_t> frames);
  Value forward_value(Tape& tape, Value x);  // from an input already on the tape

  // Tape-free inference into q (N, num_actions), for acting; with a C51 head the expected
  // values sum_j z_j p_j.
  void infer(ConstTensorView obs, Tensor& q);
  void infer(View<const std::uint8_t> frames, Tensor& q);

  const NetworkSpec& spec() const { return spec_; }
  // The C51 support z_j (atoms), empty for an ordinary Q head.
  const std::vector<float>& support() const { return support_; }
  // Every parameter with its PyTorch-style name, in a fixed order.
  const std::vector<NamedVariable>& parameters() const { return parameters_; }
  std::int64_t parameter_count() const;
  std::string describe() const;

  void zero_grad();
  // Target-network updates: hard copy, and Polyak averaging theta' <- tau theta + (1-tau) theta'.
  void copy_from(const QNetwork& source);
  void polyak_from(const QNetwork& source, float tau);

  // Noisy nets (no-ops without spec().noisy). resample_noise draws new factorised noise for
  // every NoisyLinear, in parameters() order, from rng, and turns the noise on; set_noise(false)
  // runs the mean weights. The noise is state of this network only: copy_from, polyak_from and
  // checkpoints move mu and sigma, never the noise.
  void resample_noise(Rng& rng);
  void set_noise(bool on);
  bool noise_on() const { return noise_on_; }
  const std::vector<NoisyLinear*>& noisy_layers() const { return noisy_layers_; }

 private:
  void check_same_spec(const QNetwork& other, const char* what) const;
  void infer_from_float(ConstTensorView x, Tensor& q);

  NetworkSpec spec_;
  std::unique_ptr<Sequential> net_;    // the whole network, or the trunk when dueling
  std::unique_ptr<Sequential> value_;  // dueling heads (null otherwise)
  std::unique_ptr<Sequential> advantage_;
  std::vector<NamedVariable> parameters_;
  std::vector<NoisyLinear*> noisy_layers_;  // owned by net_/value_/advantage_
  bool noise_on_ = false;
  Tensor scaled_frames_, features_, value_out_, advantage_out_;  // infer() buffers
  std::vector<float> support_;                                   // C51
  Tensor logits_, probs_;                                        // C51 infer() buffers
};

// Puts a network on its mean weights (no noise) for a scope, then back as it was: how a noisy
// net is evaluated here (issue #18: "evaluation without noise"), so a score measures the
// learned mean policy rather than one noise sample.
class MeanWeightsScope {
 public:
  explicit MeanWeightsScope(QNetwork& net);
  ~MeanWeightsScope();
  MeanWeightsScope(const MeanWeightsScope&) = delete;
  MeanWeightsScope& operator=(const MeanWeightsScope&) = delete;

 private:
  QNetwork& net_;
  bool saved_;
};

}  // namespace dqn
