// No allocation in steady state: once a training step has run, later steps of the same shapes
// reuse every buffer. This binary replaces the global operator new (all its forms) with a
// counting one, which is why it is a test executable of its own.
#include <doctest/doctest.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>
#include <vector>

#include "nn/optim.hpp"
#include "rl/agent.hpp"
#include "rl/frame_replay.hpp"
#include "rl/prioritized.hpp"
#include "rl/replay.hpp"

namespace {
std::atomic<long> g_allocations{0};

void* counted_alloc(std::size_t size, std::size_t alignment) {
  ++g_allocations;
  if (size == 0) size = 1;
  void* p = alignment > alignof(std::max_align_t)
                ? std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment)
                : std::malloc(size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(std::size_t size) {
  return counted_alloc(size, 0);
}
void* operator new[](std::size_t size) {
  return counted_alloc(size, 0);
}
void* operator new(std::size_t size, std::align_val_t a) {
  return counted_alloc(size, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t size, std::align_val_t a) {
  return counted_alloc(size, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}

using namespace dqn;

namespace {

long allocations_in_steps_after_the_first(const NetworkSpec& spec, std::int64_t batch, int steps,
                                          const char* precision = "fp32") {
  Config config = make_preset("cartpole");  // Double DQN: the most forward passes per update
  config.precision = precision;
  Rng rng(1);
  DqnAgent agent(spec, config, rng);
  Rng batch_rng(3);
  const Batch b = random_batch(spec, batch, batch_rng);
  agent.update(b);
  agent.update_target();
  const long before = g_allocations.load();
  for (int i = 0; i < steps; ++i) {
    agent.update(b);
    agent.update_target();
  }
  return g_allocations.load() - before;
}

}  // namespace

TEST_CASE("MLP updates 2..N allocate nothing") {
  NetworkSpec spec;  // 4-256-256-2
  CHECK(allocations_in_steps_after_the_first(spec, 64, 20) == 0);
}

TEST_CASE("Nature CNN updates 2..N allocate nothing") {
  CHECK(allocations_in_steps_after_the_first(NetworkSpec::nature_cnn(6), 8, 3) == 0);
}

TEST_CASE("bf16 updates 2..N (MLP, Nature CNN) allocate nothing") {
  // The bf16 kernels pack their operands into the tape's workspace, sized on the first step.
  CHECK(allocations_in_steps_after_the_first(NetworkSpec{}, 64, 20, "bf16") == 0);
  CHECK(allocations_in_steps_after_the_first(NetworkSpec::nature_cnn(6), 8, 3, "bf16") == 0);
}

TEST_CASE("C51 updates 2..N allocate nothing (MLP and dueling), nor does C51 acting") {
  NetworkSpec spec;
  spec.atoms = 51;
  CHECK(allocations_in_steps_after_the_first(spec, 64, 10) == 0);
  spec.dueling = true;
  CHECK(allocations_in_steps_after_the_first(spec, 64, 10) == 0);
  Config config = make_preset("cartpole");
  Rng rng(1);
  DqnAgent agent(spec, config, rng);
  const float obs[4] = {0.1f, 0.2f, 0.3f, 0.4f};
  agent.greedy(obs);
  const long before = g_allocations.load();
  for (int i = 0; i < 100; ++i) agent.greedy(obs);
  CHECK(g_allocations.load() - before == 0);
}

TEST_CASE("noisy-net updates 2..N (MLP, dueling data-efficient CNN) allocate nothing") {
  // Each update redraws the online and target noise into the layers' own buffers.
  NetworkSpec mlp;
  mlp.noisy = true;
  CHECK(allocations_in_steps_after_the_first(mlp, 64, 20) == 0);
  NetworkSpec der = NetworkSpec::der_cnn(6, /*dueling=*/true);
  der.noisy = true;
  CHECK(allocations_in_steps_after_the_first(der, 8, 3) == 0);
}

TEST_CASE("noisy acting (a new noise sample, then greedy) allocates nothing after its first call") {
  NetworkSpec spec;
  spec.noisy = true;
  Config config = make_preset("cartpole");
  config.noisy_nets = true;
  Rng rng(1), unused(2);
  DqnAgent agent(spec, config, rng);
  const float obs[4] = {0.1f, 0.2f, 0.3f, 0.4f};
  agent.act(obs, 0.0, unused);
  const long before = g_allocations.load();
  for (int i = 0; i < 100; ++i) agent.act(obs, 0.0, unused);
  CHECK(g_allocations.load() - before == 0);
}

TEST_CASE("the greedy action path allocates nothing after its first call") {
  NetworkSpec spec;
  Config config = make_preset("cartpole");
  Rng rng(1);
  DqnAgent agent(spec, config, rng);
  const float obs[4] = {0.1f, 0.2f, 0.3f, 0.4f};
  agent.greedy(obs);
  const long before = g_allocations.load();
  for (int i = 0; i < 100; ++i) agent.greedy(obs);
  CHECK(g_allocations.load() - before == 0);
}

TEST_CASE(
    "prioritized replay's hot path (sample, gather with 3-step returns, weighted update, new "
    "priorities) allocates nothing after its first round") {
  // CartPole-shaped: a 1000-slot replay of 3-step windows; then the same for frames.
  NetworkSpec spec;
  spec.hidden = {32};
  Config config = make_preset("cartpole");
  Rng rng(1);
  DqnAgent agent(spec, config, rng);
  ReplayBuffer replay(1000, 4);
  replay.set_n_step(3, 0.99);
  Priorities priorities(1000, 0.5, 1e-6);
  const float obs[4] = {0.1f, 0.2f, 0.3f, 0.4f};
  for (std::int64_t i = 0; i < 1000; ++i) replay.add(obs, i % 2, 1.0f, obs, i % 50 == 49, false);
  for (std::int64_t i = 0; i < 1000; ++i) priorities.reset_slot(i, replay.sampleable(i));
  FrameReplay frames(64, 84, 84);
  frames.set_n_step(3, 0.99);
  Priorities frame_priorities(64, 0.5, 1e-6);
  const std::vector<std::uint8_t> frame(84 * 84, 7);
  for (std::int64_t i = 0; i < 64; ++i)
    frames.add(frame.data(), i % 20 == 0, 0, 1.0f, false, false);
  for (std::int64_t i = 0; i < 64; ++i) frame_priorities.reset_slot(i, frames.sampleable(i));
  Batch batch, frame_batch;
  const std::int64_t n = 32;
  auto round = [&] {
    batch.indices.resize(n);
    batch.weights.resize(n);
    priorities.sample(batch.indices.data(), batch.weights.data(), n, 0.5, rng);
    replay.gather(batch.indices.data(), n, batch);
    agent.update(batch);
    priorities.update(batch.indices.data(), agent.abs_td_errors().data(), n);
    frame_batch.indices.resize(n);
    frame_batch.weights.resize(n);
    frame_priorities.sample(frame_batch.indices.data(), frame_batch.weights.data(), n, 0.5, rng);
    frames.gather(frame_batch.indices.data(), n, frame_batch);
  };
  round();
  const long before = g_allocations.load();
  for (int i = 0; i < 20; ++i) round();
  CHECK(g_allocations.load() - before == 0);
}

TEST_CASE("the counting allocator sees allocations, so the zeros above mean something") {
  const long before = g_allocations.load();
  Tensor t(Shape{16});
  CHECK(g_allocations.load() - before >= 1);
}
