// envs/vector_env.cpp: stepping, auto-reset and the batched observation buffers.
#include "envs/vector_env.hpp"

#include <algorithm>
#include <cstring>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "envs/state_blob.hpp"

namespace dqn {

VectorEnv::VectorEnv(std::vector<std::unique_ptr<Env>> envs) : envs_(std::move(envs)) {
  DQN_CHECK(!envs_.empty(), "VectorEnv: expected at least one env, got 0");
  const Env& first = *envs_[0];
  u8_ = first.observation_is_u8();
  obs_size_ = first.observation_shape().numel();
  for (const auto& e : envs_) {
    DQN_CHECK(e->observation_shape() == first.observation_shape() &&
                  e->observation_is_u8() == u8_ && e->num_actions() == first.num_actions(),
              "VectorEnv: every env must match env 0 (", first.name(), ", observation ",
              first.observation_shape().str(), ", ", first.num_actions(), " actions), got ",
              e->name(), " with ", e->observation_shape().str(), " and ", e->num_actions(),
              " actions");
  }
  // See the file comment: Atari steps are worth a thread each, CartPole steps only by thousands.
  grain_ = u8_ ? 1 : 4096;
  const std::size_t n = envs_.size(), total = n * static_cast<std::size_t>(obs_size_);
  results_.resize(n);
  if (u8_) {
    obs_u8_.assign(total, 0), final_u8_.assign(total, 0);
  } else {
    obs_f32_.assign(total, 0), final_f32_.assign(total, 0);
  }
  has_final_.assign(n, 0);
  episode_return_.assign(n, 0), final_return_.assign(n, 0);
  episode_length_.assign(n, 0), final_length_.assign(n, 0);
}

VectorEnv VectorEnv::make(const std::string& name, std::int64_t n, const EnvOptions& options) {
  DQN_CHECK(n >= 1, "VectorEnv::make: expected at least 1 env, got ", n);
  std::vector<std::unique_ptr<Env>> envs;
  for (std::int64_t i = 0; i < n; ++i) envs.push_back(make_env(name, options));
  return VectorEnv(std::move(envs));
}

void VectorEnv::copy_observation(std::int64_t i, bool to_final) {
  const Env& e = *envs_[static_cast<std::size_t>(i)];
  if (u8_) {
    std::memcpy((to_final ? final_u8_ : obs_u8_).data() + i * obs_size_, e.observation_u8(),
                obs_size_);
  } else {
    std::memcpy((to_final ? final_f32_ : obs_f32_).data() + i * obs_size_, e.observation_f32(),
                obs_size_ * sizeof(float));
  }
}

void VectorEnv::reset(std::uint64_t seed) {
  parallel_for(0, size(), grain_, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i) {
      envs_[static_cast<std::size_t>(i)]->reset(seed + static_cast<std::uint64_t>(i));
      copy_observation(i, false);
    }
  });
  started_ = true;
  std::fill(has_final_.begin(), has_final_.end(), std::uint8_t{0});
  std::fill(episode_return_.begin(), episode_return_.end(), 0.0);
  std::fill(episode_length_.begin(), episode_length_.end(), 0);
}

const std::vector<StepResult>& VectorEnv::step(const std::int64_t* actions) {
  DQN_CHECK(started_, "VectorEnv::step: call reset(seed) before the first step");
  const std::int64_t a_max = num_actions();
  for (std::int64_t i = 0; i < size(); ++i) {  // checked here: nothing may throw inside threads
    DQN_CHECK(actions[i] >= 0 && actions[i] < a_max, "VectorEnv::step: expected actions in [0, ",
              a_max, "), got ", actions[i], " for env ", i);
  }
  parallel_for(0, size(), grain_, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t i = lo; i < hi; ++i) {
      const auto k = static_cast<std::size_t>(i);
      Env& e = *envs_[k];
      const StepResult r = e.step(actions[i]);
      results_[k] = r;
      episode_return_[k] += r.raw_reward;
      ++episode_length_[k];
      has_final_[k] = r.terminated || r.truncated;
      if (has_final_[k]) {
        copy_observation(i, true);
        final_return_[k] = episode_return_[k];
        final_length_[k] = episode_length_[k];
        episode_return_[k] = 0;
        episode_length_[k] = 0;
        e.reset();
      }
      copy_observation(i, false);
    }
  });
  return results_;
}

const float* VectorEnv::observations_f32() const {
  DQN_CHECK(!u8_, "VectorEnv: observations are uint8, call observations_u8()");
  return obs_f32_.data();
}
const std::uint8_t* VectorEnv::observations_u8() const {
  DQN_CHECK(u8_, "VectorEnv: observations are float32, call observations_f32()");
  return obs_u8_.data();
}
const float* VectorEnv::final_observation_f32(std::int64_t i) const {
  DQN_CHECK(!u8_, "VectorEnv: observations are uint8, call final_observation_u8()");
  DQN_CHECK(i >= 0 && i < size() && has_final_[static_cast<std::size_t>(i)], "VectorEnv: env ", i,
            " has no final observation: its episode did not end on the last step");
  return final_f32_.data() + i * obs_size_;
}
const std::uint8_t* VectorEnv::final_observation_u8(std::int64_t i) const {
  DQN_CHECK(u8_, "VectorEnv: observations are float32, call final_observation_f32()");
  DQN_CHECK(i >= 0 && i < size() && has_final_[static_cast<std::size_t>(i)], "VectorEnv: env ", i,
            " has no final observation: its episode did not end on the last step");
  return final_u8_.data() + i * obs_size_;
}

void VectorEnv::save_state(std::string& blob) const {
  BlobWriter w(blob, "vector_env/1");
  w.put<std::int64_t>(size());
  std::string one;
  for (std::size_t i = 0; i < envs_.size(); ++i) {
    envs_[i]->save_state(one);
    w.put_bytes(one.data(), one.size());
    w.put(episode_return_[i]);
    w.put(episode_length_[i]);
  }
}

void VectorEnv::load_state(std::string_view blob) {
  BlobReader r(blob, "vector_env/1");
  const auto n = r.get<std::int64_t>();
  DQN_CHECK(n == size(), "VectorEnv::load_state: expected ", size(), " envs, the blob has ", n);
  std::vector<std::string> blobs;
  std::vector<double> returns;
  std::vector<std::int64_t> lengths;
  for (std::int64_t i = 0; i < n; ++i) {
    blobs.push_back(r.get_string());
    returns.push_back(r.get<double>());
    lengths.push_back(r.get<std::int64_t>());
  }
  r.finish();
  // Each env checks its blob before changing; to leave all unchanged on a bad one, try them on
  // saved copies first and roll back the ones already loaded.
  std::vector<std::string> before(envs_.size());
  for (std::size_t i = 0; i < envs_.size(); ++i) envs_[i]->save_state(before[i]);
  std::size_t loaded = 0;
  try {
    for (; loaded < envs_.size(); ++loaded) envs_[loaded]->load_state(blobs[loaded]);
  } catch (...) {
    for (std::size_t i = 0; i < loaded; ++i) envs_[i]->load_state(before[i]);
    throw;
  }
  episode_return_ = std::move(returns);
  episode_length_ = std::move(lengths);
  started_ = true;
  std::fill(has_final_.begin(), has_final_.end(), std::uint8_t{0});
  for (std::int64_t i = 0; i < size(); ++i) copy_observation(i, false);
}

}  // namespace dqn
