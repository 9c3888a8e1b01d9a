// rl/prioritized.cpp: priorities, stratified sampling and importance weights for prioritized
// replay, and their snapshot.
#include "rl/prioritized.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.hpp"

namespace dqn {

double linear_beta(double beta_start, std::int64_t step, std::int64_t total_steps) {
  const double progress =
      total_steps > 0 ? std::min(1.0, static_cast<double>(step) / static_cast<double>(total_steps))
                      : 1.0;
  return beta_start + progress * (1.0 - beta_start);
}

Priorities::Priorities(std::int64_t capacity, double alpha, double eps)
    : alpha_(alpha), eps_(eps), sum_(capacity), min_(capacity) {
  DQN_CHECK(alpha >= 0 && eps > 0, "Priorities: needs alpha >= 0 and eps > 0, got ", alpha, " and ",
            eps);
}

std::int64_t Priorities::bytes_for(std::int64_t capacity) {
  std::int64_t leaves = 1;
  while (leaves < capacity) leaves *= 2;
  return 2 * 2 * leaves * static_cast<std::int64_t>(sizeof(double));
}

void Priorities::set(std::int64_t slot, double p) {
  sum_.set(slot, p);
  min_.set(slot, p);
}

double Priorities::entering(double enter_abs_td) {
  if (enter_abs_td < 0) return max_priority_;
  const double p = std::pow(enter_abs_td + eps_, alpha_);
  max_priority_ = std::max(max_priority_, p);
  return p;
}

void Priorities::reset_slot(std::int64_t slot, bool sampleable, double enter_abs_td) {
  set(slot, sampleable ? entering(enter_abs_td) : 0.0);
}

void Priorities::refresh_slot(std::int64_t slot, bool sampleable, double enter_abs_td) {
  const bool positive = sum_.get(slot) > 0;
  if (sampleable != positive) set(slot, sampleable ? entering(enter_abs_td) : 0.0);
}

void Priorities::sample(std::int64_t* indices, float* weights, std::int64_t batch_size, double beta,
                        Rng& rng) const {
  const double total = sum_.total(), p_min = min_.min();
  DQN_CHECK(total > 0 && std::isfinite(p_min),
            "prioritized replay: no slot can be sampled (total priority ", total,
            "); store complete transitions first");
  const double segment = total / static_cast<double>(batch_size);
  for (std::int64_t b = 0; b < batch_size; ++b) {
    // One uniform draw inside segment b; find() copes with u rounding up to the total.
    const double u = (static_cast<double>(b) + rng.uniform_double()) * segment;
    const std::int64_t i = sum_.find(u);
    indices[b] = i;
    // w_i / max_j w_j = ((N p_i / total) / (N p_min / total))^-beta = (p_i / p_min)^-beta <= 1.
    weights[b] = static_cast<float>(std::pow(sum_.get(i) / p_min, -beta));
  }
}

void Priorities::update(const std::int64_t* indices, const float* abs_td, std::int64_t batch_size) {
  for (std::int64_t b = 0; b < batch_size; ++b) {
    const double p = std::pow(static_cast<double>(abs_td[b]) + eps_, alpha_);
    // Only slots that can be sampled are drawn, and they stay so until the replay writes
    // again, so p > 0 keeps the "positive iff sampleable" rule.
    set(indices[b], p);
    max_priority_ = std::max(max_priority_, p);
  }
}

void Priorities::save(PieceWriter& w) const {
  w.i64(sum_.capacity());
  w.f64(max_priority_);
  for (std::int64_t i = 0; i < sum_.capacity(); ++i) w.f64(sum_.get(i));
}

void Priorities::load(std::string_view in, const std::function<bool(std::int64_t)>& sampleable) {
  ByteReader r(in, "priorities");
  const std::int64_t capacity = r.i64();
  DQN_CHECK(capacity == sum_.capacity(), "the priorities hold ", capacity,
            " slots, the replay has ", sum_.capacity(), ": resume with the run's own config");
  const double max_priority = r.f64();
  DQN_CHECK(std::isfinite(max_priority) && max_priority > 0, "the max priority is ", max_priority,
            ", expected a finite number > 0");
  std::vector<double> leaves(static_cast<std::size_t>(capacity));
  for (std::int64_t i = 0; i < capacity; ++i) {
    const double p = r.f64();
    DQN_CHECK(std::isfinite(p) && p >= 0 && p <= max_priority, "the priority of slot ", i, " is ",
              p, ", expected a finite number in [0, max priority ", max_priority, "]");
    DQN_CHECK((p > 0) == sampleable(i), "the priority of slot ", i, " is ", p, ", expected ",
              sampleable(i) ? "> 0: the slot can be sampled" : "0: the slot cannot be sampled");
    leaves[static_cast<std::size_t>(i)] = p;
  }
  r.expect_end();
  // All checked: only now change the trees.
  max_priority_ = max_priority;
  for (std::int64_t i = 0; i < capacity; ++i) set(i, leaves[static_cast<std::size_t>(i)]);
}

}  // namespace dqn
