// rl/sum_tree.cpp: sum-tree and min-tree updates and the prefix-sum descent, and their
// flat-array references.
#include "rl/sum_tree.hpp"

#include <algorithm>
#include <limits>

#include "core/error.hpp"

namespace dqn {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::int64_t leaves_for(std::int64_t capacity) {
  DQN_CHECK(capacity >= 1, "sum tree: capacity must be >= 1, got ", capacity);
  std::int64_t p = 1;
  while (p < capacity) p *= 2;
  return p;
}

}  // namespace

SumTree::SumTree(std::int64_t capacity)
    : capacity_(capacity),
      leaves_(leaves_for(capacity)),
      nodes_(static_cast<std::size_t>(2 * leaves_), 0.0) {}

void SumTree::set(std::int64_t i, double priority) {
  std::size_t k = static_cast<std::size_t>(leaves_ + i);
  nodes_[k] = priority;
  for (k /= 2; k >= 1; k /= 2) nodes_[k] = nodes_[2 * k] + nodes_[2 * k + 1];
}

std::int64_t SumTree::find(double u) const {
  // Invariant: node k has a positive sum. Go left while u falls inside the left child's sum;
  // otherwise subtract it and go right, unless the right child is empty (u reached the end by
  // rounding), in which case stay left: that ends on the last positive leaf below k.
  std::size_t k = 1;
  const auto leaves = static_cast<std::size_t>(leaves_);
  while (k < leaves) {
    const double left = nodes_[2 * k];
    if (u < left) {
      k = 2 * k;
    } else if (nodes_[2 * k + 1] > 0) {
      u -= left;
      k = 2 * k + 1;
    } else {
      k = 2 * k;
    }
  }
  return static_cast<std::int64_t>(k - leaves);
}

MinTree::MinTree(std::int64_t capacity)
    : capacity_(capacity),
      leaves_(leaves_for(capacity)),
      nodes_(static_cast<std::size_t>(2 * leaves_), kInf) {}

void MinTree::set(std::int64_t i, double priority) {
  std::size_t k = static_cast<std::size_t>(leaves_ + i);
  nodes_[k] = priority > 0 ? priority : kInf;
  for (k /= 2; k >= 1; k /= 2) nodes_[k] = std::min(nodes_[2 * k], nodes_[2 * k + 1]);
}

double SumTreeRef::total() const {
  double sum = 0;
  for (const double p : p_) sum += p;
  return sum;
}

std::int64_t SumTreeRef::find(double u) const {
  double prefix = 0;
  std::int64_t last_positive = -1;
  for (std::size_t i = 0; i < p_.size(); ++i) {
    if (p_[i] <= 0) continue;
    prefix += p_[i];
    last_positive = static_cast<std::int64_t>(i);
    if (u < prefix) return last_positive;
  }
  return last_positive;
}

double MinTreeRef::min() const {
  double m = kInf;
  for (const double p : p_)
    if (p > 0) m = std::min(m, p);
  return m;
}

}  // namespace dqn
