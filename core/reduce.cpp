// core/reduce.cpp: the fast reductions. Gather and max are the reference loops on float (the
// arrays are a few hundred entries); sum and sqnorm are SIMD cascade sums (core/simd_sum.hpp).
#include "core/reduce.hpp"

#include <algorithm>

#include "core/elementwise.hpp"
#include "core/parallel.hpp"
#include "core/simd.hpp"
#include "core/simd_sum.hpp"

namespace dqn {

using simd::VecF;

void gather_actions_forward_fast(float* out, const float* q, const std::int64_t* actions,
                                 std::int64_t N, std::int64_t A) {
  gather_actions_forward_ref(out, q, actions, N, A);
}

void gather_actions_backward_fast(float* dq, const float* dout, const std::int64_t* actions,
                                  std::int64_t N, std::int64_t A) {
  gather_actions_backward_ref(dq, dout, actions, N, A);
}

void max_actions_fast(float* value, std::int64_t* argmax, const float* q, std::int64_t N,
                      std::int64_t A) {
  max_actions_ref(value, argmax, q, N, A);
}

float sum_fast(const float* x, std::int64_t n) {
  return static_cast<float>(
      parallel_reduce<double>(0, n, kElementwiseGrain, [&](std::int64_t lo, std::int64_t hi) {
        return detail::cascade_sum(
            lo, hi, [&](std::int64_t i) { return VecF::load(x + i); },
            [&](std::int64_t i) { return x[i]; });
      }));
}

namespace {
// Blocks that SqNormParts::finish forms on its own thread (those straddling a kernel's pieces)
// before it hands the whole sum to sqnorm_fast instead: 64 K floats, a few microseconds.
constexpr std::ptrdiff_t kMostUnformed = 64;

// sqnorm_fast's sum over [lo, hi): one chunk, or (from a block's start) one block's term.
double sqnorm_range(const float* x, std::int64_t lo, std::int64_t hi) {
  return detail::cascade_sum(
      lo, hi,
      [&](std::int64_t i) {
        const VecF v = VecF::load(x + i);
        return v * v;
      },
      [&](std::int64_t i) { return x[i] * x[i]; });
}
}  // namespace

float sqnorm_fast(const float* x, std::int64_t n) {
  return static_cast<float>(parallel_reduce<double>(
      0, n, kElementwiseGrain,
      [&](std::int64_t lo, std::int64_t hi) { return sqnorm_range(x, lo, hi); }));
}

void SqNormParts::reset(const float* x, std::int64_t n) {
  x_ = x;
  n_ = n;
  chunks_ = parallel_chunks(n, kElementwiseGrain);
  first_block_.assign(static_cast<std::size_t>(chunks_ + 1), 0);
  for (std::int64_t c = 0; c < chunks_; ++c) {
    const std::int64_t len = chunk_lo(c + 1) - chunk_lo(c);
    first_block_[c + 1] = first_block_[c] + (len + detail::kSumBlock - 1) / detail::kSumBlock;
  }
  terms_.assign(static_cast<std::size_t>(first_block_[chunks_]), 0.0);
  formed_.assign(terms_.size(), 0);
}

void SqNormParts::form(std::int64_t lo, std::int64_t hi) {
  lo = std::max<std::int64_t>(lo, 0);
  hi = std::min(hi, n_);
  for (std::int64_t c = 0; c < chunks_; ++c) {
    const std::int64_t c_lo = chunk_lo(c), c_hi = chunk_lo(c + 1);
    if (c_hi <= lo || c_lo >= hi) continue;
    // Blocks of chunk c that start at or after lo and end at or before hi.
    const std::int64_t first =
        lo <= c_lo ? 0 : (lo - c_lo + detail::kSumBlock - 1) / detail::kSumBlock;
    for (std::int64_t j = first; first_block_[c] + j < first_block_[c + 1]; ++j) {
      const std::int64_t b_lo = c_lo + j * detail::kSumBlock;
      const std::int64_t b_hi = std::min(b_lo + detail::kSumBlock, c_hi);
      if (b_hi > hi) break;
      const auto at = static_cast<std::size_t>(first_block_[c] + j);
      terms_[at] = sqnorm_range(x_, b_lo, b_hi);  // 0 + term: the term itself
      formed_[at] = 1;
    }
  }
}

std::int64_t SqNormParts::formed() const {
  return std::count(formed_.begin(), formed_.end(), std::uint8_t{1});
}

float SqNormParts::finish() {
  if (parallel_chunks(n_, kElementwiseGrain) != chunks_) return sqnorm_fast(x_, n_);
  // Mostly unformed (no kernel formed it, as on the bf16 path): sqnorm_fast itself, split over
  // the threads, rather than the blocks left one after the other on this one.
  const auto unformed = std::count(formed_.begin(), formed_.end(), std::uint8_t{0});
  if (unformed > kMostUnformed) return sqnorm_fast(x_, n_);
  double total = 0;
  for (std::int64_t c = 0; c < chunks_; ++c) {
    double chunk = 0;  // cascade_sum's running total over the chunk's blocks, in order
    for (std::int64_t b = first_block_[c]; b < first_block_[c + 1]; ++b) {
      const auto at = static_cast<std::size_t>(b);
      if (!formed_[at]) {
        const std::int64_t b_lo = chunk_lo(c) + (b - first_block_[c]) * detail::kSumBlock;
        terms_[at] = sqnorm_range(x_, b_lo, std::min(b_lo + detail::kSumBlock, chunk_lo(c + 1)));
      }
      chunk += terms_[at];
    }
    // parallel_reduce: the first chunk's sum, then the others added in chunk order.
    total = c == 0 ? chunk : total + chunk;
  }
  return static_cast<float>(total);
}

}  // namespace dqn
