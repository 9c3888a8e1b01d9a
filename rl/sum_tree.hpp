// rl/sum_tree.hpp: the sum-tree and min-tree behind proportional prioritized replay (Schaul et
// al. 2016, Appendix B.2.1), each with its obvious reference beside it.
//
// A replay of N slots keeps a priority p_i >= 0 per slot. Sampling slot i with probability
// p_i / sum_j p_j needs the total and a prefix-sum search; the importance weights need the
// smallest positive priority. Over a flat array both are O(N) (SumTreeRef, MinTreeRef: the
// oracle); over a binary tree whose inner nodes hold the sum (or min) of their children both
// are O(log N), and so is changing one priority (SumTree, MinTree).
//
// Layout: the leaves are padded to P = the next power of two >= N and stored at nodes_[P + i];
// node k's children are 2k and 2k + 1, the root is node 1. Padding leaves hold 0 (sum) or +inf
// (min) and are never found. Inner nodes are recomputed from their children, never adjusted by
// a difference, so the total is exactly the tree's sum of the leaves however many updates ran
// (no drift), and two trees given the same priorities hold the same bits.
//
// A slot of priority 0 is never sampled: the frame replay gives 0 to slots that start no
// transition or whose stack cannot be rebuilt.
#pragma once

#include <cstdint>
#include <vector>

namespace dqn {

class SumTree {
 public:
  explicit SumTree(std::int64_t capacity);
  // priority: finite and >= 0 (checked by the caller, which computes it). O(log N).
  void set(std::int64_t i, double priority);
  double get(std::int64_t i) const { return nodes_[static_cast<std::size_t>(leaves_ + i)]; }
  double total() const { return nodes_[1]; }
  // The smallest i with p_0 + ... + p_i > u, for 0 <= u < total(): slot i owns the interval
  // [p_0 + ... + p_{i-1}, p_0 + ... + p_i). Never returns a slot of priority 0: where rounding
  // puts u at or past the end, it returns the last slot of positive priority. Needs total() > 0.
  std::int64_t find(double u) const;
  std::int64_t capacity() const { return capacity_; }

 private:
  std::int64_t capacity_, leaves_;
  std::vector<double> nodes_;  // (2 P): nodes_[0] unused, nodes_[1] the root
};

// The smallest positive priority (what the largest importance weight needs). O(log N) updates.
class MinTree {
 public:
  explicit MinTree(std::int64_t capacity);
  void set(std::int64_t i, double priority);  // 0 means "not sampleable": left out of the min
  // min over i of p_i > 0; +inf when no slot has a positive priority.
  double min() const { return nodes_[1]; }
  std::int64_t capacity() const { return capacity_; }

 private:
  std::int64_t capacity_, leaves_;
  std::vector<double> nodes_;
};

// The references: a flat array, a linear sum, a linear prefix-sum search, a linear min.
class SumTreeRef {
 public:
  explicit SumTreeRef(std::int64_t capacity) : p_(static_cast<std::size_t>(capacity), 0.0) {}
  void set(std::int64_t i, double priority) { p_[static_cast<std::size_t>(i)] = priority; }
  double get(std::int64_t i) const { return p_[static_cast<std::size_t>(i)]; }
  double total() const;
  std::int64_t find(double u) const;

 private:
  std::vector<double> p_;
};

class MinTreeRef {
 public:
  explicit MinTreeRef(std::int64_t capacity) : p_(static_cast<std::size_t>(capacity), 0.0) {}
  void set(std::int64_t i, double priority) { p_[static_cast<std::size_t>(i)] = priority; }
  double min() const;

 private:
  std::vector<double> p_;
};

}  // namespace dqn
